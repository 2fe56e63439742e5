"""Semiclassical module, each part against an independent reference: closed forms for quadratic
Hamiltonians (Bures-Wasserstein), linear Landau damping, the HMF dispersion relation, conservation
laws, convergence orders, POT and uniform-density closed forms for W2."""

import importlib
import json
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import erfcx

import qmeanfield.semiclassical as sc
from qmeanfield.errors import ConfigError
from qmeanfield.semiclassical.config import parse_semiclassical
from qmeanfield.semiclassical.grid import edges, make_grid

# ----------------------------------------------------------------------------- W2 pieces


def _uniform_cells(n, lo, hi, a, b):
    """Cell masses of the uniform density on [a, b] over n cells of [lo, hi) (a, b on cell edges)."""
    e = np.linspace(lo, hi, n + 1)
    return e, ((e[:-1] >= a - 1e-12) & (e[1:] <= b + 1e-12)).astype(float)


def test_w2_1d_uniform_closed_form():
    """W2^2 between U[a,b] and U[c,d] = (mean difference)^2 + (length difference)^2 / 12."""
    e, f = _uniform_cells(400, -2, 2, -1.0, 0.5)
    _, g = _uniform_cells(400, -2, 2, 0.2, 1.8)
    exact = math.sqrt((-0.25 - 1.0) ** 2 + (1.5 - 1.6) ** 2 / 12)
    assert sc.w2_1d(e, f, g) == pytest.approx(exact, rel=1e-12)
    assert sc.w2_1d(e, f, f) == 0.0


def test_w2_1d_agrees_with_pot_on_fine_cells():
    ot = pytest.importorskip("ot")
    x = np.linspace(-5, 5, 2001)
    e = edges(x)
    f, g = np.exp(-x**2 / 2), np.exp(-((x - 0.7) ** 2) / 0.5)
    pot = math.sqrt(ot.wasserstein_1d(x, x, f / f.sum(), g / g.sum(), p=2))  # W2^2 of point masses
    assert sc.w2_1d(e, f, g) == pytest.approx(pot, rel=1e-3)


def _gaussian_hist(xe, pe, m, S):
    xc, pc = 0.5 * (xe[:-1] + xe[1:]), 0.5 * (pe[:-1] + pe[1:])
    Z = np.stack(np.meshgrid(xc - m[0], pc - m[1], indexing="ij"), -1)
    return np.exp(-0.5 * np.einsum("...i,ij,...j", Z, np.linalg.inv(S), Z))


def test_bracket_contains_the_gaussian_closed_form_and_emd_agrees():
    xe, pe = np.linspace(-4, 4, 201), np.linspace(-4, 4, 201)
    S1 = np.array([[0.5, 0.2], [0.2, 0.3]])
    S2 = np.array([[0.6, 0.1], [0.1, 0.35]])
    m1, m2 = np.array([0.0, 0.1]), np.array([0.2, -0.1])
    f, g = _gaussian_hist(xe, pe, m1, S1), _gaussian_hist(xe, pe, m2, S2)
    exact = sc.gaussian_w2(m1, S1, m2, S2)
    b = sc.w2_bracket(xe, pe, f, g, emd_cells=32)
    assert b.lower <= exact <= b.upper and b.narrow
    assert abs(b.emd - exact) <= b.emd_grid  # POT's value within its own grid bracket
    same = sc.w2_bracket(xe, pe, f, f, emd_cells=None)
    assert same.marginal_lower == 0.0 and same.knothe_upper == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- quadratic Hamiltonians

def _gaussian_problem(external, hbar, t_final=3.0):
    return sc.SemiclassicalProblem(domain="interval", length=28.0, external=external, pair="0",
                                   initial=sc.InitialData(kind="gaussian", sigma_x=0.5, sigma_p=0.5),
                                   hbars=(hbar,), t_final=t_final, n_times=4)


@pytest.mark.parametrize("external, flow", [("0", lambda t: np.array([[1, t], [0, 1]])),
                                            ("x**2/2", lambda t: np.array([[np.cos(t), np.sin(t)],
                                                                           [-np.sin(t), np.cos(t)]]))])
