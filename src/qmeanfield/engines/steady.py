r"""Steady states of the permutational engine's generator and its Liouvillian gap.

Functions of a `PermutationalEngine` (its memory budget, threads,
generator and propagator), called through the engine's methods of the same names:

* `steady_state`: sparse LU for small block states; beyond, BiCGSTAB preconditioned with
  the exactly inverted no-jump part (`NoJumpPreconditioner`), first on windows of the
  blocks in the reference's eigenbasis (`steady_windows`), then on every entry, then
  relaxation as the fallback;
* `liouvillian_gap`: the slowest relaxation rate (dense eigenvalues, or Arnoldi on the
  propagator);
* `estimate_steady`, `steady_memory_estimate`, `steady_window_entries`,
  `supports_steady`: what a steady state costs, before it starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._checks import check_positive_number
from .._parallel import SharedThreads, sparse_work
from ..blocks.liouvillian import block_liouvillian, no_jump_block
from ..blocks.lyapunov import BlockLyapunov
from ..blocks.space import BlockMeasurement, BlockSpace, BlockWindows, measure_windows
from ..errors import EngineError, QMeanFieldError
from ..estimates import Estimate
from ..model import Model
from ..propagators import ThreadedProduct
from ..states import validate_density_matrix

__all__ = ["SteadyState", "NoJumpPreconditioner", "steady_windows", "steady_state", "liouvillian_gap",
           "estimate_steady", "steady_memory_estimate", "steady_window_entries", "supports_steady"]


#: block-state sizes (sum of block dimensions squared) solved directly (sparse LU); larger ones
#: by preconditioned BiCGSTAB (benchmarks/README.md, "Measurements behind constants")
DIRECT_SOLVE_MAX = 4_000
#: BiCGSTAB: relative residual asked of (L + u tr) x = u, most iterations
KRYLOV_RTOL, KRYLOV_MAXITER = 1e-13, 4_000
#: BiCGSTAB restarts from its iterate after this many iterations: README's open model at
#: N = 1000 on windows stagnated at a relative residual ~0.1 from iteration 200 on without
#: restarts; restarted every 200 it plateaued at 1e-8, every 500 it converged in 1910
KRYLOV_RESTART = 500
#: most iterations per particle (the iterations grow about as 2 N; at least KRYLOV_MAXITER)
KRYLOV_MAXITER_PER_N = 4
#: every this many BiCGSTAB iterations the steady-state criterion ||L x||_1 / ||L||_1 is checked
#: on the normalised iterate (one product), and the solve stops below STEADY_MARGIN * tol
STEADY_CHECK_EVERY, STEADY_MARGIN = 10, 0.5


class _Converged(Exception):
    """Raised from BiCGSTAB's callback when the iterate meets the steady-state criterion."""

    def __init__(self, x: np.ndarray):
        super().__init__()
        self.x = x

#: shift of the preconditioner's blocks, relative to ||L||_1 (regularises blocks whose no-jump
#: part has a dark state)
PRECONDITIONER_SHIFT = 1e-6
#: entries below this times the largest one are set to zero in and out of the preconditioner:
#: far blocks of a large-N steady state hold weights like p^N (0.24^320 ~ 1e-198), the Krylov
#: vectors there sink into subnormal numbers, and every product and matrix product touching
#: them runs several times slower (N = 240: 0.50 s per BiCGSTAB iteration before they appear at
#: iteration ~25, 1.35 s after)
NEGLIGIBLE = 1e-200
#: the windowed solve (:func:`_window_solve`): the smallest weight kept, relative
#: to the largest, on the first try and on the second (if the first misses the criterion over
#: every row its entries reach); the floor of the reference's eigenvalue ratios for the windows;
#: the largest share of the entries the windows may hold (beyond it the whole space is solved).
#: Windows at 1e-16 left residuals of 6-7e-11 (README's open model, N = 80 - 320), at 1e-20 5-8e-12
WINDOW_WEIGHT_MIN = (1e-20, 1e-40)
WINDOW_P_FLOOR = 0.02
WINDOW_MAX_FRACTION = 0.5
#: the windowed solve stops this much below the tolerance, measured on the windows' own rows:
#: what flows out of the windows adds to the residual checked afterwards (README's open model,
#: N = 160, 1e-16 windows stopped at tol: 1.06e-10, over it)
WINDOW_TOL_FACTOR = 0.1
#: the rows of the windowed generator: windows this much wider in weight than the unknowns'
#: (widened again by the same factor where a column reaches beyond them)
WINDOW_ROW_MARGIN = 1e-10
#: block-state sizes whose Liouvillian gap comes from dense eigenvalues
DENSE_GAP_MAX = 400
#: first and largest relaxation chunk (time units) of the steady-state relaxation (the fallback)
RELAX_CHUNK, RELAX_CHUNK_MAX = 5.0, 50.0


