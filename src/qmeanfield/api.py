r"""The public verbs: :func:`compare`, :func:`certify` (and :func:`certificate_scaling`),
:func:`steady_state_comparison`.

Each is a thin sequence of visible stages: check the input -> plan (engines, extra times,
sizes; everything that can fail fails here, before any long work) -> evolve -> measure ->
build the Dataset (:mod:`qmeanfield.results`). Nothing here touches files.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import as_completed
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import meanfield
from ._checks import check_marginals, check_particle_numbers, check_times
from ._parallel import process_pool
from .blocks.space import BlockSpace
from .certificate import eta_grid, eta_threshold, gronwall_bound, lambda_blocks
from .diagnostics import (
    clamp_product_roundoff,
    derivative_from_stencil,
    entropy_production,
    fit_power_law,
    marginal_trace_distance,
    pinsker_marginal_bound,
    relative_entropy_to_product,
    stencil,
)
from .engines import Engine, EngineSpec, PermutationalEngine, choose_engine, configure_engine
from .errors import EngineError, QMeanFieldError
from .model import Model, require_model
from .progress import progress_bar
from .results import certificate_dataset, comparison_dataset, steady_dataset
from .states import is_full_rank, validate_density_matrix

__all__ = ["compare", "certify", "certificate_scaling", "steady_state_comparison", "derivative_step",
           "ComparisonPlan", "estimate_seconds", "estimate_steady_seconds", "estimate_certificate_seconds",
           "format_seconds"]

#: dH_N/dt stencil step, relative to the fastest time scale of the model (independent of the spacing
#: of the output times: stencils of close times interleave, they never shrink to round-off)
DERIVATIVE_STEP_SCALE = 2e-3
#: default limit on the time span, in periods of the fastest time scale (raise with max_periods=)
MAX_PERIODS = 1e4
#: Golden-Thompson column computed up to this N by default (it needs every block's eigenvectors)
GOLDEN_THOMPSON_MAX_N = 100
#: ||Y_N|| computed up to this N
Y_NORM_MAX_N = 200
#: the certificate starts worker processes by default when some N reaches this
CERTIFICATE_PARALLEL_MIN_N = 100


def fastest_rate(model: Model) -> float:
    """The fastest rate of the model: (||h|| + ||V||)/hbar plus the jump rates (at least 1)."""
    rate = (np.linalg.norm(model.h, 2) + np.linalg.norm(model.V, 2)) / model.hbar
    rate += sum(np.linalg.norm(L, 2) ** 2 for L in (*model.jumps, *model.collective_jumps))
    return max(float(rate), 1.0)


def derivative_step(model: Model, times: np.ndarray) -> float:
    """Step of the finite-difference stencil for dH_N/dt: small against the fastest time scale."""
    return DERIVATIVE_STEP_SCALE / fastest_rate(model)


def check_time_span(model: Model, times: np.ndarray, max_periods: float) -> None:
    """Refuse time spans of more than ``max_periods`` periods of the fastest time scale (the work
    grows with it), naming the limit and how to raise it."""
    periods = float(times[-1]) * fastest_rate(model) / (2 * np.pi)
    if not (isinstance(max_periods, (int, float)) and max_periods > 0):
        raise QMeanFieldError(f"max_periods must be a number > 0, got {max_periods!r}")
    if periods > max_periods:
        raise QMeanFieldError(
            f"times reach t = {times[-1]:.4g}, about {periods:.3g} periods of the model's fastest time scale, over the "
            f"limit max_periods = {max_periods:g}; shorten t_final or raise the limit (compare(..., max_periods=...), "
            "TOML: run.max_periods)")


# ----------------------------------------------------------------------------- compare
@dataclass(frozen=True)
class ComparisonPlan:
    """Everything decided before the first evolution: the checked inputs, the engine per N and
    the evaluation times (output times plus the stencil points of dH_N/dt)."""

    rho0: np.ndarray
    Ns: tuple[int, ...]
    ks: tuple[int, ...]
    times: np.ndarray
    engines: tuple[Engine, ...]
    all_times: np.ndarray
    out_index: np.ndarray
    step: float
    stencil_index: np.ndarray | None
    stencil_weights: np.ndarray | None

    @property
    def kmax(self) -> int:
        return max(max(self.ks), 2)

    def estimates(self, model: Model) -> list[dict]:
        """Per N: the engine, a rough time (seconds, 2 cores) and peak memory (bytes) estimate."""
        out = []
        for n, eng in zip(self.Ns, self.engines):
            if self.rho0 is not None and hasattr(eng, "estimated_memory"):   # the blocks this rho0 needs
                need = eng.estimated_memory(model, self.rho0, n, self.all_times.size)
            else:
                need = eng.memory_estimate(model, n) if hasattr(eng, "memory_estimate") else float("nan")
            out.append({"N": n, "engine": eng.name, "memory_bytes": float(need),
                        "seconds": estimate_seconds(eng, model, n, self.all_times.size, float(self.times[-1]),
                                                    rho0=self.rho0, outputs=self.times.size)})
        return out


#: seconds per unit of the engines' cost estimates on the reference machine (2 cores), calibrated
#: on the runs of benchmarks/README.md: permutational N = 80 (piqs problem), 200 and 400 with
#: Arnoldi steps (estimates 2.3 / 83 / 1300 s against `compare` 2-3 s / 60-62 s and the engine
#: alone 681 s at N = 400); symmetric d = 2, N = 1000, 2000 (thermal rho0), d = 3, N = 20, 60 and
#: d = 4, N = 10, 24 (times (d/2)^3); dense N = 6..8. Rough: within a factor of about 3.
SECONDS_PER_COST = {"permutational": 6e-9, "symmetric": 9e-11, "dense": 8e-9, "dense-open": 1.2e-6}
#: fixed cost of one N (blocks, diagnostics, mean-field bookkeeping), measured on small cases
SECONDS_PER_N = 0.05
#: the calibration runs' evaluation times and final time, per engine
_REFERENCE = {"permutational": (105, 2.0), "symmetric": (50, 2.0), "dense": (21, 2.0), "dense-open": (21, 2.0)}


def estimate_seconds(engine: Engine, model: Model, N: int, evaluations: int, t_final: float, rho0=None,
                     outputs: int | None = None) -> float:
    """A rough wall-time estimate (seconds, 2 cores) of one engine run; NaN for engines it does
    not know. Scaled from the engine's cost estimate (for the symmetric engine, that of the
    blocks and vectors this ``rho0`` needs) with the number of evaluation times and the span.
    ``outputs``: how many of the evaluations are output times; the symmetric engine reaches the
    others (stencil points) by short steps or as extra outputs of a series, counted at a quarter each."""
    key = "dense-open" if engine.name == "dense" and model.is_open else engine.name
    if key == "symmetric" and outputs is not None:
        evaluations = outputs + (evaluations - outputs) / 4
    if key not in SECONDS_PER_COST or not hasattr(engine, "cost"):
        return float("nan")
    if rho0 is not None and hasattr(engine, "estimated_cost"):
        cost = engine.estimated_cost(model, rho0, N) * (model.d / 2) ** 3
    else:
        cost = engine.cost(model, N)
    ref_evaluations, ref_t = _REFERENCE[key]
    share = 0.3 + 0.35 * max(t_final, 1e-3) / ref_t + 0.35 * evaluations / ref_evaluations
    return float(SECONDS_PER_COST[key] * cost * share + SECONDS_PER_N)


#: steady states (BiCGSTAB, d = 2): about 5 s at 91 881 block entries (N = 80), growing as
#: size^1.15 below and size^1.3 above (measured on 2 cores with the preconditioner's blocks and
#: the products on two threads: 14.6 s at N = 120, 55-64 s at N = 160; estimated 24 s and 70 s),
#: and as size^1.46 beyond N = 160 (708 561 entries), where the preconditioner's dense block
#: products (sum of n^3, the largest blocks through their Schur form) and the iterations
#: (growing faster than N) dominate: README model N = 240 in 366-402 s (370 iterations), N = 320
#: in 1485-1496 s (520-540 iterations); this estimate 413 s and 1442 s
_STEADY_REFERENCE = (91_881, 5.0)
_STEADY_LARGE = (708_561, 1.46)
#: the windowed steady-state solve: seconds per window entry and particle (the iterations grow
#: about as 2 N, each costs about the windows' entries), README's open model: 15 s at N = 320
#: (122 428 window entries), 39 s at N = 640 (174 625), 84 s at N = 1000 (219 011)
_STEADY_WINDOWS = 4e-7
#: certificate: about 11 s of wall time per (N, time) at N = 1000 with 10 eta (2 workers), as N^2,
#: and at least 15 ms per (N, time) (N = 2..8, 61 times: 6.4 s)
_CERTIFICATE_REFERENCE = (1000, 11.0, 10)
_CERTIFICATE_TASK_FLOOR = 0.015


def estimate_steady_seconds(model: Model, N: int, reference=None) -> float:
    """A rough estimate (seconds, 2 cores) of one N-body steady state, from the block-state size;
    with ``reference`` (the one-body state the solver starts from, e.g. the mean-field fixed
    point), from the windows the solver would take in its eigenbasis where they apply
    (:meth:`~qmeanfield.engines.PermutationalEngine.steady_window_entries`)."""
    from math import comb

    size = comb(N + model.d**2 - 1, N)
    ref_size, ref_seconds = _STEADY_REFERENCE
    if size <= 4_000:
        return 0.1
    entries = PermutationalEngine.steady_window_entries(model, N, reference)
    if entries is not None:
        return float(_STEADY_WINDOWS * entries * N + 0.2)
    if size <= ref_size:
        return float(ref_seconds * (size / ref_size) ** 1.15)
    large, exponent = _STEADY_LARGE
    seconds = ref_seconds * (min(size, large) / ref_size) ** 1.3
    return float(seconds * (max(size, large) / large) ** exponent)


def estimate_certificate_seconds(Ns, n_times: int, n_etas: int) -> float:
    """A rough estimate (seconds, 2 cores) of the certificate's bound for these N."""
    N_ref, seconds, etas_ref = _CERTIFICATE_REFERENCE
    return float(sum(_CERTIFICATE_TASK_FLOOR + seconds * (n / N_ref) ** 2 * max(n_etas, 1) / etas_ref for n in Ns)
                 * n_times)


