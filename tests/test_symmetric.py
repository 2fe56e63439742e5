"""Symmetric (Schur-Weyl) engine: representation theory checks and agreement with the dense engine."""

import itertools
import math
from math import comb

import numpy as np
import pytest

import qmeanfield as qmf
from engine_checker import check_marginal_times
from qmeanfield.engines import choose_engine, make_engine
from qmeanfield.blocks.irreps import Irrep, gt_patterns, log_multiplicity, multiplicity, partitions, weyl_dimension
from qmeanfield.engines.symmetric import SymmetricEngine
from qmeanfield.operators import (pauli, random_density_matrix, random_hermitian, random_interaction,
                                  spin_matrices)

P = pauli()


@pytest.mark.parametrize("d, N", [(2, 1), (2, 7), (2, 200), (3, 5), (3, 40), (4, 9), (5, 6)])
def test_block_dimensions_sum_to_full_space(d, N):
    assert sum(weyl_dimension(lam) * multiplicity(lam) for lam in partitions(N, d)) == d**N


@pytest.mark.parametrize("N", [4, 9, 30])
def test_qubit_multiplicities_closed_form(N):
    for lam in partitions(N, 2):
        j2 = lam[0] - lam[1]  # 2j
        k = (N - j2) // 2     # N/2 - j
        assert multiplicity(lam) == comb(N, k) - (comb(N, k - 1) if k >= 1 else 0)
        assert weyl_dimension(lam) == j2 + 1 == len(gt_patterns(lam))


@pytest.mark.parametrize("d, N", [(1, 5), (2, 31), (3, 17), (4, 12), (5, 9)])
def test_log_multiplicity_matches_exact_hook_product(d, N):
    # the exact integer hook-length formula, against the O(d^2) Frobenius form in floating point
    for lam in partitions(N, d):
        assert log_multiplicity(lam) == pytest.approx(math.log(multiplicity(lam)), abs=1e-12)


@pytest.mark.parametrize("lam", [(3, 0), (4, 1), (2, 1, 0), (3, 1, 1), (4, 2, 0), (2, 1, 1, 0), (3, 2, 1, 0)])
def test_gl_commutation_relations_and_adjoints(lam):
    R = Irrep(lam)
    d = len(lam)
    assert R.dim == weyl_dimension(lam)
    J = {(a, b): R.J(a, b).toarray() for a in range(d) for b in range(d)}
    for a, b, c, e in itertools.product(range(d), repeat=4):
        lhs = J[a, b] @ J[c, e] - J[c, e] @ J[a, b]
        rhs = (b == c) * J[a, e] - (e == a) * J[c, b]
        np.testing.assert_allclose(lhs, rhs, atol=1e-11)
        np.testing.assert_allclose(J[a, b].conj().T, J[b, a], atol=1e-14)
    # the highest weight is lam and the total number operator is N
    np.testing.assert_allclose(sum(J[a, a] for a in range(d)), sum(lam) * np.eye(R.dim))
    assert max(np.diag(J[0, 0])) == lam[0]


def test_spin_blocks_are_spin_matrices():
    """For d = 2 the block of lam = (N - k, k) is spin j = (N - 2k)/2: J_01 is J_+."""
    R = Irrep((5, 2))
    s = spin_matrices(4)  # j = 3/2
    np.testing.assert_allclose(R.J(0, 1).toarray(), s["jp"], atol=1e-12)
    np.testing.assert_allclose((R.J(0, 0) - R.J(1, 1)).toarray() / 2, s["jz"], atol=1e-12)


MODELS = {
    "random V": lambda d: (random_hermitian(d, np.random.default_rng(d)), random_interaction(d, seed=11)),
    "product V": lambda d: (spin_matrices(d)["jx"], np.kron(spin_matrices(d)["jz"], spin_matrices(d)["jz"])),
    "swap V": lambda d: (spin_matrices(d)["jz"] + 0.3 * spin_matrices(d)["jx"], qmf.operators.swap(d)),
}


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("d, N", [(2, 2), (2, 6), (2, 10), (3, 3), (3, 6), (4, 4)])
def test_symmetric_matches_dense(model_name, d, N):
    h, V = MODELS[model_name](d)
    model = qmf.Model(h=h, V=V, hbar=0.9)
    rho0 = random_density_matrix(d, seed=N)
    times = np.array([0.0, 0.4, 1.3])
    kmax = min(3, N)
    a = make_engine("dense").evolve(model, rho0, N, times, kmax=kmax)
    b = make_engine("symmetric").evolve(model, rho0, N, times, kmax=kmax)
    for k in range(1, kmax + 1):
        np.testing.assert_allclose(b.marginals[k], a.marginals[k], atol=1e-8)
    np.testing.assert_allclose(b.entropy, a.entropy, atol=1e-9)
    assert b.discarded_weight <= 1e-12


