r"""Husimi and Wigner functions of $R = \sum_k \lambda_k |\psi_k\rangle\langle\psi_k|$ on a grid.

Husimi (docs/semiclassical.md): $H[R](q,p) = (2\pi\hbar)^{-1}\langle q,p|R|q,p\rangle \ge 0$. With
$R(x, x - y)$ along the diagonals of R and
$e^{-((x-q)^2 + (x-y-q)^2)/(2\hbar)} = e^{-y^2/(4\hbar)} e^{-(x - y/2 - q)^2/\hbar}$,

$$
H(q, p) = \frac{(\pi\hbar)^{-1/2}}{2\pi\hbar} \sum_y e^{-y^2/(4\hbar) - ipy/\hbar}
          \Big[e^{-u^2/\hbar} * R(\cdot, \cdot - y)\Big](q + y/2)\, dx^2,
$$

a Gaussian smoothing of each diagonal (one batched FFT) and a short Fourier sum in y: no
coherent state is ever formed. Only diagonals with $|y| \le$ `HUSIMI_WIDTH` $\sqrt\hbar$
contribute (the rest is below e^-25 of the peak). The q points must be grid points (the
quantum grid is a multiple of the comparison grid).

Wigner: $W(x, p) = (\pi\hbar)^{-1} \sum_m R(x_{i+m}, x_{i-m})\, e^{-2ipm\,dx/\hbar}\, dx$.
"""

from __future__ import annotations

import numpy as np

from .grid import Grid

__all__ = ["density_matrix", "husimi", "wigner", "HUSIMI_WIDTH"]

#: diagonals |x - x'| <= HUSIMI_WIDTH sqrt(hbar) enter the Husimi function (e^{-y^2/4hbar} >= e^-25)
HUSIMI_WIDTH = 10.0


def density_matrix(weights: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """R(x, x') = sum_k w_k psi_k(x) conj(psi_k(x')), shape (Nx, Nx)."""
    return (psi.T * weights[None, :]) @ psi.conj()


def _diagonals(R: np.ndarray, offsets: np.ndarray, periodic: bool) -> np.ndarray:
    """D[m, i] = R(x_i, x_{i - m}) for each offset m (0 outside an interval)."""
    n = R.shape[0]
    i = np.arange(n)
    j = i[None, :] - offsets[:, None]
    if periodic:
        return R[i[None, :], j % n]
    valid = (j >= 0) & (j < n)
    return np.where(valid, R[i[None, :], np.clip(j, 0, n - 1)], 0.0)


def husimi(R: np.ndarray, grid: Grid, hbar: float, stride: int, p: np.ndarray, periodic: bool) -> np.ndarray:
    """Husimi function at q = grid.x[::stride] and momenta p, shape (Nq, Np)."""
    n, dx = grid.x.size, grid.dx
    half = int(np.ceil(HUSIMI_WIDTH * np.sqrt(hbar) / dx))
    half = min(half, n // 2 - 1) if periodic else min(half, n - 1)
    offsets = np.arange(-half, half + 1)
    y = offsets * dx
    D = _diagonals(R, offsets, periodic)                                     # (2h+1, Nx)
    k = grid.k
    size = n if periodic else 2 * n
    kk = 2 * np.pi * np.fft.fftfreq(size, d=dx)
    # smoothing kernel e^{-u^2/hbar} (its transform), shifted by y/2: evaluate the convolution at q + y/2
    kernel = np.sqrt(np.pi * hbar) * np.exp(-hbar * kk**2 / 4)
    shift = np.exp(1j * np.multiply.outer(y / 2, kk))                       # f(q + y/2) <-> e^{i k y/2}
    S = np.fft.ifft(np.fft.fft(D, n=size, axis=1) * kernel[None, :] * shift, axis=1)[:, :n]
    S = S[:, ::stride] / dx                                                 # (2h+1, Nq); undo the dx of the quadrature
    weights = np.exp(-(y**2) / (4 * hbar))[:, None] * S                     # (2h+1, Nq)
    E = np.exp(-1j * np.multiply.outer(y, p) / hbar)                        # (2h+1, Np)
    H = np.real(weights.T @ E) * dx * dx * (np.pi * hbar) ** -0.5 / (2 * np.pi * hbar)
    del k
    return np.clip(H, 0.0, None)


def wigner(R: np.ndarray, grid: Grid, hbar: float, stride: int, p: np.ndarray, periodic: bool) -> np.ndarray:
    """Wigner function at x = grid.x[::stride] and momenta p, shape (Nx', Np) (may be negative)."""
    n, dx = grid.x.size, grid.dx
    half = n // 2 - 1 if periodic else n - 1
    m = np.arange(-half, half + 1)
    i = np.arange(0, n, stride)
    a, b = i[None, :] + m[:, None], i[None, :] - m[:, None]
    if periodic:
        vals = R[a % n, b % n]
    else:
        ok = (a >= 0) & (a < n) & (b >= 0) & (b < n)
        vals = np.where(ok, R[np.clip(a, 0, n - 1), np.clip(b, 0, n - 1)], 0.0)
    E = np.exp(-2j * np.multiply.outer(m * dx, p) / hbar)
    return np.real(vals.T @ E) * dx / (np.pi * hbar)
