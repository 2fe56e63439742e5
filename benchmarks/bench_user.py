"""What users call, against QuTiP's piqs in the same run: ``qmf.compare`` and
``qmf.steady_state_comparison`` with their defaults, beside the engine alone.

Usage: python benchmarks/bench_user.py [--quick]

Each case runs in a fresh process (wall time, peak memory). The problem is the kind piqs
supports: H = 0.5 Jx + Jz^2/(N-1), local emission 0.5, dephasing 0.2, pumping 0.1, from the
mixed product state rho0 = diag(0.8, 0.2) (excited population 0.8), 21 times on [0, 2].
* dynamics, N = 20, 40, 60, 80: ``qmf.compare(model, rho0, N, times)`` with every default (H_N,
  the entropy identity at four extra times per output time, marginals k = 1, 2, the mean-field
  solution, the Dataset); the permutational engine alone at the 21 times; piqs: its Liouvillian
  and ``qutip.mesolve`` at QuTiP's default tolerances with <Jz> as the only output (piqs keeps
  one copy of each degenerate Dicke block with the copies' total weight, so the product state
  has entries d_j p^(N/2+m) (1-p)^(N/2-m)). Ratios piqs / compare and piqs / engine; the largest
  <Jz> difference over the times.
* general, d = 2, N = 200 (N = 60 with --quick): the jump sqrt(0.3)(sigma_- + 0.5 sigma_z) and a
  random V of bench_permutational, random mixed rho0, 21 times: ``qmf.compare`` with its defaults
  beside the engine alone (no peer runs this: piqs has no such jump, the full space is 2^400).
* spin1, d = 3, N = 4, 8, 16, 32 in one call (the issue's spin-1 case: h = 0.5 jx + 0.3 jz^2,
  V = S.S + 2 P_singlet, thermal rho0 of jz + 0.2 jx at beta = 2, purity 0.77, 21 times):
  ``qmf.compare`` with its defaults (symmetric engine); no peer runs d = 3 at N = 32.
* closed, d = 2, N = 2000 (N = 500 with --quick): bench_symmetric's problem (random V, thermal
  rho0 of jz + 0.3 jx at beta = 1), 50 times on [0, 2]: ``qmf.compare`` with its defaults beside the
  symmetric engine alone at the 50 times (no peer runs N = 2000 closed with a mixed rho0: the dense
  space is 2^2000; the engine is checked against the dense engine and QuTiP at small N).
* steady, N = 10, 20, 40: ``qmf.steady_state_comparison(model, N)`` (mean-field fixed points,
  the N-body steady state, marginals and distances) against ``qutip.steadystate`` of the piqs
  Liouvillian (its default direct solver); the steady-state <Jz> difference.
* steady_large, N = 160, 320, 640, 1000 (N = 160 with --quick): ``qmf.steady_state_comparison``
  alone, each N in a fresh process (no peer: piqs' ``steadystate`` factorises a Liouvillian of
  about N^3 / 6 entries); the solver's method and iterations.
Writes benchmarks/results/bench_user.json and prints a table.
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

P_EXCITED = 0.8
RATES = {"emission": 0.5, "dephasing": 0.2, "pumping": 0.1}


def _model():
    """H = 0.5 Jx + Jz^2/(N-1) = sum_j 0.5 sx_j/2 + (1/(N-1)) sum_{i<j} (1/2) sz_i sz_j + const,
    piqs' local rates gamma as jumps sqrt(gamma) sigma_-, sqrt(gamma) sz/2, sqrt(gamma) sigma_+."""
    import qmeanfield as qmf
    from qmeanfield.operators import pauli, sigma_minus, sigma_plus

    P = pauli()
    return qmf.Model(h=0.5 * P["x"] / 2, V=0.5 * np.kron(P["z"], P["z"]),
                     jumps=[np.sqrt(RATES["emission"]) * sigma_minus(), np.sqrt(RATES["dephasing"]) / 2 * P["z"],
                            np.sqrt(RATES["pumping"]) * sigma_plus()])


