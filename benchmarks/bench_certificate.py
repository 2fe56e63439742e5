"""Certificate cost: Lambda_N by Schur-Weyl blocks, against the dense construction where both run.

Usage: python benchmarks/bench_certificate.py [--quick]

Cases (d = 2, random V, thermal rho0, 21 times on [0, 2], 10 values of eta):
* blocks at N = 1000 (bound only, and with the exact H_N from the symmetric engine), 2 workers;
* blocks and dense at N = 8 for one time and all eta: time ratio and largest difference in Lambda_N.
Writes benchmarks/results/bench_certificate.json and prints a table.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import child_report, parse, run_case, table, write  # noqa: E402


def _problem():
    import qmeanfield as qmf
    from qmeanfield.operators import pauli, random_interaction

    P = pauli()
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1))
    return model, qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)


def child(case: dict) -> None:
    import qmeanfield as qmf
    from qmeanfield.blocks import BlockSpace
    from qmeanfield.certificate import eta_grid, fluctuation_parts, lambda_blocks
    from qmeanfield.operators import kron_all

    model, rho0 = _problem()
    N, who = case["N"], case["who"]
    t0 = time.perf_counter()
    out = {}
    if who in ("bound", "bound+exact"):
        ds = qmf.certify(model, rho0, N=[N], times=np.linspace(0, 2, 21), exact=(who == "bound+exact"),
                             workers=case.get("workers", 1))
        out["bound_final"] = float(ds.bound.values[0, -1])
        if who == "bound+exact":
            out["exact_final"] = float(ds.relative_entropy.values[0, -1])
    else:
        etas = eta_grid(model)
        if who == "blocks-one-time":
            lam = lambda_blocks(BlockSpace(N, 2), rho0, np.asarray(model.V), 1 / (N - 1), 1.0, etas, y_norm=False).lambda_N
        else:  # dense
            from scipy.special import logsumexp

            d = 2
            A, A1 = fluctuation_parts(rho0, np.asarray(model.V))
            I = np.eye(d)
            def site(op, j):
                return kron_all(*[op if s == j else I for s in range(N)])
            Y = sum(-site(A1, j) for j in range(N)).astype(complex)
            M = A.reshape(d, d, d, d).transpose(0, 2, 1, 3).reshape(d * d, d * d)
            U, sv, Wh = np.linalg.svd(M)
            for k in range(d * d):
                Pk, Qk = sv[k] * U[:, k].reshape(d, d), Wh[k].reshape(d, d)
                for i in range(N):
                    for j in range(N):
                        if i != j:
                            Y = Y + (1 / (N - 1)) * site(Pk, i) @ site(Qk, j)
            Y = 1j * Y
            w, Wv = np.linalg.eigh(rho0)
            L = (Wv * np.log(w)) @ Wv.conj().T
            LN = sum(site(L, j) for j in range(N))
            lam = np.array([logsumexp(np.linalg.eigvalsh(LN + e * Y)) for e in etas])
        out["lambda"] = [float(x) for x in lam]
    child_report({"wall_s": time.perf_counter() - t0, **out})


def main():
    args = parse(__doc__, child)
    if args is None:
        return
    big = 200 if args.quick else 1000
    rows = []
    for case in ({"who": "bound", "N": big, "workers": 2}, {"who": "bound+exact", "N": big, "workers": 2},
                 {"who": "blocks-one-time", "N": 8}, {"who": "dense-one-time", "N": 8}):
        r = run_case(__file__, case, timeout=1800)
        rows.append(r)
        print(f"{case}: {r['status']} {r.get('wall_s', float('nan')):.2f} s", flush=True)
    blocks, dense = rows[2], rows[3]
    if blocks["status"] == dense["status"] == "ok":
        dense["time_ratio_vs_blocks"] = dense["wall_s"] / blocks["wall_s"]
        dense["max_lambda_diff"] = float(np.abs(np.array(dense["lambda"]) - np.array(blocks["lambda"])).max())
    for r in rows:
        r.pop("lambda", None)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "quick": args.quick,
            "date": time.strftime("%Y-%m-%d %H:%M")}
    path = write("bench_certificate", rows, meta)
    print()
    print(table(rows, ["who", "N", "status", "wall_s", "peak_mib", "bound_final", "exact_final",
                       "time_ratio_vs_blocks", "max_lambda_diff"]))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
