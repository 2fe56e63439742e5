r"""The public verbs: `compare`, `certify` (and `certificate_scaling`),
`steady_state_comparison`.

Each is a thin sequence of visible stages: check the input -> plan (engines, extra times,
sizes; everything that can fail fails here, before any long work) -> evolve -> measure ->
build the Dataset (`qmeanfield.results`). Nothing here touches files.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import as_completed
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import meanfield
from .meanfield import check_time_span, fastest_rate
from ._checks import (MAX_PERIODS, as_square_matrix, check_marginals, check_particle_numbers, check_times,
                      require_hermitian)
from ._parallel import check_client, may_start_processes, on_client, process_pool
from .blocks.space import BlockSpace
from .certificate import estimate_bound, eta_grid, eta_threshold, gronwall_bound, lambda_blocks
from .diagnostics import (
    clamp_product_roundoff,
    collective_covariance,
    derivative_from_stencil,
    entropy_production,
    fit_power_law,
    marginal_trace_distance,
    pinsker_marginal_bound,
    relative_entropy_to_product,
    stencil,
    wineland_squeezing,
)
from .engines import Engine, EngineSpec, PermutationalEngine, choose_engine, configure_engine
from .errors import EngineError, QMeanFieldError
from .expressions import evaluate
from .estimates import MAX_SECONDS, Estimate, check_limits, format_seconds
from .model import Model, require_model
from .progress import progress_bar, wants_progress
from .results import Variable, certificate_dataset, comparison_dataset, steady_dataset
from .states import is_full_rank, validate_density_matrix

__all__ = ["compare", "certify", "certificate_scaling", "steady_state_comparison", "derivative_step",
           "ComparisonPlan", "RunEstimate", "plan_comparison", "estimate_steady", "format_seconds", "Measurement",
           "measure", "COMPARISON_VARIABLES", "steady_engine"]

#: dH_N/dt stencil step, relative to the fastest time scale of the model (independent of the spacing
#: of the output times: stencils of close times interleave, they never shrink to round-off)
DERIVATIVE_STEP_SCALE = 2e-3
#: Golden-Thompson column computed up to this N by default (it needs every block's eigenvectors)
GOLDEN_THOMPSON_MAX_N = 100
#: ||Y_N|| computed up to this N
Y_NORM_MAX_N = 200
#: the certificate starts worker processes by default when some N reaches this
CERTIFICATE_PARALLEL_MIN_N = 100


def derivative_step(model: Model, times: np.ndarray) -> float:
    """Step of the finite-difference stencil for dH_N/dt: small against the fastest time scale."""
    return DERIVATIVE_STEP_SCALE / fastest_rate(model, times)


# ----------------------------------------------------------------------------- compare
#: the most collective observables of one comparison
MAX_OBSERVABLES = 64


def check_observables(observables, d: int, *, hermitian: bool = True,
                      name: str = "observables") -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    r"""Labels and (d, d) matrices of the one-body operators A whose collective observables
    $J_A = \sum_j A_j$ are measured: names or expressions of the operator language
    (`"jz"`, `"sx + 0.5*sz"`; the label is the text), matrices or QuTiP `Qobj` (labels
    `"A0"`, `"A1"`, ...), or a mapping label -> either. `hermitian`: refuse non-Hermitian
    operators (observables: their means and variances are real; a correlation takes any).
    `name` names the argument in messages."""
    if observables is None:
        return (), ()
    if isinstance(observables, str) or hasattr(observables, "full") or (
            isinstance(observables, np.ndarray) and observables.ndim == 2):
        observables = [observables]
    items = list(observables.items()) if isinstance(observables, dict) else [(None, o) for o in observables]
    if not items or len(items) > MAX_OBSERVABLES:
        raise QMeanFieldError(f"observables must be 1 to {MAX_OBSERVABLES} operators (names such as 'jz', "
                              f"expressions, (d, d) matrices or Qobj), got {len(items)}")
    labels, mats = [], []
    for i, (label, op) in enumerate(items):
        if isinstance(op, str):
            label = label or op
            op = evaluate(op, d, f"{name}[{i}]")
        field = f"{name}[{label or i}]"
        A = as_square_matrix(op, field, d)
        if hermitian:
            A = require_hermitian(A, field)
        labels.append(str(label) if label is not None else f"A{i}")
        mats.append(A)
    if len(set(labels)) != len(labels):
        raise QMeanFieldError(f"observables: the labels {labels} repeat; give each operator once (or a mapping "
                              "label -> operator)")
    return tuple(labels), tuple(mats)


@dataclass(frozen=True)
class ComparisonPlan:
    """Everything decided before the first evolution: the checked inputs, the engine per N and
    the evaluation times (output times plus the stencil points of dH_N/dt)."""

    model: Model
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
    observables: tuple[np.ndarray, ...] = ()
    observable_labels: tuple[str, ...] = ()
    run_estimates: tuple[RunEstimate, ...] = ()

    @property
    def kmax(self) -> int:
        return max(max(self.ks), 2)

    def estimates(self) -> tuple[RunEstimate, ...]:
        """Per N: the engine and its estimate (`Engine.estimate` at this plan's evaluation
        times, for the blocks this rho0 needs), made once by `plan_comparison`."""
        return self.run_estimates

    @property
    def estimate(self) -> Estimate:
        """The whole comparison: the particle numbers run one after the other."""
        return sum(e.estimate for e in self.run_estimates)


@dataclass(frozen=True)
class RunEstimate:
    """The plan of one particle number: the engine that runs it and its `Estimate`."""

    N: int
    engine: str
    estimate: Estimate


def estimate_steady(model: Model, N: int, reference=None, *, gap: bool = False,
                    engine: PermutationalEngine | None = None) -> Estimate:
    """Wall time (2 cores) and peak memory of one N-body steady state from `reference` (the one-body
    state the solver starts from, e.g. the mean-field fixed point), and with `gap` the Liouvillian
    gap's (`estimate_steady`)."""
    return (engine or PermutationalEngine()).estimate_steady(model, N, reference, gap=gap)


