"""Dense engine against QuTiP's mesolve on the same N-body problem (closed and open), same run.

Usage: python benchmarks/bench_dense.py [--quick]

For d = 2, a random swap-symmetric V and jumps sqrt(0.3) sigma_- and 0.2 (sigma_- + 0.5 sigma_z)
(open case), both solvers produce R^(1) at 21 times on [0, 2]; the table gives wall times, the
ratio QuTiP / dense, peak memory and the largest difference in R^(1).
Writes benchmarks/results/bench_dense.json and prints a table.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import child_report, parse, run_case, table, write  # noqa: E402


def _model(open_system: bool):
    import qmeanfield as qmf
    from qmeanfield.operators import pauli, random_interaction, sigma_minus

    P = pauli()
    jumps = [np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])] if open_system else []
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1), jumps=jumps)
    return model, qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)


def child(case: dict) -> None:
    from qmeanfield.engines import make_engine
    from qmeanfield.engines.dense import embedded_jumps, many_body_hamiltonian

    N, who = case["N"], case["who"]
    model, rho0 = _model(case["open"])
    times = np.linspace(0, 2, 21)
    if who != "dense":   # the peer's import is not timed, as ours is not
        importlib.import_module("qutip")
    t0 = time.perf_counter()
    if who == "dense":
        R1 = make_engine("dense", memory_budget_gb=16).evolve(model, rho0, N, times, kmax=1).marginals[1]
    else:
        import qutip

        dims = [[2] * N, [2] * N]
        H = qutip.Qobj(many_body_hamiltonian(model, N), dims=dims)
        c_ops = [qutip.Qobj(L, dims=dims) for L in embedded_jumps(model, N)]
        R0 = qutip.tensor([qutip.Qobj(rho0)] * N)
        res = qutip.mesolve(H, R0, times, c_ops=c_ops, options={"atol": 1e-10, "rtol": 1e-8, "nsteps": 10**6})
        R1 = np.array([s.ptrace([0]).full() for s in res.states])
    child_report({"wall_s": time.perf_counter() - t0, "R1": [[z.real, z.imag] for z in R1.ravel()]})


def main():
    args = parse(__doc__, child)
    if args is None:
        return
    rows = []
    for open_system, Ns in ((False, [4, 6, 8] if not args.quick else [4, 6]),
                            (True, [4, 6, 7] if not args.quick else [4, 5])):
        for N in Ns:
            pair = {}
            for who in ("dense", "qutip"):
                r = run_case(__file__, {"N": N, "who": who, "open": open_system}, timeout=1200)
                pair[who] = r
                print(f"{'open' if open_system else 'closed'} N={N} {who}: {r['status']} "
                      f"{r.get('wall_s', float('nan')):.2f} s", flush=True)
            if all(r["status"] == "ok" for r in pair.values()):
                diff = float(np.abs(np.array(pair["dense"]["R1"]) - np.array(pair["qutip"]["R1"])).max())
                ratio = pair["qutip"]["wall_s"] / pair["dense"]["wall_s"]
            else:
                diff = ratio = None
            for r in pair.values():
                r.pop("R1", None)
            rows.append({"system": "open" if open_system else "closed", "N": N,
                         "dense_s": pair["dense"].get("wall_s"), "qutip_s": pair["qutip"].get("wall_s"),
                         "qutip_over_dense": ratio, "dense_peak_mib": pair["dense"].get("peak_mib"),
                         "qutip_peak_mib": pair["qutip"].get("peak_mib"), "max_R1_diff": diff})
    meta = {"python": platform.python_version(), "machine": platform.machine(), "quick": args.quick,
            "date": time.strftime("%Y-%m-%d %H:%M")}
    path = write("bench_dense", rows, meta)
    print()
    print(table(rows, ["system", "N", "dense_s", "qutip_s", "qutip_over_dense", "dense_peak_mib", "qutip_peak_mib",
                       "max_R1_diff"]))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