@pytest.mark.parametrize("hbar", [0.1, pytest.param(0.025, marks=pytest.mark.slow)])   # 0.025: ~40 s each
def test_quadratic_hamiltonians_match_the_closed_form(external, flow, hbar):
    """Free motion and a harmonic trap move the Wigner function along the linear flow A(t):
    f(t) = N(0, A S0 A^T), Husimi(R(t)) = N(0, A (S0 + hbar/2) A^T + hbar/2), W2 in closed form."""
    prob = _gaussian_problem(external, hbar)
    ds = sc.scan(prob, options=sc.ScanOptions(cells=(128, 128), emd_cells=0, snapshots=1))
    S0 = 0.25 * np.eye(2)
    for n, t in enumerate(prob.times):
        A = flow(t)
        exact = sc.gaussian_w2([0, 0], A @ S0 @ A.T, [0, 0], A @ (S0 + hbar / 2 * np.eye(2)) @ A.T + hbar / 2 * np.eye(2))
        lo, up = ds.w2_lower.values[0, n], ds.w2_upper.values[0, n]
        assert lo <= exact <= up, (t, lo, exact, up)
        assert up - lo < exact  # the interval measures something
    assert ds.trace_error.max() < 1e-12 and ds.spectrum_error.max() < 1e-11


def test_initial_distance_has_the_predicted_rate():
    """m(0) = sqrt(2)(sqrt(sigma^2 + hbar) - sigma) for Gaussian f0 (SEMICLASSICAL 4)."""
    for hbar in (0.2, 0.05):
        prob = _gaussian_problem("0", hbar, t_final=0.1)
        ds = sc.scan(prob, options=sc.ScanOptions(cells=(128, 128), emd_cells=0, snapshots=1))
        expected = math.sqrt(2) * (math.sqrt(0.25 + hbar) - 0.5)
        assert ds.w2_lower.values[0, 0] <= expected <= ds.w2_upper.values[0, 0]


# ----------------------------------------------------------------------------- Hartree

def _hartree(hbar=0.1, dt=0.05, pair="0.8*exp(-x**2)", t_final=2.0):
    prob = sc.SemiclassicalProblem(domain="periodic", length=2 * np.pi, pair=pair,
                                   initial=sc.InitialData(kind="gaussian", sigma_x=0.4, sigma_p=0.6, p0=0.3),
                                   hbars=(hbar,), t_final=t_final, n_times=2)
    grid = sc.quantum_grid(prob, hbar)
    _, p = sc.classical_grid(prob, 128, 128)
    orb = sc.toeplitz_state(prob, hbar, grid, p)
    solver = sc.HartreeSolver(prob, hbar, grid, dt)
    E0 = solver.energy(orb.weights, orb.psi)
    psi = list(solver.run(orb, prob.times))[-1]
    return orb, solver, psi, E0, grid


def test_hartree_conserves_trace_and_spectrum_and_energy_to_second_order():
    orb, solver, psi, E0, grid = _hartree(dt=0.04)
    gram = (psi.conj() @ psi.T) * grid.dx
    assert np.abs(gram - np.eye(gram.shape[0])).max() < 1e-12       # spectrum (weights fixed, orbitals orthonormal)
    assert abs(solver.density(orb.weights, psi).sum() * grid.dx - orb.weights.sum()) < 1e-12
    drift = [abs(_hartree(dt=dt)[1].energy(orb.weights, _hartree(dt=dt)[2]) - E0) for dt in (0.2, 0.1)]
    order = math.log2(drift[0] / drift[1])
    assert 1.6 < order < 2.5, drift   # Strang splitting: second order


def test_toeplitz_state_is_a_density_matrix_and_husimi_is_positive():
    prob = _gaussian_problem("0", 0.1)
    grid = make_grid(16.0, 512)
    _, p = sc.classical_grid(prob, 128, 128)
    orb = sc.toeplitz_state(prob, 0.1, grid, p)
    assert np.all(orb.weights > 0) and orb.weights.sum() == pytest.approx(1.0, abs=1e-12)
    R = sc.density_matrix(orb.weights, orb.psi)
    H = sc.husimi(R, grid, 0.1, 4, p, periodic=False)
    assert H.min() >= 0 and H.sum() * (grid.dx * 4) * (p[1] - p[0]) == pytest.approx(1.0, abs=1e-6)
    W = sc.wigner(R, grid, 0.1, 4, p, periodic=False)
    assert W.sum() * (grid.dx * 4) * (p[1] - p[0]) == pytest.approx(1.0, abs=1e-6)


