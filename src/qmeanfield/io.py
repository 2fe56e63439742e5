"""Configuration files (TOML) and result files (netCDF via xarray, JSON summary).

Configuration layout (every key is checked; unknown keys are refused)::

    [model]
    d = 2                                   # one-body dimension (default 2)
    h = "0.5*sx + 0.3*sz"                   # expression, or {re = [[...]], im = [[...]]}
    V = "kron(sz, sz) + 0.2*kron(sx, sx)"   # expression, explicit, or {random_seed = 1, norm = 1.0}
    symmetrize_V = false                    # replace V by (V + S V S)/2 before validation
    jumps = ["sqrt(0.3)*sm"]                # optional list of expressions / explicit matrices
    collective_jumps = ["sqrt(0.5)*sm"]     # optional: C gives the N-body jump sqrt(kappa_N) sum_j C_j
    hbar = 1.0
    coupling = "1/(N-1)"                    # or "1/N"

    [initial]
    state = "thermal"                       # "thermal" | "bloch" | "explicit" | "maximally_mixed"
    h0 = "sz"                               # thermal: e^{-beta h0}/Z
    beta = 1.0
    # bloch = [0.3, 0.0, 0.6]               # state = "bloch" (d = 2)
    # matrix = {re = [[...]], im = [[...]]} # state = "explicit"

    [run]
    N = [2, 3, 4, 5, 6]
    t_final = 2.0
    n_times = 41                            # or times = [0.0, 0.5, ...]
    engine = "auto"
    marginals = [1, 2]
    memory_budget_gb = 4.0                  # dense engine budget
    entropy_identity = true                 # false: skip dH/dt (cheaper large-N scans)

    [engine]                                # optional engine options
    truncation = 1e-12                      # symmetric: weight of R_N that may be dropped
    workers = "auto"                        # symmetric: processes over blocks; permutational: threads
    method = "auto"                         # symmetric: per block "eigh" | "krylov" | "auto"

Results are written atomically (temporary file, then rename), so an interrupted run never
leaves a truncated file behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from . import states
from .errors import ConfigError, QMeanFieldError
from .expressions import evaluate
from .diagnostics.rates import fit_inverse_N, fit_power_law
from .engines.symmetric import METHODS
from .model import COUPLINGS, Model
from .operators import random_interaction, symmetrize_swap

__all__ = ["RunConfig", "load_config", "parse_config", "save_dataset", "load_dataset", "summarize",
           "write_json", "atomic_write_bytes"]

_MODEL_KEYS = {"d", "h", "V", "symmetrize_V", "jumps", "collective_jumps", "hbar", "coupling"}
_INITIAL_KEYS = {"state", "h0", "beta", "bloch", "matrix"}
_RUN_KEYS = {"N", "t_final", "n_times", "times", "engine", "marginals", "memory_budget_gb", "entropy_identity"}
_ENGINE_KEYS = {"memory_budget_gb", "truncation", "workers", "method"}
_TOP_KEYS = {"name", "description", "model", "initial", "run", "engine"}


@dataclass(frozen=True)
class RunConfig:
    """A validated run description: the model, the initial state and what to compute."""

    model: Model
    rho0: np.ndarray
    N: tuple[int, ...]
    times: np.ndarray
    engine: str = "auto"
    marginals: tuple[int, ...] = (1, 2)
    engine_options: dict = field(default_factory=dict)
    entropy_identity: bool = True
    name: str = "run"
    description: str = ""


def _refuse_unknown(section: dict, allowed: set, where: str) -> None:
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"[{where}]: unknown key(s) {sorted(unknown)}; allowed keys: {sorted(allowed)}")


def _table(data: dict, key: str, required: bool = True) -> dict:
    if key not in data:
        if required:
            raise ConfigError(f"missing section [{key}]")
        return {}
    if not isinstance(data[key], dict):
        raise ConfigError(f"[{key}] must be a table")
    return data[key]


def _number(value, field: str, positive: bool = False, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{field} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{field} must be finite, got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(f"{field} must be an integer, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{field} must be > 0, got {value!r}")
    return int(value) if integer else float(value)


def _explicit(value: dict, field: str) -> np.ndarray:
    _refuse_unknown(value, {"re", "im"}, field)
    if "re" not in value:
        raise ConfigError(f"{field}: an explicit matrix needs 're' (and optionally 'im'), e.g. {{re = [[1, 0], [0, -1]]}}")
    try:
        re = np.array(value["re"], dtype=float)
        im = np.array(value.get("im", np.zeros_like(re)), dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{field}: 're' and 'im' must be rectangular lists of numbers") from None
    if re.ndim != 2 or re.shape != im.shape:
        raise ConfigError(f"{field}: 're' and 'im' must be matrices of equal shape, got {re.shape} and {im.shape}")
    return re + 1j * im


def _operator(value, d: int, field: str, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(value, str):
        out = evaluate(value, d, field)
        if not isinstance(out, np.ndarray):
            raise ConfigError(f"{field}: the expression {value!r} is a number, expected a {shape[0]} x {shape[1]} matrix")
    elif isinstance(value, dict):
        out = _explicit(value, field)
    else:
        raise ConfigError(f"{field}: expected an expression string or {{re = ..., im = ...}}, got {value!r}")
    if out.shape != shape:
        raise ConfigError(f"{field} must be {shape[0]} x {shape[1]} for d = {d}, got {out.shape[0]} x {out.shape[1]}")
    return out


def _model(sec: dict) -> Model:
    _refuse_unknown(sec, _MODEL_KEYS, "model")
    d = _number(sec.get("d", 2), "model.d", positive=True, integer=True)
    if d < 2:
        raise ConfigError("model.d must be >= 2")
    if "h" not in sec or "V" not in sec:
        raise ConfigError("[model] needs both 'h' (one-body Hamiltonian) and 'V' (two-body interaction)")
    h = _operator(sec["h"], d, "model.h", (d, d))
    Vspec = sec["V"]
    if isinstance(Vspec, dict) and "random_seed" in Vspec:
        _refuse_unknown(Vspec, {"random_seed", "norm"}, "model.V")
        seed = _number(Vspec["random_seed"], "model.V.random_seed", integer=True)
        norm = _number(Vspec.get("norm", 1.0), "model.V.norm", positive=True)
        V = random_interaction(d, seed=seed, norm=norm)
    else:
        V = _operator(Vspec, d, "model.V", (d * d, d * d))
    if sec.get("symmetrize_V", False) is True:
        V = symmetrize_swap(V)
    ops = {}
    for key in ("jumps", "collective_jumps"):
        spec = sec.get(key, [])
        if not isinstance(spec, list):
            raise ConfigError(f"model.{key} must be a list, e.g. {key} = [\"sqrt(0.3)*sm\"]")
        ops[key] = [_operator(j, d, f"model.{key}[{i}]", (d, d)) for i, j in enumerate(spec)]
    hbar = _number(sec.get("hbar", 1.0), "model.hbar", positive=True)
    coupling = sec.get("coupling", "1/(N-1)")
    if coupling not in COUPLINGS:
        raise ConfigError(f"model.coupling must be one of {sorted(COUPLINGS)}, got {coupling!r}")
    return Model(h=h, V=V, jumps=ops["jumps"], hbar=hbar, coupling=coupling,
                 collective_jumps=ops["collective_jumps"])


def _initial(sec: dict, d: int) -> np.ndarray:
    _refuse_unknown(sec, _INITIAL_KEYS, "initial")
    kind = sec.get("state", "thermal")
    if kind == "thermal":
        h0 = _operator(sec.get("h0", "jz"), d, "initial.h0", (d, d))
        beta = _number(sec.get("beta", 1.0), "initial.beta")
        rho = states.thermal(h0, beta)
    elif kind == "bloch":
        if d != 2:
            raise ConfigError("initial.state = 'bloch' needs d = 2")
        b = sec.get("bloch")
        if not isinstance(b, list) or len(b) != 3:
            raise ConfigError("initial.bloch must be a list of three numbers [x, y, z]")
        rho = states.from_bloch(*[_number(x, "initial.bloch") for x in b])
    elif kind == "explicit":
        if "matrix" not in sec:
            raise ConfigError("initial.state = 'explicit' needs initial.matrix = {re = [[...]], im = [[...]]}")
        rho = _explicit(sec["matrix"], "initial.matrix")
    elif kind == "maximally_mixed":
        rho = states.maximally_mixed(d)
    else:
        raise ConfigError(f"initial.state must be one of thermal, bloch, explicit, maximally_mixed; got {kind!r}")
    return states.validate_density_matrix(rho, "initial state", d)


def _run(sec: dict) -> dict:
    _refuse_unknown(sec, _RUN_KEYS, "run")
    Ns = sec.get("N", [2, 3, 4])
    if isinstance(Ns, int) and not isinstance(Ns, bool):
        Ns = [Ns]
    if not isinstance(Ns, list) or not Ns:
        raise ConfigError("run.N must be a non-empty list of integers >= 2")
    Ns = tuple(sorted(_number(n, "run.N", integer=True) for n in Ns))
    if Ns[0] < 2:
        raise ConfigError(f"run.N must contain integers >= 2, got {list(Ns)}")
    if "times" in sec:
        if "t_final" in sec or "n_times" in sec:
            raise ConfigError("[run]: give either 'times' or 't_final'/'n_times', not both")
        if not isinstance(sec["times"], list) or not sec["times"]:
            raise ConfigError("run.times must be a non-empty list of numbers")
        times = np.array([_number(t, "run.times") for t in sec["times"]])
        if times[0] < 0 or np.any(np.diff(times) <= 0):
            raise ConfigError("run.times must be >= 0 and strictly increasing")
    else:
        t_final = _number(sec.get("t_final", 2.0), "run.t_final", positive=True)
        n_times = _number(sec.get("n_times", 41), "run.n_times", positive=True, integer=True)
        if n_times < 2:
            raise ConfigError("run.n_times must be >= 2")
        times = np.linspace(0.0, t_final, n_times)
    marg = sec.get("marginals", [1, 2])
    if not isinstance(marg, list) or not marg or any(_number(k, "run.marginals", integer=True) not in (1, 2, 3) for k in marg):
        raise ConfigError(f"run.marginals must be a non-empty list drawn from 1, 2, 3; got {marg!r}")
    engine = sec.get("engine", "auto")
    if not isinstance(engine, str):
        raise ConfigError("run.engine must be a string such as 'auto' or 'dense'")
    options = {}
    if "memory_budget_gb" in sec:
        options["memory_budget_gb"] = _number(sec["memory_budget_gb"], "run.memory_budget_gb", positive=True)
    identity = sec.get("entropy_identity", True)
    if not isinstance(identity, bool):
        raise ConfigError("run.entropy_identity must be true or false")
    return {"N": Ns, "times": times, "engine": engine, "marginals": tuple(int(k) for k in marg),
            "engine_options": options, "entropy_identity": identity}


def _engine_options(sec: dict) -> dict:
    _refuse_unknown(sec, _ENGINE_KEYS, "engine")
    out = {}
    if "memory_budget_gb" in sec:
        out["memory_budget_gb"] = _number(sec["memory_budget_gb"], "engine.memory_budget_gb", positive=True)
    if "truncation" in sec:
        out["truncation"] = _number(sec["truncation"], "engine.truncation", positive=True)
        if out["truncation"] >= 1:
            raise ConfigError("engine.truncation must be < 1 (a weight of R_N that may be dropped)")
    if "method" in sec:
        if sec["method"] not in METHODS:
            raise ConfigError(f"engine.method must be one of {METHODS}, got {sec['method']!r}")
        out["method"] = sec["method"]
    if "workers" in sec:
        out["workers"] = "auto" if sec["workers"] == "auto" else _number(sec["workers"], "engine.workers",
                                                                           positive=True, integer=True)
    return out


def parse_config(data: dict, name: str = "run") -> RunConfig:
    """Validate a configuration mapping (as read from TOML) into a :class:`RunConfig`."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a table")
    _refuse_unknown(data, _TOP_KEYS, "top level")
    section = "model"
    try:
        model = _model(_table(data, "model"))
        section = "initial"
        rho0 = _initial(_table(data, "initial", required=False), model.d)
    except ConfigError:
        raise
    except QMeanFieldError as exc:  # ModelError / StateError from validation: say where
        raise ConfigError(f"[{section}] {exc}") from None
    run = _run(_table(data, "run", required=False))
    run["engine_options"].update(_engine_options(_table(data, "engine", required=False)))
    return RunConfig(model=model, rho0=rho0, name=str(data.get("name", name)),
                     description=str(data.get("description", "")), **run)


