"""W2 on grids: the debiased Sinkhorn solver and its error interval against closed forms (Gaussians,
Bures-Wasserstein), the exact soft-min against a brute-force log-sum-exp, and the refusals of the
semiclassical scan (a cut window, hbar too large for the domain, unresolved Vlasov, Lambda's range)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

import qmeanfield.semiclassical as sc
from qmeanfield.errors import ConfigError, QMeanFieldError
from qmeanfield.semiclassical.grid import edges
from qmeanfield.semiclassical.scan import local_exponents
from qmeanfield.semiclassical.sinkhorn import sinkhorn_divergence, softmin_axis
from qmeanfield.semiclassical.wasserstein import w2_grid


def _gauss(xc, pc, m, S):
    X, P = np.meshgrid(xc, pc, indexing="ij")
    Z = np.stack([X - m[0], P - m[1]], -1)
    return np.exp(-0.5 * np.einsum("...i,ij,...j", Z, np.linalg.inv(S), Z))


def _grid(n, half=5.0):
    c = np.linspace(-half, half, n, endpoint=False) + half / n
    return c, c.copy()


def test_softmin_axis_is_the_exact_log_sum_exp():
    """Every entry equals a brute-force log-sum-exp, including rows with empty cells and far outputs."""
    rng = np.random.default_rng(3)
    c = np.linspace(-3, 3, 40)
    eps = 2 * (c[1] - c[0]) ** 2
    H = rng.normal(size=(7, 40)) * 3 - 0.5 * c[None, :] ** 2 * rng.uniform(0, 4, size=(7, 1))
    H[1, :30] = -np.inf                       # mass only at one end of a row
    H[4] = -np.inf                            # an empty row
    out = softmin_axis(H, c, eps)
    brute = eps * logsumexp((H[:, None, :] - (c[None, :, None] - c[None, None, :]) ** 2) / eps, axis=2)
    assert np.all(np.isneginf(out[4]))
    live = np.isfinite(brute)
    assert np.allclose(out[live], brute[live], rtol=0, atol=1e-12 * np.abs(brute[live]).max())


@pytest.mark.parametrize("m1, S1, m2, S2", [
    ([0, 0], np.diag([0.25, 0.25]), [0.01, -0.005], np.diag([0.25, 0.25])),          # shift below a cell
    ([0, 0], np.array([[0.3, 0.2], [0.2, 0.3]]), [0, 0], np.array([[0.4, 0.1], [0.1, 0.2]])),
    ([0.3, 0], np.diag([0.5, 0.1]), [0, 0.2], np.diag([0.1, 0.5])),                  # sheared, rotated
])
def test_sinkhorn_matches_bures_wasserstein_inside_its_interval(m1, S1, m2, S2):
    xc, pc = _grid(64)
    r = sinkhorn_divergence(xc, pc, _gauss(xc, pc, m1, S1), _gauss(xc, pc, m2, S2))
    exact = sc.gaussian_w2(m1, S1, m2, S2)
    assert r.lower <= exact <= r.upper, (r, exact)
    assert abs(r.value - exact) <= 2e-3 * exact


def test_w2_grid_interval_holds_the_closed_form_and_is_narrow():
    """Husimi-like pair (the hbar blur of a sheared Gaussian) on 128^2 cells: the interval holds the exact value,
    lies inside the certified bracket, and is narrower than 3 % of it."""
    xc, pc = _grid(128)
    hbar, A = 0.1, np.array([[1.0, 1.5], [0.0, 1.0]])
    S0 = np.diag([0.25, 0.09])
    Sf, Sh = A @ S0 @ A.T, A @ (S0 + hbar / 2 * np.eye(2)) @ A.T + hbar / 2 * np.eye(2)
    est = w2_grid(edges(xc), edges(pc), _gauss(xc, pc, [0, 0], Sh), _gauss(xc, pc, [0, 0], Sf), max_cells=128)
    exact = sc.gaussian_w2([0, 0], Sh, [0, 0], Sf)
    assert est.lower <= exact <= est.upper, (est, exact)
    assert est.marginal_lower - 1e-12 <= est.upper and est.lower <= est.knothe_upper + 1e-12
    assert abs(est.value - exact) <= 0.01 * exact
    assert est.upper - est.lower <= 0.03 * exact


def test_local_exponents_of_a_power_law():
    hb = np.array([0.2, 0.05, 0.1, 0.025])
    w = 0.3 * hb[:, None] ** np.array([0.5, 1.0])[None, :]
    mid, slopes = local_exponents(hb, w)
    assert np.allclose(mid, np.sqrt([0.025 * 0.05, 0.05 * 0.1, 0.1 * 0.2]))
    assert np.allclose(slopes, [[0.5, 1.0]] * 3)


# ----------------------------------------------------------------------------- refusals

def _hmf(**kw):
    args = dict(domain="periodic", length=2 * math.pi, pair="-cos(x)",
                initial=sc.InitialData(kind="hmf_thermal", temperature=0.25, amplitude=0.05),
                hbars=(0.1,), t_final=0.5, n_times=2)
    args.update(kw)
    return sc.SemiclassicalProblem(**args)


def test_a_user_window_that_cuts_the_husimi_function_is_refused():
    with pytest.raises(QMeanFieldError, match="p_range"):
        sc.scan(_hmf(p_range=(-0.6, 0.6)), options=sc.ScanOptions(cells=(64, 64), emd_cells=0, snapshots=1))


def test_default_window_holds_the_husimi_width():
    """Cold data: the window reaches the classical bound plus 9 sqrt(hbar/2)."""
    prob = _hmf(initial=sc.InitialData(kind="gaussian", sigma_x=0.5, sigma_p=0.05), hbars=(0.2, 0.05))
    lo, hi = sc.grid.momentum_window(prob)
    blo, bhi = sc.grid.momentum_bound(prob)
    assert hi - bhi == pytest.approx(9 * math.sqrt(0.1)) and blo - lo == pytest.approx(9 * math.sqrt(0.1))


def test_hbar_too_large_for_the_domain_is_refused():
    with pytest.raises(ConfigError, match="coherent states no longer fit"):
        _hmf(hbars=(2.0,))
    _hmf(hbars=(1.0,))   # fits: exp(-pi^2 / 4) < e^-2.4 (the chain's hbar)


def test_unresolved_vlasov_is_refused():
    """A waterbag's jump rings on a coarse grid: negative values far beyond round-off."""
    prob = _hmf(initial=sc.InitialData(kind="waterbag", p_max=1.0, amplitude=0.05), t_final=2.0)
    with pytest.raises(QMeanFieldError, match="narrower than a cell"):
        sc.scan(prob, options=sc.ScanOptions(cells=(32, 32), emd_cells=0, snapshots=1))


