r"""Wasserstein distances between phase-space densities on a grid, with a bracket.

The densities are histograms on a common (x, p) grid: cell masses, read as piecewise-uniform
densities (uniform inside each cell). For those, two bounds are exact (no optimisation, no
grid inflation):

* **lower**: $W_2(f, g)^2 \ge W_2(f_x, g_x)^2 + W_2(f_p, g_p)^2$ (marginals); each 1D
  $W_2$ is computed exactly from the piecewise-linear quantile functions
  (`w2_1d`), where `ot.wasserstein_1d` on cell centres would return $W_2^2$ of
  point masses, inflated by the grid (docs/semiclassical.md, What is computed).
* **upper**: the cost of the Knothe-Rosenblatt coupling (monotone in the first coordinate,
  then monotone between the conditional densities), in both orders, the smaller one
  (`w2_knothe`). Any coupling's cost bounds $W_2^2$ from above.

A third, independent value comes from POT: `ot.emd2` (exact network simplex) between the
histograms coarsened to at most `EMD_MAX_CELLS` cells, with its grid bracket
$|W_2^{grid} - W_2| \le \sqrt{h_x^2 + h_p^2}$; `numItermax` reached is an error, not a
value. The final bracket is the intersection. On the torus the x coordinate is read on the strip
$[-L/2, L/2)$ (the seam where the densities are smallest): the strip distance bounds the
torus distance from above and equals it when no mass needs to cross the seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import QMeanFieldError

__all__ = ["w2_1d", "w2_marginal_lower", "w2_knothe", "w2_emd", "W2Bracket", "w2_bracket", "EMD_MAX_CELLS",
           "gaussian_w2", "W2Estimate", "w2_grid", "W2_MAX_CELLS"]

#: largest number of cells per side handed to the Sinkhorn solver (finer histograms are merged in pairs)
W2_MAX_CELLS = 64
#: largest number of cells per side handed to ot.emd2 (its cost matrix has (cells^2)^2 entries)
EMD_MAX_CELLS = 40
#: iterations allowed to the network simplex
EMD_MAX_ITER = 10_000_000
#: relative tolerance added to every bracket: the accuracy of the solvers and transforms feeding
#: the histograms (time step, quantum grid), measured against closed forms in the tests
W2_REL_TOL = 1e-3


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.clip(np.asarray(m, dtype=float), 0.0, None)
    s = m.sum()
    if not s > 0:
        raise QMeanFieldError("a Wasserstein distance needs a non-zero density")
    return m / s



def _quantile_costs(ca: np.ndarray, cb: np.ndarray, edges: np.ndarray) -> np.ndarray:
    r"""$\int_0^1 |F_r^{-1} - G_r^{-1}|^2 du$ for each row r of CDF nodes `ca`, `cb` (R, n+1)
    on the same cells, exactly and for all rows at once.

    Each quantile function is linear on every cell of positive mass (from the cell's left edge to its
    right edge), so on each interval between the merged nodes of both CDFs both are linear and the
    integral of the squared difference is exact. Rows are laid end to end (row r on [2r, 2r + 1]) so
    one sort and one search serve them all."""
    R, m = ca.shape
    n = m - 1
    offset = 2.0 * np.arange(R)[:, None]
    A, B = (ca + offset).ravel(), (cb + offset).ravel()
    u = np.unique(np.concatenate([A, B]))
    u0, u1 = u[:-1], u[1:]
    row = np.floor(u0 / 2).astype(int)
    inside = np.floor(u1 / 2).astype(int) == row          # drop the gaps between rows

    def limits(c):
        def value(uu, idx):
            local = np.clip(idx - row * m, 0, n - 1)
            base = row * m + local
            width = c[base + 1] - c[base]
            safe = np.where(width > 0, width, 1.0)
            frac = np.clip(np.where(width > 0, (uu - c[base]) / safe, 0.0), 0.0, 1.0)
            return edges[local] + frac * (edges[local + 1] - edges[local])

        return (value(u0, np.searchsorted(c, u0, side="right") - 1),   # Q(u0+): c_i <= u0 < c_i+1
                value(u1, np.searchsorted(c, u1, side="left") - 1))    # Q(u1-): c_i < u1 <= c_i+1

    a0, a1 = limits(A)
    b0, b1 = limits(B)
    d0, d1 = a0 - b0, a1 - b1
    seg = np.where(inside, (u1 - u0) * (d0**2 + d0 * d1 + d1**2) / 3.0, 0.0)
    return np.bincount(row[inside], weights=seg[inside], minlength=R)


def _cdf_rows(m: np.ndarray) -> np.ndarray:
    """CDF nodes (rows, n+1) of rows of cell masses, each normalised to 1."""
    m = np.clip(np.asarray(m, dtype=float), 0.0, None)
    c = np.concatenate([np.zeros((m.shape[0], 1)), np.cumsum(m, axis=1)], axis=1)
    c /= c[:, -1:]
    c[:, -1] = 1.0
    return c


def w2_1d(edges: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    r"""Exact $W_2$ between two piecewise-uniform densities on the same cells.

    `edges` (n+1,) cell edges, `a`, `b` (n,) cell masses (normalised here). With
    $F^{-1}, G^{-1}$ piecewise linear between the CDF nodes,
    $W_2^2 = \int_0^1 |F^{-1}(u) - G^{-1}(u)|^2 du$ is summed exactly over the merged nodes.
    """
    edges = np.asarray(edges, dtype=float)
    a, b = _normalise(a), _normalise(b)
    return float(np.sqrt(max(_quantile_costs(_cdf_rows(a[None]), _cdf_rows(b[None]), edges)[0], 0.0)))


def w2_marginal_lower(x_edges, p_edges, f: np.ndarray, g: np.ndarray) -> float:
    """$\\sqrt{W_2(f_x, g_x)^2 + W_2(f_p, g_p)^2}$, a lower bound of $W_2(f, g)$."""
    f, g = _normalise(f), _normalise(g)
    wx = w2_1d(x_edges, f.sum(axis=1), g.sum(axis=1))
    wp = w2_1d(p_edges, f.sum(axis=0), g.sum(axis=0))
    return float(np.hypot(wx, wp))


def _knothe_sq(first_edges, second_edges, f: np.ndarray, g: np.ndarray) -> float:
    """Cost of the Knothe-Rosenblatt coupling, first coordinate along axis 0: the monotone coupling
    of the first marginals, then, for each stretch of quantile levels that pairs row i of f with
    row j of g, the monotone coupling of those rows (all pairs at once)."""
    first_edges, second_edges = np.asarray(first_edges, dtype=float), np.asarray(second_edges, dtype=float)
    fa, ga = f.sum(axis=1), g.sum(axis=1)
    cf, cg = _cdf_rows(fa[None])[0], _cdf_rows(ga[None])[0]
    cost = float(_quantile_costs(cf[None], cg[None], first_edges)[0])
    u = np.unique(np.concatenate([cf, cg]))
    du = np.diff(u)
    mid = 0.5 * (u[:-1] + u[1:])
    i_f = np.clip(np.searchsorted(cf, mid, side="right") - 1, 0, fa.size - 1)
    i_g = np.clip(np.searchsorted(cg, mid, side="right") - 1, 0, ga.size - 1)
    keep = (du > 0) & (fa[i_f] > 0) & (ga[i_g] > 0)
    pairs, inverse = np.unique(np.stack([i_f[keep], i_g[keep]], axis=1), axis=0, return_inverse=True)
    if pairs.size == 0:
        return cost
    weights = np.bincount(inverse.ravel(), weights=du[keep], minlength=pairs.shape[0])
    rows = _quantile_costs(_cdf_rows(f[pairs[:, 0]]), _cdf_rows(g[pairs[:, 1]]), second_edges)
    return cost + float(weights @ rows)


def w2_knothe(x_edges, p_edges, f: np.ndarray, g: np.ndarray) -> float:
    """The smaller Knothe-Rosenblatt coupling cost (x first, or p first): an upper bound of W2."""
    f, g = _normalise(f), _normalise(g)
    return float(np.sqrt(min(_knothe_sq(x_edges, p_edges, f, g), _knothe_sq(p_edges, x_edges, f.T, g.T))))


def _coarsen(edges: np.ndarray, m: np.ndarray, axis: int, cells: int):
    n = m.shape[axis]
    factor = int(np.ceil(n / cells))
    if factor <= 1:
        return edges, m
    pad = (-n) % factor
    if pad:
        widths = [(0, 0), (0, 0)]
        widths[axis] = (0, pad)
        m = np.pad(m, widths)
        h = edges[1] - edges[0]
        edges = np.concatenate([edges, edges[-1] + h * np.arange(1, pad + 1)])
    shape = list(m.shape)
    shape[axis : axis + 1] = [shape[axis] // factor, factor]
    return edges[::factor], m.reshape(shape).sum(axis=axis + 1)


def w2_emd(x_edges, p_edges, f: np.ndarray, g: np.ndarray, cells: int = EMD_MAX_CELLS) -> tuple[float, float]:
    """`(W2 between the coarsened histograms by ot.emd2, its grid bracket half-width)`."""
    import ot

    f, g = _normalise(f), _normalise(g)
    xe, f = _coarsen(np.asarray(x_edges), f, 0, cells)
    pe, f = _coarsen(np.asarray(p_edges), f, 1, cells)
    _, g = _coarsen(np.asarray(x_edges), g, 0, cells)
    _, g = _coarsen(np.asarray(p_edges), g, 1, cells)
    xc, pc = 0.5 * (xe[:-1] + xe[1:]), 0.5 * (pe[:-1] + pe[1:])
    X, P = np.meshgrid(xc, pc, indexing="ij")
    Z = np.stack([X.ravel(), P.ravel()], axis=1)
    a, b = f.ravel(), g.ravel()
    ia, ib = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    M = ot.dist(Z[ia], Z[ib])  # squared Euclidean
    value, log = ot.emd2(a[ia] / a[ia].sum(), b[ib] / b[ib].sum(), M, numItermax=EMD_MAX_ITER, log=True)
    if log.get("warning"):
        raise QMeanFieldError(f"ot.emd2 did not converge ({log['warning']}); its value is not a distance. "
                              "Lower the number of cells (EMD_MAX_CELLS)")
    hx, hp = xe[1] - xe[0], pe[1] - pe[0]
    return float(np.sqrt(max(value, 0.0))), float(np.hypot(hx, hp))


@dataclass(frozen=True)
class W2Bracket:
    """W2 between two histograms: `value` (midpoint of the bracket) in `[lower, upper]`, and
    the pieces: `marginal_lower`, `knothe_upper`, the estimated `grid_error` they were widened
    by, `emd` and its grid half-width `emd_grid` (NaN when not computed)."""

    value: float
    lower: float
    upper: float
    marginal_lower: float
    knothe_upper: float
    grid_error: float
    emd: float
    emd_grid: float

    @property
    def narrow(self) -> bool:
        """The bracket is narrower than the value it brackets (it measures something)."""
        return self.upper - self.lower < self.value


def _pairs(m: np.ndarray) -> np.ndarray:
    """Merge neighbouring cells in both directions (an even number of cells is used)."""
    a, b = m.shape[0] // 2 * 2, m.shape[1] // 2 * 2
    return m[:a, :b].reshape(a // 2, 2, b // 2, 2).sum(axis=(1, 3))


def _merge_pairs(x_edges, p_edges, f, g):
    """Both histograms with neighbouring cells merged in pairs, and the edges of the merged cells."""
    return (x_edges[: f.shape[0] // 2 * 2 + 1 : 2], p_edges[: f.shape[1] // 2 * 2 + 1 : 2], _pairs(f), _pairs(g))


def w2_bracket(x_edges, p_edges, f: np.ndarray, g: np.ndarray, emd_cells: int | None = EMD_MAX_CELLS) -> W2Bracket:
    """Lower (marginals), upper (Knothe-Rosenblatt), widened by the grid error of the sampled
    densities, and, optionally, POT's coarse-grid value.

    The histograms sample smooth densities; reading them as piecewise uniform changes W2 at second
    order in the cell size. The change is estimated by recomputing both bounds on the grid with
    cells merged in pairs (Richardson: error ~ |b_h - b_2h| / 3); the bracket is widened by that
    or by `W2_REL_TOL` of the value, whichever is larger."""
    x_edges, p_edges = np.asarray(x_edges), np.asarray(p_edges)
    lo = w2_marginal_lower(x_edges, p_edges, f, g)
    up = w2_knothe(x_edges, p_edges, f, g)
    merged = _merge_pairs(x_edges, p_edges, f, g)
    lo2, up2 = w2_marginal_lower(*merged), w2_knothe(*merged)
    grid_error = max(abs(lo - lo2), abs(up - up2)) / 3, W2_REL_TOL * up
    grid_error = max(grid_error)
    emd, grid = (np.nan, np.nan)
    lower, upper = max(lo - grid_error, 0.0), up + grid_error
    if emd_cells:
        emd, grid = w2_emd(x_edges, p_edges, f, g, emd_cells)
        lower, upper = max(lo, emd - grid), min(up, emd + grid)
    if lower > upper:  # round-off only: the bounds are exact for these histograms
        lower = upper = 0.5 * (lower + upper)
    return W2Bracket(value=0.5 * (lower + upper), lower=lower, upper=upper, marginal_lower=lo, knothe_upper=up,
                     grid_error=grid_error, emd=emd, emd_grid=grid)


def gaussian_w2(m1, S1, m2, S2) -> float:
    r"""Closed form (Bures-Wasserstein) $W_2$ between Gaussians
    $W_2^2 = |m_1 - m_2|^2 + \mathrm{tr}(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})$."""
    from scipy.linalg import sqrtm

    r1 = sqrtm(np.asarray(S1, dtype=float))
    cross = sqrtm(r1 @ np.asarray(S2, dtype=float) @ r1)
    val = float(np.sum((np.asarray(m1) - np.asarray(m2)) ** 2) + np.trace(S1 + S2 - 2 * np.real(cross)))
    return float(np.sqrt(max(val, 0.0)))


@dataclass(frozen=True)
class W2Estimate:
    """W2 between two histograms to a stated accuracy: `value` in `[lower, upper]`.

    `value` is the debiased Sinkhorn estimate on the grid (`.sinkhorn`, Richardson in
    epsilon); the interval adds its solver and epsilon errors and the grid error
    `grid_error` (Richardson from the same estimate with cells merged in pairs, once and twice: the
    observed order, clamped to 1..3, and a factor 2 of safety), and is intersected with the certified bracket
    `[marginal_lower, knothe_upper]` widened by its own grid error. `cells`: the grid used."""

    value: float
    lower: float
    upper: float
    grid_error: float
    eps_error: float
    solver_error: float
    coarse: float
    marginal_lower: float
    knothe_upper: float
    cells: tuple[int, int]
    potentials: tuple = field(default=(), repr=False, compare=False)


#: cells below this fraction of the mass (of both densities) are cropped from the borders of the grid
CROP_CUT = 1e-16


def _crop(x_edges, p_edges, f, g):
    """The smallest box of cells holding every cell above `CROP_CUT` of either density, an even
    number of cells per side where the grid allows; the mass left outside (returned) goes into the
    error interval."""
    keep = (f > CROP_CUT) | (g > CROP_CUT)
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))

    def span(idx, n):
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        size = max(hi - lo, 32)
        size += size % 4 and 4 - size % 4          # room for two mergings in pairs
        lo = max(0, min(lo - (size - (hi - lo)) // 2, n - size))
        return slice(lo, min(n, lo + size))

    sx, sp = span(rows, f.shape[0]), span(cols, f.shape[1])
    dropped = float(f.sum() - f[sx, sp].sum() + g.sum() - g[sx, sp].sum())
    return (x_edges[sx.start : sx.stop + 1], p_edges[sp.start : sp.stop + 1], f[sx, sp], g[sx, sp]), dropped


def _grid_error(w1: float, w2: float, w4: float) -> float:
    """Error of `w1` (cells h) from the values on cells 2h and 4h: |w1 - w2| / (2^q - 1) with the
    observed order q = log2(|w2 - w4| / |w1 - w2|) clamped to [1, 3], doubled for safety."""
    d1, d2 = abs(w1 - w2), abs(w2 - w4)
    if d1 == 0.0:
        return 0.0
    q = min(max(math.log2(d2 / d1), 1.0), 3.0) if d2 > 0 else 1.0
    return 2.0 * d1 / (2.0**q - 1.0)


def _merge_to(edges_x, edges_p, f, g, cells):
    while (f.shape[0] > cells or f.shape[1] > cells) and not (f.shape[0] % 2 or f.shape[1] % 2):
        edges_x, edges_p, f, g = _merge_pairs(edges_x, edges_p, f, g)
    return edges_x, edges_p, f, g


def w2_grid(x_edges, p_edges, f: np.ndarray, g: np.ndarray, *, max_cells: int = W2_MAX_CELLS,
            warm: tuple = (), dropped: float = 0.0) -> W2Estimate:
    """W2 between the histograms `f` and `g` (cell masses on the edges given) with an error
    interval; see `W2Estimate`. Grids finer than `max_cells` per side are merged in pairs
    first. `warm`: `potentials` of an earlier estimate on the same grids (a time series);
    `dropped`: mass already removed by the caller (negative values clipped), added to the interval.

    Raises a `QMeanFieldError` when the estimate and the certified bracket do not overlap
    (the grid does not resolve the densities: refine it)."""
    from .sinkhorn import sinkhorn_divergence

    x_edges, p_edges = np.asarray(x_edges, dtype=float), np.asarray(p_edges, dtype=float)
    f, g = _normalise(f), _normalise(g)
    cert = w2_bracket(x_edges, p_edges, f, g, emd_cells=None)
    (xe, pe, fc, gc), cropped = _crop(x_edges, p_edges, f, g)
    dropped += cropped
    xe, pe, fm, gm = _merge_to(xe, pe, fc, gc, max_cells)
    fine_shape = fm.shape
    centres = lambda e: 0.5 * (e[:-1] + e[1:])  # noqa: E731
    levels, pot = [], list(warm)
    for k in range(3):   # the grid, then cells merged in pairs twice: the observed order of the grid error
        if k:
            xe, pe, fm, gm = _merge_pairs(xe, pe, fm, gm)
        levels.append(sinkhorn_divergence(centres(xe), centres(pe), fm, gm, warm=tuple(pot[4 * k : 4 * k + 4]),
                                          dropped=dropped))
    fine, coarse, coarser = levels
    grid_error = _grid_error(fine.value, coarse.value, coarser.value)
    # the certified bracket is exact for the histograms; its distance to the densities is the grid error too
    lower = max(fine.lower - grid_error, cert.lower - grid_error, 0.0)
    upper = min(fine.upper + grid_error, cert.upper + grid_error)
    if lower > upper:
        raise QMeanFieldError(
            f"W2: the Sinkhorn estimate [{fine.lower - grid_error:.5g}, {fine.upper + grid_error:.5g}] and the "
            f"certified bracket [{cert.lower:.5g}, {cert.upper:.5g}] do not overlap: the grid of "
            f"{fine_shape[0]} x {fine_shape[1]} cells does not resolve these densities; refine cells")
    return W2Estimate(value=min(max(fine.value, lower), upper), lower=lower, upper=upper, grid_error=grid_error,
                      eps_error=fine.eps_error, solver_error=fine.solver_error, coarse=coarse.value,
                      marginal_lower=cert.marginal_lower, knothe_upper=cert.knothe_upper, cells=fine_shape,
                      potentials=sum((lv.potentials for lv in levels), ()))