def plan_comparison(model: Model, rho0, N, times, *, engine: EngineSpec = "auto", marginals=(1, 2),
                    engine_options=None, entropy_identity: bool = True, max_periods: float = MAX_PERIODS,
                    max_seconds: float = MAX_SECONDS, observables=None) -> ComparisonPlan:
    """Check the arguments of `compare` and choose every engine (raises before any work):
    also refuses a comparison estimated over `max_seconds` or, for some N, over its engine's
    memory budget."""
    model = require_model(model)
    rho0 = validate_density_matrix(rho0, "rho0", model.d)
    times = check_times(times)
    check_time_span(model, times, max_periods)
    if not isinstance(entropy_identity, (bool, np.bool_)):
        raise QMeanFieldError(f"entropy_identity must be True or False, got {entropy_identity!r}")
    Ns = check_particle_numbers(N)
    ks = check_marginals(marginals)
    obs_labels, obs = check_observables(observables, model.d)
    engines = tuple(choose_engine(model, n, engine, engine_options) for n in Ns)
    step = derivative_step(model, times)
    if entropy_identity:
        all_t, st_index, st_weights = stencil(times, step)
    else:
        all_t, st_index, st_weights = times, None, None
    estimates = tuple(RunEstimate(n, eng.name, eng.estimate(model, n, rho0=rho0, evaluations=all_t.size,
                                                            t_final=float(times[-1]), outputs=times.size))
                      for n, eng in zip(Ns, engines))
    for est, eng in zip(estimates, engines):
        check_limits(Estimate(0.0, est.estimate.bytes), f"N = {est.N} ({est.engine} engine)",
                     memory_budget_gb=getattr(eng, "memory_budget_gb", None))
    plan = ComparisonPlan(model=model, rho0=rho0, Ns=tuple(Ns), ks=tuple(ks), times=times, engines=engines,
                          all_times=all_t, out_index=np.searchsorted(all_t, times), step=step, stencil_index=st_index,
                          stencil_weights=st_weights, observables=obs, observable_labels=obs_labels,
                          run_estimates=estimates)
    check_limits(plan.estimate, f"the comparison (N = {list(Ns)})", max_seconds=max_seconds)
    return plan


@dataclass(frozen=True)
class Measurement:
    """The diagnostics of one N at the output times; each field is the variable of the same name
    in `COMPARISON_VARIABLES` (arrays over the output times, k first where it applies)."""

    relative_entropy: np.ndarray
    entropy: np.ndarray
    entropy_derivative: np.ndarray
    entropy_production: np.ndarray
    identity_residual: np.ndarray
    dissipation: np.ndarray
    trace_distance: np.ndarray
    marginal_bound: np.ndarray
    one_body_marginal: np.ndarray
    two_body_marginal: np.ndarray | None
    observable_mean: np.ndarray | None
    observable_variance: np.ndarray | None
    squeezing: np.ndarray | None
    engine: str
    discarded_weight: float
    wall_seconds: float
    infinite_reason: str


