r"""Permutational engine: exact open (Lindblad) N-body dynamics on Schur-Weyl blocks, any d.

The Lindblad equation of THEORY section 1 with one-body jumps :math:`L_k` on every particle,
optional collective jumps :math:`\sqrt{\kappa_N}\sum_j (C_c)_j` and the general two-body
Hamiltonian keeps :math:`R_N` permutation-symmetric, so

.. math::
    R_N = \bigoplus_\lambda \frac{P_\lambda}{\dim S_\lambda} \otimes 1_{S_\lambda},
    \qquad \sum_\lambda \mathrm{tr}\, P_\lambda = 1,

with :math:`P_\lambda \ge 0` on the :math:`\mathfrak{gl}(d)` irrep :math:`U_\lambda` (Gelfand-Tsetlin
basis). The state is the list of blocks :math:`P_\lambda` (:math:`\sum_\lambda (\dim U_\lambda)^2`
numbers, :math:`\binom{N+3}{3}` for d = 2), never a :math:`d^{2N}` object.

Terms inside a block: the Hamiltonian :math:`H_\lambda` (as in the symmetric engine), the
anticommutator with :math:`J(\sum_k L_k^\dagger L_k)` and the collective jumps
:math:`J(C) P J(C)^\dagger`. The one-body "sandwich" :math:`\sum_j L_j R L_j^\dagger` moves one
box: restricting :math:`S_N` to :math:`S_{N-1}` (particle N apart) and using the branching isometries
:math:`W_{\mu\lambda}: U_\lambda \to U_\mu \otimes \mathbb C^d` (λ = μ + box,
:func:`~qmeanfield.blocks.irreps.branching_isometry`),

.. math::
    \Big(\sum_j L_j R L_j^\dagger\Big)_{\lambda'} = \sum_{\mu \subset \lambda'} \sum_{\lambda \supset \mu}
    \frac{N \dim S_\mu}{\dim S_\lambda}\; M\, P_\lambda\, M^\dagger,
    \qquad M = W_{\mu\lambda'}^\dagger (1 \otimes L) W_{\mu\lambda}.

(Symmetry lets one sum :math:`\sum_j` be N times particle N's term; the isotypic component of
:math:`\lambda'` restricted to :math:`S_{N-1}` is :math:`\bigoplus_{\mu\subset\lambda'} U_{\lambda'} \otimes S_\mu`.)
Every coefficient is of order one (:math:`N\dim S_\mu/\dim S_\lambda` is a ratio of hook products), so
the representation is well conditioned at any N.

The generator is assembled once as a sparse matrix on the concatenated row-major blocks and
applied with a truncated Taylor series on substeps (:class:`TaylorPropagator`). Outputs per time:
the exact entropy from the spectra of all blocks, :math:`S(R_N) = -\sum_\lambda \mathrm{tr}\,
P_\lambda \log(P_\lambda / \dim S_\lambda)`, and the marginals from collective moments.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._checks import check_positive_number, check_workers
from ..errors import EngineError, QMeanFieldError
from ..model import Model
from .base import ProgressCallback, Trajectory
from ..propagators import TaylorPropagator
from ..blocks.irreps import Irrep, branching_isometry, log_multiplicity, partitions
from ..blocks.collective import block_hamiltonian
from ..blocks.space import BlockMeasurement, BlockSpace

__all__ = ["PermutationalEngine", "block_liouvillian", "SteadyState"]


def _superop(A: sp.spmatrix, B: sp.spmatrix) -> sp.csr_matrix:
    """vec(A X B) = (A kron B^T) vec(X) for row-major vec."""
    return sp.kron(A, B.T, format="csr")


def _one_body_sparse(L: np.ndarray, n_mu: int) -> sp.csr_matrix:
    """1 (x) L on U_mu (x) C^d."""
    return sp.kron(sp.identity(n_mu, format="csr"), sp.csr_matrix(L), format="csr")


def block_liouvillian(space: BlockSpace, h: np.ndarray, V: np.ndarray, jumps, collective, kappa: float,
                      hbar: float) -> sp.csr_matrix:
    """The Lindblad generator on the concatenated blocks (sparse, row-major blocks)."""
    d, N = space.d, space.N
    nb = len(space.lams)
    grid: list[list] = [[None] * nb for _ in range(nb)]
    K1 = sum((L.conj().T @ L for L in jumps), np.zeros((d, d), dtype=complex))
    for i, ir in enumerate(space.irreps):
        n = ir.dim
        Id = sp.identity(n, dtype=complex, format="csr")
        H = block_hamiltonian(ir, h, V, kappa, sparse=True)
        K = ir.collective(K1) if jumps else sp.csr_matrix((n, n), dtype=complex)
        G = (-1j / hbar) * (_superop(H, Id) - _superop(Id, H))
        for C in collective:
            JC = ir.collective(C)
            G = G + kappa * _superop(JC, JC.conj().T)
            K = K + kappa * (JC.conj().T @ JC)
        G = G - 0.5 * (_superop(K, Id) + _superop(Id, K))
        grid[i][i] = G
    if jumps:
        for mu in partitions(N - 1, d):
            mir = Irrep(mu)
            children = []
            for r in range(d):
                lam = list(mu)
                lam[r] += 1
                lam = tuple(lam)
                if lam in space.index:
                    j = space.index[lam]
                    children.append((j, branching_isometry(mir, space.irreps[j])))
            logm_mu = log_multiplicity(mu)
            for L in jumps:
                IL = _one_body_sparse(L, mir.dim)
                for j_src, W_src in children:
                    LW = IL @ W_src
                    coef = math.exp(math.log(N) + logm_mu - space.logmult[j_src])
                    for j_dst, W_dst in children:
                        M = (W_dst.T @ LW).tocsr()
                        M.eliminate_zeros()
                        if M.nnz == 0:
                            continue
                        term = coef * _superop(M, M.conj().T)
                        grid[j_dst][j_src] = term if grid[j_dst][j_src] is None else grid[j_dst][j_src] + term
    return sp.bmat(grid, format="csr", dtype=complex)


#: block-state sizes (sum of block dimensions squared) solved directly; larger ones relax in time
DIRECT_SOLVE_MAX = 20_000
#: first and largest relaxation chunk (time units) of the steady-state relaxation
RELAX_CHUNK, RELAX_CHUNK_MAX = 5.0, 50.0


@dataclass(frozen=True)
class SteadyState:
    r"""An N-body steady state on Schur-Weyl blocks.

    space : the block layout (:class:`~qmeanfield.blocks.BlockSpace`).
    state : the state vector of concatenated blocks :math:`P_\lambda` (trace one).
    method : ``"direct"`` (sparse solve) or ``"relaxation"`` (propagated to stationarity).
    residual : :math:`\|\mathcal L x\|_1 / \|\mathcal L\|_1`.
    """

    space: BlockSpace
    state: np.ndarray
    method: str
    residual: float


@dataclass(frozen=True, kw_only=True)
class PermutationalEngine:
    """Exact open (and closed) dynamics on Schur-Weyl blocks for any d; cost polynomial in N.

    memory_budget_gb : refuse N whose generator would not fit (estimate from its nonzeros).
    workers : threads for the sparse products (``"auto"``: every core, for generators large
        enough to profit).
    """

    memory_budget_gb: float = 8.0
    workers: int | str = "auto"
    name: str = "permutational"

    def __post_init__(self):
        object.__setattr__(self, "memory_budget_gb",
                           check_positive_number(self.memory_budget_gb, "memory_budget_gb", EngineError))
        object.__setattr__(self, "workers", check_workers(self.workers, "workers", EngineError))

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        need = self.memory_estimate(model, N) / 2**30
        if need > self.memory_budget_gb:
            return False, (f"the permutational engine needs about {need:.3g} GiB for N = {N}, d = {model.d}, "
                           f"over the memory budget of {self.memory_budget_gb:g} GiB; lower N or raise memory_budget_gb")
        return True, ""

    def memory_estimate(self, model: Model, N: int) -> float:
        """Peak bytes: the generator (about 2 d^4 nonzeros per row, 64 bytes per nonzero at its
        assembly, measured) plus the propagator's vectors."""
        d = model.d
        size = math.comb(N + d * d - 1, N)  # = sum over blocks of dim U_lambda^2
        per_row = 2 * d**4 + (d**4 // 2 if model.collective_jumps else 0)
        return float(size) * (per_row * 64 + 16 * 40) + 200 * 2**20

    def cost(self, model: Model, N: int) -> float:
        d = model.d
        return float(math.comb(N + d * d - 1, N)) * 50 * (N + 1)

    def propagator(self, A: sp.csr_matrix) -> TaylorPropagator:
        """The Taylor propagator of a generator, with this engine's threads."""
        return TaylorPropagator(A, threads=self.workers if self.workers != "auto" else (os.cpu_count() or 1))

    def _check(self, model: Model, N: int) -> None:
        ok, why = self.supports(model, N)
        if not ok:
            raise EngineError(why)

    def generator(self, model: Model, N: int) -> tuple[BlockSpace, sp.csr_matrix]:
        """The block layout and the sparse Lindblad generator of (model, N)."""
        self._check(model, N)
        space = BlockSpace(N, model.d)
        A = block_liouvillian(space, np.asarray(model.h), np.asarray(model.V), list(model.jumps),
                              list(model.collective_jumps), model.kappa(N), model.hbar)
        return space, A

    def block_states(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray):
        """Yield the state vector (concatenated blocks P_lambda, see :class:`BlockSpace`) at each time.

        The first item is ``(space, propagator)``; then one vector per time.
        """
        space, A = self.generator(model, N)
        prop = self.propagator(A)
        del A
        yield space, prop
        x = space.product_state_vector(np.asarray(rho0))
        try:
            yield from prop.trajectory(x, times)
        finally:
            prop.close()

    def evolve(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray, kmax: int = 2,
               progress: ProgressCallback | None = None) -> Trajectory:
        self._check(model, N)
        kmax = min(kmax, N, 3)
        times = np.asarray(times, dtype=float)
        states = self.block_states(model, rho0, N, times)
        space, prop = next(states)
        meas = BlockMeasurement(space, times.size, kmax)
        for n, x in enumerate(states):
            meas.add(n, x)
            if progress:
                progress(n + 1)
        entropy, marginals = meas.entropy, meas.marginals()
        trace_err, negativity = meas.trace_error, meas.most_negative
        stats = {
            "blocks": len(space.lams),
            "state_size": space.size,
            "generator_nnz": prop.nnz,
            "generator_norm_estimate": prop.alpha,
            "products": prop.matvecs,
            "trace_error": float(trace_err),
            "most_negative_eigenvalue": float(negativity),
            "method": "Schur-Weyl blocks, branching isometries, Taylor propagator",
        }
        return Trajectory(times=times, N=N, entropy=entropy, marginals=marginals, engine=self.name, stats=stats)

    def steady_state(self, model: Model, N: int, *, tol: float = 1e-10, t_max: float = 2000.0) -> SteadyState:
        r"""The N-body steady state: the normalised kernel of the block generator.

        Up to ``DIRECT_SOLVE_MAX`` block entries a sparse direct solve (one equation replaced by
        the trace condition); beyond, relaxation with this engine's propagator from the
        maximally mixed state until :math:`\|\mathcal L x\|_1 / \|\mathcal L\|_1` is below ``tol``.
        Closed models have no unique steady state and are refused.
        """
        if not model.is_open:
            raise QMeanFieldError("steady_state needs an open model (jumps or collective_jumps)")
        space, A = self.generator(model, N)
        trace_row = space.trace_row()
        scale = float(abs(A).sum(axis=0).max())
        if space.size <= DIRECT_SOLVE_MAX:
            M = sp.vstack([sp.csr_matrix(trace_row), A[1:]]).tocsc()
            b = np.zeros(space.size, dtype=complex)
            b[0] = 1.0
            x = spla.spsolve(M, b)
            method = "direct"
        else:
            prop = self.propagator(A)
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
            method = "relaxation"
        x = x / (trace_row @ x)
        residual = float(np.abs(A @ x).sum() / scale)
        return SteadyState(space=space, state=x, method=method, residual=residual)