class NoJumpPreconditioner:
    r"""Approximate inverse of the block generator: its no-jump part
    $X \mapsto A_\lambda X + X A_\lambda^\dagger$, $A_\lambda = -iH_\lambda/\hbar - K_\lambda/2 - s/2$
    ($K_\lambda = J(\sum_k L_k^\dagger L_k) + \kappa\sum_c J(C_c)^\dagger J(C_c)$, s a small shift),
    inverted exactly block by block (`BlockLyapunov`: through the
    eigendecomposition of $A_\lambda$, four matrix products, where its eigenvectors are well
    enough conditioned, else through its Schur form - at d = 2 from block dimensions ~180 on).
    What is left, the jumps' sandwich terms, is what the Krylov solver iterates on.
    `threads` > 1: the blocks, largest first, are taken by that many threads as they are free
    (the matrix products and the compiled Sylvester leaves release the GIL; N = 120: 17.9 ms ->
    11.6 ms per application on 2 cores); call `close` when done. `windows`: the same on
    the windows' entries (`BlockWindows`), each block's no-jump part
    cut to its window's rows and columns.
    """

    def __init__(self, space: BlockSpace, model: Model, N: int, shift: float, threads: int = 1,
                 windows: BlockWindows | None = None):
        self.space = space
        self.layout = space.offsets if windows is None else windows.offsets
        self.parts: list[BlockLyapunov | None] = []
        for i in range(len(space.dims)):
            rows = None if windows is None else windows.rows[i]
            if rows is not None and rows.size == 0:
                self.parts.append(None)
                continue
            A, _ = no_jump_block(space.irrep(i), np.asarray(model.h), np.asarray(model.V), list(model.jumps),
                                 list(model.collective_jumps), model.kappa(N), model.hbar)
            A = A - (0.5 * shift) * sp.identity(A.shape[0], format="csr")
            self.parts.append(BlockLyapunov(A if rows is None else A[rows][:, rows]))
        # blocks of one size on the eigen route are solved together, by products of stacked
        # matrices (windows: many blocks share a size; N = 640, 203 windows of 40 sizes)
        sizes: dict[int, list[int]] = {}
        for i, part in enumerate(self.parts):
            if part is not None and part.eigen_factors is not None:
                sizes.setdefault(part.n, []).append(i)
        self._work: list = []                  # (cost, blocks, stacked factors or None)
        for n, members in sizes.items():
            if len(members) > 1:
                V, Vi, G = (np.stack(f) for f in zip(*(self.parts[i].eigen_factors for i in members)))
                gather = np.concatenate([self.layout[i] + np.arange(n * n) for i in members])
                self._work.append((len(members) * n**3, members,
                                   (V, Vi, G, np.ascontiguousarray(V.conj().transpose(0, 2, 1)),
                                    np.ascontiguousarray(Vi.conj().transpose(0, 2, 1)), gather)))
        grouped = {i for _, members, _ in self._work for i in members}
        self._work += [(part.n**3, [i], None) for i, part in enumerate(self.parts)
                       if part is not None and i not in grouped]
        self._work.sort(key=lambda w: -w[0])   # the largest first
        self._workers = SharedThreads(threads)
        self.calls = 0

    @property
    def stacked_blocks(self) -> int:
        """How many blocks are solved together with others of their size (stacked products)."""
        return sum(len(members) for _, members, stacked in self._work if stacked is not None)

    @property
    def schur_blocks(self) -> int:
        """How many blocks are solved by their Schur form (the eigenvectors too ill-conditioned)."""
        return sum(part is not None and part.method == "schur" for part in self.parts)

    def __call__(self, c: np.ndarray) -> np.ndarray:
        self.calls += 1
        out = np.empty_like(c)
        off = self.layout
        floor = NEGLIGIBLE * float(np.abs(c).max(initial=0.0))

        def block(item):
            _, members, stacked = item
            if stacked is None:
                i = members[0]
                n = self.parts[i].n
                C = c[off[i]:off[i + 1]].reshape(n, n)
                X = self.parts[i].solve(np.where(np.abs(C) < floor, 0.0, C))
                X[np.abs(X) < floor] = 0.0
                out[off[i]:off[i + 1]] = X.reshape(-1)
                return
            V, Vi, G, Vh, Vih, gather = stacked
            C = c[gather].reshape(V.shape)
            C[np.abs(C) < floor] = 0.0
            X = V @ ((Vi @ C @ Vih) * G) @ Vh
            X[np.abs(X) < floor] = 0.0
            out[gather] = X.reshape(-1)

        self._workers.map(block, self._work)
        return out

    def close(self) -> None:
        self._workers.close()


