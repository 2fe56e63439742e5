r"""The Schur-Weyl blocks of N particles in C^d and block-diagonal symmetric states on them.

`BlockSpace` lists the Young diagrams $\lambda$ (N boxes, at most d rows), their
$\mathfrak{gl}(d)$ irreps (built on first use), multiplicities and the layout of a state
vector of concatenated row-major blocks $P_\lambda$. It serves the permutational engine,
the steady-state solver and the certificate alike. `BlockMeasurement` takes entropy,
trace, positivity and collective moments of such states, time by time.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp

from .._parallel import SharedThreads
from ._lapack import eigenvalues_function
from .collective import moments_to_marginals
from .irreps import Irrep, gt_weights, log_multiplicity, log_vector_weights, partitions, weyl_dimension

__all__ = ["BlockSpace", "BlockWindows", "BlockMeasurement", "block_entropy", "measure_windows"]

#: factors u, w of the real coordinates by entry kind (diagonal, above, below the diagonal):
#: z = Re(u x) and x = w (z + i z_mirror) (see BlockSpace.to_real, real_triplets)
_TO_REAL = np.array([1.0, np.sqrt(2.0), 1j * np.sqrt(2.0)])
_FROM_REAL = np.array([1.0 / (1.0 + 1j), 1.0 / np.sqrt(2.0), -1j / np.sqrt(2.0)])
#: blocks with at least this many entries are converted from real coordinates one by one
COMPLEX_BLOCK_MIN = 4096
#: state vectors converted from real coordinates and their higher moments taken on several
#: threads from this many entries (d = 2: N ~ 110)
THREADED_STATE_MIN = 200_000


class BlockSpace:
    """The blocks lambda of N particles in C^d, their irreps and the layout of the state vector.

    Irreps are constructed lazily (`irrep`), so a caller that visits a few blocks of a
    large N (the certificate) does not pay for all of them.
    """

    def __init__(self, N: int, d: int):
        self.N, self.d = N, d
        self.lams = partitions(N, d)
        self.index = {lam: i for i, lam in enumerate(self.lams)}
        self._irreps: dict[int, Irrep] = {}
        self._moments: dict[int, tuple] = {}
        self._hermitian: tuple[np.ndarray, np.ndarray] | None = None
        self._first_map: sp.csr_matrix | None = None
        self._diagonal: np.ndarray | None = None
        self.dims = np.array([weyl_dimension(lam) for lam in self.lams])
        self.sizes = self.dims**2
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.size = int(self.offsets[-1])
        self.logmult = np.array([log_multiplicity(lam) for lam in self.lams])

    def irrep(self, i: int) -> Irrep:
        """The irrep of block i (built once)."""
        if i not in self._irreps:
            self._irreps[i] = Irrep(self.lams[i])
        return self._irreps[i]

    def moment_operators(self, i: int):
        """For block i (built once): the generators stacked, `[J_1; ...; J_{d^2}]` (sparse,
        (d^2 n) x n), and the trace map T (sparse, d^2 x n^2) with `T @ A.ravel() = [tr(J_x A)]_x`."""
        if i not in self._moments:
            J = self.irrep(i).generators()
            n = J[0].shape[0]
            coo = [M.tocoo() for M in J]
            label = np.concatenate([np.full(m.nnz, x) for x, m in enumerate(coo)])
            cols = np.concatenate([m.col * n + m.row for m in coo])           # tr(J A) = sum J_rc A_cr
            vals = np.concatenate([m.data for m in coo])
            trace = sp.csr_matrix((vals, (label, cols)), shape=(len(J), n * n))
            self._moments[i] = (sp.vstack(J, format="csr"), trace)
        return self._moments[i]

    def first_moment_map(self) -> sp.csr_matrix:
        """The trace maps of every block side by side (built once): ``T @ x = [sum_lambda
        tr(J_x P_lambda)]_x`` for a whole state vector x, one sparse product per time."""
        if self._first_map is None:
            rows, cols, vals = [], [], []
            for i in range(len(self.lams)):
                T = self.moment_operators(i)[1].tocoo()
                rows.append(T.row)
                cols.append(T.col.astype(np.int64) + int(self.offsets[i]))
                vals.append(T.data)
            self._first_map = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                            shape=(self.d * self.d, self.size))
        return self._first_map

    @property
    def irreps(self) -> list[Irrep]:
        """Every block's irrep, in the order of `lams`."""
        return [self.irrep(i) for i in range(len(self.lams))]

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        """The blocks P_lambda of a state vector (views)."""
        return [x[self.offsets[i]:self.offsets[i + 1]].reshape(n, n) for i, n in enumerate(self.dims)]

    def hermitian_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Per entry of a state vector (built once): its kind (0 diagonal, 1 above, 2 below the
        diagonal of its block) and the position of its mirror entry (k, l) -> (l, k)."""
        if self._hermitian is None:
            blk = np.repeat(np.arange(len(self.dims)), self.sizes)
            n = self.dims[blk]
            start = self.offsets[:-1][blk]
            k, l = np.divmod(np.arange(self.size) - start, n)
            kind = np.where(k == l, 0, np.where(k < l, 1, 2)).astype(np.int8)
            index = np.int32 if self.size < 2**31 else np.int64
            self._hermitian = (kind, (start + l * n + k).astype(index))
        return self._hermitian

    def to_real(self, x: np.ndarray) -> np.ndarray:
        r"""The real coordinates of a state vector of Hermitian blocks in the orthonormal basis
        $E_{kk}$, $(E_{kl} + E_{lk})/\sqrt2$, $i(E_{kl} - E_{lk})/\sqrt2$ (k < l):
        $z_{kk} = P_{kk}$, $z_{kl} = \sqrt2\,\mathrm{Re} P_{kl}$,
        $z_{lk} = \sqrt2\,\mathrm{Im} P_{kl}$ (same length and layout)."""
        kind, _ = self.hermitian_layout()
        return (x * _TO_REAL[kind]).real

    def to_complex(self, z: np.ndarray, workers: SharedThreads | None = None) -> np.ndarray:
        r"""The state vector of the real coordinates z (inverse of `to_real`): every block
        exactly Hermitian, $P_{kl} = (z_{kl} + i z_{lk})/\sqrt2$ for k < l. Runs of blocks
        below `COMPLEX_BLOCK_MIN` entries in one gather through the mirror positions (at d = 2,
        N = 80: 1.05 ms against 1.94 ms block by block), larger blocks one by one (their
        transposes in cache: 20 ms against 25 ms for the gather at N = 200). `workers`: the
        blocks in runs of about equal size, taken by its threads as they are free (NumPy releases
        the GIL in these copies), from `THREADED_STATE_MIN` entries."""
        x = np.empty(self.size, dtype=complex)
        if workers is None or workers.threads == 1 or self.size < THREADED_STATE_MIN:
            self._to_complex_blocks(z, x, 0, len(self.dims))
            return x
        cuts = np.searchsorted(self.offsets, np.linspace(0, self.size, 4 * workers.threads + 1)[1:-1])
        bounds = [0, *sorted(set(int(c) for c in cuts) - {0, len(self.dims)}), len(self.dims)]
        workers.map(lambda run: self._to_complex_blocks(z, x, *run), zip(bounds[:-1], bounds[1:]))
        return x

    def _to_complex_blocks(self, z: np.ndarray, x: np.ndarray, first: int, stop: int) -> None:
        """`to_complex` of the blocks first .. stop - 1, written into x."""
        kind, mirror = self.hermitian_layout()
        r2 = 1.0 / np.sqrt(2.0)
        small = self.sizes < COMPLEX_BLOCK_MIN
        i = first
        while i < stop:
            a = int(self.offsets[i])
            if small[i]:
                j = i
                while j < stop and small[j]:
                    j += 1
                b = int(self.offsets[j])
                part = x[a:b]
                part.real = z[a:b]
                part.imag = z[mirror[a:b]]
                part *= _FROM_REAL[kind[a:b]]        # x = w (z + i z_mirror), exact for every kind
                i = j
                continue
            n = int(self.dims[i])
            Z = z[a:a + n * n].reshape(n, n)
            P = x[a:a + n * n].reshape(n, n)
            U, L = np.triu(Z, 1), np.tril(Z, -1)
            P.real = U + U.T
            P.real *= r2
            P.real[np.diag_indices(n)] = np.diagonal(Z)
            P.imag = L.T - L
            P.imag *= r2
            i += 1

    def hermitian_blocks(self, z: np.ndarray) -> list[np.ndarray]:
        """The blocks P_lambda (complex, exactly Hermitian) of the real coordinates z: views of
        `to_complex`."""
        return self.split(self.to_complex(z))

    def real_triplets(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray):
        r"""A complex linear map given by triplets that keeps the blocks Hermitian, in the real
        coordinates of `to_real`: with $x_c = w_c (z_c + i z_{\bar c})$ and
        $z_r = \mathrm{Re}(u_r x_r)$, each entry g gives $\mathrm{Re}(u_r g w_c)$ at
        (r, c) and $-\mathrm{Im}(u_r g w_c)$ at (r, mirror c)."""
        kind, mirror = self.hermitian_layout()
        q = _TO_REAL[kind[rows]] * vals * _FROM_REAL[kind[cols]]
        return (np.concatenate([rows, rows]), np.concatenate([cols, mirror[cols]]),
                np.concatenate([q.real, -q.imag]))

    def diagonal_positions(self) -> np.ndarray:
        """The positions of the blocks' diagonal entries in a state vector (built once)."""
        if self._diagonal is None:
            self._diagonal = np.concatenate([self.offsets[i] + np.arange(n) * (n + 1) for i, n in enumerate(self.dims)])
        return self._diagonal

    def trace_row(self) -> np.ndarray:
        """The row vector whose product with a state vector is its trace, sum_lambda tr P_lambda."""
        row = np.zeros(self.size, dtype=complex)
        row[self.diagonal_positions()] = 1.0
        return row

    def product_state_vector(self, rho: np.ndarray) -> np.ndarray:
        r"""Vector of $\rho^{\otimes N}$. With $\rho = W \mathrm{diag}(p) W^\dagger$, block
        $\lambda$ is $U_\lambda D_\lambda U_\lambda^\dagger$: $D_\lambda$ diagonal with
        $\dim S_\lambda \prod_a p_a^{w_a}$ (0^0 = 1, so pure states are exact) and
        $U_\lambda$ the irrep of the unitary W (`irrep_unitaries`)."""
        p, W = np.linalg.eigh((rho + rho.conj().T) / 2)
        p, W = np.clip(p[::-1], 0.0, None), W[:, ::-1]
        p = p / p.sum()
        x = np.zeros(self.size, dtype=complex)
        logw = self.product_log_weights(p)
        for i, U in enumerate(self.irrep_unitaries(W)):
            w = np.exp(logw[i])
            x[self.offsets[i]:self.offsets[i + 1]] = ((U * w[None, :]) @ U.conj().T).reshape(-1)
        return x

    def product_log_weights(self, p: np.ndarray) -> list[np.ndarray]:
        r"""Per block, the log of the diagonal of $\mathrm{diag}(p)^{\otimes N}$ in the
        Gelfand-Tsetlin basis (a weight basis, so the block is diagonal): $\log \dim S_\lambda +
        \sum_a w_a \log p_a$, with 0 log 0 = 0 (-inf where a zero p_a is raised to a positive power)."""
        with np.errstate(divide="ignore"):
            logp = np.log(np.asarray(p, dtype=float))
        return [log_vector_weights(gt_weights(lam), self.logmult[i], logp) for i, lam in enumerate(self.lams)]

    def irrep_unitaries(self, W: np.ndarray, which=None):
        r"""Yield, block by block, $U_\lambda = \exp J_\lambda(\log W)$, the irrep of the
        unitary W ($W^{\otimes N}$ restricted to the block), from the eigendecomposition of the
        Hermitian $-iJ_\lambda(\log W) = V\theta V^\dagger$ as $V e^{i\theta} V^\dagger$
        (d = 2, n = 401: 9x faster than `expm`, whose scaling and squaring grows with the norm,
        about N; the same matrix to 3e-14). `which`: these blocks only (default all)."""
        theta, Q = scipy.linalg.schur(np.asarray(W, dtype=complex), output="complex")   # W = Q diag(e^{i phi}) Q^+
        logW = (Q * (1j * np.angle(np.diag(theta)))[None, :]) @ Q.conj().T
        for i in (range(len(self.lams)) if which is None else which):
            ir = self.irrep(i)
            theta, V = np.linalg.eigh(-1j * ir.collective(logW).toarray())
            yield (V * np.exp(1j * theta)[None, :]) @ V.conj().T


