"""Bad input gives a clear qmeanfield error naming the field, never a deep numpy traceback."""

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield import config as io
from qmeanfield.errors import ConfigError, EngineError, ModelError, StateError
from qmeanfield.operators import pauli, random_interaction

P = pauli()
H = 0.5 * P["x"]
V = random_interaction(2, seed=0)

MODEL_CASES = [
    (dict(h=np.array([[0, 1], [0, 0]]), V=V), ModelError, "h is not Hermitian"),
    (dict(h=H, V=np.kron(P["x"], P["z"])), ModelError, "swap-symmetric"),
    (dict(h=H, V=V + 1j * np.triu(np.ones((4, 4)))), ModelError, "V is not Hermitian"),
    (dict(h=H, V=np.eye(3)), ModelError, r"V must have shape \(d\^2, d\^2\)"),
    (dict(h=np.ones((2, 3)), V=V), ModelError, "h must be a square matrix"),
    (dict(h=[[1]], V=[[1]]), ModelError, "at least 2 x 2"),
    (dict(h=H, V=V, jumps=[np.eye(3)]), ModelError, r"jumps\[0\] must have shape \(2, 2\)"),
    (dict(h=H, V=V, jumps=P["x"]), ModelError, "list"),
    (dict(h=H, V=V, hbar=0.0), ModelError, "hbar must be a positive"),
    (dict(h=H, V=V, hbar=-1), ModelError, "hbar"),
    (dict(h=H, V=V, coupling="1/N^2"), ModelError, "coupling must be one of"),
    (dict(h=[[1, "a"], [0, 1]], V=V), ModelError, "numeric matrix"),
    (dict(h=np.array([[np.nan, 0], [0, 1]]), V=V), ModelError, "NaN"),
]


@pytest.mark.parametrize("kwargs, error, message", MODEL_CASES)
def test_model_rejects(kwargs, error, message):
    with pytest.raises(error, match=message):
        qmf.Model(**kwargs)


def test_symmetrize_swap_fixes_asymmetric_V():
    W = np.kron(P["x"], P["z"])
    model = qmf.Model(h=H, V=qmf.operators.symmetrize_swap(W))
    S = qmf.operators.swap(2)
    np.testing.assert_allclose(S @ model.V @ S, model.V)


def test_model_is_immutable():
    model = qmf.Model(h=H, V=V)
    with pytest.raises(Exception):
        model.hbar = 2.0
    with pytest.raises(ValueError):
        model.h[0, 0] = 5.0


STATE_CASES = [
    (np.eye(2), "trace one"),
    (np.diag([1.5, -0.5]), "not positive"),
    (np.array([[0.5, 0.5], [0, 0.5]]), "not Hermitian"),
    (np.eye(3) / 3, r"shape \(2, 2\)"),
]


@pytest.mark.parametrize("rho, message", STATE_CASES)
def test_bad_initial_state(rho, message):
    model = qmf.Model(h=H, V=V)
    with pytest.raises(StateError, match=message):
        qmf.compare(model, rho, N=[2], times=[0, 1])


def test_N_too_large_for_engine_names_estimate():
    model = qmf.Model(h=H, V=V)
    with pytest.raises(EngineError, match=r"needs about .* GiB .* memory budget"):
        qmf.compare(model, np.eye(2) / 2, N=[2, 30], times=[0, 1], engine="dense")
    with pytest.raises(EngineError, match="memory budget"):
        qmf.compare(model, np.eye(2) / 2, N=[12], times=[0, 1], engine="dense",
                    engine_options={"memory_budget_gb": 0.01})


@pytest.mark.parametrize("engine, message", [("magic", "unknown engine"), ("symmetric", "closed systems only")])
def test_unknown_or_unsupported_engine(engine, message):
    open_model = qmf.Model(h=H, V=V, jumps=[np.array([[0, 1], [0, 0]])])
    with pytest.raises(EngineError, match=message):
        qmf.compare(open_model, np.eye(2) / 2, N=[2], times=[0, 1], engine=engine)


def test_unknown_engine_option_refused():
    model = qmf.Model(h=H, V=V)
    with pytest.raises(EngineError, match="does not accept"):
        qmf.compare(model, np.eye(2) / 2, N=[2], times=[0, 1], engine="dense", engine_options={"tolerance": 1})


