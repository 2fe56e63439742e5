"""Entropy-method certificate: Lambda_N by blocks against a dense construction, its properties,
the Gibbs variational inequality, and bound >= exact relative entropy on several models."""

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import logsumexp

import qmeanfield as qmf
from qmeanfield.blocks import BlockSpace
from qmeanfield.certificate import fluctuation_parts, gronwall_bound, lambda_blocks
from qmeanfield.diagnostics import fit_inverse_N, fit_power_law, richardson_limit
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus

import reference as ref

P = pauli()


def dense_Y(rho, V, N, kappa, hbar):
    """Y_N = (i/hbar)[kappa sum_{i != j} A_ij - sum_j (A1)_j], ordered pairs placed by axis permutation."""
    d = rho.shape[0]
    A, A1 = fluctuation_parts(rho, V)
    Y = np.zeros((d**N, d**N), dtype=complex)
    for i in range(N):
        for j in range(N):
            if i != j:
                rest = [s for s in range(N) if s not in (i, j)]
                perm = [i, j] + rest
                Y += kappa * ref.permute_sites(np.kron(A, np.eye(d ** (N - 2))), d, N, perm)
        Y -= ref.one_body(A1, d, N, i)
    return 1j / hbar * Y


def log_product(rho, N):
    w, U = np.linalg.eigh(rho)
    L = (U * np.log(w)) @ U.conj().T
    return sum(ref.one_body(L, rho.shape[0], N, j) for j in range(N))


@pytest.mark.parametrize("d, N", [(2, 2), (2, 5), (2, 8), (3, 3), (3, 4)])
def test_lambda_blocks_match_dense(d, N):
    V = random_interaction(d, seed=d + N)
    rho = random_density_matrix(d, seed=N)
    etas = np.array([0.05, 0.4, 1.5])
    kappa, hbar = 1 / (N - 1), 0.8
    Y = dense_Y(rho, V, N, kappa, hbar)
    LN = log_product(rho, N)
    dense = [logsumexp(np.linalg.eigvalsh(LN + e * Y)) for e in etas]
    R0 = ref.product(rho, N)
    gt = [np.log(np.trace(R0 @ expm(e * Y)).real) for e in etas]
    res = lambda_blocks(BlockSpace(N, d), rho, V, kappa, hbar, etas, golden_thompson=True)
    np.testing.assert_allclose(res.lambda_N, dense, atol=1e-10)
    np.testing.assert_allclose(res.golden_thompson, gt, atol=1e-10)
    assert res.y_norm == pytest.approx(np.abs(np.linalg.eigvalsh(Y)).max(), rel=1e-10)
    assert np.all(res.golden_thompson >= res.lambda_N - 1e-12)  # Golden-Thompson


def test_lambda_properties():
    rho = random_density_matrix(2, seed=1)
    V = random_interaction(2, seed=2)
    etas = np.linspace(0.0, 2.0, 21)
    lam = lambda_blocks(BlockSpace(6, 2), rho, V, 0.2, 1.0, etas, y_norm=False).lambda_N
    assert lam[0] == pytest.approx(0.0, abs=1e-12)  # Lambda_N(0) = log Tr rho^(x)N = 0
    assert np.all(lam >= -1e-12)  # Tr(rho^(x)N Y_N) = 0 and convexity
    assert np.all(np.diff(lam, 2) >= -1e-10)  # convex in eta
    assert np.all(np.diff(lam) >= -1e-12)


def test_gibbs_variational_inequality_on_random_states():
    """Tr(R Y) <= (H(R | rho^(x)N) + Lambda_N(eta)) / eta for random symmetric and non-symmetric R."""
    N, d = 4, 2
    rho = random_density_matrix(d, seed=3)
    V = random_interaction(d, seed=4)
    Y = dense_Y(rho, V, N, 1 / (N - 1), 1.0)
    sigma = ref.product(rho, N)
    etas = np.array([0.1, 0.5, 2.0])
    lam = lambda_blocks(BlockSpace(N, d), rho, V, 1 / (N - 1), 1.0, etas, y_norm=False).lambda_N
    rng = np.random.default_rng(0)
    for _ in range(10):
        X = rng.normal(size=(d**N, d**N)) + 1j * rng.normal(size=(d**N, d**N))
        R = X @ X.conj().T
        R /= np.trace(R).real
        H = qmf.diagnostics.relative_entropy(R, sigma)
        for eta, L in zip(etas, lam):
            assert np.trace(R @ Y).real <= (H + L) / eta + 1e-10


def test_gronwall_bound_closed_form():
    """Constant Lambda: B(t) = e^{t/eta} H0 + Lambda (e^{t/eta} - 1)."""
    times = np.linspace(0, 1, 201)
    etas = np.array([0.5, 2.0])
    lam = np.full((2, times.size), 0.3)
    gb = gronwall_bound(times, lam, etas, H0=0.1)
    bound, eta_opt, per_eta = gb.bound, gb.eta_opt, gb.per_eta
    for e, eta in enumerate(etas):
        exact = np.exp(times / eta) * 0.1 + 0.3 * (np.exp(times / eta) - 1)
        np.testing.assert_allclose(per_eta[e], exact, rtol=1e-4)
    np.testing.assert_allclose(bound, per_eta.min(axis=0))
    np.testing.assert_array_equal(eta_opt, etas[np.argmin(per_eta, axis=0)])