#: how trace distances are reported (QuTiP's tracedist is half of it)
TRACE_NORM_CONVENTION = "trace norm ||A - B||_1 = sum of |eigenvalues|, in [0, 2]; qutip.tracedist(A, B) is half of it"
#: the unit of time of every Dataset (hbar and h set the scale)
TIME_UNITS = "hbar / [h]: time in the units in which the model's h and hbar are given"

#: the per-N variables of :func:`compare`'s Dataset, declared once: a new diagnostic is a field of
#: :class:`Measurement`, computed in :func:`measure`, and a row here
COMPARISON_VARIABLES = (
    Variable("relative_entropy", ("time",), {"long_name": "H(R_N | rho^(x)N)",
                                            "formula": "-S(R_N) - N Tr(R^(1) log rho)"}),
    Variable("entropy", ("time",), {"long_name": "von Neumann entropy S(R_N)"}),
    Variable("trace_distance", ("k", "time"), {"long_name": "|| R^(k) - rho^(x)k ||_1", "note": "NaN where k > N",
                                               "convention": TRACE_NORM_CONVENTION}),
    Variable("marginal_bound", ("k", "time"), {"long_name": "Pinsker marginal bound",
                                               "formula": "sqrt(2 H_N / floor(N/k))"}),
    Variable("entropy_production", ("time",), {
        "long_name": "right side of the entropy production identity",
        "formula": "(i N/hbar)[kappa_N (N-1) Tr(R^(2) A) - Tr(R^(1)[log rho, V_rho])], A = [log rho (x) 1, V]"}),
    Variable("entropy_derivative", ("time",), {"long_name": "dH_N/dt by a fourth-order finite difference"}),
    Variable("identity_residual", ("time",), {
        "long_name": "|dH_N/dt - entropy_production| (closed systems; NaN for open)"}),
    Variable("dissipation", ("time",), {
        "long_name": "D_N = entropy_production - dH_N/dt (open systems, >= 0; NaN for closed "
                     "and for models with collective jumps)"}),
    Variable("one_body_marginal", ("time", "row", "col"), {"long_name": "R^(1)(t)"}),
    Variable("two_body_marginal", ("time", "pair_row", "pair_col"), {"long_name": "R^(2)(t)"}, optional=True),
    Variable("observable_mean", ("observable", "time"), {
        "long_name": "<J_A>/N: the collective observable J_A = sum_j A_j per particle", "formula": "Tr(R^(1) A)"},
        optional=True),
    Variable("observable_variance", ("observable", "time"), {
        "long_name": "Var(J_A)/N", "formula": "Tr(R^(1) A^2) + (N-1) Tr(R^(2) A(x)A) - N Tr(R^(1) A)^2"},
        optional=True),
    Variable("squeezing", ("time",), {
        "long_name": "Wineland spin-squeezing parameter xi^2 (qubits, d = 2; < 1: squeezed)",
        "formula": "N min_{n perp <J>} Var(n.J) / |<J>|^2, J = sum_j sigma_j / 2, from R^(1) and R^(2)"},
        optional=True),
    Variable("engine", (), {"long_name": "engine used for each N"}),
    Variable("discarded_weight", (), {
        "long_name": "weight of R_N dropped by the engine (bounds the trace-norm error of every marginal)"}),
    Variable("wall_seconds", (), {"long_name": "wall time of the engine and diagnostics per N", "units": "s"}),
)