@pytest.mark.parametrize("N, marginals, message", [([1], (1,), "N must contain integers >= 2"),
                                                   ([2.5], (1,), "integers"), ([], (1,), "non-empty"),
                                                   ([2], (4,), "marginals"), ([2, 2], (1,), "duplicates")])
def test_bad_compare_arguments(N, marginals, message):
    model = qmf.Model(h=H, V=V)
    with pytest.raises(qmf.QMeanFieldError, match=message):
        qmf.compare(model, np.eye(2) / 2, N=N, times=[0, 1], marginals=marginals)


BASE = """
[model]
h = "0.5*sx"
V = "kron(sz, sz)"
[run]
N = [2, 3]
"""

CONFIG_CASES = [
    ("[model\nh = 1", "not valid TOML"),
    (BASE.replace('"0.5*sx"', '"0.5*sq"'), "unknown name 'sq'"),
    (BASE.replace('"0.5*sx"', '"sx.conj()"'), "no attribute access"),
    (BASE.replace('"0.5*sx"', '"__import__(1)"'), "function '__import__' is not allowed"),
    (BASE.replace('"0.5*sx"', '"getattr(sx, 1)"'), "function 'getattr' is not allowed"),
    (BASE.replace('"0.5*sx"', '"sx[0]"'), "Subscript is not allowed"),
    (BASE.replace('"0.5*sx"', '"[sx for _ in sx]"'), "ListComp is not allowed"),
    (BASE.replace('"0.5*sx"', '"(lambda: sx)()"'), "only plain function calls"),
    (BASE.replace('"0.5*sx"', '"sx + 1"'), "cannot add a number and a matrix"),
    (BASE.replace('"0.5*sx"', '"kron(sx, sx)"'), r"model.h must be 2 x 2"),
    (BASE.replace('"0.5*sx"', '"0.5*sy*sx"'), r"\[model\] h is not Hermitian"),
    (BASE.replace('"kron(sz, sz)"', '"kron(sx, sz)"'), "swap-symmetric"),
    (BASE + "engine = 3\n", "run.engine"),
    (BASE + "colour = 'red'\n", r"unknown key\(s\) \['colour'\]"),
    (BASE.replace("N = [2, 3]", "N = [1, 3]"), "run.N"),
    (BASE.replace("N = [2, 3]", "N = [2]\nn_times = 1"), "n_times must be in 2.."),
    ("[run]\nN=[2]", r"missing section \[model\]"),
    (BASE + "[initial]\nstate = 'explicit'\nmatrix = {re = [[1, 0], [0, 1]]}\n", "trace one"),
    (BASE + "[initial]\nstate = 'bloch'\nbloch = [1, 1, 0]\n", "length"),
    (BASE + "[initial]\nstate = 'squeezed'\n", "initial.state must be one of"),
    (BASE.replace("[run]", "hbar = -1\n[run]"), "model.hbar must be > 0"),
]


@pytest.mark.parametrize("text, message", CONFIG_CASES)
def test_bad_config(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        io.load_config(p)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        io.load_config(tmp_path / "nope.toml")


def test_auto_refuses_option_no_engine_accepts():
    model = qmf.Model(h=H, V=V)
    with pytest.raises(EngineError, match="no engine accepts"):
        qmf.compare(model, np.eye(2) / 2, N=[2], times=[0, 1], engine_options={"colour": 1})


@pytest.mark.parametrize("extra, message", [("[engine]\nworkers = 0\n", r"\[engine\] workers must be a positive"),
                                            ("[engine]\ntruncation = 2\n", r"\[engine\] truncation must be in \(0, 1\)"),
                                            ("[engine]\nspeed = 2\n", "unknown key"),
                                            ("entropy_identity = 'yes'\n", "entropy_identity")])
def test_bad_engine_section(tmp_path, extra, message):
    p = tmp_path / "c.toml"
    p.write_text(BASE + extra)
    with pytest.raises(ConfigError, match=message):
        io.load_config(p)


@pytest.mark.parametrize("options, message", [({"workers": 0}, "workers must be"), ({"workers": "many"}, "workers must be"),
                                              ({"truncation": 2.0}, "truncation must be")])
def test_symmetric_engine_options_checked(options, message):
    from qmeanfield.engines import make_engine

    with pytest.raises(EngineError, match=message):
        make_engine("symmetric", **options)
