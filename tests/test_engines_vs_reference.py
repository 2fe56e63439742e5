"""Every registered engine against the brute-force Kronecker reference (tests/reference.py)."""

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.engines import REGISTRY, make_engine
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus, spin_matrices

import reference as ref

P = pauli()
TIMES = np.array([0.0, 0.37, 1.1])


def _check(traj, R_refs, d, N, kmax):
    for n, R in enumerate(R_refs):
        assert traj.entropy[n] == pytest.approx(ref.entropy_eig(R), abs=1e-8)
        for k in range(1, kmax + 1):
            np.testing.assert_allclose(traj.marginals[k][n], ref.ptrace_keep_first(R, d, N, k), atol=1e-8)


@pytest.mark.parametrize("engine", sorted(REGISTRY))
@pytest.mark.parametrize("N", [2, 3, 4, 5])
def test_closed_qubits(engine, N):
    V = random_interaction(2, seed=N)
    model = qmf.Model(h=0.7 * P["x"] - 0.2 * P["z"], V=V)
    rho0 = random_density_matrix(2, seed=10 + N)
    eng = make_engine(engine)
    if not eng.supports(model, N)[0]:
        pytest.skip(f"{engine} does not support this case")
    traj = eng.evolve(model, rho0, N, TIMES, kmax=min(3, N))
    R_refs = [ref.evolve_closed(model.h, model.V, rho0, N, model.kappa(N), model.hbar, t) for t in TIMES]
    _check(traj, R_refs, 2, N, min(3, N))


@pytest.mark.parametrize("engine", sorted(REGISTRY))
@pytest.mark.parametrize("N", [2, 3, 4, 5])
def test_open_qubits(engine, N):
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=20 + N),
                      jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])], hbar=0.8)
    rho0 = random_density_matrix(2, seed=N)
    eng = make_engine(engine)
    if not eng.supports(model, N)[0]:
        pytest.skip(f"{engine} does not support this case")
    traj = eng.evolve(model, rho0, N, TIMES, kmax=2)
    R_refs = [ref.evolve_open(model.h, model.V, model.jumps, rho0, N, model.kappa(N), model.hbar, t) for t in TIMES]
    _check(traj, R_refs, 2, N, 2)


@pytest.mark.parametrize("engine", sorted(REGISTRY))
@pytest.mark.parametrize("open_system", [False, True])
def test_qutrits_coupling_1_over_N(engine, open_system):
    N, d = 3, 3
    s = spin_matrices(3)
    jumps = [0.4 * s["jm"] + 0.1 * s["jz"]] if open_system else []
    model = qmf.Model(h=s["jx"] + 0.3 * s["jz"] @ s["jz"], V=random_interaction(3, seed=5), jumps=jumps,
                      coupling="1/N")
    rho0 = random_density_matrix(3, seed=3)
    eng = make_engine(engine)
    if not eng.supports(model, N)[0]:
        pytest.skip(f"{engine} does not support this case")
    traj = eng.evolve(model, rho0, N, TIMES, kmax=2)
    if open_system:
        R_refs = [ref.evolve_open(model.h, model.V, model.jumps, rho0, N, model.kappa(N), 1.0, t) for t in TIMES]
    else:
        R_refs = [ref.evolve_closed(model.h, model.V, rho0, N, model.kappa(N), 1.0, t) for t in TIMES]
    _check(traj, R_refs, d, N, 2)


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
