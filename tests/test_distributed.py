"""One run spread over a Dask cluster: the particle numbers (and the certificate's (N, time)
pairs) as tasks give the numbers of the local run, a killed worker costs only its task, and the
CLI's --scheduler saves each N as it arrives (a rerun reuses them)."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

import qmeanfield as qmf
from qmeanfield import store
from qmeanfield.cli import app
from qmeanfield.operators import random_interaction

distributed = pytest.importorskip("distributed")

MODEL = qmf.Model(h=0.5 * np.array([[0, 1], [1, 0]]) + 0.3 * np.diag([1, -1]), V=random_interaction(2, seed=4),
                  jumps=[np.sqrt(0.2) * np.array([[0, 0], [1, 0]])])
RHO0 = np.diag([0.7, 0.3])
TIMES = np.linspace(0.0, 1.0, 5)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_compare_certify_and_steady_on_a_cluster_equal_the_local_run(client):
    Ns = [3, 6, 9]
    local = qmf.compare(MODEL, RHO0, Ns, TIMES)
    remote = qmf.compare(MODEL, RHO0, Ns, TIMES, client=client)
    for name in ("relative_entropy", "trace_distance", "one_body_marginal", "entropy_production", "dissipation"):
        np.testing.assert_allclose(remote[name].values, local[name].values, rtol=0, atol=1e-12, err_msg=name)
    closed = qmf.Model(h=MODEL.h, V=MODEL.V)
    local = qmf.certify(closed, RHO0, [4, 8], TIMES)
    remote = qmf.certify(closed, RHO0, [4, 8], TIMES, client=client)
    for name in ("lambda_N", "bound", "relative_entropy"):
        np.testing.assert_allclose(remote[name].values, local[name].values, rtol=0, atol=1e-12, err_msg=name)
    local = qmf.steady_state_comparison(MODEL, [4, 8])
    remote = qmf.steady_state_comparison(MODEL, [4, 8], client=client)
    for name in ("trace_distance", "relative_entropy", "one_body_marginal"):
        np.testing.assert_allclose(remote[name].values, local[name].values, rtol=0, atol=1e-12, err_msg=name)


def test_a_killed_worker_costs_only_its_task(client):
    """kill -9 of a worker while the particle numbers run: the scheduler reruns its task elsewhere
    (the nanny restarts the worker) and the result equals the local run."""
    Ns = [20, 24, 28, 32]
    local = qmf.compare(MODEL, RHO0, Ns, TIMES)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("ds", qmf.compare(MODEL, RHO0, Ns, TIMES,
                                                                                 client=client)))
    thread.start()
    t0 = time.time()
    while not any(client.processing().values()) and time.time() - t0 < 60:
        time.sleep(0.02)
    pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    thread.join(timeout=300)
    np.testing.assert_allclose(result["ds"].relative_entropy.values, local.relative_entropy.values, atol=1e-12)


def test_the_run_command_on_a_scheduler_saves_each_N_and_resumes(client, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nh = "0.5*sx + 0.3*sz"\nV = {random_seed = 4}\njumps = ["sqrt(0.2)*sm"]\n'
                   '[initial]\nstate = "bloch"\nbloch = [0.0, 0.0, 0.4]\n[run]\nN = [3, 5, 7]\nt_final = 1.0\n'
                   'n_times = 5\n')
    address = client.scheduler.address
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "a"), "--no-progress", "--scheduler", address])
    assert res.exit_code == 0, res.output
    assert res.output.count("done on the cluster") == 3
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "b"), "--no-progress"])
    assert res.exit_code == 0, res.output
    a, b = store.load_dataset(tmp_path / "a" / "results.nc"), store.load_dataset(tmp_path / "b" / "results.nc")
    np.testing.assert_allclose(a.relative_entropy.values, b.relative_entropy.values, rtol=0, atol=1e-12)
    # a rerun on the cluster reuses every saved N (nothing is sent)
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "a"), "--no-progress", "--scheduler", address])
    assert res.exit_code == 0, res.output
    assert res.output.count("reusing") == 3 and "done on the cluster" not in res.output
    res = runner.invoke(app, ["semiclassical", "--help"])
    assert "--scheduler" not in res.output      # a study that cannot run on a cluster has no such flag
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "c"), "--scheduler", address,
                              "--dask-workers", "2"])
    assert res.exit_code == 2 and "not both" in res.output