@dataclass(frozen=True)
class SteadyState:
    r"""An N-body steady state on Schur-Weyl blocks.

    space : the block layout (`BlockSpace`).
    state : the state vector of concatenated blocks $P_\lambda$ (trace one); None for a
        state solved on windows (`windows`, `basis`, `window_state`; see `full_state`).
    method : `"direct"` (sparse LU), `"bicgstab-windows"` (the same Krylov solver on windows
        of the blocks in the reference's eigenbasis, `steady_windows`), `"bicgstab"`
        (preconditioned Krylov solver on every entry, see `NoJumpPreconditioner`) or
        `"bicgstab+relaxation"` (then propagated to stationarity, the fallback).
    iterations : BiCGSTAB iterations (0 for the other methods; all tries together).
    residual : $\|\mathcal L x\|_1 / \|\mathcal L\|_1$; for `"bicgstab-windows"` in the basis
        it was solved in (the reference's eigenbasis): every row the windows' entries reach, over
        the largest column sum of those entries' columns.
    solved_entries : how many block entries the last solve had as unknowns (the windows' entries
        for `"bicgstab-windows"`, else all of them).
    windows, basis, window_state : for `"bicgstab-windows"`: the windows
        (`BlockWindows`), the one-body basis W of the solve (columns; the
        state is $W^{\otimes N}$ applied to the windowed one) and the windowed vector.
    """

    space: BlockSpace
    state: np.ndarray | None
    method: str
    residual: float
    iterations: int = 0
    solved_entries: int = 0
    windows: BlockWindows | None = None
    basis: np.ndarray | None = None
    window_state: np.ndarray | None = None

    def full_state(self) -> np.ndarray:
        """The state vector of every entry (`state`, or the windowed state rotated back: dense
        blocks, as many numbers as the whole space - 2.7 GB at d = 2, N = 1000)."""
        if self.state is not None:
            return self.state
        win, x = self.windows, np.zeros(self.space.size, dtype=complex)
        which = [i for i in range(len(win.dims)) if win.dims[i]]
        blocks = win.blocks(self.window_state)
        for i, U in zip(which, self.space.irrep_unitaries(self.basis, which)):
            Y = blocks[i]
            Ur = U[:, win.rows[i]]
            x[self.space.offsets[i]:self.space.offsets[i + 1]] = (Ur @ Y @ Ur.conj().T).reshape(-1)
        return x

    def measure(self, kmax: int = 2) -> tuple[float, dict[int, np.ndarray]]:
        """The von Neumann entropy of the N-body state and its marginals k = 1..`kmax` (<= 2);
        for a windowed state from its windows (`measure_windows`),
        the marginals rotated back to the model's basis."""
        if self.state is not None:
            meas = BlockMeasurement(self.space, 1, kmax)
            meas.add(0, self.state)
            return float(meas.entropy[0]), {k: v[0] for k, v in meas.marginals().items()}
        entropy, _, marg = measure_windows(self.windows, self.window_state, kmax)
        W = self.basis
        out, Wk = {}, np.ones((1, 1))
        for k in range(1, kmax + 1):
            Wk = np.kron(Wk, W)
            out[k] = Wk @ marg[k] @ Wk.conj().T
        return entropy, out


