r"""``compare``: N-body versus mean-field, as an ``xarray.Dataset``.

Stages: check input -> mean-field trajectory -> for each N: choose engine, evolve, measure
(THEORY sections 2-3) -> Dataset. Nothing here does I/O.
"""

from __future__ import annotations

from contextlib import nullcontext
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import xarray as xr

from . import meanfield
from .diagnostics import (
    clamp_product_roundoff,
    derivative_from_stencil,
    entropy_production,
    marginal_trace_distance,
    pinsker_marginal_bound,
    relative_entropy_to_product,
    stencil,
)
from .engines import choose_engine
from .errors import QMeanFieldError
from .model import Model
from .states import is_full_rank, validate_density_matrix

__all__ = ["compare", "derivative_step"]

MAX_MARGINAL = 3


def _version() -> str:
    try:
        return version("qmeanfield")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def derivative_step(model: Model, times: np.ndarray) -> float:
    """Step of the finite-difference stencil for dH_N/dt: small against the fastest time scale."""
    rate = (np.linalg.norm(model.h, 2) + np.linalg.norm(model.V, 2)) / model.hbar
    rate += sum(np.linalg.norm(L, 2) ** 2 for L in model.jumps)
    step = 2e-3 / max(rate, 1.0)
    if times.size > 1:
        step = min(step, float(np.min(np.diff(times))) / 8)
    return step


def _check_N(N) -> list[int]:
    Ns = [N] if np.isscalar(N) else list(N)
    if not Ns:
        raise QMeanFieldError("N must be a non-empty list of particle numbers >= 2")
    out = []
    for n in Ns:
        if isinstance(n, (bool, np.bool_)) or int(n) != n or n < 2:
            raise QMeanFieldError(f"N must contain integers >= 2, got {n!r}")
        out.append(int(n))
    if len(set(out)) != len(out):
        raise QMeanFieldError(f"N contains duplicates: {out}")
    return sorted(out)


def _check_marginals(marginals) -> list[int]:
    ks = sorted(set(int(k) for k in marginals))
    if not ks or ks[0] < 1 or ks[-1] > MAX_MARGINAL:
        raise QMeanFieldError(f"marginals must be a non-empty subset of 1..{MAX_MARGINAL}, got {list(marginals)}")
    return ks


