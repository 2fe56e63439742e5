r"""`scan`: Hartree against Vlasov in W2 for several hbar, beside the certificate B(t).

Stages: plan (every grid and its size, before any work; an estimate of the time) -> Vlasov once
(it does not depend on hbar) -> for each hbar: Toeplitz state, Hartree, Husimi at every output
time, W2 bracket against f(t) -> certificate -> fits of W2 against hbar -> Dataset.

The certificate (docs/semiclassical.md, What is computed): for $R_0 = T(f_0)$,
$W_2(f(t), H[R(t)]) \le B(t) = \sqrt{d\hbar(1 + e^{\Lambda t})}$, d = 1. A measured value above
B beyond its bracket means a bug (normalisation, hbar scaling, sign of a force) and is an error.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .._checks import MEMORY_BUDGET_GB
from ..diagnostics.rates import fit_power_law
from ..estimates import MAX_SECONDS, Estimate, check_limits, check_max_seconds
from ..errors import QMeanFieldError
from ..progress import progress_bar, wants_progress
from ..results import package_version, provenance
from .grid import classical_grid, edges, initial_density, make_grid, quantum_grid
from .hartree import HartreeSolver, initial_state
from .phase_space import density_matrix, husimi
from .problem import SemiclassicalProblem
from .vlasov import VlasovSolver
from .wasserstein import W2_MAX_CELLS, w2_emd, w2_grid

__all__ = ["ScanOptions", "ScanPlan", "plan_scan", "scan", "certificate_bound", "magnetisation"]

#: seconds per unit of the cost model (measured on the reference machine, 2 cores)
SECONDS_PER_UNIT = 4e-10
#: seconds of one W2 on 64 x 64 cells from the previous time's potentials, growing as the cells
#: (benchmarks/README.md: 0.9 s warm on HMF data)
W2_SECONDS = 1.0
#: peak memory: copies of the Hartree grid's n x n and orbital arrays (complex), of the Vlasov grid
#: (real), and the interpreter with its libraries (examples/semiclassical.toml: 0.67 GiB measured,
#: 0.61 GiB estimated)
QUANTUM_COPIES, CLASSICAL_COPIES, BASE_BYTES = 5, 20, 260 * 2**20


@dataclass(frozen=True)
class ScanOptions:
    """cells : (Nx, Np) of the Vlasov solver and the comparison grid; dt : time step of both
    solvers (None: min(0.05, t_final / 100)); emd_cells : cells per side for POT's cross-check,
    computed at the snapshot times (0 skips it); snapshots : phase-space snapshots stored per hbar;
    w2_cells : largest cells per side of the W2 solver (the comparison grid is merged in pairs down to it);
    memory_budget_gb : refuse scans whose estimated peak memory exceeds this (GiB); max_seconds :
    refuse scans estimated above this many seconds (the work limit)."""

    cells: tuple[int, int] = (256, 256)
    dt: float | None = None
    emd_cells: int = 32
    snapshots: int = 4
    w2_cells: int = W2_MAX_CELLS
    memory_budget_gb: float = MEMORY_BUDGET_GB
    max_seconds: float = MAX_SECONDS

    def __post_init__(self):
        check_max_seconds(self.max_seconds, "semiclassical max_seconds")
        nx, n_p = self.cells
        if not (isinstance(self.memory_budget_gb, (int, float)) and math.isfinite(self.memory_budget_gb)
                and self.memory_budget_gb > 0):
            raise QMeanFieldError(f"semiclassical memory_budget_gb must be a number > 0, got {self.memory_budget_gb!r}")
        if not (16 <= nx <= 2048 and 16 <= n_p <= 2048):
            raise QMeanFieldError(f"semiclassical cells must be in 16..2048 per side, got {self.cells}")
        if not (isinstance(self.w2_cells, int) and 16 <= self.w2_cells <= 512):
            raise QMeanFieldError(f"semiclassical w2_cells must be an integer in 16..512, got {self.w2_cells!r}")
        if self.dt is not None and not (math.isfinite(self.dt) and self.dt > 0):
            raise QMeanFieldError(f"semiclassical dt must be a number > 0, got {self.dt!r}")


@dataclass(frozen=True)
class ScanPlan:
    """Grids and estimates decided before any work."""

    classical_cells: tuple[int, int]
    p_range: tuple[float, float]
    quantum_points: tuple[int, ...]
    quantum_reasons: tuple[str, ...]
    dt: float
    estimated_seconds: float
    estimated_bytes: float = math.nan

    @property
    def estimate(self) -> Estimate:
        """Wall time (2 cores) and peak memory of the scan."""
        return Estimate(self.estimated_seconds, self.estimated_bytes)

    def describe(self, hbars) -> str:
        rows = [f"Vlasov grid {self.classical_cells[0]} x {self.classical_cells[1]}, p in "
                f"[{self.p_range[0]:.3g}, {self.p_range[1]:.3g}], dt = {self.dt:g}"]
        rows += [f"hbar = {h:g}: {n} points ({why})" for h, n, why in zip(hbars, self.quantum_points,
                                                                         self.quantum_reasons)]
        rows.append(f"estimated {self.estimate.describe()} on 2 cores (rough, within a factor of about 3)")
        return "\n".join(rows)


def plan_scan(problem: SemiclassicalProblem, options: ScanOptions = ScanOptions()) -> ScanPlan:
    nx, n_p = options.cells
    cg, p = classical_grid(problem, nx, n_p)
    dt = options.dt or min(0.05, problem.t_final / 100)
    steps = problem.t_final / dt
    points, reasons, cost, largest = [], [], 0.0, 0.0
    for hbar in problem.hbars:
        g = quantum_grid(problem, hbar)
        n = nx * max(1, math.ceil(g.x.size / nx))
        points.append(n)
        reasons.append(g.reason)
        orbitals = min(n, 3 * problem.length * (p[-1] - p[0]) / (2 * math.pi * hbar) + 50)
        cost += n**3 * 3 + steps * orbitals * n * 40 + problem.n_times * (orbitals * n * n * 4 + n * 200 * n_p)
        largest = max(largest, QUANTUM_COPIES * 16.0 * (n * n + orbitals * n))
    cost += steps * nx * n_p * 60
    w2_seconds = problem.n_times * len(problem.hbars) * W2_SECONDS * (min(options.w2_cells, max(nx, n_p)) / 64) ** 2
    need = largest + CLASSICAL_COPIES * 8.0 * nx * n_p + BASE_BYTES
    if need > options.memory_budget_gb * 2**30:
        raise QMeanFieldError(
            f"semiclassical: the scan needs about {need / 2**30:.3g} GiB (the Hartree grid of {max(points)} points at "
            f"hbar = {min(problem.hbars):g}), over the memory budget of {options.memory_budget_gb:g} GiB; raise the "
            "smallest hbar or semiclassical.memory_budget_gb")
    check_limits(Estimate(cost * SECONDS_PER_UNIT + w2_seconds, need), f"the semiclassical scan (dt = {dt:g})",
                 max_seconds=options.max_seconds)
    return ScanPlan(classical_cells=(nx, n_p), p_range=(float(p[0] - (p[1] - p[0]) / 2), float(p[-1] + (p[1] - p[0]) / 2)),
                    quantum_points=tuple(points), quantum_reasons=tuple(reasons), dt=dt,
                    estimated_seconds=cost * SECONDS_PER_UNIT + w2_seconds, estimated_bytes=need)


def certificate_bound(problem: SemiclassicalProblem, hbar: float, times: np.ndarray) -> np.ndarray:
    r"""$B(t) = \sqrt{\hbar (1 + e^{\Lambda t})}$ (d = 1, $R_0 = T(f_0)$); inf where it overflows.
    NaN for a thermal initial state (not a Toeplitz state: the bound's initial term is not known)."""
    if problem.initial.kind == "thermal":
        return np.full(np.shape(times), np.nan)
    rate = problem.certificate_rate()
    with np.errstate(over="ignore"):
        return np.sqrt(hbar * (1.0 + np.exp(rate * np.asarray(times))))


def magnetisation(rho: np.ndarray, x: np.ndarray, dx: float, mode: int = 1) -> float:
    r"""$|M| = |\int \rho(x) e^{i\,\text{mode}\,x} dx|$ (the HMF order parameter)."""
    return float(np.abs(np.sum(rho * np.exp(1j * mode * x)) * dx))


#: mass a density may lose (or hold in the outermost cells) at the edges of the comparison window
MASS_TOLERANCE = 1e-6
#: negative Vlasov values beyond this fraction of the maximum are refused (the advection is not positive)
NEGATIVE_TOLERANCE = 1e-6


def _window_fix(p) -> str:
    return (f"the grid cuts it: on an interval lengthen the domain; widen the momentum window [{p[0]:.3g}, "
            f"{p[-1]:.3g}] (p_range; left out, the window is the classical bound plus the Husimi width)")


def _check_mass(mass: float, what: str, hbar: float, t: float, p) -> None:
    if abs(1.0 - mass) > MASS_TOLERANCE:
        raise QMeanFieldError(f"semiclassical: {what} holds mass {mass:.10f} of 1 in the comparison window at "
                              f"hbar = {hbar:g}, t = {t:g}; " + _window_fix(p))


def _check_vlasov(f_t: np.ndarray, times, monitor, p) -> None:
    low = f_t.min(axis=(1, 2))
    bad = np.flatnonzero(low < -NEGATIVE_TOLERANCE * f_t.max())
    if bad.size:
        n = bad[0]
        raise QMeanFieldError(f"semiclassical: the Vlasov density is negative ({low[n] / f_t.max():.2g} of its maximum) "
                              f"at t = {times[n]:g}: f0 or f(t) (filaments) has features narrower than a cell; raise "
                              "cells, shorten t_final, or smooth f0 (e.g. a waterbag with a smooth edge)")
    if monitor.edge_mass > MASS_TOLERANCE:
        raise QMeanFieldError(f"semiclassical: the Vlasov density reaches the edges of the grid (mass "
                              f"{monitor.edge_mass:.3g} in the outermost cells): " + _window_fix(p))


def local_exponents(hbars: np.ndarray, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Local log-log slopes of W2 against hbar between neighbouring hbar values (sorted):
    $\log(W_2(\hbar_{a+1}) / W_2(\hbar_a)) / \log(\hbar_{a+1} / \hbar_a)$ at each time, and the
    geometric means of the pairs. `w2` is (hbar, time)."""
    order = np.argsort(hbars)
    h, w = hbars[order], w2[order]
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.log(w[1:] / w[:-1]) / np.log(h[1:] / h[:-1])[:, None]
    return np.sqrt(h[1:] * h[:-1]), slopes


def _snapshot_indices(T: int, count: int) -> np.ndarray:
    return np.unique(np.linspace(0, T - 1, max(1, min(count, T))).round().astype(int))


def scan(problem: SemiclassicalProblem, *, options: ScanOptions = ScanOptions(), progress: bool | None = None,
         log=None) -> xr.Dataset:
    r"""Hartree (from $T(f_0)$) against Vlasov (from $f_0$) for every hbar of `problem`.

    Returns a Dataset over (hbar, time): `w2_husimi_vlasov` with `w2_lower` / `w2_upper`
    (its bracket), `w2_bound` (the certificate B), `magnetisation_quantum` (and
    `magnetisation_classical` over time), the Hartree monitors (`trace_error`,
    `spectrum_error`, `energy_drift`), the Vlasov monitors, the fitted exponent of W2 against
    hbar at each time (`w2_exponent` with `w2_exponent_ci`), and phase-space snapshots
    (`husimi`, `vlasov`) at a few times. `log` (a callable) receives the plan first.
    """
    if not isinstance(problem, SemiclassicalProblem):
        raise QMeanFieldError(f"problem must be a SemiclassicalProblem, got {type(problem).__name__}")
    plan = plan_scan(problem, options)
    progress = wants_progress(progress, plan.estimated_seconds)
    if log:
        log(plan.describe(problem.hbars))
    times = problem.times
    T, nx, n_p = times.size, *options.cells
    cg, p = classical_grid(problem, nx, n_p)
    dp = p[1] - p[0]
    xe, pe = edges(cg.x), edges(p)
    periodic = problem.domain == "periodic"
    snaps = _snapshot_indices(T, options.snapshots)
    hbars = np.array(problem.hbars, dtype=float)
    n_hbar = hbars.size
    out = {name: np.full((n_hbar, T), np.nan) for name in (
        "w2", "lower", "upper", "marginal", "knothe", "emd", "emd_grid", "mag_q", "trace", "spectrum", "energy",
        "grid_error", "eps_error", "solver_error")}
    husimi_snap = np.zeros((n_hbar, snaps.size, nx, n_p))
    orbit_counts, dropped, seconds = [], [], []
    with progress_bar(progress) as prog:
        task = prog.add_task("Vlasov", total=T * (1 + n_hbar)) if prog else None
        tick = (lambda n: prog.update(task, advance=1)) if prog else None
        f0 = initial_density(problem, cg, p)
        vs = VlasovSolver(problem, cg, p, plan.dt)
        f_t = np.array(list(vs.run(f0, times, on_time=tick)))
        monitor = vs.monitor
        _check_vlasov(f_t, times, monitor, p)
        negative = np.clip(-f_t, 0.0, None).sum(axis=(1, 2)) / f_t.sum(axis=(1, 2))   # clipped by W2: in its interval
        mag_c = np.array([magnetisation(f.sum(axis=1) * dp, cg.x, cg.dx) for f in f_t])
        for a, hbar in enumerate(hbars):
            start = _time.perf_counter()
            if prog:
                prog.update(task, description=f"Hartree hbar = {hbar:g}")
            qg = make_grid(problem.length, plan.quantum_points[a], plan.quantum_reasons[a])
            stride = qg.x.size // nx
            orb = initial_state(problem, hbar, qg, p)
            orbit_counts.append(orb.weights.size)
            dropped.append(orb.discarded_weight)
            hs = HartreeSolver(problem, hbar, qg, plan.dt)
            E0 = hs.energy(orb.weights, orb.psi)
            warm = ()
            for n, psi in enumerate(hs.run(orb, times, on_time=tick)):
                R = density_matrix(orb.weights, psi)
                Hq = husimi(R, qg, hbar, stride, p, periodic)
                _check_mass(Hq.sum() * cg.dx * dp, "the Husimi function of R(t)", hbar, times[n], p)
                b = w2_grid(xe, pe, Hq, f_t[n], max_cells=options.w2_cells, warm=warm, dropped=negative[n])
                warm = b.potentials
                for key, val in (("w2", b.value), ("lower", b.lower), ("upper", b.upper), ("marginal", b.marginal_lower),
                                 ("knothe", b.knothe_upper), ("grid_error", b.grid_error),
                                 ("eps_error", b.eps_error), ("solver_error", b.solver_error)):
                    out[key][a, n] = val
                if options.emd_cells and n in snaps:   # POT's coarse-grid value: a cross-check at snapshot times
                    out["emd"][a, n], out["emd_grid"][a, n] = w2_emd(xe, pe, Hq, f_t[n], options.emd_cells)
                rho_q = hs.density(orb.weights, psi)
                out["mag_q"][a, n] = magnetisation(rho_q, qg.x, qg.dx)
                out["trace"][a, n] = abs(float(np.sum(rho_q) * qg.dx) - 1.0 + orb.discarded_weight)
                gram = (psi.conj() @ psi.T) * qg.dx
                out["spectrum"][a, n] = float(np.max(np.abs(gram - np.eye(gram.shape[0]))))
                out["energy"][a, n] = hs.energy(orb.weights, psi) - E0
                if n in snaps:
                    husimi_snap[a, int(np.searchsorted(snaps, n))] = Hq
            seconds.append(_time.perf_counter() - start)
    bound = np.stack([certificate_bound(problem, h, times) for h in hbars])
    # a violated certificate is a finding, reported as in certify and compare (summary `bound_holds`,
    # the report, the CLI), not an exception that would discard the scan
    above = np.argwhere(out["lower"] > bound)
    out["violations"] = violated = len(above)
    if violated and log:
        a, n = above[0]
        log(f"warning: the measured W2 (at least {out['lower'][a, n]:.4g}) exceeds the certificate "
            f"B = {bound[a, n]:.4g} at hbar = {hbars[a]:g}, t = {times[n]:g} ({violated} points in all)")
    exponent = np.full(T, np.nan)
    exponent_ci = np.full(T, np.nan)
    if n_hbar >= 2:
        for n in range(T):
            fit = fit_power_law(hbars, out["w2"][:, n])
            if fit is not None:
                exponent[n], exponent_ci[n] = fit.exponent, fit.exponent_ci
    out["local"] = local_exponents(hbars, out["w2"]) if n_hbar >= 2 else (np.zeros(0), np.zeros((0, T)))
    return _dataset(problem, plan, hbars, times, cg, p, snaps, out, bound, exponent, exponent_ci, mag_c,
                    monitor, husimi_snap, f_t[snaps], orbit_counts, dropped, seconds)


def _dataset(problem, plan, hbars, times, cg, p, snaps, out, bound, exponent, exponent_ci, mag_c, monitor,
             husimi_snap, vlasov_snap, orbit_counts, dropped, seconds) -> xr.Dataset:
    ht = ("hbar", "time")
    init = problem.initial
    return xr.Dataset(
        {
            "w2_husimi_vlasov": (ht, out["w2"], {"long_name": "W2(Husimi(R(t)), f(t)): debiased Sinkhorn on the "
                                                              "grid, Richardson in epsilon"}),
            "w2_lower": (ht, out["lower"], {"long_name": "lower end of the W2 error interval"}),
            "w2_upper": (ht, out["upper"], {"long_name": "upper end of the W2 error interval"}),
            "w2_grid_error": (ht, out["grid_error"], {"long_name": "grid error of W2: Richardson from cells merged in "
                                                                   "pairs once and twice (observed order), doubled"}),
            "w2_eps_error": (ht, out["eps_error"], {"long_name": "|S_eps - S_2eps| (on W2^2): epsilon bias estimate"}),
            "w2_solver_error": (ht, out["solver_error"], {"long_name": "Sinkhorn convergence error (on W2^2)"}),
            "w2_marginal_lower": (ht, out["marginal"], {"long_name": "sqrt(W2(x-marginals)^2 + W2(p-marginals)^2)"}),
            "w2_knothe_upper": (ht, out["knothe"], {"long_name": "Knothe-Rosenblatt coupling cost (upper bound)"}),
            "w2_emd": (ht, out["emd"], {"long_name": "ot.emd2 on the coarsened grid (cross-check, snapshot times; "
                                                     "NaN elsewhere)"}),
            "w2_emd_grid": (ht, out["emd_grid"], {"long_name": "grid half-width of the coarse emd value"}),
            "w2_bound": (ht, bound, {"long_name": "certificate B(t) = sqrt(hbar (1 + exp(Lambda t)))"}),
            "magnetisation_quantum": (ht, out["mag_q"], {"long_name": "|int rho_R e^{ix} dx|"}),
            "magnetisation_classical": (("time",), mag_c, {"long_name": "|int rho_f e^{ix} dx|"}),
            "trace_error": (ht, out["trace"], {"long_name": "|tr R(t) - tr R(0)|"}),
            "spectrum_error": (ht, out["spectrum"], {"long_name": "max |<psi_i|psi_j> - delta_ij| (weights fixed)"}),
            "energy_drift": (ht, out["energy"], {"long_name": "Hartree energy E(t) - E(0)"}),
            "vlasov_mass": (("time",), monitor.mass),
            "vlasov_momentum": (("time",), monitor.momentum),
            "vlasov_energy": (("time",), monitor.energy),
            "vlasov_l2": (("time",), monitor.l2),
            "w2_exponent": (("time",), exponent, {"long_name": "fitted log-log slope of W2 against hbar"}),
            "w2_exponent_ci": (("time",), exponent_ci, {"long_name": "95 % half-width of w2_exponent: how badly one "
                                                                     "power law fits, not noise"}),
            "w2_local_exponent": (("hbar_pair", "time"), out["local"][1],
                                  {"long_name": "log-log slope of W2 between neighbouring hbar values"}),
            "orbitals": (("hbar",), np.array(orbit_counts), {"long_name": "orbitals of T(f0) kept"}),
            "discarded_weight": (("hbar",), np.array(dropped), {"long_name": "weight of T(f0) in dropped orbitals"}),
            "quantum_points": (("hbar",), np.array(plan.quantum_points)),
            "wall_seconds": (("hbar",), np.array(seconds), {"long_name": "wall time of the Hartree part", "units": "s"}),
            "husimi": (("hbar", "snapshot", "x", "p"), husimi_snap, {"long_name": "Husimi(R(t)) at snapshot times"}),
            "vlasov": (("snapshot", "x", "p"), vlasov_snap, {"long_name": "f(t) at snapshot times"}),
        },
        coords={"hbar": hbars, "time": times, "x": cg.x, "p": p, "snapshot": np.arange(snaps.size),
                "hbar_pair": out["local"][0],
                "snapshot_time": (("snapshot",), times[snaps])},
        attrs={"domain": problem.domain, "length": problem.length, "external": problem.external,
               "pair": problem.pair, "initial_kind": init.kind, "initial": init.describe(),
               "certificate_rate": problem.certificate_rate(), "certificate_violations": out["violations"],
               "dt": plan.dt,
               "vlasov_edge_mass": monitor.edge_mass, "classical_cells": list(plan.classical_cells),
               "quantum_grid_reasons": list(plan.quantum_reasons),
               "w2_note": "W2 on the strip [-L/2, L/2) x R (the torus seam at +-L/2) for periodic domains",
               **provenance(), "qmeanfield_version": package_version()},
    )
