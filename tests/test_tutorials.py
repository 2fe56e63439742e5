"""The tutorials execute (at small sizes), so they cannot rot."""

import os
import runpy
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.py"))


@pytest.mark.slow   # `make test` executes every tutorial in its docs build (mkdocs-jupyter, allow_errors: false)
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")          # the notebooks draw figures; here without a display
    monkeypatch.setenv("QMF_TUTORIAL_SMALL", "1")
    runpy.run_path(str(path), run_name="__main__")
    import matplotlib.pyplot as plt

    assert plt.get_fignums(), f"{path.name} draws no figure"
    plt.close("all")


def test_every_tutorial_is_an_executed_page():
    """Each tutorial is in the site's navigation as a notebook page (mkdocs-jupyter executes it
    when the docs are built, so its figures are on the page)."""
    root = TUTORIALS[0].parents[2]
    mkdocs = (root / "mkdocs.yml").read_text()
    assert "mkdocs-jupyter" in mkdocs and "execute: true" in mkdocs
    for path in TUTORIALS:
        assert f"tutorials/{path.name}" in mkdocs, path
    assert os.path.exists(TUTORIALS[0].parents[1] / "index.md")