def format_seconds(seconds: float) -> str:
    """'~3 s', '~4 min', '~2.5 h' (or 'unknown')."""
    if not np.isfinite(seconds):
        return "unknown"
    if seconds < 60:
        return f"~{max(seconds, 0.1):.2g} s"
    if seconds < 3600:
        return f"~{seconds / 60:.2g} min"
    return f"~{seconds / 3600:.2g} h"


def plan_comparison(model: Model, rho0, N, times, *, engine: EngineSpec = "auto", marginals=(1, 2),
                    engine_options=None, entropy_identity: bool = True, max_periods: float = MAX_PERIODS
                    ) -> ComparisonPlan:
    """Check the arguments of :func:`compare` and choose every engine (raises before any work)."""
    model = require_model(model)
    rho0 = validate_density_matrix(rho0, "rho0", model.d)
    times = check_times(times)
    check_time_span(model, times, max_periods)
    if not isinstance(entropy_identity, (bool, np.bool_)):
        raise QMeanFieldError(f"entropy_identity must be True or False, got {entropy_identity!r}")
    Ns = check_particle_numbers(N)
    ks = check_marginals(marginals)
    engines = tuple(choose_engine(model, n, engine, engine_options) for n in Ns)
    step = derivative_step(model, times)
    if entropy_identity:
        all_t, st_index, st_weights = stencil(times, step)
    else:
        all_t, st_index, st_weights = times, None, None
    return ComparisonPlan(rho0=rho0, Ns=tuple(Ns), ks=tuple(ks), times=times, engines=engines, all_times=all_t,
                          out_index=np.searchsorted(all_t, times), step=step, stencil_index=st_index,
                          stencil_weights=st_weights)