def steady_windows(space: BlockSpace, reference: np.ndarray, weight_min: float = 1e-20):
    r"""The windows of the windowed steady-state solve, in the eigenbasis W of the one-body
    `reference` (eigenvalues descending): in each block the Gelfand-Tsetlin rows whose weight
    in $\mathrm{diag}(q)^{\otimes N}$ is at least `weight_min` times the largest of all
    blocks, q the reference's eigenvalues floored at `WINDOW_P_FLOOR` times the largest.
    Returns (`BlockWindows`, W, the blocks' log weights relative to the
    largest, for `_windows_above`)."""
    p, W = np.linalg.eigh((reference + reference.conj().T) / 2)
    p, W = np.clip(p[::-1], 0.0, None), W[:, ::-1]
    p = np.maximum(p, WINDOW_P_FLOOR * p[0])
    logw = space.product_log_weights(p / p.sum())
    top = max(float(w.max()) for w in logw)
    logw = [w - top for w in logw]
    return _windows_above(space, logw, weight_min), W, logw


def _windows_above(space: BlockSpace, logw: list[np.ndarray], weight_min: float) -> BlockWindows:
    """The rows of each block whose relative log weight (`steady_windows`) is at least log(weight_min)."""
    return BlockWindows(space, [np.flatnonzero(w >= math.log(weight_min)) for w in logw])


#: steady states (BiCGSTAB, d = 2): about 5 s at 91 881 block entries (N = 80), growing as size^1.15
#: below and size^1.3 above, and as size^1.46 beyond N = 160 (708 561 entries), where the
#: preconditioner's dense block products and the growing iteration counts dominate
#: (benchmarks/README.md, steady states)
STEADY_REFERENCE = (91_881, 5.0)
STEADY_LARGE = (708_561, 1.46)
#: the windowed solve: seconds per window entry and particle (the iterations grow about as 2 N,
#: each costs about the windows' entries; README's open model N = 320, 640, 1000)
STEADY_WINDOW_SECONDS = 4e-7
#: block states this small are solved directly in a fraction of a second
STEADY_SMALL = (4_000, 0.1)
#: the Liouvillian gap costs about this many steady states on every entry (Arnoldi on the
#: propagator; 14x at N = 40 and 17x at N = 80 for examples/open_large_N.toml)
GAP_COST_FACTOR = 16


def steady_memory_estimate(engine, model: Model, N: int, reference=None) -> float:
    """Peak bytes of `steady_state` from `reference`: where its windows apply
    (`steady_windows`), the windowed solve's - per window entry its generator columns
    (about 40 nonzeros, 20 bytes each, 1.25x while assembled), preconditioner factors and
    Krylov vectors (README's open model: N = 320 0.34 GiB measured, 0.41 estimated; N = 640
    0.46 / 0.49); elsewhere `memory_estimate` of the complex generator's solve."""
    entries = steady_window_entries(model, N, reference)
    if entries is not None:
        return float(entries) * (40 * 20 * 1.25 + 64 + 16 * 24) + 250 * 2**20
    return engine.memory_estimate(model, N, real=False)


def steady_window_entries(model: Model, N: int, reference=None) -> int | None:
    """How many entries the first windowed try of `steady_state` from `reference`
    solves for (`steady_windows`), or None where it would solve every entry (no
    reference, a closed model, a direct solve, or windows over `WINDOW_MAX_FRACTION`)."""
    if reference is None or not model.is_open:
        return None
    space = BlockSpace(N, model.d)
    if space.size <= DIRECT_SOLVE_MAX:
        return None
    win = steady_windows(space, np.asarray(reference), WINDOW_WEIGHT_MIN[0])[0]
    return win.size if win.size <= WINDOW_MAX_FRACTION * space.size else None


