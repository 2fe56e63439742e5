r"""Entropy production identity (docs/theory.md, Entropy production identity).

With $A = [\log\rho \otimes 1, V]$ (anti-Hermitian),

$$
\frac{dH_N}{dt} = \frac{iN}{\hbar}\Big[\kappa_N (N-1)\,\mathrm{Tr}(R^{(2)} A)
    - \mathrm{Tr}\big(R^{(1)} [\log\rho, V_\rho]\big)\Big]
$$

for closed systems. For open systems the right side is unchanged and the dissipation
$D_N = \text{right side} - dH_N/dt \ge 0$ (monotonicity of relative entropy).
The left side is measured independently by finite differences of $H_N(t)$
(`stencil` and `derivative_from_stencil`).
"""

from __future__ import annotations

import numpy as np

from ..operators import mean_field_potential

__all__ = ["log_density", "interaction_commutator", "entropy_production", "stencil",
           "derivative_from_stencil", "STENCIL_OFFSETS"]

#: centred and forward 5-point stencils (fourth order), offsets in units of the step
STENCIL_OFFSETS = {"central": np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), "forward": np.array([0.0, 1.0, 2.0, 3.0, 4.0])}


def log_density(rho: np.ndarray, tol: float = 1e-14) -> np.ndarray | None:
    r"""$\log\rho$ from the spectrum; `None` when $\rho$ is not full rank."""
    w, W = np.linalg.eigh((rho + rho.conj().T) / 2)
    if w[0] <= tol:
        return None
    return (W * np.log(w)) @ W.conj().T


def interaction_commutator(log_rho: np.ndarray, V: np.ndarray) -> np.ndarray:
    r"""$A = [\log\rho \otimes 1, V]$, shape (d^2, d^2)."""
    d = log_rho.shape[0]
    X = np.kron(log_rho, np.eye(d))
    return X @ V - V @ X


def entropy_production(R1: np.ndarray, R2: np.ndarray, rho: np.ndarray, V: np.ndarray,
                       N: int, kappa: float, hbar: float) -> float:
    r"""Right side of the entropy production identity (real; NaN when rho is not full rank)."""
    L = log_density(rho)
    if L is None:
        return float("nan")
    A = interaction_commutator(L, V)
    Vr = mean_field_potential(V, rho)
    C = L @ Vr - Vr @ L
    value = (1j * N / hbar) * (kappa * (N - 1) * np.trace(R2 @ A) - np.trace(R1 @ C))
    return float(value.real)


def _weights(offsets: np.ndarray) -> np.ndarray:
    """Finite-difference weights for the first derivative at 0 on the given offsets (unit step)."""
    n = offsets.size
    M = np.vander(offsets, n, increasing=True).T  # M[p, j] = offsets[j]**p
    rhs = np.zeros(n)
    rhs[1] = 1.0
    return np.linalg.solve(M, rhs)


def stencil(times: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation points for fourth-order derivatives at `times`.

    Returns `(all_times, index, weights)`: `all_times` sorted and unique (includes
    `times`); `index[n]` the positions in `all_times` of the 5 points used at
    `times[n]`; `weights[n]` their weights (divide by `step`). A forward stencil is used
    where the centred one would reach below t = 0.
    """
    times = np.asarray(times, dtype=float)
    pts = np.empty((times.size, 5))
    wts = np.empty((times.size, 5))
    for n, t in enumerate(times):
        kind = "central" if t - 2 * step >= 0 else "forward"
        off = STENCIL_OFFSETS[kind]
        pts[n] = t + off * step
        wts[n] = _weights(off)
    allt = np.unique(np.concatenate([times, pts.ravel()]))
    index = np.searchsorted(allt, pts)
    return allt, index, wts


def derivative_from_stencil(values: np.ndarray, index: np.ndarray, weights: np.ndarray, step: float) -> np.ndarray:
    """Apply `stencil` weights to `values` sampled on its `all_times`."""
    return np.einsum("nj,nj->n", weights, np.asarray(values)[index]) / step