def test_symmetric_pure_initial_state_exact():
    model = qmf.Model(h=0.4 * P["x"], V=random_interaction(2, seed=5))
    rho0 = qmf.states.pure([np.cos(0.3), np.exp(0.2j) * np.sin(0.3)])
    times = np.array([0.0, 0.7])
    a = make_engine("dense").evolve(model, rho0, 6, times, kmax=2)
    b = make_engine("symmetric").evolve(model, rho0, 6, times, kmax=2)
    np.testing.assert_allclose(b.marginals[2], a.marginals[2], atol=1e-10)
    assert b.stats["blocks_computed"] == 1  # only the symmetric subspace carries weight


def test_compare_symmetric_and_dense_datasets_agree(qubit_closed, rho_qubit):
    times = np.linspace(0, 1.5, 7)
    a = qmf.compare(qubit_closed, rho_qubit, N=[4, 7], times=times, engine="dense", marginals=(1, 2, 3))
    b = qmf.compare(qubit_closed, rho_qubit, N=[4, 7], times=times, engine="symmetric", marginals=(1, 2, 3))
    for var in ("relative_entropy", "trace_distance", "entropy_production", "entropy_derivative"):
        np.testing.assert_allclose(b[var].values, a[var].values, atol=1e-8, err_msg=var)


def test_truncation_error_is_bounded_by_reported_weight(qubit_closed):
    rho0 = qmf.states.thermal(P["z"], 0.4)
    times = np.array([0.0, 1.0])
    exact = make_engine("symmetric").evolve(qubit_closed, rho0, 40, times, kmax=2)
    rough = make_engine("symmetric", truncation=1e-3).evolve(qubit_closed, rho0, 40, times, kmax=2)
    dropped = rough.discarded_weight
    assert 0 < dropped <= 1e-3
    assert rough.stats["vectors_propagated"] < exact.stats["vectors_propagated"]
    for k in (1, 2):
        err = np.abs(np.linalg.eigvalsh(rough.marginals[k][1] - exact.marginals[k][1])).sum()
        assert err <= dropped + 1e-12


def test_relative_entropy_converges_with_N(qubit_closed, rho_qubit):
    times = np.array([0.0, 1.0])
    Ns = [25, 50, 100, 200]
    ds = qmf.compare(qubit_closed, rho_qubit, N=Ns, times=times, engine="symmetric")
    H = ds.relative_entropy.values[:, -1]
    steps = np.abs(np.diff(H))  # |H_2N - H_N|
    assert np.all(steps[1:] < 0.75 * steps[:-1])
    # the one-body marginal distance decays with N (faster than the Pinsker bound's N^-1/2)
    dist = ds.trace_distance.sel(k=1).values[:, -1]
    assert np.all(np.diff(dist) < 0)
    slope = np.polyfit(np.log(Ns), np.log(dist), 1)[0]
    assert slope < -0.5
    assert np.all(np.isfinite(H)) and np.all(H > 0)
    # the identity holds at large N too
    scale = np.abs(ds.entropy_production.values).max()
    assert np.nanmax(ds.identity_residual.values) < 1e-6 * scale


def test_auto_picks_symmetric_for_large_closed_and_permutational_for_open(qubit_closed, qubit_open):
    assert choose_engine(qubit_closed, 12).name == "symmetric"
    assert choose_engine(qubit_closed, 300).name == "symmetric"
    assert choose_engine(qubit_closed, 3000).name == "symmetric"  # no overflow in the dense estimate
    assert choose_engine(qubit_open, 2).name == "dense"
    assert choose_engine(qubit_open, 40).name == "permutational"
    with pytest.raises(qmf.EngineError, match="closed systems only"):
        choose_engine(qubit_open, 4, "symmetric")
    with pytest.raises(qmf.EngineError, match="no engine can run"):
        choose_engine(qubit_open, 5000)


def test_process_pool_gives_the_same_result(qubit_closed, rho_qubit):
    times = np.array([0.0, 0.8])
    one = make_engine("symmetric").evolve(qubit_closed, rho_qubit, 30, times, kmax=3)
    calls = []
    two = make_engine("symmetric", workers=2).evolve(qubit_closed, rho_qubit, 30, times, kmax=3, progress=calls.append)
    for k in (1, 2, 3):
        np.testing.assert_allclose(two.marginals[k], one.marginals[k], atol=1e-13)
    assert calls and calls[-1] == times.size and calls == sorted(calls)


