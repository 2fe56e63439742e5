r"""The entropy method's a-priori bound, computed (docs/theory.md, The certificate).

With $A = [\log\rho \otimes 1, V]$ and $A_1 = \mathrm{Tr}_2[(1\otimes\rho)A]$, the
entropy production is $dH_N/dt = \mathrm{Tr}(R_N Y_N)$ with the permutation-symmetric

$$
Y_N = \frac{i}{\hbar}\Big[\kappa_N \sum_{i\ne j} A_{ij} - \sum_j (A_1)_j\Big],
$$

which for $\kappa_N = 1/(N-1)$ is the centred form of docs/theory.md,
$\tfrac{i}{\hbar}\tfrac{1}{N-1}\sum_{i\ne j}(A_c)_{ij}$ (here $A_2 = 0$ and
$\mathrm{Tr}((\rho\otimes\rho)A) = 0$ because $[\rho, \log\rho] = 0$). The Gibbs
variational principle gives, for $\eta > 0$,
$\mathrm{Tr}(R_N Y_N) \le (H_N + \Lambda_N(\eta, t))/\eta$ with

$$
\Lambda_N(\eta, t) = \log \mathrm{Tr}\exp\big(\log\rho(t)^{\otimes N} + \eta Y_N(t)\big) \;\ge 0,
$$

and Gronwall's lemma the certificate

$$
H_N(t) \le e^{t/\eta} H_N(0) + \frac1\eta \int_0^t e^{(t-s)/\eta}\Lambda_N(\eta, s)\,ds,
$$

minimised over the grid of $\eta$. The time integral is the trapezoidal rule on the
given times, so the certificate is as accurate as that quadrature. Open systems obey the same
bound (the dissipation only helps). $\Lambda_N$ is computed block by block on the
Schur-Weyl decomposition (both operators are symmetric): in the eigenbasis of $\rho(t)$,
$\log\rho^{\otimes N}$ is diagonal on each Gelfand-Tsetlin basis and $Y_N$ is a
polynomial in the collective generators. The Golden-Thompson upper bound
$\log\mathrm{Tr}(\rho^{\otimes N} e^{\eta Y_N})$ is a second column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.special import logsumexp

from . import meanfield
from ._checks import check_particle_numbers
from .blocks.collective import collective_two_body
from .blocks.irreps import Irrep, eigenbasis, log_highest_weight
from .blocks.space import BlockSpace
from .diagnostics import fit_power_law, interaction_commutator, log_density
from .errors import QMeanFieldError
from .estimates import Estimate
from .model import Model
from .operators import partial_trace_second
from .states import validate_density_matrix

__all__ = ["estimate_bound", "eta_grid", "fluctuation_parts", "lambda_blocks", "LambdaBlocks", "gronwall_bound", "GronwallBound",
           "eta_threshold", "EtaThreshold", "BandedHermitian", "TAIL_CUT"]

#: the bound's wall time: about 11 s per (N, time) at N = 1000 with 10 eta (2 workers), as N^2,
#: and at least 15 ms per (N, time) (N = 2..8, 61 times: 6.4 s)
BOUND_REFERENCE = (1000, 11.0, 10)
BOUND_TASK_FLOOR = 0.015


def estimate_bound(Ns, n_times: int, n_etas: int) -> Estimate:
    """Wall time (2 cores) of the certificate's bound for these N (memory: a few blocks, small
    beside the exact comparison; not estimated)."""
    N_ref, seconds, etas_ref = BOUND_REFERENCE
    return Estimate(float(sum(BOUND_TASK_FLOOR + seconds * (n / N_ref) ** 2 * max(n_etas, 1) / etas_ref for n in Ns)
                          * n_times))


#: blocks whose log-contribution is this far below the running total are considered negligible
TAIL_CUT = 25.0
#: a direction of the d = 2 block walk stops after this many negligible blocks in a row
TAIL_QUIET_BLOCKS = 3
#: the default eta grid, in units of hbar / ||V||
ETA_GRID_RANGE = (0.03, 2.5)
#: BandedHermitian uses LAPACK's banded solver above this dimension and below this bandwidth
BANDED_MIN_DIM, BANDED_MAX_BANDWIDTH = 32, 8
#: smallest eigenvalue of rho(t) accepted as full rank by the certificate
FULL_RANK_TOL = 1e-14


def eta_grid(model: Model, count: int = 10) -> np.ndarray:
    """Default eta values: log-spaced over [0.03, 2.5] in units of hbar / ||V||.

    The minimum over this grid is within about 10% of the minimum over a fine grid on the test
    models; pass `etas=` for a finer or wider search (the cost is proportional to its size).
    """
    scale = model.hbar / max(model.norm_V, 1e-12)
    return scale * np.geomspace(*ETA_GRID_RANGE, count)


def fluctuation_parts(rho: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""`(A, A1)`: $A = [\log\rho\otimes 1, V]$, $A_1 = \mathrm{Tr}_2[(1\otimes\rho)A]$ (rho full rank)."""
    L = log_density(rho)
    if L is None:
        raise QMeanFieldError("the certificate needs a full-rank rho(t): log rho is undefined for a singular state")
    d = rho.shape[0]
    A = interaction_commutator(L, V)
    A1 = partial_trace_second(np.kron(np.eye(d), rho) @ A, d)
    return A, A1


