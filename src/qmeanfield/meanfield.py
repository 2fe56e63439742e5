r"""Mean-field (Hartree) dynamics, closed and open (docs/theory.md, Models).

$$
i\hbar\,\dot\rho = [h + V_\rho, \rho] \quad\text{(closed)}, \qquad
\dot\rho = -\tfrac{i}{\hbar}[h + V_\rho, \rho] + \sum_k \mathcal D_{L_k}(\rho)
    - i \sum_c [H_{C_c}(\rho), \rho] \quad\text{(open)},
$$

with $V_\rho = \mathrm{Tr}_2[V(1 \otimes \rho)]$ and, for collective jumps C,
$H_C(\rho) = \tfrac{i}{2}(\langle C^\dagger\rangle_\rho C - \langle C\rangle_\rho C^\dagger)$ (the limit
of the cross terms of $\kappa_N \mathcal D_{J(C)}$; see `Model`).

Closed systems are integrated through the self-consistent unitary
$i\hbar \dot U = (h + V_{U\rho_0U^\dagger}) U$ with an adaptive 8th-order Runge-Kutta
method (DOP853); each saved U is projected onto the unitary group (polar factor), so the
spectrum of $\rho(t) = U \rho_0 U^\dagger$ is preserved to machine precision. Open
systems integrate the nonlinear Lindblad equation for $\rho$ directly. Trace,
Hermiticity and positivity are monitored and a `DriftWarning` is
issued on drift.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import polar
from scipy.optimize import root

from ._checks import MAX_PERIODS, check_times
from .errors import DriftWarning, QMeanFieldError
from .model import Model, hermitian_basis, require_model
from .operators import mean_field_potential, random_density_matrix
from .states import validate_density_matrix

__all__ = ["evolve", "rhs", "fixed_points", "FixedPoint", "FixedPointSearch", "DRIFT_TOL"]

#: tolerance on trace / Hermiticity / positivity drift before a warning
DRIFT_TOL = 1e-8


def _dissipator(L: np.ndarray, rho: np.ndarray) -> np.ndarray:
    LdL = L.conj().T @ L
    return L @ rho @ L.conj().T - 0.5 * (LdL @ rho + rho @ LdL)


def rhs(model: Model, rho: np.ndarray, t: float = 0.0) -> np.ndarray:
    r"""Right side $\dot\rho$ of the mean-field equation at state `rho` (or at each of a
    stack of states, shape (..., d, d)) at time `t` (it matters for a driven model only)."""
    Heff = model.h_at(t) + model.interaction_strength(t) * mean_field_potential(model.V, rho)
    out = -1j / model.hbar * (Heff @ rho - rho @ Heff)
    for L in model.jumps:
        out = out + _dissipator(L, rho)
    for r, (L, _) in zip(model.rates(t), model.timed_jumps):
        out = out + r * _dissipator(L, rho)
    for C in model.collective_jumps:
        HC = collective_hamiltonian(C, rho)
        out = out - 1j * (HC @ rho - rho @ HC)
    return out


def _relax_starts(model: Model, rhos: list[np.ndarray], t_relax: float) -> np.ndarray:
    """Let every start relax under the mean-field flow at once (one ODE for the stack), each in
    chunks of growing length until its ||rho_dot||_F is below RELAX_TOL or t_relax has passed.
    One integration for all starts instead of one per start and chunk (d = 2, seven starts:
    0.20 s -> 0.06 s; with collective jumps 2.1 s -> 0.38 s)."""
    R = np.array(rhos, dtype=complex)
    d = model.d
    t_done, chunk = 0.0, RELAX_CHUNK
    while t_done < t_relax:
        active = np.flatnonzero(np.linalg.norm(rhs(model, R), axis=(1, 2)) > RELAX_TOL)
        if active.size == 0:
            break
        shape = (active.size, d, d)
        Y = _solve(lambda _, y: rhs(model, y.reshape(shape)).ravel(), R[active].ravel(),
                   np.array([0.0, chunk]), 1e-10, 1e-12)
        R[active] = Y[-1].reshape(shape)
        R[active] = (R[active] + R[active].conj().transpose(0, 2, 1)) / 2
        t_done += chunk
        chunk = min(2 * chunk, RELAX_CHUNK_MAX)
    return R


def collective_hamiltonian(C: np.ndarray, rho: np.ndarray) -> np.ndarray:
    r"""Mean-field Hamiltonian of a collective jump, $\tfrac{i}{2}(\langle C^\dagger\rangle C - \langle C\rangle C^\dagger)$
    (for a stack of states, shape (..., d, d), the stack of Hamiltonians)."""
    c = np.einsum("...ab,ba->...", rho, C)[..., None, None]
    return 0.5j * (np.conj(c) * C - c * C.conj().T)


def _solve(fun, y0, t_eval, rtol, atol):
    t0 = 0.0
    t1 = float(t_eval[-1])
    if t1 == t0:
        return np.array([y0])
    sol = solve_ivp(fun, (t0, t1), y0, method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol)
    if not sol.success:
        raise QMeanFieldError(f"mean-field integration failed: {sol.message}")
    return sol.y.T


#: a drive's amplitude is sampled at this many times of the span
DRIVE_SAMPLES = 257


def fastest_rate(model: Model, times=None) -> float:
    """The fastest rate of the model: (||h|| + ||V||)/hbar plus the jump rates (at least 1); for a
    driven model also sum_k ||A_k|| max |f_k| over [0, t_final] of `times` (sampled) / hbar and
    the fastest change of the coefficients, max |f_k'| / max |f_k|."""
    rate = (model.norm_h + model.norm_V) / model.hbar
    if model.is_driven:
        span = float(np.max(times)) if times is not None and np.size(times) else 1.0
        grid = np.linspace(0.0, max(span, 1e-12), DRIVE_SAMPLES)
        c = np.array([model.time_coefficients(t) for t in grid]).reshape(grid.size, -1)   # (samples, terms)
        norms = np.array([np.abs(np.linalg.eigvalsh(A)).max() / model.hbar for A, _ in model.drive]
                         + [np.linalg.norm(L, 2) ** 2 for L, _ in model.timed_jumps]
                         + ([model.norm_V / model.hbar] if model.interaction is not None else []))
        rate += float(np.abs(c).max(axis=0) @ norms)
        change = np.abs(np.diff(c, axis=0)).max(axis=0) / (grid[1] - grid[0])
        rate += float(np.max(change / np.maximum(np.abs(c).max(axis=0), 1e-300), initial=0.0))
    rate += sum(np.linalg.norm(L, 2) ** 2 for L in (*model.jumps, *model.collective_jumps))
    return max(float(rate), 1.0)