def load_config(path) -> RunConfig:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"configuration file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p.name} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p.name} is not a UTF-8 text file") from None
    return parse_config(data, name=p.stem)


# ----------------------------------------------------------------------------- results
def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode())


def save_dataset(ds: xr.Dataset, path) -> None:
    """Write ``ds`` to netCDF atomically. Complex variables are stored as ``<name>_real``/``<name>_imag``."""
    out = xr.Dataset(coords=ds.coords, attrs=ds.attrs)
    for name, var in ds.data_vars.items():
        if np.iscomplexobj(var.values):
            out[f"{name}_real"] = var.real.assign_attrs({**var.attrs, "complex_part": "real", "complex_of": name})
            out[f"{name}_imag"] = var.imag.assign_attrs({**var.attrs, "complex_part": "imag", "complex_of": name})
        elif var.dtype == object:
            out[name] = var.astype(str)
        else:
            out[name] = var
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        out.to_netcdf(tmp, engine="netcdf4")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_dataset(path) -> xr.Dataset:
    """Read a file written by :func:`save_dataset`, recombining complex variables."""
    with xr.open_dataset(path, engine="netcdf4") as f:
        ds = f.load()
    out = xr.Dataset(coords=ds.coords, attrs=ds.attrs)
    for name, var in ds.data_vars.items():
        part = var.attrs.get("complex_part")
        if part == "real":
            base = var.attrs["complex_of"]
            attrs = {k: v for k, v in var.attrs.items() if k not in ("complex_part", "complex_of")}
            out[base] = (var + 1j * ds[f"{base}_imag"]).assign_attrs(attrs)
        elif part == "imag":
            continue
        else:
            out[name] = var
    return out