class BlockWindows:
    """A square window of each block of a `BlockSpace`: rows `rows[i]` (sorted indices;
    the window holds the entries (a, b) with a and b in it, row-major) - a smaller state vector
    of the windows' entries only, laid out block after block like the full one.

    `dims`, `offsets`, `size`: that layout; `local[i]`: block i's row -> its place in the
    window (-1 outside). Nothing here is as long as the whole state vector (`keep` and
    `pad`, which are, are made on demand).
    """

    def __init__(self, space: BlockSpace, rows: list[np.ndarray]):
        if len(rows) != len(space.dims):
            raise ValueError(f"one window per block: {len(space.dims)} expected, got {len(rows)}")
        self.space = space
        self.rows = [np.unique(np.asarray(r, dtype=np.int64)) for r in rows]
        self.dims = np.array([r.size for r in self.rows], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.dims**2)])
        self.size = int(self.offsets[-1])
        self.local = []
        for r, n in zip(self.rows, space.dims):
            pos = np.full(n, -1, dtype=np.int64)
            pos[r] = np.arange(r.size)
            self.local.append(pos)

    def contains(self, other: BlockWindows) -> bool:
        """Whether every window of `other` (same space) lies in this one's."""
        return all(np.all(pos[r] >= 0) for pos, r in zip(self.local, other.rows))

    def positions_in(self, other: BlockWindows) -> np.ndarray:
        """Where this layout's entries sit in `other`'s (which must contain it)."""
        out = []
        for i, r in enumerate(self.rows):
            if r.size:
                p = other.local[i][r]
                out.append((other.offsets[i] + p[:, None] * other.dims[i] + p[None, :]).ravel())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    @property
    def keep(self) -> np.ndarray:
        """The whole state vector's positions of the windows' entries (sorted)."""
        space = self.space
        return np.concatenate([space.offsets[i] + (r[:, None] * n + r[None, :]).ravel()
                               for i, (r, n) in enumerate(zip(self.rows, space.dims))] or [np.zeros(0, np.int64)])

    def blocks(self, y: np.ndarray) -> list[np.ndarray]:
        """The windows of a windowed vector, as m x m views (0 x 0 for empty windows)."""
        return [y[self.offsets[i]:self.offsets[i + 1]].reshape(m, m) for i, m in enumerate(self.dims)]

    def diagonal_positions(self) -> np.ndarray:
        """The positions of the windows' diagonal entries in a windowed vector."""
        return np.concatenate([self.offsets[i] + np.arange(m) * (m + 1) for i, m in enumerate(self.dims)])

    def pad(self, y: np.ndarray) -> np.ndarray:
        """The full state vector that is y in the windows and zero outside."""
        x = np.zeros(self.space.size, dtype=y.dtype)
        x[self.keep] = y
        return x


