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
