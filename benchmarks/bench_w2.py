"""W2 between phase-space densities, against the Bures-Wasserstein closed form, in one run:
``qmeanfield.semiclassical.w2_grid`` (what the scan reports: debiased Sinkhorn with its error
interval) at 64^2, 128^2 and 256^2 cells, beside the certified bracket alone
(``w2_bracket``: marginal lower bound and Knothe-Rosenblatt upper bound) and POT's exact network
simplex (``ot.emd2``) on the histograms coarsened to 32^2 cells (its cost matrix has cells^4
entries: the peer at the sizes it can do).

Usage: python benchmarks/bench_w2.py [--quick]

Pairs (Gaussian histograms sampled on the grid, as the scan's Husimi and Vlasov densities are):
* shift: N(0, 0.25 I) against N((0.1, 0), 0.25 I), a sub-cell shift at 64^2;
* sheared: the free flow to t = 2 of sigma_x = 0.3, sigma_p = 0.8 against its hbar = 0.1 Husimi;
* cold: sigma = 0.05 against its hbar = 0.05 Husimi (N(0, (0.05^2 + 0.05) I));
* narrow-wide: N(0, diag(0.04, 1)) against N(0, diag(1, 0.04)).
Every grid holds both densities to 5 standard deviations (the mass outside is below 1e-6, so
the closed form of the untruncated Gaussians applies). Each case runs in a fresh process. Writes benchmarks/results/bench_w2.json and prints a table:
the relative error of the value, whether the closed form is inside the interval, the interval's
relative half-width, and the wall time.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import child_report, parse, run_case, table, write  # noqa: E402

#: (name, mean 1, covariance 1, mean 2, covariance 2, half-width of the grid in x and p)
PAIRS = {
    "shift": ((0, 0), 0.25 * np.eye(2), (0.1, 0), 0.25 * np.eye(2), (3.0, 3.0)),
    "sheared": None,    # built in _pair
    "cold": ((0, 0), 0.05**2 * np.eye(2), (0, 0), (0.05**2 + 0.05) * np.eye(2), (1.2, 1.2)),
    "narrow-wide": ((0, 0), np.diag([0.04, 1.0]), (0, 0), np.diag([1.0, 0.04]), (5.0, 5.0)),
}


def _pair(name: str):
    if name == "sheared":
        A = np.array([[1.0, 2.0], [0.0, 1.0]])                   # free flow to t = 2
        S0, hbar = np.diag([0.3**2, 0.8**2]), 0.1
        return (0, 0), A @ S0 @ A.T, (0, 0), A @ (S0 + hbar / 2 * np.eye(2)) @ A.T + hbar / 2 * np.eye(2), (8.5, 4.5)
    return PAIRS[name]


def _hist(xe, pe, m, S):
    xc, pc = 0.5 * (xe[:-1] + xe[1:]), 0.5 * (pe[:-1] + pe[1:])
    Z = np.stack(np.meshgrid(xc - m[0], pc - m[1], indexing="ij"), -1)
    return np.exp(-0.5 * np.einsum("...i,ij,...j", Z, np.linalg.inv(S), Z))


def child(case: dict) -> None:
    from qmeanfield.semiclassical.wasserstein import gaussian_w2, w2_bracket, w2_emd, w2_grid

    m1, S1, m2, S2, (X, Pw) = _pair(case["pair"])
    cells = case["cells"]
    xe, pe = np.linspace(-X, X, cells + 1), np.linspace(-Pw, Pw, cells + 1)
    f, g = _hist(xe, pe, m1, S1), _hist(xe, pe, m2, S2)
    exact = gaussian_w2(m1, S1, m2, S2)
    t0 = time.perf_counter()
    if case["who"] == "w2_grid":
        e = w2_grid(xe, pe, f, g, max_cells=cells)
        value, lo, up = e.value, e.lower, e.upper
    elif case["who"] == "bracket":
        b = w2_bracket(xe, pe, f, g, emd_cells=None)
        value, lo, up = b.value, b.lower, b.upper
    else:   # POT, coarsened to 32^2 cells, with its grid bracket
        value, grid = w2_emd(xe, pe, f, g, 32)
        lo, up = value - grid, value + grid
    wall = time.perf_counter() - t0
    child_report({"wall_s": wall, "exact": exact, "value": value, "lower": lo, "upper": up})


def main():
    args = parse(__doc__, child)
    if args is None:
        return
    script = str(Path(__file__).resolve())
    grids = (64, 128) if args.quick else (64, 128, 256)
    rows = []
    for name in PAIRS:
        for cells in grids:
            for who in ("w2_grid", "bracket") + (("POT emd 32^2",) if cells == grids[0] else ()):
                r = run_case(script, {"pair": name, "cells": cells, "who": who}, 1800)
                if r["status"] == "ok":
                    ex = r["exact"]
                    r.update(rel_error=r["value"] / ex - 1, inside=bool(r["lower"] <= ex <= r["upper"]),
                             rel_halfwidth=(r["upper"] - r["lower"]) / 2 / ex)
                rows.append(r)
                print({k: r.get(k) for k in ("pair", "cells", "who", "wall_s", "rel_error", "inside")}, flush=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "quick": args.quick}
    write("bench_w2", rows, meta)
    print(table(rows, ["pair", "cells", "who", "exact", "rel_error", "inside", "rel_halfwidth", "wall_s", "peak_mib",
                       "status"]))


if __name__ == "__main__":
    main()
