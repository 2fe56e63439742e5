"""Driven models: h(t) = h + sum_k f_k(t) A_k in the mean field and in the dense and permutational
engines, against QuTiP's mesolve with a time-dependent Hamiltonian, an order test of the
integrator, and the non-interacting limit where the mean field is exact."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.integrate import solve_ivp

import qmeanfield as qmf
from qmeanfield.config import parse_config
from qmeanfield.operators import pauli, random_interaction, sigma_minus
from qmeanfield.propagators import DrivenPropagator

P = pauli()


def pulse(t):
    return 0.6 * np.cos(3.0 * t) + 0.2 * t


def _model(jumps=(), V=None):
    return qmf.Model(h=0.3 * P["z"], V=random_interaction(2, seed=4) if V is None else V, jumps=list(jumps),
                     drive=[(P["x"] / 2, pulse)])


def test_the_integrator_is_of_order_four():
    """Fixed steps of the commutator-free Magnus step on y' = A(t) y: halving h divides the error
    by 16 (reference: DOP853 at rtol 1e-13); the adaptive trajectory meets its tolerance."""
    A0, A1 = sp.csr_matrix(-1j * 0.3 * P["z"]), sp.csr_matrix(-1j * P["x"])
    coef = lambda t: np.array([pulse(t)])  # noqa: E731
    y0 = np.array([1.0, 0.0], dtype=complex)
    ref = solve_ivp(lambda t, y: (A0 + coef(t)[0] * A1) @ y, (0, 2), y0, rtol=1e-13, atol=1e-14,
                    method="DOP853").y[:, -1]
    prop = DrivenPropagator([A0, A1], coef)
    errors = []
    for n in (8, 16, 32):
        y, h = y0.copy(), 2.0 / n
        for k in range(n):
            y = prop.step(y, k * h, h)
        errors.append(np.abs(y - ref).sum())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 13) & (ratios < 19)), ratios
    *_, last = DrivenPropagator([A0, A1], coef, tol=1e-10).trajectory(y0, [0.0, 1.0, 2.0])
    assert np.abs(last - ref).sum() < 1e-9


@pytest.mark.parametrize("open_", [False, True], ids=["closed", "open"])
def test_driven_engines_match_mesolve(open_):
    """R^(1) of the driven N = 3 problem from the dense and the permutational engines against
    qutip.mesolve with H(t) = H0 + f(t) J_x (a QobjEvo list), closed and with decay."""
    qutip = pytest.importorskip("qutip")
    model = _model([np.sqrt(0.2) * sigma_minus()] if open_ else [])
    rho0 = np.diag([0.85, 0.15]).astype(complex)
    N, times = 3, np.linspace(0.0, 1.5, 4)
    static = qmf.Model(h=model.h, V=model.V, jumps=list(model.jumps))
    problem = qmf.interop.to_qutip(static, N, rho0)
    dims = problem["H"].dims
    # the drive built here by hand, independently of qmeanfield: J_x = sum_j (sigma_x / 2)_j
    sx = qutip.sigmax() / 2
    Jx = sum(qutip.tensor([sx if k == j else qutip.qeye(2) for k in range(N)]) for j in range(N))
    H = qutip.QobjEvo([problem["H"], [Jx, lambda t: pulse(t)]])
    assert Jx.dims == dims
    res = qutip.mesolve(H, problem["rho0"], times, problem["c_ops"], options={"atol": 1e-12, "rtol": 1e-11})
    ref = np.array([s.ptrace(0).full() for s in res.states])
    for engine in ("dense", "permutational"):
        traj = qmf.engines.make_engine(engine).evolve(model, rho0, N, times)
        np.testing.assert_allclose(traj.marginals[1], ref, atol=1e-8, err_msg=engine)


def test_without_interaction_the_mean_field_is_exact():
    """V = 0: the particles stay independent, R^(1)(t) is the driven one-body state, so the
    comparison's distances vanish (the mean-field ODE against the engine's Magnus steps)."""
    model = _model(V=np.zeros((4, 4)))
    ds = qmf.compare(model, np.diag([0.7, 0.3]), [2, 4], np.linspace(0, 2, 5), engine="permutational")
    assert np.nanmax(ds.trace_distance.values) < 1e-9
    assert np.nanmax(np.abs(ds.relative_entropy.values)) < 1e-9


def test_the_entropy_identity_holds_pointwise_for_a_drive():
    """The identity dH_N/dt = production has no h in it: it holds for a driven closed model too."""
    ds = qmf.compare(_model(), np.diag([0.8, 0.2]), [3, 5], np.linspace(0, 1, 4), engine="permutational")
    scale = np.nanmax(np.abs(ds.entropy_production.values))
    assert np.nanmax(ds.identity_residual.values) < 1e-6 * max(scale, 1.0)


def test_driven_models_in_toml_and_their_refusals():
    cfg = parse_config({"model": {"h": "0.3*sz + a*cos(3*t)*sx", "V": "kron(sz, sz)"}, "parameters": {"a": 0.5},
                        "run": {"N": [2, 3], "t_final": 1.0, "n_times": 3}})
    assert cfg.model.is_driven
    np.testing.assert_allclose(cfg.model.h_at(0.5), 0.3 * P["z"] + 0.5 * np.cos(1.5) * P["x"], atol=1e-14)
    with pytest.raises(qmf.ConfigError, match="time t"):
        parse_config({"model": {"h": "sz", "V": "kron(sz, sz)"}, "parameters": {"t": 1.0}})
    with pytest.raises(qmf.EngineError, match="driven"):
        qmf.compare(cfg.model, np.diag([0.7, 0.3]), [3], [0, 1], engine="symmetric")
    plan = qmf.api.plan_comparison(cfg.model, np.diag([0.7, 0.3]), [3, 30], [0, 1])
    assert [e.name for e in plan.engines][-1] == "permutational"     # auto: the symmetric engine cannot
    with pytest.raises(qmf.QMeanFieldError, match="driven"):
        qmf.steady_state_comparison(_model([sigma_minus()]), [4])
    with pytest.raises(qmf.ModelError, match="drive"):
        qmf.Model(h=P["z"], V=np.zeros((4, 4)), drive=[(P["x"], "cos")])


def test_to_qutip_gives_the_drive_as_a_qobjevo():
    qutip = pytest.importorskip("qutip")
    model = _model()
    H = qmf.interop.to_qutip(model, 3)["H"]
    assert isinstance(H, qutip.QobjEvo)
    static = qmf.interop.to_qutip(qmf.Model(h=model.h, V=model.V), 3)["H"]
    sx = qutip.sigmax() / 2
    Jx = sum(qutip.tensor([sx if k == j else qutip.qeye(2) for k in range(3)]) for j in range(3))
    for t in (0.0, 0.7):
        np.testing.assert_allclose(H(t).full(), (static + pulse(t) * Jx).full(), atol=1e-13)


def test_time_dependent_rates_match_mesolve():
    """timed_jumps = [(sigma_-, r(t))]: the dissipator r(t) D_{sigma_-} on every particle, against
    qutip.mesolve with the time-dependent collapse operators [sigma_-_j, sqrt(r(t))], N = 3, dense
    and permutational engines; the dissipation D_N >= 0 of the entropy identity holds."""
    qutip = pytest.importorskip("qutip")

    def rate(t):
        return 0.3 * (1 + np.sin(2 * t)) ** 2

    model = qmf.Model(h=0.4 * P["x"], V=random_interaction(2, seed=5), jumps=[0.1 * P["z"]],
                      timed_jumps=[(sigma_minus(), rate)])
    rho0 = np.diag([0.2, 0.8]).astype(complex)
    N, times = 3, np.linspace(0.0, 1.5, 4)
    static = qmf.Model(h=model.h, V=model.V, jumps=list(model.jumps))
    problem = qmf.interop.to_qutip(static, N, rho0)
    # the time-dependent collapse operators built here by hand: [sigma_-_j, sqrt(r(t))]
    sm = qutip.Qobj(np.array([[0, 0], [1, 0]]))          # sigma_- in this package's basis (|up> first)
    timed = [[qutip.tensor([sm if k == j else qutip.qeye(2) for k in range(N)]), lambda t: np.sqrt(rate(t))]
             for j in range(N)]
    assert len(qmf.interop.to_qutip(model, N, rho0)["c_ops"]) == 2 * N
    res = qutip.mesolve(problem["H"], problem["rho0"], times, problem["c_ops"] + timed,
                        options={"atol": 1e-12, "rtol": 1e-11})
    ref = np.array([s.ptrace(0).full() for s in res.states])
    for engine in ("dense", "permutational"):
        traj = qmf.engines.make_engine(engine).evolve(model, rho0, N, times)
        np.testing.assert_allclose(traj.marginals[1], ref, atol=1e-8, err_msg=engine)
    ds = qmf.compare(model, rho0, [3, 6], times, engine="permutational")
    assert np.nanmin(ds.dissipation.values) > -1e-7
    with pytest.raises(qmf.ModelError, match="rate"):
        qmf.Model(h=P["x"], V=np.zeros((4, 4)), timed_jumps=[(sigma_minus(), lambda t: -1.0)])


def test_time_dependent_rates_in_toml():
    cfg = parse_config({"model": {"h": "0.3*sz", "V": "kron(sz, sz)", "jumps": ["sqrt(0.2*(1 + t))*sm", "0.1*sz"]},
                        "run": {"N": [2, 3], "t_final": 1.0, "n_times": 3}})
    m = cfg.model
    assert len(m.jumps) == 1 and len(m.timed_jumps) == 1 and m.is_driven and m.is_open
    L, rate = m.timed_jumps[0]
    for t in (0.0, 0.5, 2.0):   # r(t) L^+ L = (0.2 (1 + t)) sm^+ sm whichever multiple L is
        np.testing.assert_allclose(rate(t) * (L.conj().T @ L), 0.2 * (1 + t) * (sigma_minus().T @ sigma_minus()),
                                   atol=1e-12)
    with pytest.raises(qmf.ConfigError, match="one operator"):
        parse_config({"model": {"h": "sz", "V": "kron(sz, sz)", "jumps": ["sm + t*sp"]}})


def ramp(t):
    return 0.2 + 0.8 * np.tanh(2.0 * t)


@pytest.mark.parametrize("open_", [False, True], ids=["closed", "open"])
def test_a_ramped_interaction_matches_mesolve_and_keeps_the_identity(open_):
    """interaction=g: the two-body term g(t) kappa_N sum V_ij, against mesolve with the interaction
    built by hand (H = H_1 + g(t) H_V); the entropy identity (the N-body and mean-field pictures
    of the same g) holds pointwise, D_N >= 0 for the open model."""
    qutip = pytest.importorskip("qutip")
    V = random_interaction(2, seed=2)
    jumps = [np.sqrt(0.2) * sigma_minus()] if open_ else []
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=V, jumps=jumps, interaction=ramp)
    rho0 = np.array([[0.7, 0.2], [0.2, 0.3]])
    N, times = 4, np.linspace(0.0, 1.5, 7)
    one_body = qmf.interop.to_qutip(qmf.Model(h=model.h, V=np.zeros((4, 4)), jumps=jumps), N, rho0)
    only_V = qmf.interop.to_qutip(qmf.Model(h=np.zeros((2, 2)), V=V), N)["H"]
    H = qutip.QobjEvo([one_body["H"], [only_V, lambda t: ramp(t)]])
    res = qutip.mesolve(H, one_body["rho0"], times, one_body["c_ops"], options={"atol": 1e-12, "rtol": 1e-11})
    ref = np.array([s.ptrace(0).full() for s in res.states])
    for engine in ("dense", "permutational"):
        ds = qmf.compare(model, rho0, [N], times, engine=engine)
        np.testing.assert_allclose(ds.one_body_marginal.values[0], ref, atol=1e-8, err_msg=engine)
        if open_:
            assert np.nanmin(ds.dissipation) > -1e-8
        else:
            assert np.nanmax(ds.identity_residual) < 1e-8 * max(1.0, float(np.abs(ds.entropy_production).max()))


def test_a_ramped_interaction_in_toml_and_its_refusals():
    cfg = parse_config({"model": {"h": "0.3*sz", "V": "(1 - 0.8*exp(-2*t))*kron(sz, sz)"},
                        "run": {"N": [2, 3], "t_final": 1.0, "n_times": 3}})
    m = cfg.model
    assert m.is_driven and m.interaction is not None
    for t in (0.0, 0.5, 2.0):
        np.testing.assert_allclose(m.interaction_strength(t) * m.V, (1 - 0.8 * np.exp(-2 * t)) * np.kron(P["z"], P["z"]),
                                   atol=1e-12)
    with pytest.raises(qmf.ConfigError, match="one operator"):
        parse_config({"model": {"h": "sz", "V": "kron(sz, sz) + t*kron(sx, sx)"}})
    with pytest.raises(qmf.ModelError, match="interaction"):
        qmf.Model(h=P["z"], V=np.kron(P["z"], P["z"]), interaction=lambda t: float("nan"))
    with pytest.raises(qmf.QMeanFieldError, match="interaction"):
        qmf.certify(m, np.diag([0.7, 0.3]), [2, 3], [0.0, 0.5])
