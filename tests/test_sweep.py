"""Sweeps: named parameters, grids, local and Dask backends giving the same numbers, resume after
kill -9 without recomputation, isolated failures."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield import store
from qmeanfield.config import parse_config
from qmeanfield.errors import ConfigError
from qmeanfield.sweep import DaskBackend, LocalBackend, plan_sweep, status, sweep

BASE = {
    "name": "test-sweep",
    "parameters": {"g": 0.5},
    "model": {"h": "0.5*sx + 0.3*sz", "V": "g*kron(sz, sz) + 0.2*kron(sx, sx)"},
    "initial": {"state": "thermal", "h0": "sz + 0.3*sx", "beta": 1.0},
    "run": {"N": [2, 3, 4], "t_final": 1.0, "n_times": 6},
    "sweep": {"g": [0.25, 1.0], "hbar": [0.5, 1.0]},
}


def test_parameters_are_names_in_expressions_and_numbers():
    cfg = parse_config({**{k: v for k, v in BASE.items() if k != "sweep"},
                        "parameters": {"g": 2.0, "hb": 0.5}, "model": {**BASE["model"], "hbar": "hb"}})
    assert cfg.model.hbar == 0.5
    direct = qmf.Model(h=cfg.model.h, V=2.0 * np.kron(np.diag([1, -1]), np.diag([1, -1]))
                       + 0.2 * np.kron([[0, 1], [1, 0]], [[0, 1], [1, 0]]), hbar=0.5)
    np.testing.assert_allclose(cfg.model.V, direct.V)


@pytest.mark.parametrize("change, message", [
    ({"parameters": {"sx": 1.0}}, "shadows"),
    ({"parameters": {"g": "big"}}, "finite number"),
    ({"model": {"h": "q*sx", "V": "kron(sz, sz)"}}, "unknown name 'q'"),
    ({"sweep": {"q": [1, 2]}}, "not a \\[parameters\\] name"),
    ({"sweep": {"g": [1, "x"]}}, "finite numbers"),
    ({"sweep": {"N": [2, 3]}}, "run.N"),
    ({"sweep": {"g": [1, 2], "hbar": [1], "mode": "zip"}}, "one length"),
])
def test_parameter_and_sweep_errors_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        plan_sweep({**BASE, **change})


def test_grid_product_and_zip():
    assert len(plan_sweep(BASE).points) == 4
    zipped = plan_sweep({**BASE, "sweep": {"g": [0.25, 1.0], "hbar": [0.5, 1.0], "mode": "zip"}})
    assert [p.values for p in zipped.points] == [{"g": 0.25, "hbar": 0.5}, {"g": 1.0, "hbar": 1.0}]


def test_local_and_dask_give_identical_datasets_and_match_single_runs(tmp_path):
    pytest.importorskip("distributed")
    a = sweep(BASE, tmp_path / "local", backend=LocalBackend(2))
    b = sweep(BASE, tmp_path / "dask", backend=DaskBackend(workers=2))
    np.testing.assert_allclose(a.relative_entropy.values, b.relative_entropy.values, rtol=0, atol=1e-12)
    assert (a.status.values == "done").all()
    # one point against a plain compare of the same configuration
    cfg = parse_config({**{k: v for k, v in BASE.items() if k != "sweep"},
                        "parameters": {"g": 1.0}, "model": {**BASE["model"], "hbar": 0.5}})
    ref = qmf.compare(cfg.model, cfg.rho0, list(cfg.N), cfg.times, marginals=cfg.marginals)
    np.testing.assert_allclose(a.relative_entropy.sel(g=1.0, hbar=0.5).values, ref.relative_entropy.values,
                               rtol=1e-12, atol=1e-14)


def test_invalid_point_is_isolated(tmp_path):
    """g != 0 makes V non-Hermitian: that point is recorded, every other one is present."""
    data = {**BASE, "model": {**BASE["model"], "V": "kron(sz, sz) + g*1j*(kron(sx, id) + kron(id, sx))"},
            "sweep": {"g": [0.0, 1.0], "hbar": [0.5, 1.0]}}
    ds = sweep(data, tmp_path / "out", backend=LocalBackend(2))
    assert list(ds.status.sel(g=0.0).values) == ["done", "done"]
    assert list(ds.status.sel(g=1.0).values) == ["refused", "refused"]
    assert np.isnan(ds.relative_entropy.sel(g=1.0).values).all()
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert len(failures) == 2 and all("Hermitian" in f["message"] for f in failures)


def test_resume_reuses_finished_points_and_grows_the_grid(tmp_path):
    out = tmp_path / "out"
    sweep(BASE, out, backend=LocalBackend(1))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.nc")}
    bigger = {**BASE, "sweep": {"g": [0.25, 1.0, 2.0], "hbar": [0.5, 1.0]}}
    messages = []
    ds = sweep(bigger, out, backend=LocalBackend(1), log=messages.append)
    assert "4 already done" in messages[0] and "2 to run" in messages[0]
    assert messages[1].startswith("estimated time of the pending tasks: ~")   # before any task runs
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())   # never recomputed
    assert (ds.status.values == "done").all() and ds.sizes["g"] == 3


def test_corrupted_task_file_is_recomputed(tmp_path):
    out = tmp_path / "out"
    first = sweep(BASE, out, backend=LocalBackend(1))
    victim = sorted((out / "tasks").glob("*.nc"))[0]
    victim.write_bytes(b"garbage")
    messages = []
    again = sweep(BASE, out, backend=LocalBackend(1), log=messages.append)
    assert any("recomputing" in m for m in messages)
    same = ["relative_entropy", "trace_distance", "marginal_bound", "status"]  # wall_seconds are wall times
    assert store.content_checksum(first[same]) == store.content_checksum(again[same])


def test_kill_9_of_the_driver_loses_only_running_tasks(tmp_path):

    data = {**BASE, "run": {**BASE["run"], "N": [2, 3, 4, 5, 6, 7]},
            "sweep": {"g": [0.25, 0.5, 1.0, 2.0], "hbar": [0.5, 1.0, 2.0]}}
    config = tmp_path / "sweep.toml"
    config.write_text(_toml(data))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "qmeanfield.cli", "sweep", str(config), "--out", str(out), "--workers", "1",
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while len(list((out / "tasks").glob("*.nc"))) < 3 and time.time() - t0 < 120:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers or not Path("/proc/self/stat").exists()   # the pool's worker process(es)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # its worker processes notice and exit (they would otherwise wait on its queue for ever)
    t0 = time.time()
    while any(_alive(w) for w in workers) and time.time() - t0 < 20:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), f"workers {workers} outlived the killed driver"
    # workers already holding a task may finish it after the driver died: wait until nothing changes
    seen, quiet = -1, 0
    while quiet < 20:
        n = len(list((out / "tasks").glob("*.nc*")))
        quiet, seen = (quiet + 1, n) if n == seen else (0, n)
        time.sleep(0.1)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.nc")}
    assert len(before) < 12
    st = status(out)
    assert st["done"] == len(before) and st["pending"] == 12 - len(before) and not st["complete"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert f"{len(before)} already done" in res.stderr
    assert all((out / "tasks" / n).stat().st_mtime_ns == t for n, t in before.items())
    assert status(out)["complete"]


def _children(pid: int) -> list[int]:
    """The PIDs whose parent is pid (from /proc; empty where there is none)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie or a vanished process does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _toml(data: dict) -> str:
    lines = []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def test_a_killed_dask_worker_does_not_lose_the_sweep(tmp_path):
    """kill -9 of a Dask worker process mid-sweep: its task is rescheduled, every point finishes."""
    import os
    import threading

    distributed = pytest.importorskip("distributed")
    data = {**BASE, "run": {**BASE["run"], "N": [2, 3, 4, 5, 6, 7, 8]},
            "sweep": {"g": [0.25, 0.5, 1.0, 2.0], "hbar": [0.5, 1.0, 2.0]}}
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        result = {}
        out = tmp_path / "out"
        thread = threading.Thread(target=lambda: result.setdefault("ds", sweep(data, out, client=client)))
        thread.start()
        t0 = time.time()
        while len(list((out / "tasks").glob("*.nc"))) < 2 and time.time() - t0 < 120:
            time.sleep(0.05)
        pids = client.run(os.getpid)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        thread.join(timeout=300)
        assert (result["ds"].status.values == "done").all()
    finally:
        client.close()
        cluster.close()