def measure(model: Model, plan: ComparisonPlan, traj, rho_all: np.ndarray, two_body: bool = False,
            started: float | None = None) -> Measurement:
    """H_N, dH_N/dt, the identity's two sides and the marginal distances of one trajectory
    (`started`: the `time.perf_counter()` at which its evolution began, for `wall_seconds`)."""
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
        production[m] = entropy_production(traj.marginals[1][i], traj.marginals[2][i], rho_all[i],
                                           model.interaction_strength(plan.all_times[i]) * V, n, model.kappa(n),
                                           model.hbar)
        for b, k in enumerate(plan.ks):
            if k <= n:
                dist[b, m] = marginal_trace_distance(traj.marginals[k][i], rho_all[i], k)
    bound = np.stack([pinsker_marginal_bound(H_all[out], n, k) for k in plan.ks])
    obs_mean = obs_var = None
    if plan.observables:
        mean, cov = collective_covariance(np.asarray(traj.marginals[1])[out], np.asarray(traj.marginals[2])[out], n,
                                          np.stack(plan.observables))            # (t, o), (t, o, o)
        obs_mean, obs_var = mean.T / n, np.diagonal(cov, axis1=1, axis2=2).T / n
    squeezing = None
    if model.d == 2:
        squeezing = wineland_squeezing(np.asarray(traj.marginals[1])[out], np.asarray(traj.marginals[2])[out], n)
    nan = np.full(T, np.nan)
    if model.collective_jumps:      # the identity's right side is derived for one-body jumps only
        dissipation, residual = nan, nan
    elif model.is_open:
        dissipation, residual = production - dHdt, nan
    else:
        dissipation, residual = nan, np.abs(dHdt - production)
    return Measurement(
        relative_entropy=H_all[out], entropy=np.asarray(traj.entropy)[out], entropy_derivative=dHdt,
        entropy_production=production, identity_residual=residual, dissipation=dissipation, trace_distance=dist,
        marginal_bound=bound, one_body_marginal=np.asarray(traj.marginals[1])[out],
        two_body_marginal=np.asarray(traj.marginals[2])[out] if two_body else None, observable_mean=obs_mean,
        observable_variance=obs_var, squeezing=squeezing, engine=traj.engine,
        discarded_weight=float(traj.discarded_weight),
        wall_seconds=float("nan") if started is None else time.perf_counter() - started, infinite_reason=reason)


def _evolve_and_measure(model: Model, plan: ComparisonPlan, a: int, rho_all: np.ndarray, two_body: bool,
                        report) -> Measurement:
    """The a-th particle number of `plan`: its engine's trajectory, measured against the mean field."""
    start = time.perf_counter()
    traj = plan.engines[a].evolve(model, plan.rho0, plan.Ns[a], plan.all_times, kmax=min(plan.kmax, plan.Ns[a]),
                                  progress=report, marginal_times=plan.out_index)
    return measure(model, plan, traj, rho_all, two_body=two_body, started=start)