def test_coherent_state_husimi_peaks_at_its_centre():
    hbar, q0, p0 = 0.05, 0.7, -0.4
    grid = make_grid(8.0, 512)
    psi = (np.pi * hbar) ** -0.25 * np.exp(-((grid.x - q0) ** 2) / (2 * hbar) + 1j * p0 * grid.x / hbar)
    p = np.linspace(-2, 2, 201)
    H = sc.husimi(sc.density_matrix(np.array([1.0]), psi[None, :]), grid, hbar, 1, p, periodic=False)
    i, j = np.unravel_index(np.argmax(H), H.shape)
    assert abs(grid.x[i] - q0) <= grid.dx and abs(p[j] - p0) <= p[1] - p[0]
    # |<q,p|q0,p0>|^2 = exp(-((q-q0)^2 + (p-p0)^2) / (2 hbar)): peak value 1 / (2 pi hbar)
    assert H.max() == pytest.approx(1 / (2 * np.pi * hbar), rel=1e-3)


# ----------------------------------------------------------------------------- Vlasov

def _electric_amplitude(prob, cells, dt):
    grid, p = make_grid(prob.length, cells[0]), np.linspace(-6, 6, cells[1], endpoint=False) + 6 / cells[1]
    f0 = prob.initial.density(grid.x, p)
    f0 /= f0.sum() * grid.dx * (p[1] - p[0])
    solver = sc.VlasovSolver(prob, grid, p, dt)
    E = np.array([np.sqrt(np.sum(solver.field.force(solver.density(f)) ** 2) * grid.dx)
                  for f in solver.run(f0, prob.times)])
    return E, solver.monitor


def test_linear_landau_damping():
    """Vlasov-Poisson, k = 0.5, amplitude 0.01: damping rate -0.1533, frequency 1.4156 (within 2 %)."""
    prob = sc.SemiclassicalProblem(domain="periodic", length=4 * np.pi, pair="poisson", hbars=(0.1,), t_final=20.0,
                                   n_times=201, initial=sc.InitialData(kind="expression",
                                                                       f="(1 + 0.01*cos(0.5*x))*exp(-p**2/2)"))
    E, monitor = _electric_amplitude(prob, (64, 128), 0.1)
    t = prob.times
    peaks = np.flatnonzero((E[1:-1] > E[:-2]) & (E[1:-1] > E[2:])) + 1
    rate = np.polyfit(t[peaks], np.log(E[peaks]), 1)[0]
    freq = np.pi / np.mean(np.diff(t[peaks]))
    assert rate == pytest.approx(-0.1533, rel=0.02)
    assert freq == pytest.approx(1.4156, rel=0.02)
    assert np.abs(monitor.mass - 1).max() < 1e-10   # round-off accumulated over 200 steps
    assert np.abs(monitor.energy - monitor.energy[0]).max() < 1e-4


def _hmf_growth_rate(T):
    """Root gamma of 1 = (1/(2T)) (1 - sqrt(pi) y erfcx(y)), y = gamma / sqrt(2T) (HMF, Maxwellian)."""
    y = brentq(lambda y: 1 - (1 - math.sqrt(math.pi) * y * erfcx(y)) / (2 * T), 1e-9, 10)
    return y * math.sqrt(2 * T)


@pytest.mark.parametrize("T, unstable", [(0.3, True), (0.7, False)])
def test_hmf_linear_stability(T, unstable):
    """A homogeneous Maxwellian of the HMF model is linearly unstable exactly when T < 1/2, with
    the growth rate of the dispersion relation."""
    prob = sc.SemiclassicalProblem(pair="-cos(x)", hbars=(0.1,), t_final=30.0, n_times=151,
                                   initial=sc.InitialData(kind="hmf_thermal", temperature=T, amplitude=1e-6))
    grid, p = sc.classical_grid(prob, 32, 256)
    f0 = prob.initial.density(grid.x, p)
    f0 /= f0.sum() * grid.dx * (p[1] - p[0])
    solver = sc.VlasovSolver(prob, grid, p, 0.1)
    M = np.array([abs(np.sum(solver.density(f) * np.exp(1j * grid.x)) * grid.dx) for f in solver.run(f0, prob.times)])
    t = prob.times
    if unstable:
        window = (t > 10) & (M < 1e-3)
        rate = np.polyfit(t[window], np.log(M[window]), 1)[0]
        assert rate == pytest.approx(_hmf_growth_rate(T), rel=0.02)
    else:
        assert M.max() <= M[0] * 1.01


