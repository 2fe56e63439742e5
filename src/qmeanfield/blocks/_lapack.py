"""Eigenvalues of Hermitian blocks and triangular Sylvester solves by LAPACK calls that release the GIL.

SciPy's Python wrappers of LAPACK (`scipy.linalg.lapack`) and NumPy's `eigvalsh` keep the
GIL for the whole call, so two threads computing the eigenvalues of different blocks run one
after the other (measured: no gain on 2 cores). SciPy also exports every LAPACK routine for
compiled code (`scipy.linalg.cython_lapack`, the function pointers in its `__pyx_capi__`
capsules); a call through `ctypes` releases the GIL, so the blocks of one state split over
two threads take half the time (d = 2, blocks n = 1..201: 0.22 s -> 0.11 s on 2 cores).

`eigenvalues_function` returns `None` where the capsules are not available (another
SciPy build); the caller then keeps SciPy's wrappers.
"""

from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["eigenvalues_function", "triangular_sylvester_function"]

_P = ctypes.c_void_p
_INT = ctypes.c_int   # cython_lapack's int: LP64 (32-bit) LAPACK integers


def _routine(name: str, nargs: int):
    from scipy.linalg import cython_lapack

    capsule = cython_lapack.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    if not address:
        raise OSError(f"no address for LAPACK {name}")
    return ctypes.CFUNCTYPE(None, *([_P] * nargs))(address)


class _Eigenvalues:
    """`(A) -> w`: the eigenvalues (ascending) of a Hermitian / real symmetric, Fortran-ordered
    A (complex128 or float64; overwritten), by zheev / dsyev ("N": values only, lower triangle),
    with the optimal workspace queried once per dimension. Returns `None` when LAPACK reports
    a failure."""

    def __init__(self):
        self.zheev = _routine("zheev", 10)
        self.dsyev = _routine("dsyev", 9)
        self._work: dict[tuple[str, int], int] = {}

    def _workspace(self, kind: str, n: int) -> int:
        key = (kind, n)
        if key not in self._work:
            # lwork = -1: a workspace query (A and w are not touched)
            opt = np.zeros(1, dtype=_dtype(kind))
            self._call(kind, n, np.zeros((1, 1), dtype=_dtype(kind)), np.zeros(1), opt, -1, np.zeros(1))
            self._work[key] = max(1, int(opt[0].real))
        return self._work[key]

    def _call(self, kind: str, n: int, A: np.ndarray, w: np.ndarray, work: np.ndarray, lwork: int,
              rwork: np.ndarray) -> int:
        info, N, L = _INT(0), _INT(n), _INT(lwork)
        lda = _INT(max(1, n))
        args = [ctypes.c_char_p(b"N"), ctypes.c_char_p(b"L"), ctypes.byref(N), _P(A.ctypes.data), ctypes.byref(lda),
                _P(w.ctypes.data), _P(work.ctypes.data), ctypes.byref(L)]
        if kind == "z":
            self.zheev(*args, _P(rwork.ctypes.data), ctypes.byref(info))
        else:
            self.dsyev(*args, ctypes.byref(info))
        return info.value

    def __call__(self, A: np.ndarray) -> np.ndarray | None:
        n = A.shape[0]
        kind = "z" if A.dtype == np.complex128 else "d"
        lwork = self._workspace(kind, n)
        w = np.empty(n)
        work = np.empty(lwork, dtype=_dtype(kind))
        rwork = np.empty(max(1, 3 * n - 2)) if kind == "z" else w
        return w if self._call(kind, n, A, w, work, lwork, rwork) == 0 else None


def _dtype(kind: str):
    return np.complex128 if kind == "z" else np.float64


def eigenvalues_function():
    """The GIL-releasing eigenvalue routine (`_Eigenvalues`), or `None` where SciPy's
    compiled LAPACK exports cannot be reached."""
    try:
        return _Eigenvalues()
    except (ImportError, AttributeError, KeyError, OSError, TypeError, ValueError):   # pragma: no cover
        return None


class _TriangularSylvester:
    r"""`(Sa, Sb, C) -> scale`: LAPACK ztrsyl on C-ordered views, the GIL released.

    Solves $T_a Y + Y T_b^\dagger = \mathrm{scale}\cdot C$ in place of C for upper
    triangular $T_a, T_b$, given `Sa` = $T_a^\dagger$ and `Sb` = $T_b^\dagger$
    as C-ordered (row stride arbitrary, unit column stride) complex views. Fortran reads a C-ordered
    matrix as its transpose, so it sees $\bar T_a$, $\bar T_b$ (upper triangular) and
    $C^T$, and the transposed equation $\bar T_b Z + Z \bar T_a^\dagger = C^T$
    ($Z = Y^T$) is ztrsyl("N", "C") with A = $\bar T_b$, B = $\bar T_a$."""

    def __init__(self):
        self.ztrsyl = _routine("ztrsyl", 13)

    def __call__(self, Sa: np.ndarray, Sb: np.ndarray, C: np.ndarray) -> float:
        m, n = C.shape
        item = C.itemsize
        info, isgn, scale = _INT(0), _INT(1), ctypes.c_double(1.0)
        M, Nn = _INT(n), _INT(m)
        lda, ldb, ldc = (_INT(max(1, X.strides[0] // item)) for X in (Sb, Sa, C))
        self.ztrsyl(ctypes.c_char_p(b"N"), ctypes.c_char_p(b"C"), ctypes.byref(isgn), ctypes.byref(M),
                    ctypes.byref(Nn), _P(Sb.ctypes.data), ctypes.byref(lda), _P(Sa.ctypes.data), ctypes.byref(ldb),
                    _P(C.ctypes.data), ctypes.byref(ldc), ctypes.byref(scale), ctypes.byref(info))
        if info.value < 0:   # pragma: no cover - an argument error is a bug here
            raise ValueError(f"ztrsyl: argument {-info.value} illegal")
        return scale.value


def triangular_sylvester_function():
    """The GIL-releasing triangular Sylvester routine (`_TriangularSylvester`), or `None`
    where SciPy's compiled LAPACK exports cannot be reached."""
    try:
        return _TriangularSylvester()
    except (ImportError, AttributeError, KeyError, OSError, TypeError, ValueError):   # pragma: no cover
        return None
