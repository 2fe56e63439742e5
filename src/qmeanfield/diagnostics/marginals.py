r"""Marginals and trace distances.

$R^{(k)} = \mathrm{Tr}_{k+1..N} R_N$, and
$\| R^{(k)} - \rho^{\otimes k} \|_1 = \sum |\text{eigenvalues}|$.
"""

from __future__ import annotations

import numpy as np

from ..operators import kron_all

__all__ = ["marginal", "trace_distance", "tensor_power", "marginal_trace_distance"]


def marginal(R_N: np.ndarray, d: int, N: int, k: int) -> np.ndarray:
    """k-particle marginal of an N-body operator on particles 1..k, shape (d^k, d^k)."""
    if not 1 <= k <= N:
        raise ValueError(f"marginal: need 1 <= k <= N, got k = {k}, N = {N}")
    dk, dr = d**k, d ** (N - k)
    return np.einsum("aibi->ab", R_N.reshape(dk, dr, dk, dr))


def trace_distance(A: np.ndarray, B: np.ndarray) -> float:
    r"""Trace norm $\|A - B\|_1$ of the difference of two Hermitian matrices (no factor 1/2)."""
    D = A - B
    return float(np.sum(np.abs(np.linalg.eigvalsh((D + D.conj().T) / 2))))


def tensor_power(rho: np.ndarray, k: int) -> np.ndarray:
    r"""$\rho^{\otimes k}$."""
    return kron_all(*([rho] * k))


def marginal_trace_distance(R_k: np.ndarray, rho: np.ndarray, k: int) -> float:
    r"""$\| R^{(k)} - \rho^{\otimes k} \|_1$."""
    return trace_distance(R_k, tensor_power(rho, k))
