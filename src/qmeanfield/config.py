"""Configuration files (TOML) to a checked `RunConfig`.

Configuration layout (every key is checked; unknown keys are refused)::

    [model]
    d = 2                                   # one-body dimension (default 2)
    h = "0.5*sx + 0.3*sz"                   # expression, or {re = [[...]], im = [[...]]}; an expression in t
                                            # (e.g. "0.3*sz + 0.5*cos(3*t)*sx") is a drive
    V = "kron(sz, sz) + 0.2*kron(sx, sx)"   # expression, explicit, or {random_seed = 1, norm = 1.0}; an
                                            # expression g(t)*V0 in t (e.g. "(1 - exp(-t))*kron(sz, sz)")
                                            # ramps the interaction
    symmetrize_V = false                    # replace V by (V + S V S)/2 before validation
    jumps = ["sqrt(0.3)*sm"]                # optional list of expressions / explicit matrices; an expression
                                            # in t (e.g. "sqrt(0.2*(1 + t))*sm") is a time-dependent rate
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
    memory_budget_gb = 8.0                  # every engine's memory budget (GiB; the default)
    entropy_identity = true                 # false: skip dH/dt (cheaper large-N scans)
    max_seconds = 86400                     # work limit: longer estimated runs are refused ("inf": none)
    observables = ["jz", "jx"]              # collective observables J_A = sum_j A_j: mean and variance per particle

    [engine]                                # optional engine options
    truncation = 1e-12                      # symmetric: weight of R_N that may be dropped
    workers = "auto"                        # symmetric: processes over blocks; permutational: threads
    method = "auto"                         # symmetric: per block "eigh" | "krylov" | "auto"

The configuration text is read through `qmeanfield.store` (the one module touching files).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from . import states
from .errors import ConfigError, EngineError, QMeanFieldError
from .expressions import RESERVED_NAMES, evaluate
from ._checks import MAX_PERIODS, MAX_TIMES, check_marginals, check_particle_numbers, check_times
from .engines import REGISTRY, accepted_options, configure_engine
from .estimates import MAX_SECONDS
from .model import COUPLINGS, Model
from .operators import random_interaction, symmetrize_swap
from .store import StoreError, is_file, read_text

__all__ = ["RunConfig", "load_config", "parse_config", "parameters_table", "read_toml", "parse_toml", "number", "refuse_unknown"]

_MODEL_KEYS = {"d", "h", "V", "symmetrize_V", "jumps", "collective_jumps", "hbar", "coupling"}
_INITIAL_KEYS = {"state", "h0", "beta", "bloch", "matrix"}
_RUN_KEYS = {"N", "t_final", "n_times", "times", "engine", "marginals", "memory_budget_gb", "entropy_identity",
             "max_periods", "max_seconds", "observables"}
#: largest one-body dimension a configuration may ask for (V alone has d^4 entries)
MAX_DIMENSION = 32
_ENGINE_KEYS = set().union(*(accepted_options(name) for name in REGISTRY))
_TOP_KEYS = {"name", "description", "model", "initial", "run", "engine", "parameters", "sweep"}


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
    max_periods: float = MAX_PERIODS
    max_seconds: float = MAX_SECONDS
    observables: tuple[str, ...] = ()
    name: str = "run"
    description: str = ""
    source: str = ""          # the configuration text it was read from (stored with the results)


def refuse_unknown(section: dict, allowed: set, where: str) -> None:
    """Refuse keys of a TOML table outside `allowed`, naming them and the allowed ones."""
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


def number(value, field: str, positive: bool = False, integer: bool = False, parameters: dict | None = None):
    """A finite real (or integer) configuration value named `field`; with `parameters` (the
    checked `[parameters]` table), a string is evaluated as an expression of them. Raises
    ConfigError naming the field."""
    if isinstance(value, str) and parameters:
        out = evaluate(value, 2, field, parameters=parameters)
        if isinstance(out, np.ndarray) or (isinstance(out, complex) and out.imag != 0):
            raise ConfigError(f"{field}: the expression {value!r} must give a real number")
        value = float(out.real) if isinstance(out, complex) else float(out)
        if integer and value == int(value):
            value = int(value)
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
    refuse_unknown(value, {"re", "im"}, field)
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


def _operator(value, d: int, field: str, shape: tuple[int, int], params: dict) -> np.ndarray:
    if isinstance(value, str):
        out = evaluate(value, d, field, parameters=params)
        if not isinstance(out, np.ndarray):
            raise ConfigError(f"{field}: the expression {value!r} is a number, expected a {shape[0]} x {shape[1]} matrix")
    elif isinstance(value, dict):
        out = _explicit(value, field)
    else:
        raise ConfigError(f"{field}: expected an expression string or {{re = ..., im = ...}}, got {value!r}")
    if out.shape != shape:
        raise ConfigError(f"{field} must be {shape[0]} x {shape[1]} for d = {d}, got {out.shape[0]} x {out.shape[1]}")
    return out


#: the name of time in model expressions (``h = "0.3*sz + 0.5*cos(3*t)*sx"``)
TIME_NAME = "t"


def _names_in(text: str) -> set[str]:
    """The names an expression uses (a syntax error is left to the evaluator to report)."""
    import ast

    try:
        return {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}
    except (SyntaxError, ValueError, RecursionError):
        return set()


def _operator_at(text: str, d: int, field: str, t: float, params: dict, shape: tuple | None = None) -> np.ndarray:
    """A (d, d) operator expression (or of `shape`) evaluated at time t."""
    shape = shape or (d, d)
    out = evaluate(text, d, field, parameters={**params, TIME_NAME: t})
    if not isinstance(out, np.ndarray) or out.shape != shape:
        raise ConfigError(f"{field}: the expression {text!r} must be a {shape[0]} x {shape[1]} matrix at every t")
    return out


def _time_dependent(text: str, d: int, field: str, params: dict):
    """The time-dependent part `t -> h(t) - h(0)` of an expression in t (the [parameters] of the
    configuration bound now); checked at t = 0 and t = 1."""
    params = dict(params)
    h0 = _operator_at(text, d, field, 0.0, params)
    _operator_at(text, d, field, 1.0, params)

    def drive(t: float) -> np.ndarray:
        return evaluate(text, d, field, parameters={**params, TIME_NAME: float(t)}) - h0

    return drive


#: times at which a jump expression in t is checked to be a function of t times one operator
TIMED_JUMP_SAMPLES = (0.0, 0.37, 1.0, 2.9, 7.1)


def _factor_in_time(text: str, d: int, field: str, params: dict, shape: tuple, kind: str, example: str):
    """An expression in t that is ``c(t) * X``: (X, c, the values of c at `TIMED_JUMP_SAMPLES`) with
    X the sample of largest norm. Refused unless every sample is a multiple of one operator."""
    params = dict(params)
    samples = [_operator_at(text, d, field, t, params, shape) for t in TIMED_JUMP_SAMPLES]
    ref = max(samples, key=lambda A: float(np.abs(A).sum()))
    norm2 = float(np.vdot(ref, ref).real)
    if norm2 == 0:
        raise ConfigError(f"{field}: the expression {text!r} vanishes at every sampled time")
    sampled = []
    for t, A in zip(TIMED_JUMP_SAMPLES, samples):
        c = np.vdot(ref, A) / norm2
        if np.abs(A - c * ref).max() > 1e-10 * max(float(np.abs(A).max()), 1e-300):
            raise ConfigError(f"{field}: a time-dependent {kind} must be a function of t times one operator, e.g. "
                              f"{example}; {text!r} changes its operator (at t = {t:g})")
        sampled.append(complex(c))

    def coefficient(t: float) -> complex:
        A = evaluate(text, d, field, parameters={**params, TIME_NAME: float(t)})
        return complex(np.vdot(ref, A) / norm2)

    return ref, coefficient, sampled


def _timed_jump(text: str, d: int, field: str, params: dict):
    """A jump expression in t, ``c(t) * L``: (L, r) with the rate r(t) = |c(t)|^2 (L the sample of
    largest norm)."""
    ref, c, _ = _factor_in_time(text, d, field, params, (d, d), "jump", '"sqrt(0.2*(1 + t))*sm"')
    return ref, lambda t: float(abs(c(t)) ** 2)


def _interaction_in_time(text: str, d: int, field: str, params: dict):
    """An interaction expression in t, ``g(t) * V``: (V, g) with g real (V the sample of largest norm)."""
    ref, c, sampled = _factor_in_time(text, d, field, params, (d * d, d * d), "interaction",
                                      '"(1 - exp(-t))*kron(sz, sz)"')
    for t, value in zip(TIMED_JUMP_SAMPLES, sampled):
        if abs(value.imag) > 1e-10 * max(abs(value), 1.0):
            raise ConfigError(f"{field}: the interaction's factor of t must be real; at t = {t:g} it is {value:.3g}")
    return ref, lambda t: c(t).real


def _model(sec: dict, params: dict) -> Model:
    refuse_unknown(sec, _MODEL_KEYS, "model")
    number_ = partial(number, parameters=params)
    d = number_(sec.get("d", 2), "model.d", positive=True, integer=True)
    if d > MAX_DIMENSION:
        raise ConfigError(f"model.d = {d} is over the limit of {MAX_DIMENSION} (V has d^4 entries); use a smaller d")
    if d < 2:
        raise ConfigError("model.d must be >= 2")
    if "h" not in sec or "V" not in sec:
        raise ConfigError("[model] needs both 'h' (one-body Hamiltonian) and 'V' (two-body interaction)")
    drive = interaction = None
    if isinstance(sec["h"], str) and TIME_NAME in _names_in(sec["h"]):
        drive = _time_dependent(sec["h"], d, "model.h", params)
        h = _operator_at(sec["h"], d, "model.h", 0.0, params)
    else:
        h = _operator(sec["h"], d, "model.h", (d, d), params)
    Vspec = sec["V"]
    if isinstance(Vspec, dict) and "random_seed" in Vspec:
        refuse_unknown(Vspec, {"random_seed", "norm"}, "model.V")
        seed = number_(Vspec["random_seed"], "model.V.random_seed", integer=True)
        if not 0 <= seed < 2**63:
            raise ConfigError(f"model.V.random_seed must be an integer >= 0, got {seed}")
        norm = number_(Vspec.get("norm", 1.0), "model.V.norm", positive=True)
        V = random_interaction(d, seed=seed, norm=norm)
    elif isinstance(Vspec, str) and TIME_NAME in _names_in(Vspec):   # g(t) * V: a ramp or quench
        V, interaction = _interaction_in_time(Vspec, d, "model.V", params)
    else:
        V = _operator(Vspec, d, "model.V", (d * d, d * d), params)
    if not isinstance(sec.get("symmetrize_V", False), bool):
        raise ConfigError(f"model.symmetrize_V must be true or false, got {sec['symmetrize_V']!r}")
    if sec.get("symmetrize_V", False) is True:
        V = symmetrize_swap(V)
    ops, timed = {}, []
    for key in ("jumps", "collective_jumps"):
        spec = sec.get(key, [])
        if not isinstance(spec, list):
            raise ConfigError(f"model.{key} must be a list, e.g. {key} = [\"sqrt(0.3)*sm\"]")
        ops[key] = []
        for i, j in enumerate(spec):
            if key == "jumps" and isinstance(j, str) and TIME_NAME in _names_in(j):
                timed.append(_timed_jump(j, d, f"model.jumps[{i}]", params))
            else:
                ops[key].append(_operator(j, d, f"model.{key}[{i}]", (d, d), params))
    hbar = number_(sec.get("hbar", 1.0), "model.hbar", positive=True)
    coupling = sec.get("coupling", "1/(N-1)")
    if not isinstance(coupling, str) or coupling not in COUPLINGS:
        raise ConfigError(f"model.coupling must be one of {sorted(COUPLINGS)}, got {coupling!r}")
    return Model(h=h, V=V, jumps=ops["jumps"], hbar=hbar, coupling=coupling,
                 collective_jumps=ops["collective_jumps"], drive=drive, timed_jumps=timed or None,
                 interaction=interaction)


def _initial(sec: dict, d: int, params: dict) -> np.ndarray:
    refuse_unknown(sec, _INITIAL_KEYS, "initial")
    number_ = partial(number, parameters=params)
    kind = sec.get("state", "thermal")
    if kind == "thermal":
        h0 = _operator(sec.get("h0", "jz"), d, "initial.h0", (d, d), params)
        beta = number_(sec.get("beta", 1.0), "initial.beta")
        rho = states.thermal(h0, beta)
    elif kind == "bloch":
        if d != 2:
            raise ConfigError("initial.state = 'bloch' needs d = 2")
        b = sec.get("bloch")
        if not isinstance(b, list) or len(b) != 3:
            raise ConfigError("initial.bloch must be a list of three numbers [x, y, z]")
        rho = states.from_bloch(*[number_(x, "initial.bloch") for x in b])
    elif kind == "explicit":
        if "matrix" not in sec:
            raise ConfigError("initial.state = 'explicit' needs initial.matrix = {re = [[...]], im = [[...]]}")
        rho = _explicit(sec["matrix"], "initial.matrix")
    elif kind == "maximally_mixed":
        rho = states.maximally_mixed(d)
    else:
        raise ConfigError(f"initial.state must be one of thermal, bloch, explicit, maximally_mixed; got {kind!r}")
    return states.validate_density_matrix(rho, "initial state", d)


def _run(sec: dict, params: dict) -> dict:
    refuse_unknown(sec, _RUN_KEYS, "run")
    number_ = partial(number, parameters=params)
    Ns = sec.get("N", [2, 3, 4])
    if isinstance(Ns, int) and not isinstance(Ns, bool):
        Ns = [Ns]
    if not isinstance(Ns, list) or not Ns:
        raise ConfigError("run.N must be a non-empty list of integers >= 2")
    Ns = tuple(_checked(check_particle_numbers, [number_(n, "run.N", integer=True) for n in Ns], "run.N"))
    if "times" in sec:
        if "t_final" in sec or "n_times" in sec:
            raise ConfigError("[run]: give either 'times' or 't_final'/'n_times', not both")
        if not isinstance(sec["times"], list) or not sec["times"]:
            raise ConfigError("run.times must be a non-empty list of numbers")
        times = _checked(check_times, [number_(t, "run.times") for t in sec["times"]], "run.times")
    else:
        t_final = number_(sec.get("t_final", 2.0), "run.t_final", positive=True)
        n_times = number_(sec.get("n_times", 41), "run.n_times", positive=True, integer=True)
        if not 2 <= n_times <= MAX_TIMES:
            raise ConfigError(f"run.n_times must be in 2..{MAX_TIMES}, got {n_times}")
        times = np.linspace(0.0, t_final, n_times)
    marg = sec.get("marginals", [1, 2])
    if not isinstance(marg, list):
        raise ConfigError(f"run.marginals must be a non-empty list drawn from 1, 2, 3; got {marg!r}")
    marg = _checked(check_marginals, [number_(k, "run.marginals", integer=True) for k in marg], "run.marginals")
    engine = sec.get("engine", "auto")
    if not isinstance(engine, str):
        raise ConfigError("run.engine must be a string such as 'auto' or 'dense'")
    options = {}
    if "memory_budget_gb" in sec:
        options["memory_budget_gb"] = number_(sec["memory_budget_gb"], "run.memory_budget_gb", positive=True)
    identity = sec.get("entropy_identity", True)
    if not isinstance(identity, bool):
        raise ConfigError("run.entropy_identity must be true or false")
    max_periods = number_(sec.get("max_periods", MAX_PERIODS), "run.max_periods", positive=True)
    max_seconds = sec.get("max_seconds", MAX_SECONDS)
    max_seconds = math.inf if max_seconds == "inf" else number_(max_seconds, "run.max_seconds", positive=True)
    observables = sec.get("observables", [])
    if not isinstance(observables, list) or not all(isinstance(o, str) for o in observables):
        raise ConfigError(f"run.observables must be a list of operator expressions such as [\"jz\", \"jx\"], "
                          f"got {observables!r}")
    return {"N": Ns, "times": times, "engine": engine, "marginals": tuple(int(k) for k in marg),
            "engine_options": options, "entropy_identity": identity, "max_periods": max_periods,
            "max_seconds": max_seconds, "observables": tuple(observables)}


def _checked(check, value, field: str):
    """`check(value, field)` (a `qmeanfield._checks` function) with its error as a ConfigError."""
    try:
        return check(value, field)
    except ConfigError:
        raise
    except QMeanFieldError as exc:
        raise ConfigError(str(exc)) from None


def _engine_options(sec: dict) -> dict:
    """The [engine] table, checked by constructing every engine with the options it accepts."""
    refuse_unknown(sec, _ENGINE_KEYS, "engine")
    try:
        for name in REGISTRY:
            configure_engine(name, sec)
    except EngineError as exc:
        raise ConfigError(f"[engine] {exc}") from None
    return dict(sec)


def parameters_table(data: dict) -> dict[str, float]:
    """The checked [parameters] table: names (identifiers not shadowing an operator, function or
    variable of the expression languages) -> finite real numbers."""
    sec = data.get("parameters", {})
    if not isinstance(sec, dict):
        raise ConfigError("[parameters] must be a table of names and numbers, e.g. g = 0.5")
    out = {}
    for key, value in sec.items():
        if not key.isidentifier() or key.startswith("_"):
            raise ConfigError(f"parameters.{key}: a parameter name must be a plain identifier (letters, digits, _)")
        if key in RESERVED_NAMES or key == TIME_NAME:
            raise ConfigError(f"parameters.{key}: the name {key!r} shadows an operator, a function or the time t of the "
                              "expression language; choose another name")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"parameters.{key} must be a finite number, got {value!r}")
        out[key] = float(value)
    return out


def parse_config(data: dict, name: str = "run") -> RunConfig:
    """Validate a configuration mapping (as read from TOML) into a `RunConfig`; names of the
    [parameters] table may be used in every expression and numeric field."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a table")
    params = parameters_table(data)
    refuse_unknown(data, _TOP_KEYS, "top level")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{key} must be a string, got {data[key]!r}")
    section = "model"
    try:
        model = _model(_table(data, "model"), params)
        section = "initial"
        rho0 = _initial(_table(data, "initial", required=False), model.d, params)
    except ConfigError:
        raise
    except QMeanFieldError as exc:  # ModelError / StateError from validation: say where
        raise ConfigError(f"[{section}] {exc}") from None
    run = _run(_table(data, "run", required=False), params)
    engine = _table(data, "engine", required=False)
    if "memory_budget_gb" in engine and "memory_budget_gb" in run["engine_options"]:
        raise ConfigError("memory_budget_gb is given in both [run] and [engine]; give it once (in [run]: it is "
                          "every engine's budget)")
    run["engine_options"].update(_engine_options(engine))
    for i, text in enumerate(run["observables"]):   # each an operator of this d (checked again when planned)
        value = evaluate(text, model.d, f"run.observables[{i}]", parameters=params)
        if not (isinstance(value, np.ndarray) and value.shape == (model.d, model.d)):
            raise ConfigError(f"run.observables[{i}] = {text!r} must be a one-body operator ({model.d} x {model.d}), "
                              "e.g. \"jz\" or \"sx + sz\"")
    return RunConfig(model=model, rho0=rho0, name=str(data.get("name", name)),
                     description=str(data.get("description", "")), **run)


def read_toml(path) -> dict:
    """The mapping of a TOML file, or a ConfigError saying why it cannot be read."""
    p = Path(path)
    if not is_file(p):
        raise ConfigError(f"configuration file {str(p)!r} does not exist")
    try:
        return parse_toml(read_text(p), p.name)
    except StoreError as exc:
        raise ConfigError(str(exc)) from None


def parse_toml(text: str, where: str = "the configuration") -> dict:
    """The mapping of TOML text, or a ConfigError saying why it cannot be read (also for nesting
    too deep to parse)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: arrays or tables nested too deeply") from None


def load_config(path) -> RunConfig:
    """Read and validate a TOML configuration file (a [sweep] table is refused: use `qmeanfield sweep`)."""
    data = read_toml(path)
    if "sweep" in data:
        raise ConfigError(f"{Path(path).name} has a [sweep] table: run it with `qmeanfield sweep`")
    cfg = parse_config(data, name=Path(path).stem)
    return RunConfig(**{**cfg.__dict__, "source": read_text(path)})


