"""Stored results are verified before reuse; writes are atomic and complete runs carry a manifest."""

import json
import os
import stat

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield import pipeline, store, studies
import qmeanfield.studies.comparison  # noqa: F401  (patched by tests)
from qmeanfield.config import parse_config

CONFIG = {
    "name": "store-test",
    "model": {"h": "0.5*sx + 0.3*sz", "V": {"random_seed": 3}},
    "initial": {"state": "bloch", "bloch": [0.3, 0.1, 0.5]},
    "run": {"N": [2, 3, 4], "t_final": 0.8, "n_times": 5},
}


@pytest.fixture
def cfg():
    return parse_config(CONFIG)


@pytest.fixture
def reference(cfg, tmp_path_factory):
    """An uninterrupted run's results.nc, read back."""
    out = tmp_path_factory.mktemp("ref")
    pipeline.run_to_directory(cfg, out)
    return store.load_dataset(out / "results.nc")


def _partials(out):
    return {p.name: p for p in (out / ".partial").rglob("N*.nc")}


def _flip_byte(p):
    """Flip one byte inside the stored values of relative_entropy (the data, not padding)."""
    values = store.load_dataset(p).relative_entropy.values
    data = bytearray(p.read_bytes())
    i = bytes(data).find(np.ascontiguousarray(values[0, 1:]).tobytes())
    assert i >= 0
    data[i + 3] ^= 0x10
    p.write_bytes(bytes(data))


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])


def _empty(p):
    p.write_bytes(b"")


def _garbage(p):
    p.write_bytes(b"not a netCDF file\n" * 50)


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _empty, _garbage])
def test_damaged_cache_file_is_detected_and_recomputed(cfg, reference, tmp_path, damage):
    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    damage(_partials(out)["N3.nc"])
    messages = []
    pipeline.run_to_directory(cfg, out, log=messages.append)
    assert any("N = 3" in m and "recomputing" in m for m in messages), messages
    assert sum("reusing" in m for m in messages) == 2
    ds = store.load_dataset(out / "results.nc")
    timing = ["wall_seconds"]  # wall times differ between runs; every number computed must not
    assert store.content_checksum(ds.drop_vars(timing)) == store.content_checksum(reference.drop_vars(timing))


def test_swapped_cache_file_is_refused(cfg, reference, tmp_path):
    """A file holding another N (cp N2.nc N4.nc) is recognised by its key, never reused."""
    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    parts = _partials(out)
    parts["N4.nc"].write_bytes(parts["N2.nc"].read_bytes())
    messages = []
    pipeline.run_to_directory(cfg, out, log=messages.append)
    assert any("N = 4" in m and "expected" in m for m in messages), messages
    ds = store.load_dataset(out / "results.nc")
    assert list(ds.N.values) == [2, 3, 4]
    np.testing.assert_array_equal(ds.relative_entropy.values, reference.relative_entropy.values)


def test_load_verifies_checksum_and_key(tmp_path, qubit_closed, rho_qubit):
    ds = qmf.compare(qubit_closed, rho_qubit, N=[2], times=[0.0, 0.5])
    p = tmp_path / "a.nc"
    store.save_dataset(ds, p, key="abc")
    back = store.load_dataset(p, key="abc")
    np.testing.assert_array_equal(back.one_body_marginal.values, ds.one_body_marginal.values)  # complex round trip
    with pytest.raises(store.StoreError, match="expected"):
        store.load_dataset(p, key="other")
    _flip_byte(p)
    with pytest.raises(store.StoreError, match="checksum"):
        store.load_dataset(p)


def test_any_flipped_byte_is_detected_or_harmless(tmp_path, qubit_closed, rho_qubit):
    """A byte flipped anywhere either makes the load fail or leaves the content unchanged."""
    ds = qmf.compare(qubit_closed, rho_qubit, N=[2], times=[0.0, 0.5])
    p = tmp_path / "a.nc"
    store.save_dataset(ds, p)
    good = p.read_bytes()
    reference = store.content_checksum(store.load_dataset(p))
    for i in np.linspace(0, len(good) - 1, 60).astype(int):
        bad = bytearray(good)
        bad[i] ^= 0x04
        p.write_bytes(bytes(bad))
        try:
            back = store.load_dataset(p)
        except store.StoreError:
            continue
        assert store.content_checksum(back) == reference, f"byte {i}"


def test_mixed_engine_names_survive_a_resumed_run(tmp_path):
    """Reused parts carry netCDF string encodings; the consolidated file must not truncate names."""
    data = {**CONFIG, "model": {**CONFIG["model"], "jumps": ["0.3*sm"]}, "run": {**CONFIG["run"], "N": [2, 5]}}
    out = tmp_path / "out"
    pipeline.run_to_directory(parse_config(data), out)
    pipeline.run_to_directory(parse_config(data), out)   # everything reused
    engines = list(store.load_dataset(out / "results.nc").engine.values)
    assert engines == ["dense", "permutational"]


def test_manifest_lists_complete_outputs_and_files_honour_the_umask(cfg, tmp_path):
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        pipeline.run_to_directory(cfg, out)
    finally:
        os.umask(old)
    manifest = json.loads((out / store.MANIFEST).read_text())
    assert manifest["complete"] and "results.nc" in manifest["files"]
    for rel, entry in manifest["files"].items():
        assert store.file_checksum(out / rel) == entry["sha256"]
    assert stat.S_IMODE((out / "results.nc").stat().st_mode) == 0o644


