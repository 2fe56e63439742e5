"""Properties the measured quantities must have (THEORY sections 2-3)."""

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus, spin_matrices

P = pauli()
TIMES = np.linspace(0, 2, 21)


def test_zero_at_t0_and_nonnegative(qubit_closed, qubit_open, rho_qubit):
    for model in (qubit_closed, qubit_open):
        ds = qmf.compare(model, rho_qubit, N=[2, 3, 5], times=TIMES)
        H = ds.relative_entropy.values
        assert np.all(np.abs(H[:, 0]) < 1e-12)
        assert np.all(H >= 0)
        assert np.all(H[:, 1:] > 1e-8)  # the interaction really creates correlations


@pytest.mark.parametrize("jumps", [[], [np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])]])
def test_no_interaction_keeps_product(jumps, rho_qubit):
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=np.zeros((4, 4)), jumps=jumps)
    ds = qmf.compare(model, rho_qubit, N=[2, 4], times=TIMES, marginals=(1, 2, 3))
    assert np.nanmax(np.abs(ds.relative_entropy.values)) < 1e-10
    assert np.nanmax(ds.trace_distance.values) < 1e-9


def test_identity_residual_closed(qubit_closed, rho_qubit):
    ds = qmf.compare(qubit_closed, rho_qubit, N=[2, 3, 4, 6], times=TIMES)
    scale = np.abs(ds.entropy_production.values).max()
    assert scale > 1e-2
    assert np.all(ds.identity_residual.values <= 1e-6 * scale)
    assert np.all(np.isnan(ds.dissipation.values))


def test_identity_residual_closed_qutrit_coupling_1_over_N():
    s = spin_matrices(3)
    model = qmf.Model(h=s["jx"] + 0.2 * s["jz"] @ s["jz"], V=random_interaction(3, seed=9), coupling="1/N", hbar=0.7)
    ds = qmf.compare(model, random_density_matrix(3, seed=2), N=[2, 3, 4], times=np.linspace(0, 1.5, 11))
    scale = np.abs(ds.entropy_production.values).max()
    assert np.all(ds.identity_residual.values <= 1e-6 * scale)


def test_dissipation_nonnegative_open(qubit_open, rho_qubit):
    ds = qmf.compare(qubit_open, rho_qubit, N=[2, 3, 4, 5], times=TIMES)
    D = ds.dissipation.values
    assert np.all(D >= -1e-8)
    assert D.max() > 1e-3  # the jumps do produce dissipation
    assert np.all(np.isnan(ds.identity_residual.values))


def test_trace_distance_below_pinsker(qubit_closed, qubit_open, rho_qubit):
    for model in (qubit_closed, qubit_open):
        ds = qmf.compare(model, rho_qubit, N=[2, 3, 4, 6], times=TIMES, marginals=(1, 2, 3))
        dist, bound = ds.trace_distance.values, ds.marginal_bound.values
        ok = np.isfinite(dist)
        assert np.all(dist[ok] <= bound[ok] + 1e-12)
        # k > N is reported as NaN, not as a number
        assert np.isnan(ds.trace_distance.sel(N=2, k=3)).all()


def test_pure_initial_state_gives_infinite_entropy_with_reason(qubit_closed):
    rho0 = qmf.states.pure([1, 0])
    ds = qmf.compare(qubit_closed, rho0, N=[3], times=np.linspace(0, 1, 6))
    H = ds.relative_entropy.values[0]
    assert H[0] == 0.0  # a product of pure states equals the pure mean-field product
    assert np.all(np.isposinf(H[1:]))
    assert "rank deficient" in ds.relative_entropy.attrs["note"]
    assert np.all(np.isfinite(ds.trace_distance.values))  # the dynamics itself is fine
    assert np.all(np.isposinf(ds.marginal_bound.values[..., 1:]))


def test_relative_entropy_function_edge_cases():
    rho = qmf.states.pure([1, 0])
    sigma = np.diag([0.5, 0.5]).astype(complex)
    assert qmf.diagnostics.relative_entropy(rho, sigma) == pytest.approx(np.log(2))
    assert qmf.diagnostics.relative_entropy(sigma, rho) == np.inf
    assert qmf.diagnostics.relative_entropy(sigma, sigma) == 0.0


def test_pinsker_bound_formula():
    H = np.array([0.0, 0.5, np.inf])
    np.testing.assert_allclose(qmf.diagnostics.pinsker_marginal_bound(H, 7, 2), np.sqrt(2 * H / 3))
    assert np.isnan(qmf.diagnostics.pinsker_marginal_bound(H, 2, 3)).all()


def test_stencil_derivative_is_fourth_order():
    from qmeanfield.diagnostics import derivative_from_stencil, stencil

    times = np.array([0.0, 0.3, 1.0])
    errs = []
    for step in (1e-1, 5e-2):
        allt, idx, w = stencil(times, step)
        errs.append(np.abs(derivative_from_stencil(np.sin(3 * allt), idx, w, step) - 3 * np.cos(3 * times)).max())
    assert np.log2(errs[0] / errs[1]) > 3.5


def test_entropy_identity_can_be_skipped(qubit_closed, rho_qubit):
    full = qmf.compare(qubit_closed, rho_qubit, N=[3], times=TIMES)
    fast = qmf.compare(qubit_closed, rho_qubit, N=[3], times=TIMES, entropy_identity=False)
    np.testing.assert_allclose(fast.relative_entropy, full.relative_entropy, atol=1e-12)
    assert np.all(np.isnan(fast.identity_residual.values)) and np.all(np.isnan(fast.entropy_derivative.values))
    summary = qmf.results.summarize_comparison(fast)
    assert summary["per_N"][0]["identity_residual_max"] is None