def compare(model: Model, rho0, N, times, *, engine: EngineSpec = "auto", marginals=(1, 2),
            engine_options: dict | None = None, progress: bool | None = None, entropy_identity: bool = True,
            mf_rtol: float = 1e-12, mf_atol: float = 1e-14, max_periods: float = MAX_PERIODS,
            two_body: bool = False, max_seconds: float = MAX_SECONDS, observables=None, client=None) -> xr.Dataset:
    r"""Evolve $\rho_0^{\otimes N}$ and the mean-field equation; measure their distance.

    Parameters
    ----------
    model : the validated `Model`.
    rho0 : (d, d) initial one-body density matrix (full rank for a finite relative entropy).
    N : particle number(s), each >= 2, distinct.
    times : increasing output times >= 0.
    engine : `"auto"`, a registered engine name (`"dense"`, `"symmetric"`,
        `"permutational"`) or an engine object (`qmf.engines.SymmetricEngine(truncation=1e-9)`).
    marginals : which k-particle marginals (1 <= k <= 3) to compare with $\rho^{\otimes k}$.
    engine_options : keyword options for a named engine (e.g. `{"memory_budget_gb": 8}`);
        with `"auto"` each engine takes those it accepts; an option no engine accepts is refused.
    progress : show progress (a bar on a terminal, plain lines otherwise); None (default): only for
        work estimated over 5 s.
    entropy_identity : measure dH_N/dt (finite differences: the engine also runs at four extra
        times around each output time) for the identity residual / dissipation. `False` skips
        it (those variables are then NaN), for large-N scans where only H_N and marginals matter.
    mf_rtol, mf_atol : tolerances of the mean-field integrator (DOP853).
    max_periods : refuse times beyond this many periods of the model's fastest time scale (the
        work grows with the span; raise it for long runs).
    two_body : also store the two-body marginal `two_body_marginal` (N, time, pair_row,
        pair_col), e.g. for <Jz^2> = N Tr(R1 jz^2) + N(N-1) Tr(R2 jz (x) jz).
    observables : one-body operators A whose collective observables $J_A = \sum_j A_j$
        are measured (`check_observables`: names such as `"jz"`, expressions, matrices,
        Qobj, or a mapping label -> operator): `observable_mean` = <J_A>/N and
        `observable_variance` = Var(J_A)/N over (N, observable, time), beside the mean-field
        product state's `observable_meanfield` and `observable_variance_meanfield`.
    max_seconds : the work limit: a comparison estimated longer is refused before it starts.
    client : a `dask.distributed.Client`: each N runs as a task on its cluster (the mean field
        once, here); the numbers are those of the local run. A task whose worker dies is
        rescheduled; one that raises is retried twice.

    Returns
    -------
    xarray.Dataset with variables (see the README for the formulas):
    `relative_entropy` (N, time), `trace_distance` and `marginal_bound` (N, k, time),
    `entropy_production`, `entropy_derivative`, `identity_residual`, `dissipation`,
    `entropy` (N, time), `one_body_marginal` (N, time, row, col), `meanfield_state`
    (time, row, col), the model's operators, and attributes recording how it was made.
    """
    plan = plan_comparison(model, rho0, N, times, engine=engine, marginals=marginals, engine_options=engine_options,
                           entropy_identity=entropy_identity, max_periods=max_periods, max_seconds=max_seconds,
                           observables=observables)
    progress = wants_progress(progress, plan.estimate.seconds)
    if client is not None:
        check_client(client, QMeanFieldError)
    with progress_bar(progress) as prog:
        steps = plan.all_times.size
        task = prog.add_task("mean field", total=len(plan.Ns) * steps) if prog else None
        rho_all = meanfield.evolve(model, plan.rho0, plan.all_times, rtol=mf_rtol, atol=mf_atol, max_periods=max_periods)
        rows: list = [None] * len(plan.Ns)
        if client is not None:    # each N a task on the cluster
            if prog:
                prog.update(task, description=f"N = {list(plan.Ns)} on {client}")
            for done, (a, row) in enumerate(on_client(client, _evolve_and_measure,
                                                      [(model, plan, a, rho_all, bool(two_body), None)
                                                       for a in range(len(plan.Ns))]), start=1):
                rows[a] = row
                if prog:
                    prog.update(task, completed=done * steps)
        for a, (n, eng) in enumerate(zip(plan.Ns, plan.engines)):
            if rows[a] is not None:
                continue
            if prog:
                prog.update(task, description=f"N = {n} ({eng.name})")
            report = (lambda m, base=a * steps: prog.update(task, completed=base + m)) if prog else None
            rows[a] = _evolve_and_measure(model, plan, a, rho_all, bool(two_body), report)
    ds = comparison_dataset(
        model, plan.rho0, COMPARISON_VARIABLES, rows, Ns=plan.Ns, ks=plan.ks, times=plan.times,
        rho_t=rho_all[plan.out_index],
        attrs={"initial_state_full_rank": int(is_full_rank(plan.rho0)),
               "engine_request": engine if isinstance(engine, str) else repr(engine),
               "meanfield_rtol": mf_rtol, "meanfield_atol": mf_atol,
               "derivative_step": plan.step if entropy_identity else 0.0,
               "entropy_identity": int(entropy_identity)})
    ds.relative_entropy.attrs["note"] = (next((r.infinite_reason for r in rows if r.infinite_reason), "")
                                         or "finite wherever rho(t) is full rank")
    ds.time.attrs.update(long_name="time", units=TIME_UNITS)
    if "squeezing" in ds:   # the mean-field product state's, independent of N
        rho_t = rho_all[plan.out_index]
        ds["squeezing_meanfield"] = (("time",), wineland_squeezing(rho_t, np.einsum("tij,tkl->tikjl", rho_t, rho_t)
                                                                   .reshape(-1, 4, 4), 2), {
            "long_name": "xi^2 of rho(t)^(x)N (any N): Var_perp(sigma/2) / |Tr(rho sigma/2)|^2, >= 1"})
    ds.entropy_derivative.attrs["step"] = plan.step if entropy_identity else 0.0
    if plan.observables:
        rho_t = rho_all[plan.out_index]
        A = np.stack(plan.observables)
        mean = np.einsum("tij,oji->ot", rho_t, A).real
        ds = ds.assign_coords(observable=list(plan.observable_labels))
        ds["observable_operator"] = (("observable", "row", "col"), A, {"long_name": "the one-body operator A"})
        ds["observable_meanfield"] = (("observable", "time"), mean, {
            "long_name": "Tr(rho(t) A): <J_A>/N of the mean-field product state"})
        ds["observable_variance_meanfield"] = (("observable", "time"),
                                               np.einsum("tij,oji->ot", rho_t, A @ A).real - mean**2, {
            "long_name": "Var(J_A)/N of rho(t)^(x)N: Tr(rho A^2) - Tr(rho A)^2"})
    return ds