_EV_WORK: dict[tuple[str, int], int] = {}
#: LAPACK through SciPy's compiled exports, releasing the GIL (None: SciPy's wrappers only)
_EIGENVALUES = eigenvalues_function()
#: blocks from this dimension go through the GIL-free calls (ctypes costs ~10 us more per call
#: than SciPy's wrapper: 11.5 against 1.3 us at n = 1, even at n = 33)
GIL_FREE_MIN_DIM = 32
#: blocks whose eigenvalues are split over threads: from this total of n^3 (d = 2: N ~ 40)
THREADED_EIGENVALUES_MIN_COST = 500_000
#: the calling thread alone (no pool: nothing to close)
_ONE_THREAD = SharedThreads(1)


def _hermitian_eigenvalues(P: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of a Hermitian P, which may be overwritten: LAPACK's zheev / dsyev
    ("ev": 25% faster than the divide-and-conquer driver on these blocks, d = 2, N = 80) called
    directly with its workspace size cached per dimension (SciPy's `eigvalsh` wrapper cost as
    much as the eigenvalues of blocks below n = 20), through SciPy's compiled exports where
    available (`._lapack`: the GIL is released, so threads can share the blocks). P^T is
    passed: Fortran-ordered for a C-ordered P, no copy, and with the same eigenvalues."""
    n = P.shape[0]
    kind = "z" if np.iscomplexobj(P) else "d"
    A = P.T if P.flags.c_contiguous else np.asfortranarray(P)
    if A.dtype not in (np.complex128, np.float64):
        A = np.asfortranarray(A, dtype=np.complex128 if kind == "z" else np.float64)
    if _EIGENVALUES is not None and n >= GIL_FREE_MIN_DIM:
        w = _EIGENVALUES(A)
        if w is not None:
            return w
        return scipy.linalg.eigvalsh(P)   # pragma: no cover - LAPACK failure: SciPy raises with its message
    key = (kind, n)   # small blocks, or SciPy without its compiled LAPACK exports: its wrappers (GIL held)
    if key not in _EV_WORK:
        query = scipy.linalg.lapack.zheev_lwork if kind == "z" else scipy.linalg.lapack.dsyev_lwork
        _EV_WORK[key] = max(1, int(np.real(query(n)[0])))
    solver = scipy.linalg.lapack.zheev if kind == "z" else scipy.linalg.lapack.dsyev
    w, _, info = solver(A, compute_v=0, lwork=_EV_WORK[key], overwrite_a=1)
    if info != 0:   # pragma: no cover - LAPACK failure: SciPy's wrapper raises with its message
        return scipy.linalg.eigvalsh(P)
    return w


def block_entropy(space: BlockSpace, blocks: list[np.ndarray], hermitian: bool = False,
                  workers: SharedThreads | None = None) -> tuple[float, float]:
    r"""$S(R_N) = -\sum_\lambda \mathrm{tr}\,P_\lambda\log(P_\lambda/\dim S_\lambda)$ and the most
    negative block eigenvalue (a positivity check). `hermitian`: the blocks are exactly
    Hermitian (else their Hermitian part is taken) and may be overwritten. One eigenvalue call per
    block; the sum over all blocks' eigenvalues at once. `workers`: the blocks, largest first,
    taken by its threads as they are free, where the eigenvalue calls release the GIL and the
    blocks' total n^3 reaches `THREADED_EIGENVALUES_MIN_COST`."""
    if not blocks:
        return 0.0, 0.0

    def values(P):
        return _hermitian_eigenvalues(P if hermitian else (P + P.conj().T) / 2)

    dims = np.array([P.shape[0] for P in blocks])
    split = _EIGENVALUES is not None and float(np.sum(dims.astype(float) ** 3)) >= THREADED_EIGENVALUES_MIN_COST
    order = np.argsort(-dims, kind="stable")          # the largest first
    ws: list = [None] * len(blocks)
    for i, w in zip(order, (workers or _ONE_THREAD).map(lambda i: values(blocks[i]), order, split)):
        ws[i] = w
    return _entropy_of(np.concatenate(ws), np.repeat(space.logmult[:len(ws)], [x.size for x in ws]))


def _entropy_of(w: np.ndarray, logm: np.ndarray) -> tuple[float, float]:
    """S = -sum w log(w / dim S) over the blocks' eigenvalues w (`logm`: log dim S of each
    one's block) and the most negative eigenvalue (0 if none)."""
    keep = w > 0
    return -float(np.sum(w[keep] * (np.log(w[keep]) - logm[keep]))), min(0.0, float(w.min()))


def _moments(space: BlockSpace, x: np.ndarray, blocks, kmax: int, workers: SharedThreads | None = None):
    """Collective moments tr(R J_x), tr(R J_x J_y) (and third order), x = a * d + b, of the state
    vector x (`blocks`: its blocks as views): the first moments of all blocks in one sparse
    product (`BlockSpace.first_moment_map`); the higher ones per block, one sparse product
    with the stacked generators and one sparse trace map (no loop over the d^4 or d^6 pairs),
    the blocks taken by the threads of `workers` for large states (SciPy's sparse products
    release the GIL). kmax = 1: the first moments only (M2 is None)."""
    d = space.d
    D2 = d * d
    M1 = space.first_moment_map() @ x
    if kmax < 2:
        return M1, None, None

    def block(i):
        P = blocks[i]
        n = P.shape[0]
        stack, trace = space.moment_operators(i)
        JP = (stack @ P).reshape(D2, n, n)                                # J_y P
        m2 = trace @ JP.reshape(D2, n * n).T                              # tr(J_x J_y P)
        if kmax < 3:
            return m2, None
        JJP = stack @ JP.transpose(1, 0, 2).reshape(n, D2 * n)            # J_y J_z P, (y, row, z, col)
        JJP = JJP.reshape(D2, n, D2, n).transpose(0, 2, 1, 3).reshape(D2 * D2, n * n)
        return m2, (trace @ JJP.T).reshape(D2, D2, D2)

    order = np.argsort(-space.dims[:len(blocks)], kind="stable")
    parts = dict(zip(order.tolist(), (workers or _ONE_THREAD).map(block, order, x.size >= THREADED_STATE_MIN)))
    M2 = np.zeros((D2, D2), dtype=complex)
    M3 = np.zeros((D2, D2, D2), dtype=complex) if kmax >= 3 else None
    for i in range(len(blocks)):                        # summed in block order, however computed
        m2, m3 = parts[i]
        M2 += m2
        if M3 is not None:
            M3 += m3
    return M1, M2, M3


def measure_windows(windows: BlockWindows, y: np.ndarray, kmax: int = 2) -> tuple[float, float, dict[int, np.ndarray]]:
    r"""Entropy, most negative eigenvalue and marginals (k <= `kmax` <= 2) of the state that is
    the windowed vector y in the windows and zero outside, without forming it: the nonzero
    eigenvalues of a block are its window's, and $\mathrm{tr}(J_x J_y P)$ of such a
    block needs only $J_y$'s columns in the window ($J_y P = (J_y)_{:,S}\,Y$ on the
    window's columns) and $J_x$'s rows there."""
    space = windows.space
    d, D2 = space.d, space.d**2
    M1 = np.zeros((1, D2), dtype=complex)
    M2 = np.zeros((1, D2, D2), dtype=complex)
    values, logm = [], []
    for i, Y in enumerate(windows.blocks(y)):
        m = Y.shape[0]
        if m == 0:
            continue
        S, pos, n = windows.rows[i], windows.local[i], int(space.dims[i])
        stack, _ = space.moment_operators(i)
        # tr(J_x A) for an n x m matrix A standing in for the columns S of a block: the entries
        # J_x[r, c] with r in S, at A[c, pos(r)]
        trace = []
        for x, J in enumerate(space.irrep(i).generators()):
            c = J.tocoo()
            inside = pos[c.row] >= 0
            trace.append((np.full(int(inside.sum()), x), c.col[inside].astype(np.int64) * m + pos[c.row[inside]],
                          c.data[inside]))
        lab, col, val = (np.concatenate(t) for t in zip(*trace))
        T = sp.csr_matrix((val, (lab, col)), shape=(D2, n * m))
        padded = np.zeros((n, m), dtype=complex)
        padded[S] = Y
        M1[0] += T @ padded.reshape(-1)
        if kmax >= 2:
            Z = (stack[:, S] @ Y).reshape(D2, n * m)                    # J_y P on the window's columns
            M2[0] += T @ Z.T
        values.append(_hermitian_eigenvalues((Y + Y.conj().T) / 2))
        logm.append(np.full(m, space.logmult[i]))
    entropy, most_negative = _entropy_of(np.concatenate(values), np.concatenate(logm))
    marg = moments_to_marginals(M1, M2 if kmax >= 2 else None, None, space.N, d) if kmax >= 2 else \
        {1: M1.reshape(1, d, d).transpose(0, 2, 1) / space.N}
    return entropy, most_negative, {k: marg[k][0] for k in range(1, kmax + 1)}


class BlockMeasurement:
    """Entropy, trace and positivity checks and collective moments of block states, time by time.

    `threads` > 1: the per-block work of each large state (conversion from real coordinates,
    higher moments, eigenvalues) is shared out over that many threads; call `close` (or
    use `with`) to stop them.
    """

    def __init__(self, space: BlockSpace, T: int, kmax: int, threads: int = 1):
        d = space.d
        self.space, self.kmax = space, kmax
        self._workers = SharedThreads(threads)
        self.entropy = np.empty(T)
        self.M1 = np.zeros((T, d * d), dtype=complex)
        self.M2 = np.zeros((T, d * d, d * d), dtype=complex)
        self.M3 = np.zeros((T, d * d, d * d, d * d), dtype=complex) if kmax >= 3 else None
        self._trace_error = np.zeros(T)     # per time: measurements of different times may run at once
        self._most_negative = np.zeros(T)

    def add(self, n: int, x: np.ndarray, higher: bool = True) -> None:
        """Measure the state x as time index n; `higher=False`: moments of order >= 2 are not
        needed there (NaN, and so are the marginals k >= 2 at that time)."""
        self._measure(n, x, higher, hermitian=False)

    def add_real(self, n: int, z: np.ndarray, higher: bool = True) -> None:
        """`add` for a state given by its real coordinates (`BlockSpace.to_real`)."""
        self._measure(n, self.space.to_complex(z, self._workers), higher, hermitian=True)

    def _measure(self, n: int, x: np.ndarray, higher: bool, hermitian: bool) -> None:
        blocks = self.space.split(x)
        self._trace_error[n] = abs(x[self.space.diagonal_positions()].sum() - 1)
        m1, m2, m3 = _moments(self.space, x, blocks, self.kmax if higher else 1, self._workers)
        # the entropy last: with exactly Hermitian blocks its eigensolver overwrites them
        self.entropy[n], neg = block_entropy(self.space, blocks, hermitian=hermitian, workers=self._workers)
        self._most_negative[n] = min(0.0, neg)
        self.M1[n] = m1
        self.M2[n] = m2 if m2 is not None else np.nan
        if self.M3 is not None:
            self.M3[n] = m3 if m3 is not None else np.nan

    @property
    def trace_error(self) -> float:
        """The largest |tr - 1| over the states measured."""
        return float(self._trace_error.max(initial=0.0))

    @property
    def most_negative(self) -> float:
        """The most negative block eigenvalue over the states measured (0 if none)."""
        return float(self._most_negative.min(initial=0.0))

    def close(self) -> None:
        """Stop the threads (the results stay)."""
        self._workers.close()

    def __enter__(self) -> BlockMeasurement:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def marginals(self) -> dict[int, np.ndarray]:
        out = moments_to_marginals(self.M1, self.M2, self.M3, self.space.N, self.space.d)
        return {k: out[k] for k in range(1, self.kmax + 1)}