@pytest.mark.slow
def test_large_N_identity_and_bound(qubit_closed, rho_qubit):
    """N = 500 and 1000: the entropy identity and the Pinsker bounds hold at large N too."""
    ds = qmf.compare(qubit_closed, rho_qubit, N=[500, 1000], times=np.linspace(0, 1, 5), engine="symmetric")
    scale = np.abs(ds.entropy_production.values).max()
    assert np.nanmax(ds.identity_residual.values) < 1e-6 * scale
    # up to the dropped weight (at most the truncation, 1e-12), which bounds the error of the distance
    slack = ds.discarded_weight.values[:, None, None] + 1e-12   # and round-off
    assert np.all(ds.discarded_weight.values <= 1e-12)
    assert np.all((ds.trace_distance.values <= ds.marginal_bound.values + slack) | ~np.isfinite(ds.trace_distance.values))


def test_dataset_reports_dropped_weight(qubit_closed, rho_qubit):
    ds = qmf.compare(qubit_closed, rho_qubit, N=[4, 60], times=[0.0, 0.5], engine_options={"truncation": 1e-6})
    assert list(ds.engine.values) == ["symmetric", "symmetric"]
    assert np.all(ds.discarded_weight.values <= 1e-6)
    assert ds.discarded_weight.sel(N=60) > 0  # a loose truncation does drop something, and says so
    dense = qmf.compare(qubit_closed, rho_qubit, N=[4], times=[0.0, 0.5], engine="dense")
    assert dense.discarded_weight.values[0] == 0.0


@pytest.mark.parametrize("d, N", [(2, 40), (3, 10)])
def test_krylov_blocks_agree_with_diagonalisation(d, N):
    """Propagating only the weighted vectors with the sparse H_lambda = diagonalising H_lambda."""
    from qmeanfield.operators import spin_matrices

    s = spin_matrices(d)
    model = qmf.Model(h=s["jx"] + 0.3 * s["jz"] + 0.1 * random_hermitian(d, np.random.default_rng(0)),
                      V=random_interaction(d, seed=1))
    rho0 = qmf.states.thermal(s["jz"] + 0.3 * s["jx"], 3.0)   # nearly pure
    times = np.linspace(0, 2, 5)
    a = SymmetricEngine(method="eigh").evolve(model, rho0, N, times, kmax=3)
    b = SymmetricEngine(method="krylov").evolve(model, rho0, N, times, kmax=3)
    assert b.stats["blocks_krylov"] == b.stats["blocks_computed"] and a.stats["blocks_krylov"] == 0
    for k in (1, 2, 3):
        assert np.abs(a.marginals[k] - b.marginals[k]).max() < 1e-10


@pytest.mark.parametrize("eigh_cost, expect_krylov", [(1e12, True), (1e-12, False)])
def test_auto_choice_per_block_follows_the_cost_model(eigh_cost, expect_krylov, monkeypatch):
    """method="auto" leaves blocks to their own cost comparison: with diagonalising priced out
    every block takes the Chebyshev series, priced free none does; the marginals equal those of
    diagonalising every block."""
    from qmeanfield.engines import symmetric

    monkeypatch.setattr(symmetric, "KRYLOV_AUTO_MIN_DIM", 1)
    monkeypatch.setattr(symmetric, "EIGH_COMPLEX_COST", eigh_cost)
    monkeypatch.setattr(symmetric, "EIGH_REAL_COST", eigh_cost)
    model = qmf.Model(h=random_hermitian(2, np.random.default_rng(3)), V=random_interaction(2, seed=4))
    rho0 = random_density_matrix(2, seed=6)
    times = np.linspace(0, 1, 4)
    ref = SymmetricEngine(method="eigh", workers=1).evolve(model, rho0, 12, times, kmax=2)
    auto = SymmetricEngine(workers=1).evolve(model, rho0, 12, times, kmax=2)
    krylov_blocks = auto.stats["blocks_krylov"]
    assert krylov_blocks == (auto.stats["blocks_computed"] if expect_krylov else 0)
    for k in (1, 2):
        assert np.abs(auto.marginals[k] - ref.marginals[k]).max() < 1e-10


