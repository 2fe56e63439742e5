r"""Symmetric engine: exact closed N-body dynamics block by block (docs/theory.md, Schur-Weyl blocks).

Product initial data $\rho_0^{\otimes N}$ and the symmetric Hamiltonian keep
$R_N$ permutation-symmetric, so $R_N(t) = \bigoplus_\lambda X_\lambda(t) \otimes 1_{S_\lambda}$
over Young diagrams $\lambda$ (N boxes, at most d rows). On each block

$$
H_\lambda = \sum_{ab} h_{ab} J_{ab}
    + \frac{\kappa_N}{2} \sum_s \big[J(A_s) J(B_s) - J(A_s B_s)\big],
\qquad V = \sum_s A_s \otimes B_s
$$

(the operator-Schmidt form of V, equivalent to
$\tfrac{\kappa_N}{2}\sum V_{ab,cd}(J_{ab}J_{cd} - \delta_{bc}J_{ad})$). Working in the eigenbasis
of $\rho_0 = \sum_a p_a |a\rangle\langle a|$, the initial block $X_\lambda(0)$ is
diagonal in the Gelfand-Tsetlin basis with entries $\prod_a p_a^{w_a}$ (w the pattern's
occupation numbers), so rank-deficient (even pure) $\rho_0$ are exact too.

Each block is diagonalised once and the basis vectors carrying weight are propagated to all
times with one matrix product, or, where few of a block's vectors carry weight, only those are
propagated with the sparse $H_\lambda$ (Chebyshev series), whichever a cost model of the
block (its dimension, weighted vectors, nonzeros and spectral width) finds cheaper. Times that
need only the first moments (the stencil points of $dH_N/dt$) are reached by a short
Chebyshev step from the nearest time that needs more. Marginals come from collective moments,

$$
N\,R^{(1)}_{ba} = \langle J_{ab}\rangle,\qquad
N(N-1)\,R^{(2)}_{(bd),(ac)} = \langle J_{ab}J_{cd}\rangle - \delta_{bc}\langle J_{ad}\rangle,
$$

and the analogous third-order formula. Closed dynamics conserve $S(R_N) = N S(\rho_0)$.

Truncation: half of the budget `truncation` skips whole blocks (smallest first, by the bound
$\dim U_\lambda \dim S_\lambda \prod_a p_a^{\lambda_a}$ on their weight); the rest drops
the basis vectors of smallest exact weight $\dim S_\lambda \prod_a p_a^{w_a}$, over all the
remaining blocks together, as long as their total stays within it (a block none of whose vectors
is kept is not computed). `Trajectory.discarded_weight` (dropped weights plus the bound for
skipped blocks, at most `truncation`) bounds the trace-norm error of $R_N$ and hence of
every marginal.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg
from scipy.linalg.blas import zherk

from .._parallel import may_start_processes, process_pool, sparse_work
from ..diagnostics.entropy import von_neumann_entropy
from .._checks import MEMORY_BUDGET_GB, check_choice, check_positive_number, check_workers
from ..errors import EngineError
from ..estimates import Estimate, scaled_seconds
from ..model import Model
from ..operators import kron_all
from ..blocks.collective import block_hamiltonian, moments_to_marginals
from ..blocks.irreps import (
    Irrep,
    eigenbasis,
    log_highest_weight,
    log_multiplicity,
    log_vector_weights,
    partitions,
    weight_multiset,
    weyl_dimension,
)
from ..propagators import HermitianOffsets, hermitian_trajectory, spectral_interval
from .base import ProgressCallback, Trajectory, higher_marginal_mask

__all__ = ["SymmetricEngine", "METHODS", "use_krylov", "time_moments", "first_moments_each"]

#: most bytes of propagated states (all output times of a column group) held for one block; less
#: when the memory budget shared by the worker processes is smaller
_STATES_BYTES = 1024 * 2**20


#: per-block propagation methods of the symmetric engine
METHODS = ("auto", "eigh", "krylov")
#: method="auto" propagates a block by its sparse Hamiltonian when it is at least this large ...
KRYLOV_MIN_DIM = 1500
#: ... and at most this fraction of its basis vectors carry weight
KRYLOV_MAX_WEIGHTED_FRACTION = 1 / 8
#: workers="auto" starts processes when the estimated operations exceed this
PARALLEL_MIN_OPERATIONS = 2e8
#: rough Chebyshev products per weighted vector, and the eigh cost factor per dim^3
KRYLOV_PRODUCTS, EIGH_COST_FACTOR = 100.0, 10.0


def use_krylov(method: str, n: int, r: int) -> bool | None:
    """Whether a block of dimension n with r weighted basis vectors is propagated by the sparse
    Hamiltonian (Chebyshev series) rather than diagonalised: as asked; with `"auto"`, always
    when the block is large and few of its vectors carry weight (nearly pure rho0), else None:
    the block decides by comparing both costs once its spectral width is known."""
    if method != "auto":
        return method == "krylov"
    if n >= KRYLOV_MIN_DIM and r <= KRYLOV_MAX_WEIGHTED_FRACTION * n:
        return True
    return None


def _diagonal_generators(J: list, work: dict) -> list:
    """The diagonals (column vectors) of the generators that are diagonal, None for the others;
    kept in `work`."""
    if "diagonal" not in work:
        rows = [np.repeat(np.arange(Jx.shape[0]), np.diff(Jx.indptr)) for Jx in J]
        work["diagonal"] = [Jx.diagonal()[:, None] if np.array_equal(Jx.indices, r) else None
                            for Jx, r in zip(J, rows)]
    return work["diagonal"]


def time_moments(J: list, X: np.ndarray, kmax: int, work: dict | None = None):
    """Collective moments of the columns of X (one time), summed over the columns:
    `m1[x] = sum_k <x_k|J_x|x_k>`, `m2[x, y] = sum_k <x_k|J_x J_y|x_k>` and, for kmax >= 3,
    `m3[x, y, z] = sum_k <x_k|J_x J_y J_z|x_k>` (x = a * d + b indexes J_ab); kmax = 1: m1 only
    (m2 and m3 None). `work` (a dict) keeps the workspace between calls with X of one shape."""
    D2 = len(J)
    d = math.isqrt(D2)
    swapx = [b * d + a for a in range(d) for b in range(d)]  # J_ab^+ = J_ba
    n, m = X.shape
    work = {} if work is None else work

    def buffer(name, rows=D2):
        if name not in work or work[name].shape != (rows, n, m):
            work[name] = np.empty((rows, n, m), dtype=complex)
        return work[name]

    Yx = buffer("Y", D2 + 1)   # the J_x v and, last, v itself
    diag = _diagonal_generators(J, work)   # the diagonal J_aa act as a scaling of the rows
    for x, Jx in enumerate(J):
        if diag[x] is not None:
            np.multiply(diag[x], X, out=Yx[x])
        else:
            Yx[x] = Jx @ X
    Yx[D2] = X
    Y = Yx[:D2]
    Yf = Y.reshape(D2, n * m)
    if kmax < 2:                                          # sum_k <x_k|J_x|x_k> only
        return Yf @ X.reshape(-1).conj(), None, None
    # Gram matrix of the J_x v and v, one BLAS call (upper half):
    # <J_ab J_cd> = (J_ba v)^+ (J_cd v), <J_x> = (J_x v)^+ v conjugated
    G = zherk(1.0, Yx.reshape(D2 + 1, n * m).T, trans=2)
    m1 = G[:D2, D2].conj()
    G = G[:D2, :D2]
    G = np.triu(G) + np.triu(G, 1).conj().T
    m2 = G[swapx, :]
    m3 = None
    if kmax >= 3:
        Yc = np.conjugate(Yf, out=buffer("Yc").reshape(D2, n * m))
        m3 = np.empty((D2, D2, D2), dtype=complex)
        JY = buffer("JY")
        for y, Jy in enumerate(J):
            for z in range(D2):
                JY[z] = Jy @ Y[z]
            m3[:, y, :] = Yc @ JY.reshape(D2, n * m).T   # (J_x v)^+ J_y (J_z v)
        m3 = m3[swapx]
    return m1, m2, m3


def first_moments_each(J: list, S: np.ndarray, work: dict) -> np.ndarray:
    """`m1[i, x] = sum_k <s_ik|J_x|s_ik>` for a stack S of shape (times, n, m) of column groups
    (one time each): the first collective moments of several times at once. The diagonal J_aa
    act on the populations sum_k |s_ik|^2 (one pass over S); J_ba = J_ab^+ gives conjugates."""
    k, n, m = S.shape
    D2 = len(J)
    d = math.isqrt(D2)
    diag = _diagonal_generators(J, work)
    out = np.empty((k, D2), dtype=complex)
    populations = None
    for a in range(d):
        for b in range(a, d):
            x = a * d + b
            if diag[x] is not None:
                if populations is None:
                    populations = np.square(S.view(float)).reshape(k, n, 2 * m).sum(axis=2)
                out[:, x] = populations @ diag[x][:, 0]
            else:
                out[:, x] = [np.vdot(S[i], J[x] @ S[i]) for i in range(k)]
            if b != a:
                out[:, b * d + a] = out[:, x].conj()
    return out


#: the first moments at the times that need only them come from the block's eigenbasis (d^2 n^3
#: once) rather than from the states (n^2 r per time) when this times its flop count is lower
#: (spin-1 case, d = 3, N = 32: 240 s on one process before, most blocks r ~ n / 10)
FIRST_MOMENTS_MARGIN = 1.0


#: cost of one nonzero of the sparse H times one column in a Chebyshev term, and the fixed cost of
#: one term (Python and call overhead), in units of a quarter of a complex multiply-add of a dense
#: product (scipy's sparse products with several columns run at about a tenth of BLAS speed;
#: measured at d = 2, N = 600 and 2000: per-block times of the three ways within 30% of the model)
CHEBYSHEV_NONZERO_COST, CHEBYSHEV_TERM_COST = 40.0, 7e5


def _first_moment_way(n, r, D2, nnz, E, times, higher, hbar, states_bytes) -> str:
    """How a diagonalised block gets <J_x> at the times that need no higher moment (the stencil
    points of dH_N/dt): `"states"` forms the state there (n^2 r per time), `"eigenbasis"`
    transforms the generators once (d^2 n^3), `"anchors"` propagates the state of the nearest
    time that needs the higher moments by the sparse H (one short Chebyshev series per such
    time, about R |offset| / hbar + 15 terms; times farther away get their states formed);
    the cheapest by a flop model."""
    first_only = np.flatnonzero(~higher)
    anchors = np.flatnonzero(higher)
    if first_only.size == 0:
        return "states"
    costs = {"states": 4.0 * n * n * r * first_only.size}
    if 32.0 * D2 * n * n <= states_bytes:
        costs["eigenbasis"] = (2.0 * D2 * n**3 + 8.0 * n * n * r + 8.0 * D2 * n * n * first_only.size) * FIRST_MOMENTS_MARGIN
    if anchors.size:
        # times farther than KRYLOV_HOP_PHASE / R from every anchor get their states formed
        R = 0.5 * float(E[-1] - E[0])
        stored, hops = _hops(times, higher, R / hbar, KRYLOV_HOP_PHASE)
        far = np.count_nonzero(stored & ~higher)
        costs["anchors"] = 4.0 * n * n * r * far + _steps_cost(n, r, nnz, R, hops, hbar)
    return min(costs, key=costs.get)


#: method="auto" weighs the Chebyshev propagation against diagonalisation for blocks of at least
#: this dimension (below it diagonalising is cheap)
KRYLOV_AUTO_MIN_DIM = 400
#: a Chebyshev propagation reaches a time by a short step from a stored one when
#: R |offset| / hbar is at most this
KRYLOV_HOP_PHASE = 30.0
#: cost of adding one term to one output state of a series, per element (same units; measured
#: at d = 2, N = 2000)
CHEBYSHEV_ACCUMULATE_COST = 10.0
#: per-element cost of the Chebyshev recurrence and accumulation (vector passes), same units
CHEBYSHEV_VECTOR_COST = 260.0
#: cost of diagonalising a block, per n^3, complex and real symmetric (LAPACK evr), same units
EIGH_COMPLEX_COST, EIGH_REAL_COST = 28.0, 10.0


def _hops(times: np.ndarray, base: np.ndarray, rate: float, limit: float):
    """Which times get their state propagated (`stored`, bool) and which are reached by a short
    step from the nearest stored one: the `base` times are stored, and every other time whose
    nearest base time is within `limit / rate` (phase R |offset| / hbar <= limit); the rest are
    stored too. `hops`: {stored index: (indices, offsets)}."""
    stored = base.copy()
    rest = np.flatnonzero(~base)
    hops: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    anchors = np.flatnonzero(base)
    if rest.size == 0:
        return stored, hops
    if anchors.size == 0:
        stored[:] = True
        return stored, hops
    gap = np.abs(times[rest][:, None] - times[anchors][None, :])
    near = anchors[np.argmin(gap, axis=1)]
    far = gap.min(axis=1) * rate > limit
    stored[rest[far]] = True
    for a in np.unique(near[~far]):
        idx = rest[~far & (near == a)]
        hops[int(a)] = (idx, times[idx] - times[a])
    return stored, hops


def _tail_terms(x: float) -> float:
    """Chebyshev terms past x = R t / hbar before the Bessel factors J_k(x) fall below 1e-15:
    about 11 x^(1/3) + 4 (7 at x = 0.02, 17 at x = 1.5, 47 at x = 60, 130 at x = 1500)."""
    return 11.0 * float(np.cbrt(max(x, 0.0))) + 4.0


def _series_plan(n: int, r: int, nnz: int, stored: int, rate_R: float, t_max: float, hbar: float):
    """Output times per Chebyshev series (g) and the cost of propagating r columns to the
    `stored` times (units of `CHEBYSHEV_NONZERO_COST`): each series of g times spans
    about x = R t g / (T_s hbar) and costs its tail past x (`_tail_terms`) in extra terms,
    and each term is added to half of its series' states on average; g minimises the total
    (13-23 for a block of n = 953 at d = 2, N = 2000; all 105 evaluation times in one series for
    the large spin-1 blocks at N = 32, whose R t / hbar is about 30)."""
    span = rate_R * t_max / hbar
    if stored <= 1:
        return 1, (span + _tail_terms(span)) * _term_cost(n, r, nnz)
    best = None
    for g in sorted({int(round(x)) for x in np.geomspace(1, stored, 24)} | {stored}):
        terms = span + math.ceil(stored / g) * _tail_terms(span * g / stored)
        cost = terms * (_term_cost(n, r, nnz) + CHEBYSHEV_ACCUMULATE_COST * n * r * g / 2)
        if best is None or cost < best[1]:
            best = (g, cost)
    return best


def _krylov_plan(n: int, r: int, nnz: int, rate_R: float, times, higher, hbar):
    """The cheaper of two ways to reach the times that need R^(1) only (the stencil points) with
    the Chebyshev propagation of r columns (spectral half-width R): short steps from the nearest
    time that needs the higher moments (`_hops`), or every time an output of the main
    series (more states per series, no extra products). Returns `(stored, hops, g, cost)` (g
    the output times per series, `_series_plan`), cost
    in units of `CHEBYSHEV_NONZERO_COST` (`_series_plan` and the short steps' terms,
    x + `_tail_terms` (x) each). Every short step pays a tail of Bessel terms however short
    it is, so series outputs win where the main series is short or rows are full (spin-1, N = 32, n = 1875,
    r = 283: 11.4-11.7 s -> 5.3-6.0 s; d = 2, N = 2000, n = 953: 0.94-0.99 s -> 0.90-0.92 s)."""
    t_max = float(times.max(initial=0.0))

    def series(stored):
        return _series_plan(n, r, nnz, int(np.count_nonzero(stored)), rate_R, t_max, hbar)

    stored, hops = _hops(times, higher, rate_R / hbar, KRYLOV_HOP_PHASE)
    g, cost = series(stored)
    cost += _steps_cost(n, r, nnz, rate_R, hops, hbar)
    if hops:
        every = np.ones(times.size, dtype=bool)
        g_every, cost_every = series(every)
        if cost_every < cost:
            return every, {}, g_every, cost_every
    return stored, hops, g, cost


def _krylov_cost(n: int, r: int, nnz: int, rate_R: float, times, higher, hbar) -> float:
    """Rough cost of the Chebyshev propagation of r columns (`_krylov_plan`)."""
    return _krylov_plan(n, r, nnz, rate_R, times, higher, hbar)[3]


def _term_cost(n: int, r: int, nnz: int) -> float:
    return CHEBYSHEV_NONZERO_COST * nnz * r + CHEBYSHEV_VECTOR_COST * n * r + CHEBYSHEV_TERM_COST


def _steps_cost(n: int, r: int, nnz: int, rate_R: float, hops: dict, hbar: float) -> float:
    """Cost of the short Chebyshev steps to the times of `hops` (see `_hops`)."""
    terms = 0.0
    for _, off in hops.values():
        x = rate_R * float(np.abs(off).max()) / hbar
        terms += x + _tail_terms(x)
    return terms * _term_cost(n, r, nnz)


def _eigh_cost(n: int, r: int, nnz: int, complex_block: bool, rate_R: float, times, higher, hbar) -> float:
    """Rough cost of diagonalising the block, forming the states at the times that need the
    higher moments and stepping from them to the others (same units)."""
    _, hops = _hops(times, higher, rate_R / hbar, KRYLOV_HOP_PHASE)
    return ((EIGH_COMPLEX_COST if complex_block else EIGH_REAL_COST) * float(n) ** 3
            + 4.0 * n * n * r * np.count_nonzero(higher) + _steps_cost(n, r, nnz, rate_R, hops, hbar))


def _moment_bytes(n: int, d: int, kmax: int) -> float:
    """Workspace of `time_moments` per column of length n."""
    return 16.0 * n * (d * d * (3 if kmax >= 3 else 1) + 2)


@dataclass(frozen=True)
class BlockMoments:
    """What one block contributes: its weighted moments <J_ab> (T, d^2), <J_ab J_cd> (T, d^2, d^2)
    and third order (or None) at every time, the weight and number of basis vectors kept, the
    weight dropped by the truncation, and whether it was propagated by Chebyshev series."""

    M1: np.ndarray
    M2: np.ndarray
    M3: np.ndarray | None
    kept_weight: float
    kept_vectors: int
    dropped: float
    krylov: bool


def _block_moments(lam, logm, krylov, logp, h, V, kappa, hbar, times, kmax, logcut, states_bytes, higher
                   ) -> BlockMoments:
    """Moments <J_ab>, <J_ab J_cd> (and third order) of one block at all times, summed with the
    weights of its basis vectors with log weight >= logcut; also the kept and dropped weight.
    `states_bytes`: memory for the propagated states (column groups are sized to it);
    `higher` (bool per time): where moments of order >= 2 are needed (elsewhere they stay 0)."""
    irrep = Irrep(lam)
    d, n = irrep.d, irrep.dim
    logw = log_vector_weights(irrep.weights, logm, logp)
    keep = logw >= logcut
    kept = np.flatnonzero(keep)
    dropped = float(np.exp(logw[~keep]).sum())
    T = times.size
    D2 = d * d
    M1 = np.zeros((T, D2), dtype=complex)
    M2 = np.zeros((T, D2, D2), dtype=complex)
    M3 = np.zeros((T, D2, D2, D2), dtype=complex) if kmax >= 3 else None
    J = irrep.generators()
    work: dict = {}

    def add(t, X):
        if not higher[t]:
            M1[t] += first_moments_each(J, X[None], work)[0]
            return
        m1, m2, m3 = time_moments(J, X, kmax, work)
        M1[t] += m1
        M2[t] += m2
        if M3 is not None:
            M3[t] += m3

    if kept.size == 0:
        return BlockMoments(M1, M2, M3, 0.0, 0, dropped, False)
    amp = np.sqrt(np.exp(logw[kept]))
    r = kept.size
    Hs = block_hamiltonian(irrep, h, V, kappa, sparse=True)
    interval = None
    if krylov is None:   # "auto" left to the block: compare the two costs with its spectral width
        krylov = False
        complex_block = bool(np.any(Hs.data.imag))

        def cheaper(R):
            return (_krylov_cost(n, r, Hs.nnz, R, times, higher, hbar)
                    < _eigh_cost(n, r, Hs.nnz, complex_block, R, times, higher, hbar))

        # the Lanczos run for the exact choice only where the series could win with half the
        # irrep's bound on the half-width (below the measured ones)
        low = 0.5 * _half_width_bound(lam, np.linalg.eigvalsh(h), float(np.linalg.norm(V, 2)), kappa)
        if n >= KRYLOV_AUTO_MIN_DIM and cheaper(low):
            interval = spectral_interval(Hs)
            krylov = cheaper(0.5 * (interval[1] - interval[0]))

    def stencil_moments(t, X, hops, steps):
        """<J_x> at the times reached from time t (state X) by a short step."""
        if t in hops:
            idx, offsets = hops[t]
            M1[idx] += first_moments_each(J, steps(X, offsets), work)

    if krylov:
        # the weighted basis vectors, in column groups whose states fit in memory, propagated to
        # the times that need the higher moments (and to any time too far from those); the other
        # times by short steps from the nearest of these; one BLAS thread (sparse work)
        with sparse_work():
            interval = spectral_interval(Hs) if interval is None else interval
            R = 0.5 * (interval[1] - interval[0])
            stored, hops, g, _ = _krylov_plan(n, r, Hs.nnz, R, times, higher, hbar)
            steps = HermitianOffsets(Hs, interval, hbar) if hops else None
            cols = max(1, int(states_bytes // (16.0 * n * (g + 60) + _moment_bytes(n, d, kmax))))
            for start in range(0, r, cols):
                idx = np.arange(start, min(r, start + cols))
                state = np.zeros((n, idx.size), dtype=complex)
                state[kept[idx], np.arange(idx.size)] = amp[idx]
                path = hermitian_trajectory(Hs, state, times[stored], hbar, group_bytes=16.0 * state.size * g,
                                            interval=interval)
                for t, X in zip(np.flatnonzero(stored), path):
                    add(t, X)
                    stencil_moments(int(t), X, hops, steps)
    else:
        H = Hs.toarray()
        if not np.any(H.imag):
            E, U = scipy.linalg.eigh(H.real, driver="evr")  # real symmetric block: about 3x cheaper
        else:
            E, U = scipy.linalg.eigh(H, driver="evr")
        del H
        coeff = U[kept, :].conj().T * amp[None, :]  # (n, r): sqrt(c_k) U^+ e_k
        states_at = np.arange(T)
        first_only = np.flatnonzero(~higher)
        hops: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        steps = None
        way = _first_moment_way(n, r, D2, Hs.nnz, E, times, higher, hbar, states_bytes)
        if way == "eigenbasis":
            # <J_x> at the times that need nothing else, without forming the states: with
            # p = exp(-iEt/hbar) and C = coeff coeff^+, tr(J_x rho(t)) = p^T (Jt_x^T o C) conj(p),
            # Jt_x = U^+ J_x U; d^2 n^3 once instead of n^2 r per time
            C = coeff @ coeff.conj().T
            B = np.stack([(U.conj().T @ (Jx @ U)).T * C for Jx in J])              # (D2, n, n)
            ph = np.exp(-1j * np.outer(E, times[first_only]) / hbar)                  # (n, t)
            Y = (B.reshape(D2 * n, n) @ ph.conj()).reshape(D2, n, first_only.size)
            M1[first_only] += np.einsum("it,xit->tx", ph, Y)
            states_at = np.flatnonzero(higher)
        elif way == "anchors":
            # each such time (a stencil point) from the state at the nearest time that needs the
            # higher moments, one short Chebyshev series of the sparse H per anchor
            R = 0.5 * float(E[-1] - E[0])
            stored, hops = _hops(times, higher, R / hbar, KRYLOV_HOP_PHASE)
            states_at = np.flatnonzero(stored)
            pad = 1e-10 * (1.0 + np.abs(E).max())
            steps = HermitianOffsets(Hs, (float(E[0]) - pad, float(E[-1]) + pad), hbar)
        chunk = max(1, int(states_bytes // (32.0 * n * r)))
        for start in range(0, states_at.size, chunk):
            at = states_at[start:start + chunk]
            ph = np.exp(-1j * np.outer(E, times[at]) / hbar)                    # (n, t)
            Z = (ph[:, :, None] * coeff[:, None, :]).reshape(n, at.size * r)  # columns ordered (t, r)
            Vt = U @ Z if np.iscomplexobj(U) else (U @ Z.real) + 1j * (U @ Z.imag)
            Vt = Vt.reshape(n, at.size, r)
            for j, t in enumerate(at):
                X = np.ascontiguousarray(Vt[:, j, :])
                add(t, X)
                stencil_moments(int(t), X, hops, steps)
    return BlockMoments(M1, M2, M3, float(amp @ amp), int(r), dropped, bool(krylov))


def _weight_cut(logws: list[np.ndarray], budget: float) -> float:
    """The log weight from which basis vectors are kept: the smallest vectors over all blocks
    are dropped while their total weight stays within `budget`."""
    allw = np.sort(np.concatenate(logws)) if logws else np.zeros(0)
    if allw.size == 0:
        return -np.inf
    total = np.cumsum(np.exp(allw))
    k = int(np.searchsorted(total, budget, side="right"))  # the k smallest sum to <= budget
    return float(allw[min(k, allw.size - 1)]) if k > 0 else -np.inf


def _block_cost(n: int, r: int, krylov: bool | None, d: int, half_width: float = 0.0) -> float:
    """Rough operation count of one block: one eigendecomposition, or about 100 products of
    the sparse H (some d^4 entries a row) with r vectors; for a block left to `"auto"`
    (`krylov` None) the smaller of the eigendecomposition and the Chebyshev propagation over
    the reference span (50 times on [0, 2]) with the estimated spectral `half_width` / hbar."""
    if krylov:
        return KRYLOV_PRODUCTS * n * r * d**4
    eigh = EIGH_COST_FACTOR * float(n) ** 3
    if krylov is None and n >= KRYLOV_AUTO_MIN_DIM and half_width > 0:
        nnz = n * min(n, 1 + d * d * (d * d - 1) // 3)   # 5 a row at d = 2, 25 at d = 3, 81 at d = 4 (measured 5, 25-36, 47-83)
        chebyshev = _krylov_cost(n, r, nnz, half_width, _REFERENCE_TIMES, np.ones(_REFERENCE_TIMES.size, bool), 1.0)
        # the cost model's units against this estimate's (a complex eigendecomposition)
        return min(eigh, chebyshev * EIGH_COST_FACTOR / EIGH_COMPLEX_COST)
    return eigh


#: the output times the plan's cost estimates refer to (the time estimates scale from them)
_REFERENCE_TIMES = np.linspace(0.0, 2.0, 50)


def _half_width_bound(lam, h_eigenvalues: np.ndarray, norm_V: float, kappa: float) -> float:
    """The spectral half-width of H_lambda, estimated without building it: half the spread of J(h)
    on the irrep (its extreme weights against h's sorted eigenvalues) plus
    kappa lambda_1 N ||V|| / 2; 1.2-2x above the measured half-widths (d = 2, 3, 4)."""
    lam = np.asarray(lam, dtype=float)
    spread = float(lam @ (np.sort(h_eigenvalues)[::-1] - np.sort(h_eigenvalues)))
    return spread / 2 + kappa / 2 * lam[0] * lam.sum() * norm_V


def _block_task(args):
    job, common = args
    return _block_moments(*job, *common)


def _block_bytes(n: int) -> float:
    """Peak memory of one block of dimension n: the Hamiltonian, its eigenvectors and workspace."""
    return 16.0 * n * n * 4


class _BlockPlan(NamedTuple):
    """What `SymmetricEngine._plan` decides for one (model, rho0, N)."""

    p: np.ndarray                 # eigenvalues of rho0, decreasing
    W: np.ndarray                 # its eigenvectors
    V: np.ndarray                 # the interaction in that basis
    h: np.ndarray                 # the one-body Hamiltonian in that basis
    logp: np.ndarray
    lams: list                    # every Young diagram
    jobs: list                    # (lam, log multiplicity, krylov) of the blocks computed
    costs: list                   # their rough operation counts
    vectors: list                 # their dimensions and weighted vectors (n, r)
    skipped_bound: float          # weight bound of the blocks skipped whole
    discarded_blocks: float       # weight of blocks none of whose vectors reach the cut
    logcut: float                 # log weight from which basis vectors are kept


#: seconds per unit of the cost estimate times (d/2)^3 on 2 cores, calibrated on d = 2, N = 1000
#: and 2000 (thermal rho0), d = 3, N = 20 and 60, d = 4, N = 10 and 24 (benchmarks/README.md) at 50
#: evaluation times up to t = 2 (``CALIBRATION``)
SECONDS_PER_COST = 9e-11
CALIBRATION = (50, 2.0)
#: a stencil point costs about this fraction of an output time (reached by short steps or as an
#: extra output of a series)
STENCIL_SHARE = 0.25


@dataclass(frozen=True, kw_only=True)
class SymmetricEngine:
    """Exact closed dynamics on Schur-Weyl blocks; cost polynomial in N.

    truncation : total weight of R_N that may be dropped (reported, default 1e-12).
    memory_budget_gb : refuse N whose largest block to diagonalise would not fit; shared by the
        worker processes, it also sizes the groups of vectors propagated together (krylov).
    workers : processes over blocks; `"auto"` (default) uses every core when the blocks are
        large enough to pay for the processes (estimated operations above 2e8, e.g. a sum of
        dim^3 over diagonalised blocks above 2e7), else 1.
    method : per block, `"eigh"` diagonalises H_lambda once (all times at once), `"krylov"`
        propagates only the weighted basis vectors with the sparse H_lambda (Chebyshev series);
        `"auto"` (default) takes krylov for blocks of dimension >= 1500 in which at most 1/8 of
        the vectors carry weight (nearly pure rho0), where it saves both time and the n^2 memory,
        and for other blocks of dimension >= 400 where its estimated cost (from the block's
        spectral width) is lower than that of diagonalising.
    """

    truncation: float = 1e-12
    memory_budget_gb: float = MEMORY_BUDGET_GB
    workers: int | str = "auto"
    method: str = "auto"
    name: str = "symmetric"

    def __post_init__(self):
        object.__setattr__(self, "memory_budget_gb",
                           check_positive_number(self.memory_budget_gb, "memory_budget_gb", EngineError))
        object.__setattr__(self, "workers", check_workers(self.workers, "workers", EngineError))
        truncation = check_positive_number(self.truncation, "truncation", EngineError)
        if truncation >= 1:
            raise EngineError(f"truncation must be in (0, 1) (a weight of R_N that may be dropped), got {truncation!r}")
        object.__setattr__(self, "truncation", truncation)
        check_choice(self.method, METHODS, "method", EngineError)

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        """Closed models whose symmetric block (always computed) fits; the blocks a given rho0
        needs are checked again by `evolve` before any work."""
        if model.is_open:
            return False, ("the symmetric engine runs closed systems only (one-body jumps mix the blocks); "
                           "use engine='permutational' (or 'auto') for open systems")
        if model.is_driven:
            return False, ("the symmetric engine diagonalises a time-independent Hamiltonian; a driven model runs on "
                           "engine='permutational' (closed or open) or 'dense' (or 'auto')")
        return self._fits(weyl_dimension((N,) + (0,) * (model.d - 1)), N, model.d)

    def _fits(self, n: int, N: int, d: int, what: str = "its symmetric block") -> tuple[bool, str]:
        need = _block_bytes(n) / 2**30
        if need > self.memory_budget_gb:
            return False, (f"the symmetric engine needs about {need:.3g} GiB for {what} "
                           f"(dimension {n}) at N = {N}, d = {d}, over the memory budget of "
                           f"{self.memory_budget_gb:g} GiB; lower N, use a purer rho0 or a larger truncation, "
                           "or raise memory_budget_gb")
        return True, ""

    def memory_estimate(self, model: Model, N: int) -> float:
        """Peak bytes of the symmetric block (always computed); a mixed rho0 may need larger blocks,
        checked by `evolve` before any work, and their states: `estimated_memory`."""
        return _block_bytes(weyl_dimension((N,) + (0,) * (model.d - 1)))

    def cost(self, model: Model, N: int) -> float:
        return min(float(sum(weyl_dimension(lam) ** 3 for lam in partitions(N, model.d))), math.exp(700.0))

    def _plan(self, model: Model, rho0: np.ndarray, N: int):
        """The blocks (and basis vectors) this rho0 needs, with their estimated costs."""
        d = model.d
        p, W, V = eigenbasis(rho0, np.asarray(model.V))
        p = np.clip(p, 0.0, None)
        p = p / p.sum()
        h = W.conj().T @ np.asarray(model.h) @ W
        with np.errstate(divide="ignore"):
            logp = np.log(p)
        lams = partitions(N, d)
        # Half of the truncation budget skips whole blocks, smallest first, by the upper bound
        # dim U * dim S * prod p^lambda of their weight; what is left drops the smallest basis
        # vectors of the remaining blocks, by their exact weights, across all blocks.
        blocks = []
        for lam in lams:
            logm = log_multiplicity(lam)
            top = logm + log_highest_weight(lam, logp)
            blocks.append((math.exp(top) * weyl_dimension(lam), lam, logm))
        blocks.sort(key=lambda b: b[0])
        skipped_bound = 0.0  # upper bound of the weight in blocks not computed
        candidates = []
        for bound, lam, logm in blocks:
            if skipped_bound + bound <= self.truncation / 2:
                skipped_bound += bound
            else:
                candidates.append((lam, logm))
        logws = [log_vector_weights(weight_multiset(lam), logm, logp) for lam, logm in candidates]
        logcut = _weight_cut(logws, self.truncation - skipped_bound)
        jobs, costs, vectors = [], [], []
        h_eigenvalues, norm_V = np.linalg.eigvalsh(h), model.norm_V
        discarded_blocks = 0.0  # blocks none of whose vectors reach the cut
        for (lam, logm), logw in zip(candidates, logws):
            n, r = logw.size, int(np.count_nonzero(logw >= logcut))
            if r == 0:
                discarded_blocks += float(np.exp(logw).sum())
                continue
            krylov = use_krylov(self.method, n, r)
            jobs.append((lam, logm, krylov))
            half = (_half_width_bound(lam, h_eigenvalues, norm_V, model.kappa(N)) / 1.6 / model.hbar
                    if krylov is None else 0.0)
            costs.append(_block_cost(n, r, krylov, d, half))
            vectors.append((n, r))
        return _BlockPlan(p, W, V, h, logp, lams, jobs, costs, vectors, skipped_bound, discarded_blocks, logcut)

    def estimated_cost(self, model: Model, rho0: np.ndarray, N: int) -> float:
        """Rough operation count for this rho0 (the blocks and vectors it needs, see the truncation)."""
        return float(sum(self._plan(model, np.asarray(rho0), N).costs))

    def _workers(self, costs: list, jobs: int) -> int:
        """Worker processes for a plan (`workers="auto"`: several only for enough work; one inside
        a daemonic process such as a Dask worker, which may not start processes)."""
        if not may_start_processes():
            return 1
        if self.workers == "auto":
            workers = (os.cpu_count() or 1) if sum(costs) > PARALLEL_MIN_OPERATIONS else 1
        else:
            workers = self.workers
        return max(1, min(workers, jobs, os.cpu_count() or 1))

    def _states_bytes(self, workers: int) -> float:
        """Memory for propagated states per worker: a third of its share of the budget, at most
        `_STATES_BYTES`."""
        return min(_STATES_BYTES, self.memory_budget_gb * 2**30 / (3 * workers))

    def estimated_memory(self, model: Model, rho0: np.ndarray, N: int, evaluations: int, plan=None) -> float:
        """Peak bytes for this rho0 and number of evaluation times: per worker, its largest block's
        dense Hamiltonian and eigenvectors (where it may be diagonalised) and its states (the
        column groups stay within the worker's state budget), times the workers running at once
        (spin-1, d = 3, N = 32, 105 times: 2.5 GiB estimated, two workers of 1.44 GiB measured)."""
        plan = plan or self._plan(model, np.asarray(rho0), N)
        workers = self._workers(plan.costs, len(plan.jobs))
        budget = self._states_bytes(workers)
        per_block = [(0.0 if krylov else _block_bytes(n)) + min(budget, 16.0 * n * r * (evaluations + 60))
                     for (_, _, krylov), (n, r) in zip(plan.jobs, plan.vectors)]
        largest = sorted(per_block, reverse=True)[:workers]
        return float(sum(largest)) if largest else self.memory_estimate(model, N)

    def estimate(self, model: Model, N: int, *, rho0=None, evaluations: int = 21, t_final: float = 2.0,
                 outputs: int | None = None) -> Estimate:
        """Wall time (2 cores) and peak memory of `evolve` (see `Engine`): with
        `rho0`, from the blocks and vectors it needs (`estimated_cost`,
        `estimated_memory`); stencil points count `STENCIL_SHARE` of an output time."""
        if rho0 is None:
            cost, need = self.cost(model, N), self.memory_estimate(model, N)
        else:
            plan = self._plan(model, np.asarray(rho0), N)     # once: the blocks and vectors rho0 needs
            cost = float(sum(plan.costs))
            need = self.estimated_memory(model, rho0, N, evaluations, plan=plan)
        weighted = evaluations if outputs is None else outputs + (evaluations - outputs) * STENCIL_SHARE
        seconds = scaled_seconds(SECONDS_PER_COST, cost * (model.d / 2) ** 3, weighted, t_final, CALIBRATION)
        return Estimate(seconds, need)

    def evolve(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray, kmax: int = 2,
               progress: ProgressCallback | None = None, marginal_times=None) -> Trajectory:
        ok, why = self.supports(model, N)
        if not ok:
            raise EngineError(why)
        d = model.d
        kmax = min(kmax, N, 3)
        times = np.asarray(times, dtype=float)
        higher = higher_marginal_mask(marginal_times, times.size)   # where marginals k >= 2 are needed
        p, W, V, h, logp, lams, jobs, costs, _, skipped_bound, discarded_blocks, logcut = self._plan(model, rho0, N)
        dense_dims = [weyl_dimension(lam) for lam, _, krylov in jobs if not krylov]
        ok, why = self._fits(max(dense_dims, default=0), N, d, "the largest block this rho0 needs diagonalised")
        if not ok:
            raise EngineError(why)
        workers = self._workers(costs, len(jobs))
        states_bytes = self._states_bytes(workers)
        common = (logp, h, V, model.kappa(N), model.hbar, times, kmax, logcut, states_bytes, higher)
        results = []
        if workers == 1:
            # one BLAS thread over several blocks, as in the worker processes: idle OpenBLAS
            # threads spinning between the small dense products slow everything else; a single
            # block keeps them for its eigendecomposition (benchmarks/README.md, "Measurements
            # behind constants")
            with sparse_work() if len(jobs) > 1 else contextlib.nullcontext():
                for i, job in enumerate(jobs):
                    results.append(_block_task((job, common)))
                    if progress:
                        progress(int(times.size * (i + 1) / len(jobs)))
        else:
            # costliest blocks first, one task per block; each worker process uses one BLAS thread
            order = [job for _, job in sorted(zip(costs, jobs), key=lambda cj: -cj[0])]
            with process_pool(workers) as pool:
                futures = [pool.submit(_block_task, (job, common)) for job in order]
                for i, fut in enumerate(as_completed(futures)):
                    results.append(fut.result())
                    if progress:
                        progress(int(times.size * (i + 1) / len(futures)))
        M1 = sum(r.M1 for r in results)
        M2 = sum(r.M2 for r in results)
        M3 = sum(r.M3 for r in results) if kmax >= 3 else None
        M2[~higher] = np.nan
        if M3 is not None:
            M3[~higher] = np.nan
        kept_weight = sum(r.kept_weight for r in results)
        kept_vectors = sum(r.kept_vectors for r in results)
        discarded = sum(r.dropped for r in results) + skipped_bound + discarded_blocks
        if abs(1.0 - kept_weight - discarded) > 1e-8 + discarded:
            raise EngineError(f"symmetric engine: the block weights sum to {kept_weight + discarded:.12g}, not 1; "
                              "this is a bug, please report it with the model")
        marg_rot = moments_to_marginals(M1, M2, M3, N, d)
        marginals = {}
        for k in range(1, kmax + 1):
            Wk = kron_all(*([W] * k))
            marginals[k] = np.einsum("ij,tjk,lk->til", Wk, marg_rot[k], Wk.conj())
        entropy = np.full(times.size, N * von_neumann_entropy(np.diag(p)))
        stats = {
            "blocks": len(lams),
            "blocks_computed": len(jobs),
            "vectors_propagated": kept_vectors,
            "blocks_krylov": int(sum(1 for res in results if res.krylov)),
            "largest_block": max((weyl_dimension(job[0]) for job in jobs), default=0),
            "truncation": self.truncation,
            "method": "Schur-Weyl blocks, Gelfand-Tsetlin basis",
        }
        return Trajectory(times=times, N=N, entropy=entropy, marginals=marginals, engine=self.name,
                          discarded_weight=float(discarded), stats=stats)