def compare(model: Model, rho0, N, times, *, engine: str = "auto", marginals=(1, 2),
            engine_options: dict | None = None, progress: bool = False, entropy_identity: bool = True,
            mf_rtol: float = 1e-12, mf_atol: float = 1e-14) -> xr.Dataset:
    r"""Evolve :math:`\rho_0^{\otimes N}` and the mean-field equation; measure their distance.

    Parameters
    ----------
    model : the validated :class:`~qmeanfield.Model`.
    rho0 : (d, d) initial one-body density matrix (full rank for a finite relative entropy).
    N : particle number(s), each >= 2.
    times : increasing output times >= 0.
    engine : ``"auto"`` or a registered engine name (``"dense"``).
    marginals : which k-particle marginals (1 <= k <= 3) to compare with :math:`\rho^{\otimes k}`.
    engine_options : keyword options for the engine (e.g. ``{"memory_budget_gb": 8}``).
    progress : show a progress bar over the work.
    entropy_identity : measure dH_N/dt (finite differences: the engine also runs at four extra
        times around each output time) for the identity residual / dissipation. ``False`` skips
        it (those variables are then NaN), for large-N scans where only H_N and marginals matter.

    Returns
    -------
    xarray.Dataset with variables (see the README for the formulas):
    ``relative_entropy`` (N, time), ``trace_distance`` and ``marginal_bound`` (N, k, time),
    ``entropy_production``, ``entropy_derivative``, ``identity_residual``, ``dissipation``,
    ``entropy`` (N, time), ``one_body_marginal`` (N, time, row, col), ``meanfield_state``
    (time, row, col), the model's operators, and attributes recording how it was made.
    """
    if not isinstance(model, Model):
        raise QMeanFieldError(f"model must be a qmeanfield.Model, got {type(model).__name__}")
    d = model.d
    rho0 = validate_density_matrix(rho0, "rho0", d)
    times = meanfield.validate_times(times)
    Ns = _check_N(N)
    ks = _check_marginals(marginals)
    engine_options = dict(engine_options or {})
    engines = {n: choose_engine(model, n, engine, **engine_options) for n in Ns}  # fail early
    kmax = max(max(ks), 2)

    step = derivative_step(model, times)
    if entropy_identity:
        all_t, st_index, st_weights = stencil(times, step)
    else:
        all_t, st_index, st_weights = times, None, None
    out_index = np.searchsorted(all_t, times)
    rho_all = meanfield.evolve(model, rho0, all_t, rtol=mf_rtol, atol=mf_atol)

    T = times.size
    shape_Nt = (len(Ns), T)
    H = np.full(shape_Nt, np.nan)
    S = np.full(shape_Nt, np.nan)
    dHdt = np.full(shape_Nt, np.nan)
    rhs = np.full(shape_Nt, np.nan)
    dist = np.full((len(Ns), len(ks), T), np.nan)
    bound = np.full((len(Ns), len(ks), T), np.nan)
    R1_out = np.zeros((len(Ns), T, d, d), dtype=complex)
    infinite_reason = ""
    engine_names = []
    discarded = np.zeros(len(Ns))

    bar = _progress_bar(progress)
    with bar as prog:
        task = prog.add_task("N-body runs", total=len(Ns) * all_t.size) if prog else None
        done = 0
        for a, n in enumerate(Ns):
            eng = engines[n]
            engine_names.append(eng.name)
            if prog:
                prog.update(task, description=f"N = {n} ({eng.name})")
            cb = (lambda m, base=done: prog.update(task, completed=base + m)) if prog else None
            traj = eng.evolve(model, rho0, n, all_t, kmax=min(kmax, n), progress=cb)
            done += all_t.size
            discarded[a] = float(traj.info.get("discarded_weight", 0.0))
            kappa = model.kappa(n)
            H_raw = np.empty(all_t.size)  # unclamped: smooth in time for the derivative
            for i in range(all_t.size):
                H_raw[i], why = relative_entropy_to_product(traj.entropy[i], traj.marginals[1][i], rho_all[i], n,
                                                            clamp=False)
                if why and not infinite_reason:
                    infinite_reason = why
            H_all = np.array([clamp_product_roundoff(v, S_) for v, S_ in zip(H_raw, traj.entropy)])
            H[a] = H_all[out_index]
            S[a] = traj.entropy[out_index]
            R1_out[a] = traj.marginals[1][out_index]
            if entropy_identity and np.all(np.isfinite(H_raw[st_index])):
                dHdt[a] = derivative_from_stencil(H_raw, st_index, st_weights, step)
            for m, i in enumerate(out_index):
                rhs[a, m] = entropy_production(traj.marginals[1][i], traj.marginals[2][i], rho_all[i],
                                               np.asarray(model.V), n, kappa, model.hbar)
                for b, k in enumerate(ks):
                    if k <= n:
                        dist[a, b, m] = marginal_trace_distance(traj.marginals[k][i], rho_all[i], k)
            for b, k in enumerate(ks):
                bound[a, b] = pinsker_marginal_bound(H[a], n, k)
    if model.collective_jumps:
        # the identity's right side (and D_N >= 0) is derived for one-body jumps only
        dissipation = np.full(shape_Nt, np.nan)
        residual = np.full(shape_Nt, np.nan)
    elif model.is_open:
        dissipation = rhs - dHdt
        residual = np.full(shape_Nt, np.nan)
    else:
        residual = np.abs(dHdt - rhs)
        dissipation = np.full(shape_Nt, np.nan)

    rho_t = rho_all[out_index]
    ds = xr.Dataset(
        data_vars={
            "relative_entropy": (("N", "time"), H, {
                "long_name": "H(R_N | rho^(x)N)", "formula": "-S(R_N) - N Tr(R^(1) log rho)",
                "note": infinite_reason or "finite wherever rho(t) is full rank"}),
            "entropy": (("N", "time"), S, {"long_name": "von Neumann entropy S(R_N)"}),
            "trace_distance": (("N", "k", "time"), dist, {
                "long_name": "|| R^(k) - rho^(x)k ||_1", "note": "NaN where k > N"}),
            "marginal_bound": (("N", "k", "time"), bound, {
                "long_name": "Pinsker marginal bound", "formula": "sqrt(2 H_N / floor(N/k))"}),
            "entropy_production": (("N", "time"), rhs, {
                "long_name": "right side of the entropy production identity",
                "formula": "(i N/hbar)[kappa_N (N-1) Tr(R^(2) A) - Tr(R^(1)[log rho, V_rho])], A = [log rho (x) 1, V]"}),
            "entropy_derivative": (("N", "time"), dHdt, {
                "long_name": "dH_N/dt by a fourth-order finite difference", "step": step}),
            "identity_residual": (("N", "time"), residual, {
                "long_name": "|dH_N/dt - entropy_production| (closed systems; NaN for open)"}),
            "dissipation": (("N", "time"), dissipation, {
                "long_name": "D_N = entropy_production - dH_N/dt (open systems, >= 0; NaN for closed "
                             "and for models with collective jumps)"}),
            "one_body_marginal": (("N", "time", "row", "col"), R1_out, {"long_name": "R^(1)(t)"}),
            "meanfield_state": (("time", "row", "col"), rho_t, {"long_name": "mean-field rho(t)"}),
            "engine": (("N",), np.array(engine_names, dtype=object), {"long_name": "engine used for each N"}),
            "discarded_weight": (("N",), discarded, {
                "long_name": "weight of R_N dropped by the engine (bounds the trace-norm error of every marginal)"}),
            "initial_state": (("row", "col"), rho0),
            "model_h": (("row", "col"), np.asarray(model.h)),
            "model_V": (("pair_row", "pair_col"), np.asarray(model.V)),
            "model_jumps": (("jump", "row", "col"),
                            np.array(model.jumps) if model.jumps else np.zeros((0, d, d), dtype=complex)),
            "model_collective_jumps": (("collective_jump", "row", "col"),
                                       np.array(model.collective_jumps) if model.collective_jumps
                                       else np.zeros((0, d, d), dtype=complex)),
        },
        coords={"N": np.array(Ns), "time": times, "k": np.array(ks), "row": np.arange(d), "col": np.arange(d),
                "pair_row": np.arange(d * d), "pair_col": np.arange(d * d), "jump": np.arange(len(model.jumps)),
                "collective_jump": np.arange(len(model.collective_jumps))},
        attrs={
            **{f"model_{k}": v for k, v in model.describe().items()},
            "initial_state_full_rank": int(is_full_rank(rho0)),
            "engine_request": engine,
            "meanfield_rtol": mf_rtol,
            "meanfield_atol": mf_atol,
            "derivative_step": step if entropy_identity else 0.0,
            "entropy_identity": int(entropy_identity),
            "qmeanfield_version": _version(),
        },
    )
    return ds


def _progress_bar(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
