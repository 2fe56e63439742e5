import numpy as np
import pytest

from qmeanfield import operators as ops
from qmeanfield.errors import ConfigError
from qmeanfield.expressions import evaluate

P = ops.pauli()


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_spin_commutation_and_casimir(d):
    s = ops.spin_matrices(d)
    np.testing.assert_allclose(s["jx"] @ s["jy"] - s["jy"] @ s["jx"], 1j * s["jz"], atol=1e-12)
    j = (d - 1) / 2
    cas = s["jx"] @ s["jx"] + s["jy"] @ s["jy"] + s["jz"] @ s["jz"]
    np.testing.assert_allclose(cas, j * (j + 1) * np.eye(d), atol=1e-12)


def test_spin_half_is_half_pauli():
    s = ops.spin_matrices(2)
    for a in "xyz":
        np.testing.assert_allclose(2 * s["j" + a], P[a])


def test_swap_and_partial_trace():
    rng = np.random.default_rng(0)
    A, B, C = (rng.normal(size=(k, k)) for k in (2, 3, 2))
    X = np.kron(np.kron(A, B), C)
    np.testing.assert_allclose(ops.partial_trace(X, (2, 3, 2), [0, 2]), np.trace(B) * np.kron(A, C))
    np.testing.assert_allclose(ops.partial_trace(X, (2, 3, 2), [1]), np.trace(A) * np.trace(C) * B)
    S = ops.swap(3)
    A3, B3 = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(S @ np.kron(A3, B3) @ S, np.kron(B3, A3))
    np.testing.assert_allclose(ops.partial_trace_second(np.kron(A3, B3), 3), np.trace(B3) * A3)


def test_kron_sum_and_embed():
    np.testing.assert_allclose(ops.kron_sum(P["z"], P["z"]), np.diag([2, 0, 0, -2]))
    np.testing.assert_allclose(ops.embed(P["x"], 1, 3), np.kron(np.kron(np.eye(2), P["x"]), np.eye(2)))


@pytest.mark.parametrize("d", [2, 3])
def test_random_interaction_properties(d):
    V = ops.random_interaction(d, seed=3)
    np.testing.assert_allclose(V, V.conj().T)
    S = ops.swap(d)
    np.testing.assert_allclose(S @ V @ S, V, atol=1e-14)
    assert np.linalg.norm(V, 2) == pytest.approx(1.0)
    np.testing.assert_array_equal(V, ops.random_interaction(d, seed=3))  # reproducible
    assert not np.allclose(V, ops.random_interaction(d, seed=4))
    assert len(ops.operator_schmidt(V, d)) > 1  # not a product A (x) B


def test_operator_schmidt_reconstructs():
    V = ops.random_interaction(3, seed=1)
    R = sum(np.kron(A, B) for A, B in ops.operator_schmidt(V, 3))
    np.testing.assert_allclose(R, V, atol=1e-13)


def test_expression_values():
    np.testing.assert_allclose(evaluate("0.5*sx + 0.3*sz", 2), 0.5 * P["x"] + 0.3 * P["z"])
    np.testing.assert_allclose(evaluate("kron(sz, sz) + 0.2*kron(sx, sx)", 2),
                               np.kron(P["z"], P["z"]) + 0.2 * np.kron(P["x"], P["x"]))
    np.testing.assert_allclose(evaluate("sqrt(0.3)*sm", 2), np.sqrt(0.3) * ops.sigma_minus())
    np.testing.assert_allclose(evaluate("dag(sm) @ sm", 2), np.diag([1, 0]))
    np.testing.assert_allclose(evaluate("sx*sy", 2), 1j * P["z"])
    np.testing.assert_allclose(evaluate("jz**2 - E(0, 0) + proj(2)", 3), np.diag([0, 0, 2]))
    np.testing.assert_allclose(evaluate("-(1j)*jx/2", 3), -1j * ops.spin_matrices(3)["jx"] / 2)
    np.testing.assert_allclose(evaluate("swap", 2), ops.swap(2))
    assert evaluate("exp(0) + cos(pi)", 2) == pytest.approx(0.0)


@pytest.mark.parametrize("text", ["sx", "sm", "sp"])
def test_pauli_names_only_for_qubits(text):
    with pytest.raises(ConfigError, match="unknown name"):
        evaluate(text, 3)


@pytest.mark.parametrize("text, message", [
    ("open('x')", "not allowed"), ("sx.T", "Attribute"), ("'a'", "only numbers"), ("sx if 1 else sy", "IfExp"),
    ("kron(sx)", "two or more"), ("sqrt(sx)", "takes a number"), ("sx ** 0.5", "integer exponent"),
    ("sx / sy", "divide by a matrix"), ("sx / 0", "division by zero"), ("E(0, 5)", "indices in 0..1"),
    ("kron(sx, sx) + sx", "shapes"), ("x" * 3000, "longer than"), ("1 +", "cannot parse"),
    ("True * sx", "only numbers"), ("kron(sx, sy, key=1)", "keyword"),
])
def test_expression_rejects(text, message):
    with pytest.raises(ConfigError, match=message):
        evaluate(text, 2)