def _piqs(N: int):
    import qutip
    import qutip.piqs as pq
    from qutip.piqs.piqs import state_degeneracy

    jx, _, jz = pq.jspin(N)
    L = pq.Dicke(N, hamiltonian=0.5 * jx + jz * jz / (N - 1), **RATES).liouvillian()
    entries = []
    j = N / 2
    while j >= 0:
        dj = float(state_degeneracy(N, j))
        entries += [dj * P_EXCITED ** (N / 2 + m) * (1 - P_EXCITED) ** (N / 2 - m) for m in np.arange(j, -j - 1, -1)]
        j -= 1
    return qutip, L, jz, qutip.Qobj(np.diag(entries).astype(complex))


def _spin1():
    """The spin-1 (d = 3) closed model: h = 0.5 jx + 0.3 jz^2, V = S.S + 2 P_singlet (S.S = sum_a
    ja (x) ja, P_singlet the two-spin singlet projector), rho0 thermal for jz + 0.2 jx at beta = 2
    (purity 0.77)."""
    import qmeanfield as qmf
    from qmeanfield.operators import spin_matrices
    from qmeanfield.states import thermal

    S = spin_matrices(3)
    SS = sum(np.kron(S[a], S[a]) for a in ("jx", "jy", "jz"))
    singlet = np.zeros(9, dtype=complex)
    singlet[[2, 4, 6]] = [1.0, -1.0, 1.0]                  # (|1,-1> - |0,0> + |-1,1>) / sqrt(3)
    singlet /= np.sqrt(3.0)
    V = SS + 2.0 * np.outer(singlet, singlet.conj())
    return qmf.Model(h=0.5 * S["jx"] + 0.3 * S["jz"] @ S["jz"], V=V), thermal(S["jz"] + 0.2 * S["jx"], 2.0)


def _jz_from_marginal(R1, N):
    R1 = np.asarray(R1)
    return N * (R1[..., 0, 0] - R1[..., 1, 1]).real / 2


def child(case: dict) -> None:
    N, who, kind = case.get("N"), case["who"], case["kind"]
    times = np.linspace(0, 2, 21)
    rho0 = np.diag([P_EXCITED, 1 - P_EXCITED]).astype(complex)
    if who == "piqs":   # the peer's imports are not timed, as ours are not
        importlib.import_module("qutip.piqs")
    t0 = time.perf_counter()
    out = {}
    if kind == "dynamics":
        if who == "compare":
            import qmeanfield as qmf

            t0 = time.perf_counter()
            ds = qmf.compare(_model(), rho0, N, times)
            jz = _jz_from_marginal(ds.one_body_marginal.values[0], N)
        elif who == "engine":
            from qmeanfield.engines import make_engine

            t0 = time.perf_counter()
            traj = make_engine("permutational").evolve(_model(), rho0, N, times, kmax=2)
            jz = _jz_from_marginal(traj.marginals[1], N)
        else:
            qutip, L, jz_op, r0 = _piqs(N)
            jz = np.asarray(qutip.mesolve(L, r0, times, e_ops=[jz_op]).expect[0]).real
        out["jz"] = jz.tolist()
    elif kind == "general":
        import qmeanfield as qmf
        from bench_permutational import _general_model
        from qmeanfield.engines import make_engine
        from qmeanfield.operators import random_density_matrix

        model, r0 = _general_model(2), random_density_matrix(2, seed=2)
        t0 = time.perf_counter()
        if who == "compare":
            qmf.compare(model, r0, N, times)
        else:
            traj = make_engine("permutational").evolve(model, r0, N, times, kmax=2)
            out["products"] = traj.stats["products"]
    elif kind == "closed":
        import qmeanfield as qmf
        from bench_symmetric import _problem
        from qmeanfield.engines import make_engine

        model, r0 = _problem(2, 1.0)
        times = np.linspace(0, 2, 50)
        t0 = time.perf_counter()
        if who == "compare":
            ds = qmf.compare(model, r0, N, times)
            out["relative_entropy_final"] = float(ds.relative_entropy.values.ravel()[-1])
        else:
            traj = make_engine("symmetric").evolve(model, r0, N, times, kmax=2)
            out["blocks_krylov"] = traj.stats["blocks_krylov"]
            out["blocks_computed"] = traj.stats["blocks_computed"]
    elif kind == "spin1":
        import qmeanfield as qmf

        model, r0 = _spin1()
        t0 = time.perf_counter()
        ds = qmf.compare(model, r0, case["Ns"], times)
        out["wall_per_N"] = [float(x) for x in ds.wall_seconds.values]
        out["N"] = "+".join(str(n) for n in case["Ns"])
    else:   # steady, steady_large
        if who == "steady_state_comparison":
            import qmeanfield as qmf

            t0 = time.perf_counter()
            ds = qmf.steady_state_comparison(_model(), [N])
            out["jz"] = float(_jz_from_marginal(ds.one_body_marginal.values[0], N))
            out["method"] = str(ds.method.values[0]) if "method" in ds else ""
            out["iterations"] = int(ds.iterations.values[0]) if "iterations" in ds else 0
            out["residual"] = float(ds.residual.values[0])
        else:
            qutip, L, jz_op, _ = _piqs(N)
            rho = qutip.steadystate(L)
            out["jz"] = float(qutip.expect(jz_op, rho).real)
    child_report({"wall_s": time.perf_counter() - t0, **out})


