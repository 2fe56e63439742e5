"""The Lindblad generator on Schur-Weyl blocks, assembled as a sparse matrix (used by the
permutational engine for the dynamics and by the steady-state solver).

See `qmeanfield.engines.permutational` for the block form of the generator: terms inside a
block (Hamiltonian, anticommutator, collective jumps) and the one-body sandwich moving one box
through the branching isometries. `block_liouvillian` writes every term as triplets at its
block position (`_Triplets`, in row groups, optionally on windows of the blocks or in real
coordinates) and builds the CSR matrix once.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from .._parallel import return_freed_memory
from .collective import block_hamiltonian
from .irreps import Irrep, branching_isometry, log_multiplicity, partitions
from .space import BlockSpace, BlockWindows

__all__ = ["block_liouvillian", "no_jump_block"]


class _Triplets:
    """The generator's nonzeros as COO triplets, gathered by the block of their rows; the rows
    of blocks marked complete (`done`) become CSR pieces (duplicates summed; optionally in
    the real coordinates of `BlockSpace.to_real`) once `CHUNK` triplets wait, so the
    assembly's transient copies never exceed one group's and the triplets of finished blocks
    are not kept (the peak is the finished matrix plus one group)."""

    #: complex triplets turned into CSR rows at once
    CHUNK = 2**19
    #: block-state sizes from which the CSR pieces are made on two more threads while the next
    #: blocks' triplets are computed (SciPy's and NumPy's array work releases the GIL; the pieces
    #: cost about twice the triplets: with one piece thread the main thread waited 4.6 of 10 s
    #: at N = 300, general jumps; with two, N = 300 takes 9 s instead of 14, peak 1.81 / 1.67 GiB)
    PIPELINE_MIN = 200_000
    #: CSR pieces waiting or being made at most (bounds the assembly's transient memory)
    PENDING_MAX = 3

    def __init__(self, space: BlockSpace, real: bool, threads: int = 1, windows: BlockWindows | None = None,
                 columns: BlockWindows | None = None):
        if real and windows is not None:
            raise ValueError("the generator on windows is complex only")
        if columns is not None and (windows is None or not windows.contains(columns)):
            raise ValueError("column windows need row windows that contain them")
        self.space, self.real = space, real
        self.offsets = space.offsets
        # rows: every entry, or the windows' entries; columns: the same, or smaller windows
        self.rows_w, self.cols_w = windows, columns if columns is not None else windows
        self.square = columns is None
        self.layout = space.offsets if windows is None else windows.offsets
        self.n_out = space.size if windows is None else windows.size
        self.n_cols = space.size if windows is None else self.cols_w.size
        #: nonzero terms dropped because their row lies outside the row windows (rectangular only)
        self.escaped = 0
        self.parts: dict[int, list] = {}
        self.complete: list[int] = []
        self.waiting = 0
        self.pieces: dict[int, sp.csr_matrix] = {}
        self._pool = ThreadPoolExecutor(2) if threads > 1 and self.n_out >= self.PIPELINE_MIN else None
        self._pending: list = []

    def _add(self, i: int, r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        self.parts.setdefault(i, []).append((r, c, v))

    def _cut(self, i: int, j: int, rows: np.ndarray, cols: np.ndarray):
        """Which entries of a factor of block (i, j) to keep: column in block j's column window
        (and, for the square generator, row in block i's window); everything without windows."""
        if self.rows_w is None:
            return slice(None)
        keep = self.cols_w.local[j][cols] >= 0
        if self.square:
            keep &= self.rows_w.local[i][rows] >= 0
        return keep

    def kron(self, i: int, j: int, A, B, coef: complex = 1.0) -> None:
        """Add coef * kron(A, B) (A, B sparse) at block (i, j)."""
        A, B = A.tocoo(), B.tocoo()
        self.kron_entries(i, j, (A.row, A.col, A.data), (B.row, B.col, B.data), B.shape, coef)

    def kron_entries(self, i: int, j: int, a, b, b_shape, coef: complex = 1.0) -> None:
        """`kron` of two matrices given by their (rows, cols, values), B of shape `b_shape`
        (A and B both map block j's index to block i's)."""
        (ar, ac, av), (br, bc, bv) = a, b
        ka, kb = self._cut(i, j, ar, ac), self._cut(i, j, br, bc)
        # int64 before the products: a block's local index n^2 may pass int32 for large blocks
        ar, ac, av = ar[ka].astype(np.int64), ac[ka].astype(np.int64), av[ka]
        br, bc, bv = br[kb].astype(np.int64), bc[kb].astype(np.int64), bv[kb]
        vals = coef * av[:, None] * bv[None, :]
        if self.rows_w is None:
            nb_r, nb_c = b_shape
            r = (ar[:, None] * nb_r + br[None, :]).ravel() + self.offsets[i]
            c = (ac[:, None] * nb_c + bc[None, :]).ravel() + self.offsets[j]
            self._add(i, r, c, vals.ravel())
            return
        # each entry pairs A's (row, col) with B's: rows (ar x br), columns (ac x bc) entrywise
        pa, pb = self.rows_w.local[i][ar], self.rows_w.local[i][br]
        qa, qb = self.cols_w.local[j][ac], self.cols_w.local[j][bc]
        r = pa[:, None] * self.rows_w.dims[i] + pb[None, :] + self.rows_w.offsets[i]
        c = qa[:, None] * self.cols_w.dims[j] + qb[None, :] + self.cols_w.offsets[j]
        inside = (pa >= 0)[:, None] & (pb >= 0)[None, :]
        if not inside.all():                       # rows beyond the row windows (rectangular only)
            self.escaped += int(np.count_nonzero(vals[~inside]))
            r, c, vals = r[inside], c[inside], vals[inside]
        self._add(i, r.ravel(), c.ravel(), vals.ravel())

    def kron_identity(self, i: int, X, n: int, left: bool) -> None:
        """Add kron(X, 1_n) (`left`) or kron(1_n, X) at diagonal block i."""
        X = X.tocoo()
        keep = self._cut(i, i, X.row, X.col)
        xr, xc, xv = X.row[keep].astype(np.int64), X.col[keep].astype(np.int64), X.data[keep]
        k = np.arange(n, dtype=np.int64) if self.rows_w is None else self.cols_w.rows[i]
        ones = np.ones(k.size)
        if left:      # rows (xr, k), columns (xc, k)
            self.kron_entries(i, i, (xr, xc, xv), (k, k, ones), (n, n))
        else:         # rows (k, xr), columns (k, xc)
            self.kron_entries(i, i, (k, k, ones), (xr, xc, xv), (n, n))

    def done(self, i: int) -> None:
        """Block i's rows have all their terms."""
        self.complete.append(i)
        self.waiting += sum(r.size for r, _, _ in self.parts.get(i, ()))
        if self.waiting >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        """Turn the complete blocks' triplets into CSR pieces, one per run of consecutive blocks
        (on the piece threads, if any: at most `PENDING_MAX` runs wait there, bounding the memory)."""
        blocks = sorted(self.complete)
        self.complete, self.waiting = [], 0
        runs = np.split(blocks, np.flatnonzero(np.diff(blocks) != 1) + 1) if blocks else []
        for run in runs:
            lo, hi = int(self.layout[run[0]]), int(self.layout[run[-1] + 1])
            trip = [t for b in run for t in self.parts.pop(int(b), ())]
            if self._pool is None:
                self.pieces[int(run[0])] = self._piece(lo, hi, trip)
                continue
            while len(self._pending) >= self.PENDING_MAX:
                key, future = self._pending.pop(0)
                self.pieces[key] = future.result()
            self._pending.append((int(run[0]), self._pool.submit(self._piece, lo, hi, trip)))
            del trip

    def _piece(self, lo: int, hi: int, trip: list) -> sp.csr_matrix:
        """The CSR rows lo:hi from their triplets (duplicates summed)."""
        if not trip:
            return sp.csr_matrix((hi - lo, self.n_cols), dtype=float if self.real else complex)
        rows, cols, vals = (np.concatenate(x) for x in zip(*trip))
        trip.clear()
        vals = vals.astype(complex, copy=False)
        if self.real:
            rows, cols, vals = self.space.real_triplets(rows, cols, vals)
        M = sp.csr_matrix((vals, (rows - lo, cols)), shape=(hi - lo, self.n_cols))
        del rows, cols, vals
        M.sum_duplicates()
        M.eliminate_zeros()
        # summing duplicates leaves views of the (about 2x longer) triplet-sized buffers: copy
        # them compact so those buffers are freed
        return M.copy()

    def _finish_pending(self) -> None:
        try:
            for key, future in self._pending:
                self.pieces[key] = future.result()
        finally:
            self._pending = []
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def matrix(self) -> sp.csr_matrix:
        """The CSR matrix of every block (all must be complete)."""
        try:
            self._flush()
        finally:
            self._finish_pending()
        if sum(p.shape[0] for p in self.pieces.values()) != self.n_out:
            raise RuntimeError("generator assembly: some blocks were never completed")
        keys = sorted(self.pieces)
        if len(keys) == 1:
            return self.pieces.pop(keys[0])
        # stacked piece by piece into preallocated arrays, each piece freed once copied
        # (sp.vstack would hold every piece and the result at once)
        nnz = sum(p.nnz for p in self.pieces.values())
        index = np.int32 if max(nnz, self.n_out, self.n_cols) < 2**31 else np.int64
        data = np.empty(nnz, dtype=float if self.real else complex)
        indices = np.empty(nnz, dtype=index)
        indptr = np.empty(self.n_out + 1, dtype=index)
        indptr[0] = 0
        row = at = 0
        for k in keys:
            P = self.pieces.pop(k)
            data[at:at + P.nnz] = P.data
            indices[at:at + P.nnz] = P.indices
            indptr[row + 1:row + P.shape[0] + 1] = P.indptr[1:] + at
            row, at = row + P.shape[0], at + P.nnz
            del P
            return_freed_memory()
        return sp.csr_matrix((data, indices, indptr), shape=(self.n_out, self.n_cols), copy=False)


def no_jump_block(ir: Irrep, h: np.ndarray, V: np.ndarray, jumps, collective, kappa: float, hbar: float):
    r"""One block's no-jump part $A_\lambda = -iH_\lambda/\hbar - K_\lambda/2$ (sparse), with
    $K_\lambda = J(\sum_k L_k^\dagger L_k) + \kappa\sum_c J(C_c)^\dagger J(C_c)$, and the
    collective jumps $J(C_c)$ on the block. The generator acts on the block as
    $X \mapsto A X + X A^\dagger + \kappa \sum_c J(C_c) X J(C_c)^\dagger$ (+ the one-body sandwiches)."""
    d, n = ir.d, ir.dim
    K1 = sum((L.conj().T @ L for L in jumps), np.zeros((d, d), dtype=complex))
    K = ir.collective(K1) if len(jumps) else sp.csr_matrix((n, n), dtype=complex)
    JCs = [ir.collective(C) for C in collective]
    for JC in JCs:
        K = K + kappa * (JC.conj().T @ JC)
    A = (-1j / hbar) * block_hamiltonian(ir, h, V, kappa, sparse=True) - 0.5 * K
    return A.tocsr(), JCs


def _jumps_on_isometry(W: sp.csr_matrix, Ls: np.ndarray, d: int) -> sp.csr_matrix:
    r"""The columns $[(1 \otimes L_1) W, \dots, (1 \otimes L_J) W]$ side by side, from the
    entries of W (rows alpha * d + c): each gives $L_l[c', c]\,w$ at row alpha * d + c'."""
    Wc = W.tocoo()
    n_jumps = Ls.shape[0]
    alpha, c = np.divmod(Wc.row.astype(np.int64), d)
    vals = Ls[:, :, c] * Wc.data[None, None, :]                              # (J, c', entry)
    rows = np.broadcast_to(alpha[None, None, :] * d + np.arange(d)[None, :, None], vals.shape)
    cols = np.broadcast_to(np.arange(n_jumps)[:, None, None] * W.shape[1] + Wc.col[None, None, :], vals.shape)
    keep = vals != 0
    return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(W.shape[0], n_jumps * W.shape[1]))