# ----------------------------------------------------------------------------- certify
def _lambda_task(args):
    n, d, *rest = args
    return lambda_blocks(BlockSpace(n, d), *rest)


def _lambda_values(model: Model, Ns, rho_t, etas, golden_thompson, workers, progress, client=None):
    """Lambda_N (and Golden-Thompson, ||Y_N||) for every (N, time), in processes when asked (or as
    tasks on a Dask `client`)."""
    d, T = model.d, rho_t.shape[0]
    lambda_N = np.full((len(Ns), etas.size, T), np.nan)
    gt = np.full_like(lambda_N, np.nan)
    ynorm = np.full((len(Ns), T), np.nan)
    V = np.asarray(model.V)
    tasks = []
    for a, n in enumerate(Ns):
        want_gt = (n <= GOLDEN_THOMPSON_MAX_N) if golden_thompson == "auto" else bool(golden_thompson)
        for i in range(T):
            tasks.append((a, i, (n, d, rho_t[i], V, model.kappa(n), model.hbar, etas, want_gt, n <= Y_NORM_MAX_N)))
    if workers == "auto":
        workers = (os.cpu_count() or 1) if max(Ns) >= CERTIFICATE_PARALLEL_MIN_N else 1
    workers = max(1, min(int(workers), len(tasks), os.cpu_count() or 1)) if may_start_processes() else 1
    results = []
    with progress_bar(progress) as prog:
        bar = prog.add_task("certificate", total=len(tasks)) if prog else None
        if client is not None:
            for k, res in on_client(client, _lambda_task, [(args,) for _, _, args in tasks]):
                results.append((tasks[k][0], tasks[k][1], res))
                if prog:
                    prog.update(bar, advance=1)
        elif workers == 1:
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
        lambda_N[a, :, i] = res.lambda_N
        ynorm[a, i] = res.y_norm
        if res.golden_thompson is not None:
            gt[a, :, i] = res.golden_thompson
    return lambda_N, gt, ynorm


def certify(model: Model, rho0, N, times, *, etas="auto", exact: bool = True, golden_thompson="auto",
            engine: EngineSpec = "auto", engine_options=None, marginals=(1, 2), workers: int | str = "auto",
            threshold_N=None, progress: bool | None = None, max_seconds: float = MAX_SECONDS,
            client=None) -> xr.Dataset:
    r"""Compute the entropy method's bound (`qmeanfield.certificate`) beside the exact $H_N$.

    Returns a Dataset with `lambda_N` (N, eta, time), `golden_thompson` (N, eta, time; NaN
    where not computed), `Y_norm` (N, time), `bound` and `eta_opt` (N, time),
    `certified_marginal_bound` (N, k, time) = sqrt(2 bound / floor(N/k)), and, with `exact`,
    `relative_entropy` (N, time) and `trace_distance` (N, k, time) from `compare`.
    `golden_thompson="auto"` computes it for N <= 100 (it needs every block's eigenvectors).
    `workers` > 1 spreads the (N, time) pairs over processes; `"auto"` uses every core when
    some N >= 100. `threshold_N` (a list of N) adds the eta-threshold scan at the final time
    (variables `threshold_*`, attribute `eta_threshold`). `client` (a `dask.distributed.Client`)
    computes the (N, time) pairs and, with `exact`, each N of the exact run as tasks on its cluster.

    Every stage is checked before the first starts: with `exact`, an N that no engine can run
    is refused at once (pass `exact=False` for the bound alone).
    """
    model = require_model(model)
    if client is not None:
        check_client(client, QMeanFieldError)
    if model.interaction is not None:
        raise QMeanFieldError("certify: the bound is computed for a time-independent interaction; a model with "
                              "interaction=g(t) is not covered (compare() measures H_N for it)")
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
    work = estimate_bound(Ns, times.size, etas.size)
    if exact:  # fail now, not after the bound has been computed
        work = work + plan_comparison(model, rho0, Ns, times, engine=engine, marginals=ks, engine_options=engine_options,
                                      entropy_identity=False, max_seconds=max_seconds).estimate
    check_limits(work, f"the certificate (N = {list(Ns)})", max_seconds=max_seconds)
    progress = wants_progress(progress, work.seconds)
    rho_t = meanfield.evolve(model, rho0, times)
    lambda_N, gt, ynorm = _lambda_values(model, Ns, rho_t, etas, golden_thompson, workers, progress, client)
    bounds = [gronwall_bound(times, lambda_N[a], etas, H0=0.0) for a in range(len(Ns))]  # product data: H_N(0) = 0
    bound = np.stack([b.bound for b in bounds])
    mb = np.stack([np.stack([pinsker_marginal_bound(bound[a], n, k) for k in ks]) for a, n in enumerate(Ns)])
    threshold = (eta_threshold(model, rho0, float(times[-1]), Ns=threshold_N)
                 if threshold_N is not None else None)
    ds = certificate_dataset(model, Ns, etas, times, ks, lambda_N=lambda_N, gt=gt, ynorm=ynorm, bound=bound,
                             eta_opt=np.stack([b.eta_opt for b in bounds]), marginal_bound=mb, threshold=threshold)
    if exact:
        ex = compare(model, rho0, Ns, times, engine=engine, engine_options=engine_options, marginals=tuple(ks),
                     entropy_identity=False, progress=progress, max_seconds=max_seconds, client=client)
        ds["relative_entropy"] = ex.relative_entropy
        ds["trace_distance"] = ex.trace_distance
        ds["engine"] = ex.engine
    return ds


