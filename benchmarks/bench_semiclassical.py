"""Semiclassical solvers: orbital Hartree against a full-matrix von Neumann propagation on the same
grid (same hbar, same splitting, so the same accuracy), the Vlasov solver's cost against grid size,
and the user-level scan of the default example.

Usage: python benchmarks/bench_semiclassical.py [--quick]

* ``hartree``: the HMF example's state T(f0) at each hbar, 100 Strang steps of dt = 0.05. "orbitals"
  propagates the K orbitals of R (K x Nx arrays, one FFT per orbital and step); "full matrix"
  propagates R itself (Nx x Nx, two FFTs per step: R -> e^{-iH dt} R e^{iH dt}). Both apply the same
  splitting, so their densities agree to round-off (reported); the ratio is full / orbitals.
* ``vlasov``: 100 semi-Lagrangian steps on Nx x Np grids.
* ``scan``: ``qmf.semiclassical.scan`` of examples/semiclassical.toml with its defaults (what a
  user calls), beside the sum of its Hartree parts.
Writes benchmarks/results/bench_semiclassical.json and prints tables.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import child_report, parse, run_case, table, write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _problem():
    from qmeanfield.semiclassical.config import load_semiclassical

    return load_semiclassical(ROOT / "examples" / "semiclassical.toml")


def _hartree_case(case):
    import qmeanfield.semiclassical as sc
    from qmeanfield.semiclassical.grid import make_grid

    cfg = _problem()
    prob, hbar, steps, dt = cfg.problem, case["hbar"], case["steps"], 0.05
    plan = sc.plan_scan(prob)
    grid = make_grid(prob.length, plan.quantum_points[list(prob.hbars).index(hbar)])
    _, p = sc.classical_grid(prob, 256, 256)
    orb = sc.toeplitz_state(prob, hbar, grid, p)
    solver = sc.HartreeSolver(prob, hbar, grid, dt)
    if case["who"] == "orbitals":
        t0 = time.perf_counter()
        psi = solver.step(orb.weights, orb.psi.astype(complex).copy(), steps)
        wall = time.perf_counter() - t0
        n = solver.density(orb.weights, psi)
    else:
        R = sc.density_matrix(orb.weights, orb.psi) * grid.dx   # the operator on the grid
        kin = solver.kinetic
        t0 = time.perf_counter()
        for _ in range(steps):
            for half in (0, 1):
                if half:
                    R = np.fft.ifft(np.fft.fft(R, axis=0) * kin[:, None], axis=0)
                    R = np.fft.fft(np.fft.ifft(R, axis=1) * kin.conj()[None, :], axis=1)
                ph = np.exp(-0.5j * dt / hbar * solver.field.potential(np.real(np.diag(R)) / grid.dx))
                R = ph[:, None] * R * ph.conj()[None, :]
        wall = time.perf_counter() - t0
        n = np.real(np.diag(R)) / grid.dx
    child_report({"wall_s": wall, "Nx": grid.x.size, "orbitals": int(orb.weights.size),
                  "density": n[:: max(1, n.size // 256)].tolist()})


def _vlasov_case(case):
    import qmeanfield.semiclassical as sc

    prob = _problem().problem
    grid, p = sc.classical_grid(prob, case["nx"], case["np"])
    f0 = prob.initial.density(grid.x, p)
    f0 /= f0.sum() * grid.dx * (p[1] - p[0])
    solver = sc.VlasovSolver(prob, grid, p, 0.05)
    t0 = time.perf_counter()
    solver.step(f0, case["steps"], 0.05)
    child_report({"wall_s": time.perf_counter() - t0})


def _scan_case(case):
    import qmeanfield.semiclassical as sc

    cfg = _problem()
    t0 = time.perf_counter()
    ds = sc.scan(cfg.problem, options=cfg.options)
    child_report({"wall_s": time.perf_counter() - t0, "hartree_s": float(ds.seconds.sum()),
                  "w2_exponent_final": float(ds.w2_exponent.values[-1])})


def child(case):
    {"hartree": _hartree_case, "vlasov": _vlasov_case, "scan": _scan_case}[case["kind"]](case)


def main():
    args = parse(__doc__, child)
    if args is None:
        return
    script = str(Path(__file__).resolve())
    hbars = (0.05, 0.025) if args.quick else (0.1, 0.05, 0.025, 0.0125)
    hartree = []
    for hbar in hbars:
        pair = {who: run_case(script, {"kind": "hartree", "hbar": hbar, "steps": 100, "who": who}, 1800)
                for who in ("orbitals", "full matrix")}
        a, b = pair["orbitals"], pair["full matrix"]
        row = {"hbar": hbar, "Nx": a.get("Nx"), "orbitals": a.get("orbitals"), "orbitals_s": a.get("wall_s"),
               "full_matrix_s": b.get("wall_s")}
        if a["status"] == b["status"] == "ok":
            row["ratio_full_over_orbitals"] = b["wall_s"] / a["wall_s"]
            row["max_density_diff"] = float(np.abs(np.array(a["density"]) - np.array(b["density"])).max())
        hartree.append(row)
        print(row, flush=True)
    grids = [(64, 64), (128, 128), (256, 256)] + ([] if args.quick else [(512, 512)])
    vlasov = []
    for nx, n_p in grids:
        r = run_case(script, {"kind": "vlasov", "nx": nx, "np": n_p, "steps": 100}, 1800)
        vlasov.append({"Nx": nx, "Np": n_p, "seconds_100_steps": r.get("wall_s"),
                       "us_per_cell_step": r.get("wall_s", np.nan) / (nx * n_p * 100) * 1e6})
    scan = run_case(script, {"kind": "scan"}, 1800)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "quick": args.quick,
            "scan_default_example": {k: scan.get(k) for k in ("wall_s", "hartree_s", "w2_exponent_final", "peak_mib",
                                                             "status")}}
    write("bench_semiclassical", hartree + vlasov, meta)
    print(table(hartree, ["hbar", "Nx", "orbitals", "orbitals_s", "full_matrix_s", "ratio_full_over_orbitals",
                          "max_density_diff"]))
    print(table(vlasov, ["Nx", "Np", "seconds_100_steps", "us_per_cell_step"]))
    print("scan of examples/semiclassical.toml (defaults):", meta["scan_default_example"])


if __name__ == "__main__":
    main()