def main():
    args = parse(__doc__, child)
    if args is None:
        return
    rows = []
    for N in ([10, 20] if args.quick else [20, 40, 60, 80]):
        case = {"kind": "dynamics", "N": N}
        res = {who: run_case(__file__, {**case, "who": who}, timeout=1800) for who in ("compare", "engine", "piqs")}
        for who, r in res.items():
            print(f"dynamics N={N} {who}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
        if all(r["status"] == "ok" for r in res.values()):
            p = res["piqs"]
            p["ratio_vs_compare"] = p["wall_s"] / res["compare"]["wall_s"]
            p["ratio_vs_engine"] = p["wall_s"] / res["engine"]["wall_s"]
            for who in ("compare", "engine"):
                res[who]["max_jz_diff_vs_piqs"] = float(np.abs(np.array(res[who]["jz"]) - np.array(p["jz"])).max())
        for r in res.values():
            r.pop("jz", None)
            rows.append(r)
    N = 60 if args.quick else 200
    res = {who: run_case(__file__, {"kind": "general", "N": N, "who": who}, timeout=1800) for who in ("compare", "engine")}
    for who, r in res.items():
        print(f"general N={N} {who}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
        rows.append(r)
    N = 500 if args.quick else 2000
    res = {who: run_case(__file__, {"kind": "closed", "N": N, "who": who}, timeout=1800) for who in ("compare", "engine")}
    for who, r in res.items():
        print(f"closed N={N} {who}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
        rows.append(r)
    Ns = [4, 8, 16] if args.quick else [4, 8, 16, 32]
    r = run_case(__file__, {"kind": "spin1", "Ns": Ns, "who": "compare"}, timeout=1800)
    print(f"spin1 N={Ns} compare: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
    rows.append(r)
    for N in ([10] if args.quick else [10, 20, 40]):
        case = {"kind": "steady", "N": N}
        res = {who: run_case(__file__, {**case, "who": who}, timeout=1800)
               for who in ("steady_state_comparison", "piqs")}
        for who, r in res.items():
            print(f"steady N={N} {who}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
        if all(r["status"] == "ok" for r in res.values()):
            res["piqs"]["ratio_vs_steady_state_comparison"] = res["piqs"]["wall_s"] / res["steady_state_comparison"]["wall_s"]
            res["steady_state_comparison"]["max_jz_diff_vs_piqs"] = abs(res["steady_state_comparison"]["jz"] - res["piqs"]["jz"])
        for r in res.values():
            r.pop("jz", None)
            rows.append(r)
    for N in ([160] if args.quick else [160, 320, 640, 1000]):
        r = run_case(__file__, {"kind": "steady_large", "N": N, "who": "steady_state_comparison"}, timeout=1800)
        print(f"steady_large N={N}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s", flush=True)
        r.pop("jz", None)
        rows.append(r)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "quick": args.quick,
            "date": time.strftime("%Y-%m-%d %H:%M")}
    path = write("bench_user", rows, meta)
    print()
    print(table(rows, ["kind", "who", "N", "status", "wall_s", "peak_mib", "ratio_vs_compare", "ratio_vs_engine",
                       "ratio_vs_steady_state_comparison", "max_jz_diff_vs_piqs", "method", "iterations", "products",
                       "blocks_krylov"]))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
