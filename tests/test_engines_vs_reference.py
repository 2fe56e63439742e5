"""Every registered engine against the brute-force Kronecker reference (tests/reference.py)."""

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.engines import REGISTRY, make_engine

import reference as ref
from engine_checker import CASE_POINTS, CASES, check_engine



@pytest.mark.parametrize("engine", sorted(REGISTRY))
@pytest.mark.parametrize("case, N", CASE_POINTS, ids=[f"{c}-N{n}" for c, n in CASE_POINTS])
def test_engine_against_reference(engine, case, N):
    check_engine(make_engine(engine), CASES[case], N)


def test_engine_objects_are_accepted_wherever_a_name_is(qubit_closed, rho_qubit):
    """compare(engine=<object>) runs that very object; options given to it reach the run."""
    from qmeanfield.engines import SymmetricEngine

    eng = SymmetricEngine(truncation=1e-6, workers=1)
    ds = qmf.compare(qubit_closed, rho_qubit, N=[6], times=[0.0, 0.5], engine=eng)
    assert ds.engine.values[0] == "symmetric"
    assert 0 < float(ds.discarded_weight.values[0]) <= 1e-6
    with pytest.raises(qmf.EngineError, match="constructor"):
        qmf.compare(qubit_closed, rho_qubit, N=[6], times=[0.0, 0.5], engine=eng, engine_options={"workers": 2})


def test_relative_entropy_matches_logm(qubit_open, rho_qubit):
    """compare()'s H_N (spectral formula with R^(1)) equals Tr R(log R - log rho^(x)N) by scipy logm."""
    N = 3
    times = np.array([0.0, 0.5, 1.0])
    ds = qmf.compare(qubit_open, rho_qubit, N=[N], times=times)
    rho_t = ds.meanfield_state.values
    for n, t in enumerate(times):
        R = ref.evolve_open(qubit_open.h, qubit_open.V, qubit_open.jumps, rho_qubit, N, 0.5, 1.0, t)
        expected = ref.relative_entropy_logm(R, ref.product(rho_t[n], N))
        assert ds.relative_entropy.values[0, n] == pytest.approx(expected, abs=1e-8)
        assert qmf.diagnostics.relative_entropy(R, ref.product(rho_t[n], N)) == pytest.approx(expected, abs=1e-8)


def test_hamiltonian_matches_reference(qubit_closed):
    from qmeanfield.engines.dense import many_body_hamiltonian

    for N in (2, 3, 4):
        H = many_body_hamiltonian(qubit_closed, N).toarray()
        np.testing.assert_allclose(H, ref.hamiltonian(qubit_closed.h, qubit_closed.V, N, 1 / (N - 1)), atol=1e-12)


def test_two_body_marginal_on_request_gives_collective_moments(qubit_closed, rho_qubit):
    """<Jz^2> from the stored R^(2) and R^(1) equals the brute-force expectation value."""
    N = 4
    times = np.array([0.0, 0.6])
    ds = qmf.compare(qubit_closed, rho_qubit, N=[N], times=times, two_body=True)
    jz = np.diag([0.5, -0.5])
    one = np.einsum("tab,ba->t", ds.one_body_marginal.values[0], jz @ jz)
    two = np.einsum("tab,ba->t", ds.two_body_marginal.values[0], np.kron(jz, jz))
    Jz = sum(ref.one_body(jz, 2, N, j) for j in range(N))
    for n, t in enumerate(times):
        R = ref.evolve_closed(qubit_closed.h, qubit_closed.V, rho_qubit, N, qubit_closed.kappa(N), 1.0, t)
        expected = np.trace(R @ Jz @ Jz).real
        assert (N * one[n] + N * (N - 1) * two[n]).real == pytest.approx(expected, abs=1e-9)
    assert "two_body_marginal" not in qmf.compare(qubit_closed, rho_qubit, N=[2], times=times)


def test_permutational_engine_on_a_closed_model_warns():
    model = qmf.Model(h=np.diag([1.0, -1.0]), V=np.eye(4))
    with pytest.warns(qmf.PerformanceWarning, match="symmetric"):
        qmf.compare(model, np.diag([0.6, 0.4]), N=[6], times=[0, 0.1], engine="permutational")


@pytest.mark.parametrize("case, N", [("open qubits, cross-term jump", 5), ("open qutrits, 1/N", 3)])
def test_permutational_measuring_behind_the_propagation(case, N, monkeypatch):
    """The permutational engine with its measurements on a second thread behind the propagation
    (from 20 000 entries; lowered here so that these small states take that path) against the
    reference, with the progress callback reaching every time in order."""
    from qmeanfield._parallel import consume_behind
    from qmeanfield.engines import permutational

    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return consume_behind(*args, **kwargs)

    monkeypatch.setattr(permutational, "BEHIND_MIN", 0)
    monkeypatch.setattr(permutational, "consume_behind", spy)
    check_engine(permutational.PermutationalEngine(workers=2), CASES[case], N)
    assert calls
    seen = []
    permutational.PermutationalEngine(workers=2).evolve(CASES[case].model, CASES[case].rho0, N,
                                                        np.linspace(0, 1, 12), progress=seen.append)
    assert seen == list(range(1, 13)) and len(calls) == 2
