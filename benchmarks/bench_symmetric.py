"""Symmetric engine: how far in N it goes, and how it compares with the dense engine and QuTiP.

Usage: python benchmarks/bench_symmetric.py [--quick] [--scale d:N[:beta[:truncation]] ...] [--name NAME]

Each case runs in a fresh process (wall time, peak memory). Cases:
* scale: the symmetric engine alone (default d = 2: N = 2000; d = 3: N = 20; d = 4: N = 10 with
  a thermal rho0 at beta = 1, and d = 3: N = 60 and d = 4: N = 24 with a nearly pure thermal
  rho0 at beta = 4;
  other cases with --scale d:N[:beta[:truncation]] ...), 50 output times on [0, 2], random
  swap-symmetric V;
* peers: at the largest N all three run (d = 2, N = 10), the same problem with the symmetric
  engine, the dense engine and QuTiP's mesolve (full space, no jumps), timed in the same run;
  the table gives time ratios and the largest marginal difference against dense.
Writes benchmarks/results/bench_symmetric.json (or NAME.json) and prints a table.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import child_report, parse, run_case, run_peers, table, write  # noqa: E402


def _problem(d: int, beta: float = 1.0):
    import qmeanfield as qmf
    from qmeanfield.operators import random_hermitian, random_interaction, spin_matrices

    s = spin_matrices(d)
    model = qmf.Model(h=s["jx"] + 0.3 * s["jz"] + 0.1 * random_hermitian(d, np.random.default_rng(0)),
                      V=random_interaction(d, seed=1))
    rho0 = qmf.states.thermal(s["jz"] + 0.3 * s["jx"], beta)
    return model, rho0


def child(case: dict) -> None:
    from qmeanfield.engines import make_engine

    d, N, who = case["d"], case["N"], case["who"]
    model, rho0 = _problem(d, case.get("beta", 1.0))
    times = np.linspace(0, 2, case["n_times"])
    if who not in ("symmetric", "dense"):   # the peer's import is not timed, as ours is not
        importlib.import_module("qutip")
    t0 = time.perf_counter()
    if who in ("symmetric", "dense"):
        options = {"truncation": case["truncation"]} if who == "symmetric" and case.get("truncation") else {}
        traj = make_engine(who, **options).evolve(model, rho0, N, times, kmax=2)
        R1 = traj.marginals[1]
        info = {k: v for k, v in traj.stats.items() if isinstance(v, (int, float, str))}
        info["discarded_weight"] = traj.discarded_weight
    else:
        import qutip

        from qmeanfield.engines.dense import many_body_hamiltonian

        H = qutip.Qobj(many_body_hamiltonian(model, N), dims=[[d] * N, [d] * N])  # sparse (CSR)
        R0 = qutip.tensor([qutip.Qobj(rho0)] * N)
        res = qutip.mesolve(H, R0, times, c_ops=[], options={"atol": 1e-10, "rtol": 1e-8, "nsteps": 10**6})
        R1 = np.array([s.ptrace([0]).full() for s in res.states])
        info = {}
    wall = time.perf_counter() - t0
    child_report({"wall_s": wall, "R1_final": [[z.real, z.imag] for z in R1[-1].ravel()], **info})


def main():
    def options(ap):
        ap.add_argument("--scale", nargs="*", default=["2:2000", "3:20", "4:10", "3:60:4", "4:24:4"],
                        help="d:N[:beta[:truncation]] cases for the symmetric engine alone "
                             "(default: 2:2000 3:20 4:10 3:60:4 4:24:4; truncation default 1e-12)")
        ap.add_argument("--name", default="bench_symmetric",
                        help="results file benchmarks/results/NAME.json (default bench_symmetric)")

    args = parse(__doc__, child, options)
    if args is None:
        return
    n_times = 50
    specs = ["2:200", "3:12", "4:8", "3:30:4"] if args.quick else args.scale
    rows = []
    for spec in specs:
        parts = spec.split(":")
        d, N = int(parts[0]), int(parts[1])
        beta = float(parts[2]) if len(parts) > 2 else 1.0
        case = {"d": d, "N": N, "beta": beta, "who": "symmetric", "n_times": n_times}
        if len(parts) > 3:
            case["truncation"] = float(parts[3])
        r = run_case(__file__, case, timeout=1800)
        r.pop("R1_final", None)
        rows.append(r)
        print(f"scale {spec}: {r.get('status')} {r.get('wall_s', float('nan')):.1f} s", flush=True)
    peers = run_peers(__file__, {"d": 2, "N": 8 if args.quick else 10, "n_times": n_times},
                      ("symmetric", "dense", "qutip"))
    meta = {"python": platform.python_version(), "machine": platform.machine(), "n_times": n_times,
            "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M")}
    path = write(args.name, rows + peers, meta)
    print()
    print(table(rows + peers, ["who", "d", "N", "beta", "truncation", "status", "wall_s", "peak_mib", "peak_worker_mib",
                               "blocks_computed", "blocks_krylov", "vectors_propagated", "largest_block",
                               "time_ratio_vs_symmetric", "max_R1_diff_vs_dense"]))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