def estimate_steady(engine, model: Model, N: int, reference=None, *, gap: bool = False) -> Estimate:
    """Wall time (2 cores) and peak memory of `steady_state` from `reference` (on its
    windows where they apply, `steady_window_entries`), plus with `gap` those of
    `liouvillian_gap` (on the whole generator)."""
    size = math.comb(N + model.d**2 - 1, N)
    entries = steady_window_entries(model, N, reference)
    if size <= STEADY_SMALL[0]:
        seconds = STEADY_SMALL[1]
    elif entries is not None:
        seconds = STEADY_WINDOW_SECONDS * entries * N + 0.2
    else:
        seconds = _steady_full_seconds(size)
    need = steady_memory_estimate(engine, model, N, reference)
    if gap:
        seconds += GAP_COST_FACTOR * (STEADY_SMALL[1] if size <= STEADY_SMALL[0] else _steady_full_seconds(size))
        need = max(need, engine.memory_estimate(model, N))
    return Estimate(float(seconds), float(need))


def _steady_full_seconds(size: int) -> float:
    ref_size, ref_seconds = STEADY_REFERENCE
    if size <= ref_size:
        return ref_seconds * (size / ref_size) ** 1.15
    large, exponent = STEADY_LARGE
    return ref_seconds * (min(size, large) / ref_size) ** 1.3 * (max(size, large) / large) ** exponent


def supports_steady(engine, model: Model, N: int, reference=None) -> tuple[bool, str]:
    """Whether `steady_state` from `reference` fits the memory budget
    (`steady_memory_estimate`; a windowed solve that misses its criterion falls back to
    every entry, which must fit then)."""
    need = steady_memory_estimate(engine, model, N, reference) / 2**30
    if need > engine.memory_budget_gb:
        return False, (f"the steady state needs about {need:.3g} GiB for N = {N}, d = {model.d}, over the "
                       f"memory budget of {engine.memory_budget_gb:g} GiB; lower N or raise memory_budget_gb")
    return True, ""


def steady_state(engine, model: Model, N: int, *, tol: float = 1e-10, t_max: float = 2000.0,
                 on_iteration=None, reference=None, windows: bool = True) -> SteadyState:
    r"""The N-body steady state: the normalised kernel of the block generator.

    Up to `DIRECT_SOLVE_MAX` block entries by sparse LU (one equation replaced by the trace
    condition); beyond, by BiCGSTAB preconditioned
    with the exactly inverted no-jump part (`NoJumpPreconditioner`) on
    $(\mathcal L + u\,\mathrm{tr})\,x = u$, u the product state of `reference` (a
    one-body state, e.g. the mean-field fixed point; default the maximally mixed one), which
    is also the first iterate. Its solutions are the steady states of trace one (the range of
    $\mathcal L$ is traceless).

    `windows` (default): first solve in the eigenbasis of `reference` on a window of each
    block (`steady_windows`: the entries where $\rho^{\otimes N}$ weighs at least
    1e-20 of its largest weight; a second try at 1e-40, from the first), where a steady state
    near $\rho^{\otimes N}$ lives: its entries fall off geometrically away from each
    block's highest weight, so the windows hold a few percent of the entries at large N
    (README's open model: 123 000 of 5.6 million at N = 320). Neither the whole generator nor
    the whole state is formed: the residual is taken in that basis over every row the
    windows' entries reach (see `SteadyState`), and the result keeps the windows
    (`SteadyState.measure`, `SteadyState.full_state`). If both tries miss `tol`
    (or the windows would hold more than half the entries), every entry is solved for, from
    the last windowed result; where that does not fit the memory budget an
    `EngineError` says so.
    If the solve on every entry does not reach `tol` in $\|\mathcal L x\|_1 / \|\mathcal L\|_1$, the
    iterate relaxes with this engine's propagator until it does (or until `t_max`).
    `on_iteration`: called with the number of BiCGSTAB iterations done after each one (for
    progress reports; README's open model from the fixed point: 120 / 240 / 550 / 1910
    iterations at N = 80 / 160 / 320 / 1000 on the windows; 110 / 210 / 540 at N = 80 / 160 /
    320 on every entry).
    Closed models have no unique steady state and are refused.
    """
    if not model.is_open:
        raise QMeanFieldError("steady_state needs an open model (jumps or collective_jumps)")
    if not isinstance(windows, (bool, np.bool_)):
        raise QMeanFieldError(f"windows must be True or False, got {windows!r}")
    reference = np.eye(model.d) / model.d if reference is None else validate_density_matrix(reference, "reference", model.d)
    with sparse_work():
        return _steady_state(engine, model, N, tol, t_max, on_iteration, reference, windows)