@dataclass(frozen=True)
class Measurement:
    """The diagnostics of one N at the output times."""

    H: np.ndarray
    S: np.ndarray
    dHdt: np.ndarray
    production: np.ndarray
    dist: np.ndarray
    bound: np.ndarray
    R1: np.ndarray
    R2: np.ndarray | None
    discarded_weight: float
    infinite_reason: str


def measure(model: Model, plan: ComparisonPlan, traj, rho_all: np.ndarray, two_body: bool = False) -> Measurement:
    """H_N, dH_N/dt, the identity's right side and the marginal distances of one trajectory."""
    n = traj.N
    T = plan.times.size
    reason = ""
    H_raw = np.empty(plan.all_times.size)  # unclamped: smooth in time for the derivative
    for i in range(plan.all_times.size):
        value = relative_entropy_to_product(traj.entropy[i], traj.marginals[1][i], rho_all[i], n, clamp=False)
        H_raw[i] = value.value
        reason = reason or value.reason
    H_all = np.array([clamp_product_roundoff(v, s) for v, s in zip(H_raw, traj.entropy)])
    out = plan.out_index
    dHdt = np.full(T, np.nan)
    if plan.stencil_index is not None and np.all(np.isfinite(H_raw[plan.stencil_index])):
        dHdt = derivative_from_stencil(H_raw, plan.stencil_index, plan.stencil_weights, plan.step)
    production = np.empty(T)
    dist = np.full((len(plan.ks), T), np.nan)
    V = np.asarray(model.V)
    for m, i in enumerate(out):
        production[m] = entropy_production(traj.marginals[1][i], traj.marginals[2][i], rho_all[i], V, n,
                                           model.kappa(n), model.hbar)
        for b, k in enumerate(plan.ks):
            if k <= n:
                dist[b, m] = marginal_trace_distance(traj.marginals[k][i], rho_all[i], k)
    bound = np.stack([pinsker_marginal_bound(H_all[out], n, k) for k in plan.ks])
    return Measurement(H=H_all[out], S=np.asarray(traj.entropy)[out], dHdt=dHdt, production=production, dist=dist,
                       bound=bound, R1=np.asarray(traj.marginals[1])[out],
                       R2=np.asarray(traj.marginals[2])[out] if two_body else None, discarded_weight=traj.discarded_weight,
                       infinite_reason=reason)


