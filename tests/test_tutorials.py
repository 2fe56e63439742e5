"""The tutorials execute (at small sizes), so they cannot rot."""

import os
import runpy
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, monkeypatch):
    monkeypatch.setenv("QMF_TUTORIAL_SMALL", "1")
    runpy.run_path(str(path), run_name="__main__")


def test_every_tutorial_has_a_page():
    for path in TUTORIALS:
        assert path.with_suffix(".md").exists(), path
    assert os.path.exists(TUTORIALS[0].parents[1] / "index.md")