def test_nearly_pure_state_needs_only_small_memory():
    """d = 3, N = 40: every block up to dimension 5000+ would not fit a 0.5 GiB budget diagonalised;
    a pure rho0 needs only the symmetric block, a nearly pure one propagates few vectors."""
    from qmeanfield.operators import spin_matrices

    s = spin_matrices(3)
    model = qmf.Model(h=s["jx"], V=random_interaction(3, seed=1))
    pure = np.diag([1.0, 0.0, 0.0])
    tr = SymmetricEngine(memory_budget_gb=0.5).evolve(model, pure, 40, np.array([0.0, 0.5]))
    assert tr.stats["blocks_computed"] == 1 and tr.discarded_weight == 0.0
    assert np.trace(tr.marginals[1][1]).real == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(qmf.EngineError, match="method"):
        SymmetricEngine(method="magic")


def test_weight_cut_drops_the_smallest_vectors_within_the_budget():
    from qmeanfield.engines.symmetric import _weight_cut

    rng = np.random.default_rng(3)
    logws = [np.log(rng.random(n)) * 10 for n in (5, 40, 300)]
    w = np.exp(np.concatenate(logws))
    for budget in (1e-12, 1e-6, 1e-3, 0.1):
        cut = _weight_cut(logws, budget)
        dropped = w[np.log(w) < cut]
        assert dropped.sum() <= budget
        # greedy: the smallest kept vector would not have fitted too
        smallest_kept = w[np.log(w) >= cut].min()
        assert dropped.sum() + smallest_kept > budget
    assert _weight_cut(logws, 0.0) == -np.inf   # no budget: every vector kept


@pytest.mark.parametrize("kmax", [2, 3])
def test_time_moments_match_dense_products(kmax):
    """Moments of several columns against the dense generators: m1 = <J_x>, m2 = <J_x J_y>, m3 = <J_x J_y J_z>."""
    from qmeanfield.engines.symmetric import time_moments

    irrep = Irrep((3, 1, 0))
    n = irrep.dim
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)) + 1j * rng.normal(size=(n, 3))
    J = irrep.generators()
    Jd = [Jx.toarray() for Jx in J]
    m1, m2, m3 = time_moments(J, X, kmax)
    ev = lambda A: np.einsum("ik,ij,jk->", X.conj(), A, X)  # noqa: E731
    np.testing.assert_allclose(m1, [ev(A) for A in Jd], atol=1e-10)
    np.testing.assert_allclose(m2, [[ev(A @ B) for B in Jd] for A in Jd], atol=1e-10)
    if kmax == 3:
        ref = np.array([[[ev(A @ B @ C) for C in Jd] for B in Jd] for A in Jd])
        np.testing.assert_allclose(m3, ref, atol=1e-9)
    else:
        assert m3 is None


def test_block_hamiltonian_spectral_interval_is_tight():
    from qmeanfield.propagators import spectral_interval
    from qmeanfield.engines.symmetric import block_hamiltonian

    irrep = Irrep((20, 5, 0))   # dimension 1056 > 500: Lanczos, not a full diagonalisation
    H = block_hamiltonian(irrep, random_hermitian(3, np.random.default_rng(1)), random_interaction(3, seed=2),
                          1 / 24, sparse=True)
    lo, hi = spectral_interval(H)
    w = np.linalg.eigvalsh(H.toarray())
    assert lo <= w[0] and w[-1] <= hi
    assert hi - lo < 1.06 * (w[-1] - w[0])


def test_krylov_in_several_column_groups(monkeypatch):
    """A block whose weighted vectors do not fit one group is propagated group by group."""
    from qmeanfield.engines import symmetric

    s = spin_matrices(3)
    model = qmf.Model(h=s["jx"] + 0.2 * s["jz"], V=random_interaction(3, seed=4))
    rho0 = qmf.states.thermal(s["jz"], 2.0)
    times = np.linspace(0, 1.5, 7)
    a = SymmetricEngine(method="eigh").evolve(model, rho0, 8, times, kmax=2)
    # 3 columns a group in the symmetric block (dimension 45, 7 times, workspace of 11 vectors a column)
    monkeypatch.setattr(symmetric, "_STATES_BYTES", 16.0 * 45 * (7 + 11) * 3)
    b = SymmetricEngine(method="krylov").evolve(model, rho0, 8, times, kmax=2)
    for k in (1, 2):
        assert np.abs(a.marginals[k] - b.marginals[k]).max() < 1e-10