def _steady_state(engine, model: Model, N: int, tol: float, t_max: float, on_iteration,
                  reference: np.ndarray, windows: bool) -> SteadyState:
    space = BlockSpace(N, model.d)
    iterations, last = 0, None
    if windows and space.size > DIRECT_SOLVE_MAX:
        for weight_min in WINDOW_WEIGHT_MIN:
            got = _window_solve(engine, space, model, N, reference, tol, weight_min, on_iteration, iterations, last)
            if got is None:
                break
            last, iterations = got, got.iterations
            if got.residual < tol:
                return got
        if last is not None:
            ok, why = engine.supports(model, N, real=False)
            if not ok:
                raise EngineError(f"the steady state on windows missed tol = {tol:g} (residual {last.residual:.3g} "
                                  f"on {last.solved_entries} entries), and solving for every entry does not fit: {why}")
    space, A = engine.generator(model, N)
    trace_row = space.trace_row()
    product = ThreadedProduct(A, engine.threads())   # its rows split over the threads
    try:
        scale = product.column_norm()              # ||L||_1 (abs(A) would copy A)
        x, method, its = _solve(engine, space, model, N, product, trace_row, scale, on_iteration, reference, tol,
                                     x0=None if last is None else last.full_state(), done=iterations)
        iterations += its
        x = x / (trace_row @ x)
        residual = float(np.abs(product(x)).sum() / scale) if np.isfinite(x).all() else np.inf
    finally:
        product.close()
    if method == "bicgstab" and not residual < tol:
        x = _relax_to_stationarity(engine, space, A, x if np.isfinite(x).all() else None, scale, tol, t_max)
        method = "bicgstab+relaxation"
        x = x / (trace_row @ x)
        residual = float(np.abs(A @ x).sum() / scale)
    return SteadyState(space=space, state=x, method=method, residual=residual, iterations=iterations,
                       solved_entries=space.size)


def _window_solve(engine, space: BlockSpace, model: Model, N: int, reference: np.ndarray, tol: float,
                  weight_min: float, on_iteration, done: int, start: SteadyState | None = None):
    r"""The steady state on windows of the blocks, in the eigenbasis of `reference`.

    Rotated so that the reference is diagonal, $\rho^{\otimes N}$ is diagonal in every
    block and its entries fall off geometrically away from the highest weight (by the
    reference's eigenvalue ratios), and so do those of a steady state near it. The windows
    (`steady_windows` at `weight_min`) are the unknowns; the rotated model's generator
    is built on their columns and on the rows of wider windows (`WINDOW_ROW_MARGIN` times
    `weight_min`, widened until they hold every row those columns reach), so the residual
    $\|\mathcal L x\|_1$ of the windowed state is exact. Solved by the preconditioned
    BiCGSTAB of `_solve` (from `start`, an earlier windowed state, if given) to
    `WINDOW_TOL_FACTOR` times `tol`. Returns the windowed `SteadyState` (its
    residual is the caller's to judge), or None where the windows would hold more than
    `WINDOW_MAX_FRACTION` of the entries."""
    win, W, logw = steady_windows(space, reference, weight_min)
    if win.size > WINDOW_MAX_FRACTION * space.size:
        return None
    rotated = model.rotated(W)
    args = (np.asarray(rotated.h), np.asarray(rotated.V), list(rotated.jumps), list(rotated.collective_jumps),
            rotated.kappa(N), rotated.hbar)
    margin = WINDOW_ROW_MARGIN
    while True:
        rows = _windows_above(space, logw, weight_min * margin)
        escaped: list = []
        A = block_liouvillian(space, *args, threads=engine.threads(), windows=rows, columns=win, escaped=escaped)
        if not escaped[0] or rows.size == space.size:
            break
        margin *= WINDOW_ROW_MARGIN          # some column reaches beyond: wider rows
    square = A[win.positions_in(rows)]       # the rows of the windows themselves
    full = ThreadedProduct(A, engine.threads())
    product = ThreadedProduct(square, engine.threads())
    pre = None
    try:
        scale = full.column_norm()           # every row of these columns is there
        diag = win.diagonal_positions()
        trace_row = np.zeros(win.size, dtype=complex)
        trace_row[diag] = 1.0
        u = np.zeros(win.size, dtype=complex)
        u[diag] = np.exp(np.concatenate([w[r] for w, r in zip(logw, win.rows)]))
        x0 = None
        if start is not None and win.contains(start.windows):
            x0 = np.zeros(win.size, dtype=complex)
            x0[start.windows.positions_in(win)] = start.window_state
        pre = NoJumpPreconditioner(space, rotated, N, PRECONDITIONER_SHIFT * scale, threads=engine.threads(),
                                   windows=win)
        y, its = _bicgstab(product, trace_row, u, pre, scale, WINDOW_TOL_FACTOR * tol, on_iteration,
                                x0=x0, done=done, N=N)
        y = y / (trace_row @ y)
        residual = float(np.abs(full(y)).sum() / scale) if np.isfinite(y).all() else np.inf
    finally:
        full.close()
        product.close()
        if pre is not None:
            pre.close()
    return SteadyState(space=space, state=None, method="bicgstab-windows", residual=residual,
                       iterations=done + its, solved_entries=win.size, windows=win, basis=W, window_state=y)


