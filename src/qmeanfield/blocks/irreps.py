r"""Schur-Weyl blocks of $(\mathbb C^d)^{\otimes N}$ (docs/theory.md, Schur-Weyl blocks).

$$
(\mathbb C^d)^{\otimes N} = \bigoplus_\lambda U_\lambda \otimes S_\lambda,
$$

over Young diagrams $\lambda$ with N boxes and at most d rows. A permutation-symmetric
operator acts as $X_\lambda \otimes 1$ on each block. `dim U_lambda` is given by Weyl's
formula, the multiplicity `dim S_lambda` by the hook-length formula (exact integers, and in
log space for weights). The collective generators $J_{ab} = \sum_j (E_{ab})_j$ act on
$U_\lambda$ as the irreducible representation of $\mathfrak{gl}(d)$ of highest weight
$\lambda$, built here in the orthonormal Gelfand-Tsetlin basis.

Gelfand-Tsetlin patterns have rows $\lambda_{k,1} \ge \dots \ge \lambda_{k,k}$ for
k = 1..d, top row $\lambda$, interlacing $\lambda_{k+1,i} \ge \lambda_{k,i} \ge
\lambda_{k+1,i+1}$. With $l_{ki} = \lambda_{ki} - i + 1$, the (non-normalised) formulas
(Gelfand-Tsetlin 1950; Molev, *Gelfand-Tsetlin bases for classical Lie algebras*, 2006):

$$
E_{kk}\xi_\Lambda = \Big(\sum_i \lambda_{ki} - \sum_i \lambda_{k-1,i}\Big)\xi_\Lambda,\quad
E_{k,k+1}\xi_\Lambda = -\sum_i \frac{\prod_{j=1}^{k+1}(l_{ki}-l_{k+1,j})}{\prod_{j\ne i}(l_{ki}-l_{kj})}
    \xi_{\Lambda+\delta_{ki}},\quad
E_{k+1,k}\xi_\Lambda = \sum_i \frac{\prod_{j=1}^{k-1}(l_{ki}-l_{k-1,j})}{\prod_{j\ne i}(l_{ki}-l_{kj})}
    \xi_{\Lambda-\delta_{ki}}.
$$

Rescaling to an orthonormal basis makes $E_{k+1,k} = E_{k,k+1}^\dagger$ with elements
$\mathrm{sign}(A)\sqrt{AB}$ (A the raising, B the lowering coefficient on the same edge).
Other generators follow from $E_{ac} = [E_{ab}, E_{bc}]$. Basis vector
$|a\rangle$ of $\mathbb C^d$ corresponds to index a + 1; the highest weight vector
has all particles in $|0\rangle$.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import product

import numpy as np
import scipy.sparse as sp

__all__ = [
    "partitions",
    "weyl_dimension",
    "multiplicity",
    "log_multiplicity",
    "gt_patterns",
    "pattern_weights",
    "weight_multiset",
    "gt_weights",
    "Irrep",
    "eigenbasis",
    "log_highest_weight",
    "log_vector_weights",
    "combine",
]


def partitions(N: int, d: int) -> list[tuple[int, ...]]:
    """Young diagrams with N boxes and at most d rows, padded with zeros to length d (decreasing order)."""
    out: list[tuple[int, ...]] = []

    def rec(remaining, max_part, prefix):
        if len(prefix) == d:
            if remaining == 0:
                out.append(tuple(prefix))
            return
        slots = d - len(prefix)
        for part in range(min(remaining, max_part), -1, -1):
            if part * slots < remaining:
                break
            rec(remaining - part, part, prefix + [part])

    rec(N, N, [])
    return out


def weyl_dimension(lam) -> int:
    r"""Dimension of the $\mathfrak{gl}(d)$ irrep $\prod_{i<j} (\lambda_i - \lambda_j + j - i)/(j - i)$, exact."""
    d = len(lam)
    num, den = 1, 1
    for i in range(d):
        for j in range(i + 1, d):
            num *= lam[i] - lam[j] + j - i
            den *= j - i
    return num // den


def _hooks(lam):
    lam = [x for x in lam if x > 0]
    cols = [sum(1 for x in lam if x > c) for c in range(lam[0])] if lam else []
    for r, row in enumerate(lam):
        for c in range(row):
            yield (row - c - 1) + (cols[c] - r - 1) + 1


def multiplicity(lam) -> int:
    """Dimension of the symmetric-group irrep S_lambda (hook-length formula), exact integer."""
    N = sum(lam)
    den = 1
    for h in _hooks(lam):
        den *= h
    return math.factorial(N) // den


def log_multiplicity(lam) -> float:
    r"""Natural log of `multiplicity`, without overflow for large N: Frobenius' form of the
    hook-length formula, $\dim S_\lambda = N! \prod_{i<j} (l_i - l_j) / \prod_i l_i!$ with the
    strictly decreasing $l_i = \lambda_i + k - i$ (k parts, i = 1..k), O(k^2) terms instead of
    one per box."""
    lam = [int(x) for x in lam if x > 0]
    k = len(lam)
    l = [x + k - 1 - i for i, x in enumerate(lam)]
    out = math.lgamma(sum(lam) + 1) - sum(math.lgamma(x + 1) for x in l)
    for i in range(k):
        for j in range(i + 1, k):
            out += math.log(l[i] - l[j])
    return out


@lru_cache(maxsize=64)
def gt_patterns(lam: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """All Gelfand-Tsetlin patterns with top row `lam`; each is (row_1, row_2, ..., row_d), row_k of length k."""

    def below(row):
        ranges = [range(row[i], row[i + 1] - 1, -1) for i in range(len(row) - 1)]  # highest weight first
        return [tuple(x) for x in product(*ranges)]

    patterns = []

    def rec(rows):  # rows from the top down
        if len(rows[-1]) == 1:
            patterns.append(tuple(reversed(rows)))
            return
        for r in below(rows[-1]):
            rec(rows + [r])

    rec([tuple(lam)])
    return tuple(patterns)


def pattern_weights(patterns) -> np.ndarray:
    """Weights (occupation numbers of |0>, ..., |d-1>) of each pattern, shape (n, d)."""
    out = []
    for P in patterns:
        sums = [0] + [sum(row) for row in P]
        out.append([sums[k] - sums[k - 1] for k in range(1, len(P) + 1)])
    return np.array(out, dtype=np.int64)


def _ragged_range(lo: np.ndarray, hi: np.ndarray, descending: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each m, the integers lo[m]..hi[m] (`descending`: hi[m]..lo[m]): (owner index, value)
    arrays, concatenated."""
    counts = hi - lo + 1
    owner = np.repeat(np.arange(lo.size), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    step = np.arange(owner.size) - starts[owner]
    return owner, (hi[owner] - step) if descending else (lo[owner] + step)


def weight_multiset(lam, gt_order: bool = False) -> np.ndarray:
    """The weights of every Gelfand-Tsetlin pattern with top row `lam` (shape (dim, d)), as
    `pattern_weights` gives them but without building the patterns: the interlacing rows
    are enumerated with numpy, row by row (for planning at large N). `gt_order`: in the order
    of `gt_patterns` (the blocks' basis order; each row's entries descending, the rows
    nested from the top down), else in another order."""
    lam = np.asarray(lam, dtype=np.int64)
    d = lam.size
    cur = lam[None, :]                               # row k + 1 of every partial pattern
    weights = np.zeros((1, d), dtype=np.int64)
    for k in range(d - 1, 0, -1):                    # build row k (length k) under row k + 1
        new = np.zeros((cur.shape[0], 0), dtype=np.int64)
        for i in range(k):
            owner, x = _ragged_range(cur[:, i + 1], cur[:, i], descending=gt_order)
            cur, new, weights = cur[owner], np.column_stack([new[owner], x]), weights[owner]
        weights[:, k] = cur.sum(axis=1) - new.sum(axis=1)
        cur = new
    weights[:, 0] = cur[:, 0]
    return weights


@lru_cache(maxsize=1024)   # every block of d = 2 up to N = 2046; about 16 MiB at N = 2000
def gt_weights(lam: tuple[int, ...]) -> np.ndarray:
    """`pattern_weights` of `gt_patterns` (the weights in the blocks' basis order),
    enumerated with numpy (`weight_multiset`); read-only (cached)."""
    out = weight_multiset(lam, gt_order=True)
    out.setflags(write=False)
    return out


class Irrep:
    """The irrep of $\\mathfrak{gl}(d)$ with highest weight `lam` in the orthonormal GT basis.

    `J(a, b)` returns the sparse (n x n) matrix of the collective generator $J_{ab}$
    (a, b in 0..d-1); `weights` the occupation numbers of each basis vector.
    """

    def __init__(self, lam):
        self.lam = tuple(int(x) for x in lam)
        self.d = len(self.lam)
        self.patterns = gt_patterns(self.lam)
        self.dim = len(self.patterns)
        self.weights = gt_weights(self.lam)
        # patterns as rows of integers, (row_1, row_2, ..., row_d) flattened; row k starts at k(k-1)/2
        self.table = np.array([[x for row in P for x in row] for P in self.patterns], dtype=np.int64)
        self.table = self.table.reshape(self.dim, self.d * (self.d + 1) // 2)
        self._lookup = {row.tobytes(): i for i, row in enumerate(self.table)}
        self._cache: dict[tuple[int, int], sp.csr_matrix] = {}
        for k in range(1, self.d):
            self._cache[(k - 1, k)] = self._raising(k)
            self._cache[(k, k - 1)] = self._cache[(k - 1, k)].T.tocsr()

    def _row(self, k: int) -> np.ndarray:
        """The l_{k,i} = lambda_{k,i} - i + 1 (1-indexed k, i) of every pattern, shape (dim, k)."""
        start = k * (k - 1) // 2
        return self.table[:, start:start + k] - np.arange(k)

    def _raising(self, k: int) -> sp.csr_matrix:
        """E_{k,k+1} (1-indexed k) as a sparse matrix: the Gelfand-Tsetlin coefficients of every
        pattern at once, rescaled to the orthonormal basis (module docstring)."""
        n = self.dim
        lk, lk1 = self._row(k), self._row(k + 1)
        lkm = self._row(k - 1) if k >= 2 else np.zeros((n, 0), dtype=np.int64)
        start = k * (k - 1) // 2
        rows, cols, vals = [], [], []
        for i in range(k):
            target = self.table.copy()
            target[:, start + i] += 1
            m = np.array([self._lookup.get(t.tobytes(), -1) for t in target], dtype=np.int64)
            others = [j for j in range(k) if j != i]
            A = -np.prod(lk[:, [i]] - lk1, axis=1) / np.prod(lk[:, [i]] - lk[:, others], axis=1)
            # lowering coefficient of E_{k+1,k} from the target back (l_{ki} -> l_{ki} + 1)
            li = lk[:, [i]] + 1
            with np.errstate(divide="ignore", invalid="ignore"):  # only where the target is no pattern
                B = np.prod(li - lkm, axis=1) / np.prod(li - lk[:, others], axis=1)
                AB = A * B
            keep = (m >= 0) & (AB > 0)
            rows.append(m[keep])
            cols.append(np.flatnonzero(keep))
            vals.append(np.sign(A[keep]) * np.sqrt(AB[keep]))
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, n), dtype=float)

    def J(self, a: int, b: int) -> sp.csr_matrix:
        """Collective generator $J_{ab} = \\sum_j (|a\\rangle\\langle b|)_j$ restricted to this irrep."""
        key = (a, b)
        if key in self._cache:
            return self._cache[key]
        if a == b:
            M = sp.diags(self.weights[:, a].astype(float), format="csr")
        elif a < b:
            M = (self.J(a, a + 1) @ self.J(a + 1, b) - self.J(a + 1, b) @ self.J(a, a + 1)).tocsr()
        else:
            M = self.J(b, a).T.tocsr()
        M.eliminate_zeros()
        self._cache[key] = M
        return M

    def generators(self) -> list[sp.csr_matrix]:
        """All $J_{ab}$, index a * d + b."""
        return [self.J(a, b) for a in range(self.d) for b in range(self.d)]

    def collective(self, X: np.ndarray) -> sp.csr_matrix:
        r"""$J(X) = \sum_{ab} X_{ab} J_{ab}$: the one-body operator X summed over particles, on this irrep."""
        return combine(self.generators(), np.asarray(X).reshape(-1))