MODELS = {
    "random V seed 1": dict(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1)),
    "random V seed 7": dict(h=P["z"], V=2 * random_interaction(2, seed=7)),
    "sum of products": dict(h=0.4 * P["x"], V=np.kron(P["z"], P["z"]) + 0.5 * np.kron(P["x"], P["x"])),
    "swap (full operator-Schmidt rank)": dict(h=0.3 * P["x"] + P["z"], V=qmf.operators.swap(2)),
    "random V, small hbar": dict(h=0.5 * P["x"], V=1.5 * random_interaction(2, seed=11), hbar=0.5),
    "open": dict(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=3),
                 jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])]),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bound_never_below_exact(name):
    model = qmf.Model(**MODELS[name])
    rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)
    times = np.linspace(0, 1.5, 31)
    ds = qmf.certify(model, rho0, N=[2, 4, 6], times=times)
    assert np.all(ds.bound.values >= ds.relative_entropy.values - 1e-10)
    ok = np.isfinite(ds.trace_distance.values)
    assert np.all(ds.trace_distance.values[ok] <= ds.certified_marginal_bound.values[ok] + 1e-10)
    assert np.all(ds.lambda_N.values >= -1e-12)


def test_certificate_large_N_uses_blocks():
    model = qmf.Model(**MODELS["random V seed 1"])
    rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)
    ds = qmf.certify(model, rho0, N=[50, 300], times=np.linspace(0, 1, 6), etas=[0.2, 0.5, 1.0])
    assert np.all(ds.bound.values >= ds.relative_entropy.values - 1e-10)
    assert list(ds.engine.values) == ["symmetric", "symmetric"]
    assert np.isnan(ds.golden_thompson.sel(N=300)).all()


def test_certificate_needs_full_rank_state():
    model = qmf.Model(**MODELS["random V seed 1"])
    with pytest.raises(qmf.QMeanFieldError, match="full-rank"):
        qmf.certify(model, qmf.states.pure([1, 0]), N=[3], times=[0, 0.5])


def test_rate_fits_recover_synthetic_exponents():
    N = np.array([10, 20, 40, 80, 160, 320])
    rng = np.random.default_rng(1)
    y = 0.7 + 2.0 / N
    fit = fit_inverse_N(N, y * (1 + 1e-4 * rng.normal(size=N.size)))
    assert abs(fit.limit - 0.7) < fit.limit_ci + 1e-3 and abs(fit.coefficient - 2.0) < fit.coefficient_ci + 1e-2
    assert not fit.poor
    p = fit_power_law(N, 3.0 * N ** -0.75 * np.exp(0.01 * rng.normal(size=N.size)))
    assert abs(p.exponent + 0.75) <= p.exponent_ci + 1e-3 and p.exponent_ci < 0.05
    assert p.prefactor == pytest.approx(3.0, rel=0.05)
    assert richardson_limit(N, 0.7 + 2.0 / N - 3.0 / N**2) == pytest.approx(0.7, abs=1e-10)


def test_certificate_workers_agree():
    model = qmf.Model(**MODELS["random V seed 1"])
    rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)
    kw = dict(N=[3, 40], times=np.linspace(0, 1, 4), etas=[0.3, 1.0], exact=False)
    one = qmf.certify(model, rho0, **kw)
    two = qmf.certify(model, rho0, workers=2, **kw)
    np.testing.assert_allclose(two.lambda_N, one.lambda_N, atol=1e-12)
    np.testing.assert_allclose(two.bound, one.bound, atol=1e-12)


def test_certificate_scaling_with_V_and_hbar():
    """Stronger interaction or smaller hbar (faster dynamics) gives a larger bound at a fixed time."""
    model = qmf.Model(**MODELS["random V seed 1"])
    rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)
    ds = qmf.certificate_scaling(model, rho0, 6, np.linspace(0, 1, 11), V_scales=(0.5, 1.0, 2.0), hbars=(0.5, 1.0, 2.0))
    final = ds.bound.values[..., -1]
    assert np.all(np.diff(final, axis=0) > 0)  # grows with ||V||
    assert np.all(np.diff(final, axis=1) < 0)  # shrinks with hbar
    assert ds.attrs["exponent_V"] > 0 > ds.attrs["exponent_hbar"]


def test_eta_threshold_separates_bounded_from_growing():
    model = qmf.Model(**MODELS["random V seed 1"])
    rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], 1.0)
    etas = np.array([0.05, 0.2, 5.0, 10.0])
    res = qmf.eta_threshold(model, rho0, t=1.0, Ns=(10, 20, 40, 80), etas=etas)
    assert res.lambda_N.shape == (4, 4)
    assert np.all(res.exponents[:2] < 0.2)   # small eta: Lambda_N stays bounded in N
    assert np.all(res.exponents[2:] > 0.5)   # large eta: Lambda_N grows with N
    assert 0.2 <= res.eta_threshold < 5.0