def compare(model: Model, rho0, N, times, *, engine: EngineSpec = "auto", marginals=(1, 2),
            engine_options: dict | None = None, progress: bool = False, entropy_identity: bool = True,
            mf_rtol: float = 1e-12, mf_atol: float = 1e-14, max_periods: float = MAX_PERIODS,
            two_body: bool = False) -> xr.Dataset:
    r"""Evolve :math:`\rho_0^{\otimes N}` and the mean-field equation; measure their distance.

    Parameters
    ----------
    model : the validated :class:`~qmeanfield.Model`.
    rho0 : (d, d) initial one-body density matrix (full rank for a finite relative entropy).
    N : particle number(s), each >= 2, distinct.
    times : increasing output times >= 0.
    engine : ``"auto"``, a registered engine name (``"dense"``, ``"symmetric"``,
        ``"permutational"``) or an engine object (``qmf.engines.SymmetricEngine(truncation=1e-9)``).
    marginals : which k-particle marginals (1 <= k <= 3) to compare with :math:`\rho^{\otimes k}`.
    engine_options : keyword options for a named engine (e.g. ``{"memory_budget_gb": 8}``);
        with ``"auto"`` each engine takes those it accepts; an option no engine accepts is refused.
    progress : show progress (a bar on a terminal, plain lines otherwise).
    entropy_identity : measure dH_N/dt (finite differences: the engine also runs at four extra
        times around each output time) for the identity residual / dissipation. ``False`` skips
        it (those variables are then NaN), for large-N scans where only H_N and marginals matter.
    mf_rtol, mf_atol : tolerances of the mean-field integrator (DOP853).
    max_periods : refuse times beyond this many periods of the model's fastest time scale (the
        work grows with the span; raise it for long runs).
    two_body : also store the two-body marginal ``two_body_marginal`` (N, time, pair_row,
        pair_col), e.g. for <Jz^2> = N Tr(R1 jz^2) + N(N-1) Tr(R2 jz (x) jz).

    Returns
    -------
    xarray.Dataset with variables (see the README for the formulas):
    ``relative_entropy`` (N, time), ``trace_distance`` and ``marginal_bound`` (N, k, time),
    ``entropy_production``, ``entropy_derivative``, ``identity_residual``, ``dissipation``,
    ``entropy`` (N, time), ``one_body_marginal`` (N, time, row, col), ``meanfield_state``
    (time, row, col), the model's operators, and attributes recording how it was made.
    """
    plan = plan_comparison(model, rho0, N, times, engine=engine, marginals=marginals, engine_options=engine_options,
                           entropy_identity=entropy_identity, max_periods=max_periods)
    rows, walls = [], []
    with progress_bar(progress) as prog:
        steps = plan.all_times.size
        task = prog.add_task("mean field", total=len(plan.Ns) * steps) if prog else None
        rho_all = meanfield.evolve(model, plan.rho0, plan.all_times, rtol=mf_rtol, atol=mf_atol)
        for a, (n, eng) in enumerate(zip(plan.Ns, plan.engines)):
            if prog:
                prog.update(task, description=f"N = {n} ({eng.name})")
            report = (lambda m, base=a * steps: prog.update(task, completed=base + m)) if prog else None
            start = time.perf_counter()
            traj = eng.evolve(model, plan.rho0, n, plan.all_times, kmax=min(plan.kmax, n), progress=report,
                              marginal_times=plan.out_index)
            rows.append(measure(model, plan, traj, rho_all, two_body=bool(two_body)))
            walls.append(time.perf_counter() - start)
    stack = lambda name: np.stack([getattr(r, name) for r in rows])  # noqa: E731
    return comparison_dataset(
        model, plan.rho0, plan.Ns, plan.ks, plan.times, rho_all[plan.out_index],
        H=stack("H"), S=stack("S"), dHdt=stack("dHdt"), production=stack("production"), dist=stack("dist"),
        bound=stack("bound"), R1=stack("R1"), engines=[e.name for e in plan.engines],
        discarded=[r.discarded_weight for r in rows], wall_seconds=walls,
        R2=stack("R2") if two_body else None,
        infinite_reason=next((r.infinite_reason for r in rows if r.infinite_reason), ""),
        attrs={"initial_state_full_rank": int(is_full_rank(plan.rho0)),
               "engine_request": engine if isinstance(engine, str) else repr(engine),
               "meanfield_rtol": mf_rtol, "meanfield_atol": mf_atol,
               "derivative_step": plan.step if entropy_identity else 0.0,
               "entropy_identity": int(entropy_identity)})


