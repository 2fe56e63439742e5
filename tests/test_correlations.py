"""Two-time correlations and spectra of collective operators against QuTiP on the full 2^N space
(`correlation_2op_1t`, `spectrum`), and their refusals."""

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.engines.dense import collective_operator
from qmeanfield.operators import pauli, sigma_minus, sigma_plus

qutip = pytest.importorskip("qutip")

P = pauli()
#: local emission and pumping, a collective emission, an interaction: every block term is used
MODEL = qmf.Model(h=0.5 * P["x"] / 2 + 0.3 * P["z"] / 2, V=0.5 * np.kron(P["z"], P["z"]),
                  jumps=[np.sqrt(0.5) * sigma_minus(), np.sqrt(0.1) * sigma_plus()],
                  collective_jumps=[0.3 * sigma_minus()])
N = 3
TIGHT = {"atol": 1e-12, "rtol": 1e-10}


def _qutip(model, n, *ops):
    q = qmf.to_qutip(model, n)
    dims = [[model.d] * n, [model.d] * n]
    return q, [qutip.Qobj(collective_operator(A, n, model.d), dims=dims) for A in ops]


def test_steady_state_correlation_matches_qutip():
    taus = np.linspace(0.0, 3.0, 31)
    ds = qmf.correlation(MODEL, N, "sp", "sm", taus)
    q, (Jp, Jm) = _qutip(MODEL, N, sigma_plus(), sigma_minus())
    ref = qutip.correlation_2op_1t(q["H"], None, taus, q["c_ops"], Jp, Jm, options=TIGHT)
    np.testing.assert_allclose(ds.correlation.values[0], ref, atol=1e-8)
    # it starts at <J+ J-> and tends to |<J+>|^2 (the connected part decays)
    ss = qutip.steadystate(q["H"], q["c_ops"])
    assert ds.mean_A.values[0] == pytest.approx(qutip.expect(Jp, ss), abs=1e-8)


def test_correlation_from_an_evolved_product_state_matches_qutip():
    """From rho0^(x)N at t = 0.7, a closed model too (no steady state needed)."""
    taus = np.linspace(0.0, 2.0, 21)
    rho0 = np.array([[0.3, 0.1 - 0.2j], [0.1 + 0.2j, 0.7]])
    for model in (MODEL, qmf.Model(h=MODEL.h, V=MODEL.V)):
        ds = qmf.correlation(model, N, "sx", "sm", taus, rho0=rho0, t=0.7)
        q, (Jx, Jm) = _qutip(model, N, P["x"], sigma_minus())
        r0 = qutip.tensor([qutip.Qobj(rho0)] * N)
        rt = qutip.mesolve(q["H"], r0, [0.0, 0.7], q["c_ops"], options=TIGHT).states[-1]
        ref = qutip.correlation_2op_1t(q["H"], rt, taus, q["c_ops"], Jx, Jm, options=TIGHT)
        np.testing.assert_allclose(ds.correlation.values[0], ref, atol=1e-8)


def test_reversed_correlation_matches_qutip():
    """<J(A)(0) J(B)(tau)> in the steady state: the negative delays of a spectrum."""
    taus = np.linspace(0.0, 3.0, 31)
    ds = qmf.correlation(MODEL, N, "sp", "sz", taus, reverse=True)
    q, (Jp, Jz) = _qutip(MODEL, N, sigma_plus(), P["z"])
    ref = qutip.correlation_2op_1t(q["H"], None, taus, q["c_ops"], Jp, Jz, reverse=True, options=TIGHT)
    np.testing.assert_allclose(ds.correlation.values[0], ref, atol=1e-8)


def test_spectrum_matches_qutip_within_its_error_estimate():
    omegas = np.linspace(-3.0, 3.0, 41)
    ds = qmf.spectrum(MODEL, N, "sp", "sm", omegas)
    q, (Jp, Jm) = _qutip(MODEL, N, sigma_plus(), sigma_minus())
    ref = qutip.spectrum(q["H"], omegas, q["c_ops"], Jp, Jm, solver="pi")
    err = np.abs(ds.spectrum.values[0] - ref)
    assert np.all(err <= ds.spectrum_error.values[0])                    # the estimate is honest
    assert ds.spectrum_error.values.max() < 1e-3 * np.abs(ref).max()     # and small
    # a pair that is not adjoint takes the negative delays from their own regression: S is linear in B
    both = qmf.spectrum(MODEL, N, "sp", "sm + sz", omegas, tau_max=float(ds.tau_max.values[0]))
    part = qmf.spectrum(MODEL, N, "sp", "sz", omegas, tau_max=float(ds.tau_max.values[0]))
    tol = ds.spectrum_error.values[0] + both.spectrum_error.values[0] + part.spectrum_error.values[0]
    assert np.all(np.abs(both.spectrum.values[0] - ds.spectrum.values[0] - part.spectrum.values[0]) <= tol)


