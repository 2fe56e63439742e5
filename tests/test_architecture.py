"""The layout's rules, checked on the source: no private names across modules, one-way imports,
results that cannot be mutated by accident, reports that leave matplotlib's backend alone."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.operators import random_interaction

SRC = Path(qmf.__file__).parent

#: layers from the bottom up; a module may import only from its own layer or below
LAYERS = [
    {"errors", "_checks", "_parallel", "operators", "expressions", "progress", "estimates"},
    {"model", "states"},
    {"diagnostics", "blocks", "propagators", "meanfield"},
    {"engines", "certificate"},
    {"results"},
    {"api", "store", "config", "correlations"},
    {"report", "pipeline", "interop", "semiclassical", "sweep", "studies"},
    {"cli", "__init__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        yield rel, ast.parse(path.read_text())


def _top(rel: Path) -> str:
    return rel.parts[0].removesuffix(".py")


def _imported(rel: Path, node: ast.ImportFrom) -> str | None:
    """The top-level package module an ``from . import`` statement refers to (None if external)."""
    if node.level == 0:
        mod = node.module or ""
        return mod.split(".")[1] if mod.startswith("qmeanfield.") else None
    base = list(rel.parts[:-1])
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    parts = base + (node.module.split(".") if node.module else [])
    return parts[0] if parts else None


def test_no_module_imports_another_modules_private_names():
    bad = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("qmeanfield")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        # importing a private *module* (a file) is allowed; a private name from a module is not
                        target = SRC.joinpath(*rel.parts[:-1], *(node.module or "").split("."), alias.name)
                        if not (target.with_suffix(".py").exists() or target.is_dir()):
                            bad.append(f"{rel}:{node.lineno} imports {alias.name}")
    assert not bad, bad


def test_imports_flow_one_way():
    bad = []
    for rel, tree in _modules():
        me = _top(rel)
        if me not in LAYER:
            bad.append(f"{rel}: module not placed in a layer of this test")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                other = _imported(rel, node)
                names = [a.name for a in node.names] if other is None and node.level == 1 and not node.module else []
                for target in ([other] if other else names):
                    if target in LAYER and LAYER[target] > LAYER[me]:
                        bad.append(f"{rel}:{node.lineno} imports {target} (a higher layer)")
    assert not bad, bad


def test_trajectory_is_immutable(qubit_closed, rho_qubit):
    traj = qmf.engines.DenseEngine().evolve(qubit_closed, rho_qubit, 2, np.array([0.0, 0.3]))
    with pytest.raises(Exception):
        traj.N = 3
    with pytest.raises(ValueError):
        traj.entropy[0] = 1.0
    with pytest.raises(ValueError):
        traj.marginals[1][0, 0, 0] = 1.0
    with pytest.raises(TypeError):
        traj.marginals[1] = None


def test_report_import_keeps_the_matplotlib_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import qmeanfield.report, qmeanfield.pipeline;"
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


@pytest.mark.parametrize("options, message", [({"memory_budget_gb": -1}, "memory_budget_gb"),
                                              ({"memory_budget_gb": float("nan")}, "memory_budget_gb"),
                                              ({"memory_budget_gb": "abc"}, "memory_budget_gb")])
@pytest.mark.parametrize("name", ["dense", "symmetric", "permutational"])
def test_engine_options_checked_at_construction(name, options, message):
    with pytest.raises(qmf.EngineError, match=message):
        qmf.engines.make_engine(name, **options)


def test_one_sign_convention_for_fitted_exponents():
    """Every fitted exponent is the log-log slope: -0.5 for N^-1/2, in fits, summaries and attributes."""
    from qmeanfield.diagnostics import fit_power_law

    N = np.array([4.0, 8, 16, 32])
    fit = fit_power_law(N, 2.0 * N**-0.5)
    assert fit.exponent == pytest.approx(-0.5, abs=1e-12) and fit.prefactor == pytest.approx(2.0)
    ds = qmf.certificate_scaling(qmf.Model(h=np.array([[0, 1], [1, 0]]), V=random_interaction(2, seed=1)),
                                 np.diag([0.7, 0.3]),
                                 4, [0.0, 0.5], V_scales=(0.5, 1.0, 2.0), hbars=(1.0,))
    direct = fit_power_law(ds.V_scale.values, ds.bound.values[:, 0, -1])
    assert ds.attrs["exponent_V"] == pytest.approx(direct.exponent) and direct.exponent > 0  # bound grows with V


#: calls that read or write files; only store.py may make them
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink", "rmdir", "touch",
              "rename", "exists", "is_file", "is_dir", "stat", "glob", "rglob", "savefig", "to_netcdf",
              "open_dataset", "mkstemp", "chmod", "remove", "listdir", "scandir", "rmtree"}


def test_only_store_touches_files():
    """No module but store.py calls a file-system function (open, read_text, mkdir, exists,
    savefig into a path, to_netcdf, ...): every read and write is atomic, verified and in one place."""
    bad = []
    for rel, tree in _modules():
        if rel.as_posix() == "store.py":
            continue
        from_store = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                      and (node.module or "").split(".")[-1] == "store" for a in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
                if isinstance(fn, ast.Name) and name in from_store:
                    continue   # store.py's own function of that name
                if name in FILE_CALLS:
                    # savefig into an in-memory buffer is not file access
                    if name == "savefig" and node.args and isinstance(node.args[0], ast.Name) \
                            and node.args[0].id == "buf":
                        continue
                    bad.append(f"{rel}:{node.lineno} calls {name}")
    assert not bad, bad


def test_file_check_sees_a_violation():
    """The check above is not vacuous: it flags a module that opens a file."""
    tree = ast.parse("from pathlib import Path\nPath('x').write_text('y')\nopen('z')\n")
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert {"write_text", "open"} <= calls & FILE_CALLS


def test_every_registered_engine_and_study_implements_its_protocol():
    """Engines implement supports, cost, estimate and evolve (estimates come from the engine, no
    table keyed by name); studies implement the study protocol (plan, run, summarize, report, ...)."""
    from qmeanfield.engines import REGISTRY, Engine
    from qmeanfield.studies import STUDIES, Study

    for name, cls in REGISTRY.items():
        for method in ("supports", "cost", "estimate", "evolve"):
            assert callable(getattr(cls, method, None)), f"engine {name} lacks {method}"
        assert isinstance(cls(), Engine)
    for name, cls in STUDIES.items():
        study = cls()
        assert isinstance(study, Study) and study.name == name
        assert study.outputs.dataset.endswith(".nc") and study.outputs.report.endswith(".html")


def test_every_study_is_a_command_with_all_its_options():
    """The CLI registers one command per study from its `Command`: every option field of the study
    is a flag of that command (a new option cannot be forgotten on the command line)."""
    from dataclasses import fields

    from typer.testing import CliRunner

    from qmeanfield.cli import app
    from qmeanfield.studies import STUDIES

    runner = CliRunner()
    for name, cls in STUDIES.items():
        spec = cls.command
        option_fields = {f.name for f in fields(cls)} - {"name", "outputs", "headline"}
        assert {o.field for o in spec.options} == option_fields, name
        res = runner.invoke(app, [spec.verb, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        for o in spec.options:
            assert "--" + o.field.replace("_", "-") in res.output, (name, o.field)


def test_comparison_variables_are_declared_once():
    """Every per-N variable of compare's Dataset is a row of COMPARISON_VARIABLES and a field of
    Measurement of the same name (and nothing else is): adding a diagnostic touches the measure
    function, this table and, if drawn, the report."""
    from dataclasses import fields

    from qmeanfield.api import COMPARISON_VARIABLES, Measurement

    declared = {v.name for v in COMPARISON_VARIABLES}
    assert declared == {f.name for f in fields(Measurement)} - {"infinite_reason"}
    ds = qmf.compare(qmf.Model(h=np.array([[0, 1], [1, 0]]), V=random_interaction(2, seed=1)), np.diag([0.7, 0.3]),
                     [2, 3], [0.0, 0.5], two_body=True, observables=["jz"])
    per_N = {name for name, v in ds.data_vars.items() if "N" in v.dims}
    assert per_N == declared
    for var in COMPARISON_VARIABLES:
        assert ds[var.name].dims == ("N", *var.dims)


def test_import_is_light():
    """``import qmeanfield`` loads neither SciPy, xarray, matplotlib nor Dask (the verbs load them
    on first use), and the lazy names resolve."""
    code = ("import sys, qmeanfield as qmf; heavy = [m for m in ('scipy', 'xarray', 'matplotlib', 'dask', 'netCDF4') "
            "if m in sys.modules]; print(heavy); assert callable(qmf.compare) and qmf.StoreError and qmf.engines")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_docstrings_are_markdown():
    """The reference renders docstrings as Markdown (mkdocstrings, arithmatex): no reStructuredText
    role (:math:, :func:, ...) or directive (.. math::) is left in a docstring, where it would show
    verbatim."""
    import re

    rst = re.compile(r":(math|func|class|meth|mod|data|attr|obj):`|^\s*\.\. math::", re.M)
    bad = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc and rst.search(doc):
                    bad.append(f"{rel}:{getattr(node, 'lineno', 1)} {getattr(node, 'name', '<module>')}")
    assert not bad, bad
