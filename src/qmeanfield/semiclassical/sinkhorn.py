r"""W2 between two densities on a product grid: debiased Sinkhorn divergence, log domain.

For cell masses $a, b$ on the same (x, p) grid with the squared Euclidean cost,
$\mathrm{OT}_\varepsilon(a, b) = \max_{f, g} \langle a, f\rangle + \langle b, g\rangle$ subject to the
Sinkhorn fixed point $f = -\varepsilon\log\sum_y e^{(g(y) - |x - y|^2)/\varepsilon} b(y)$ (and the same
for g), and the debiased divergence

$$
S_\varepsilon(a, b) = \mathrm{OT}_\varepsilon(a, b) - \tfrac12\mathrm{OT}_\varepsilon(a, a)
                      - \tfrac12\mathrm{OT}_\varepsilon(b, b)
$$

tends to $W_2^2$ at rate $\varepsilon^2$ for smooth densities (Feydy et al., AISTATS 2019;
Chizat et al., NeurIPS 2020). Three ingredients make it exact enough and fast on a grid:

* **separable log-domain kernel**: the cost is $(x - x')^2 + (p - p')^2$, so the soft-min over the
  grid is two one-dimensional soft-mins, each a matrix product with a per-row shift
  (`softmin_axis`); entries whose sum underflows are recomputed exactly, so no value is lost;
* **epsilon scaling**: $\varepsilon$ falls geometrically from the squared diameter to
  `EPS_CELLS` cell widths squared, where the grid sum of the Gibbs kernel equals its integral to
  $e^{-2\pi^2 \cdot \mathrm{EPS\_CELLS}/2}$ (Poisson summation): the cell centres then act like the
  continuum, and sub-cell distances are resolved;
* **Richardson in epsilon**: $S_\varepsilon$ is converged at $2\varepsilon$ and
  $\varepsilon$; the value is $(4S_\varepsilon - S_{2\varepsilon})/3$ and
  $|S_\varepsilon - S_{2\varepsilon}|$ (three times the leading term) is its bias estimate.

The solver error is the dual gap estimate $\|\pi 1 - a\|_1 \cdot \mathrm{osc}(f)$ at the last
iterate. The grid error (cells read as points) is estimated by the caller (`.wasserstein.w2_grid`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import QMeanFieldError

__all__ = ["SinkhornResult", "sinkhorn_divergence", "softmin_axis", "EPS_CELLS", "SCALING", "MAX_ITERATIONS"]

#: final epsilon in units of the larger cell width squared
EPS_CELLS = 2.0
#: ratio between successive epsilons of the scaling
SCALING = 0.5
#: iterations allowed at each of the two final epsilons
MAX_ITERATIONS = 2000
#: terms more than MARGIN eps below the largest are left out of a soft-min (relative weight < n e^-50)
MARGIN = 50.0
#: relative tolerance of the dual gap at the final epsilons
TOLERANCE = 1e-4
#: over-relaxation of the cross potentials at the final epsilons (Thibault et al., 2021)
OVERRELAXATION = 1.8
#: cells holding less than this fraction of the mass are dropped (their effect is added to the interval)
MASS_CUT = 1e-24
#: iterations between two convergence checks
CHECK_EVERY = 3


@dataclass(frozen=True)
class SinkhornResult:
    """`value`: W2 estimate (Richardson in epsilon); `lower`/`upper`: the interval holding the W2 of
    the two point clouds given the solver and epsilon errors; `divergence`: $S_\\varepsilon$ at the
    final epsilon; `eps`; `iterations` (all epsilons); `solver_error`, `eps_error` (on W2^2)."""

    value: float
    lower: float
    upper: float
    divergence: float
    eps: float
    iterations: int
    solver_error: float
    eps_error: float
    potentials: tuple = field(default=(), repr=False, compare=False)


def _softmin_rows(H, c, eps, need, margin, out):  # pragma: no cover - compiled by Numba
    """The exact soft-max of every row of H against -(c_i - c_j)^2, pruned without loss.

    For node i the inputs j are visited outward from j = i. A term more than `margin` eps below the
    running maximum is skipped without an exponential; the walk on one side stops once
    (c_i - c_j)^2 > (max of H_rk beyond j on that side) - running maximum + margin eps: the cost only
    grows outward, so no later term on that side can come within `margin` eps of the maximum. Terms summed are all those within
    `margin` eps of the maximum, so the dropped ones weigh below n e^-margin of the sum."""
    R, n = H.shape
    for r in numba.prange(R):
        pre = np.empty(n)      # max of H[r, :j+1]
        suf = np.empty(n)      # max of H[r, j:]
        hmax = -np.inf
        for j in range(n):
            hmax = max(hmax, H[r, j])
            pre[j] = hmax
        run = -np.inf
        for j in range(n - 1, -1, -1):
            run = max(run, H[r, j])
            suf[j] = run
        for i in range(n):
            if not need[r, i]:
                out[r, i] = -np.inf
                continue
            if hmax == -np.inf:
                out[r, i] = -np.inf
                continue
            top = -np.inf
            acc = 0.0
            cut = margin * eps
            for k in range(n):
                stop = 0
                for side in range(2):
                    j = i + k if side == 0 else i - k
                    if side == 1 and k == 0:
                        continue
                    if j < 0 or j >= n:
                        stop += 1
                        continue
                    dc = c[i] - c[j]
                    d2 = dc * dc
                    bound = suf[j] if side == 0 else pre[j]
                    if d2 > bound - top + cut:
                        stop += 1
                        continue
                    t = H[r, j] - d2
                    if t > top:
                        acc = acc * np.exp((top - t) / eps) + 1.0 if top > -np.inf else 1.0
                        top = t
                    elif t > top - cut:
                        acc += np.exp((t - top) / eps)
                if stop == 2:
                    break
            out[r, i] = top + eps * np.log(acc) if top > -np.inf else -np.inf
    return out


#: Numba's threading layer for the parallel kernel, unless the user chose one (NUMBA_THREADING_LAYER):
#: GNU OpenMP aborts a process that forks after using it ("fork() called from a process already
#: using GNU OpenMP"), which kills the workers of a process pool (a sweep of semiclassical scans);
#: the workqueue layer survives fork and is as fast on a few cores
THREADING_LAYER = "workqueue"


@functools.cache
def _kernel():
    import os

    import numba

    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = THREADING_LAYER
    globals()["numba"] = numba
    return numba.njit(cache=True, parallel=True, fastmath=False)(_softmin_rows)


def softmin_axis(H: np.ndarray, c: np.ndarray, eps: float, need: np.ndarray | None = None) -> np.ndarray:
    r"""$\varepsilon\log\sum_{j} e^{(H_{rj} - (c_i - c_j)^2)/\varepsilon}$ for every row r and node i.

    Exact to round-off (every term within `MARGIN` eps of the largest is summed; the others weigh
    below $n e^{-\mathrm{MARGIN}}$ of the result), computed only where `need` (a boolean
    (rows, nodes) mask) is true, -inf elsewhere and for rows of -inf (no mass). The inputs are
    visited outward from the output node and the walk stops once the quadratic cost alone rules out
    the rest, so the work per entry is the transport distance in cells plus a few dozen terms."""
    H = np.ascontiguousarray(H, dtype=float)
    need = np.ones(H.shape, dtype=bool) if need is None else np.ascontiguousarray(need)
    return _kernel()(H, np.ascontiguousarray(c, dtype=float), float(eps), need, MARGIN, np.empty(H.shape))


class _Softmin:
    r"""The c-transforms on the grid for one epsilon: $T_m(\phi)(x) = -\varepsilon\log\sum_y
    e^{(\phi(y) - |x - y|^2)/\varepsilon} m(y)$ for m = a or b, each needed on the support of the other
    measure (or its own, for the symmetric problems); potentials are 0 off their support."""

    def __init__(self, xc, pc, eps, la, lb):
        self.xc, self.pc, self.eps = xc, pc, eps
        self.log = {"a": la, "b": lb}
        self.need = {"a": np.isfinite(la), "b": np.isfinite(lb)}
        # the masks of the two passes, laid out once: columns holding any needed cell, and the transpose
        self.columns = {k: np.ascontiguousarray(np.broadcast_to(v.any(axis=0), v.shape)) for k, v in self.need.items()}
        self.rows = {k: np.ascontiguousarray(v.T) for k, v in self.need.items()}

    def __call__(self, phi: np.ndarray, over: str, onto: str) -> np.ndarray:
        logm, need = self.log[over], self.need[onto]
        H = np.where(np.isfinite(logm), phi + self.eps * logm, -np.inf)
        t = softmin_axis(H, self.pc, self.eps, self.columns[onto])
        out = softmin_axis(t.T, self.xc, self.eps, self.rows[onto]).T
        return np.where(need, -out, 0.0)


def _log(m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(m)


def _dual_value(op, a, b, f1, faa, faa1, gbb, gbb1) -> tuple[float, float]:
    """S_eps from plain Sinkhorn steps of the current potentials, and its first-order error.

    `f1 = T_b(g)`, `faa1 = T_a(faa)`, `gbb1 = T_b(gbb)` are the transforms the next step uses
    anyway. With g1 = T_a(f1), f2 = T_b(g1), the pair (f2, g1) is optimal for the marginals
    (a~, b), a~ = a exp((f1 - f2)/eps); OT(a, b) = <a, f2> + <b, g1> up to second order in a - a~,
    and |<a - a~, f2>| is reported as the error (the first-order term, a conservative estimate).
    The symmetric problems add the change of their dual values under one more step."""
    e = op.eps
    g1 = op(f1, "a", "b")
    f2 = op(g1, "b", "a")
    with np.errstate(over="ignore", invalid="ignore"):
        at = a * np.exp((f1 - f2) / e)
    err = abs(float(np.sum((a - at) * (f2 - float(np.sum(a * f2))))))
    err += abs(float(np.sum(a * (faa1 - faa)))) + abs(float(np.sum(b * (gbb1 - gbb))))
    S = float(np.sum(a * f2) + np.sum(b * g1)) - float(np.sum(a * (faa + faa1)) + np.sum(b * (gbb + gbb1))) / 2
    return S, (err if np.isfinite(err) else math.inf)


def _geometric_error(history: list[float], gap: float) -> float:
    """Error of the last value of a linearly converging sequence: the last change times rho / (1 - rho),
    rho the largest ratio of successive changes among the last four, doubled; the first-order dual gap
    while the rate is not yet visible (fewer than five values, or rho >= 0.9)."""
    if len(history) < 5:
        return gap
    d = np.abs(np.diff(history[-5:]))
    if d[-1] == 0.0:
        return 0.0
    if np.any(d[:-1] == 0.0):
        return gap
    rho = float(np.max(d[1:] / d[:-1]))   # the slowest of the last three rates (over-relaxed steps oscillate)
    if rho >= 0.9:
        return gap
    return min(gap, 2.0 * float(d[-1]) * rho / (1.0 - rho))


def sinkhorn_divergence(xc: np.ndarray, pc: np.ndarray, a: np.ndarray, b: np.ndarray, *,
                        eps: float | None = None, tolerance: float = TOLERANCE,
                        omega: float = OVERRELAXATION, warm: tuple = (), dropped: float = 0.0) -> SinkhornResult:
    r"""W2 between the point clouds `a` (Nx, Np) and `b` on the grid `xc` x `pc` (cell centres).

    `eps` is the final epsilon (default `EPS_CELLS` times the larger cell width squared). The
    scaling ends with full convergence at `2 eps` and `eps` (dual gap below `tolerance` of the
    divergence); cells below `MASS_CUT` of the total are dropped and the W2 they can carry
    (their mass times the squared diameter) is added to the interval. `warm`: the `potentials`
    of an earlier result on the same grid (the next time of a series): the scaling is skipped;
    `dropped`: mass the caller removed before (cropping), added to the interval like the cut cells."""
    a = np.clip(np.asarray(a, dtype=float), 0.0, None)
    b = np.clip(np.asarray(b, dtype=float), 0.0, None)
    if not (a.sum() > 0 and b.sum() > 0):
        raise QMeanFieldError("a Wasserstein distance needs two non-zero densities")
    a, b = a / a.sum(), b / b.sum()
    cut = float(a[a < MASS_CUT].sum() + b[b < MASS_CUT].sum()) + dropped
    a, b = np.where(a < MASS_CUT, 0.0, a), np.where(b < MASS_CUT, 0.0, b)
    a, b = a / a.sum(), b / b.sum()
    xc, pc = np.asarray(xc, dtype=float), np.asarray(pc, dtype=float)
    h = max(xc[1] - xc[0], pc[1] - pc[0])
    eps_final = eps or EPS_CELLS * h * h
    diam2 = (xc[-1] - xc[0]) ** 2 + (pc[-1] - pc[0]) ** 2
    la, lb = _log(a), _log(b)
    iterations = 0
    if warm and warm[0].shape == a.shape:
        f, g, faa, gbb = (np.where(m, w, 0.0) for m, w in zip((a > 0, b > 0, a > 0, b > 0), warm))
    else:
        eps_k = max(diam2, 4 * eps_final)
        op = _Softmin(xc, pc, eps_k, la, lb)
        zero = np.zeros_like(a)
        f, g, faa, gbb = op(zero, "b", "a"), op(zero, "a", "b"), op(zero, "a", "a"), op(zero, "b", "b")
        # annealing: one symmetric (averaged) update per epsilon down to 2 eps
        while eps_k > 2 * eps_final * (1 + 1e-12):
            eps_k = max(eps_k * SCALING, 2 * eps_final)
            op = _Softmin(xc, pc, eps_k, la, lb)
            f, g = 0.5 * (f + op(g, "b", "a")), 0.5 * (g + op(f, "a", "b"))
            faa, gbb = 0.5 * (faa + op(faa, "a", "a")), 0.5 * (gbb + op(gbb, "b", "b"))
            iterations += 1
    values = []
    solver_error = 0.0
    for e in (2 * eps_final, eps_final):
        op = _Softmin(xc, pc, e, la, lb)
        history, err, done, w = [], math.inf, False, omega
        for k in range(MAX_ITERATIONS):
            iterations += 1
            tf, taa, tbb = op(g, "b", "a"), op(faa, "a", "a"), op(gbb, "b", "b")
            if k % CHECK_EVERY == CHECK_EVERY - 1:
                S, gap = _dual_value(op, a, b, tf, faa, taa, gbb, tbb)
                history.append(S)
                err = _geometric_error(history, gap)
                if err <= tolerance * max(abs(S), 1e-6 * e):
                    done = True
                    break
                if len(history) >= 3 and abs(history[-1] - history[-2]) > 10 * abs(history[-2] - history[-3]):
                    w = 1.0  # over-relaxation is only locally convergent: fall back to plain steps
            f = f + w * (tf - f)
            g = g + w * (op(f, "a", "b") - g)
            faa, gbb = 0.5 * (faa + taa), 0.5 * (gbb + tbb)
        if not done:
            raise QMeanFieldError(f"Sinkhorn did not converge in {MAX_ITERATIONS} iterations at eps = {e:.3g} "
                                  f"(error {err:.3g} against W2^2 ~ {history[-1]:.3g}); refine the grid (cells)")
        values.append(S)
        solver_error = max(solver_error, err)
    S2, S1 = values
    value_sq = (4 * S1 - S2) / 3
    eps_error = abs(S1 - S2)
    total = eps_error + 2 * solver_error + 4 * cut * diam2
    return SinkhornResult(value=math.sqrt(max(value_sq, 0.0)), lower=math.sqrt(max(value_sq - total, 0.0)),
                          upper=math.sqrt(max(value_sq + total, 0.0)), divergence=S1, eps=eps_final,
                          iterations=iterations, solver_error=solver_error, eps_error=eps_error,
                          potentials=(f, g, faa, gbb))