class BandedHermitian:
    """A Hermitian sparse matrix prepared for repeated eigenvalue solves of D + eta * M.

    Small bandwidth (d = 2 blocks are pentadiagonal): LAPACK's banded solver on the upper band
    storage; otherwise a dense solver.
    """

    def __init__(self, M):
        self.n = M.shape[0]
        coo = M.tocoo()
        self.bw = int(np.max(np.abs(coo.row - coo.col))) if coo.nnz else 0
        self.banded = self.n > BANDED_MIN_DIM and self.bw <= BANDED_MAX_BANDWIDTH
        if self.banded:
            self.ab = np.zeros((self.bw + 1, self.n), dtype=complex)
            for k in range(self.bw + 1):
                self.ab[self.bw - k, k:] = M.diagonal(k)
        else:
            self.dense = M.toarray()

    def eigvals(self, eta: float = 1.0, D: np.ndarray | None = None) -> np.ndarray:
        """Eigenvalues of diag(D) + eta * M."""
        if self.banded:
            ab = eta * self.ab
            if D is not None:
                ab[self.bw] += D
            return scipy.linalg.eigvals_banded(ab, lower=False, check_finite=False)
        K = eta * self.dense
        if D is not None:
            K[np.diag_indices(self.n)] += D
        return np.linalg.eigvalsh(K)


def _block_operators(irrep: Irrep, logp, A, A1, kappa, hbar):
    D = irrep.weights @ logp
    Y = collective_two_body(irrep, -A1, A, kappa)   # -J(A1) + kappa sum_s [J(P_s)J(Q_s) - J(P_s Q_s)]
    Y = (1j / hbar) * Y
    Y = (Y + Y.conj().T) / 2
    return D, Y.tocsr()


@dataclass(frozen=True)
class LambdaBlocks:
    r"""$\Lambda_N(\eta, t)$ at one time, for each eta of the grid.

    lambda_N : (eta,) the values (>= 0).
    y_norm : $\|Y_N\|$ (NaN when not computed).
    golden_thompson : (eta,) $\log\mathrm{Tr}(\rho^{\otimes N} e^{\eta Y_N})$ or None when not computed.
    blocks_visited : how many Schur-Weyl blocks were computed.
    """

    lambda_N: np.ndarray
    y_norm: float
    golden_thompson: np.ndarray | None
    blocks_visited: int


def lambda_blocks(blocks: BlockSpace, rho: np.ndarray, V: np.ndarray, kappa: float, hbar: float,
                  etas: np.ndarray, golden_thompson: bool = False, y_norm: bool = True) -> LambdaBlocks:
    r"""$\Lambda_N(\eta)$ for each eta at one time (and optionally Golden-Thompson and $\|Y_N\|$).

    For d = 2 the blocks are visited outwards from the most probable one and a direction is
    abandoned after `TAIL_QUIET_BLOCKS` consecutive blocks contribute less than
    $e^{-25}$ of the running total (`TAIL_CUT`); for d > 2 every block is computed.
    """
    d = blocks.d
    p, _, Vr = eigenbasis(rho, V)
    if p[-1] <= FULL_RANK_TOL:
        raise QMeanFieldError("the certificate needs a full-rank rho(t)")
    A, A1 = fluctuation_parts(np.diag(p).astype(complex), Vr)
    logp = np.log(p)
    nb = len(blocks.lams)
    # order: most probable block first (by the weight of rho^(x)N), then outwards
    top = blocks.logmult + np.array([log_highest_weight(lam, logp) for lam in blocks.lams])
    start = int(np.argmax(top))
    contrib = np.full((etas.size, nb), -np.inf)
    gt = np.full((etas.size, nb), -np.inf) if golden_thompson else None
    ynorm = 0.0

    def visit(i):
        nonlocal ynorm
        D, Y = _block_operators(blocks.irrep(i), logp, A, A1, kappa, hbar)
        Yh = BandedHermitian(Y)
        logm = blocks.logmult[i]
        for e, eta in enumerate(etas):
            contrib[e, i] = logm + logsumexp(Yh.eigvals(eta, D))
        if y_norm or golden_thompson:
            if golden_thompson:
                y, U = np.linalg.eigh(Y.toarray())
                w = (np.abs(U) ** 2).T @ np.exp(D - D.max())       # <u_j| e^{D} |u_j> / e^{max D}
                for e, eta in enumerate(etas):
                    gt[e, i] = logm + D.max() + logsumexp(eta * y, b=w)
            else:
                y = Yh.eigvals()
            ynorm = max(ynorm, float(np.max(np.abs(y))))

    if d == 2 and not golden_thompson and not y_norm:
        visit(start)
        for order in (range(start - 1, -1, -1), range(start + 1, nb)):
            quiet = 0
            for i in order:
                visit(i)
                total = logsumexp(contrib, axis=1)
                quiet = quiet + 1 if np.all(contrib[:, i] < total - TAIL_CUT) else 0
                if quiet >= TAIL_QUIET_BLOCKS:
                    break
    else:
        for i in range(nb):
            visit(i)
    lambda_N = logsumexp(contrib, axis=1)
    # Lambda_N >= 0 (convex in eta, zero value and zero slope at eta = 0): clear round-off below zero
    lambda_N = np.where((lambda_N < 0) & (lambda_N > -1e-9), 0.0, lambda_N)
    return LambdaBlocks(lambda_N=lambda_N, y_norm=ynorm if (y_norm or golden_thompson) else float("nan"),
                        golden_thompson=logsumexp(gt, axis=1) if golden_thompson else None,
                        blocks_visited=int(np.sum(np.isfinite(contrib[0]))))


