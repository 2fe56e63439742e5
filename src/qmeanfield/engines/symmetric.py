r"""Symmetric engine: exact closed N-body dynamics block by block (THEORY section 5).

Product initial data :math:`\rho_0^{\otimes N}` and the symmetric Hamiltonian keep
:math:`R_N` permutation-symmetric, so :math:`R_N(t) = \bigoplus_\lambda X_\lambda(t) \otimes 1_{S_\lambda}`
over Young diagrams :math:`\lambda` (N boxes, at most d rows). On each block

.. math::
    H_\lambda = \sum_{ab} h_{ab} J_{ab}
        + \frac{\kappa_N}{2} \sum_s \big[J(A_s) J(B_s) - J(A_s B_s)\big],
    \qquad V = \sum_s A_s \otimes B_s

(the operator-Schmidt form of V, equivalent to
:math:`\tfrac{\kappa_N}{2}\sum V_{ab,cd}(J_{ab}J_{cd} - \delta_{bc}J_{ad})`). Working in the eigenbasis
of :math:`\rho_0 = \sum_a p_a |a\rangle\langle a|`, the initial block :math:`X_\lambda(0)` is
diagonal in the Gelfand-Tsetlin basis with entries :math:`\prod_a p_a^{w_a}` (w the pattern's
occupation numbers), so rank-deficient (even pure) :math:`\rho_0` are exact too.

Each block is diagonalised once; the basis vectors carrying weight are propagated to all
times with one matrix product. Marginals come from collective moments,

.. math::
    N\,R^{(1)}_{ba} = \langle J_{ab}\rangle,\qquad
    N(N-1)\,R^{(2)}_{(bd),(ac)} = \langle J_{ab}J_{cd}\rangle - \delta_{bc}\langle J_{ad}\rangle,

and the analogous third-order formula. Closed dynamics conserve :math:`S(R_N) = N S(\rho_0)`.

Truncation: half of the budget ``truncation`` skips whole blocks (smallest first, by the bound
:math:`\dim U_\lambda \dim S_\lambda \prod_a p_a^{\lambda_a}` on their weight); the other half
drops basis vectors whose weight :math:`\dim S_\lambda \prod_a p_a^{w_a}` is below
``truncation / 2`` divided by the number of basis vectors left. ``info["discarded_weight"]``
(dropped weights plus the bound for skipped blocks, at most ``truncation``) bounds the
trace-norm error of :math:`R_N` and hence of every marginal.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .._parallel import single_blas_thread
from ..diagnostics.entropy import von_neumann_entropy
from ..errors import EngineError
from ..model import Model
from ..operators import kron_all, operator_schmidt
from .base import ProgressCallback, Trajectory
from .propagator import hermitian_trajectory
from .schur_weyl import (
    Irrep,
    eigenbasis,
    gt_patterns,
    log_highest_weight,
    log_multiplicity,
    log_vector_weights,
    partitions,
    pattern_weights,
    weyl_dimension,
)

__all__ = ["SymmetricEngine", "block_hamiltonian", "moments_to_marginals"]

#: bytes of workspace allowed for the batched propagation of one block
_CHUNK_BYTES = 256 * 2**20


def block_hamiltonian(irrep: Irrep, h: np.ndarray, V: np.ndarray, kappa: float, sparse: bool = False):
    """:math:`H_\\lambda` on one irrep (see the module docstring), dense or sparse (CSR)."""
    d = irrep.d
    H = irrep.collective(h)
    for A, B in operator_schmidt(V, d):
        JA, JB = irrep.collective(A), irrep.collective(B)
        H = H + (kappa / 2) * (JA @ JB - irrep.collective(A @ B))
    H = (H + H.conj().T) / 2
    if sparse:
        H = H.tocsr()
        H.eliminate_zeros()
        return H
    return H.toarray()


#: per-block propagation methods of the symmetric engine
METHODS = ("auto", "eigh", "krylov")


def use_krylov(method: str, n: int, r: int) -> bool:
    """Whether a block of dimension n with r weighted basis vectors is propagated by the sparse
    Hamiltonian (Chebyshev series) rather than diagonalised: as asked, or with ``"auto"`` when the
    block is large and few of its vectors carry weight (nearly pure rho0)."""
    if method != "auto":
        return method == "krylov"
    return n >= 1500 and 8 * r <= n


def _block_moments(lam, logm, logp, h, V, kappa, hbar, times, kmax, threshold, method="auto"):
    """Moments <J_ab>, <J_ab J_cd> (and third order) of one block at all times, summed with weights."""
    irrep = Irrep(lam)
    d = irrep.d
    logw = log_vector_weights(irrep.weights, logm, logp)
    keep = logw >= np.log(threshold)
    kept = np.flatnonzero(keep)
    dropped = float(np.exp(logw[~keep]).sum())
    T = times.size
    D2 = d * d
    M1 = np.zeros((T, D2), dtype=complex)
    M2 = np.zeros((T, D2, D2), dtype=complex)
    M3 = np.zeros((T, D2, D2, D2), dtype=complex) if kmax >= 3 else None
    if kept.size == 0:
        return M1, M2, M3, 0.0, 0, dropped, False
    weight = np.exp(logw[kept])
    n, r = irrep.dim, kept.size
    krylov = use_krylov(method, n, r)
    if krylov:
        state = np.zeros((n, r), dtype=complex)
        state[kept, np.arange(r)] = np.sqrt(weight)
        states = hermitian_trajectory(block_hamiltonian(irrep, h, V, kappa, sparse=True), state, times, hbar)
    else:
        H = block_hamiltonian(irrep, h, V, kappa)
        if not np.any(H.imag):
            E, U = scipy.linalg.eigh(H.real, driver="evr")  # real symmetric block: about 3x cheaper
        else:
            E, U = scipy.linalg.eigh(H, driver="evr")
        coeff = U[kept, :].conj().T * np.sqrt(weight)[None, :]  # (n, r): sqrt(c_k) U^+ e_k
    J = [irrep.J(a, b) for a in range(d) for b in range(d)]  # index x = a*d + b
    swapx = [b * d + a for a in range(d) for b in range(d)]   # J_ab^+ = J_ba
    chunk = max(1, int(_CHUNK_BYTES // (16 * n * r * (D2 + 2))))
    for start in range(0, T, chunk):
        ts = times[start:start + chunk]
        tt = ts.size
        if krylov:
            Vt = np.empty((n, r, tt), dtype=complex)
            for j in range(tt):
                Vt[:, :, j] = next(states)
            Vt = Vt.reshape(n, r * tt)                                 # columns ordered (r, t)
        else:
            ph = np.exp(-1j * np.outer(E, ts) / hbar)                  # (n, t)
            Z = (coeff[:, :, None] * ph[:, None, :]).reshape(n, r * tt)  # columns ordered (r, t)
            Vt = U @ Z if np.iscomplexobj(U) else (U @ Z.real) + 1j * (U @ Z.imag)
        Y = np.stack([Jx @ Vt for Jx in J])                           # (D2, n, r*t)
        Yt = Y.reshape(D2, n * r, tt).transpose(2, 0, 1)               # (t, D2, n*r)
        Vtt = Vt.reshape(n * r, tt).T                                  # (t, n*r)
        M1[start:start + tt] = np.einsum("tk,txk->tx", Vtt.conj(), Yt)
        # <J_ab J_cd> = (J_ba v)^+ (J_cd v)
        G = np.matmul(Yt.conj(), Yt.transpose(0, 2, 1))              # G[t, x, y] = (J_x v)^+ (J_y v)
        M2[start:start + tt] = G[:, swapx, :]
        if M3 is not None:
            JY = np.stack([np.stack([(Jy @ Y[z]) for z in range(D2)]) for Jy in J])  # (y, z, n, r*t)
            JYt = JY.reshape(D2 * D2, n * r, tt).transpose(2, 1, 0)    # (t, n*r, y*z)
            G3 = np.matmul(Yt.conj(), JYt).reshape(tt, D2, D2, D2)    # (J_x v)^+ J_y (J_z v)
            M3[start:start + tt] = G3[:, swapx, :, :]
    return M1, M2, M3, float(weight.sum()), int(kept.size), dropped, krylov


def _kept_count(lam, logm, logp, threshold) -> int:
    """How many GT basis vectors of block lam carry weight above threshold."""
    logw = log_vector_weights(pattern_weights(gt_patterns(tuple(lam))), logm, logp)
    return int(np.count_nonzero(logw >= np.log(threshold)))


def _block_task(args):
    (lam, logm), common = args
    return _block_moments(lam, logm, *common)


def moments_to_marginals(M1, M2, M3, N: int, d: int):
    """Marginals R^(1), R^(2) (and R^(3) if M3 is given) from collective moments, arrays over time."""
    T = M1.shape[0]
    m1 = M1.reshape(T, d, d)                     # m1[t, a, b] = <J_ab>
    R1 = m1.transpose(0, 2, 1) / N
    eye = np.eye(d)
    t2 = M2.reshape(T, d, d, d, d) - np.einsum("bc,tad->tabcd", eye, m1)   # sum_{i != j}
    R2 = t2.transpose(0, 2, 4, 1, 3).reshape(T, d * d, d * d) / (N * (N - 1))
    out = {1: R1, 2: R2}
    if M3 is not None and N >= 3:
        t3 = (M3.reshape(T, d, d, d, d, d, d)
              - np.einsum("bc,tadef->tabcdef", eye, t2)
              - np.einsum("be,tafcd->tabcdef", eye, t2)
              - np.einsum("de,tabcf->tabcdef", eye, t2)
              - np.einsum("bc,de,taf->tabcdef", eye, eye, m1))
        out[3] = t3.transpose(0, 2, 4, 6, 1, 3, 5).reshape(T, d**3, d**3) / (N * (N - 1) * (N - 2))
    return out


def _block_bytes(n: int) -> float:
    """Peak memory of one block of dimension n: the Hamiltonian, its eigenvectors and workspace."""
    return 16.0 * n * n * 4


@dataclass(frozen=True, kw_only=True)
class SymmetricEngine:
    """Exact closed dynamics on Schur-Weyl blocks; cost polynomial in N.

    truncation : total weight of R_N that may be dropped (reported, default 1e-12).
    memory_budget_gb : refuse N whose largest block would not fit.
    workers : processes over blocks; ``"auto"`` (default) uses every core when the blocks are
        large enough to pay for the processes (sum of dim^3 over the blocks above 2e7), else 1.
    method : per block, ``"eigh"`` diagonalises H_lambda once (all times at once), ``"krylov"``
        propagates only the weighted basis vectors with the sparse H_lambda (Chebyshev series);
        ``"auto"`` (default) takes krylov for blocks of dimension >= 1500 in which at most 1/8 of
        the vectors carry weight (nearly pure rho0), where it saves both time and the n^2 memory.
    """

    truncation: float = 1e-12
    memory_budget_gb: float = 8.0
    workers: int | str = "auto"
    method: str = "auto"
    name: str = "symmetric"

    def __post_init__(self):
        if self.workers != "auto" and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                       or self.workers < 1):
            raise EngineError(f"workers must be a positive integer or 'auto', got {self.workers!r}")
        if not 0 < self.truncation < 1:
            raise EngineError(f"truncation must be in (0, 1), got {self.truncation!r}")
        if self.method not in METHODS:
            raise EngineError(f"method must be one of {METHODS}, got {self.method!r}")

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        """Closed models whose symmetric block (always computed) fits; the blocks a given rho0
        needs are checked again by :meth:`evolve` before any work."""
        if model.is_open:
            return False, ("the symmetric engine runs closed systems only (one-body jumps mix the blocks); "
                           "use engine='permutational' (or 'auto') for open systems")
        return self._fits(weyl_dimension((N,) + (0,) * (model.d - 1)), N, model.d)

    def _fits(self, n: int, N: int, d: int, what: str = "its symmetric block") -> tuple[bool, str]:
        need = _block_bytes(n) / 2**30
        if need > self.memory_budget_gb:
            return False, (f"the symmetric engine needs about {need:.3g} GiB for {what} "
                           f"(dimension {n}) at N = {N}, d = {d}, over the memory budget of "
                           f"{self.memory_budget_gb:g} GiB; lower N, use a purer rho0 or a larger truncation, "
                           "or raise memory_budget_gb")
        return True, ""

    def cost(self, model: Model, N: int) -> float:
        return min(float(sum(weyl_dimension(lam) ** 3 for lam in partitions(N, model.d))), math.exp(700.0))

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
        h = W.conj().T @ np.asarray(model.h) @ W
        with np.errstate(divide="ignore"):
            logp = np.log(p)
        lams = partitions(N, d)
        # Half of the truncation budget skips whole blocks, smallest first, by the upper bound
        # dim U * dim S * prod p^lambda of their weight; the other half drops single basis vectors.
        blocks = []
        for lam in lams:
            logm = log_multiplicity(lam)
            top = logm + log_highest_weight(lam, logp)
            blocks.append((math.exp(top) * weyl_dimension(lam), lam, logm))
        blocks.sort(key=lambda b: b[0])
        skipped_bound = 0.0  # upper bound of the weight in blocks not computed
        jobs = []
        for bound, lam, logm in blocks:
            if skipped_bound + bound <= self.truncation / 2:
                skipped_bound += bound
            else:
                jobs.append((lam, logm))
        n_vectors = float(sum(weyl_dimension(lam) for lam, _ in jobs)) or 1.0
        threshold = self.truncation / 2 / n_vectors
        dense_dims = [n for n, r in ((weyl_dimension(lam), _kept_count(lam, logm, logp, threshold))
                                     for lam, logm in jobs) if not use_krylov(self.method, n, r)]
        ok, why = self._fits(max(dense_dims, default=0), N, d, "the largest block this rho0 needs diagonalised")
        if not ok:
            raise EngineError(why)
        common = (logp, h, V, model.kappa(N), model.hbar, times, kmax, threshold, self.method)
        if self.workers == "auto":
            work = sum(float(weyl_dimension(lam)) ** 3 for lam, _ in jobs)
            workers = (os.cpu_count() or 1) if work > 2e7 else 1
        else:
            workers = self.workers
        workers = max(1, min(workers, len(jobs), os.cpu_count() or 1))
        results = []
        if workers == 1:
            for i, job in enumerate(jobs):
                results.append(_block_task((job, common)))
                if progress:
                    progress(int(times.size * (i + 1) / len(jobs)))
        else:
            # largest blocks first, one task per block; each worker process uses one BLAS thread
            order = sorted(jobs, key=lambda job: -weyl_dimension(job[0]))
            with ProcessPoolExecutor(max_workers=workers, initializer=single_blas_thread) as pool:
                futures = [pool.submit(_block_task, (job, common)) for job in order]
                for i, fut in enumerate(as_completed(futures)):
                    results.append(fut.result())
                    if progress:
                        progress(int(times.size * (i + 1) / len(futures)))
        M1 = sum(r[0] for r in results)
        M2 = sum(r[1] for r in results)
        M3 = sum(r[2] for r in results) if kmax >= 3 else None
        kept_weight = sum(r[3] for r in results)
        kept_vectors = sum(r[4] for r in results)
        discarded = sum(r[5] for r in results) + skipped_bound
        if abs(1.0 - kept_weight - discarded) > 1e-8 + discarded:
            raise EngineError(f"symmetric engine: the block weights sum to {kept_weight + discarded:.12g}, not 1; "
                              "this is a bug, please report it with the model")
        marg_rot = moments_to_marginals(M1, M2, M3, N, d)
        marginals = {}
        for k in range(1, kmax + 1):
            Wk = kron_all(*([W] * k))
            marginals[k] = np.einsum("ij,tjk,lk->til", Wk, marg_rot[k], Wk.conj())
        entropy = np.full(times.size, N * von_neumann_entropy(np.diag(p)))
        info = {
            "blocks": len(lams),
            "blocks_computed": len(jobs),
            "vectors_propagated": kept_vectors,
            "blocks_krylov": int(sum(1 for r in results if r[6])),
            "largest_block": max((weyl_dimension(lam) for lam, _ in jobs), default=0),
            "discarded_weight": discarded,
            "truncation": self.truncation,
            "method": "Schur-Weyl blocks, Gelfand-Tsetlin basis",
        }
        return Trajectory(times=times, N=N, entropy=entropy, marginals=marginals, engine=self.name, info=info)
