"""Sweeps: parallel efficiency of the local pool (2 workers against 1) on independent tasks of about
2 s each, and the per-task overhead of Dask (LocalCluster) beside the local pool's, same run.

Usage: python benchmarks/bench_sweep.py [--quick]

* efficiency: 16 grid points (4 couplings x 4 hbar) of a closed qubit model with the
  dense engine, N = 2..9, 11 times (about 2 s a point), run with 1 and with 2 local workers.
* overhead: tiny points (N = 2, 2 times), 16 and then 64 of them, on each backend; the overhead per
  task is the slope (wall(64) - wall(16)) / 48 minus the tasks' own time per worker, so the fixed
  costs (starting the pool or the cluster, planning, the report) do not count.
Writes benchmarks/results/bench_sweep.json and prints a table.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import table, write  # noqa: E402

MODEL = {"h": "0.5*sx + 0.3*sz", "V": "g*kron(sz, sz) + 0.2*kron(sx, sx)", "hbar": 1.0}


def _config(n_max: int, points: int, times: int) -> dict:
    import numpy as np

    side = int(np.sqrt(points))
    return {"name": "bench", "parameters": {"g": 0.5}, "model": dict(MODEL),
            "initial": {"state": "thermal", "h0": "sz + 0.3*sx", "beta": 1.0},
            "run": {"N": list(range(2, n_max + 1)), "t_final": 2.0, "n_times": times, "engine": "dense"},
            "sweep": {"g": [float(x) for x in np.linspace(0.2, 2.0, side)],
                      "hbar": [float(x) for x in np.linspace(0.5, 2.0, points // side)]}}


def _run(config, backend):
    from qmeanfield.sweep import sweep

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        ds = sweep(config, d, backend=backend)
        return time.perf_counter() - t0, float(ds.wall_seconds.sum()), int((ds.status.values == "done").sum())


def main():
    quick = "--quick" in sys.argv
    from qmeanfield.sweep import DaskBackend, LocalBackend

    heavy = _config(8 if quick else 9, 16, 11)
    rows = []
    for workers in (1, 2):
        wall, work, done = _run(heavy, LocalBackend(workers))
        rows.append({"case": f"16 tasks, local, {workers} worker(s)", "wall_s": wall, "task_s_sum": work,
                     "done": done})
    rows[1]["speedup_vs_1"] = rows[0]["wall_s"] / rows[1]["wall_s"]
    for name, make in (("local", lambda: LocalBackend(2)), ("dask LocalCluster", lambda: DaskBackend(workers=2))):
        small, large = (_run(_config(2, n, 2), make()) for n in (16, 64))
        slope = (large[0] - small[0]) / (large[2] - small[2])
        own = (large[1] - small[1]) / (large[2] - small[2]) / 2
        rows.append({"case": f"16 -> 64 tiny tasks, {name}, 2 workers", "wall_s": large[0], "task_s_sum": large[1],
                     "done": large[2], "overhead_ms_per_task": 1000 * (slope - own)})
    write("bench_sweep", rows, {"machine": platform.platform(), "python": platform.python_version(), "quick": quick})
    print(table(rows, ["case", "wall_s", "task_s_sum", "done", "speedup_vs_1", "overhead_ms_per_task"]))


if __name__ == "__main__":
    main()
