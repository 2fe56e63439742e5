r"""Solves of $A X + X A^\dagger = C$ for one fixed square A, many right-hand sides C.

The steady-state preconditioner inverts each block's no-jump part this way
(`NoJumpPreconditioner`). Two methods:

- **eigen**: $A = V D V^{-1}$, $X = V\,[(V^{-1} C V^{-\dagger}) / (D_i + \bar D_j)]\,V^\dagger$,
  four matrix products. Exact in exact arithmetic, but the eigenvectors of the blocks' no-jump
  parts are exponentially ill-conditioned in the block dimension (they are an irrep of a
  non-unitary 2 x 2 matrix): at d = 2 on the README's open model, cond(V) is 3e7 at n = 161,
  4e11 at n = 241 and 7e14 at n = 321, and the relative residual of the computed X is 9e-4,
  2e4 and 3e11 - the last two are not inverses at all.
- **schur**: Bartels-Stewart with the complex Schur form $A = Q T Q^\dagger$ (backward
  stable): $T Y + Y T^\dagger = Q^\dagger C Q$ is solved by a recursion that splits the
  larger side in two and updates the other half by one matrix product, down to blocks of
  `LEAF`, solved by a small compiled kernel (`_leaf`, Numba, GIL released; LAPACK's
  ztrsyl through `ctypes` where Numba is missing); then $X = Q Y Q^\dagger$. Relative
  residual ~1e-15 at every n measured; one solve at n = 241 takes 12-16 ms against 5-7 ms for
  the eigen method (one thread; 24 ms with ztrsyl leaves, whose level-2 loops took 11 of them).

`BlockLyapunov` tries the eigen method and keeps it when a test solve meets
`EIGEN_MAX_RESIDUAL`; otherwise it takes the Schur method.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg.lapack import ztrsyl

from ._lapack import triangular_sylvester_function

__all__ = ["BlockLyapunov", "triangular_sylvester", "EIGEN_MAX_RESIDUAL"]

#: largest relative residual :math:`\|AX + XA^\dagger - C\|_F / \|C\|_F` of the eigen method's
#: test solve (C Gaussian) that keeps it. A preconditioner this inexact in some blocks costs no
#: iterations (README's open model: N = 160, its n = 161 block at 9e-4, 210 iterations either
#: way; N = 240, 370 iterations with blocks up to 1e-3 or up to 1e-1 on the eigen method, the
#: latter 9 % faster); blocks at 0.4-4 cost 15 % more at N = 200 (300 iterations against 260),
#: and at N = 240 (up to 2e4) over twice as many
EIGEN_MAX_RESIDUAL = 1e-1
#: side up to which the triangular recursion solves a block directly (n = 241, compiled leaf:
#: 6.1 / 7.3 / 13.3 / 10.1 ms for 32 / 48 / 64 / 16; with ztrsyl 13.8 ms at best)
LEAF = 32

_TRSYL = triangular_sylvester_function()


def triangular_sylvester(Ta: np.ndarray, Tb: np.ndarray, C: np.ndarray) -> np.ndarray:
    r"""Y with $T_a Y + Y T_b^\dagger = C$, $T_a$ (m x m) and $T_b$ (n x n) upper
    triangular complex (their spectra must not meet the negated conjugate's: $T_{a,ii} +
    \bar T_{b,jj} \ne 0$). Recursive, matrix products for the bulk of the work."""
    Ta, Tb = np.asarray(Ta, dtype=complex), np.asarray(Tb, dtype=complex)
    Y = np.array(C, dtype=complex, order="C")
    _solve(Ta, np.ascontiguousarray(Ta.conj().T), Tb, np.ascontiguousarray(Tb.conj().T), Y, _leaf_kernel())
    return Y


def _leaf(Ta: np.ndarray, Tb: np.ndarray, C: np.ndarray) -> None:  # pragma: no cover - run compiled
    r"""C <- Y of $T_a Y + Y T_b^\dagger = C$ for small blocks, row by row from the last:
    row i takes the rows below through $T_a$ (a vector-matrix product), then its own entries
    from the last by back substitution with $\bar T_b + T_{a,ii}$. Compiled by Numba
    (`_leaf_kernel`); every inner loop runs along rows of C-ordered arrays."""
    m, n = C.shape
    r = np.empty(n, dtype=np.complex128)
    for i in range(m - 1, -1, -1):
        for k in range(n):
            r[k] = C[i, k]
        for l in range(i + 1, m):
            a = Ta[i, l]
            for k in range(n):
                r[k] -= a * C[l, k]
        tii = Ta[i, i]
        for k in range(n - 1, -1, -1):
            acc = r[k]
            for l in range(k + 1, n):
                acc -= C[i, l] * np.conj(Tb[k, l])
            C[i, k] = acc / (tii + np.conj(Tb[k, k]))


@functools.cache
def _leaf_kernel():
    """The compiled `_leaf` (Numba, GIL released, cached on disk), or `None` without Numba
    (then LAPACK's ztrsyl takes the leaves: 2x slower in all, n = 241). Numba is imported when
    the first block takes the Schur route, not with the package."""
    try:
        import numba
    except ImportError:   # pragma: no cover - numba is a dependency
        return None
    return numba.njit(cache=True, nogil=True)(_leaf)


def _solve(Ta: np.ndarray, Sa: np.ndarray, Tb: np.ndarray, Sb: np.ndarray, C: np.ndarray, kernel) -> None:
    """C <- Y of `Ta Y + Y Tb^+ = C` in place (Sa, Sb: the conjugate transposes, C-ordered;
    `kernel`: the compiled leaf solver, or None for ztrsyl)."""
    m, n = C.shape
    if m <= LEAF and n <= LEAF:
        if kernel is not None:
            kernel(Ta, Tb, C)
            return
        if _TRSYL is not None:
            scale = _TRSYL(Sa, Sb, C)
        else:   # pragma: no cover - SciPy builds without the compiled exports
            Y, scale, _ = ztrsyl(Ta, Tb, C, trana="N", tranb="C")
            C[...] = Y
        if scale != 1.0:
            C /= scale
        return
    if m >= n:
        # Ta = [[A1, A12], [0, A2]]: A2 Y2 + Y2 Tb^+ = C2, then A1 Y1 + Y1 Tb^+ = C1 - A12 Y2
        h = m // 2
        _solve(Ta[h:, h:], Sa[h:, h:], Tb, Sb, C[h:], kernel)
        C[:h] -= Ta[:h, h:] @ C[h:]
        _solve(Ta[:h, :h], Sa[:h, :h], Tb, Sb, C[:h], kernel)
    else:
        # Tb^+ = [[B1^+, 0], [B12^+, B2^+]]: the right half first, then C1 - Y2 B12^+
        h = n // 2
        _solve(Ta, Sa, Tb[h:, h:], Sb[h:, h:], C[:, h:], kernel)
        C[:, :h] -= C[:, h:] @ Sb[h:, :h]
        _solve(Ta, Sa, Tb[:h, :h], Sb[:h, :h], C[:, :h], kernel)


class BlockLyapunov:
    r"""Solver of $A X + X A^\dagger = C$ for one square A (dense or sparse) and any C.

    `method` is `"eigen"` when the eigendecomposition solves a Gaussian test C to
    `max_residual` (default `EIGEN_MAX_RESIDUAL`), else `"schur"` (see the module's notes). A must have no two
    eigenvalues with $\lambda_i + \bar\lambda_j = 0$ (a stable A, as here, has none)."""

    def __init__(self, A, max_residual: float | None = None):
        max_residual = EIGEN_MAX_RESIDUAL if max_residual is None else max_residual
        dense = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=complex)
        n = dense.shape[0]
        self.n = n
        self.method = "schur"
        try:
            D, V = np.linalg.eig(dense)
            Vi = np.linalg.inv(V)
        except np.linalg.LinAlgError:
            V = None
        if V is not None and np.isfinite(Vi).all():
            self._eigen = (V, Vi, 1.0 / (D[:, None] + D.conj()[None, :]))
            rng = np.random.default_rng(0)
            C = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
            X = self._solve_eigen(C)
            # X A^+ = (A X^+)^+: two products with A, sparse when A is
            residual = np.linalg.norm(A @ X + (A @ X.conj().T).conj().T - C) / np.linalg.norm(C)
            if residual <= max_residual:
                self.method = "eigen"
        if self.method == "schur":
            self._eigen = None
            T, Q = scipy.linalg.schur(dense, output="complex")
            self._schur = (T, np.ascontiguousarray(T.conj().T), Q, np.ascontiguousarray(Q.conj().T))
            self._kernel = _leaf_kernel()

    @property
    def eigen_factors(self):
        r"""(V, V^-1, G) of the eigen method, $X = V [(V^{-1} C V^{-\dagger}) \circ G] V^\dagger$
        (for solving several blocks of one size at once), or None on the Schur route."""
        return self._eigen if self.method == "eigen" else None

    def _solve_eigen(self, C: np.ndarray) -> np.ndarray:
        V, Vi, G = self._eigen
        return V @ ((Vi @ C @ Vi.conj().T) * G) @ V.conj().T

    def solve(self, C: np.ndarray) -> np.ndarray:
        """X for one right-hand side C (n x n; not modified)."""
        if self.method == "eigen":
            return self._solve_eigen(C)
        T, S, Q, Qh = self._schur
        Y = Qh @ C @ Q
        _solve(T, S, T, S, Y, self._kernel)
        return Q @ Y @ Qh
