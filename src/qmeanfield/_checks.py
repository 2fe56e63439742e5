"""Validation helpers shared by Model, states and engines. Each raises a named error."""

from __future__ import annotations

import numpy as np

from .errors import QMeanFieldError


#: the largest entry of an operator (its products must stay finite)
MAX_ENTRY = 1e100


def as_square_matrix(x, field: str, dim: int | None = None, error=QMeanFieldError) -> np.ndarray:
    """Convert to a complex square matrix, checking shape (and dimension if given). A QuTiP
    `Qobj` (anything with `.full()` and `.dims`) is taken as its dense matrix."""
    if hasattr(x, "full") and hasattr(x, "dims") and callable(x.full):
        x = x.full()
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
    if A.size and np.abs(A).max() > MAX_ENTRY:
        raise error(f"{field} has entries of size {np.abs(A).max():.3g}, beyond {MAX_ENTRY:g} (products of such "
                    "matrices overflow); rescale it (e.g. change the unit of energy with hbar)")
    return A


def hermiticity_defect(A: np.ndarray) -> float:
    return float(np.max(np.abs(A - A.conj().T))) if A.size else 0.0


def require_hermitian(A: np.ndarray, field: str, error=QMeanFieldError, rtol: float = 1e-10) -> np.ndarray:
    """Raise if `A` is not Hermitian to `rtol` relative to its largest entry; return (A + A^+)/2."""
    defect = hermiticity_defect(A)
    scale = max(1.0, float(np.max(np.abs(A))) if A.size else 1.0)
    if defect > rtol * scale:
        raise error(
            f"{field} is not Hermitian (max |{field} - {field}^+| = {defect:.3g}); "
            f"pass a Hermitian matrix, e.g. ({field} + {field}^+)/2"
        )
    return (A + A.conj().T) / 2


# ----------------------------------------------------------------------------- run arguments
#: the largest k of a k-particle marginal the engines report
MAX_MARGINAL = 3
#: the most output times of one run, and the largest particle number accepted anywhere
MAX_TIMES = 100_000
MAX_PARTICLES = 1_000_000
#: default limit on the time span, in periods of the model's fastest time scale (``max_periods``)
MAX_PERIODS = 1e4
#: the one default memory budget (GiB) of every engine and of the semiclassical scan
MEMORY_BUDGET_GB = 8.0


def check_times(times, field: str = "times") -> np.ndarray:
    """Times must be a non-empty, finite, strictly increasing 1-D array of values >= 0."""
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise QMeanFieldError(f"{field} must be a 1-D array of numbers") from None
    if t.ndim != 1 or t.size == 0:
        raise QMeanFieldError(f"{field} must be a non-empty 1-D array, got shape {t.shape}")
    if t.size > MAX_TIMES:
        raise QMeanFieldError(f"{field} has {t.size} points, over the limit of {MAX_TIMES}; use fewer output times")
    if not np.all(np.isfinite(t)):
        raise QMeanFieldError(f"{field} contains NaN or infinite values")
    if t[0] < 0:
        raise QMeanFieldError(f"{field} must be >= 0 (the initial state is given at t = 0), got {t[0]}")
    if np.any(np.diff(t) <= 0):
        raise QMeanFieldError(f"{field} must be strictly increasing")
    return t


def check_particle_numbers(N, field: str = "N") -> list[int]:
    """One particle number or a list of distinct integers >= 2, returned sorted."""
    if isinstance(N, (str, bytes, dict)):
        raise QMeanFieldError(f"{field} must be an integer or a list of integers >= 2, got {N!r}")
    try:
        Ns = [N] if np.isscalar(N) or N is None else list(N)
    except TypeError:
        raise QMeanFieldError(f"{field} must be an integer or a list of integers >= 2, got {N!r}") from None
    if not Ns:
        raise QMeanFieldError(f"{field} must be a non-empty list of particle numbers >= 2")
    out = []
    for n in Ns:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, float, np.integer, np.floating)) \
                or (isinstance(n, (float, np.floating)) and not np.isfinite(n)) or int(n) != n or n < 2:
            raise QMeanFieldError(f"{field} must contain integers >= 2, got {n!r}")
        if n > MAX_PARTICLES:
            raise QMeanFieldError(f"{field} = {int(n)} is over the limit of {MAX_PARTICLES} particles")
        out.append(int(n))
    if len(set(out)) != len(out):
        raise QMeanFieldError(f"{field} contains duplicates: {out}; list each particle number once")
    return sorted(out)


def check_marginals(marginals, field: str = "marginals") -> list[int]:
    """A non-empty collection of integers k in 1..MAX_MARGINAL, returned sorted and unique."""
    if isinstance(marginals, (str, bytes)) or not hasattr(marginals, "__iter__"):
        raise QMeanFieldError(f"{field} must be a list of integers in 1..{MAX_MARGINAL}, e.g. (1, 2); "
                              f"got {marginals!r}")
    ks = list(marginals)
    for k in ks:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_MARGINAL:
            raise QMeanFieldError(f"{field} must be a non-empty list of integers in 1..{MAX_MARGINAL}, "
                                  f"got {list(ks)!r}")
    if not ks:
        raise QMeanFieldError(f"{field} must not be empty; e.g. (1, 2)")
    return sorted(set(int(k) for k in ks))


# ----------------------------------------------------------------------------- engine options
def check_positive_number(value, field: str, error=QMeanFieldError) -> float:
    """A finite number > 0 (booleans and strings refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{field} must be a number > 0, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise error(f"{field} must be a finite number > 0, got {value!r}")
    return float(value)


def check_workers(value, field: str = "workers", error=QMeanFieldError) -> int | str:
    """`"auto"` or a positive integer."""
    if value == "auto":
        return "auto"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise error(f"{field} must be a positive integer or 'auto', got {value!r}")
    return int(value)


def check_choice(value, choices, field: str, error=QMeanFieldError):
    """One of `choices` (compared as given)."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"{field} must be one of {list(choices)}, got {value!r}")
    return value
