r"""Dense engine: exact N-body evolution on the full space $(\mathbb C^d)^{\otimes N}$.

* Closed systems: one eigendecomposition $H_N = W E W^\dagger$, then
  $R_N(t) = W e^{-iEt/\hbar} W^\dagger R_N(0) W e^{iEt/\hbar} W^\dagger$ at every time.
  The entropy $S(R_N(t)) = N S(\rho_0)$ is conserved.
* Open systems: the sparse Liouvillian on row-major vectorised $R_N$ and
  the truncated Taylor series of `TaylorPropagator`
  (shared with the permutational engine); the entropy comes from the spectrum of $R_N(t)$.

Cost grows like $d^{3N}$ (closed) and $d^{2N}$ per step (open); N is refused when
the memory estimate exceeds the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..diagnostics.entropy import von_neumann_entropy
from ..diagnostics.marginals import marginal
from .._checks import MEMORY_BUDGET_GB, check_positive_number
from ..errors import EngineError
from ..estimates import Estimate, scaled_seconds
from ..model import Model
from ..operators import kron_all, operator_schmidt
from .base import ProgressCallback, Trajectory
from ..propagators import DrivenPropagator, TaylorPropagator

__all__ = ["DenseEngine", "many_body_hamiltonian", "embedded_jumps", "liouvillian", "memory_estimate", "site_operator",
           "collective_operator", "drive_superoperators"]


def site_operator(op, site: int, N: int, d: int) -> sp.csr_matrix:
    """The one-body operator ``op`` on particle ``site`` of N (sparse, d^N x d^N)."""
    left = sp.identity(d**site, dtype=complex, format="csr")
    right = sp.identity(d ** (N - site - 1), dtype=complex, format="csr")
    return sp.kron(sp.kron(left, sp.csr_matrix(op)), right, format="csr")


def many_body_hamiltonian(model: Model, N: int, one_body: bool = True) -> sp.csr_matrix:
    r"""$H_N = \sum_j h_j + \kappa_N \sum_{i<j} V_{ij}$ as a sparse matrix (operator-Schmidt form of V);
    `one_body=False`: the interaction alone."""
    d = model.d
    kappa = model.kappa(N)
    H = sp.csr_matrix((d**N, d**N), dtype=complex)
    for j in range(N if one_body else 0):
        H = H + site_operator(model.h, j, N, d)
    terms = operator_schmidt(np.asarray(model.V), d)
    for A, B in terms:
        As = [site_operator(A, j, N, d) for j in range(N)]
        Bs = [site_operator(B, j, N, d) for j in range(N)]
        for i in range(N):
            for j in range(i + 1, N):
                H = H + kappa * (As[i] @ Bs[j])
    H = (H + H.conj().T) / 2
    H.eliminate_zeros()
    return H.tocsr()


def collective_operator(A, N: int, d: int) -> sp.csr_matrix:
    r"""$J(A) = \sum_j A_j$ on the N-body space (sparse)."""
    return sum(site_operator(A, j, N, d) for j in range(N))


def embedded_jumps(model: Model, N: int) -> list[sp.csr_matrix]:
    r"""All N-body jump operators as sparse matrices: each one-body L_k on each particle j, then
    each collective jump $\sqrt{\kappa_N}\sum_j (C_c)_j$."""
    out = [site_operator(L, j, N, model.d) for L in model.jumps for j in range(N)]
    for C in model.collective_jumps:
        out.append(math.sqrt(model.kappa(N)) * sum(site_operator(C, j, N, model.d) for j in range(N)))
    return out


def liouvillian(model: Model, N: int) -> sp.csr_matrix:
    r"""Sparse Liouvillian acting on the row-major vectorisation `R.reshape(-1)`.

    With $\mathrm{vec}(A X B) = (A \otimes B^T)\,\mathrm{vec}(X)$:
    $\mathcal L = -\tfrac{i}{\hbar}(H \otimes 1 - 1 \otimes H^T) + \sum L \otimes \bar L
    - \tfrac12 (K \otimes 1 + 1 \otimes K^T)$, $K = \sum L^\dagger L$.
    """
    D = model.d**N
    H = many_body_hamiltonian(model, N)
    Id = sp.identity(D, dtype=complex, format="csr")
    Lsup = (-1j / model.hbar) * (sp.kron(H, Id) - sp.kron(Id, H.T))
    K = sp.csr_matrix((D, D), dtype=complex)
    for L in embedded_jumps(model, N):
        Lsup = Lsup + sp.kron(L, L.conj())
        K = K + L.conj().T @ L
    Lsup = Lsup - 0.5 * (sp.kron(K, Id) + sp.kron(Id, K.T))
    return Lsup.tocsr()


def drive_superoperators(model: Model, N: int) -> list[sp.csr_matrix]:
    r"""The time-dependent pieces, in the order of `Model.time_coefficients`: for each drive term $f_k(t) A_k$: $-\tfrac{i}{\hbar}(J_k \otimes 1 - 1 \otimes J_k^T)$,
    $J_k = \sum_j (A_k)_j$, on the row-major vectorisation; for each timed jump its dissipator on
    every particle; with `interaction`, the commutator with the interaction alone (the generator is
    `liouvillian` plus the coefficients times these)."""
    D = model.d**N
    Id = sp.identity(D, dtype=complex, format="csr")
    out = []
    for A, _ in model.drive:
        J = collective_operator(A, N, model.d)
        out.append(((-1j / model.hbar) * (sp.kron(J, Id) - sp.kron(Id, J.T))).tocsr())
    for L1, _ in model.timed_jumps:          # r_k(t) times the dissipator of L_k on every particle
        piece = sp.csr_matrix((D * D, D * D), dtype=complex)
        for j in range(N):
            L = site_operator(L1, j, N, model.d)
            K = L.conj().T @ L
            piece = piece + sp.kron(L, L.conj()) - 0.5 * (sp.kron(K, Id) + sp.kron(Id, K.T))
        out.append(piece.tocsr())
    if model.interaction is not None:
        HV = many_body_hamiltonian(model, N, one_body=False)
        out.append(((-1j / model.hbar) * (sp.kron(HV, Id) - sp.kron(Id, HV.T))).tocsr())
    return out


#: bytes of a complex number
COMPLEX_BYTES = 16
#: D x D complex arrays held at once: closed (H, eigenvectors, R_N, temporaries), open (vectors of the
#: Taylor propagator and the state); bytes per stored nonzero of a sparse matrix and assembly copies
CLOSED_DENSE_COPIES, OPEN_DENSE_COPIES = 8, 12
SPARSE_ENTRY_BYTES, SPARSE_ASSEMBLY_COPIES = 20, 3
#: above this log(d^N) the estimate is infinite (no exact integer arithmetic on astronomic sizes)
LOG_DIM_CAP = 40.0


def memory_estimate(model: Model, N: int) -> float:
    """Rough peak memory in bytes of the dense engine for (model, N) (inf for d^N beyond e^40)."""
    d = model.d
    if N * math.log(d) > LOG_DIM_CAP:
        return math.inf
    D = d**N
    if not model.is_open:
        return float(COMPLEX_BYTES * D * D * CLOSED_DENSE_COPIES)
    pairs = N * (N - 1) // 2
    row_H = min(D, 1 + N * (d - 1) + pairs * (d**2 - 1))
    nnz = D * D * (2 * row_H + (len(model.jumps) * N + len(model.collective_jumps) * N * N) * d * d
                   + 2 * min(D, 1 + N * (d - 1)))
    return float(SPARSE_ASSEMBLY_COPIES * nnz * SPARSE_ENTRY_BYTES + COMPLEX_BYTES * D * D * OPEN_DENSE_COPIES)


#: seconds per unit of :meth:`DenseEngine.cost` on 2 cores (closed, open), calibrated on N = 6..8
#: at 21 evaluation times up to t = 2 (``CALIBRATION``)
SECONDS_PER_COST = {False: 8e-9, True: 1.2e-6}
#: a driven model's propagation (step-doubled Magnus steps of two exponentials) against a
#: time-independent one of the same size (rough)
DRIVEN_COST_FACTOR = 10.0
CALIBRATION = (21, 2.0)


@dataclass(frozen=True, kw_only=True)
class DenseEngine:
    """Exact evolution on the full d^N space; options are keyword-only and immutable.

    memory_budget_gb : refuse N whose estimated peak memory exceeds this (GiB).
    """

    memory_budget_gb: float = MEMORY_BUDGET_GB
    name: str = "dense"

    def __post_init__(self):
        object.__setattr__(self, "memory_budget_gb",
                           check_positive_number(self.memory_budget_gb, "memory_budget_gb", EngineError))

    def supports(self, model: Model, N: int) -> tuple[bool, str]:
        need_bytes = memory_estimate(model, N)
        if need_bytes > self.memory_budget_gb * 2**30:
            need = f"{need_bytes / 2**30:.3g}" if math.isfinite(need_bytes) else f"more than 2^{LOG_DIM_CAP * 2 / math.log(2) - 30:.0f}"
            return False, (
                f"the dense engine needs about {need} GiB for N = {N}, d = {model.d} "
                f"({'open' if model.is_open else 'closed'}), over the memory budget of "
                f"{self.memory_budget_gb:g} GiB; lower N or raise memory_budget_gb"
            )
        return True, ""

    def memory_estimate(self, model: Model, N: int) -> float:
        """Peak bytes (see the module function of the same name)."""
        return memory_estimate(model, N)

    def cost(self, model: Model, N: int) -> float:
        log_D = N * math.log(model.d)
        return math.exp(min(3 * log_D if not model.is_open else 2 * log_D + math.log(50), 700.0))

    def estimate(self, model: Model, N: int, *, rho0=None, evaluations: int = 21, t_final: float = 2.0,
                 outputs: int | None = None) -> Estimate:
        """Wall time (2 cores) and peak memory of `evolve` (see `Engine`)."""
        seconds = scaled_seconds(SECONDS_PER_COST[model.is_open], self.cost(model, N), evaluations,
                                 t_final, CALIBRATION) * (DRIVEN_COST_FACTOR if model.is_driven else 1.0)
        return Estimate(seconds, memory_estimate(model, N))

    def evolve(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray, kmax: int = 2,
               progress: ProgressCallback | None = None, marginal_times=None) -> Trajectory:
        # marginal_times (where marginals of order >= 2 are needed): this engine computes every time
        ok, why = self.supports(model, N)
        if not ok:
            raise EngineError(why)
        if kmax > N:
            kmax = N
        d = model.d
        times = np.asarray(times, dtype=float)
        T = times.size
        marg = {k: np.empty((T, d**k, d**k), dtype=complex) for k in range(1, kmax + 1)}
        entropy = np.empty(T)
        R0 = kron_all(*([np.asarray(rho0, dtype=complex)] * N))
        if model.is_driven and not model.is_open:   # the density matrix, conjugated by the step exponentials
            J = [collective_operator(A, N, d) for A, _ in model.drive]
            if model.interaction is not None:
                J.append(many_body_hamiltonian(model, N, one_body=False))
            prop = DrivenPropagator([(-1j / model.hbar) * P for P in (many_body_hamiltonian(model, N), *J)],
                                    model.time_coefficients, conjugate=True)
            S0 = N * von_neumann_entropy(np.asarray(rho0))
            for n, R in enumerate(prop.trajectory(R0, times)):
                R = (R + R.conj().T) / 2
                for k in marg:
                    marg[k][n] = marginal(R, d, N, k)
                entropy[n] = S0                       # unitary: the spectrum of R_N does not change
                if progress:
                    progress(n + 1)
            stats = {"hilbert_dim": d**N, "method": "commutator-free Magnus (order 4) on the density matrix",
                     "steps": prop.steps, "rejected_steps": prop.rejected}
        elif not model.is_open:
            H = many_body_hamiltonian(model, N).toarray()
            E, W = np.linalg.eigh(H)
            X0 = W.conj().T @ R0 @ W
            S0 = N * von_neumann_entropy(np.asarray(rho0))
            for n, t in enumerate(times):
                ph = np.exp(-1j * E * t / model.hbar)
                R = W @ ((ph[:, None] * X0 * ph.conj()[None, :]) @ W.conj().T)
                for k in marg:
                    marg[k][n] = marginal(R, d, N, k)
                entropy[n] = S0
                if progress:
                    progress(n + 1)
            stats = {"hilbert_dim": d**N, "method": "eigendecomposition"}
        else:   # the vectorised density matrix: a fixed generator, or a driven one step by step
            L = liouvillian(model, N)
            prop = (DrivenPropagator([L, *drive_superoperators(model, N)], model.time_coefficients)
                    if model.is_driven else TaylorPropagator(L))
            for n, v in enumerate(prop.trajectory(R0.reshape(-1), times)):
                R = v.reshape(d**N, d**N)
                R = (R + R.conj().T) / 2
                for k in marg:
                    marg[k][n] = marginal(R, d, N, k)
                entropy[n] = von_neumann_entropy(R)
                if progress:
                    progress(n + 1)
            stats = {"hilbert_dim": d**N, "liouvillian_nnz": int(L.nnz),
                     "method": "commutator-free Magnus (order 4)" if model.is_driven else "taylor"}
            if model.is_driven:
                stats.update(steps=prop.steps, rejected_steps=prop.rejected)
        return Trajectory(times=times, N=N, entropy=entropy, marginals=marg, engine=self.name, stats=stats)