def test_correlation_refusals():
    driven = qmf.Model(h=MODEL.h, V=MODEL.V, jumps=MODEL.jumps, drive=[(P["x"], np.cos)])
    with pytest.raises(qmf.QMeanFieldError, match="driven"):
        qmf.correlation(driven, 3, "sp", "sm", [0.0, 1.0])
    with pytest.raises(qmf.QMeanFieldError, match="open model"):
        qmf.correlation(qmf.Model(h=MODEL.h, V=MODEL.V), 3, "sp", "sm", [0.0, 1.0])
    with pytest.raises(qmf.QMeanFieldError, match="taus"):
        qmf.correlation(MODEL, 3, "sp", "sm", [1.0, 0.5])
    with pytest.raises(qmf.QMeanFieldError, match="A"):
        qmf.correlation(MODEL, 3, "banana", "sm", [0.0, 1.0])
    with pytest.raises(qmf.QMeanFieldError, match="max_periods"):      # refused before any work
        qmf.correlation(MODEL, 3, "sp", "sm", [0.0, 1e12])
    with pytest.raises(qmf.QMeanFieldError, match="work limit"):
        qmf.correlation(MODEL, [400], "sp", "sm", np.linspace(0, 100, 1001), max_seconds=60)
    with pytest.raises(qmf.QMeanFieldError, match="frequencies"):
        qmf.spectrum(MODEL, 3, "sp", "sm", np.zeros(10**6))
    with pytest.raises(qmf.QMeanFieldError, match="decayed"):   # a span too short to decay, no room to extend
        import qmeanfield.correlations as corr

        corr_max = corr.MAX_DOUBLINGS
        try:
            corr.MAX_DOUBLINGS = 0
            qmf.spectrum(MODEL, 3, "sp", "sm", [0.0, 1.0], tau_max=0.5)
        finally:
            corr.MAX_DOUBLINGS = corr_max


def test_squeezing_of_one_axis_twisting_matches_the_full_state():
    """xi^2 from R^(1), R^(2) against the covariance of J = sum sigma/2 on the full 2^N state (QuTiP),
    for an interacting open model from a coherent state along x: squeezing (xi^2 < 1) appears, the
    mean-field product state never has it."""
    model = qmf.Model(h=0.2 * P["x"], V=np.kron(P["z"], P["z"]), jumps=[np.sqrt(0.05) * sigma_minus()])
    rho0 = np.array([[0.5, 0.5], [0.5, 0.5]])
    times = np.linspace(0.0, 1.5, 6)
    ds = qmf.compare(model, rho0, [4, 6], times, entropy_identity=False)
    for n in (4, 6):
        q = qmf.to_qutip(model, n, rho0)
        states = qutip.mesolve(q["H"], q["rho0"], times, q["c_ops"], options=TIGHT).states
        dims = [[2] * n, [2] * n]
        J = [qutip.Qobj(collective_operator(P[a] / 2, n, 2), dims=dims) for a in "xyz"]
        for i, rho in enumerate(states):
            mean = np.array([qutip.expect(j, rho) for j in J]).real
            cov = np.array([[qutip.expect((a * b + b * a) / 2, rho) for b in J] for a in J]).real - np.outer(mean, mean)
            u = mean / np.linalg.norm(mean)
            plane = np.linalg.svd(np.eye(3) - np.outer(u, u))[0][:, :2]
            xi2 = n * np.linalg.eigvalsh(plane.T @ cov @ plane)[0] / (mean @ mean)
            assert ds.squeezing.sel(N=n).values[i] == pytest.approx(xi2, rel=1e-7)
    assert ds.squeezing.min() < 0.9 and np.all(ds.squeezing_meanfield >= 1 - 1e-12)