# ----------------------------------------------------------------------------- the scan and its interfaces

TINY = """
name = "tiny"
[semiclassical]
pair = "-cos(x)"
hbar = [0.2, 0.1]
t_final = 2.0
n_times = 3
cells = [64, 64]
emd_cells = 16
[semiclassical.initial]
kind = "hmf_thermal"
temperature = 0.3
amplitude = 0.1
"""


def test_scan_command_writes_results_and_a_report(tmp_path):
    import re

    from typer.testing import CliRunner

    from qmeanfield import store
    from qmeanfield.cli import app

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["semiclassical", str(cfg), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    ds = store.load_dataset(out / "results.nc")
    for name in ("w2_husimi_vlasov", "w2_lower", "w2_upper", "w2_bound"):
        assert ds[name].dims == ("hbar", "time")
    assert np.all(ds.w2_lower <= ds.w2_husimi_vlasov) and np.all(ds.w2_husimi_vlasov <= ds.w2_upper)
    assert np.all(ds.w2_upper <= ds.w2_bound)                        # m(t) <= B(t)
    assert {"created_utc", "python", "version_numpy"} <= set(ds.attrs) and ds.attrs["certificate_violations"] == 0
    assert np.all(ds.w2_husimi_vlasov.sel(hbar=0.1) < ds.w2_husimi_vlasov.sel(hbar=0.2))  # decreases with hbar
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hbar"] == [0.2, 0.1] and all(row["bound_holds"] for row in summary["per_hbar"])
    html = (out / "semiclassical.html").read_text()
    for link in re.findall(r"href='([^']+)'", html):
        assert (out / link).exists(), link
    assert json.loads((out / "manifest.json").read_text())["complete"]


def test_a_violated_certificate_is_reported_not_raised(tmp_path, monkeypatch):
    """As in certify and compare, W2 above the certificate is a finding: the scan is kept, the
    summary says `bound_holds = false`, the CLI says it in red (here the certificate is made 10^6
    times too small to provoke it)."""
    from typer.testing import CliRunner

    from qmeanfield.cli import app

    scan_module = importlib.import_module("qmeanfield.semiclassical.scan")   # the module, not the function
    real = scan_module.certificate_bound
    monkeypatch.setattr(scan_module, "certificate_bound", lambda *a: 1e-6 * real(*a))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY.replace("hbar = [0.2, 0.1]", "hbar = [0.2]").replace("n_times = 3", "n_times = 2")
                   .replace("emd_cells = 16", "emd_cells = 0"))
    res = CliRunner().invoke(app, ["semiclassical", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "exceeds the certificate" in res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [row["bound_holds"] for row in summary["per_hbar"]] == [False]


@pytest.mark.parametrize("text, message", [
    ("[semiclassical]\nspeed = 1\n", "unknown key"),
    ("[semiclassical]\ndomain = 'sphere'\n", "domain must be one of"),
    ("[semiclassical]\nhbar = [0.1, -0.1]\n", "hbar"),
    ("[semiclassical]\npair = 'sin(x)'\n", "not even"),
    ("[semiclassical]\npair = 'exp(x'\n", "cannot parse"),
    ("[semiclassical]\npair = '__import__(1)'\n", "not allowed"),
    ("[semiclassical.initial]\nkind = 'banana'\n", "kind must be one of"),
    ("[semiclassical.initial]\nkind = 'expression'\nf = '-exp(-x**2)'\n", "negative"),
    ("[semiclassical]\ncells = [8, 8]\n", "cells"),
])
def test_bad_configuration_is_refused_with_the_field(text, message):
    import tomllib

    with pytest.raises(ConfigError, match=message):
        cfg = parse_semiclassical(tomllib.loads(text))
        cfg.problem.initial.density(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))


# ----------------------------------------------------------------------------- the chain to N bodies

def test_mode_projection_is_the_continuous_model_in_a_plane_wave_basis():
    from qmeanfield.semiclassical.chain import ModeProjection

    prob = sc.SemiclassicalProblem(pair="-cos(x)", external="0.3*cos(2*x)", hbars=(0.5,),
                                   initial=sc.InitialData(kind="hmf_thermal", temperature=0.05))
    proj = ModeProjection(prob, 0.5, 2)
    # kinetic diagonal and U's Fourier coefficients: cos(2x) couples k and k +- 2 with 0.3/2
    np.testing.assert_allclose(np.diag(proj.h).real, 0.5**2 * proj.k**2 / 2, atol=1e-12)
    assert proj.h[0, 2] == pytest.approx(0.15, abs=1e-12) and abs(proj.h[0, 1]) < 1e-12
    # V = -cos(x): only momentum transfer +-1, coefficient -(1/2) L / L
    V = proj.V.reshape(5, 5, 5, 5)
    assert V[2, 2, 3, 1] == pytest.approx(-0.5, abs=1e-12) and abs(V[2, 2, 2, 2]) < 1e-12
    proj.model()  # Hermitian and swap-symmetric, or Model refuses it


def test_chain_links_are_consistent():
    """Without interaction the N-body state stays a product (link 1 vanishes); the truncation link
    is bounded by twice the weight outside the modes plus its growth; the composed bound exceeds W2."""
    from qmeanfield.semiclassical.chain import chain

    prob = sc.SemiclassicalProblem(pair="0", hbars=(1.0,), t_final=1.0, n_times=3,
                                   initial=sc.InitialData(kind="hmf_thermal", temperature=0.05, amplitude=0.3))
    ds = chain(prob, 1.0, 2, [2, 3], options=sc.ScanOptions(cells=(64, 64), emd_cells=0))
    assert np.abs(ds.trace_distance_nbody.values).max() < 1e-9
    assert np.abs(ds.relative_entropy.values).max() < 1e-9
    assert ds.trace_distance_truncation.values[0] <= 3 * ds.attrs["weight_outside_modes"] + 1e-9
    assert np.all(ds.composed_bound.values >= ds.w2_upper.values[None, :])


def test_thermal_initial_state_of_a_harmonic_trap_is_stationary_with_the_closed_form():
    """The Gibbs state of h = -hbar^2/2 d^2 + x^2/2 and the classical Maxwell-Boltzmann density are
    stationary; their Wigner/Husimi and classical variances are (hbar/2) coth(beta hbar/2) (+ hbar/2) and
    1/beta, so W2 = sqrt(2) |sigma_H - sigma_f| at every time. No certificate: B is NaN."""
    hbar, beta = 0.2, 2.0
    prob = sc.SemiclassicalProblem(domain="interval", length=16.0, external="x**2/2", pair="0", hbars=(hbar,),
                                   t_final=2.0, n_times=3,
                                   initial=sc.InitialData(kind="thermal", reference="x**2/2", beta=beta))
    ds = sc.scan(prob, options=sc.ScanOptions(cells=(128, 128), emd_cells=0, snapshots=1))
    s_h = math.sqrt(hbar / 2 / math.tanh(beta * hbar / 2) + hbar / 2)
    exact = math.sqrt(2) * abs(s_h - 1 / math.sqrt(beta))
    assert np.all(ds.w2_lower.values <= exact) and np.all(exact <= ds.w2_upper.values)
    assert np.isnan(ds.w2_bound.values).all()


def test_hartree_converges_spectrally_in_dx():
    """Split-step Fourier is spectral in space: once the grid resolves the momenta reached, doubling
    the points changes the density by round-off only (the automatic grid is already converged)."""
    prob = sc.SemiclassicalProblem(domain="periodic", length=2 * np.pi, pair="0.8*exp(-x**2)", hbars=(0.1,),
                                   t_final=1.0, n_times=2,
                                   initial=sc.InitialData(kind="gaussian", sigma_x=0.4, sigma_p=0.6, p0=0.3))
    _, p = sc.classical_grid(prob, 128, 128)
    auto = sc.quantum_grid(prob, 0.1)
    densities = []
    for n in (auto.x.size, 2 * auto.x.size):
        grid = make_grid(prob.length, n)
        orb = sc.toeplitz_state(prob, 0.1, grid, p)
        psi = list(sc.HartreeSolver(prob, 0.1, grid, 0.02).run(orb, prob.times))[-1]
        densities.append(np.einsum("k,kx->x", orb.weights, np.abs(psi) ** 2))
    coarse, fine = densities
    assert np.abs(coarse - fine[::2]).max() < 1e-6 * coarse.max()