def test_a_resumed_sweep_reads_each_finished_task_once(tmp_path, monkeypatch):
    """Finished task files are verified once at the start and that reading serves the results."""
    import qmeanfield.sweep as sweep_module

    out = tmp_path / "out"
    first = sweep(BASE, out, backend=LocalBackend(1))
    reads = []
    original = sweep_module.load_dataset
    monkeypatch.setattr(sweep_module, "load_dataset", lambda path, **kw: reads.append(path) or original(path, **kw))
    again = sweep(BASE, out, backend=LocalBackend(1))
    assert len(reads) == len(set(reads)) == 4
    assert np.array_equal(again.relative_entropy.values, first.relative_entropy.values, equal_nan=True)


def test_a_sweep_of_certify_matches_a_direct_certify(tmp_path):
    """[sweep] study = "certify": every point's bound equals qmf.certify of that configuration."""
    data = {**BASE, "sweep": {"g": [0.25, 1.0], "study": "certify", "study_options": {"workers": 1}}}
    ds = sweep(data, tmp_path / "out", backend=LocalBackend(2))
    assert ds.attrs["study"] == "certify" and (ds.status.values == "done").all()
    cfg = parse_config({**{k: v for k, v in BASE.items() if k != "sweep"}, "parameters": {"g": 1.0}})
    ref = qmf.certify(cfg.model, cfg.rho0, list(cfg.N), cfg.times, workers=1)
    np.testing.assert_allclose(ds.bound.sel(g=1.0).values, ref.bound.values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ds.relative_entropy.sel(g=1.0).values, ref.relative_entropy.values, rtol=1e-12,
                               atol=1e-14)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["headline"]) == {"bound_final", "relative_entropy_final"}
    row = summary["points"][1]
    assert row["headline"]["bound_final"]["value"] == pytest.approx(float(ref.bound.values[-1, -1]), rel=1e-12)
    assert store.read_manifest(tmp_path / "out") is not None


