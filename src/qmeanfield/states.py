r"""One-body density matrices: constructors and validation.

A density matrix is Hermitian, positive semi-definite and has trace one. The relative entropy
$H(R_N | \rho^{\otimes N})$ is finite only when $\rho$ is full rank (or the support of
$R_N$ lies inside that of $\rho^{\otimes N}$); `is_full_rank` tells which.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_square_matrix, require_hermitian
from .errors import StateError
from .operators import pauli

__all__ = ["validate_density_matrix", "thermal", "from_bloch", "is_full_rank", "pure", "maximally_mixed"]

#: the one rank criterion, used everywhere (is_full_rank, the support test of every relative
#: entropy, the dataset attribute initial_state_full_rank): an eigenvalue <= RANK_TOL counts as zero
RANK_TOL = 1e-12


def validate_density_matrix(rho, field: str = "rho0", dim: int | None = None, atol: float = 1e-8) -> np.ndarray:
    """Check that `rho` is a density matrix and return it as a Hermitian complex array.

    Raises `StateError` naming `field` when the shape is wrong, or when `rho` is not
    Hermitian, not of trace one, or has a negative eigenvalue (beyond `atol`).
    """
    R = as_square_matrix(rho, field, dim, StateError)
    R = require_hermitian(R, field, StateError, rtol=atol)
    tr = np.trace(R).real
    if abs(tr - 1.0) > atol:
        raise StateError(f"{field} must have trace one, got trace {tr:.12g}; divide it by its trace")
    w = np.linalg.eigvalsh(R)
    if w[0] < -atol:
        raise StateError(
            f"{field} is not positive semi-definite (smallest eigenvalue {w[0]:.3g}); "
            "a density matrix has non-negative eigenvalues"
        )
    return R


def is_full_rank(rho: np.ndarray, tol: float = RANK_TOL) -> bool:
    """True when every eigenvalue of `rho` exceeds `tol` (`RANK_TOL`, the criterion the
    relative entropies use for their support: `H_N` is finite for all t exactly when rho(t) is
    full rank in this sense, closed dynamics keeping the spectrum)."""
    return bool(np.linalg.eigvalsh(rho)[0] > tol)


def thermal(h0, beta: float) -> np.ndarray:
    r"""Gibbs state $e^{-\beta h_0} / \mathrm{Tr}\, e^{-\beta h_0}$ (full rank for finite beta)."""
    H = require_hermitian(as_square_matrix(h0, "h0", error=StateError), "h0", StateError)
    if isinstance(beta, (bool, np.bool_)) or not isinstance(beta, (int, float, np.integer, np.floating)):
        raise StateError(f"beta must be a number >= 0, got {beta!r}")
    if not np.isfinite(beta) or beta < 0:
        raise StateError(f"beta must be a finite number >= 0, got {beta!r}")
    w, U = np.linalg.eigh(H)                       # H is Hermitian: exp through its eigenbasis
    G = (U * np.exp(-beta * (w - w[0]))) @ U.conj().T
    G = G / np.trace(G).real
    return (G + G.conj().T) / 2


def from_bloch(x, y: float | None = None, z: float | None = None) -> np.ndarray:
    r"""Qubit state $(1 + x\sigma_x + y\sigma_y + z\sigma_z)/2$, requiring $x^2+y^2+z^2 \le 1$.

    Takes three numbers or one sequence `[x, y, z]` (as the TOML `initial.bloch`). The state is
    full rank exactly when the Bloch vector lies strictly inside the unit ball.
    """
    if y is None and z is None:
        try:
            x, y, z = x
        except (TypeError, ValueError):
            raise StateError(f"from_bloch takes x, y, z or one sequence [x, y, z], got {x!r}") from None
    for name, v in (("x", x), ("y", y), ("z", z)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v):
            raise StateError(f"from_bloch: {name} must be a finite real number, got {v!r}")
    r2 = x * x + y * y + z * z
    if r2 > 1 + 1e-12:
        raise StateError(f"Bloch vector ({x}, {y}, {z}) has length {np.sqrt(r2):.6g} > 1; scale it into the unit ball")
    p = pauli()
    return (p["id"] + x * p["x"] + y * p["y"] + z * p["z"]) / 2


def pure(psi) -> np.ndarray:
    r"""$|\psi\rangle\langle\psi|$ for a (normalised here) vector `psi`."""
    v = np.asarray(psi, dtype=complex).ravel()
    n = np.linalg.norm(v)
    if n == 0 or not np.isfinite(n):
        raise StateError("pure: the state vector must be non-zero and finite")
    v = v / n
    return np.outer(v, v.conj())


def maximally_mixed(d: int) -> np.ndarray:
    """1/d."""
    return np.eye(d, dtype=complex) / d