# ----------------------------------------------------------------------------- certify
def _lambda_task(args):
    n, d, *rest = args
    return lambda_blocks(BlockSpace(n, d), *rest)


def _lambda_values(model: Model, Ns, rho_t, etas, golden_thompson, workers, progress):
    """Lambda_N (and Golden-Thompson, ||Y_N||) for every (N, time), in processes when asked."""
    d, T = model.d, rho_t.shape[0]
    lam = np.full((len(Ns), etas.size, T), np.nan)
    gt = np.full_like(lam, np.nan)
    ynorm = np.full((len(Ns), T), np.nan)
    V = np.asarray(model.V)
    tasks = []
    for a, n in enumerate(Ns):
        want_gt = (n <= GOLDEN_THOMPSON_MAX_N) if golden_thompson == "auto" else bool(golden_thompson)
        for i in range(T):
            tasks.append((a, i, (n, d, rho_t[i], V, model.kappa(n), model.hbar, etas, want_gt, n <= Y_NORM_MAX_N)))
    if workers == "auto":
        workers = (os.cpu_count() or 1) if max(Ns) >= CERTIFICATE_PARALLEL_MIN_N else 1
    workers = max(1, min(int(workers), len(tasks), os.cpu_count() or 1))
    results = []
    with progress_bar(progress) as prog:
        bar = prog.add_task("certificate", total=len(tasks)) if prog else None
        if workers == 1:
            spaces: dict[int, BlockSpace] = {}
            for a, i, args in tasks:
                space = spaces.setdefault(args[0], BlockSpace(args[0], d))
                results.append((a, i, lambda_blocks(space, *args[2:])))
                if prog:
                    prog.update(bar, advance=1, description=f"certificate N = {args[0]}")
        else:
            with process_pool(workers) as pool:
                futures = {pool.submit(_lambda_task, args): (a, i) for a, i, args in tasks}
                for fut in as_completed(futures):
                    a, i = futures[fut]
                    results.append((a, i, fut.result()))
                    if prog:
                        prog.update(bar, advance=1)
    for a, i, res in results:
        lam[a, :, i] = res.lambda_N
        ynorm[a, i] = res.y_norm
        if res.golden_thompson is not None:
            gt[a, :, i] = res.golden_thompson
    return lam, gt, ynorm