def block_liouvillian(space: BlockSpace, h: np.ndarray, V: np.ndarray, jumps, collective, kappa: float,
                      hbar: float, real: bool = False, threads: int = 1,
                      windows: BlockWindows | None = None, columns: BlockWindows | None = None,
                      escaped: list | None = None) -> sp.csr_matrix:
    """The Lindblad generator on the concatenated blocks (sparse, row-major blocks).

    With row-major vectorisation vec(A X B) = (A kron B^T) vec(X); every term is written as
    triplets at its block position and the matrix is built once. `real`: the same map on the
    real coordinates of Hermitian blocks (`BlockSpace.to_real`), a real matrix with about
    as many nonzeros (1.1x for real models, 1.5x for complex ones at d = 2), so a product moves
    12 instead of 20 bytes per nonzero and half the vector bytes. `windows`: the generator
    restricted to the entries of the windows (rows and columns; `BlockWindows`), each
    term's factors cut to them before their Kronecker product (blocks with an empty window are
    skipped); with `columns` (windows inside those), its columns on these smaller windows
    only and its rows on `windows` - the image of the states that live in `columns`, whole
    if `windows` holds every row it reaches: the count of nonzero terms whose row lies beyond
    is appended to `escaped` (a list)."""
    d, N = space.d, space.N
    out = _Triplets(space, real, threads, windows, columns)
    cols = columns if columns is not None else windows

    def active(i: int) -> bool:
        """Block i has columns in the matrix (its terms start there)."""
        return cols is None or cols.dims[i] > 0

    def reached(i: int) -> bool:
        """Block i has rows in the matrix (terms may end there; for a rectangular one, every
        block counts, so that the terms escaping the row windows are all counted)."""
        return windows is None or columns is not None or windows.dims[i] > 0

    def finish(i: int) -> None:
        """Add block i's own terms (no-jump part, collective jumps) and mark its rows complete."""
        if not active(i):
            out.done(i)
            return
        ir = space.irrep(i)
        A, JCs = no_jump_block(ir, h, V, jumps, collective, kappa, hbar)
        for JC in JCs:
            out.kron(i, i, JC, JC.conj(), kappa)                       # kappa J(C) X J(C)^+
        out.kron_identity(i, A, ir.dim, left=True)                     # A X
        out.kron_identity(i, A.conj(), ir.dim, left=False)             # X A^+ = kron(1, (A^+)^T)
        out.done(i)

    def result() -> sp.csr_matrix:
        A = out.matrix()
        if escaped is not None:
            escaped.append(out.escaped)
        return A

    if not jumps:
        for i in range(len(space.lams)):
            finish(i)
        return result()
    # block lambda is complete once every mu = lambda - box (one per removable corner) is done
    waiting = [sum(1 for r in range(d) if lam[r] > (lam[r + 1] if r + 1 < d else 0)) for lam in space.lams]
    Ls = np.stack([np.asarray(L, dtype=complex) for L in jumps])          # (J, d, d)
    n_jumps = Ls.shape[0]
    for mu in partitions(N - 1, d):
        targets = []
        for r in range(d):
            lam = list(mu)
            lam[r] += 1
            lam = tuple(lam)
            if lam in space.index:
                targets.append(space.index[lam])
        children = []
        if any(active(j) for j in targets):
            mir = Irrep(mu)
            children = [(j, branching_isometry(mir, space.irrep(j))) for j in targets]
        logm_mu = log_multiplicity(mu)
        transposed = [W.T.tocsr() for _, W in children]
        for j_src, W_src in children:
            if not active(j_src):
                continue
            # every jump at once: column block l of LW is (1 (x) L_l) W_src, so that one sparse
            # product per destination gives M_l = W_dst^T (1 (x) L_l) W_src for all l
            LW = _jumps_on_isometry(W_src, Ls, d)
            n_src = W_src.shape[1]
            coef = math.exp(math.log(N) + logm_mu - space.logmult[j_src])
            for (j_dst, _), WT in zip(children, transposed):
                if not reached(j_dst):
                    continue
                M = (WT @ LW).tocoo()
                jump, col = np.divmod(M.col, n_src)
                for l in range(n_jumps):
                    sel = np.flatnonzero((jump == l) & (M.data != 0))
                    if sel.size:
                        m = (M.row[sel], col[sel], M.data[sel])
                        out.kron_entries(j_dst, j_src, m, (m[0], m[1], m[2].conj()), (WT.shape[0], n_src), coef)
        for j in targets:
            waiting[j] -= 1
            if waiting[j] == 0:
                finish(j)
    return result()