def _solve(engine, space: BlockSpace, model: Model, N: int, product, trace_row, scale: float,
           on_iteration, reference: np.ndarray, tol: float, x0: np.ndarray | None = None, done: int = 0):
    r"""$\mathcal L x = 0$ with trace one: by sparse LU (one equation replaced by the trace
    condition) up to `DIRECT_SOLVE_MAX` entries, else by preconditioned BiCGSTAB on
    $(\mathcal L + u\,\mathrm{tr})\,x = u$ (from `x0` if given, else from u).
    Returns (x, method, iterations)."""
    if space.size <= DIRECT_SOLVE_MAX:
        rhs = np.zeros(space.size, dtype=complex)
        rhs[0] = 1.0
        M = sp.vstack([sp.csr_matrix(trace_row), product.A[1:]]).tocsc()
        return spla.spsolve(M, rhs), "direct", 0
    pre = NoJumpPreconditioner(space, model, N, PRECONDITIONER_SHIFT * scale, threads=engine.threads())
    try:
        x = _bicgstab(product, trace_row, space.product_state_vector(reference), pre, scale, tol,
                           on_iteration, x0=x0, done=done, N=N)[0]
    finally:
        pre.close()
    return x, "bicgstab", pre.calls // 2


def _bicgstab(product, trace_row: np.ndarray, u: np.ndarray, pre, scale: float, tol: float, on_iteration,
              x0: np.ndarray | None = None, done: int = 0, N: int = 0):
    """BiCGSTAB on (L + u tr) x = u, preconditioned by `pre`, stopped on the steady-state
    criterion of the normalised iterate (checked every `STEADY_CHECK_EVERY` iterations),
    restarted every `KRYLOV_RESTART` iterations, at most `KRYLOV_MAXITER_PER_N` N of them
    (at least `KRYLOV_MAXITER`). `on_iteration` gets the iterations so far plus `done`.
    Returns (x, iterations)."""
    # the trace condition added as a rank-one term, u tr(x), u a product state: replacing
    # one equation by it instead (the bordered system) took 148 / 357 iterations at
    # N = 80 / 160 (README's open example) and diverged at N = 240 (the residual of the
    # normalised iterate grew past 1e2); this takes 140 / 280 and converges at N = 240
    diag = np.flatnonzero(trace_row)
    u = u / u[diag].sum()
    n = u.size

    def augmented(v):
        out = product(v)
        out += v[diag].sum() * u
        return out

    def callback(xk):
        its = pre.calls // 2                        # two preconditioner calls per iteration
        if on_iteration is not None:
            on_iteration(done + its)
        if its % STEADY_CHECK_EVERY == 0:
            # stop on the criterion itself, not on the proxy KRYLOV_RTOL of this system
            # (README example: 140 / 281 -> 110 / 210 iterations at N = 80 / 160)
            t = abs(xk[diag].sum())
            if t > 0 and np.abs(product(xk)).sum() < STEADY_MARGIN * tol * scale * t:
                raise _Converged(xk.copy())

    x = u.copy() if x0 is None else x0 / x0[diag].sum()
    first, most = pre.calls, max(KRYLOV_MAXITER, KRYLOV_MAXITER_PER_N * N)
    try:
        while (pre.calls - first) // 2 < most:
            chunk = min(KRYLOV_RESTART, most - (pre.calls - first) // 2)
            x, info = spla.bicgstab(spla.LinearOperator((n, n), matvec=augmented, dtype=complex), u, x0=x,
                                    rtol=KRYLOV_RTOL, atol=0.0, maxiter=chunk,
                                    M=spla.LinearOperator((n, n), matvec=pre, dtype=complex), callback=callback)
            if info <= 0:          # converged to KRYLOV_RTOL, or broke down
                break
    except _Converged as stop:
        x = stop.x
    return x, pre.calls // 2


def _relax_to_stationarity(engine, space: BlockSpace, A, x, scale: float, tol: float, t_max: float) -> np.ndarray:
    """Propagate x (default: the maximally mixed state) until ||L x||_1 / ||L||_1 < tol."""
    prop = engine.propagator(A)
    if x is None:
        x = space.product_state_vector(np.eye(space.d) / space.d)
    t, chunk = 0.0, RELAX_CHUNK
    try:
        while t < t_max:
            x = prop(x, chunk)
            t += chunk
            if np.abs(A @ x).sum() / scale < tol:
                break
            chunk = min(2 * chunk, RELAX_CHUNK_MAX)
    finally:
        prop.close()
    return x


def liouvillian_gap(engine, model: Model, N: int, *, tau: float = 1.0, modes: int = 4) -> float:
    r"""The slowest relaxation rate $g = -\max \mathrm{Re}\,\lambda$ over the eigenvalues
    $\lambda \ne 0$ of the block generator (the symmetric sector, where
    $\rho_0^{\otimes N}$ lives).

    Arnoldi (ARPACK) on the propagator $e^{\tau\mathcal L}$, whose largest eigenvalues
    $e^{\tau\lambda}$ are the slowest modes (no factorisation of $\mathcal L$);
    $\mathrm{Re}\,\lambda = \log|\mu|/\tau$. The steady state ($|\mu| = 1$) is left
    out; a step `tau` so long that the slowest other mode decays below 1e-3 is shortened
    tenfold. Up to `DENSE_GAP_MAX` block entries the generator is diagonalised densely instead.
    Cost: about 10-20 times the steady state (N = 40: 10 s, N = 80: 2 min for the README's
    open example on 2 cores).
    """
    if not model.is_open:
        raise QMeanFieldError("liouvillian_gap needs an open model (jumps or collective_jumps)")
    tau = check_positive_number(tau, "tau", QMeanFieldError)
    with sparse_work():
        space = BlockSpace(N, model.d)
        if space.size <= DENSE_GAP_MAX:
            _, A = engine.generator(model, N)
            rates = np.linalg.eigvals(A.toarray()).real
        else:
            # the real coordinates' generator has the same spectrum (the map commutes with
            # the adjoint, and the Hermitian matrices span all matrices over C)
            _, A = engine.generator(model, N, real=True)
            prop = engine.propagator(A)
            try:
                for _ in range(4):   # a step so long that every mode but the steady state vanishes: shorten it
                    op = spla.LinearOperator(A.shape, dtype=float,
                                             matvec=lambda v, s=tau: prop(np.asarray(v, dtype=float).ravel(), s))
                    k = min(modes, space.size - 2)
                    mu = spla.eigs(op, k=k, which="LM", tol=1e-10, ncv=min(space.size - 1, max(2 * k + 1, 20)),
                                   return_eigenvectors=False)
                    if np.sort(np.abs(mu))[-2] > 1e-3:
                        break
                    tau /= 10
            finally:
                prop.close()
            rates = np.log(np.abs(mu)) / tau
    rates = np.sort(rates)[::-1]                     # 0 (the steady state) first
    return float(-rates[1]) if rates.size > 1 else float("nan")