def test_lambda_uses_the_whole_range_of_x_minus_y():
    """On an interval x - y spans [-L, L]: Lip(V') of V = x^4/12 is max |x^2| = L^2 there, not L^2 / 4."""
    prob = sc.SemiclassicalProblem(domain="interval", length=2.0, external="x**2/2", pair="x**4/12",
                                   initial=sc.InitialData(kind="gaussian", sigma_x=0.1, sigma_p=0.1),
                                   hbars=(0.01,), t_final=1.0, n_times=2)
    assert prob.lipschitz_constants()[1] == pytest.approx(4.0, rel=1e-3)


def _w2_of_two_gaussians(_=None):
    from qmeanfield.semiclassical.wasserstein import w2_grid

    x = np.linspace(-3, 3, 33)
    X, Pm = np.meshgrid(0.5 * (x[1:] + x[:-1]), 0.5 * (x[1:] + x[:-1]), indexing="ij")
    area = (x[1] - x[0]) ** 2
    f = np.exp(-(X**2 + Pm**2) / 0.5)
    g = np.exp(-((X - 0.3) ** 2 + Pm**2) / 0.5)
    return w2_grid(x, x, f / (f.sum() * area), g / (g.sum() * area)).value


def test_the_parallel_kernel_survives_fork():
    """After the W2 kernel ran its threads here, a forked process pool can run it too (GNU
    OpenMP would abort the children: the sweep of semiclassical scans lost its workers)."""
    from concurrent.futures import ProcessPoolExecutor

    here = _w2_of_two_gaussians()
    with ProcessPoolExecutor(2) as pool:
        there = list(pool.map(_w2_of_two_gaussians, range(2)))
    assert there == [here, here]
