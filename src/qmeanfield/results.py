"""Datasets and summaries of the N-body verbs (the semiclassical scan builds its own Dataset).

* `*_dataset` functions assemble the xarray Datasets returned by `qmeanfield.compare`
  (from a declared table of `Variable`), `qmeanfield.certify` and
  `qmeanfield.steady_state_comparison` from their measured arrays, with coordinates, units
  and the attributes that say how they were made.
* `summarize_*` functions read only a Dataset and return the key numbers as plain JSON-able
  values (`summary.json` and the reports use them). One extrapolation to N = infinity is used
  everywhere: the least-squares fit a + b/N with its 95 % interval, flagged `poor` when its
  R^2 is below `POOR_FIT_R2`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import xarray as xr

from .diagnostics.rates import POOR_FIT_R2, fit_inverse_N, fit_power_law
from .model import Model

__all__ = ["Summary", "package_version", "provenance", "model_attrs", "model_variables", "Variable", "per_N_variables",
           "comparison_dataset", "certificate_dataset",
           "steady_dataset", "summarize_comparison", "summarize_certificate", "summarize_steady",
           "summarize_semiclassical", "summarize_chain", "summarize_sweep", "headline_field", "headline_value", "json_number",
           "fit_to_json", "BOUND_SLACK", "POOR_FIT_R2"]

#: slack allowed when checking measured <= bound (round-off of the diagnostics)
BOUND_SLACK = 1e-10
#: D_N >= 0 is checked to this tolerance, relative to the largest entropy production (the
#: finite-difference dH_N/dt is accurate to about 1e-10 of it)
DISSIPATION_RTOL = 1e-8


def provenance(host: bool = False) -> dict:
    """With what and when a result was made: creation time (UTC), Python, platform and the versions
    of the numerical dependencies (as Dataset attributes); the host name only with `host=True`
    (Datasets are shared: a machine's name is not written into them unasked)."""
    import datetime
    import platform

    out = {"created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "python": platform.python_version(), "platform": platform.platform()}
    if host:
        out["host"] = platform.node()
    for dist in ("numpy", "scipy", "xarray", "netCDF4", "qutip", "pot", "dask"):
        try:
            out[f"version_{dist}"] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def package_version() -> str:
    try:
        return version("qmeanfield")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def model_attrs(model: Model) -> dict:
    return {f"model_{k}": v for k, v in model.describe().items()}


def model_variables(model: Model) -> tuple[dict, dict]:
    """The model's operators as Dataset variables and their coordinates."""
    d = model.d
    stack = lambda ops: np.array(ops) if ops else np.zeros((0, d, d), dtype=complex)  # noqa: E731
    data = {
        "model_h": (("row", "col"), np.asarray(model.h)),
        "model_V": (("pair_row", "pair_col"), np.asarray(model.V)),
        "model_jumps": (("jump", "row", "col"), stack(model.jumps)),
        "model_collective_jumps": (("collective_jump", "row", "col"), stack(model.collective_jumps)),
        "model_drive_operators": (("drive_term", "row", "col"), stack([A for A, _ in model.drive]),
                                  {"long_name": "A_k of the drive h(t) = h + sum_k f_k(t) A_k (empty: not driven)"}),
        "model_timed_jumps": (("timed_jump", "row", "col"), stack([L for L, _ in model.timed_jumps]),
                              {"long_name": "L_k of the jumps with time-dependent rates r_k(t)"}),
    }
    coords = {"row": np.arange(d), "col": np.arange(d), "pair_row": np.arange(d * d), "pair_col": np.arange(d * d),
              "jump": np.arange(len(model.jumps)), "collective_jump": np.arange(len(model.collective_jumps)),
              "drive_term": np.arange(len(model.drive)), "timed_jump": np.arange(len(model.timed_jumps))}
    return data, coords


# ----------------------------------------------------------------------------- builders
@dataclass(frozen=True)
class Variable:
    """One declared Dataset variable measured per particle number.

    Attributes
    ----------
    name : str
        The variable's name, also the field of the per-N measurement that holds its values.
    dims : tuple of str
        Its dimensions after the leading `N`.
    attrs : Mapping
        Its netCDF attributes (`long_name`, `formula`, `note`, `units`).
    optional : bool
        Left out of the Dataset where no measurement holds it (the field is None).
    """

    name: str
    dims: tuple[str, ...]
    attrs: Mapping = field(default_factory=dict)
    optional: bool = False


def per_N_variables(table, rows) -> dict:
    """Dataset variables `(N, *dims)` from a declared `table` of `Variable` and one
    measurement per N (an object whose fields carry the variables' names)."""
    data = {}
    for var in table:
        values = [getattr(r, var.name) for r in rows]
        if var.optional and all(v is None for v in values):
            continue
        stacked = np.array(values, dtype=object) if isinstance(values[0], str) else np.stack(values)
        data[var.name] = (("N", *var.dims), stacked, dict(var.attrs))
    return data


def comparison_dataset(model: Model, rho0: np.ndarray, table, rows, *, Ns, ks, times, rho_t,
                       attrs: dict) -> xr.Dataset:
    """The Dataset of `qmeanfield.compare`: the variables of `table` (declared once, beside
    the measurement, `qmeanfield.api.COMPARISON_VARIABLES`) from one measurement per N, the
    mean-field state, the initial state and the model's operators."""
    data, coords = model_variables(model)
    data.update(per_N_variables(table, rows))
    data["meanfield_state"] = (("time", "row", "col"), rho_t, {"long_name": "mean-field rho(t)"})
    data["initial_state"] = (("row", "col"), rho0, {"long_name": "rho0"})
    coords.update({"N": np.array(Ns), "time": np.asarray(times), "k": np.array(ks)})
    return xr.Dataset(data_vars=data, coords=coords,
                      attrs={**model_attrs(model), **attrs, **provenance(), "qmeanfield_version": package_version()})


def certificate_dataset(model: Model, Ns, etas, times, ks, *, lambda_N, gt, ynorm, bound, eta_opt, marginal_bound,
                        threshold=None) -> xr.Dataset:
    """The Dataset of `qmeanfield.certify`; with `threshold` (an
    `EtaThreshold`) also its scan, so the report reads only the Dataset."""
    ds = xr.Dataset(
        {
            "lambda_N": (("N", "eta", "time"), lambda_N, {"long_name": "log Tr exp(log rho^(x)N + eta Y_N)"}),
            "golden_thompson": (("N", "eta", "time"), gt, {"long_name": "log Tr(rho^(x)N exp(eta Y_N)) >= lambda_N"}),
            "Y_norm": (("N", "time"), ynorm, {"long_name": "||Y_N|| (NaN for N > 200)"}),
            "bound": (("N", "time"), bound, {"long_name": "Gronwall certificate for H_N, minimised over eta"}),
            "eta_opt": (("N", "time"), eta_opt, {"long_name": "minimising eta"}),
            "certified_marginal_bound": (("N", "k", "time"), marginal_bound, {"formula": "sqrt(2 bound / floor(N/k))"}),
        },
        coords={"N": np.array(Ns), "eta": np.asarray(etas), "time": np.asarray(times), "k": np.array(ks)},
        attrs={**model_attrs(model), "quadrature": "trapezoidal", **provenance(), "qmeanfield_version": package_version()},
    )
    if threshold is not None:
        ds = add_threshold(ds, threshold)
    return ds


def add_threshold(ds: xr.Dataset, threshold) -> xr.Dataset:
    """Store an eta-threshold scan in a certificate Dataset (variables `threshold_*`)."""
    ds = ds.copy()
    ds["threshold_lambda_N"] = (("threshold_N", "threshold_eta"), threshold.lambda_N,
                                {"long_name": "Lambda_N(eta, t) over the threshold scan"})
    ds["threshold_exponent"] = (("threshold_eta",), threshold.exponents,
                                {"long_name": "fitted log-log slope of Lambda_N against N"})
    ds = ds.assign_coords(threshold_N=threshold.N, threshold_eta=threshold.etas)
    ds.attrs.update(eta_threshold=threshold.eta_threshold, eta_threshold_time=threshold.time,
                    eta_threshold_growth_cutoff=threshold.growth_cutoff)
    return ds


def steady_dataset(model: Model, Ns, fixed_points, *, dist, H, S, residual, R1, methods, iterations, wall_seconds,
                   gaps) -> xr.Dataset:
    """The Dataset of `qmeanfield.steady_state_comparison`."""
    fps = list(fixed_points)
    d = model.d
    n_stable = sum(1 for fp in fps if fp.stable)
    fit = fit_power_law(np.array(Ns, dtype=float), dist[:, 0, 0])
    return xr.Dataset(
        data_vars={
            "fixed_point_state": (("fixed_point", "row", "col"), np.array([fp.rho for fp in fps]),
                                  {"long_name": "mean-field fixed point rho*"}),
            "fixed_point_stable": (("fixed_point",), np.array([int(fp.stable) for fp in fps])),
            "fixed_point_residual": (("fixed_point",), np.array([fp.residual for fp in fps])),
            "fixed_point_max_real_eigenvalue": (("fixed_point",), np.array([fp.max_real_eigenvalue for fp in fps])),
            "one_body_marginal": (("N", "row", "col"), R1, {"long_name": "R^(1) of the N-body steady state"}),
            "trace_distance": (("N", "k", "fixed_point"), dist, {"long_name": "|| R^(k)_ss - rho*^(x)k ||_1"}),
            "relative_entropy": (("N", "fixed_point"), H, {"long_name": "H(R_N^ss | rho*^(x)N)"}),
            "entropy": (("N",), S, {"long_name": "S(R_N^ss)"}),
            "residual": (("N",), residual, {"long_name": "||L x||_1 / ||L||_1 of the computed steady state"}),
            "method": (("N",), np.array(methods, dtype=object)),
            "iterations": (("N",), np.array(iterations, dtype=int),
                           {"long_name": "BiCGSTAB iterations of the steady-state solve (0: direct)"}),
            "wall_seconds": (("N",), np.array(wall_seconds, dtype=float),
                             {"long_name": "wall time of the N-body steady state and its measurement"}),
            "liouvillian_gap": (("N",), np.array(gaps, dtype=float),
                                {"long_name": "slowest relaxation rate of the N-body generator (symmetric sector); "
                                              "NaN: not computed"}),
        },
        coords={"N": np.array(Ns), "k": np.array([1, 2]), "fixed_point": np.arange(len(fps)),
                "row": np.arange(d), "col": np.arange(d)},
        attrs={**model_attrs(model),
               "unique_fixed_point": int(n_stable == 1 and len(fps) == 1),
               "stable_fixed_points": n_stable,
               "unsettled_starts": int(getattr(fixed_points, "unsettled_starts", 0)),
               "exponent_one_body": float("nan") if fit is None else fit.exponent,
               "exponent_one_body_ci": float("nan") if fit is None else fit.exponent_ci,
               **provenance(), "qmeanfield_version": package_version()},
    )


# ----------------------------------------------------------------------------- summaries
def _freeze(value):
    """A read-only copy: mappings as read-only mappings, lists and tuples as tuples, numpy scalars
    as Python numbers."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _thaw(value):
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class Summary(Mapping):
    """The key numbers of one study's result, read from its Datasets only: a read-only mapping
    (nested mappings read-only, lists as tuples) that every report, the CLI and `summary.json` read.

    Attributes
    ----------
    study : str
        The study that made it (`"compare"`, `"certify"`, `"steady"`, `"semiclassical"`, `"chain"`,
        `"sweep"`).
    values : Mapping
        The numbers, as plain JSON values (NaN as None, infinities as `"inf"`).

    Examples
    --------
    >>> s = Summary("compare", {"N": [2, 4], "t_final": 1.0})
    >>> s["N"], s.to_dict()["N"]
    ((2, 4), [2, 4])
    """

    study: str
    values: Mapping

    def __post_init__(self):
        object.__setattr__(self, "values", _freeze(self.values))

    def __getitem__(self, key):
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Summary({self.study!r}, {sorted(self.values)})"

    def with_values(self, **values) -> "Summary":
        """A copy with `values` added or replaced (e.g. the run's name)."""
        return Summary(self.study, {**self.values, **values})

    def to_dict(self) -> dict:
        """A plain, mutable copy (dicts and lists)."""
        return _thaw(self.values)

    def to_json(self, indent: int | None = 2) -> str:
        """The summary as JSON text (what `summary.json` holds)."""
        return json.dumps(self.to_dict(), indent=indent)


def json_number(x):
    """A float for JSON: NaN -> None, +-inf -> "inf" / "-inf"."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else (None if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def _nan_reduce(fn, values):
    """fn (nanmax / nanmin) over the non-NaN values, as a JSON number; None if there are none."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return None
    return json_number(fn(values))


def fit_to_json(fit) -> dict | None:
    """A fit result as a JSON dict (NaN -> None), with `poor` for a + b/N fits."""
    if fit is None:
        return None
    out = {k: json_number(v) if isinstance(v, float) else v for k, v in asdict(fit).items()}
    if hasattr(fit, "poor"):
        out["poor"] = fit.poor
    return out


def _model_json(ds: xr.Dataset) -> dict:
    return {k[len("model_"):]: (v.item() if isinstance(v, np.generic) else v)
            for k, v in ds.attrs.items() if k.startswith("model_")}


def summarize_comparison(ds: xr.Dataset) -> Summary:
    """Key numbers of a comparison Dataset, as plain JSON-able values."""
    per_N = []
    open_model = bool(int(ds.attrs.get("model_open", 0)))
    for n in ds.N.values:
        sel = ds.sel(N=n)
        H = sel.relative_entropy.values
        row = {
            "N": int(n),
            "engine": str(sel.engine.values),
            "discarded_weight": float(sel.discarded_weight.values) if "discarded_weight" in sel else 0.0,
            "relative_entropy_final": json_number(H[-1]),
            "relative_entropy_max": _nan_reduce(np.nanmax, H),
            "relative_entropy_per_particle_final": json_number(H[-1] / n),
            "wall_seconds": json_number(sel.wall_seconds.values) if "wall_seconds" in sel else None,
        }
        for k in ds.k.values:
            dist = sel.trace_distance.sel(k=k)
            bound = sel.marginal_bound.sel(k=k)
            row[f"trace_distance_k{int(k)}_max"] = _nan_reduce(np.nanmax, dist.values)
            # the engine's dropped weight bounds the error of the measured distance
            slack = BOUND_SLACK + row["discarded_weight"]
            row[f"bound_holds_k{int(k)}"] = bool(np.all((dist <= bound + slack) | ~np.isfinite(dist)))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (dist / bound).where(ds.time > 0).values
            row[f"bound_tightness_k{int(k)}_max"] = _nan_reduce(np.nanmax, np.where(np.isfinite(ratio), ratio, np.nan))
        if open_model:
            row["dissipation_min"] = _nan_reduce(np.nanmin, sel.dissipation.values)
            scale = _nan_reduce(np.nanmax, np.abs(sel.entropy_production.values)) or 0.0
            row["dissipation_tolerance"] = DISSIPATION_RTOL * max(1.0, scale)
            row["dissipation_nonnegative"] = (None if row["dissipation_min"] is None
                                              else bool(row["dissipation_min"] >= -row["dissipation_tolerance"]))
        else:
            scale = _nan_reduce(np.nanmax, np.abs(sel.entropy_production.values))
            residual = _nan_reduce(np.nanmax, sel.identity_residual.values)
            row["identity_residual_max"] = residual
            row["identity_residual_relative"] = (residual / max(scale, 1e-300)
                                                 if isinstance(residual, float) and isinstance(scale, float) else None)
        per_N.append(row)
    Ns = ds.N.values
    H_final = ds.relative_entropy.values[:, -1]
    marginal_rates = {}
    for k in ds.k.values:
        dist = ds.trace_distance.sel(k=k).max("time", skipna=True).values
        bound = ds.marginal_bound.sel(k=k).max("time", skipna=True).values
        marginal_rates[f"k{int(k)}"] = {"trace_distance": fit_to_json(fit_power_law(Ns, dist)),
                                        "pinsker_bound": fit_to_json(fit_power_law(Ns, bound))}
    return Summary("compare", {
        "model": _model_json(ds),
        "t_final": float(ds.time.values[-1]),
        "N": [int(n) for n in Ns],
        "per_N": per_N,
        "relative_entropy_per_particle_fit_at_t_final": fit_to_json(fit_power_law(Ns, H_final / Ns)),
        "relative_entropy_limit_at_t_final": fit_to_json(fit_inverse_N(Ns, H_final) if len(Ns) >= 3 else None),
        "max_trace_distance_fits": marginal_rates,
        "relative_entropy_note": ds.relative_entropy.attrs.get("note", ""),
        "qmeanfield_version": str(ds.attrs.get("qmeanfield_version", "")),
        "provenance": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in ds.attrs.items()
                       if k in ("created_utc", "host", "python", "platform", "configuration")
                       or k.startswith("version_")},
    })


def summarize_certificate(ds: xr.Dataset) -> Summary:
    """Key numbers of a certificate Dataset: bound versus exact per N, fitted rates with intervals."""
    per_N = []
    has_exact = "relative_entropy" in ds
    for n in ds.N.values:
        sel = ds.sel(N=n)
        row = {"N": int(n), "bound_final": json_number(sel.bound.values[-1]),
               "eta_opt_final": json_number(sel.eta_opt.values[-1]),
               "lambda_max": _nan_reduce(np.nanmax, sel.lambda_N.values),
               "eta_opt_on_grid_edge": bool(np.any(np.isin(sel.eta_opt.values[1:], ds.eta.values[[0, -1]])))}
        if has_exact:
            H = sel.relative_entropy.values
            row["relative_entropy_final"] = json_number(H[-1])
            row["bound_holds"] = bool(np.all(sel.bound.values >= H - BOUND_SLACK))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(H > 1e-12, sel.bound.values / H, np.nan)
            row["bound_over_exact_at_t_final"] = json_number(ratio[-1])
        per_N.append(row)
    out = {"model": _model_json(ds), "N": [int(n) for n in ds.N.values], "t_final": float(ds.time.values[-1]),
           "per_N": per_N, "etas": [float(e) for e in ds.eta.values],
           "qmeanfield_version": str(ds.attrs.get("qmeanfield_version", ""))}
    Ns = ds.N.values
    if has_exact and ds.sizes["N"] >= 2:
        H_final = ds.relative_entropy.values[:, -1]
        out["relative_entropy_limit_at_t_final"] = fit_to_json(fit_inverse_N(Ns, H_final))
        out["trace_distance_fits"] = {
            f"k{int(k)}": fit_to_json(fit_power_law(Ns, ds.trace_distance.sel(k=k).max("time", skipna=True).values))
            for k in ds.k.values}
    if ds.sizes["N"] >= 2:
        out["bound_per_particle_fit_at_t_final"] = fit_to_json(fit_power_law(Ns, ds.bound.values[:, -1] / Ns))
    if "eta_threshold" in ds.attrs:
        out["eta_threshold"] = {"estimate": float(ds.attrs["eta_threshold"]),
                                "time": float(ds.attrs["eta_threshold_time"]),
                                "N": [int(n) for n in ds.threshold_N.values],
                                "growth_cutoff": float(ds.attrs["eta_threshold_growth_cutoff"]),
                                "exponents": [json_number(x) for x in ds.threshold_exponent.values]}
    return Summary("certify", out)


def summarize_steady(ds: xr.Dataset) -> Summary:
    """Key numbers of a steady-state Dataset."""
    return Summary("steady", {"model": _model_json(ds),
            "N": [int(n) for n in ds.N.values], "unique_fixed_point": bool(ds.attrs["unique_fixed_point"]),
            "stable_fixed_points": int(ds.attrs["stable_fixed_points"]),
            "unsettled_starts": int(ds.attrs.get("unsettled_starts", 0)),
            "exponent_one_body": json_number(ds.attrs["exponent_one_body"]),
            "exponent_one_body_ci": json_number(ds.attrs["exponent_one_body_ci"]),
            "one_body_distance": [json_number(v) for v in ds.trace_distance.values[:, 0, 0]],
            "relative_entropy": [json_number(v) for v in ds.relative_entropy.values[:, 0]],
            "fixed_points_stable": [bool(v) for v in ds.fixed_point_stable.values],
            "method": [str(m) for m in ds.method.values],
            "iterations": [int(v) for v in ds.iterations.values] if "iterations" in ds else [],
            "wall_seconds": [json_number(v) for v in ds.wall_seconds.values] if "wall_seconds" in ds else [],
            "liouvillian_gap": [json_number(v) for v in ds.liouvillian_gap.values] if "liouvillian_gap" in ds else [],
            "fixed_points_max_real_eigenvalue": [json_number(v) for v in ds.fixed_point_max_real_eigenvalue.values],
            "qmeanfield_version": str(ds.attrs.get("qmeanfield_version", ""))})


def summarize_semiclassical(ds: xr.Dataset) -> Summary:
    """Key numbers of a semiclassical scan: W2 with its bracket and bound per hbar, the fitted
    exponent of W2 against hbar at the final time and its interval, the monitors."""
    per_hbar = []
    for a, hb in enumerate(ds.hbar.values):
        w2 = ds.w2_husimi_vlasov.values[a]
        width = ds.w2_upper.values[a] - ds.w2_lower.values[a]
        per_hbar.append({
            "hbar": float(hb), "orbitals": int(ds.orbitals.values[a]), "quantum_points": int(ds.quantum_points.values[a]),
            "w2_initial": json_number(w2[0]), "w2_final": json_number(w2[-1]), "w2_max": _nan_reduce(np.nanmax, w2),
            "bracket_final": [json_number(ds.w2_lower.values[a, -1]), json_number(ds.w2_upper.values[a, -1])],
            "bracket_narrower_than_value": bool(np.all(width < w2)),
            "bound_final": json_number(ds.w2_bound.values[a, -1]),
            "bound_holds": (None if np.all(np.isnan(ds.w2_bound.values[a]))
                            else bool(np.all(ds.w2_lower.values[a] <= ds.w2_bound.values[a]))),
            "trace_error_max": _nan_reduce(np.nanmax, ds.trace_error.values[a]),
            "spectrum_error_max": _nan_reduce(np.nanmax, ds.spectrum_error.values[a]),
            "energy_drift_max": _nan_reduce(np.nanmax, np.abs(ds.energy_drift.values[a])),
            "wall_seconds": json_number(ds.wall_seconds.values[a]),
        })
    exps = ds.w2_exponent.values
    return Summary("semiclassical", {
        "domain": ds.attrs.get("domain"), "pair": ds.attrs.get("pair"), "external": ds.attrs.get("external"),
        "initial": ds.attrs.get("initial"), "hbar": [float(h) for h in ds.hbar.values],
        "t_final": float(ds.time.values[-1]), "per_hbar": per_hbar,
        "w2_exponent_final": json_number(exps[-1]), "w2_exponent_final_ci": json_number(ds.w2_exponent_ci.values[-1]),
        "w2_exponent_initial": json_number(exps[0]),
        "certificate_rate": json_number(ds.attrs.get("certificate_rate")),
        "vlasov_mass_drift": json_number(np.max(np.abs(ds.vlasov_mass.values - ds.vlasov_mass.values[0]))),
        "vlasov_energy_drift": json_number(np.max(np.abs(ds.vlasov_energy.values - ds.vlasov_energy.values[0]))),
        "vlasov_edge_mass": json_number(ds.attrs.get("vlasov_edge_mass")),
        "qmeanfield_version": str(ds.attrs.get("qmeanfield_version", "")),
    })


def summarize_chain(ds: xr.Dataset) -> Summary:
    """Key numbers of the chain to N bodies at the final time, per N."""
    return Summary("chain", {
        "hbar": float(ds.attrs["hbar"]), "modes": int(ds.attrs["modes"]),
        "weight_outside_modes": json_number(ds.attrs["weight_outside_modes"]),
        "N": [int(n) for n in ds.N.values],
        "relative_entropy_final": [json_number(v) for v in ds.relative_entropy.values[:, -1]],
        "trace_distance_nbody_final": [json_number(v) for v in ds.trace_distance_nbody.values[:, -1]],
        "trace_distance_truncation_final": json_number(ds.trace_distance_truncation.values[-1]),
        "w2_bracket_final": [json_number(ds.w2_lower.values[-1]), json_number(ds.w2_upper.values[-1])],
        "composed_bound_final": [json_number(v) for v in ds.composed_bound.values[:, -1]],
        "note": "links 1 and 2 are exact distances on the finite model and the grid; link 3 is a W2 bracket; "
                "the composed bound uses W2^2 <= 2 sqrt(M4) ||A - B||_1^(1/2) and is loose",
    })


def headline_field(ds: xr.Dataset, name: str) -> tuple[xr.DataArray, str]:
    """A headline variable of a sweep at the last entry of each of its own dimensions (those not
    swept: the largest N, the final time, the last hbar), with a note saying which. For one
    point (`ds` a point of the sweep, no swept dimension left) it is one number."""
    da = ds[name]
    own = [d for d in da.dims if d not in ds.status.dims]
    at = {d: da[d].values[-1] if d in da.coords else da.sizes[d] - 1 for d in own}
    note = ", ".join(f"{d} = {v.item() if isinstance(v, np.generic) else v}" for d, v in at.items())
    return (da.isel({d: -1 for d in own}) if own else da), note


def headline_value(point: xr.Dataset, name: str) -> tuple[float, str]:
    """A headline variable of one sweep point as one number (`headline_field`) and its note."""
    field, note = headline_field(point, name)
    return json_number(float(field.values)), note


def summarize_sweep(ds: xr.Dataset) -> Summary:
    """Key numbers of a consolidated sweep (any study): counts by status, and per point its values,
    status, wall time and each headline variable (`ds.attrs["headline"]`) as one number
    (`headline_value`)."""
    status = ds.status.values.ravel()
    dims = list(ds.status.dims)
    axes = json.loads(ds.attrs.get("axes", "{}"))
    headline = json.loads(ds.attrs.get("headline", "[]"))
    rows = []
    for idx in np.ndindex(*ds.status.shape):
        point = ds.isel(dict(zip(dims, idx)))
        values = {k: point[k].item() for k in axes}
        row = {"values": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()},
               "status": str(point.status.values), "wall_seconds": json_number(point.wall_seconds.values)}
        row["headline"] = {}
        for name in headline:
            value, note = headline_value(point, name)
            row["headline"][name] = {"value": value, "at": note}
        rows.append(row)
    counts = {s: int(np.sum(status == s)) for s in ("done", "failed", "refused", "pending")}
    labels = {name: str(ds[name].attrs.get("long_name", name)) for name in headline}
    return Summary("sweep", {"name": ds.attrs.get("name"), "study": ds.attrs.get("study", "compare"),
                             "mode": ds.attrs.get("mode"), "axes": axes, "headline": labels, "counts": counts,
                             "points": rows, "qmeanfield_version": str(ds.attrs.get("qmeanfield_version", ""))})
