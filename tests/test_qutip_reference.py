"""Open N-body dynamics against QuTiP's mesolve (an independent solver)."""

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.engines import REGISTRY, make_engine
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus

qutip = pytest.importorskip("qutip")
P = pauli()


def _embed(op, j, N):
    ops = [qutip.qeye(2)] * N
    ops[j] = qutip.Qobj(op)
    return qutip.tensor(ops)


def _pair(V, i, j, N):
    # V = sum_s A_s (x) B_s via its operator-Schmidt expansion (computed here independently)
    M = V.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
    U, s, Wh = np.linalg.svd(M)
    out = 0
    for k in range(4):
        if s[k] > 1e-14:
            out = out + s[k] * _embed(U[:, k].reshape(2, 2), i, N) * _embed(Wh[k].reshape(2, 2), j, N)
    return out


@pytest.mark.parametrize("engine", sorted(REGISTRY))
@pytest.mark.parametrize("N", [2, 3, 4])
def test_open_vs_mesolve(engine, N):
    jumps = [np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])]
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=4), jumps=jumps)
    rho0 = random_density_matrix(2, seed=1)
    eng = make_engine(engine)
    if not eng.supports(model, N)[0]:
        pytest.skip(f"{engine} does not support this case")
    times = np.linspace(0, 1.5, 4)
    traj = eng.evolve(model, rho0, N, times, kmax=2)

    kappa = 1 / (N - 1)
    H = sum(_embed(model.h, j, N) for j in range(N))
    for i in range(N):
        for j in range(i + 1, N):
            H = H + kappa * _pair(np.asarray(model.V), i, j, N)
    c_ops = [_embed(L, j, N) for L in jumps for j in range(N)]
    R0 = qutip.tensor([qutip.Qobj(rho0)] * N)
    res = qutip.mesolve(H, R0, times, c_ops=c_ops, options={"atol": 1e-12, "rtol": 1e-10, "nsteps": 100000})
    for n, state in enumerate(res.states):
        np.testing.assert_allclose(traj.marginals[1][n], state.ptrace([0]).full(), atol=1e-7)
        np.testing.assert_allclose(traj.marginals[2][n], state.ptrace([0, 1]).full(), atol=1e-7)
        assert traj.entropy[n] == pytest.approx(qutip.entropy_vn(state), abs=1e-7)


def test_interop_round_trip_and_mesolve():
    """to_qutip builds the same problem: mesolve on it reproduces the dense engine (hbar != 1)."""
    jumps = [0.3 * (sigma_minus() + 0.5 * P["z"])]
    model = qmf.Model(h=0.5 * P["x"], V=random_interaction(2, seed=8), jumps=jumps, hbar=0.7)
    rho0 = random_density_matrix(2, seed=2)
    prob = qmf.interop.to_qutip(model, 3, rho0)
    from qmeanfield.engines.dense import many_body_hamiltonian

    np.testing.assert_allclose(qmf.interop.from_qutip(prob["H"]) * 0.7, many_body_hamiltonian(model, 3).toarray())
    times = np.array([0.0, 0.6])
    res = qutip.mesolve(prob["H"], prob["rho0"], times, c_ops=prob["c_ops"], options={"atol": 1e-12, "rtol": 1e-10})
    traj = make_engine("dense").evolve(model, rho0, 3, times, kmax=1)
    np.testing.assert_allclose(traj.marginals[1][-1], res.states[-1].ptrace([0]).full(), atol=1e-7)
    with pytest.raises(qmf.QMeanFieldError, match="qutip.Qobj"):
        qmf.interop.from_qutip(np.eye(2))


def test_qobj_inputs_are_taken_as_their_matrices():
    """A QuTiP user's objects work as they are: Qobj h, V, jumps and rho0 give the same Dataset
    as their numpy matrices; trace distances say their convention (twice qutip.tracedist)."""
    h, V = qutip.sigmax() * 0.5, qutip.tensor(qutip.sigmaz(), qutip.sigmaz())
    rho0 = qutip.Qobj(np.diag([0.7, 0.3]))
    model = qmf.Model(h=h, V=V, jumps=[0.3 * qutip.sigmam()])
    ref = qmf.Model(h=h.full(), V=V.full(), jumps=[0.3 * qutip.sigmam().full()])
    a = qmf.compare(model, rho0, [3], [0.0, 0.5], entropy_identity=False)
    b = qmf.compare(ref, rho0.full(), [3], [0.0, 0.5], entropy_identity=False)
    np.testing.assert_array_equal(a.trace_distance.values, b.trace_distance.values)
    assert "qutip.tracedist" in a.trace_distance.attrs["convention"]
    R1 = qutip.Qobj(a.one_body_marginal.values[0, -1])
    rho = qutip.Qobj(a.meanfield_state.values[-1])
    assert a.trace_distance.values[0, 0, -1] == pytest.approx(2 * qutip.tracedist(R1, rho), rel=1e-10)
    assert "host" not in a.attrs and a.time.attrs["units"]


def test_collective_observables_match_mesolve_e_ops():
    """<J_A>/N and Var(J_A)/N from compare(observables=...) against qutip.mesolve with e_ops on
    the full N-body space (open model, N = 4), and the mean-field columns against the product state
    at t = 0."""
    P = pauli()
    N, times = 4, np.linspace(0.0, 1.0, 5)
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=2), jumps=[np.sqrt(0.3) * sigma_minus()])
    rho0 = np.diag([0.8, 0.2]).astype(complex)
    A = {"jz": P["z"] / 2, "mixed": 0.7 * P["x"] + 0.2 * P["y"]}
    ds = qmf.compare(model, rho0, [N], times, observables=A, entropy_identity=False)
    problem = qmf.interop.to_qutip(model, N, rho0)
    for label, a in A.items():
        J = sum(_embed(a, j, N) for j in range(N))
        res = qutip.mesolve(problem["H"], problem["rho0"], times, problem["c_ops"], e_ops=[J, J * J],
                            options={"atol": 1e-12, "rtol": 1e-10})
        mean, second = np.real(res.expect[0]), np.real(res.expect[1])
        np.testing.assert_allclose(ds.observable_mean.sel(observable=label).values[0], mean / N, atol=1e-8)
        np.testing.assert_allclose(ds.observable_variance.sel(observable=label).values[0],
                                   (second - mean**2) / N, atol=1e-8)
        r = rho0
        np.testing.assert_allclose(ds.observable_meanfield.sel(observable=label).values[0],
                                   np.trace(r @ a).real, atol=1e-12)
        np.testing.assert_allclose(ds.observable_variance_meanfield.sel(observable=label).values[0],
                                   np.trace(r @ a @ a).real - np.trace(r @ a).real ** 2, atol=1e-12)
