import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import qmeanfield as qmf
from qmeanfield.operators import mean_field_potential, pauli, random_density_matrix, random_interaction, sigma_minus

P = pauli()
TIMES = np.linspace(0, 3, 16)


def test_closed_spectrum_conserved(qubit_closed):
    rho0 = random_density_matrix(2, seed=3)
    rho = qmf.meanfield.evolve(qubit_closed, rho0, TIMES)
    w0 = np.linalg.eigvalsh(rho0)
    for r in rho:
        np.testing.assert_allclose(np.linalg.eigvalsh(r), w0, atol=1e-13)


def test_no_interaction_closed_form():
    h = 0.5 * P["x"] + 0.3 * P["z"]
    model = qmf.Model(h=h, V=np.zeros((4, 4)), hbar=0.5)
    rho0 = random_density_matrix(2, seed=1)
    rho = qmf.meanfield.evolve(model, rho0, TIMES)
    for t, r in zip(TIMES, rho):
        U = expm(-1j * t / 0.5 * h)
        np.testing.assert_allclose(r, U @ rho0 @ U.conj().T, atol=1e-10)


def test_closed_matches_direct_integration():
    """The self-consistent-unitary solver agrees with plain integration of the Hartree equation."""
    model = qmf.Model(h=np.diag([1.0, 0.0, -0.5]), V=2 * random_interaction(3, seed=0))
    rho0 = random_density_matrix(3, seed=5)

    def f(_, y):
        r = y.reshape(3, 3)
        Hm = model.h + mean_field_potential(model.V, r)
        return (-1j * (Hm @ r - r @ Hm)).ravel()

    sol = solve_ivp(f, (0, TIMES[-1]), rho0.ravel(), t_eval=TIMES, method="RK45", rtol=1e-11, atol=1e-13)
    rho = qmf.meanfield.evolve(model, rho0, TIMES)
    np.testing.assert_allclose(rho, sol.y.T.reshape(-1, 3, 3), atol=1e-8)


def test_mean_field_potential_product_interaction():
    A = P["x"] + 0.2 * P["z"]
    V = np.kron(A, A)
    rho = random_density_matrix(2, seed=2)
    np.testing.assert_allclose(mean_field_potential(V, rho), np.trace(rho @ A) * A, atol=1e-14)


def test_open_trace_and_positivity(qubit_open):
    rho = qmf.meanfield.evolve(qubit_open, random_density_matrix(2, seed=4), np.linspace(0, 10, 21))
    np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-10)
    assert np.linalg.eigvalsh(rho).min() > -1e-12


def test_open_decay_closed_form():
    """Pure decay (h = 0, V = 0, L = sqrt(g) sigma_-): excited population p(t) = p0 e^{-g t}."""
    g = 0.7
    model = qmf.Model(h=np.zeros((2, 2)), V=np.zeros((4, 4)), jumps=[np.sqrt(g) * sigma_minus()])
    rho0 = random_density_matrix(2, seed=6)
    rho = qmf.meanfield.evolve(model, rho0, TIMES)
    np.testing.assert_allclose(rho[:, 0, 0].real, rho0[0, 0].real * np.exp(-g * TIMES), atol=1e-10)
    np.testing.assert_allclose(np.abs(rho[:, 0, 1]), np.abs(rho0[0, 1]) * np.exp(-g * TIMES / 2), atol=1e-10)


def test_rank_deficient_initial_state_runs(qubit_closed):
    rho = qmf.meanfield.evolve(qubit_closed, qmf.states.pure([1, 1j]), TIMES)
    np.testing.assert_allclose(np.linalg.eigvalsh(rho)[:, 1], 1.0, atol=1e-12)


@pytest.mark.parametrize("times", [[], [0.5, 0.2], [-1.0, 0.0], [0, np.nan]])
def test_bad_times(qubit_closed, times):
    with pytest.raises(qmf.QMeanFieldError, match="times"):
        qmf.meanfield.evolve(qubit_closed, np.eye(2) / 2, times)


def test_drift_is_reported_with_loose_tolerances(qubit_closed):
    rho0 = random_density_matrix(2, seed=4)
    with pytest.warns(qmf.DriftWarning, match="tighten rtol"):
        qmf.meanfield.evolve(qubit_closed, rho0, np.linspace(0, 20, 5), rtol=1e-2, atol=1e-2)
    # the open-system monitor on a trajectory that lost trace and positivity
    bad = np.array([rho0, np.diag([1.2, -0.1]).astype(complex)])
    with pytest.warns(qmf.DriftWarning) as record:
        qmf.meanfield._monitor(bad)
    messages = " ".join(str(w.message) for w in record)
    assert "trace" in messages and "positivity" in messages


def test_fixed_points_relaxed_together_match_each_start_alone():
    """The fixed-point search relaxes all starts in one ODE: the right side of a stack equals the
    right side of each state, and each start relaxed alone (its own integration, then the root
    finder) reaches the same fixed point."""
    from qmeanfield import meanfield
    from qmeanfield.operators import spin_matrices

    P = pauli()
    S3 = spin_matrices(3)
    models = [qmf.Model(h=0.5 * P["x"], V=random_interaction(2, seed=6), jumps=[0.3 * sigma_minus()],
                        collective_jumps=[0.6 * sigma_minus(), 0.2 * P["z"]]),
              qmf.Model(h=S3["jx"] + 0.3 * S3["jz"] @ S3["jz"], V=random_interaction(3, seed=5),
                        jumps=[0.4 * S3["jm"] + 0.1 * S3["jz"]])]
    for model in models:
        R = np.array([random_density_matrix(model.d, seed=s) for s in range(3)])
        np.testing.assert_allclose(meanfield.rhs(model, R), [meanfield.rhs(model, r) for r in R], atol=1e-14)
        starts = [random_density_matrix(model.d, seed=s, min_eigenvalue=0.01) for s in range(3)]
        together = meanfield.fixed_points(model, starts=starts)
        assert sum(p.starts for p in together.points) == 3
        for start in starts:
            alone = meanfield.fixed_points(model, starts=[start]).points[0].rho
            assert min(np.abs(p.rho - alone).max() for p in together.points) < 1e-9