def test_a_sweep_of_steady_states_matches_a_direct_solve(tmp_path):
    data = {**BASE, "model": {**BASE["model"], "jumps": ["sqrt(0.3)*sm"]}, "run": {"N": [2, 3, 4], "t_final": 1.0},
            "sweep": {"g": [0.25, 1.0], "study": "steady"}}
    ds = sweep(data, tmp_path / "out", backend=LocalBackend(2))
    assert ds.attrs["study"] == "steady" and (ds.status.values == "done").all()
    cfg = parse_config({**{k: v for k, v in data.items() if k != "sweep"}, "parameters": {"g": 0.25}})
    ref = qmf.steady_state_comparison(cfg.model, list(cfg.N))
    np.testing.assert_allclose(ds.trace_distance.sel(g=0.25).values, ref.trace_distance.values, rtol=1e-9, atol=1e-12)
    assert ds.distance_one_body.dims == ("g", "N")


def test_a_semiclassical_sweep_over_a_dotted_path(tmp_path):
    """A semiclassical grid over the initial temperature (a dotted path into the configuration):
    each point equals a direct scan."""
    from qmeanfield.semiclassical import scan
    from qmeanfield.semiclassical.config import parse_semiclassical

    data = {"name": "sc-sweep",
            "semiclassical": {"domain": "periodic", "length": 6.283185307179586, "external": "0", "pair": "-cos(x)",
                              "hbar": [0.4, 0.2], "t_final": 0.5, "n_times": 3, "cells": [64, 64], "emd_cells": 0, "w2_cells": 32,
                              "initial": {"kind": "hmf_thermal", "temperature": 0.25, "amplitude": 0.05}},
            "sweep": {"semiclassical.initial.temperature": [0.25, 0.5]}}
    ds = sweep(data, tmp_path / "out", backend=LocalBackend(2))
    failures = (tmp_path / "out" / "failures.json").read_text()
    assert ds.attrs["study"] == "semiclassical" and (ds.status.values == "done").all(), failures
    one = {**data["semiclassical"], "initial": {**data["semiclassical"]["initial"], "temperature": 0.5}}
    cfg = parse_semiclassical({"semiclassical": one})
    ref = scan(cfg.problem, options=cfg.options)
    got = ds.sel({"semiclassical.initial.temperature": 0.5})
    # the W2 solver iterates to a tolerance: another process's round-off moves the value within
    # the error interval it reports, not beyond
    width = (ref.w2_upper - ref.w2_lower).values
    assert np.all(np.abs(got.w2_husimi_vlasov.values - ref.w2_husimi_vlasov.values) <= width)
    np.testing.assert_allclose(got.w2_bound.values, ref.w2_bound.values, rtol=1e-12)