@pytest.mark.parametrize("d, N", [(2, 7), (3, 6), (4, 5), (5, 3)])
def test_weight_multiset_matches_the_patterns(d, N):
    """The vectorised enumeration of pattern weights (used to plan at large N) gives the same
    multiset as the Gelfand-Tsetlin patterns themselves."""
    from qmeanfield.blocks.irreps import gt_patterns, partitions, pattern_weights, weight_multiset

    for lam in partitions(N, d):
        fast = sorted(map(tuple, weight_multiset(lam)))
        assert fast == sorted(map(tuple, pattern_weights(gt_patterns(lam))))


@pytest.mark.parametrize("d, N", [(2, 7), (3, 6), (4, 5), (5, 3)])
def test_gt_weights_in_the_order_of_the_patterns(d, N):
    """gt_weights (the blocks' diagonal weights without building the patterns, used by the
    steady-state windows at large N) equals the patterns' weights row by row, in their order."""
    from qmeanfield.blocks.irreps import gt_patterns, gt_weights, partitions, pattern_weights

    for lam in partitions(N, d):
        np.testing.assert_array_equal(gt_weights(lam), pattern_weights(gt_patterns(lam)))


@pytest.mark.parametrize("way", ["auto", "states", "eigenbasis", "anchors", "krylov", "anchors-far", "krylov-far",
                                 "krylov-steps", "krylov-series"])
@pytest.mark.parametrize("d, N", [(2, 9), (3, 5)])
def test_marginal_times_skip_higher_marginals_elsewhere(d, N, way, monkeypatch):
    """Marginals k >= 2 only where asked (NaN elsewhere), R^(1) everywhere, equal to the full run,
    whichever way R^(1) is found at the other times (from the states formed there, from the
    blocks' eigenbasis, or by short propagations from the nearest asked time, in both directions;
    ``krylov``: the Chebyshev propagation, its plan choosing between short steps to the other
    times (``-steps``) and making them outputs of the series (``-series``);
    ``-far``: a tiny reach for short steps, so that the other times get their states formed or
    propagated instead)."""
    from qmeanfield.engines import symmetric

    if way.endswith("-far"):
        way = way[:-4]
        monkeypatch.setattr(symmetric, "KRYLOV_HOP_PHASE", 1e-3)
    stepped = []
    if way.startswith("krylov-"):
        plan, choice = symmetric._krylov_plan, way[7:]

        def forced(n, r, nnz, R, times, higher, hbar):
            stored, hops, g, cost = plan(n, r, nnz, R, times, higher, hbar)
            if choice == "series":
                every = np.ones(times.size, dtype=bool)
                return every, {}, symmetric._series_plan(n, r, nnz, times.size, R, times.max(), hbar)[0], cost
            stored, hops = symmetric._hops(times, higher, R / hbar, symmetric.KRYLOV_HOP_PHASE)
            stepped.append(bool(hops))
            g = symmetric._series_plan(n, r, nnz, int(stored.sum()), R, times.max(), hbar)[0]
            return stored, hops, g, cost

        monkeypatch.setattr(symmetric, "_krylov_plan", forced)
        way = "krylov"
    if way not in ("auto", "krylov"):
        monkeypatch.setattr(symmetric, "_first_moment_way", lambda *args: way)
    model = qmf.Model(h=random_hermitian(d, np.random.default_rng(3)), V=random_interaction(d, seed=4))
    engine = SymmetricEngine(workers=1, method="krylov" if way == "krylov" else "auto")
    check_marginal_times(engine, model, random_density_matrix(d, seed=6), N, np.linspace(0, 1, 5),
                         [0, 3])
    if stepped:
        assert any(stepped)   # some block reached the other times by short steps


@pytest.mark.parametrize("method", ["krylov", "eigh"])
def test_memory_estimate_for_a_mixed_state_bounds_the_traced_peak(method):
    """The memory estimate for a mixed rho0 (its blocks' Hamiltonians, eigenvectors and states)
    bounds the peak of the arrays the engine allocates (traced), within a factor 3; the estimate
    without rho0 (the symmetric block only) does not."""
    import tracemalloc

    model = qmf.Model(h=random_hermitian(3, np.random.default_rng(3)), V=random_interaction(3, seed=4))
    rho0 = random_density_matrix(3, seed=6)
    times = np.linspace(0, 1, 30)
    engine = SymmetricEngine(workers=1, method=method)
    estimate = engine.estimated_memory(model, rho0, 12, times.size)
    tracemalloc.start()
    try:
        engine.evolve(model, rho0, 12, times)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= estimate <= 3 * peak
    assert engine.memory_estimate(model, 12) < peak
