r"""Hartree for density matrices: the Toeplitz initial state and split-step propagation.

**Initial state** (docs/semiclassical.md, What is computed): $R_0 = T(f_0) = \int f_0(q,p)|q,p\rangle\langle q,p|\,dq\,dp$
with coherent states $|q,p\rangle(x) = (\pi\hbar)^{-1/4} e^{-(x-q)^2/(2\hbar) + ip(x-q)/\hbar}$, so

$$
R_0(x, x') = (\pi\hbar)^{-1/2} \int dq\, e^{-((x-q)^2 + (x'-q)^2)/(2\hbar)}
             \int dp\, f_0(q, p)\, e^{ip(x - x')/\hbar}.
$$

$f_0$ on the (q, p) grid is split by an SVD into separable terms (one for Gaussian and
thermal data); each term costs one matrix product. $R_0$ is diagonalised; the orbitals
with weight above `WEIGHT_CUT` of the largest are kept (the weight dropped is recorded).
On the torus the distances x - q and x - x' are taken modulo L (coherent states much narrower
than L).

**Propagation**: $R(t) = \sum_k \lambda_k |\psi_k(t)\rangle\langle\psi_k(t)|$ with fixed
weights; all orbitals move together under $i\hbar\partial_t\psi = (-\tfrac{\hbar^2}{2}\partial_x^2 + U + V*n)\psi$,
$n = \sum_k \lambda_k|\psi_k|^2$, by Strang splitting: half a potential step (exact: n is
unchanged by it), a kinetic step in Fourier space, half a potential step with the new n.
Second order in dt, time reversible; trace and spectrum are conserved to round-off, the energy to
splitting order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import Grid, MeanField
from .problem import SemiclassicalProblem

__all__ = ["Orbitals", "toeplitz_state", "thermal_state", "initial_state", "HartreeSolver", "WEIGHT_CUT", "SVD_CUT"]

#: orbitals with weight below this fraction of the largest are dropped (weight recorded)
WEIGHT_CUT = 1e-12
#: singular values of f0 below this fraction of the largest are dropped
SVD_CUT = 1e-13


@dataclass(frozen=True)
class Orbitals:
    """A density matrix as weights (K,) and orthonormal orbitals psi (K, Nx) (normalised with dx)."""

    weights: np.ndarray
    psi: np.ndarray
    discarded_weight: float = 0.0

    def density(self, dx: float) -> np.ndarray:
        return np.einsum("k,kx->x", self.weights, np.abs(self.psi) ** 2)


def _wrap(d: np.ndarray, length: float, periodic: bool) -> np.ndarray:
    return (d + length / 2) % length - length / 2 if periodic else d


def toeplitz_state(problem: SemiclassicalProblem, hbar: float, grid: Grid, p: np.ndarray) -> Orbitals:
    """The orbitals of $T(f_0)$ on `grid`; f0 is integrated over the momentum cells `p`."""
    x, dx, L = grid.x, grid.dx, grid.length
    periodic = problem.domain == "periodic"
    dp = p[1] - p[0]
    f = problem.initial.density(x, p)  # q on the x grid
    f = f / (f.sum() * dx * dp)
    U, s, Wt = np.linalg.svd(f, full_matrices=False)
    rank = int(np.sum(s > SVD_CUT * s[0]))
    n = x.size
    G = np.exp(-_wrap(x[:, None] - x[None, :], L, periodic) ** 2 / (2 * hbar))      # (x, q)
    # x - x' = (i - j) dx: one table of the p integral per offset, read through an index matrix
    i = np.arange(n)
    offset = (i[:, None] - i[None, :]) % n if periodic else i[:, None] - i[None, :] + n - 1
    steps = np.arange(n) if periodic else np.arange(-(n - 1), n)
    y = _wrap(steps * dx, L, periodic)
    phase = np.exp(1j * np.multiply.outer(y, p) / hbar)                               # (offsets, p)
    R = np.zeros((n, n), dtype=complex)
    for r in range(rank):
        a = s[r] * U[:, r]                                   # q profile
        B = (phase @ (Wt[r] * dp))[offset]                   # int dp b(p) e^{i p (x - x')/hbar}
        R += B * ((G * (a * dx)) @ G.T)
    R *= (np.pi * hbar) ** -0.5
    R = (R + R.conj().T) / 2
    w, V = np.linalg.eigh(R * dx)
    w, V = w[::-1], V[:, ::-1]
    keep = w > WEIGHT_CUT * w[0]
    total = float(np.sum(np.clip(w, 0, None)))
    weights = w[keep] / total
    dropped = float(np.sum(np.clip(w[~keep], 0, None)) / total)
    psi = (V[:, keep] / np.sqrt(dx)).T
    return Orbitals(weights=weights, psi=np.ascontiguousarray(psi), discarded_weight=dropped)


def thermal_state(problem: SemiclassicalProblem, hbar: float, grid: Grid) -> Orbitals:
    r"""The Gibbs state $e^{-\beta h_{ref}}/Z$ of $h_{ref} = -\tfrac{\hbar^2}{2}\partial_x^2 + U_{ref}(x)$
    on the grid (`initial.reference`, `initial.beta`); its classical partner is
    $f_0 \propto e^{-\beta(p^2/2 + U_{ref})}$. Kinetic energy by the Fourier matrix (periodic on
    the grid), orbitals kept above `WEIGHT_CUT` of the largest weight."""
    init = problem.initial
    n, dx = grid.x.size, grid.dx
    from ..expressions import evaluate_function

    U = np.real(evaluate_function(init.reference, {"x": grid.x}, "semiclassical.initial.reference"))
    F = np.fft.fft(np.eye(n), axis=0) / np.sqrt(n)
    K = (F.conj().T * (hbar**2 * grid.k**2 / 2)[None, :]) @ F
    E, V = np.linalg.eigh((K + K.conj().T) / 2 + np.diag(U))
    w = np.exp(-init.beta * (E - E[0]))
    keep = w > WEIGHT_CUT * w[0]
    total = float(w.sum())
    return Orbitals(weights=w[keep] / total, psi=np.ascontiguousarray((V[:, keep] / np.sqrt(dx)).T),
                    discarded_weight=float(w[~keep].sum() / total))


def initial_state(problem: SemiclassicalProblem, hbar: float, grid: Grid, p: np.ndarray) -> Orbitals:
    """The quantum initial state matched to f0: T(f0), or the Gibbs state for `kind = "thermal"`."""
    if problem.initial.kind == "thermal":
        return thermal_state(problem, hbar, grid)
    return toeplitz_state(problem, hbar, grid, p)


class HartreeSolver:
    """Strang split-step propagation of the orbitals of R(t) (see the module docstring)."""

    def __init__(self, problem: SemiclassicalProblem, hbar: float, grid: Grid, dt: float):
        self.problem, self.hbar, self.grid, self.dt = problem, hbar, grid, dt
        self.field = MeanField(problem, grid)
        self.kinetic = self.kinetic_phase(dt)

    def kinetic_phase(self, dt: float) -> np.ndarray:
        """exp(-i hbar k^2 dt / 2): the exact kinetic step in Fourier space."""
        return np.exp(-1j * self.hbar * self.grid.k**2 * dt / 2)

    def density(self, weights: np.ndarray, psi: np.ndarray) -> np.ndarray:
        return np.einsum("k,kx->x", weights, np.abs(psi) ** 2)

    def _half_potential(self, weights, psi, dt):
        phase = np.exp(-0.5j * dt / self.hbar * self.field.potential(self.density(weights, psi)))
        psi *= phase[None, :]

    def step(self, weights: np.ndarray, psi: np.ndarray, steps: int, dt: float | None = None) -> np.ndarray:
        """Advance `psi` (K, Nx) by `steps` Strang steps of `dt` (default: the solver's)."""
        dt = self.dt if dt is None else dt
        kinetic = self.kinetic if dt == self.dt else self.kinetic_phase(dt)
        for _ in range(steps):
            self._half_potential(weights, psi, dt)
            psi = np.fft.ifft(np.fft.fft(psi, axis=1) * kinetic[None, :], axis=1)
            self._half_potential(weights, psi, dt)
        return psi

    def energy(self, weights: np.ndarray, psi: np.ndarray) -> float:
        """Tr(h R) + (1/2) int (V*n) n."""
        dx = self.grid.dx
        n = self.density(weights, psi)
        psik = np.fft.fft(psi, axis=1)
        kin = 0.5 * self.hbar**2 * np.sum(weights[:, None] * np.abs(psik) ** 2 * self.grid.k[None, :] ** 2) \
            * dx / psi.shape[1]
        return float(kin + np.sum(self.field.U * n) * dx + 0.5 * np.sum(self.field.interaction(n) * n) * dx)

    def run(self, orbitals: Orbitals, times: np.ndarray, on_time=None):
        """Yield the orbitals (K, Nx) at each output time (times[0] must be 0), with the number of steps
        between outputs chosen so that no step exceeds dt."""
        psi = orbitals.psi.astype(complex).copy()
        t = 0.0
        for n, target in enumerate(times):
            gap = target - t
            if gap > 0:
                steps = max(1, int(np.ceil(gap / self.dt - 1e-9)))
                psi = self.step(orbitals.weights, psi, steps, gap / steps)
                t = target
            if on_time:
                on_time(n)
            yield psi
