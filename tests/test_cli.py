"""End to end through the command line: files exist, netCDF round-trips, report links work."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import qmeanfield as qmf
from qmeanfield import config as configuration, store
from qmeanfield.cli import app

runner = CliRunner()

CONFIG = """
name = "tiny"
description = "two qubits and three, open"
[model]
h = "0.5*sx + 0.3*sz"
V = { random_seed = 3 }
jumps = ["sqrt(0.2)*sm", "0.2*(sm + 0.5*sz)"]
[initial]
state = "bloch"
bloch = [0.3, 0.1, 0.5]
[run]
N = [2, 3]
t_final = 1.0
n_times = 6
marginals = [1, 2]
"""


@pytest.fixture
def config(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(CONFIG)
    return p


def test_run_writes_everything(config, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(config), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    for name in ("results.nc", "summary.json", "report.html", "relative_entropy.png", "trace_distance.png",
                 "relative_entropy_vs_N.png", "entropy_identity.png", "marginal_rate.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.tmp"))  # atomic writes leave nothing behind

    ds = store.load_dataset(out / "results.nc")
    cfg = configuration.load_config(config)
    direct = qmf.compare(cfg.model, cfg.rho0, cfg.N, cfg.times)
    np.testing.assert_allclose(ds.relative_entropy, direct.relative_entropy, rtol=1e-10)
    np.testing.assert_allclose(ds.one_body_marginal, direct.one_body_marginal, atol=1e-12)
    assert np.iscomplexobj(ds.meanfield_state.values)
    assert list(ds.engine.values) == ["dense", "dense"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["N"] == [2, 3]
    assert all(row["dissipation_min"] >= -1e-8 for row in summary["per_N"])

    html = (out / "report.html").read_text()
    links = re.findall(r"href='([^']+)'", html)
    assert "results.nc" in links and "summary.json" in links
    for link in links:
        assert (out / link).exists(), link
    assert html.count("data:image/png;base64,") == 5       # no observables asked: no observables/squeezing plots
    assert "two qubits and three" in html


def test_validate(config):
    res = runner.invoke(app, ["validate", str(config)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output and "N = 3: dense, ~" in res.output and "estimated total" in res.output


def test_bad_config_is_a_clean_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(CONFIG.replace('"0.5*sx + 0.3*sz"', '"__import__(1)"'))
    for cmd in (["validate", str(p)], ["run", str(p), "--out", str(tmp_path / "o")]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2
        assert "error" in res.output and "not allowed" in res.output
        assert "Traceback" not in res.output


def test_help_everywhere():
    for cmd in ([], ["run"], ["demo"], ["validate"]):
        res = runner.invoke(app, cmd + ["--help"])
        assert res.exit_code == 0 and "Usage" in res.output


def test_demo_quick(tmp_path):
    res = runner.invoke(app, ["demo", "--out", str(tmp_path), "--quick", "--no-progress"])
    assert res.exit_code == 0, res.output
    index = (tmp_path / "report.html").read_text()
    for link in re.findall(r"href='([^']+)'", index):
        assert (tmp_path / link).exists()
    assert (tmp_path / "closed" / "results.nc").exists() and (tmp_path / "open" / "results.nc").exists()


def test_example_configs_are_valid():
    root = Path(__file__).resolve().parents[1]
    from qmeanfield.semiclassical.config import load_semiclassical

    for p in sorted((root / "examples").glob("*.toml")) + sorted((root / "src/qmeanfield/examples").glob("*.toml")):
        if "[semiclassical]" in p.read_text():
            load_semiclassical(p)
        elif "[sweep]" in p.read_text():
            from qmeanfield.sweep import load_sweep_config

            assert not load_sweep_config(p).refused
        else:
            configuration.load_config(p)


def test_interrupted_run_resumes_and_extends(config, tmp_path, monkeypatch):
    """A run killed after N = 2 resumes from its saved part; adding N reuses what was computed."""
    import qmeanfield.studies.comparison
    from qmeanfield import pipeline, studies

    out = tmp_path / "out"
    cfg = configuration.load_config(config)
    real_compare = studies.comparison.compare
    calls = []

    def flaky(model, rho0, N, *args, **kwargs):
        calls.append(N[0])
        if N[0] == 3:
            raise KeyboardInterrupt
        return real_compare(model, rho0, N, *args, **kwargs)

    monkeypatch.setattr(studies.comparison, "compare", flaky)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_to_directory(cfg, out)
    assert not (out / "results.nc").exists()
    monkeypatch.setattr(studies.comparison, "compare", lambda *a, **k: calls.append(a[2][0]) or real_compare(*a, **k))
    calls.clear()
    pipeline.run_to_directory(cfg, out)
    assert calls == [3]  # N = 2 was read back
    ds = store.load_dataset(out / "results.nc")
    direct = qmf.compare(cfg.model, cfg.rho0, cfg.N, cfg.times)
    np.testing.assert_allclose(ds.relative_entropy, direct.relative_entropy, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ds.meanfield_state, direct.meanfield_state, atol=1e-12)

    calls.clear()
    bigger = configuration.RunConfig(**{**cfg.__dict__, "N": (2, 3, 4)})
    pipeline.run_to_directory(bigger, out)
    assert calls == [4]
    assert list(store.load_dataset(out / "results.nc").N.values) == [2, 3, 4]


def test_no_resume_recomputes(config, tmp_path):
    out = tmp_path / "out"
    for flag in ("--resume", "--no-resume"):
        res = runner.invoke(app, ["run", str(config), "--out", str(out), "--no-progress", flag])
        assert res.exit_code == 0, res.output
    assert "reusing" not in res.output


def test_certify(tmp_path):
    p = tmp_path / "closed.toml"
    p.write_text(CONFIG.replace('jumps = ["sqrt(0.2)*sm", "0.2*(sm + 0.5*sz)"]\n', "").replace("N = [2, 3]", "N = [2, 3, 5]"))
    out = tmp_path / "cert"
    res = runner.invoke(app, ["certify", str(p), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("estimated time ~")
    summary = json.loads((out / "certificate.json").read_text())
    assert all(row["bound_holds"] for row in summary["per_N"])
    ds = store.load_dataset(out / "certificate.nc")
    assert np.all(ds.bound.values >= ds.relative_entropy.values - 1e-10)
    assert {"created_utc", "python", "version_numpy"} <= set(ds.attrs)   # provenance on every study's Dataset
    html = (out / "certificate.html").read_text()
    assert "Theory versus measurement" in html
    for link in re.findall(r"href='([^']+)'", html):
        assert (out / link).exists(), link


def test_certify_open_large_N_with_and_without_exact(tmp_path, config):
    text = config.read_text().replace("N = [2, 3]", "N = [40]")
    p = tmp_path / "open40.toml"
    p.write_text(text)
    res = runner.invoke(app, ["certify", str(p), "--out", str(tmp_path / "a"), "--no-progress"])
    assert res.exit_code == 0, res.output  # exact values from the permutational engine
    summary = json.loads((tmp_path / "a" / "certificate.json").read_text())
    assert summary["per_N"][0]["bound_holds"]
    ds = store.load_dataset(tmp_path / "a" / "certificate.nc")
    assert str(ds.engine.values[0]) == "permutational"
    assert np.all(ds.bound.values >= ds.relative_entropy.values - 1e-10)
    res = runner.invoke(app, ["certify", str(p), "--out", str(tmp_path / "b"), "--no-progress", "--no-exact"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "b" / "certificate.json").read_text())
    assert summary["per_N"][0]["bound_final"] > 0 and "bound_holds" not in summary["per_N"][0]


def test_impossible_N_fails_before_any_work(config, tmp_path):
    p = tmp_path / "big.toml"
    p.write_text(config.read_text().replace("N = [2, 3]", "N = [2, 5000]"))
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 2 and "no engine can run N = 5000" in res.output
    assert not (tmp_path / "o" / ".partial").exists()


def test_steady_command(tmp_path, config):
    p = tmp_path / "steady.toml"
    p.write_text(config.read_text().replace("N = [2, 3]", "N = [3, 6, 12]")
                 .replace('jumps = ["sqrt(0.2)*sm"', 'collective_jumps = ["0.3*sm"]\njumps = ["sqrt(0.2)*sm"'))
    out = tmp_path / "st"
    res = runner.invoke(app, ["steady", str(p), "--out", str(out), "--no-progress", "--gap"])
    assert res.exit_code == 0, res.output
    assert "estimated time ~" in res.output and "N = 12: ~" in res.output   # printed before the work
    summary = json.loads((out / "steady.json").read_text())
    assert summary["N"] == [3, 6, 12] and summary["unique_fixed_point"]
    assert len(summary["iterations"]) == 3 and all(t > 0 for t in summary["wall_seconds"])
    assert all(g > 0 for g in summary["liouvillian_gap"]) and "Liouvillian gap" in (out / "steady.html").read_text()
    assert summary["one_body_distance"][2] < summary["one_body_distance"][0]
    ds = store.load_dataset(out / "steady.nc")
    assert ds.fixed_point_state.shape[1:] == (2, 2)
    assert {"created_utc", "python", "version_numpy"} <= set(ds.attrs)
    html = (out / "steady.html").read_text()
    for link in re.findall(r"href='([^']+)'", html):
        assert (out / link).exists(), link


def test_steady_refuses_closed_model(tmp_path, config):
    p = tmp_path / "closed.toml"
    p.write_text(config.read_text().replace('jumps = ["sqrt(0.2)*sm", "0.2*(sm + 0.5*sz)"]\n', ""))
    res = runner.invoke(app, ["steady", str(p), "--out", str(tmp_path / "x"), "--no-progress"])
    assert res.exit_code == 2 and "open model" in res.output


def test_steady_accepts_a_shared_engine_table(tmp_path, config):
    """Regression: options of other engines in [engine] (truncation) used to crash `steady` with a TypeError."""
    p = tmp_path / "steady.toml"
    p.write_text(config.read_text().replace("N = [2, 3]", "N = [3, 5]")
                 + "[engine]\ntruncation = 1e-9\nworkers = 1\nmemory_budget_gb = 2.0\n")
    out = tmp_path / "st"
    res = runner.invoke(app, ["steady", str(p), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "steady.json").read_text())["N"] == [3, 5]


def test_certificate_file_holds_what_its_report_plots(tmp_path):
    """Regression: the eta-threshold scan drawn in lambda_vs_N.png is stored in certificate.nc, and the
    report can be redrawn from the stored Dataset alone."""
    from qmeanfield.report import write_certificate_report
    from qmeanfield.results import summarize_certificate

    model = qmf.Model(h=0.5 * np.array([[0, 1], [1, 0]]), V=qmf.operators.random_interaction(2, seed=3))
    ds = qmf.certify(model, np.diag([0.7, 0.3]), N=[4, 6], times=np.linspace(0, 0.5, 3), exact=False,
                     threshold_N=[4, 8, 16])
    store.save_dataset(ds, tmp_path / "certificate.nc")
    back = store.load_dataset(tmp_path / "certificate.nc")
    assert back.threshold_lambda_N.shape == (3, back.sizes["threshold_eta"])
    assert list(back.threshold_N.values) == [4, 8, 16] and back.attrs["eta_threshold"] > 0
    summary = summarize_certificate(back)
    assert summary["eta_threshold"]["N"] == (4, 8, 16)
    write_certificate_report(back, summary, tmp_path / "report")
    assert (tmp_path / "report" / "lambda_vs_N.png").stat().st_size > 0


def test_user_text_is_printed_literally(tmp_path):
    """Section names and user text with brackets are not read as terminal markup."""
    p = tmp_path / "bad.toml"
    p.write_text('[model]\nh = "sx"\nV = "kron(sz, sz)"\nfoo = 1\n')
    res = runner.invoke(app, ["validate", str(p)])
    assert res.exit_code == 2 and "[model]: unknown key(s) ['foo']" in res.output
    p.write_text('name = "[/bold]"\n[model]\nh = "sx [/bold]"\nV = "kron(sz, sz)"\n')
    res = runner.invoke(app, ["validate", str(p)])
    assert res.exit_code == 2 and "Traceback" not in res.output and "[/bold]" in res.output


def test_version_flag():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("qmeanfield ")
