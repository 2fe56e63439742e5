r"""Collective observables from the one- and two-body marginals, and the spin squeezing of qubits.

For collective operators $J(A) = \sum_j A_j$ of a permutation-symmetric state the first and
second moments follow from the marginals alone:
$\langle J(A)\rangle = N\,\mathrm{Tr}(R^{(1)} A)$ and
$\langle J(A) J(B) + J(B) J(A)\rangle / 2 = N\,\mathrm{Tr}(R^{(1)} \{A, B\}/2)
+ N(N-1)\,\mathrm{Tr}(R^{(2)}\, (A \otimes B + B \otimes A)/2)$.
"""

from __future__ import annotations

import numpy as np

from ..operators import pauli

__all__ = ["collective_covariance", "spin_covariance", "wineland_squeezing"]


def _spin():
    P = pauli()
    return np.stack([P["x"], P["y"], P["z"]]) / 2


def collective_covariance(R1: np.ndarray, R2: np.ndarray, N: int, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Means $\langle J(A_a)\rangle$ (..., k) and symmetrised covariances
    $\mathrm{Cov}(J(A_a), J(A_b))$ (..., k, k) of the collective operators of the Hermitian
    one-body `ops` (k, d, d), from marginals R1 (..., d, d) and R2 (..., d^2, d^2) (leading axes,
    e.g. time, broadcast)."""
    d = ops.shape[-1]
    mean = N * np.einsum("...ij,aji->...a", R1, ops).real
    anti = np.einsum("aij,bjk->abik", ops, ops)
    anti = (anti + anti.transpose(1, 0, 2, 3)) / 2                       # {A_a, A_b} / 2
    one = N * np.einsum("...ij,abji->...ab", R1, anti).real
    pair = np.einsum("aij,bkl->abikjl", ops, ops).reshape(len(ops), len(ops), d * d, d * d)   # A_a (x) A_b
    two = N * (N - 1) * np.einsum("...ij,abji->...ab", R2, pair).real
    second = one + (two + np.swapaxes(two, -1, -2)) / 2
    return mean, second - mean[..., :, None] * mean[..., None, :]


def spin_covariance(R1: np.ndarray, R2: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    r"""`collective_covariance` of the collective spin $J_a = \sum_j \sigma^{(j)}_a / 2$ (qubits)."""
    return collective_covariance(R1, R2, N, _spin())


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