def certificate_scaling(model: Model, rho0, N: int, times, *, V_scales=(0.5, 1.0, 2.0), hbars=(0.5, 1.0, 2.0),
                        etas="auto", workers: int = 1) -> xr.Dataset:
    r"""How the certificate's constants depend on $\|V\|$ and $\hbar$.

    Recomputes the certificate (bound only) for the model with V scaled by each of
    `V_scales` and each $\hbar$ in `hbars` (the eta grid follows
    $\hbar/\|V\|$). Returns `bound` (V_scale, hbar, time) and `eta_opt`, with attributes
    `exponent_V` and `exponent_hbar`: fitted log-log slopes of bound(t_final) against the
    scale (at the model's hbar) and against hbar (at scale 1 if present).
    """
    model = require_model(model)
    times = check_times(times)
    try:
        V_scales = np.asarray(V_scales, dtype=float)
        hbars = np.asarray(hbars, dtype=float)
    except (TypeError, ValueError):
        raise QMeanFieldError("V_scales and hbars must be lists of positive numbers") from None
    if V_scales.ndim != 1 or hbars.ndim != 1 or V_scales.size == 0 or hbars.size == 0:
        raise QMeanFieldError("V_scales and hbars must be non-empty lists of positive numbers")
    if not (np.all(np.isfinite(V_scales)) and np.all(np.isfinite(hbars))) or np.any(V_scales <= 0) or np.any(hbars <= 0):
        raise QMeanFieldError("V_scales and hbars must be finite and positive")
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
               "norm_V": model.norm_V},
    )


# ----------------------------------------------------------------------------- steady states
def steady_engine(engine: EngineSpec, engine_options) -> PermutationalEngine:
    """The permutational engine of a steady-state or correlation verb: `"auto"`, `"permutational"`, a
    `PermutationalEngine` object, or its options (`engine_options`)."""
    if isinstance(engine, PermutationalEngine):
        if engine_options:
            raise EngineError("engine_options cannot be combined with an engine object; pass them to its constructor")
        return engine
    if engine not in ("auto", "permutational"):
        raise EngineError(f"steady states are computed on the permutational engine; engine={engine!r} cannot "
                          "run them (use 'auto', 'permutational' or a PermutationalEngine object)")
    return configure_engine("permutational", engine_options)


@dataclass(frozen=True)
class _SteadyRow:
    """One N of `steady_state_comparison`."""

    dist: np.ndarray        # (k, fixed_point)
    H: np.ndarray           # (fixed_point,)
    S: float
    R1: np.ndarray
    residual: float
    gap: float
    method: str
    iterations: int
    wall_seconds: float


def _steady_one(eng: PermutationalEngine, model: Model, n: int, fps, gap: bool, report) -> _SteadyRow:
    """The steady state at N = n, measured against every fixed point (a task on a cluster, too)."""
    start = time.perf_counter()
    ss = eng.steady_state(model, n, on_iteration=report, reference=fps[0].rho)
    S, marg = ss.measure(2)
    dist = np.array([[marginal_trace_distance(marg[k], fp.rho, k) for fp in fps] for k in (1, 2)])
    H = np.array([relative_entropy_to_product(S, marg[1], fp.rho, n).value for fp in fps])
    g = eng.liouvillian_gap(model, n) if gap else np.nan
    return _SteadyRow(dist, H, S, marg[1], ss.residual, g, ss.method, ss.iterations, time.perf_counter() - start)


