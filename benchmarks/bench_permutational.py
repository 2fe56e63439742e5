"""Permutational engine: open systems at large N, against QuTiP's piqs, the dense engine and mesolve.

Usage: python benchmarks/bench_permutational.py [--quick]

Each case runs in a fresh process (wall time, peak memory). Cases:
* scale: the permutational engine alone, 21 output times on [0, 2]: d = 2, N = 200 with the
  jump sigma_- + 0.5 sigma_z (cross terms between the usual channels) and a random
  swap-symmetric V; d = 3, N = 12 with two jumps and a random V; random mixed rho0;
* piqs: the problems QuTiP's piqs supports, H = a Jx + b Jz^2/(N-1) with local emission,
  dephasing and pumping and collective emission, from the fully excited state, at
  N = 20, 40, 60, 80: Dicke-state populations compared entry by entry, time ratio piqs / ours
  (piqs: its Liouvillian and mesolve at rtol 1e-10, atol 1e-12);
* general: d = 2, N = 7 with general jumps and a random V: permutational, dense and QuTiP mesolve
  (full space), the largest one-body marginal difference against dense.
Writes benchmarks/results/bench_permutational.json and prints a table.
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

A_X, B_ZZ = 1.0, 0.5
RATES = {"emission": 0.2, "dephasing": 0.1, "pumping": 0.05, "collective_emission": 0.1}


def _piqs_model(N: int):
    """The piqs problem as a qmeanfield Model (piqs: J = sigma/2, local terms gamma/2 L[J_n])."""
    import qmeanfield as qmf
    from qmeanfield.operators import pauli, sigma_minus, sigma_plus

    P = pauli()
    kappa = 1.0 / (N - 1)
    return qmf.Model(h=A_X * P["x"] / 2, V=(B_ZZ / 2) * np.kron(P["z"], P["z"]),
                     jumps=[np.sqrt(RATES["emission"]) * sigma_minus(), np.sqrt(RATES["dephasing"]) / 2 * P["z"],
                            np.sqrt(RATES["pumping"]) * sigma_plus()],
                     collective_jumps=[np.sqrt(RATES["collective_emission"] / kappa) * sigma_minus()])


def _general_model(d: int):
    import qmeanfield as qmf
    from qmeanfield.operators import random_hermitian, random_interaction

    rng = np.random.default_rng(0)
    L = np.zeros((d, d), dtype=complex)
    L[1, 0] = 1.0  # sigma_minus: |1><0|
    L = L + 0.5 * np.diag(np.linspace(1, -1, d))          # sigma_- + 0.5 sigma_z for d = 2
    jumps = [np.sqrt(0.3) * L]
    if d > 2:
        L2 = np.zeros((d, d), dtype=complex)
        L2[2, 1] = 0.4
        jumps.append(L2)
    return qmf.Model(h=random_hermitian(d, rng), V=random_interaction(d, seed=1), jumps=jumps)


def child(case: dict) -> None:
    from qmeanfield.engines import make_engine
    from qmeanfield.operators import random_density_matrix

    times = np.linspace(0, 2, case["n_times"])
    who, N = case["who"], case["N"]
    if who not in ("permutational", "dense"):   # the peer's imports are not timed, as ours are not
        importlib.import_module("qutip.piqs")
    t0 = time.perf_counter()
    out = {}
    if case["kind"] == "piqs":
        if who == "permutational":
            eng = make_engine("permutational")
            states = eng.block_states(_piqs_model(N), np.diag([1.0, 0.0]), N, times)
            space, prop = next(states)
            pops = np.array([np.concatenate([np.diag(B).real for B in space.split(x)]) for x in states])
            out["products"] = prop.matvecs
        else:
            import qutip
            import qutip.piqs as pq

            jx, _, jz = pq.jspin(N)
            H = A_X * jx + B_ZZ * jz * jz / (N - 1)
            L = pq.Dicke(N, hamiltonian=H, **RATES).liouvillian()
            res = qutip.mesolve(L, pq.excited(N), times, options={"atol": 1e-12, "rtol": 1e-10, "nsteps": 10**6})
            pops = np.array([s.full().diagonal().real for s in res.states])
        out["populations"] = pops.tolist()
    else:
        model = _general_model(case["d"])
        rho0 = random_density_matrix(case["d"], seed=2)
        if who in ("permutational", "dense"):
            traj = make_engine(who).evolve(model, rho0, N, times, kmax=2)
            R1 = traj.marginals[1]
            out.update({k: v for k, v in traj.stats.items() if isinstance(v, (int, float, str))})
        else:
            import qutip

            from qmeanfield.interop import to_qutip

            q = to_qutip(model, N, rho0)
            res = qutip.mesolve(q["H"], q["rho0"], times, c_ops=q["c_ops"], options={"atol": 1e-12, "rtol": 1e-10, "nsteps": 10**6})
            R1 = np.array([s.ptrace([0]).full() for s in res.states])
        out["R1_final"] = [[z.real, z.imag] for z in R1[-1].ravel()]
    child_report({"wall_s": time.perf_counter() - t0, **out})


def main():
    args = parse(__doc__, child)
    if args is None:
        return
    n_times = 21
    rows = []
    scale = [(2, 60), (3, 6)] if args.quick else [(2, 200), (3, 12)]
    for d, N in scale:
        r = run_case(__file__, {"kind": "general", "who": "permutational", "d": d, "N": N, "n_times": n_times},
                     timeout=1800)
        r.pop("R1_final", None)
        rows.append(r)
        print(f"scale d={d} N={N}: {r.get('status')} {r.get('wall_s', float('nan')):.1f} s", flush=True)
    for N in ([10, 20] if args.quick else [20, 40, 60, 80]):
        pair = {}
        for who in ("permutational", "piqs"):
            r = run_case(__file__, {"kind": "piqs", "who": who, "d": 2, "N": N, "n_times": n_times}, timeout=1800)
            pair[who] = r
            print(f"piqs problem N={N} {who}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
        ours, theirs = pair["permutational"], pair["piqs"]
        if ours["status"] == "ok" and theirs["status"] == "ok":
            theirs["time_ratio_vs_permutational"] = theirs["wall_s"] / ours["wall_s"]
            theirs["max_population_diff"] = float(np.abs(np.array(ours["populations"])
                                                          - np.array(theirs["populations"])).max())
        for r in pair.values():
            r.pop("populations", None)
            rows.append(r)
    N = 5 if args.quick else 7
    peers = run_peers(__file__, {"kind": "general", "d": 2, "N": N, "n_times": n_times},
                      ("permutational", "dense", "qutip"))
    rows += peers
    meta = {"python": platform.python_version(), "machine": platform.machine(), "n_times": n_times,
            "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M")}
    path = write("bench_permutational", rows, meta)
    print()
    print(table(rows, ["kind", "who", "d", "N", "status", "wall_s", "peak_mib", "state_size", "products",
                       "time_ratio_vs_permutational", "max_population_diff", "max_R1_diff_vs_dense"]))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