def certify(model: Model, rho0, N, times, *, etas="auto", exact: bool = True, golden_thompson="auto",
            engine: EngineSpec = "auto", engine_options=None, marginals=(1, 2), workers: int | str = "auto",
            threshold_N=None, progress: bool = False) -> xr.Dataset:
    r"""Compute the entropy method's bound (:mod:`qmeanfield.certificate`) beside the exact :math:`H_N`.

    Returns a Dataset with ``lambda_N`` (N, eta, time), ``golden_thompson`` (N, eta, time; NaN
    where not computed), ``Y_norm`` (N, time), ``bound`` and ``eta_opt`` (N, time),
    ``certified_marginal_bound`` (N, k, time) = sqrt(2 bound / floor(N/k)), and, with ``exact``,
    ``relative_entropy`` (N, time) and ``trace_distance`` (N, k, time) from :func:`compare`.
    ``golden_thompson="auto"`` computes it for N <= 100 (it needs every block's eigenvectors).
    ``workers`` > 1 spreads the (N, time) pairs over processes; ``"auto"`` uses every core when
    some N >= 100. ``threshold_N`` (a list of N) adds the eta-threshold scan at the final time
    (variables ``threshold_*``, attribute ``eta_threshold``).

    Every stage is checked before the first starts: with ``exact``, an N that no engine can run
    is refused at once (pass ``exact=False`` for the bound alone).
    """
    model = require_model(model)
    if model.collective_jumps:
        raise QMeanFieldError("certify: the entropy method's bound is derived for one-body jumps only; "
                              "remove collective_jumps (compare() measures H_N for such models)")
    rho0 = validate_density_matrix(rho0, "rho0", model.d)
    times = check_times(times)
    if times[0] != 0:
        raise QMeanFieldError("certify: times must start at t = 0 (the bound integrates from 0)")
    Ns = check_particle_numbers(N)
    ks = check_marginals(marginals)
    etas = eta_grid(model) if isinstance(etas, str) and etas == "auto" else np.asarray(etas, dtype=float)
    if etas.ndim != 1 or etas.size == 0 or not np.all(np.isfinite(etas)) or np.any(etas <= 0):
        raise QMeanFieldError("etas must be 'auto' or a non-empty list of positive numbers")
    if threshold_N is not None:
        threshold_N = check_particle_numbers(threshold_N, "threshold_N")
    if exact:  # fail now, not after the bound has been computed
        plan_comparison(model, rho0, Ns, times, engine=engine, marginals=ks, engine_options=engine_options,
                        entropy_identity=False)
    rho_t = meanfield.evolve(model, rho0, times)
    lam, gt, ynorm = _lambda_values(model, Ns, rho_t, etas, golden_thompson, workers, progress)
    bounds = [gronwall_bound(times, lam[a], etas, H0=0.0) for a in range(len(Ns))]  # product data: H_N(0) = 0
    bound = np.stack([b.bound for b in bounds])
    mb = np.stack([np.stack([pinsker_marginal_bound(bound[a], n, k) for k in ks]) for a, n in enumerate(Ns)])
    threshold = (eta_threshold(model, rho0, float(times[-1]), Ns=threshold_N)
                 if threshold_N is not None else None)
    ds = certificate_dataset(model, Ns, etas, times, ks, lam=lam, gt=gt, ynorm=ynorm, bound=bound,
                             eta_opt=np.stack([b.eta_opt for b in bounds]), marginal_bound=mb, threshold=threshold)
    if exact:
        ex = compare(model, rho0, Ns, times, engine=engine, engine_options=engine_options, marginals=tuple(ks),
                     entropy_identity=False, progress=progress)
        ds["relative_entropy"] = ex.relative_entropy
        ds["trace_distance"] = ex.trace_distance
        ds["engine"] = ex.engine
    return ds