def summarize(ds: xr.Dataset) -> dict:
    """Key numbers of a comparison, as plain JSON-able values."""
    t_last = float(ds.time.values[-1])
    per_N = []
    for n in ds.N.values:
        sel = ds.sel(N=n)
        row = {
            "N": int(n),
            "engine": str(sel.engine.values),
            "discarded_weight": float(sel.discarded_weight.values) if "discarded_weight" in sel else 0.0,
            "relative_entropy_final": _num(sel.relative_entropy.values[-1]),
            "relative_entropy_max": _nan_reduce(np.nanmax, sel.relative_entropy.values),
            "relative_entropy_per_particle_final": _num(sel.relative_entropy.values[-1] / n),
        }
        for k in ds.k.values:
            dist = sel.trace_distance.sel(k=k)
            bound = sel.marginal_bound.sel(k=k)
            row[f"trace_distance_k{int(k)}_max"] = _nan_reduce(np.nanmax, dist.values)
            # the engine's dropped weight bounds the error of the measured distance
            slack = 1e-10 + row["discarded_weight"]
            row[f"bound_holds_k{int(k)}"] = bool(np.all((dist <= bound + slack) | ~np.isfinite(dist)))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (dist / bound).where(ds.time > 0).values
            row[f"bound_tightness_k{int(k)}_max"] = _nan_reduce(np.nanmax, np.where(np.isfinite(ratio), ratio, np.nan))
        if int(ds.attrs.get("model_open", 0)):
            row["dissipation_min"] = _nan_reduce(np.nanmin, sel.dissipation.values)
        else:
            scale = _nan_reduce(np.nanmax, np.abs(sel.entropy_production.values))
            residual = _nan_reduce(np.nanmax, sel.identity_residual.values)
            row["identity_residual_max"] = residual
            row["identity_residual_relative"] = (residual / max(scale, 1e-300)
                                                 if isinstance(residual, float) and isinstance(scale, float) else None)
        per_N.append(row)
    Ns = ds.N.values
    rate = fit_power_law(Ns, ds.relative_entropy.values[:, -1] / Ns)
    limit = fit_inverse_N(Ns, ds.relative_entropy.values[:, -1]) if len(Ns) >= 3 else None
    marginal_rates = {}
    for k in ds.k.values:
        dist = ds.trace_distance.sel(k=k).max("time", skipna=True).values
        bound = ds.marginal_bound.sel(k=k).max("time", skipna=True).values
        marginal_rates[f"k{int(k)}"] = {"trace_distance_exponent": fit_power_law(Ns, dist),
                                        "pinsker_bound_exponent": fit_power_law(Ns, bound)}
    return {
        "model": {k[len("model_"):]: (v.item() if isinstance(v, np.generic) else v)
                  for k, v in ds.attrs.items() if k.startswith("model_")},
        "t_final": t_last,
        "N": [int(n) for n in ds.N.values],
        "per_N": per_N,
        "relative_entropy_per_particle_exponent_at_t_final": rate,
        "relative_entropy_limit_at_t_final": None if limit is None else _num(limit[0]),
        "max_trace_distance_exponents": marginal_rates,
        "relative_entropy_note": ds.relative_entropy.attrs.get("note", ""),
        "qmeanfield_version": str(ds.attrs.get("qmeanfield_version", "")),
    }


def _nan_reduce(fn, values):
    """fn (nanmax / nanmin) over the non-NaN values, as a JSON number; None if there are none."""
    values = np.asarray(values, dtype=float)
    if np.all(np.isnan(values)):
        return None
    return _num(fn(values))


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else (None if math.isnan(x) else ("inf" if x > 0 else "-inf"))
