r"""Permutational engine: exact open (Lindblad) N-body dynamics on Schur-Weyl blocks, any d.

The Lindblad equation of docs/theory.md (Models) with one-body jumps $L_k$ on every particle,
optional collective jumps $\sqrt{\kappa_N}\sum_j (C_c)_j$ and the general two-body
Hamiltonian keeps $R_N$ permutation-symmetric, so

$$
R_N = \bigoplus_\lambda \frac{P_\lambda}{\dim S_\lambda} \otimes 1_{S_\lambda},
\qquad \sum_\lambda \mathrm{tr}\, P_\lambda = 1,
$$

with $P_\lambda \ge 0$ on the $\mathfrak{gl}(d)$ irrep $U_\lambda$ (Gelfand-Tsetlin
basis). The state is the list of blocks $P_\lambda$ ($\sum_\lambda (\dim U_\lambda)^2$
numbers, $\binom{N+3}{3}$ for d = 2), never a $d^{2N}$ object.

Terms inside a block: the Hamiltonian $H_\lambda$ (as in the symmetric engine), the
anticommutator with $J(\sum_k L_k^\dagger L_k)$ and the collective jumps
$J(C) P J(C)^\dagger$. The one-body "sandwich" $\sum_j L_j R L_j^\dagger$ moves one
box: restricting $S_N$ to $S_{N-1}$ (particle N apart) and using the branching isometries
$W_{\mu\lambda}: U_\lambda \to U_\mu \otimes \mathbb C^d$ (λ = μ + box,
`branching_isometry`),

$$
\Big(\sum_j L_j R L_j^\dagger\Big)_{\lambda'} = \sum_{\mu \subset \lambda'} \sum_{\lambda \supset \mu}
\frac{N \dim S_\mu}{\dim S_\lambda}\; M\, P_\lambda\, M^\dagger,
\qquad M = W_{\mu\lambda'}^\dagger (1 \otimes L) W_{\mu\lambda}.
$$

(Symmetry lets one sum $\sum_j$ be N times particle N's term; the isotypic component of
$\lambda'$ restricted to $S_{N-1}$ is $\bigoplus_{\mu\subset\lambda'} U_{\lambda'} \otimes S_\mu$.)
Every coefficient is of order one ($N\dim S_\mu/\dim S_\lambda$ is a ratio of hook products), so
the representation is well conditioned at any N.

The generator is assembled once as a sparse matrix on the concatenated row-major blocks and
applied by Arnoldi steps (`KrylovPropagator`). Outputs per time:
the exact entropy from the spectra of all blocks, $S(R_N) = -\sum_\lambda \mathrm{tr}\,
P_\lambda \log(P_\lambda / \dim S_\lambda)$, and the marginals from collective moments.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._checks import MEMORY_BUDGET_GB, check_positive_number, check_workers
from .._parallel import consume_behind, sparse_work
from ..blocks.liouvillian import block_liouvillian, no_jump_block
from ..blocks.space import BlockMeasurement, BlockSpace
from ..errors import EngineError
from ..estimates import Estimate, scaled_seconds
from ..model import Model
from ..propagators import DrivenPropagator, KrylovPropagator
from . import steady
from .base import ProgressCallback, Trajectory, higher_marginal_mask
from .steady import NoJumpPreconditioner, SteadyState, steady_windows

__all__ = ["PermutationalEngine", "block_liouvillian", "steady_windows", "no_jump_block", "SteadyState",
           "NoJumpPreconditioner"]


#: the smallest state (entries) whose measurements run behind a single-threaded propagation on a
#: second thread: below, the hand-over costs more than it saves (benchmarks/README.md,
#: "Measurements behind constants")
BEHIND_MIN = 20_000


#: seconds per unit of :meth:`PermutationalEngine.cost` on 2 cores, calibrated on N = 80 (piqs'
#: problem), 200 and 400 (benchmarks/README.md) at 105 evaluation times up to t = 2 (``CALIBRATION``)
SECONDS_PER_COST = 6e-9
CALIBRATION = (105, 2.0)
#: a driven model against a time-independent one (step-doubled Magnus steps of two short Krylov
#: exponentials each; benchmarks/README.md: d = 2, N = 64, drive 0.6 cos(3t) sx/2, t = 3, 31 times)
DRIVEN_COST_FACTOR = 30.0


@dataclass(frozen=True, kw_only=True)
class PermutationalEngine:
    """Exact open (and closed) dynamics on Schur-Weyl blocks for any d; cost polynomial in N.

    memory_budget_gb : refuse N whose generator would not fit (estimate from its nonzeros).
    workers : threads for the sparse products and the block eigenvalues (`"auto"`: every core, for generators large
        enough to profit).
    """

    memory_budget_gb: float = MEMORY_BUDGET_GB
    workers: int | str = "auto"
    name: str = "permutational"

    def __post_init__(self):
        object.__setattr__(self, "memory_budget_gb",
                           check_positive_number(self.memory_budget_gb, "memory_budget_gb", EngineError))
        object.__setattr__(self, "workers", check_workers(self.workers, "workers", EngineError))

    def supports(self, model: Model, N: int, real: bool = True) -> tuple[bool, str]:
        """Whether (model, N) fits the memory budget (`real=False`: for the steady-state solver)."""
        need = self.memory_estimate(model, N, real) / 2**30
        if need > self.memory_budget_gb:
            return False, (f"the permutational engine needs about {need:.3g} GiB for N = {N}, d = {model.d}, "
                           f"over the memory budget of {self.memory_budget_gb:g} GiB; lower N or raise memory_budget_gb")
        return True, ""

    def memory_estimate(self, model: Model, N: int, real: bool = True) -> float:
        """Peak bytes: the real generator (about 2 d^4 nonzeros per row, 12 bytes each, 1.25x
        that during its assembly in row groups) plus the propagator's and the measurement's
        vectors (measured at d = 2: 26.7 nonzeros per row for complex operators, 13 for real
        ones; N = 400 peaked at 5.4 GiB, estimated 7.5). `real=False`: the steady-state
        solver's complex generator (20 bytes a nonzero, 1.25x during its assembly; the trace
        condition replaces one of its rows in each product, not in a copy), the
        preconditioner's block factors (at most four n x n arrays a block, on the Schur route)
        and the Krylov vectors (N = 80, 120, 160 in one process: 0.55 GiB measured, N = 160
        estimated 1.07 GiB; N = 320: 3.8 GiB measured, 6.7 GiB estimated)."""
        d = model.d
        size = math.comb(N + d * d - 1, N)  # = sum over blocks of dim U_lambda^2
        per_row = 2 * d**4 + (d**4 // 2 if model.collective_jumps else 0)
        per_entry = per_row * 12 * 1.25 + 8 * 30 if real else per_row * 20 * 1.25 + 64 + 16 * 24
        return float(size) * per_entry + 250 * 2**20

    def cost(self, model: Model, N: int) -> float:
        d = model.d
        return float(math.comb(N + d * d - 1, N)) * 50 * (N + 1)

    def estimate(self, model: Model, N: int, *, rho0=None, evaluations: int = 21, t_final: float = 2.0,
                 outputs: int | None = None) -> Estimate:
        """Wall time (2 cores) and peak memory of `evolve` (see `Engine`),
        calibrated on `CALIBRATION`'s runs."""
        seconds = scaled_seconds(SECONDS_PER_COST, self.cost(model, N), evaluations, t_final, CALIBRATION)
        if model.is_driven:
            seconds *= DRIVEN_COST_FACTOR
        return Estimate(seconds, self.memory_estimate(model, N) * (1 + len(model.drive)))

    def threads(self) -> int:
        """Threads for the sparse products and the block eigenvalues (`workers`; "auto": every core)."""
        return self.workers if self.workers != "auto" else (os.cpu_count() or 1)

    def propagator(self, A: sp.csr_matrix) -> KrylovPropagator:
        """The Krylov (Arnoldi) propagator of a generator, with this engine's threads."""
        return KrylovPropagator(A, threads=self.threads())

    def _check(self, model: Model, N: int, real: bool = True) -> None:
        ok, why = self.supports(model, N, real)
        if not ok:
            raise EngineError(why)

    def generator(self, model: Model, N: int, real: bool = False) -> tuple[BlockSpace, sp.csr_matrix]:
        """The block layout and the sparse Lindblad generator of (model, N); `real`: on the
        real coordinates of Hermitian blocks (`BlockSpace.to_real`)."""
        self._check(model, N, real)
        space = BlockSpace(N, model.d)
        A = block_liouvillian(space, np.asarray(model.h), np.asarray(model.V), list(model.jumps),
                              list(model.collective_jumps), model.kappa(N), model.hbar, real=real,
                              threads=self.threads())
        return space, A

    def drive_generators(self, model: Model, N: int, real: bool = True) -> list[sp.csr_matrix]:
        r"""The time-dependent pieces of the generator on the blocks, in the order of
        `Model.time_coefficients`: for each drive term $f_k(t) A_k$ the commutator with $J(A_k)$,
        then for each timed jump $r_k(t) L_k$ its dissipator on every particle, then with
        `interaction` the commutator with the interaction alone (the generator of a driven model
        is `generator` plus the coefficients times these)."""
        space = BlockSpace(N, model.d)
        d = model.d
        zero_h, zero_V = np.zeros((d, d), dtype=complex), np.zeros((d * d, d * d), dtype=complex)
        pieces = [block_liouvillian(space, np.asarray(A), zero_V, [], [], model.kappa(N), model.hbar, real=real,
                                    threads=self.threads()) for A, _ in model.drive]
        pieces += [block_liouvillian(space, zero_h, zero_V, [np.asarray(L)], [], model.kappa(N), model.hbar, real=real,
                                     threads=self.threads()) for L, _ in model.timed_jumps]
        if model.interaction is not None:   # the interaction alone, times g(t) - 1
            pieces.append(block_liouvillian(space, zero_h, np.asarray(model.V), [], [], model.kappa(N), model.hbar,
                                            real=real, threads=self.threads()))
        return pieces

    def block_states(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray, real: bool = False):
        """Yield the state vector (concatenated blocks P_lambda, see `BlockSpace`) at each time
        (`real`: its real coordinates, `BlockSpace.to_real`).

        The first item is `(space, propagator)`; then one vector per time. The propagation
        runs on the real coordinates of the Hermitian blocks (a real generator: each product
        about 2x faster than the complex one, measured at d = 2, N = 80).
        """
        space, A = self.generator(model, N, real=True)
        if model.is_driven:
            prop = DrivenPropagator([A, *self.drive_generators(model, N)], model.time_coefficients,
                                    threads=self.threads())
        else:
            prop = self.propagator(A)
        del A
        yield space, prop
        z = space.to_real(space.product_state_vector(np.asarray(rho0)))
        try:
            for z_t in prop.trajectory(z, times):
                yield z_t if real else space.to_complex(z_t)
        finally:
            prop.close()

    def evolve(self, model: Model, rho0: np.ndarray, N: int, times: np.ndarray, kmax: int = 2,
               progress: ProgressCallback | None = None, marginal_times=None) -> Trajectory:
        self._check(model, N)
        kmax = min(kmax, N, 3)
        times = np.asarray(times, dtype=float)
        states = self.block_states(model, rho0, N, times, real=True)
        with sparse_work():
            space, prop = next(states)
            needed = higher_marginal_mask(marginal_times, times.size)
            # a single-threaded propagation leaves the other cores to the measurements: they run
            # a few states behind it on a second thread (BEHIND_MIN)
            behind = prop.threads == 1 and self.threads() > 1 and space.size >= BEHIND_MIN
            with BlockMeasurement(space, times.size, kmax, threads=1 if behind else self.threads()) as meas:
                def measure(n, x):
                    meas.add_real(n, x, higher=bool(needed[n]))

                if behind:
                    consume_behind(states, measure, done=progress)
                else:
                    for n, x in enumerate(states):
                        measure(n, x)
                        if progress:
                            progress(n + 1)
        entropy, marginals = meas.entropy, meas.marginals()
        trace_err, negativity = meas.trace_error, meas.most_negative
        stats = {
            "blocks": len(space.lams),
            "state_size": space.size,
            "generator_nnz": prop.nnz,
            "generator_norm": prop.alpha,
            "products": prop.matvecs,
            "krylov_steps": prop.steps,
            "trace_error": float(trace_err),
            "most_negative_eigenvalue": float(negativity),
            "method": "Schur-Weyl blocks, branching isometries, Krylov (Arnoldi) propagator",
        }
        return Trajectory(times=times, N=N, entropy=entropy, marginals=marginals, engine=self.name, stats=stats)

    def steady_state(self, model: Model, N: int, *, tol: float = 1e-10, t_max: float = 2000.0,
                     on_iteration=None, reference=None, windows: bool = True) -> SteadyState:
        """The N-body steady state (`qmeanfield.engines.steady.steady_state`, every option there)."""
        return steady.steady_state(self, model, N, tol=tol, t_max=t_max, on_iteration=on_iteration,
                                   reference=reference, windows=windows)

    def liouvillian_gap(self, model: Model, N: int, *, tau: float = 1.0, modes: int = 4) -> float:
        """The slowest relaxation rate (`qmeanfield.engines.steady.liouvillian_gap`)."""
        return steady.liouvillian_gap(self, model, N, tau=tau, modes=modes)

    def estimate_steady(self, model: Model, N: int, reference=None, *, gap: bool = False) -> Estimate:
        """Wall time and peak memory of `steady_state` (`qmeanfield.engines.steady.estimate_steady`)."""
        return steady.estimate_steady(self, model, N, reference, gap=gap)

    def steady_memory_estimate(self, model: Model, N: int, reference=None) -> float:
        """Peak bytes of `steady_state` (`qmeanfield.engines.steady.steady_memory_estimate`)."""
        return steady.steady_memory_estimate(self, model, N, reference)

    @staticmethod
    def steady_window_entries(model: Model, N: int, reference=None) -> int | None:
        """Entries of the first windowed try (`qmeanfield.engines.steady.steady_window_entries`)."""
        return steady.steady_window_entries(model, N, reference)

    def supports_steady(self, model: Model, N: int, reference=None) -> tuple[bool, str]:
        """Whether `steady_state` fits the memory budget (`qmeanfield.engines.steady.supports_steady`)."""
        return steady.supports_steady(self, model, N, reference)
