"""Report defects, each checked on the drawn figures (captured as matplotlib objects) or the HTML."""

import json

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield import pipeline
from qmeanfield.config import parse_config
from qmeanfield.report import comparison as report_comparison
from qmeanfield.report import sweep as report_sweep

CONFIG = {
    "name": "reports",
    "model": {"h": "0.5*sx + 0.3*sz", "V": {"random_seed": 3}, "jumps": ["sqrt(0.2)*sm"]},
    "initial": {"state": "bloch", "bloch": [0.3, 0.1, 0.5]},
    "run": {"N": [2, 3, 4], "t_final": 0.8, "n_times": 5, "entropy_identity": False},
}


def _capture(monkeypatch, module):
    """The figures a report module saves, by file name."""
    figures = {}
    real = module.save_png

    def keep(fig, path):
        figures[path.name] = fig
        return real(fig, path)

    monkeypatch.setattr(module, "save_png", keep)
    return figures


def test_no_empty_identity_panel_when_the_identity_was_not_computed(tmp_path, monkeypatch):
    figures = _capture(monkeypatch, report_comparison)
    summary = pipeline.run_to_directory(parse_config(CONFIG), tmp_path / "out")
    # the summary returned is read-only at every level, and summary.json is its JSON text
    assert summary.study == "compare" and summary["name"] == "reports"
    with pytest.raises(TypeError):
        summary["N"] = [1]
    with pytest.raises(TypeError):
        summary["per_N"][0]["N"] = 1
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == json.loads(summary.to_json())
    assert summary.to_dict()["N"] == [2, 3, 4]
    ax = figures["entropy_identity.png"].axes[0]
    assert ax.get_legend() is None and not ax.lines
    assert any("not computed" in t.get_text() for t in ax.texts)


def test_sweep_panels_have_their_own_titles_and_labels(tmp_path, monkeypatch):
    from qmeanfield.sweep import LocalBackend, sweep

    figures = _capture(monkeypatch, report_sweep)
    data = {**{k: v for k, v in CONFIG.items() if k != "run"}, "parameters": {"g": 0.5},
            "model": {"h": "0.5*sx + 0.3*sz", "V": "g*kron(sz, sz)"}, "run": {"N": [2, 3], "t_final": 0.5,
                                                                               "n_times": 3},
            "sweep": {"g": [0.25, 1.0]}}
    sweep(data, tmp_path / "out", backend=LocalBackend(1))
    axes = figures["sweep.png"].axes
    titles = [ax.get_title() for ax in axes]
    assert len(set(titles)) == len(titles) == 3 and all(titles)
    assert "max_t H_N" in titles[0] and "N = 3" in titles[0]
    assert all(ax.get_ylabel() for ax in axes)


def test_a_certificate_without_exact_values_has_no_empty_columns(tmp_path):
    cfg = parse_config({**CONFIG, "model": {"h": "0.5*sx + 0.3*sz", "V": {"random_seed": 3}}})
    pipeline.certify_to_directory(cfg, tmp_path / "out", exact=False)
    page = (tmp_path / "out" / "certificate.html").read_text()
    assert "exact H_N(t_final)" not in page and "bound alone" in page


def test_the_landing_page_claims_no_limit_from_a_poor_fit():
    from qmeanfield.report.landing import _headline

    summary = {"N": [2, 3, 4], "per_N": [{"N": 4, "engine": "symmetric", "relative_entropy_final": 0.4,
                                           "trace_distance_k1_max": 0.1}],
               "relative_entropy_limit_at_t_final": {"limit": 0.4411, "limit_ci": 0.136, "poor": True}}
    text = _headline(summary)
    assert "0.4411" not in text and "poor" in text
    summary["relative_entropy_limit_at_t_final"]["poor"] = False
    assert "0.4411" in _headline(summary)


def test_semiclassical_report_tables_fit_and_plots_are_readable(tmp_path, monkeypatch):
    """The problem table names f0 by its parameters (no repr dump); the headline table has at most
    7 columns; W2 against hbar labels its hbar values; the chain plot has a y label and leaves the
    round-off at t = 0 out of its log axis."""
    import re

    from qmeanfield.report import semiclassical as report_semiclassical
    from qmeanfield.semiclassical.config import parse_semiclassical

    figures = _capture(monkeypatch, report_semiclassical)
    cfg = parse_semiclassical({"name": "tiny", "semiclassical": {
        "hbar": [0.4, 0.2], "t_final": 0.5, "n_times": 3, "cells": [64, 64], "emd_cells": 0, "w2_cells": 32,
        "initial": {"kind": "hmf_thermal", "temperature": 0.25, "amplitude": 0.05},
        "chain": {"hbar": 1.0, "modes": 2, "N": [2, 3]}}})
    pipeline.semiclassical_to_directory(cfg, tmp_path / "out")
    page = (tmp_path / "out" / "semiclassical.html").read_text()
    assert "InitialData(" not in page and "hmf_thermal: temperature = 0.25" in page
    for table in re.findall(r"<table>(.*?)</table>", page, flags=re.S):
        first_row = table.split("</tr>")[0]
        assert first_row.count("<th>") <= 7, first_row
    labels = [t.get_text() for t in figures["w2_vs_hbar.png"].axes[0].get_xticklabels()]
    assert {"0.4", "0.2"} <= set(labels)
    chain_ax = figures["chain.png"].axes[0]
    assert chain_ax.get_ylabel() and chain_ax.get_ylim()[0] > 1e-12


def test_observables_from_toml_are_stored_drawn_and_listed(tmp_path, monkeypatch):
    """[run] observables = ["jz", "sx + sz"]: the Dataset holds them over `observable` (labels as
    given), the report draws them and the manifest lists the plot; a bad one is refused naming it."""
    figures = _capture(monkeypatch, report_comparison)
    data = {**CONFIG, "run": {**CONFIG["run"], "observables": ["jz", "sx + sz"]}}
    out = tmp_path / "out"
    pipeline.run_to_directory(parse_config(data), out)
    ds = qmf.load_dataset(out / "results.nc")
    assert list(ds.observable.values) == ["jz", "sx + sz"]
    assert ds.observable_mean.dims == ("N", "observable", "time")
    np.testing.assert_allclose(ds.observable_mean.sel(observable="jz").values[:, 0],
                               ds.observable_meanfield.sel(observable="jz").values[0], atol=1e-12)  # product at t = 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert "observables.png" in manifest["files"] and "squeezing.png" in manifest["files"]   # qubits
    assert len(figures["observables.png"].axes) == 4
    ax = figures["squeezing.png"].axes[0]
    assert len(ax.lines) == len(ds.N) + 2 and ax.get_yscale() == "log"   # each N, the mean field, the line at 1
    with pytest.raises(qmf.ConfigError, match="run.observables"):
        parse_config({**CONFIG, "run": {**CONFIG["run"], "observables": ["jz", "3"]}})