def certificate_scaling(model: Model, rho0, N: int, times, *, V_scales=(0.5, 1.0, 2.0), hbars=(0.5, 1.0, 2.0),
                        etas="auto", workers: int = 1) -> xr.Dataset:
    r"""How the certificate's constants depend on :math:`\|V\|` and :math:`\hbar`.

    Recomputes the certificate (bound only) for the model with V scaled by each of
    ``V_scales`` and each :math:`\hbar` in ``hbars`` (the eta grid follows
    :math:`\hbar/\|V\|`). Returns ``bound`` (V_scale, hbar, time) and ``eta_opt``, with attributes
    ``exponent_V`` and ``exponent_hbar``: fitted log-log slopes of bound(t_final) against the
    scale (at the model's hbar) and against hbar (at scale 1 if present).
    """
    model = require_model(model)
    times = check_times(times)
    V_scales = np.asarray(V_scales, dtype=float)
    hbars = np.asarray(hbars, dtype=float)
    if np.any(V_scales <= 0) or np.any(hbars <= 0):
        raise QMeanFieldError("V_scales and hbars must be positive")
    bound = np.empty((V_scales.size, hbars.size, times.size))
    eta_opt = np.empty_like(bound)
    for a, s in enumerate(V_scales):
        for b, hb in enumerate(hbars):
            m = Model(h=model.h, V=s * np.asarray(model.V), jumps=model.jumps, hbar=hb, coupling=model.coupling,
                      collective_jumps=model.collective_jumps)
            ds = certify(m, rho0, [N], times, etas=etas, exact=False, golden_thompson=False, workers=workers)
            bound[a, b] = ds.bound.values[0]
            eta_opt[a, b] = ds.eta_opt.values[0]
    ref_h = int(np.argmin(np.abs(hbars - model.hbar)))
    ref_s = int(np.argmin(np.abs(V_scales - 1.0)))
    fit_V = fit_power_law(V_scales, bound[:, ref_h, -1])
    fit_h = fit_power_law(hbars, bound[ref_s, :, -1])
    return xr.Dataset(
        {"bound": (("V_scale", "hbar", "time"), bound), "eta_opt": (("V_scale", "hbar", "time"), eta_opt)},
        coords={"V_scale": V_scales, "hbar": hbars, "time": times},
        attrs={"N": N, "exponent_V": float("nan") if fit_V is None else fit_V.exponent,
               "exponent_hbar": float("nan") if fit_h is None else fit_h.exponent,
               "norm_V": float(np.linalg.norm(model.V, 2))},
    )


# ----------------------------------------------------------------------------- steady states
def _steady_engine(engine: EngineSpec, engine_options) -> PermutationalEngine:
    if isinstance(engine, PermutationalEngine):
        if engine_options:
            raise EngineError("engine_options cannot be combined with an engine object; pass them to its constructor")
        return engine
    if engine not in ("auto", "permutational"):
        raise EngineError(f"steady states are computed on the permutational engine; engine={engine!r} cannot "
                          "run them (use 'auto', 'permutational' or a PermutationalEngine object)")
    return configure_engine("permutational", engine_options)


