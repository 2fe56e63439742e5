r"""Mean-field (Hartree) dynamics, closed and open (THEORY section 1).

.. math::
    i\hbar\,\dot\rho = [h + V_\rho, \rho] \quad\text{(closed)}, \qquad
    \dot\rho = -\tfrac{i}{\hbar}[h + V_\rho, \rho] + \sum_k \mathcal D_{L_k}(\rho)
        - i \sum_c [H_{C_c}(\rho), \rho] \quad\text{(open)},

with :math:`V_\rho = \mathrm{Tr}_2[V(1 \otimes \rho)]` and, for collective jumps C,
:math:`H_C(\rho) = \tfrac{i}{2}(\langle C^\dagger\rangle_\rho C - \langle C\rangle_\rho C^\dagger)` (the limit
of the cross terms of :math:`\kappa_N \mathcal D_{J(C)}`; see :class:`~qmeanfield.Model`).

Closed systems are integrated through the self-consistent unitary
:math:`i\hbar \dot U = (h + V_{U\rho_0U^\dagger}) U` with an adaptive 8th-order Runge-Kutta
method (DOP853); each saved U is projected onto the unitary group (polar factor), so the
spectrum of :math:`\rho(t) = U \rho_0 U^\dagger` is preserved to machine precision. Open
systems integrate the nonlinear Lindblad equation for :math:`\rho` directly. Trace,
Hermiticity and positivity are monitored and a :class:`~qmeanfield.errors.DriftWarning` is
issued on drift.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import polar

from .errors import DriftWarning, QMeanFieldError
from .model import Model
from .operators import mean_field_potential
from .states import validate_density_matrix

__all__ = ["evolve", "rhs", "validate_times", "DRIFT_TOL"]

#: tolerance on trace / Hermiticity / positivity drift before a warning
DRIFT_TOL = 1e-8


def validate_times(times) -> np.ndarray:
    """Times must be a non-empty, finite, strictly increasing 1-D array of values >= 0."""
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise QMeanFieldError("times must be a 1-D array of numbers") from None
    if t.ndim != 1 or t.size == 0:
        raise QMeanFieldError(f"times must be a non-empty 1-D array, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise QMeanFieldError("times contains NaN or infinite values")
    if t[0] < 0:
        raise QMeanFieldError(f"times must be >= 0 (the initial state is given at t = 0), got {t[0]}")
    if np.any(np.diff(t) <= 0):
        raise QMeanFieldError("times must be strictly increasing")
    return t


def _dissipator(L: np.ndarray, rho: np.ndarray) -> np.ndarray:
    LdL = L.conj().T @ L
    return L @ rho @ L.conj().T - 0.5 * (LdL @ rho + rho @ LdL)


def rhs(model: Model, rho: np.ndarray) -> np.ndarray:
    r"""Right side :math:`\dot\rho` of the mean-field equation at state ``rho``."""
    Heff = model.h + mean_field_potential(model.V, rho)
    out = -1j / model.hbar * (Heff @ rho - rho @ Heff)
    for L in model.jumps:
        out = out + _dissipator(L, rho)
    for C in model.collective_jumps:
        HC = collective_hamiltonian(C, rho)
        out = out - 1j * (HC @ rho - rho @ HC)
    return out


def collective_hamiltonian(C: np.ndarray, rho: np.ndarray) -> np.ndarray:
    r"""Mean-field Hamiltonian of a collective jump, :math:`\tfrac{i}{2}(\langle C^\dagger\rangle C - \langle C\rangle C^\dagger)`."""
    c = np.trace(rho @ C)
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


def evolve(model: Model, rho0, times, *, rtol: float = 1e-12, atol: float = 1e-14) -> np.ndarray:
    r"""Solve the mean-field equation; return :math:`\rho(t)` at ``times``, shape ``(len(times), d, d)``.

    ``rho0`` must be a density matrix (it need not be full rank). ``times`` must be
    increasing and >= 0; the state at t = 0 is ``rho0``.
    """
    d = model.d
    rho0 = validate_density_matrix(rho0, "rho0", d)
    t = validate_times(times)
    if not model.is_open:
        def fun(_, y):
            U = y.reshape(d, d)
            rho = U @ rho0 @ U.conj().T
            Heff = model.h + mean_field_potential(model.V, rho)
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
        def fun(_, y):
            return rhs(model, y.reshape(d, d)).ravel()

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
