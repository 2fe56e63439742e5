"""Shared benchmark harness: run each case in a fresh process, record wall time and peak memory."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_case(script: str, case: dict, timeout: float) -> dict:
    """Run ``script --case JSON`` in a new interpreter; return its JSON line plus peak RSS (MiB)."""
    cmd = [sys.executable, script, "--case", json.dumps(case)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**case, "status": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {**case, "status": "failed", "stderr": proc.stderr[-2000:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**case, **out, "status": "ok", "process_wall_s": wall}


def child_report(payload: dict) -> None:
    """Print the child's JSON result with its peak resident memory, and that of the largest
    worker process it started (process pools), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({**payload, "peak_mib": round(peak, 1), "peak_worker_mib": round(workers, 1)}))


def write(name: str, rows: list[dict], meta: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    tmp.replace(path)
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(fmt(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))
    return "\n".join(lines)


def parse(doc: str, child, extra=None):
    """Command line shared by the benchmark scripts: ``--case JSON`` runs one case (in a child
    process) and returns None; otherwise returns the parsed arguments (``--quick`` and ``extra``)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="smaller cases (a minute or two)")
    if extra:
        extra(ap)
    args = ap.parse_args()
    if args.case:
        child(json.loads(args.case))
        return None
    return args


def run_peers(script: str, case: dict, whos: tuple[str, ...], timeout: float = 1800) -> list[dict]:
    """Run ``case`` once per engine in ``whos`` (the first is ours, one must be "dense"); add
    ``time_ratio_vs_<ours>`` and ``max_R1_diff_vs_dense`` (from each child's ``R1_final``)."""
    import numpy as np

    peers = []
    for who in whos:
        r = run_case(script, {**case, "who": who}, timeout=timeout)
        peers.append(r)
        print(f"peer {who} d={case['d']} N={case['N']}: {r.get('status')} {r.get('wall_s', float('nan')):.2f} s",
              flush=True)
    ok = {r["who"]: r for r in peers if r["status"] == "ok"}
    ours, ref = ok.get(whos[0]), ok.get("dense")
    for r in ok.values():
        if ours:
            r[f"time_ratio_vs_{whos[0]}"] = r["wall_s"] / ours["wall_s"]
        if ref:
            r["max_R1_diff_vs_dense"] = float(np.abs(np.array(r["R1_final"]) - np.array(ref["R1_final"])).max())
    for r in peers:
        r.pop("R1_final", None)
    return peers
