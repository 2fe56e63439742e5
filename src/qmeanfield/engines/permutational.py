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
:func:`~qmeanfield.engines.schur_weyl.branching_isometry`),

.. math::
    \Big(\sum_j L_j R L_j^\dagger\Big)_{\lambda'} = \sum_{\mu \subset \lambda'} \sum_{\lambda \supset \mu}
    \frac{N \dim S_\mu}{\dim S_\lambda}\; M\, P_\lambda\, M^\dagger,
    \qquad M = W_{\mu\lambda'}^\dagger (1 \otimes L) W_{\mu\lambda}.

(Symmetry lets one sum :math:`\sum_j` be N times particle N's term; the isotypic component of
:math:`\lambda'` restricted to :math:`S_{N-1}` is :math:`\bigoplus_{\mu\subset\lambda'} U_{\lambda'} \otimes S_\mu`.)
Every coefficient is of order one (:math:`N\dim S_\mu/\dim S_\lambda` is a ratio of hook products), so
the representation is well conditioned at any N.

The generator is assembled once as a sparse matrix on the concatenated row-major blocks and
applied with a truncated Taylor series on substeps (:func:`expm_propagate`). Outputs per time:
the exact entropy from the spectra of all blocks, :math:`S(R_N) = -\sum_\lambda \mathrm{tr}\,
P_\lambda \log(P_\lambda / \dim S_\lambda)`, and the marginals from collective moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import EngineError
from ..model import Model
from ..operators import kron_all
from .base import ProgressCallback, Trajectory
from .schur_weyl import Irrep, branching_isometry, eigenbasis, log_multiplicity, partitions, weyl_dimension
from .symmetric import block_hamiltonian, moments_to_marginals

__all__ = ["PermutationalEngine", "BlockSpace", "block_liouvillian", "expm_propagate", "block_entropy"]


class BlockSpace:
    """The blocks lambda of N particles in C^d, their irreps and the layout of the state vector."""

    def __init__(self, N: int, d: int):
        self.N, self.d = N, d
        self.lams = partitions(N, d)
        self.index = {lam: i for i, lam in enumerate(self.lams)}
        self.irreps = [Irrep(lam) for lam in self.lams]
        self.dims = np.array([ir.dim for ir in self.irreps])
        self.sizes = self.dims**2
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.size = int(self.offsets[-1])
        self.logmult = np.array([log_multiplicity(lam) for lam in self.lams])

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        """The blocks P_lambda of a state vector (views)."""
        return [x[self.offsets[i]:self.offsets[i + 1]].reshape(n, n) for i, n in enumerate(self.dims)]

    def product_state(self, p: np.ndarray) -> np.ndarray:
        r"""Vector of :math:`\rho_0^{\otimes N}` for :math:`\rho_0 = \mathrm{diag}(p)`: diagonal blocks
        :math:`\dim S_\lambda \prod_a p_a^{w_a}` (0^0 = 1, so pure states are exact)."""
        x = np.zeros(self.size, dtype=complex)
        with np.errstate(divide="ignore"):
            logp = np.log(np.clip(p, 0.0, None))
        for i, ir in enumerate(self.irreps):
            occ = ir.weights > 0
            logw = self.logmult[i] + np.where(occ, ir.weights * np.where(occ, logp[None, :], 0.0), 0.0).sum(axis=1)
            n = ir.dim
            x[self.offsets[i]:self.offsets[i + 1]].reshape(n, n)[np.diag_indices(n)] = np.exp(logw)
        return x


def _superop(A: sp.spmatrix, B: sp.spmatrix) -> sp.csr_matrix:
    """vec(A X B) = (A kron B^T) vec(X) for row-major vec."""
    return sp.kron(A, B.T, format="csr")


def _one_body_sparse(L: np.ndarray, d: int, n_mu: int) -> sp.csr_matrix:
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
        H = sp.csr_matrix(block_hamiltonian(ir, h, V, kappa))
        H.eliminate_zeros()
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
                IL = _one_body_sparse(L, d, mir.dim)
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


def expm_propagate(A: sp.csr_matrix, v: np.ndarray, tau: float, norm1: float, degree: int = 40,
                   tol: float = 2.0**-53) -> np.ndarray:
    r""":math:`e^{\tau A} v` by truncated Taylor series on substeps of 1-norm at most
    :math:`\theta_{40} = 6.0` (Al-Mohy and Higham's bound for double precision at degree 40),
    each stopped early once two consecutive terms fall below ``tol`` relative to the sum."""
    if tau == 0:
        return v
    theta = {40: 6.0, 30: 3.54, 20: 1.44}[degree]
    s = max(1, int(math.ceil(abs(tau) * norm1 / theta)))
    h = tau / s
    for _ in range(s):
        term = v
        out = v.copy()
        small = 0
        for m in range(1, degree + 1):
            term = (h / m) * (A @ term)
            out += term
            if np.linalg.norm(term) <= tol * np.linalg.norm(out):
                small += 1
                if small == 2:
                    break
            else:
                small = 0
        v = out
    return v


def block_entropy(space: BlockSpace, blocks: list[np.ndarray]) -> tuple[float, float]:
    r""":math:`S(R_N) = -\sum_\lambda \mathrm{tr}\,P_\lambda\log(P_\lambda/\dim S_\lambda)` and the most
    negative block eigenvalue (a positivity check)."""
    S = 0.0
    most_negative = 0.0
    for i, P in enumerate(blocks):
        w = np.linalg.eigvalsh((P + P.conj().T) / 2)
        most_negative = min(most_negative, float(w[0]))
        w = w[w > 0]
        S -= float(np.sum(w * (np.log(w) - space.logmult[i])))
    return S, most_negative


def _moments(space: BlockSpace, blocks, kmax: int):
    """Collective moments tr(R J_x), tr(R J_x J_y) (and third order), x = a * d + b."""
    d = space.d
    D2 = d * d
    M1 = np.zeros(D2, dtype=complex)
    M2 = np.zeros((D2, D2), dtype=complex)
    M3 = np.zeros((D2, D2, D2), dtype=complex) if kmax >= 3 else None
    for ir, P in zip(space.irreps, blocks):
        J = [ir.J(a, b) for a in range(d) for b in range(d)]
        JP = [Jx @ P for Jx in J]                      # J_x P (dense)
        trace_with = lambda X, Y: X.multiply(Y.T).sum()  # noqa: E731  tr(X Y), X sparse
        for x in range(D2):
            M1[x] += np.trace(JP[x])
            for y in range(D2):
                M2[x, y] += trace_with(J[x], JP[y])
        if M3 is not None:
            for y in range(D2):
                for z in range(D2):
                    JJP = J[y] @ JP[z]
                    for x in range(D2):
                        M3[x, y, z] += trace_with(J[x], JJP)
    return M1, M2, M3


@dataclass(frozen=True, kw_only=True)
class PermutationalEngine:
    """Exact open (and closed) dynamics on Schur-Weyl blocks for any d; cost polynomial in N.

    memory_budget_gb : refuse N whose generator would not fit (estimate from its nonzeros).
    """

    memory_budget_gb: float = 8.0
    name: str = "permutational"

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        need = self.memory_estimate(model, N) / 2**30
        if need > self.memory_budget_gb:
            return False, (f"the permutational engine needs about {need:.3g} GiB for N = {N}, d = {model.d}, "
                           f"over the memory budget of {self.memory_budget_gb:g} GiB; lower N or raise memory_budget_gb")
        return True, ""

    @staticmethod
    def state_size(N: int, d: int) -> int:
        return int(sum(weyl_dimension(lam) ** 2 for lam in partitions(N, d)))

    def memory_estimate(self, model: Model, N: int) -> float:
        d = model.d
        size = math.comb(N + d * d - 1, N)  # = sum of dim U_lambda^2
        per_row = 4 * d**4 + (3 * d**4 * len(model.jumps) if model.jumps else 0)
        return float(size) * per_row * 16 * 2.5 + size * 16 * 30

    def cost(self, model: Model, N: int) -> float:
        d = model.d
        return float(math.comb(N + d * d - 1, N)) * 50 * (N + 1)

    def evolve(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray, kmax: int = 2,
               progress: ProgressCallback | None = None) -> Trajectory:
        ok, why = self.supports(model, N)
        if not ok:
            raise EngineError(why)
        d = model.d
        kmax = min(kmax, N, 3)
        times = np.asarray(times, dtype=float)
        p, W, V = eigenbasis(rho0, np.asarray(model.V))
        p = np.clip(p, 0.0, None)
        p = p / p.sum()
        rot = lambda X: W.conj().T @ np.asarray(X) @ W  # noqa: E731
        h = rot(model.h)
        jumps = [rot(L) for L in model.jumps]
        collective = [rot(C) for C in getattr(model, "collective_jumps", ())]
        space = BlockSpace(N, d)
        A = block_liouvillian(space, h, V, jumps, collective, model.kappa(N), model.hbar)
        norm1 = float(abs(A).sum(axis=0).max())
        x = space.product_state(p)
        T = times.size
        entropy = np.empty(T)
        M1 = np.zeros((T, d * d), dtype=complex)
        M2 = np.zeros((T, d**4), dtype=complex)
        M3 = np.zeros((T, d**6), dtype=complex) if kmax >= 3 else None
        trace_err = 0.0
        negativity = 0.0
        t_prev = 0.0
        for n, t in enumerate(times):
            if t > t_prev:
                x = expm_propagate(A, x, t - t_prev, norm1)
                t_prev = t
            blocks = space.split(x)
            trace_err = max(trace_err, abs(sum(np.trace(P) for P in blocks) - 1))
            entropy[n], neg = block_entropy(space, blocks)
            negativity = min(negativity, neg)
            m1, m2, m3 = _moments(space, blocks, kmax)
            M1[n], M2[n] = m1, m2.reshape(-1)
            if M3 is not None:
                M3[n] = m3.reshape(-1)
            if progress:
                progress(n + 1)
        marg_rot = moments_to_marginals(M1, M2.reshape(T, d * d, d * d),
                                        None if M3 is None else M3.reshape(T, d * d, d * d, d * d), N, d)
        marginals = {}
        for k in range(1, kmax + 1):
            Wk = kron_all(*([W] * k))
            marginals[k] = np.einsum("ij,tjk,lk->til", Wk, marg_rot[k], Wk.conj())
        info = {
            "blocks": len(space.lams),
            "state_size": space.size,
            "generator_nnz": int(A.nnz),
            "generator_norm1": norm1,
            "trace_error": float(trace_err),
            "most_negative_eigenvalue": float(negativity),
            "method": "Schur-Weyl blocks, branching isometries, Taylor propagator",
        }
        return Trajectory(times=times, N=N, entropy=entropy, marginals=marginals, engine=self.name, info=info)
