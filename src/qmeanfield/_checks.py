"""Validation helpers shared by Model, states and engines. Each raises a named error."""

from __future__ import annotations

import numpy as np

from .errors import QMeanFieldError


def as_square_matrix(x, field: str, dim: int | None = None, error=QMeanFieldError) -> np.ndarray:
    """Convert to a complex square matrix, checking shape (and dimension if given)."""
    try:
        A = np.array(x, dtype=complex)
    except (TypeError, ValueError) as exc:
        raise error(f"{field} must be a numeric matrix; could not convert it ({exc})") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise error(f"{field} must be a square matrix, got an array of shape {A.shape}")
    if dim is not None and A.shape[0] != dim:
        raise error(f"{field} must have shape ({dim}, {dim}), got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise error(f"{field} contains NaN or infinite entries")
    return A


def hermiticity_defect(A: np.ndarray) -> float:
    return float(np.max(np.abs(A - A.conj().T))) if A.size else 0.0


def require_hermitian(A: np.ndarray, field: str, error=QMeanFieldError, rtol: float = 1e-10) -> np.ndarray:
    """Raise if ``A`` is not Hermitian to ``rtol`` relative to its largest entry; return (A + A^+)/2."""
    defect = hermiticity_defect(A)
    scale = max(1.0, float(np.max(np.abs(A))) if A.size else 1.0)
    if defect > rtol * scale:
        raise error(
            f"{field} is not Hermitian (max |{field} - {field}^+| = {defect:.3g}); "
            f"pass a Hermitian matrix, e.g. ({field} + {field}^+)/2"
        )
    return (A + A.conj().T) / 2