@pytest.mark.parametrize("change, message", [
    ({"study": "nope"}, "unknown study"),
    ({"study": "certify", "study_options": {"gap": True}}, "does not accept"),
    ({"study_options": {"exact": False}}, "needs sweep.study"),
    ({"study": "compare", "study_options": 3}, "must be a table"),
])
def test_study_errors_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        plan_sweep({**BASE, "sweep": {**BASE["sweep"], **change}})


@pytest.mark.parametrize("name, text", [("failures.json", "[1, 2]"), ("failures.json", "[null]"),
                                        ("failures.json", "5"), ("sweep.json", "{}"),
                                        ("sweep.json", '{"points": 5}'), ("sweep.json", '{"points": [{}]}'),
                                        ("sweep.json", "not json")])
def test_status_of_a_damaged_folder_is_one_line(tmp_path, name, text):
    """status() on hand-edited or damaged files: a QMeanFieldError naming the file, or counts
    (entries of failures.json without a key are ignored), never a TypeError or KeyError."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text('{"name": "x", "points": [{"key": "a"}]}')
    (out / name).write_text(text)
    try:
        st = status(out)
    except qmf.QMeanFieldError as exc:
        assert name in str(exc)
    else:
        assert name == "failures.json" and text != "5" and st["failed"] == 0 and not st["complete"]
        assert "manifest.json" in st["missing"]


def test_dask_backend_describes_itself_before_it_starts():
    assert "LocalCluster, 2 worker" in DaskBackend(workers=2).describe()
    assert "scheduler at tcp://x:1" in DaskBackend(address="tcp://x:1").describe()


def test_a_killed_local_worker_costs_only_a_resubmission(tmp_path):
    """kill -9 of one worker of the local pool: the pool breaks, its pending tasks are resubmitted
    on a fresh pool (not failed), and every point finishes."""
    import os
    import threading

    data = {**BASE, "run": {**BASE["run"], "N": [2, 3, 4, 5, 6, 7, 8]},
            "sweep": {"g": [0.25, 0.5, 1.0, 2.0], "hbar": [0.5, 1.0, 2.0]}}
    backend = LocalBackend(2)
    out = tmp_path / "out"
    result, messages = {}, []
    thread = threading.Thread(target=lambda: result.setdefault(
        "ds", sweep(data, out, backend=backend, log=messages.append)))
    thread.start()
    t0 = time.time()
    while len(list((out / "tasks").glob("*.nc"))) < 2 and time.time() - t0 < 120:
        time.sleep(0.02)
    pids = list(backend.pool._processes) if backend.pool is not None else []
    assert pids
    os.kill(pids[0], signal.SIGKILL)
    thread.join(timeout=300)
    ds = result["ds"]
    assert (ds.status.values == "done").all(), json.loads((out / "failures.json").read_text())
    assert any("resubmitted" in m for m in messages), messages


def test_a_sweep_keeps_the_observables(tmp_path):
    data = {**BASE, "run": {**BASE["run"], "observables": ["jz"]}, "sweep": {"g": [0.25, 1.0]}}
    ds = sweep(data, tmp_path / "out", backend=LocalBackend(1))
    assert ds.observable_mean.dims == ("g", "N", "observable", "time")
    cfg = parse_config({**{k: v for k, v in data.items() if k != "sweep"}, "parameters": {"g": 1.0}})
    ref = qmf.compare(cfg.model, cfg.rho0, list(cfg.N), cfg.times, observables=["jz"])
    np.testing.assert_allclose(ds.observable_mean.sel(g=1.0).values, ref.observable_mean.values, rtol=1e-12, atol=1e-14)
