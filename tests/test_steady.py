"""Steady states: N-body kernel against brute force, mean-field fixed points against closed forms."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import qmeanfield as qmf
from qmeanfield import meanfield
from qmeanfield.diagnostics import marginal
from qmeanfield.engines.dense import liouvillian
from qmeanfield.blocks import BlockMeasurement, BlockSpace, BlockWindows, lyapunov
from qmeanfield.blocks.space import measure_windows
from qmeanfield.engines import PermutationalEngine
from qmeanfield.engines import permutational, steady
from qmeanfield.operators import pauli, random_interaction, sigma_minus

P = pauli()


@pytest.fixture
def open_model():
    return qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=2),
                     jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])])


def _dense_steady(model, N):
    L = liouvillian(model, N).tocsr()
    D = model.d**N
    trace_row = np.zeros(D * D, dtype=complex)
    trace_row[np.arange(D) * (D + 1)] = 1
    M = sp.vstack([sp.csr_matrix(trace_row), L[1:]]).tocsc()
    b = np.zeros(D * D, dtype=complex)
    b[0] = 1
    R = spla.spsolve(M, b).reshape(D, D)
    return (R + R.conj().T) / 2


@pytest.mark.parametrize("N", [3, 5])
def test_steady_state_matches_full_space(open_model, N):
    ss = PermutationalEngine().steady_state(open_model, N)
    meas = BlockMeasurement(ss.space, 1, 2)
    meas.add(0, ss.state)
    R = _dense_steady(open_model, N)
    for k in (1, 2):
        assert np.abs(meas.marginals()[k][0] - marginal(R, 2, N, k)).max() < 1e-9
    w = np.linalg.eigvalsh(R)
    w = w[w > 1e-300]
    assert meas.entropy[0] == pytest.approx(-np.sum(w * np.log(w)), abs=1e-8)
    assert ss.residual < 1e-12


def test_krylov_and_relaxation_agree_with_direct_solve(open_model, monkeypatch):
    direct = PermutationalEngine().steady_state(open_model, 12)
    monkeypatch.setattr(steady, "DIRECT_SOLVE_MAX", 10)
    krylov = PermutationalEngine().steady_state(open_model, 12, tol=1e-12)
    monkeypatch.setattr(steady, "KRYLOV_MAXITER", 1)   # BiCGSTAB stops early: relaxation finishes
    monkeypatch.setattr(steady, "KRYLOV_MAXITER_PER_N", 0)
    relaxed = PermutationalEngine().steady_state(open_model, 12)
    assert (direct.method, krylov.method, relaxed.method) == ("direct", "bicgstab", "bicgstab+relaxation")
    assert 0 < krylov.iterations < 200 and krylov.residual < 1e-12
    assert np.abs(direct.state - krylov.state).max() < 1e-10
    assert np.abs(direct.state - relaxed.state).max() < 1e-8


@pytest.mark.parametrize("route", ["eigen", "schur"])
def test_preconditioner_shared_over_threads_is_the_same_map(open_model, route, monkeypatch):
    """NoJumpPreconditioner with its blocks shared over two threads equals the one-thread map,
    and both invert the no-jump part: A_l X + X A_l^+ = C on every block - through the blocks'
    eigendecompositions (what N = 30 takes) and, forced, through their Schur forms."""
    if route == "schur":
        monkeypatch.setattr(lyapunov, "EIGEN_MAX_RESIDUAL", -1.0)
    space = BlockSpace(30, 2)
    one = permutational.NoJumpPreconditioner(space, open_model, 30, 1e-6)
    two = permutational.NoJumpPreconditioner(space, open_model, 30, 1e-6, threads=2)
    rng = np.random.default_rng(1)
    c = rng.standard_normal(space.size) + 1j * rng.standard_normal(space.size)
    try:
        X = two(c)
        np.testing.assert_array_equal(X, one(c))
    finally:
        two.close()
    assert {part.method for part in one.parts} == {route}
    assert one.schur_blocks == (len(one.parts) if route == "schur" else 0)
    for i, ir in enumerate(space.irreps):
        A, _ = permutational.no_jump_block(ir, np.asarray(open_model.h), np.asarray(open_model.V),
                                           list(open_model.jumps), [], open_model.kappa(30), open_model.hbar)
        A = A.toarray() - 0.5e-6 * np.eye(ir.dim)
        Xi = X[space.offsets[i]:space.offsets[i + 1]].reshape(ir.dim, ir.dim)
        Ci = c[space.offsets[i]:space.offsets[i + 1]].reshape(ir.dim, ir.dim)
        np.testing.assert_allclose(A @ Xi + Xi @ A.conj().T, Ci, atol=1e-9 * np.abs(Ci).max())


def test_krylov_steady_state_from_another_reference_state(open_model, monkeypatch):
    """The rank-one term u tr(x) and the first iterate come from ``reference``: the mean-field
    fixed point or the default maximally mixed state give the same steady state (the direct
    solve's); a reference that is not a density matrix is refused by name."""
    direct = PermutationalEngine().steady_state(open_model, 14)
    monkeypatch.setattr(steady, "DIRECT_SOLVE_MAX", 10)
    fp = meanfield.fixed_points(open_model)[0].rho
    for ref in (None, fp, np.diag([1.0, 0.0])):
        ss = PermutationalEngine().steady_state(open_model, 14, reference=ref, tol=1e-12)
        assert ss.method == "bicgstab" and ss.residual < 1e-12
        assert np.abs(ss.state - direct.state).max() < 1e-10
    with pytest.raises(qmf.QMeanFieldError, match="reference"):
        PermutationalEngine().steady_state(open_model, 14, reference=np.eye(3))


def test_krylov_steady_state_through_schur_blocks_matches_direct_solve(open_model, monkeypatch):
    """Every preconditioner block forced onto the Schur route (what the largest blocks take from
    N ~ 200 on): BiCGSTAB still finds the direct solve's steady state, with at most two
    iterations more than through the eigendecompositions (both are exact inverses at N = 14)."""
    direct = PermutationalEngine().steady_state(open_model, 14)
    monkeypatch.setattr(steady, "DIRECT_SOLVE_MAX", 10)
    eigen = PermutationalEngine().steady_state(open_model, 14, tol=1e-12)
    monkeypatch.setattr(lyapunov, "EIGEN_MAX_RESIDUAL", -1.0)
    schur = PermutationalEngine().steady_state(open_model, 14, tol=1e-12)
    assert schur.method == "bicgstab" and schur.residual < 1e-12
    assert np.abs(schur.state - direct.state).max() < 1e-10
    assert schur.iterations <= eigen.iterations + 2


def test_krylov_steady_state_stops_on_its_own_criterion(open_model, monkeypatch):
    """BiCGSTAB stops once the normalised iterate meets ||L x||_1 / ||L||_1 < tol (checked every
    STEADY_CHECK_EVERY iterations), not at the fixed relative residual KRYLOV_RTOL: a looser tol
    takes fewer iterations and still meets it."""
    monkeypatch.setattr(steady, "DIRECT_SOLVE_MAX", 10)
    tight = PermutationalEngine().steady_state(open_model, 24, tol=1e-12)
    loose = PermutationalEngine().steady_state(open_model, 24, tol=1e-6)
    assert tight.residual < 1e-12 and loose.residual < 1e-6
    assert loose.method == "bicgstab" and loose.iterations < tight.iterations
    assert np.abs(loose.state - tight.state).sum() < 1e-3


def test_preconditioner_keeps_subnormal_numbers_out(open_model):
    """Entries far below the largest one (a large-N steady state's far blocks, p^N) are dropped
    on the way in and out of the preconditioner: no subnormal number reaches the matrix
    products, and the map is unchanged where it matters (against the input without them)."""
    space = BlockSpace(24, 2)
    pre = permutational.NoJumpPreconditioner(space, open_model, 24, 1e-6)
    rng = np.random.default_rng(4)
    c = rng.standard_normal(space.size) + 1j * rng.standard_normal(space.size)
    far = np.zeros(space.size, dtype=bool)
    far[space.offsets[-4]:] = True                         # the three smallest blocks
    tiny = np.where(far, c * 1e-305, c)                    # 1e-305: products of these go subnormal
    out = pre(tiny)
    a = np.abs(out)
    assert not np.any((a > 0) & (a < np.finfo(float).tiny))
    assert np.all(out[far] == 0)
    np.testing.assert_array_equal(out[~far], pre(np.where(far, 0, c))[~far])
    assert np.abs(out[~far]).max() > 0


def test_krylov_steady_state_with_collective_decay_and_a_dark_state(monkeypatch):
    """Pure emission (the all-ground state is dark for the no-jump part: the preconditioner's
    shift keeps it invertible) plus collective decay: BiCGSTAB agrees with the direct solve."""
    model = qmf.Model(h=0.4 * P["x"], V=random_interaction(2, seed=3), jumps=[0.5 * sigma_minus()],
                      collective_jumps=[0.3 * sigma_minus()])
    direct = PermutationalEngine().steady_state(model, 9)
    monkeypatch.setattr(steady, "DIRECT_SOLVE_MAX", 10)
    krylov = PermutationalEngine().steady_state(model, 9)
    assert krylov.method == "bicgstab" and krylov.residual < 1e-10
    assert np.abs(direct.state - krylov.state).max() < 1e-9


def test_steady_state_reports_each_bicgstab_iteration(open_model, capsys):
    """``on_iteration`` is called once per BiCGSTAB iteration with the running count, ending at
    the iterations the result records; `steady_state_comparison(progress=True)` shows them."""
    seen = []
    ss = PermutationalEngine().steady_state(open_model, 30, on_iteration=seen.append)
    assert ss.method == "bicgstab" and ss.iterations > 5
    assert seen == list(range(1, ss.iterations + 1))
    assert PermutationalEngine().steady_state(open_model, 8, on_iteration=seen.append).method == "direct"
    assert len(seen) == ss.iterations                      # the direct solve has no iterations
    ds = qmf.steady_state_comparison(open_model, [30], progress=True)
    assert f"steady state N = 30: BiCGSTAB iteration {int(ds.iterations[0])}" in capsys.readouterr().err


def test_fixed_point_of_a_linear_model_is_qutips_steady_state():
    """V = 0: the mean-field equation is a one-body Lindblad equation; its fixed point is unique."""
    h = 0.7 * P["x"] + 0.2 * P["z"]
    jumps = [np.sqrt(0.4) * sigma_minus(), 0.3 * P["z"]]
    model = qmf.Model(h=h, V=np.zeros((4, 4)), jumps=jumps)
    qutip = pytest.importorskip("qutip")
    fps = qmf.meanfield_fixed_points(model)
    assert len(fps) == 1 and fps[0].stable and fps[0].starts == len(meanfield._starts(2))
    assert fps.unique_stable and fps.unsettled_starts == 0
    ref = qutip.steadystate(qutip.Qobj(h), [qutip.Qobj(L) for L in jumps]).full()
    assert np.abs(fps[0].rho - ref).max() < 1e-9
    # and the N-body steady state is the product of the one-body ones: no correlations
    ds = qmf.steady_state_comparison(model, [4, 10], fixed_points=fps)
    assert np.abs(ds.trace_distance.values).max() < 1e-8
    assert np.abs(ds.relative_entropy.values).max() < 1e-8


def test_interacting_steady_state_approaches_the_fixed_point(open_model):
    ds = qmf.steady_state_comparison(open_model, [5, 10, 20, 40])
    assert ds.attrs["unique_fixed_point"] == 1
    fp = ds.fixed_point_state.values[0]
    assert np.linalg.norm(qmf.meanfield.rhs(open_model, fp)) < 1e-9
    dist = ds.trace_distance.sel(k=1).values[:, 0]
    assert np.all(np.diff(dist) < 0)
    assert ds.attrs["exponent_one_body"] < -0.8       # about 1/N
    H = ds.relative_entropy.values[:, 0]
    assert np.all(H > 0) and np.all(np.abs(np.diff(H)) < 0.05)   # O(1), converging


def test_bistable_meanfield_is_reported():
    """Driven, detuned, decaying two-level systems with a strong n (x) n interaction (Rydberg-like):
    the mean-field equation has two stable fixed points; the dataset says the fixed point is not unique."""
    n = np.diag([1.0, 0.0])
    model = qmf.Model(h=0.5 * P["x"] - 2.0 * n, V=6.0 * np.kron(n, n), jumps=[sigma_minus()])
    fps = qmf.meanfield_fixed_points(model)
    stable = [fp for fp in fps if fp.stable]
    assert len(stable) >= 2 and not fps.unique_stable
    assert all(np.linalg.norm(qmf.meanfield.rhs(model, fp.rho)) < 1e-9 for fp in stable)
    assert sum(fp.starts for fp in fps) + fps.unsettled_starts == len(meanfield._starts(2))  # every start accounted for
    ds = qmf.steady_state_comparison(model, [4, 8], fixed_points=fps)
    assert ds.attrs["unique_fixed_point"] == 0 and ds.attrs["stable_fixed_points"] >= 2


def test_closed_model_refused():
    model = qmf.Model(h=P["x"], V=random_interaction(2, seed=1))
    with pytest.raises(qmf.QMeanFieldError, match="open model"):
        qmf.steady_state_comparison(model, [4])


def test_liouvillian_gap_of_independent_decaying_spins_is_half_the_rate():
    """h = 0, V = 0, jump sqrt(g) sigma_-: the Liouvillian is a sum of one-spin ones with
    eigenvalues 0, -g/2, -g/2, -g, so the slowest rate is g/2 at every N (closed form)."""
    g = 0.8
    model = qmf.Model(h=np.zeros((2, 2)), V=np.zeros((4, 4)), jumps=[np.sqrt(g) * sigma_minus()])
    for N in (4, 30):   # dense eigenvalues (size 35) and Arnoldi on the propagator (size 5456)
        assert PermutationalEngine().liouvillian_gap(model, N) == pytest.approx(g / 2, rel=1e-8)


def test_liouvillian_gap_arnoldi_matches_dense_eigenvalues(open_model, monkeypatch):
    """The propagator-Arnoldi gap against the dense eigenvalues of the same block generator."""
    N = 8
    eng = PermutationalEngine()
    _, A = eng.generator(open_model, N)
    rates = np.sort(np.linalg.eigvals(A.toarray()).real)[::-1]
    monkeypatch.setattr(steady, "DENSE_GAP_MAX", 0)       # take the Arnoldi path at this size
    assert eng.liouvillian_gap(open_model, N, tau=0.5) == pytest.approx(-rates[1], rel=1e-7)


def test_liouvillian_gap_of_fast_decay_shortens_the_step():
    """A rate so fast that e^{tau L} kills every mode at tau = 1 (e^{-50}): the step is shortened
    and the closed form g/2 still comes out (Arnoldi path)."""
    g = 100.0
    model = qmf.Model(h=np.zeros((2, 2)), V=np.zeros((4, 4)), jumps=[np.sqrt(g) * sigma_minus()])
    assert PermutationalEngine().liouvillian_gap(model, 20) == pytest.approx(g / 2, rel=1e-8)


def test_steady_state_comparison_reports_the_gap_beside_the_fixed_point_stability(open_model):
    ds = qmf.steady_state_comparison(open_model, [4, 8], gap=True)
    assert np.all(ds.liouvillian_gap.values > 0)
    assert np.all(np.isnan(qmf.steady_state_comparison(open_model, [4]).liouvillian_gap.values))
    with pytest.raises(qmf.QMeanFieldError, match="gap"):
        qmf.steady_state_comparison(open_model, [4], gap="yes")


def test_steady_states_are_checked_against_their_own_memory_estimate(open_model):
    """The solve on every entry keeps a complex generator (20 bytes a nonzero against the real
    one's 12) and the preconditioner's factors; the windowed solve from the fixed point only its
    windows' share. Each is refused before any work when its own estimate passes the budget,
    naming it: a budget that fits the (real) time evolution fits the windows but not every entry."""
    eng = PermutationalEngine()
    N = 300
    fp = meanfield.fixed_points(open_model)[0].rho
    real, solver = eng.memory_estimate(open_model, N), eng.memory_estimate(open_model, N, real=False)
    windowed = eng.steady_memory_estimate(open_model, N, fp)
    assert windowed < real and solver > 1.5 * real
    assert eng.steady_memory_estimate(open_model, N) == solver          # no reference: every entry
    small = PermutationalEngine(memory_budget_gb=(real + solver) / 2 / 2**30)
    assert small.supports(open_model, N)[0] and small.supports_steady(open_model, N, fp)[0]
    assert not small.supports_steady(open_model, N)[0]
    with pytest.raises(qmf.EngineError, match="memory_budget_gb"):
        small.steady_state(open_model, N, reference=fp, windows=False)
    tiny = PermutationalEngine(memory_budget_gb=windowed / 2 / 2**30)
    with pytest.raises(qmf.EngineError, match="memory_budget_gb"):
        qmf.steady_state_comparison(open_model, [N], engine=tiny)
    # the gap needs the whole (real) generator, whatever the steady state's windows
    windows_only = PermutationalEngine(memory_budget_gb=(windowed + real) / 2 / 2**30)
    assert windows_only.supports_steady(open_model, N, fp)[0] and not windows_only.supports(open_model, N)[0]
    with pytest.raises(qmf.EngineError, match="memory_budget_gb"):
        qmf.steady_state_comparison(open_model, [N], engine=windows_only, gap=True)


# ----------------------------------------------------------------------------- windowed solve
def _collective_model():
    return qmf.Model(h=0.4 * P["x"] + 0.2 * P["z"], V=random_interaction(2, seed=5),
                     jumps=[0.3 * (sigma_minus() + 0.4 * P["z"])], collective_jumps=[0.2 * P["x"]])


@pytest.mark.parametrize("d, N", [(2, 9), (3, 4)])
def test_generator_on_windows_is_the_whole_generators_restriction(d, N):
    """Built on windows (random row sets, some empty), the generator is the whole generator's
    rows and columns of the windows' entries: every term (Hamiltonian, anticommutator, one-body
    sandwiches between blocks, collective jumps) cut the same way."""
    rng = np.random.default_rng(3)
    if d == 2:
        model = _collective_model()
    else:
        model = qmf.Model(h=np.diag([0.3, -0.1, 0.5]) + 0.2 * (np.eye(3, k=1) + np.eye(3, k=-1)),
                          V=random_interaction(3, seed=4), jumps=[np.sqrt(0.3) * np.eye(3, k=1)],
                          collective_jumps=[0.2 * np.diag([1.0, 0.0, -1.0])])
    space = BlockSpace(N, d)
    args = (np.asarray(model.h), np.asarray(model.V), list(model.jumps), list(model.collective_jumps),
            model.kappa(N), model.hbar)
    A = permutational.block_liouvillian(space, *args)
    rows = [np.flatnonzero(rng.random(n) < 0.6) if i % 3 else np.array([], dtype=int) for i, n in enumerate(space.dims)]
    win = BlockWindows(space, rows)
    assert 0 < win.size < space.size
    Aw = permutational.block_liouvillian(space, *args, windows=win)
    assert Aw.shape == (win.size, win.size)
    assert abs(Aw - A[win.keep][:, win.keep]).max() < 1e-13
    x = np.arange(win.size) + 1.0
    assert np.array_equal(win.pad(x)[win.keep], x) and win.pad(x).sum() == x.sum()
    # columns on windows inside wider row windows: those rows of the columns' image, and the
    # nonzero terms whose rows fall beyond them counted as escaped
    wider = BlockWindows(space, [np.union1d(r, np.flatnonzero(rng.random(n) < 0.5)) for r, n in zip(rows, space.dims)])
    escaped = []
    Ar = permutational.block_liouvillian(space, *args, windows=wider, columns=win, escaped=escaped)
    whole = A[:, win.keep].tocsr()
    assert Ar.shape == (wider.size, win.size)
    assert abs(Ar - whole[wider.keep]).max() < 1e-13
    outside = np.setdiff1d(np.arange(space.size), wider.keep)
    assert escaped[0] >= whole[outside].count_nonzero() > 0      # terms, some summed into one entry
    every = BlockWindows(space, [np.arange(n) for n in space.dims])
    Ae = permutational.block_liouvillian(space, *args, windows=every, columns=win, escaped=escaped)
    assert escaped[1] == 0 and abs(Ae - whole).max() < 1e-13
    assert np.array_equal(win.positions_in(wider), np.searchsorted(wider.keep, win.keep))


@pytest.mark.parametrize("d, N", [(2, 9), (3, 5)])
def test_windowed_state_measured_without_the_whole_vector(d, N):
    """Entropy and marginals of a state that lives in windows, from the windows alone, equal
    those of the whole vector (zero outside the windows) measured block by block."""
    rng = np.random.default_rng(0)
    space = BlockSpace(N, d)
    win = BlockWindows(space, [np.flatnonzero(rng.random(n) < 0.6) for n in space.dims])
    y = np.zeros(win.size, dtype=complex)
    for i, m in enumerate(win.dims):
        G = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
        y[win.offsets[i]:win.offsets[i + 1]] = (G @ G.conj().T).ravel()
    y /= y[win.diagonal_positions()].sum()
    S, negative, marg = measure_windows(win, y)
    meas = BlockMeasurement(space, 1, 2)
    meas.add(0, win.pad(y))
    assert S == pytest.approx(meas.entropy[0], abs=1e-12) and negative == 0.0
    for k in (1, 2):
        assert np.abs(marg[k] - meas.marginals()[k][0]).max() < 1e-13


def test_rotated_model_has_the_conjugated_generator():
    """Model.rotated(W): its N-body Lindbladian is the original one conjugated by W^(x)N
    (brute force at N = 3), and a W that is not unitary is refused."""
    model = _collective_model()
    W = np.linalg.eigh(random_interaction(2, seed=8)[:2, :2] + np.diag([0.0, 0.5]))[1] @ np.diag([1, 1j])
    rot = model.rotated(W)
    N = 3
    WN = np.kron(np.kron(W, W), W)
    rho = np.random.default_rng(1).normal(size=(8, 8)) + 1j * np.random.default_rng(2).normal(size=(8, 8))
    L, Lr = liouvillian(model, N), liouvillian(rot, N)
    out = (L @ rho.reshape(-1)).reshape(8, 8)
    out_rot = (Lr @ (WN.conj().T @ rho @ WN).reshape(-1)).reshape(8, 8)
    assert np.abs(out_rot - WN.conj().T @ out @ WN).max() < 1e-12
    with pytest.raises(qmf.ModelError, match="unitary"):
        model.rotated(2 * W)


def test_windowed_steady_state_matches_the_solve_on_every_entry(open_model):
    """README's open model at N = 80: the windows hold under half the entries, and the steady
    state solved on them (in the fixed point's eigenbasis, rotated back) is the one solved on
    every entry, to the tolerance; both meet the criterion on the whole generator."""
    fp = meanfield.fixed_points(open_model)[0].rho
    full = PermutationalEngine().steady_state(open_model, 80, reference=fp, windows=False)
    win = PermutationalEngine().steady_state(open_model, 80, reference=fp)
    assert (full.method, win.method) == ("bicgstab", "bicgstab-windows") and win.state is None
    assert full.solved_entries == full.space.size and win.solved_entries < 0.5 * win.space.size
    assert win.residual < 1e-10 and full.residual < 1e-10
    x = win.full_state()
    assert np.abs(x - full.state).sum() < 1e-7
    assert win.space.trace_row() @ x == pytest.approx(1.0, abs=1e-12)
    # the residual of the windowed state, rotated back, on the whole generator
    _, A = PermutationalEngine().generator(open_model, 80)
    scale = abs(A).sum(axis=0).max()
    assert np.abs(A @ x).sum() / scale < 1e-10
    (S, marg), (S_full, marg_full) = win.measure(), full.measure()
    assert S == pytest.approx(S_full, rel=1e-9)
    for k in (1, 2):
        assert np.abs(marg[k] - marg_full[k]).max() < 1e-9


def test_windowed_steady_state_widens_its_windows_then_solves_every_entry(open_model, monkeypatch):
    """Windows too narrow for the criterion: the second, wider try is taken; if that also
    misses, every entry is solved for from its result (the iterations of every try counted)."""
    fp = meanfield.fixed_points(open_model)[0].rho
    tries = []
    solve = steady._window_solve

    def spy(engine, space, model, N, reference, tol, weight_min, *args):
        tries.append(weight_min)
        return solve(engine, space, model, N, reference, tol, weight_min, *args)

    monkeypatch.setattr(steady, "_window_solve", spy)
    monkeypatch.setattr(steady, "WINDOW_WEIGHT_MIN", (1e-2, 1e-20))
    wider = PermutationalEngine().steady_state(open_model, 80, reference=fp)
    assert tries == [1e-2, 1e-20]
    monkeypatch.setattr(steady, "WINDOW_WEIGHT_MIN", (1e-2,))
    full = PermutationalEngine().steady_state(open_model, 80, reference=fp)
    assert tries == [1e-2, 1e-20, 1e-2]
    assert wider.method == "bicgstab-windows" and wider.residual < 1e-10
    assert full.method == "bicgstab" and full.residual < 1e-10 and full.solved_entries == full.space.size
    assert np.abs(wider.full_state() - full.state).sum() < 1e-7
    with pytest.raises(qmf.QMeanFieldError, match="windows"):
        PermutationalEngine().steady_state(open_model, 80, windows="yes")


def test_windowed_preconditioner_solves_equal_windows_together(open_model):
    """Windows of one size on the eigen route are solved by stacked products: the same map as
    each window's own Lyapunov solve (A_S X + X A_S^+ = C), checked by its residual."""
    N = 80
    fp = meanfield.fixed_points(open_model)[0].rho
    space = BlockSpace(N, 2)
    win, W, _ = permutational.steady_windows(space, fp, 1e-20)
    rot = open_model.rotated(W)
    pre = permutational.NoJumpPreconditioner(space, rot, N, 0.0, windows=win)
    assert pre.stacked_blocks > 10
    c = np.random.default_rng(4).normal(size=win.size) + 0j
    x = pre(c)
    for i, (X, C) in enumerate(zip(win.blocks(x), win.blocks(c))):
        if X.size:
            A, _ = permutational.no_jump_block(space.irrep(i), rot.h, rot.V, list(rot.jumps), [], rot.kappa(N), 1.0)
            A = A.toarray()[np.ix_(win.rows[i], win.rows[i])]
            assert np.linalg.norm(A @ X + X @ A.conj().T - C) < 1e-8 * np.linalg.norm(C)