def combine(mats: list[sp.csr_matrix], coef) -> sp.csr_matrix:
    r"""$\sum_x c_x M_x$ for sparse matrices of one shape, in one pass (zero coefficients skipped)."""
    parts = [(c, M.tocoo()) for c, M in zip(coef, mats) if c != 0]
    shape = mats[0].shape
    if not parts:
        return sp.csr_matrix(shape, dtype=complex)
    rows = np.concatenate([M.row for _, M in parts])
    cols = np.concatenate([M.col for _, M in parts])
    data = np.concatenate([c * M.data.astype(complex) for c, M in parts])
    return sp.csr_matrix((data, (rows, cols)), shape=shape)


def eigenbasis(rho: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""`(p, W, V_W)`: eigenvalues of rho in decreasing order, its eigenvectors (columns) and
    the two-body operator V in that basis, $(W \otimes W)^\dagger V (W \otimes W)$."""
    p, W = np.linalg.eigh((rho + rho.conj().T) / 2)
    p, W = p[::-1], W[:, ::-1]
    WW = np.kron(W, W)
    return p, W, WW.conj().T @ V @ WW


def log_highest_weight(lam, logp) -> float:
    """log of prod_a p_a^lambda_a (0 log 0 = 0), with p decreasing: the largest entry of
    rho^(x)N on the block lambda, in the eigenbasis of rho."""
    return float(sum(x * lp for x, lp in zip(lam, logp) if x > 0))


def log_vector_weights(weights: np.ndarray, logm: float, logp: np.ndarray) -> np.ndarray:
    """log of dim S_lambda * prod_a p_a^{w_a} for each GT basis vector (rows of `weights`),
    with 0 log 0 = 0: the weight of each basis vector of rho^(x)N (rho = diag(p)) on its block."""
    occ = weights > 0
    return logm + np.where(occ, weights * np.where(occ, logp[None, :], 0.0), 0.0).sum(axis=1)


def _product_generator(mu: Irrep, a: int, b: int) -> sp.csr_matrix:
    """$J_{ab}$ on $U_\\mu \\otimes \\mathbb C^d$ (index alpha * d + c)."""
    d = mu.d
    E = sp.csr_matrix(([1.0], ([a], [b])), shape=(d, d))
    return (sp.kron(mu.J(a, b), sp.identity(d), format="csr")
            + sp.kron(sp.identity(mu.dim), E, format="csr")).tocsr()


def _spin_half_coupling(mu: Irrep, lam: Irrep) -> sp.csr_matrix:
    r"""d = 2: the Clebsch-Gordan coefficients of spin $j_1 = (\mu_1 - \mu_2)/2$ with spin 1/2
    in closed form (Condon-Shortley phases, which the Gelfand-Tsetlin basis of `Irrep` has
    for d = 2: |0> is spin up, basis vector i has m = j - i). For $j = j_1 + 1/2$,
    $|j m\rangle = \sqrt{(j_1+m+1/2)/(2j_1+1)}\,|j_1, m-1/2\rangle|{\uparrow}\rangle +
    \sqrt{(j_1-m+1/2)/(2j_1+1)}\,|j_1, m+1/2\rangle|{\downarrow}\rangle$; for $j = j_1 - 1/2$
    the coefficients swap and the first changes sign. The sign of W follows the same rule as
    the general construction (largest component of the highest weight vector positive)."""
    two_j1 = mu.lam[0] - mu.lam[1]
    up = lam.lam[0] > mu.lam[0]                       # the box in the first row: j = j1 + 1/2
    two_j = two_j1 + (1 if up else -1)
    i = np.arange(lam.dim)
    two_m = two_j - 2 * i
    a = np.sqrt((two_j1 + two_m + 1) / (2.0 * (two_j1 + 1)))   # sqrt((j1 + m + 1/2)/(2 j1 + 1))
    b = np.sqrt((two_j1 - two_m + 1) / (2.0 * (two_j1 + 1)))   # sqrt((j1 - m + 1/2)/(2 j1 + 1))
    c_up, c_down = (a, b) if up else (-b, a)
    alpha_up = (two_j1 - (two_m - 1)) // 2           # index of |j1, m - 1/2> in U_mu
    alpha_down = (two_j1 - (two_m + 1)) // 2         # index of |j1, m + 1/2>
    ok_up = (alpha_up >= 0) & (alpha_up <= two_j1)
    ok_down = (alpha_down >= 0) & (alpha_down <= two_j1)
    rows = np.concatenate([2 * alpha_up[ok_up], 2 * alpha_down[ok_down] + 1])
    cols = np.concatenate([i[ok_up], i[ok_down]])
    vals = np.concatenate([c_up[ok_up], c_down[ok_down]])
    top = np.flatnonzero(cols == 0)
    if vals[top[np.argmax(np.abs(vals[top]))]] < 0:
        vals = -vals
    return sp.csr_matrix((vals, (rows, cols)), shape=(2 * mu.dim, lam.dim))


def branching_isometry(mu: Irrep, lam: Irrep) -> sp.csr_matrix:
    r"""The intertwiner $W: U_\lambda \to U_\mu \otimes \mathbb C^d$ (λ = μ + one box), sparse.

    Both irreps in their Gelfand-Tsetlin bases; rows indexed alpha * d + c (alpha a basis vector of
    U_mu, c one of C^d), columns by the GT basis of U_lambda. $W^\dagger W = 1$ and
    $J^{tot}_{ab} W = W J^\lambda_{ab}$. Pieri's rule makes U_lambda appear once in
    $U_\mu \otimes \mathbb C^d$, so W is unique up to a sign, fixed here by making the
    largest component of the highest weight vector positive.

    Construction: the highest weight vector is the kernel of the raising generators on the
    weight-lambda subspace; every other weight space follows from the lowering generators,
    weight by weight ($W F^\lambda = F^{tot} W$, solved by least squares; the equations are
    consistent and determine W because lowering from the weights above spans each weight space).
    """
    d = lam.d
    if mu.d != d or sum(lam.lam) != sum(mu.lam) + 1 or any(x < y for x, y in zip(lam.lam, mu.lam)):
        raise ValueError(f"{lam.lam} is not {mu.lam} plus one box")
    if d == 2:
        return _spin_half_coupling(mu, lam)
    return _isometry_by_lowering(mu, lam)


def _isometry_by_lowering(mu: Irrep, lam: Irrep) -> sp.csr_matrix:
    """The general construction of `branching_isometry` (any d), weight space by weight space."""
    d = lam.d
    nfull = mu.dim * d
    wtot = (np.repeat(mu.weights, d, axis=0) + np.tile(np.eye(d, dtype=np.int64), (mu.dim, 1)))
    W = np.zeros((nfull, lam.dim))
    # highest weight vector: killed by every raising generator J_{k,k+1}
    cand = np.flatnonzero((wtot == np.array(lam.lam)).all(axis=1))
    if d > 1:
        Rs = sp.vstack([_product_generator(mu, k, k + 1)[:, cand] for k in range(d - 1)]).toarray()
        _, s, vh = np.linalg.svd(Rs)
        v = vh[-1]
    else:
        v = np.ones(1)
    v = v / np.linalg.norm(v)
    if v[np.argmax(np.abs(v))] < 0:
        v = -v
    top = 0  # gt_patterns lists the highest weight first
    W[cand, top] = v
    # weight spaces of U_lambda, by increasing level sum_a a w_a
    keys = [tuple(w) for w in lam.weights]
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    levels = sorted(groups, key=lambda w: sum(a * x for a, x in enumerate(w)))
    lower = [(lam.J(k + 1, k).tocsc(), _product_generator(mu, k + 1, k)) for k in range(d - 1)]
    for w in levels:
        idx = groups[w]
        if w == tuple(lam.lam):
            continue
        A_parts, B_parts = [], []
        for k, (Fl, Ft) in enumerate(lower):
            src = list(w)
            src[k] += 1
            src[k + 1] -= 1
            if src[k + 1] < 0 or tuple(src) not in groups:
                continue
            sidx = groups[tuple(src)]
            A_parts.append(Fl[idx, :][:, sidx].toarray())   # (n_w, n_src)
            B_parts.append(Ft @ W[:, sidx])                  # (nfull, n_src)
        A = np.hstack(A_parts)
        B = np.hstack(B_parts)
        rows = np.flatnonzero((wtot == np.array(w)).all(axis=1))
        # W_w A = B  <=>  A^T W_w^T = B^T
        sol, *_ = np.linalg.lstsq(A.T, B[rows].T, rcond=None)
        W[np.ix_(rows, idx)] = sol.T
    return sp.csr_matrix(W)