def steady_state_comparison(model: Model, N, *, progress: bool = False, fixed_points=None,
                            engine: EngineSpec = "auto", engine_options=None, gap: bool = False) -> xr.Dataset:
    r"""N-body steady states against the mean-field fixed point(s), for each N.

    Variables: ``fixed_point_state`` (fixed_point, row, col) with ``fixed_point_stable``,
    ``fixed_point_residual``, ``fixed_point_max_real_eigenvalue``; per N: ``one_body_marginal``,
    ``trace_distance`` (N, k, fixed_point) = :math:`\|R^{(k)}_{ss} - \rho^{*\otimes k}\|_1` for k = 1, 2,
    ``relative_entropy`` (N, fixed_point) = :math:`H(R^{ss}_N | \rho^{*\otimes N})`, ``entropy`` and
    ``residual`` (N). Attributes: ``unique_fixed_point`` (exactly one stable fixed point found),
    ``exponent_one_body`` (log-log slope in N of the distance to the first fixed point).
    ``engine`` / ``engine_options`` configure the permutational engine (options meant for other
    engines, as in a shared ``[engine]`` table, are left out).
    ``gap=True`` adds ``liouvillian_gap`` (N): the slowest relaxation rate of the N-body generator
    in the symmetric sector (:meth:`~qmeanfield.engines.PermutationalEngine.liouvillian_gap`; it costs
    about 15 steady states), to read beside the fixed points' linear stability
    (``fixed_point_max_real_eigenvalue``).
    """
    if not isinstance(gap, (bool, np.bool_)):
        raise QMeanFieldError(f"gap must be True or False, got {gap!r}")
    model = require_model(model)
    if not model.is_open:
        raise QMeanFieldError("steady states need an open model (jumps or collective_jumps)")
    Ns = check_particle_numbers(N)
    eng = _steady_engine(engine, engine_options)
    fps = meanfield.fixed_points(model) if fixed_points is None else fixed_points
    if not len(fps):
        raise QMeanFieldError("no mean-field fixed point found (every start kept moving: a limit cycle?)")
    for n in Ns:  # every N must fit before the first is solved (on windows where they apply;
        # the gap on the whole real generator)
        ok, why = eng.supports_steady(model, n, reference=fps[0].rho)
        if ok and gap:
            ok, why = eng.supports(model, n)
        if not ok:
            raise EngineError(why)
    d, F = model.d, len(fps)
    dist = np.full((len(Ns), 2, F), np.nan)
    H = np.full((len(Ns), F), np.nan)
    S = np.full(len(Ns), np.nan)
    residual = np.full(len(Ns), np.nan)
    R1 = np.zeros((len(Ns), d, d), dtype=complex)
    methods, iterations, walls = [], [], []
    gaps = np.full(len(Ns), np.nan)
    with progress_bar(progress) as prog:
        task = prog.add_task("steady states", total=len(Ns)) if prog else None
        for a, n in enumerate(Ns):
            if prog:
                prog.update(task, description=f"steady state N = {n}")
            start = time.perf_counter()
            def report(k, n=n):
                prog.update(task, description=f"steady state N = {n}: BiCGSTAB iteration {k}")

            ss = eng.steady_state(model, n, on_iteration=report if prog else None, reference=fps[0].rho)
            iterations.append(ss.iterations)
            S[a], marg = ss.measure(2)
            R1[a], residual[a] = marg[1], ss.residual
            methods.append(ss.method)
            for f, fp in enumerate(fps):
                for b, k in enumerate((1, 2)):
                    dist[a, b, f] = marginal_trace_distance(marg[k], fp.rho, k)
                H[a, f] = relative_entropy_to_product(S[a], R1[a], fp.rho, n).value
            if gap:
                gaps[a] = eng.liouvillian_gap(model, n)
            walls.append(time.perf_counter() - start)
            if prog:
                prog.update(task, completed=a + 1)
    return steady_dataset(model, Ns, fps, dist=dist, H=H, S=S, residual=residual, R1=R1, methods=methods,
                          iterations=iterations, wall_seconds=walls, gaps=gaps)