def check_time_span(model: Model, times: np.ndarray, max_periods: float) -> None:
    """Refuse time spans of more than `max_periods` periods of the fastest time scale (the work
    grows with it), naming the limit and how to raise it."""
    periods = float(times[-1]) * fastest_rate(model, times) / (2 * np.pi)
    if not (isinstance(max_periods, (int, float)) and max_periods > 0):
        raise QMeanFieldError(f"max_periods must be a number > 0, got {max_periods!r}")
    if periods > max_periods:
        raise QMeanFieldError(
            f"times reach t = {times[-1]:.4g}, about {periods:.3g} periods of the model's fastest time scale, over the "
            f"limit max_periods = {max_periods:g}; shorten t_final or raise the limit (compare(..., max_periods=...), "
            "TOML: run.max_periods)")



def evolve(model: Model, rho0, times, *, rtol: float = 1e-12, atol: float = 1e-14,
           max_periods: float = MAX_PERIODS) -> np.ndarray:
    r"""Solve the mean-field equation; return $\rho(t)$ at `times`, shape `(len(times), d, d)`.

    `rho0` must be a density matrix (it need not be full rank). `times` must be
    increasing and >= 0; the state at t = 0 is `rho0`.
    """
    require_model(model)
    d = model.d
    rho0 = validate_density_matrix(rho0, "rho0", d)
    t = check_times(times)
    check_time_span(model, t, max_periods)
    if not model.is_open:
        def fun(time, y):
            U = y.reshape(d, d)
            rho = U @ rho0 @ U.conj().T
            Heff = model.h_at(time) + model.interaction_strength(time) * mean_field_potential(model.V, rho)
            return (-1j / model.hbar * (Heff @ U)).ravel()

        Y = _solve(fun, np.eye(d, dtype=complex).ravel(), t, rtol, atol)
        out = np.empty((t.size, d, d), dtype=complex)
        defect = 0.0
        for n, y in enumerate(Y):
            Uraw = y.reshape(d, d)
            defect = max(defect, float(np.abs(Uraw.conj().T @ Uraw - np.eye(d)).max()))
            U, _ = polar(Uraw)
            r = U @ rho0 @ U.conj().T
            out[n] = (r + r.conj().T) / 2
        if t[0] == 0:
            out[0] = rho0
        if defect > DRIFT_TOL:
            warnings.warn(f"mean-field propagator lost unitarity by {defect:.3g} (> {DRIFT_TOL:g}) before "
                          "projection; tighten rtol/atol", DriftWarning, stacklevel=2)
    else:
        def fun(time, y):
            return rhs(model, y.reshape(d, d), time).ravel()

        Y = _solve(fun, rho0.ravel(), t, rtol, atol)
        out = Y.reshape(t.size, d, d)
        _monitor(out)
        out = (out + out.conj().transpose(0, 2, 1)) / 2
    return out