@dataclass(frozen=True)
class GronwallBound:
    """The Gronwall certificate minimised over eta: `bound` and `eta_opt` (time,), and the
    bound for every eta, `per_eta` (eta, time)."""

    bound: np.ndarray
    eta_opt: np.ndarray
    per_eta: np.ndarray


def gronwall_bound(times: np.ndarray, lambda_N: np.ndarray, etas: np.ndarray, H0: float = 0.0) -> GronwallBound:
    r"""Minimise over eta the Gronwall bound; `lambda_N` has shape (eta, time).

    $B_\eta(t_n) = e^{t_n/\eta}\big(H_0 + \tfrac1\eta\int_0^{t_n} e^{-s/\eta}\Lambda(\eta,s)ds\big)$
    (trapezoidal rule on `times`, which must start at 0).
    """
    times = np.asarray(times, dtype=float)
    if times[0] != 0:
        raise QMeanFieldError("the certificate's times must start at t = 0")
    per_eta = np.empty((etas.size, times.size))
    for e, eta in enumerate(etas):
        g = np.exp(-times / eta) * lambda_N[e]
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(times))])
        with np.errstate(over="ignore", invalid="ignore"):
            per_eta[e] = np.exp(times / eta) * (H0 + cum / eta)
    per_eta = np.where(np.isfinite(per_eta), per_eta, np.inf)
    best = np.argmin(per_eta, axis=0)
    return GronwallBound(bound=per_eta[best, np.arange(times.size)], eta_opt=etas[best], per_eta=per_eta)


@dataclass(frozen=True)
class EtaThreshold:
    r"""Where $\Lambda_N(\eta, t)$ stops being bounded in N.

    etas : the grid; N : the particle numbers; lambda_N : (N, eta) values; exponents : (eta,)
    fitted log-log slope of $\Lambda_N$ against N (NaN where not all positive);
    eta_threshold : the largest eta below the first unbounded one; growth_cutoff : the slope
    above which eta counts as unbounded; time : t.
    """

    etas: np.ndarray
    N: np.ndarray
    lambda_N: np.ndarray
    exponents: np.ndarray
    eta_threshold: float
    growth_cutoff: float
    time: float


def eta_threshold(model: Model, rho0, t: float, Ns=(10, 30, 100, 300, 1000), etas="auto",
                  growth_cutoff: float = 0.2) -> EtaThreshold:
    r"""Estimate the largest eta for which $\Lambda_N(\eta, t)$ stays bounded as N grows.

    For each eta, the exponent of $\Lambda_N$ against N is fitted over `Ns`; eta counts
    as bounded when the exponent is below `growth_cutoff` (a bounded sequence has exponent
    near 0, one growing like N has 1).
    """
    rho0 = validate_density_matrix(rho0, "rho0", model.d)
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not np.isfinite(t) or t < 0:
        raise QMeanFieldError(f"eta_threshold: t must be a finite time >= 0, got {t!r}")
    etas = eta_grid(model, 16) if isinstance(etas, str) else np.asarray(etas, dtype=float)
    rho_t = meanfield.evolve(model, rho0, [0.0, float(t)])[-1] if t > 0 else rho0
    Ns = check_particle_numbers(Ns, "Ns")
    lambda_N = np.array([lambda_blocks(BlockSpace(n, model.d), rho_t, np.asarray(model.V), model.kappa(n), model.hbar,
                                       etas, y_norm=False).lambda_N for n in Ns])
    exponents = np.full(etas.size, np.nan)
    for e in range(etas.size):
        fit = fit_power_law(Ns, lambda_N[:, e]) if np.all(lambda_N[:, e] > 0) else None
        if fit is not None:
            exponents[e] = fit.exponent
    bounded = np.isfinite(exponents) & (exponents < growth_cutoff)
    below = np.flatnonzero(~bounded)
    last_ok = (below[0] - 1) if below.size else etas.size - 1
    return EtaThreshold(etas=etas, N=np.array(Ns), lambda_N=lambda_N, exponents=exponents,
                        eta_threshold=float(etas[last_ok]) if last_ok >= 0 else 0.0,
                        growth_cutoff=growth_cutoff, time=float(t))
