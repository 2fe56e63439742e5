r"""Vlasov: semi-Lagrangian Strang splitting (Cheng-Knorr) on an (x, p) grid.

$\partial_t f + p\,\partial_x f + F(x)\,\partial_p f = 0$ with $F = -\partial_x(U + V*\rho_f)$.
One step: advect in x by p dt/2, in p by F dt (F from the density after the first half step),
in x by p dt/2. Each advection is a shift of the grid function, done exactly for the
interpolant in Fourier space (spectral interpolation): periodic in x on the torus; in p (and in
x on an interval) the grid is wide enough that f vanishes at its ends (checked: `edge_mass`).
Mass is conserved to round-off; momentum, energy and the L2 norm are monitored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import Grid, MeanField
from .problem import SemiclassicalProblem

__all__ = ["VlasovSolver", "VlasovMonitor"]


@dataclass(frozen=True)
class VlasovMonitor:
    """Invariants along a run, (T,) each: mass, momentum, energy, L2 norm, and the largest mass
    fraction found in the outermost cells (a spectral shift there would wrap around)."""

    mass: np.ndarray
    momentum: np.ndarray
    energy: np.ndarray
    l2: np.ndarray
    edge_mass: float


def _shift(f: np.ndarray, displacement: np.ndarray, axis: int, h: float, pad: bool) -> np.ndarray:
    """f(z - displacement) along `axis` by Fourier interpolation; `displacement` has shape
    (1, Np) (x shifts) or (Nx, 1) (p shifts). With `pad` the axis is zero-padded to twice its
    length (no wrap)."""
    n = f.shape[axis]
    size = 2 * n if pad else n
    k = 2 * np.pi * np.fft.fftfreq(size, d=h)
    shape = [1, 1]
    shape[axis] = size
    other = [slice(None), slice(None)]
    disp = displacement
    F = np.fft.fft(f, n=size, axis=axis)
    out = np.real(np.fft.ifft(F * np.exp(-1j * k.reshape(shape) * disp), axis=axis))
    other[axis] = slice(0, n)
    return out[tuple(other)]


class VlasovSolver:
    def __init__(self, problem: SemiclassicalProblem, grid: Grid, p: np.ndarray, dt: float):
        self.problem, self.grid, self.p, self.dt = problem, grid, p, dt
        self.dp = p[1] - p[0]
        self.field = MeanField(problem, grid)
        self.periodic = problem.domain == "periodic"

    def density(self, f: np.ndarray) -> np.ndarray:
        return f.sum(axis=1) * self.dp

    def _x_step(self, f, tau):
        return _shift(f, self.p[None, :] * tau, 0, self.grid.dx, pad=not self.periodic)

    def _p_step(self, f, tau):
        force = self.field.force(self.density(f))
        return _shift(f, force[:, None] * tau, 1, self.dp, pad=True)

    def step(self, f: np.ndarray, steps: int, dt: float) -> np.ndarray:
        for _ in range(steps):
            f = self._x_step(f, dt / 2)
            f = self._p_step(f, dt)
            f = self._x_step(f, dt / 2)
        return f

    def invariants(self, f: np.ndarray) -> tuple[float, float, float, float]:
        dx, dp = self.grid.dx, self.dp
        rho = self.density(f)
        mass = float(f.sum() * dx * dp)
        momentum = float(np.sum(f * self.p[None, :]) * dx * dp)
        kinetic = float(np.sum(f * self.p[None, :] ** 2 / 2) * dx * dp)
        potential = float(np.sum(self.field.U * rho) * dx + 0.5 * np.sum(self.field.interaction(rho) * rho) * dx)
        return mass, momentum, kinetic + potential, float(np.sqrt(np.sum(f**2) * dx * dp))

    def run(self, f0: np.ndarray, times: np.ndarray, on_time=None):
        """Yield f at each output time (times[0] = 0); `self.monitor` holds the invariants after the run."""
        f = f0.copy()
        t, rows, edge = 0.0, [], 0.0
        for n, target in enumerate(times):
            gap = target - t
            if gap > 0:
                steps = max(1, int(np.ceil(gap / self.dt - 1e-9)))
                f = self.step(f, steps, gap / steps)
                t = target
            rows.append(self.invariants(f))
            total = max(f.sum(), 1e-300)
            edge = max(edge, float((np.abs(f[:, :2]).sum() + np.abs(f[:, -2:]).sum()) / total))
            if not self.periodic:
                edge = max(edge, float((np.abs(f[:2]).sum() + np.abs(f[-2:]).sum()) / total))
            if on_time:
                on_time(n)
            yield f
        arr = np.array(rows)
        self.monitor = VlasovMonitor(mass=arr[:, 0], momentum=arr[:, 1], energy=arr[:, 2], l2=arr[:, 3],
                                     edge_mass=edge)