def _monitor(rhos: np.ndarray) -> None:
    tr = np.abs(np.trace(rhos, axis1=1, axis2=2) - 1).max()
    herm = np.abs(rhos - rhos.conj().transpose(0, 2, 1)).max()
    herm_rhos = (rhos + rhos.conj().transpose(0, 2, 1)) / 2
    neg = -min(0.0, float(np.linalg.eigvalsh(herm_rhos).min()))
    for name, value in (("trace", tr), ("Hermiticity", herm), ("positivity", neg)):
        if value > DRIFT_TOL:
            warnings.warn(
                f"mean-field {name} drifted by {value:.3g} (> {DRIFT_TOL:g}); tighten rtol/atol",
                DriftWarning,
                stacklevel=3,
            )


# ----------------------------------------------------------------------------- fixed points
#: relaxation stops once ||d rho/dt||_F is below this
RELAX_TOL = 1e-6
#: first and largest relaxation chunk (time units) before the root finder refines
RELAX_CHUNK, RELAX_CHUNK_MAX = 10.0, 100.0
#: step of the central differences of the linearised flow
JACOBIAN_STEP = 1e-7
#: a fixed point is stable when the largest real part of the linearised flow is below -this
STABILITY_MARGIN = 1e-7
#: most negative eigenvalue accepted for a fixed point (round-off)
POSITIVITY_TOL = 1e-10


@dataclass(frozen=True)
class FixedPoint:
    r"""A stationary state $\rho^*$ of the mean-field equation.

    rho : (d, d) the fixed point.
    residual : $\|\dot\rho(\rho^*)\|_F$.
    max_real_eigenvalue : largest real part of the linearised flow (traceless Hermitian directions).
    stable : `max_real_eigenvalue < -STABILITY_MARGIN`.
    starts : how many starting states reached it.
    """

    rho: np.ndarray
    residual: float
    max_real_eigenvalue: float
    stable: bool
    starts: int


