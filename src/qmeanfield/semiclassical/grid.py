r"""Grids in x and p, their automatic choice, and the self-consistent mean field on a grid.

The x grid is uniform on $[-L/2, L/2)$ (`Nx` points, FFT-friendly sizes). The quantum
grid is tied to hbar: the FFT resolves $|p| \le \pi\hbar/dx$, so
$dx \le \pi\hbar / (\text{MOMENTUM_MARGIN}\,p_{max})$, and the coherent states of width
$\sqrt{\hbar/2}$ need $dx \le \sqrt\hbar/\text{COHERENT_POINTS}$; the binding reason is
recorded. $p_{max}$ bounds the momenta reached up to `t_final` (energy conservation:
$p^2/2 \le p_0^2/2 + \mathrm{osc}\,U + 2\max|V|$).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len

from ..errors import ConfigError
from .problem import SemiclassicalProblem

__all__ = ["Grid", "MeanField", "momentum_bound", "momentum_window", "HUSIMI_MARGIN", "quantum_grid", "classical_grid", "edges",
           "MOMENTUM_MARGIN", "COHERENT_POINTS", "MAX_QUANTUM_POINTS"]

#: the quantum grid resolves momenta up to this factor beyond the bound p_max
MOMENTUM_MARGIN = 1.3
#: grid points per sqrt(hbar) (a coherent state's scale)
COHERENT_POINTS = 6.0
#: the comparison window extends the classical momentum bound by this many Husimi widths sqrt(hbar/2)
HUSIMI_MARGIN = 9.0
#: refuse quantum grids larger than this (memory of the orbitals and density matrices)
MAX_QUANTUM_POINTS = 8192


@dataclass(frozen=True)
class Grid:
    """Uniform grid: `x` (Nx,) on [-L/2, L/2) and wavenumbers `k`; `reason` says why this size."""

    x: np.ndarray
    length: float
    reason: str = ""

    @property
    def dx(self) -> float:
        return self.length / self.x.size

    @property
    def k(self) -> np.ndarray:
        return 2 * np.pi * np.fft.fftfreq(self.x.size, d=self.dx)


def make_grid(length: float, n: int, reason: str = "") -> Grid:
    return Grid(x=-length / 2 + length * np.arange(n) / n, length=length, reason=reason)


def edges(centres: np.ndarray) -> np.ndarray:
    h = centres[1] - centres[0]
    return np.concatenate([centres - h / 2, [centres[-1] + h / 2]])


def initial_density(problem: SemiclassicalProblem, grid: Grid, p: np.ndarray) -> np.ndarray:
    """f0 on the (x, p) grid, normalised to 1 with the cell area dx dp."""
    f0 = problem.initial.density(grid.x, p)
    return f0 / (f0.sum() * grid.dx * (p[1] - p[0]))


def momentum_bound(problem: SemiclassicalProblem, samples: int = 512) -> tuple[float, float]:
    r"""An interval of momenta holding f(t) for all t <= t_final, from energy conservation along
    characteristics: $p(t)^2 \le \max_{\mathrm{supp} f_0}(p^2 + 2U) - 2\min U + 4\max|V|$
    (the mean-field potential of a probability density stays within $\pm\max|V|$)."""
    x = np.linspace(-problem.length / 2, problem.length / 2, samples, endpoint=False)
    lo, hi = problem.initial.momentum_extent()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = -50.0, 50.0
    p = np.linspace(lo, hi, 801)
    f = problem.initial.density(x, p)
    if not np.all(np.isfinite(f)) or f.min() < -1e-12 * max(float(np.abs(f).max()), 1e-300) or not f.max() > 0:
        raise ConfigError(f"semiclassical.initial: f0 must be finite, >= 0 and positive somewhere on x in "
                          f"[{-problem.length / 2:.3g}, {problem.length / 2:.3g}), p in [{lo:.3g}, {hi:.3g}] (a "
                          "probability density before normalisation); check f or the initial parameters")
    rows, cols = np.nonzero(f > 1e-14 * f.max())
    U = problem.external_potential(x)
    if problem.pair == "poisson":  # |phi| <= L^2/8 for a unit mean density
        Vmax = problem.length**2 / 8
    else:
        Vmax = float(np.max(np.abs(problem.pair_potential(x))))
    reach = float(np.max(p[cols] ** 2 + 2 * U[rows])) - 2 * float(U.min()) + 4 * Vmax
    pmax = math.sqrt(max(reach, float(np.max(p[cols] ** 2))))
    return -pmax, pmax


def momentum_window(problem: SemiclassicalProblem) -> tuple[float, float]:
    r"""The momentum window of the comparison: the user's `p_range`, or the classical bound
    (`momentum_bound`) widened by `HUSIMI_MARGIN` $\sqrt{\hbar_{max}/2}$ on each side: the
    Husimi function is the Wigner function smoothed by a Gaussian of variance hbar/2 per coordinate,
    so a window sized for f alone cuts it (cold data: W2 23 % low)."""
    if problem.p_range:
        return problem.p_range
    lo, hi = momentum_bound(problem)
    pad = HUSIMI_MARGIN * math.sqrt(max(problem.hbars) / 2)
    return lo - pad, hi + pad


def quantum_grid(problem: SemiclassicalProblem, hbar: float) -> Grid:
    """The x grid of the Hartree solver at this hbar, with the binding reason recorded."""
    lo, hi = momentum_window(problem)
    pmax = max(abs(lo), abs(hi))
    dx_p = math.pi * hbar / (MOMENTUM_MARGIN * pmax)
    dx_c = math.sqrt(hbar) / COHERENT_POINTS
    dx = min(dx_p, dx_c)
    n = next_fast_len(int(math.ceil(problem.length / dx)))
    if n > MAX_QUANTUM_POINTS:
        raise ConfigError(f"semiclassical: hbar = {hbar:g} needs {n} grid points (over the limit of "
                          f"{MAX_QUANTUM_POINTS}); raise hbar or shorten the domain")
    why = (f"dx <= pi hbar / ({MOMENTUM_MARGIN} p_max), p_max = {pmax:.3g} (momenta reached by t_final)"
           if dx_p <= dx_c else f"dx <= sqrt(hbar) / {COHERENT_POINTS:g} (resolves coherent states)")
    return make_grid(problem.length, n, why)


def classical_grid(problem: SemiclassicalProblem, nx: int, n_p: int) -> tuple[Grid, np.ndarray]:
    """The (x, p) grid of the Vlasov solver and the comparison: x grid and momentum cell centres."""
    lo, hi = momentum_window(problem)
    p = lo + (hi - lo) * (np.arange(n_p) + 0.5) / n_p
    why = "user p_range" if problem.p_range else "energy bound + Husimi margin"
    return make_grid(problem.length, nx, f"{nx} x {n_p} cells, p in [{lo:.3g}, {hi:.3g}] ({why})"), p


class MeanField:
    """$(V*\\rho)(x)$ and the force $-\\partial_x(U + V*\\rho)$ on a grid (FFT convolutions).

    Periodic domains: circular convolution. Intervals: linear convolution (zero padding), the
    density being zero outside the box.
    """

    def __init__(self, problem: SemiclassicalProblem, grid: Grid):
        self.problem, self.grid = problem, grid
        n, dx, L = grid.x.size, grid.dx, grid.length
        self.U = problem.external_potential(grid.x)
        self.F_ext = problem.external_force(grid.x)
        self.periodic = problem.domain == "periodic"
        if self.periodic:
            k = grid.k
            if problem.pair == "poisson":
                with np.errstate(divide="ignore"):
                    sym = np.where(k == 0, 0.0, L / k**2)
                self.V_hat, self.dV_hat = sym.astype(complex), 1j * k * sym
            else:
                offsets = (grid.x - grid.x[0] + L / 2) % L - L / 2  # x_i - x_0 wrapped
                self.V_hat = dx * np.fft.fft(problem.pair_potential(offsets))
                self.dV_hat = dx * np.fft.fft(problem.pair_derivative(offsets))
            self.size = n
        else:
            m = next_fast_len(2 * n)
            offsets = dx * np.concatenate([np.arange(0, m - n + 1), np.arange(-(n - 1), 0)])
            self.V_hat = dx * np.fft.fft(problem.pair_potential(offsets))
            self.dV_hat = dx * np.fft.fft(problem.pair_derivative(offsets))
            self.size = m

    def _convolve(self, rho: np.ndarray, symbol: np.ndarray) -> np.ndarray:
        n = rho.shape[-1]
        out = np.fft.ifft(np.fft.fft(rho, n=self.size, axis=-1) * symbol, axis=-1)
        return np.real(out[..., :n])

    def potential(self, rho: np.ndarray) -> np.ndarray:
        """U + V * rho (rho a density on the grid, integrating to 1 with dx)."""
        return self.U + self._convolve(rho, self.V_hat)

    def interaction(self, rho: np.ndarray) -> np.ndarray:
        return self._convolve(rho, self.V_hat)

    def force(self, rho: np.ndarray) -> np.ndarray:
        """-(U' + V' * rho)."""
        return self.F_ext - self._convolve(rho, self.dV_hat)