def steady_state_comparison(model: Model, N, *, progress: bool | None = None, fixed_points=None,
                            engine: EngineSpec = "auto", engine_options=None, gap: bool = False,
                            max_seconds: float = MAX_SECONDS, client=None) -> xr.Dataset:
    r"""N-body steady states against the mean-field fixed point(s), for each N.

    Variables: `fixed_point_state` (fixed_point, row, col) with `fixed_point_stable`,
    `fixed_point_residual`, `fixed_point_max_real_eigenvalue`; per N: `one_body_marginal`,
    `trace_distance` (N, k, fixed_point) = $\|R^{(k)}_{ss} - \rho^{*\otimes k}\|_1$ for k = 1, 2,
    `relative_entropy` (N, fixed_point) = $H(R^{ss}_N | \rho^{*\otimes N})$, `entropy` and
    `residual` (N). Attributes: `unique_fixed_point` (exactly one stable fixed point found),
    `exponent_one_body` (log-log slope in N of the distance to the first fixed point).
    `engine` / `engine_options` configure the permutational engine (options meant for other
    engines, as in a shared `[engine]` table, are left out).
    `gap=True` adds `liouvillian_gap` (N): the slowest relaxation rate of the N-body generator
    in the symmetric sector (`liouvillian_gap`; it costs
    about 15 steady states), to read beside the fixed points' linear stability
    (`fixed_point_max_real_eigenvalue`). `client` (a `dask.distributed.Client`) solves each N as
    a task on its cluster.
    """
    if client is not None:
        check_client(client, QMeanFieldError)
    if not isinstance(gap, (bool, np.bool_)):
        raise QMeanFieldError(f"gap must be True or False, got {gap!r}")
    model = require_model(model)
    if not model.is_open:
        raise QMeanFieldError("steady states need an open model (jumps or collective_jumps)")
    if model.is_driven:
        raise QMeanFieldError("steady states: a driven model (drive=...) has no stationary state; a periodic "
                              "(Floquet) state is not computed here - use compare() to long times")
    Ns = check_particle_numbers(N)
    eng = steady_engine(engine, engine_options)
    if fixed_points is not None and not (isinstance(fixed_points, meanfield.FixedPointSearch) or (
            isinstance(fixed_points, (list, tuple)) and all(isinstance(f, meanfield.FixedPoint) for f in fixed_points))):
        raise QMeanFieldError("fixed_points must be the result of qmeanfield.meanfield.fixed_points(model) (or None "
                              f"to search here), got {type(fixed_points).__name__}")
    for n in Ns:   # the block state alone (one complex vector) must fit before the fixed points are searched
        size = math.comb(n + model.d**2 - 1, n)
        if 16.0 * size > eng.memory_budget_gb * 2**30:
            raise EngineError(f"the steady state at N = {n} has {size:.3g} block entries ({16.0 * size / 2**30:.3g} GiB "
                              f"per vector), over the memory budget of {eng.memory_budget_gb:g} GiB; lower N")
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
    work = check_limits(sum(eng.estimate_steady(model, n, fps[0].rho, gap=gap) for n in Ns),
                        f"the steady states (N = {list(Ns)})", max_seconds=max_seconds)
    progress = wants_progress(progress, work.seconds)
    with progress_bar(progress) as prog:
        task = prog.add_task("steady states", total=len(Ns)) if prog else None
        rows: list = [None] * len(Ns)
        if client is not None:
            for done, (a, row) in enumerate(on_client(client, _steady_one, [(eng, model, n, fps, gap, None)
                                                                           for n in Ns]), start=1):
                rows[a] = row
                if prog:
                    prog.update(task, completed=done)
        for a, n in enumerate(Ns):
            if rows[a] is not None:
                continue
            if prog:
                prog.update(task, description=f"steady state N = {n}")

            def report(k, n=n):
                prog.update(task, description=f"steady state N = {n}: BiCGSTAB iteration {k}")

            rows[a] = _steady_one(eng, model, n, fps, gap, report if prog else None)
            if prog:
                prog.update(task, completed=a + 1)
    return steady_dataset(model, Ns, fps, dist=np.stack([r.dist for r in rows]), H=np.stack([r.H for r in rows]),
                          S=np.array([r.S for r in rows]), residual=np.array([r.residual for r in rows]),
                          R1=np.stack([r.R1 for r in rows]).astype(complex), methods=[r.method for r in rows],
                          iterations=[r.iterations for r in rows], wall_seconds=[r.wall_seconds for r in rows],
                          gaps=np.array([r.gap for r in rows]))