@dataclass(frozen=True)
class FixedPointSearch:
    """The distinct fixed points found (stable ones first, then by how many starts reached them)
    and the number of starts that did not settle (limit cycles, very slow relaxation).
    Iterating over it, `len` and indexing refer to `points`."""

    points: tuple[FixedPoint, ...]
    unsettled_starts: int = 0

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i) -> FixedPoint:
        return self.points[i]

    @property
    def unique_stable(self) -> bool:
        """Exactly one fixed point was found and it is stable."""
        return len(self.points) == 1 and self.points[0].stable


def _hermitian_basis(d: int) -> np.ndarray:
    """Orthonormal basis of the traceless Hermitian d x d matrices, shape (d^2 - 1, d, d)."""
    return np.array(hermitian_basis(d))


def _starts(d: int, n_random: int = 4) -> list[np.ndarray]:
    starts = [np.eye(d, dtype=complex) / d]
    for a in range(d):
        e = np.full(d, 0.02 / d)
        e[a] += 0.98
        starts.append(np.diag(e).astype(complex))
    for seed in range(n_random):
        starts.append(random_density_matrix(d, seed=seed, min_eigenvalue=0.01))
    return starts


def fixed_points(model: Model, starts=None, t_relax: float = 400.0, tol: float = 1e-9,
                 distinct: float = 1e-6) -> FixedPointSearch:
    r"""Stationary states of the mean-field equation.

    Each start relaxes under the mean-field flow for up to `t_relax` (in growing chunks,
    stopping once $\|\dot\rho\|_F$ is below `RELAX_TOL`), then a root finder solves
    $\dot\rho = 0$ on trace-one Hermitian matrices. Fixed points closer than `distinct`
    in trace distance are merged. A start whose result has residual above `tol` (or is not
    positive) counts as unsettled.
    """
    require_model(model)
    if model.is_driven:
        raise QMeanFieldError("fixed_points: a driven model (drive=...) has no stationary states; a periodic "
                              "(Floquet) state is not computed here")
    if starts is not None and (isinstance(starts, (str, bytes)) or not hasattr(starts, "__len__")
                               or len(starts) == 0):
        raise QMeanFieldError(f"fixed_points: starts must be None or a non-empty list of density matrices, got {starts!r}")
    d = model.d
    basis = _hermitian_basis(d)
    center = np.eye(d, dtype=complex) / d

    def to_rho(v):
        return center + np.tensordot(v, basis, axes=1)

    def to_vec(rho):
        return np.real(np.einsum("kab,ba->k", basis, rho))

    def F(v):
        return to_vec(rhs(model, to_rho(v)))

    found: list[dict] = []
    unsettled = 0
    starts = [validate_density_matrix(rho, "start", d) for rho in (_starts(d) if starts is None else starts)]
    for rho in (_relax_starts(model, starts, t_relax) if starts else []):
        sol = root(F, to_vec(rho), tol=1e-14)
        rho_star = to_rho(sol.x)
        rho_star = (rho_star + rho_star.conj().T) / 2
        residual = float(np.linalg.norm(rhs(model, rho_star)))
        if residual > tol or np.linalg.eigvalsh(rho_star).min() < -POSITIVITY_TOL:
            unsettled += 1
            continue
        for fp in found:
            if np.abs(np.linalg.eigvalsh(fp["rho"] - rho_star)).sum() < distinct:
                fp["starts"] += 1
                break
        else:
            v0 = to_vec(rho_star)
            J = np.column_stack([(F(v0 + JACOBIAN_STEP * e) - F(v0 - JACOBIAN_STEP * e)) / (2 * JACOBIAN_STEP)
                                 for e in np.eye(v0.size)])
            lead = float(np.linalg.eigvals(J).real.max())
            found.append({"rho": rho_star, "residual": residual, "max_real_eigenvalue": lead,
                          "stable": lead < -STABILITY_MARGIN, "starts": 1})
    found.sort(key=lambda fp: (not fp["stable"], -fp["starts"]))
    return FixedPointSearch(points=tuple(FixedPoint(**fp) for fp in found), unsettled_starts=unsettled)