def test_failed_report_leaves_the_run_visibly_incomplete(cfg, tmp_path, monkeypatch):
    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    assert store.read_manifest(out) is not None
    def broken(*args, **kwargs):
        raise RuntimeError("report failed")

    monkeypatch.setattr(studies.comparison, "write_report", broken)
    with pytest.raises(RuntimeError):
        pipeline.run_to_directory(cfg, out)
    assert store.read_manifest(out) is None


def test_output_folder_checked_before_computing(cfg, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(studies.comparison, "compare", lambda *a, **k: calls.append(1))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(store.StoreError, match="not a folder"):
        pipeline.run_to_directory(cfg, a_file / "x")
    with pytest.raises(store.StoreError, match="not a folder"):
        pipeline.run_to_directory(cfg, a_file)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(store.StoreError, match="cannot write"):
            pipeline.run_to_directory(cfg, ro)
    assert calls == []


# ----------------------------------------------------------------------------- folders, locks, disks

def test_a_steering_attribute_is_covered_by_the_checksum(cfg, tmp_path):
    """Editing complex_part of a stored imaginary part (it decides how the file is read back) is
    detected and the part recomputed, never reused with R^(1) off."""
    import netCDF4

    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    part = _partials(out)["N3.nc"]
    with netCDF4.Dataset(part, "a") as f:
        f.variables["one_body_marginal_imag"].setncattr("complex_part", "real")
    messages = []
    pipeline.run_to_directory(cfg, out, log=messages.append)
    assert any("N = 3" in m and "recomputing" in m for m in messages), messages


def test_a_folder_qmeanfield_did_not_write_is_refused_without_force(cfg, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.nc").write_text("a user's file")
    with pytest.raises(store.StoreError, match="did not write.*--force"):
        pipeline.run_to_directory(cfg, out)
    assert (out / "results.nc").read_text() == "a user's file"
    pipeline.run_to_directory(cfg, out, force=True)
    assert store.read_manifest(out) is not None
    pipeline.run_to_directory(cfg, out)           # its own folder now: no force needed


def test_a_folder_in_use_is_refused_and_a_stale_lock_taken_over(cfg, tmp_path):
    import socket
    import subprocess
    import sys

    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / store.LOCK).write_text(f"{sleeper.pid} {socket.gethostname()}")
        with pytest.raises(store.StoreError, match=f"in use by process {sleeper.pid}"):
            pipeline.run_to_directory(cfg, out)
    finally:
        sleeper.kill()
        sleeper.wait()
    pipeline.run_to_directory(cfg, out)           # the holder died: its lock is stale
    assert not (out / store.LOCK).exists()


def test_two_runs_into_one_folder_do_not_mix(cfg, tmp_path, monkeypatch):
    """While one run computes, a second into the same folder is refused (the lock is held)."""
    out = tmp_path / "out"
    seen = []
    real = studies.comparison.compare

    def compare_and_intrude(*args, **kwargs):
        if not seen:
            seen.append(1)
            with pytest.raises(store.StoreError, match="in use"):
                pipeline.run_to_directory(cfg, out)
        return real(*args, **kwargs)

    monkeypatch.setattr(studies.comparison, "compare", compare_and_intrude)
    pipeline.run_to_directory(cfg, out)
    assert seen and store.read_manifest(out) is not None


def test_a_full_disk_is_one_line(cfg, tmp_path, monkeypatch):
    """No space left (ENOSPC from the rename): a StoreError naming the file; what was written stays valid."""
    import errno

    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    real = os.replace

    def full(src, dst):
        if str(dst).endswith("summary.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(store.StoreError, match="summary.json: No space left"):
        pipeline.run_to_directory(cfg, out)
    monkeypatch.setattr(os, "replace", real)
    store.load_dataset(out / "results.nc")
    assert not list(out.glob("*.tmp"))


@pytest.mark.parametrize("obstacle", ["part is a folder", "partial is a file", "report is a folder"])
def test_something_in_the_way_is_one_line(cfg, tmp_path, obstacle):
    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    key = next((out / ".partial").iterdir()).name
    if obstacle == "part is a folder":
        part = out / ".partial" / key / "N3.nc"
        part.unlink()
        part.mkdir()
    elif obstacle == "partial is a file":
        import shutil

        shutil.rmtree(out / ".partial")
        (out / ".partial").write_text("x")
    else:
        (out / "report.html").unlink()
        (out / "report.html").mkdir()
    with pytest.raises(store.StoreError):
        pipeline.run_to_directory(cfg, out)


def test_a_partial_link_leading_outside_is_refused_and_stale_temporaries_removed(cfg, tmp_path):
    out = tmp_path / "out"
    pipeline.run_to_directory(cfg, out)
    stale = out / "results.nc.abc123.tmp"
    stale.write_text("left by a killed write")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    import shutil

    shutil.rmtree(out / ".partial")
    (out / ".partial").symlink_to(outside)
    with pytest.raises(store.StoreError, match="outside the output folder"):
        pipeline.run_to_directory(cfg, out)
    assert not stale.exists() and not list(outside.iterdir())
