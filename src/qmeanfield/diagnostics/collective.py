r"""Collective spin diagnostics of qubits (d = 2) from the one- and two-body marginals.

For $J_a = \sum_j \sigma^{(j)}_a / 2$ the covariances follow from the marginals alone:
$\langle J_a J_b + J_b J_a\rangle / 2 = N\,\mathrm{Tr}(R^{(1)} \{\sigma_a, \sigma_b\}/8)
+ N(N-1)\,\mathrm{Tr}(R^{(2)}\, \sigma_a/2 \otimes \sigma_b/2)$.
"""

from __future__ import annotations

import numpy as np

from ..operators import pauli

__all__ = ["spin_covariance", "wineland_squeezing"]


def _spin():
    P = pauli()
    return np.stack([P["x"], P["y"], P["z"]]) / 2


def spin_covariance(R1: np.ndarray, R2: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean $\langle J_a\rangle$ (..., 3) and symmetrised covariance
    $\mathrm{Cov}(J_a, J_b)$ (..., 3, 3) of the collective spin, from marginals R1 (..., 2, 2) and
    R2 (..., 4, 4) (leading axes, e.g. time, broadcast)."""
    S = _spin()
    mean = N * np.einsum("...ij,aji->...a", R1, S).real
    anti = np.einsum("aij,bjk->abik", S, S)
    anti = (anti + anti.transpose(1, 0, 2, 3)) / 2                       # {S_a, S_b} / 2
    one = N * np.einsum("...ij,abji->...ab", R1, anti).real
    SS = np.einsum("aij,bkl->abikjl", S, S).reshape(3, 3, 4, 4)          # S_a (x) S_b
    two = N * (N - 1) * np.einsum("...ij,abji->...ab", R2, SS).real
    second = one + (two + np.swapaxes(two, -1, -2)) / 2
    return mean, second - mean[..., :, None] * mean[..., None, :]


def wineland_squeezing(R1: np.ndarray, R2: np.ndarray, N: int) -> np.ndarray:
    r"""The Wineland spin-squeezing parameter $\xi^2 = N \min_{n \perp \langle J\rangle}
    \mathrm{Var}(n\cdot J) / |\langle J\rangle|^2$ (..., ), NaN where the mean spin vanishes;
    $\xi^2 < 1$ is metrologically useful squeezing (a pure product state has $\xi^2 = 1$)."""
    mean, cov = spin_covariance(R1, R2, N)
    length = np.linalg.norm(mean, axis=-1)
    ok = length > 1e-12 * N
    u = mean / np.where(ok, length, 1.0)[..., None]
    # an orthonormal basis (v, w) of the plane perpendicular to u, at every leading index at once
    e = np.eye(3)[np.argmin(np.abs(u), axis=-1)]
    v = np.cross(u, e)
    v /= np.maximum(np.linalg.norm(v, axis=-1), 1e-300)[..., None]
    B = np.stack([v, np.cross(u, v)], axis=-2)                              # (..., 2, 3)
    smallest = np.linalg.eigvalsh(B @ cov @ np.swapaxes(B, -1, -2))[..., 0]
    return np.where(ok, N * smallest / np.where(ok, length, 1.0) ** 2, np.nan)
