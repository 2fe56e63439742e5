"""Property-based fuzzing of the boundaries: the expression language, the TOML loader, Model and
the semiclassical configuration. Anything raised must be a qmeanfield error; no example may take
long. Run by test_hardening.py in a subprocess with a memory limit (QMF_FUZZ_EXAMPLES examples
each, 150 in `make test`); `make fuzz` runs many more."""

import os
import tomllib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qmeanfield as qmf
from qmeanfield.config import parse_config
from qmeanfield.expressions import evaluate, evaluate_function
from qmeanfield.semiclassical.config import parse_semiclassical

EXAMPLES = int(os.environ.get("QMF_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=3000, suppress_health_check=list(HealthCheck), derandomize=False)

TOKENS = ["sx", "sy", "sz", "sp", "sm", "id", "jx", "jz", "swap", "pi", "x", "1", "2", "0", "0.5", "1j", "1e308",
          "99", "**", "*", "+", "-", "/", "@", "(", ")", ",", "kron(", "dag(", "E(", "proj(", "sqrt(", "exp(",
          "cos(", "sin(", "9" * 30, " ", "[", "]", ".", "'a'", "__import__", "lambda"]

expressions = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40).map("".join)
texts = st.text(max_size=200)


@FUZZ
@given(st.one_of(expressions, texts), st.sampled_from([2, 3, 4]))
def test_operator_expressions(text, d):
    try:
        value = evaluate(text, d, "fuzz")
    except qmf.QMeanFieldError:
        return
    if isinstance(value, np.ndarray):
        assert np.all(np.isfinite(value))


@FUZZ
@given(st.one_of(expressions, texts))
def test_field_expressions(text):
    try:
        evaluate_function(text, {"x": np.linspace(-1, 1, 7)}, "fuzz")
    except qmf.QMeanFieldError:
        pass


scalars = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.text(max_size=20), expressions)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
sections = st.fixed_dictionaries({}, optional={
    "model": st.dictionaries(st.sampled_from(["d", "h", "V", "jumps", "collective_jumps", "hbar", "coupling",
                                              "symmetrize_V", "foo"]), values, max_size=6),
    "initial": st.dictionaries(st.sampled_from(["state", "h0", "beta", "bloch", "matrix"]), values, max_size=4),
    "run": st.dictionaries(st.sampled_from(["N", "t_final", "n_times", "times", "engine", "marginals",
                                            "entropy_identity", "max_periods"]), values, max_size=5),
    "engine": st.dictionaries(st.sampled_from(["truncation", "workers", "method", "memory_budget_gb"]), values,
                              max_size=3),
    "name": values,
})


@FUZZ
@given(sections)
def test_configuration_structures(data):
    try:
        parse_config(data)
    except qmf.QMeanFieldError:
        pass


@FUZZ
@given(texts)
def test_toml_texts(text):
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    for parse in (parse_config, parse_semiclassical):
        try:
            parse(data)
        except qmf.QMeanFieldError:
            pass


matrices = st.one_of(
    st.integers(1, 5).flatmap(lambda n: st.lists(st.lists(st.one_of(st.complex_numbers(max_magnitude=1e6), st.just(complex("nan"))),
                                                          min_size=n, max_size=n), min_size=n, max_size=n)),
    scalars)


@FUZZ
@given(matrices, matrices, st.lists(matrices, max_size=2), values, values)
def test_model_arguments(h, V, jumps, hbar, coupling):
    try:
        qmf.Model(h=h, V=V, jumps=jumps, hbar=hbar, coupling=coupling)
    except qmf.QMeanFieldError:
        pass


semiclassical = st.fixed_dictionaries({"semiclassical": st.dictionaries(
    st.sampled_from(["domain", "length", "external", "pair", "hbar", "t_final", "n_times", "cells", "dt", "p_range",
                     "initial"]), values, max_size=6)})


@FUZZ
@given(semiclassical)
def test_semiclassical_structures(data):
    try:
        cfg = parse_semiclassical(data)
        cfg.problem.initial.density(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    except qmf.QMeanFieldError:
        pass
