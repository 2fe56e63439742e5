"""Permutational engine: open dynamics on Schur-Weyl blocks against the dense engine and exact properties."""

import numpy as np
import pytest

import qmeanfield as qmf
from engine_checker import check_marginal_times
from qmeanfield.engines import choose_engine
from qmeanfield.engines.dense import DenseEngine
from qmeanfield.engines.permutational import PermutationalEngine
from qmeanfield.blocks.irreps import Irrep, _product_generator, branching_isometry, partitions
from qmeanfield.engines.symmetric import SymmetricEngine
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus

P = pauli()
RNG = np.random.default_rng(11)


def _random_matrix(d, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))


def _random_hermitian(d, seed):
    A = _random_matrix(d, seed)
    return (A + A.conj().T) / 2


def _lowering(d):
    L = np.zeros((d, d))
    L[0, 1] = 1.0
    return L


JUMP_SETS = {
    "emission+cross": lambda d: [np.sqrt(0.3) * _lowering(d), 0.4 * (_lowering(d) + 0.5 * np.diag(np.arange(d)))],
    "random complex": lambda d: [0.5 * _random_matrix(d, 3)],
    "three channels": lambda d: [0.3 * _lowering(d), 0.3 * _lowering(d).T, 0.5 * np.diag(np.linspace(-1, 1, d))],
}


def _model(d, jumps, collective=(), seed=1):
    return qmf.Model(h=_random_hermitian(d, seed), V=random_interaction(d, seed=seed + 1), jumps=jumps,
                     collective_jumps=collective)


@pytest.mark.parametrize("d, N", [(2, 2), (2, 3), (2, 4), (2, 5), (2, 6), (3, 2), (3, 3), (3, 4)])
@pytest.mark.parametrize("jumps", sorted(JUMP_SETS))
def test_agrees_with_dense(d, N, jumps):
    model = _model(d, JUMP_SETS[jumps](d))
    rho0 = random_density_matrix(d, seed=5)
    times = np.linspace(0, 1.5, 4)
    a = DenseEngine().evolve(model, rho0, N, times, kmax=3)
    b = PermutationalEngine().evolve(model, rho0, N, times, kmax=3)
    for k in a.marginals:
        assert np.abs(a.marginals[k] - b.marginals[k]).max() < 1e-9
    assert np.abs(a.entropy - b.entropy).max() < 1e-9


@pytest.mark.parametrize("d, N", [(2, 3), (2, 5), (3, 3)])
def test_collective_jumps_agree_with_dense(d, N):
    model = _model(d, [0.3 * _lowering(d)], collective=[0.6 * _lowering(d), 0.3 * _random_matrix(d, 8)])
    rho0 = random_density_matrix(d, seed=6)
    times = np.linspace(0, 1.0, 3)
    a = DenseEngine().evolve(model, rho0, N, times)
    b = PermutationalEngine().evolve(model, rho0, N, times)
    for k in a.marginals:
        assert np.abs(a.marginals[k] - b.marginals[k]).max() < 1e-9
    assert np.abs(a.entropy - b.entropy).max() < 1e-9


def test_pure_initial_state_is_exact():
    model = _model(2, JUMP_SETS["emission+cross"](2))
    psi = np.array([0.6, 0.8j])
    rho0 = np.outer(psi, psi.conj())
    times = np.array([0.0, 0.7])
    a = DenseEngine().evolve(model, rho0, 5, times)
    b = PermutationalEngine().evolve(model, rho0, 5, times)
    assert np.abs(a.marginals[2] - b.marginals[2]).max() < 1e-9
    assert abs(b.entropy[0]) < 1e-9 and b.entropy[1] > 1e-3  # dissipation creates entropy


@pytest.mark.parametrize("d, N", [(2, 6), (2, 7), (3, 4), (3, 5), (4, 3)])
def test_branching_isometries(d, N):
    """W^+ W = 1 and J_ab^tot W = W J_ab for every lambda = mu + box."""
    for mu in partitions(N - 1, d):
        mir = Irrep(mu)
        for r in range(d):
            lam = list(mu)
            lam[r] += 1
            if r > 0 and lam[r] > lam[r - 1]:
                continue
            lir = Irrep(tuple(lam))
            W = branching_isometry(mir, lir).toarray()
            assert np.abs(W.T @ W - np.eye(lir.dim)).max() < 1e-12
            for a in range(d):
                for b in range(d):
                    assert np.abs(_product_generator(mir, a, b) @ W - W @ lir.J(a, b)).max() < 1e-11


@pytest.mark.parametrize("d, N", [(2, 30), (3, 6)])
def test_blocks_stay_states(d, N):
    """Trace one, Hermitian, positive: every block along the trajectory."""
    model = _model(d, JUMP_SETS["emission+cross"](d) + JUMP_SETS["random complex"](d))
    eng = PermutationalEngine()
    states = eng.block_states(model, random_density_matrix(d, seed=2), N, np.linspace(0, 2, 5))
    space, _ = next(states)
    for x in states:
        blocks = space.split(x)
        assert abs(sum(np.trace(B) for B in blocks) - 1) < 1e-10
        for B in blocks:
            assert np.abs(B - B.conj().T).max() < 1e-10
            assert np.linalg.eigvalsh((B + B.conj().T) / 2).min() > -1e-10


@pytest.mark.parametrize("N", [10, 40])
def test_dissipation_nonnegative(N):
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=2),
                      jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])])
    ds = qmf.compare(model, random_density_matrix(2, seed=7), [N], np.linspace(0, 2, 6), engine="permutational")
    D = ds.dissipation.values[0]
    assert np.all(np.isfinite(D)) and D.min() > -1e-6
    assert ds.relative_entropy.values[0, 0] == pytest.approx(0, abs=1e-10)


@pytest.mark.parametrize("d, N", [(2, 25), (3, 6)])
def test_jumps_only_keep_the_product_structure(d, N):
    """With h = 0 and V = 0 every particle evolves alone: R_N(t) = rho(t)^(x)N, so H_N(t) = 0."""
    model = qmf.Model(h=np.zeros((d, d)), V=np.zeros((d * d, d * d)),
                      jumps=JUMP_SETS["emission+cross"](d) + JUMP_SETS["random complex"](d))
    ds = qmf.compare(model, random_density_matrix(d, seed=3), [N], np.linspace(0, 2, 5),
                     engine="permutational", entropy_identity=False)
    assert np.abs(ds.relative_entropy.values).max() < 1e-8
    assert np.abs(ds.trace_distance.values).max() < 1e-8


def test_closed_model_agrees_with_symmetric_engine():
    model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1))
    rho0 = random_density_matrix(2, seed=4)
    times = np.linspace(0, 2, 5)
    a = SymmetricEngine().evolve(model, rho0, 30, times)
    b = PermutationalEngine().evolve(model, rho0, 30, times)
    assert np.abs(a.marginals[2] - b.marginals[2]).max() < 1e-9
    assert np.abs(a.entropy - b.entropy).max() < 1e-8  # closed: S(R_N) conserved


def test_collective_jumps_have_the_meanfield_limit():
    """The one-body marginal approaches the mean-field solution with the collective Hamiltonian."""
    model = qmf.Model(h=0.5 * P["x"], V=random_interaction(2, seed=3), jumps=[0.3 * sigma_minus()],
                      collective_jumps=[0.8 * sigma_minus()])
    ds = qmf.compare(model, random_density_matrix(2, seed=1), [10, 20, 40], np.linspace(0, 2, 5),
                     engine="permutational", entropy_identity=False)
    dist = ds.trace_distance.sel(k=1).values[:, -1]
    assert dist[0] > dist[1] > dist[2]
    assert dist[2] < 0.6 * dist[0]
    assert np.all(np.isnan(ds.dissipation.values))  # identity not derived for collective jumps


def test_auto_and_memory_refusal():
    model = _model(2, JUMP_SETS["emission+cross"](2))
    assert choose_engine(model, 60).name == "permutational"
    with pytest.raises(qmf.EngineError, match="permutational engine needs about"):
        choose_engine(model, 60, "permutational", {"memory_budget_gb": 0.01})
    with pytest.raises(qmf.EngineError, match="workers"):
        PermutationalEngine(workers=0)


def test_threads_give_the_same_result():
    model = _model(2, JUMP_SETS["emission+cross"](2))
    rho0 = random_density_matrix(2, seed=4)
    times = np.array([0.0, 0.5])
    a = PermutationalEngine(workers=1).evolve(model, rho0, 60, times)
    b = PermutationalEngine(workers=2).evolve(model, rho0, 60, times)
    assert np.abs(a.marginals[2] - b.marginals[2]).max() < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("d, N", [(2, 7), (2, 8), (3, 5)])
def test_agrees_with_dense_at_the_largest_common_sizes(d, N):
    """N <= 8 (d = 2) and N = 5 (d = 3) with general complex jumps and a random V (tens of seconds each)."""
    model = _model(d, JUMP_SETS["random complex"](d) + [0.3 * np.diag(np.arange(d))])
    rho0 = random_density_matrix(d, seed=5)
    times = np.linspace(0, 1.5, 4)
    a = DenseEngine(memory_budget_gb=16).evolve(model, rho0, N, times)
    b = PermutationalEngine().evolve(model, rho0, N, times)
    for k in a.marginals:
        assert np.abs(a.marginals[k] - b.marginals[k]).max() < 1e-9
    assert np.abs(a.entropy - b.entropy).max() < 1e-9


@pytest.mark.parametrize("N", [2, 5, 12])
def test_closed_form_spin_half_coupling_matches_general_construction(N):
    """d = 2 uses Clebsch-Gordan coefficients in closed form; the general weight-by-weight
    construction gives the same matrix (up to the overall sign, which the engine never sees: each
    term has W twice, and the general rule ties when two components of the highest weight vector
    are equal)."""
    from qmeanfield.blocks.irreps import _isometry_by_lowering

    for mu in partitions(N - 1, 2):
        mir = Irrep(mu)
        for lam in ((mu[0] + 1, mu[1]), (mu[0], mu[1] + 1)):
            if lam[1] > lam[0]:
                continue
            lir = Irrep(lam)
            closed = branching_isometry(mir, lir).toarray()
            general = _isometry_by_lowering(mir, lir).toarray()
            assert min(np.abs(closed - general).max(), np.abs(closed + general).max()) < 1e-12


@pytest.mark.parametrize("real", [False, True])
def test_generator_pieces_on_a_second_thread(real, monkeypatch):
    """The generator's CSR pieces made on a second thread while the next blocks' triplets are
    computed (thresholds lowered: many small pieces, at most three waiting) give the same matrix,
    entry for entry, as the one-thread assembly."""
    from qmeanfield.blocks import BlockSpace
    from qmeanfield.blocks import liouvillian
    from qmeanfield.engines import permutational as perm

    model = _model(2, JUMP_SETS["random complex"](2), collective=[0.3 * _lowering(2)])
    args = (np.asarray(model.h), np.asarray(model.V), list(model.jumps), list(model.collective_jumps),
            model.kappa(12), model.hbar)
    one = perm.block_liouvillian(BlockSpace(12, 2), *args, real=real)
    monkeypatch.setattr(liouvillian._Triplets, "PIPELINE_MIN", 1)
    monkeypatch.setattr(liouvillian._Triplets, "CHUNK", 40)
    two = perm.block_liouvillian(BlockSpace(12, 2), *args, real=real, threads=2)
    assert one.shape == two.shape and one.nnz == two.nnz > 0
    assert (one != two).nnz == 0


@pytest.mark.parametrize("d, N", [(2, 7), (3, 4), (2, 60)])
def test_product_state_vector(d, N):
    """The blocks of rho^(x)N for a random mixed rho (complex eigenvectors): entropy N S(rho) from
    the block spectra, marginals rho and rho (x) rho from the collective moments, trace one."""
    from qmeanfield.blocks import BlockMeasurement, BlockSpace

    rho = random_density_matrix(d, seed=3)
    space = BlockSpace(N, d)
    with BlockMeasurement(space, 1, 2) as meas:
        meas.add(0, space.product_state_vector(rho))
    p = np.linalg.eigvalsh(rho)
    assert meas.entropy[0] == pytest.approx(-N * np.sum(p * np.log(p)), rel=1e-11)
    R = meas.marginals()
    np.testing.assert_allclose(R[1][0], rho, atol=1e-12)
    np.testing.assert_allclose(R[2][0], np.kron(rho, rho), atol=1e-12)
    assert meas.trace_error < 1e-12


def _random_block_state(space, seed):
    """A random vector of Hermitian (not necessarily positive) blocks."""
    rng = np.random.default_rng(seed)
    x = np.empty(space.size, dtype=complex)
    for i, n in enumerate(space.dims):
        A = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
        x[space.offsets[i]:space.offsets[i + 1]] = (A + A.conj().T).reshape(-1)
    return x


@pytest.mark.parametrize("d, N, block_min", [(2, 5, 4096), (3, 4, 4096), (3, 4, 20), (2, 9, 30)])
def test_real_coordinates(d, N, block_min, monkeypatch):
    """The real coordinates of Hermitian blocks: an isometry onto R^size (up to the Frobenius
    inner product) that the real generator maps like the complex one, assembled in any number
    of row groups; back to complex blocks by the gather over runs of small blocks and block by
    block for large ones (``block_min``: the size from which blocks go one by one)."""
    from qmeanfield._parallel import SharedThreads
    from qmeanfield.blocks import BlockSpace, space as block_space
    from qmeanfield.blocks import liouvillian

    monkeypatch.setattr(block_space, "COMPLEX_BLOCK_MIN", block_min)

    model = _model(d, JUMP_SETS["random complex"](d), collective=[0.3 * _lowering(d)])
    eng = PermutationalEngine()
    space, G = eng.generator(model, N)
    _, R = eng.generator(model, N, real=True)
    assert not np.iscomplexobj(R.data)
    x, y = _random_block_state(space, 1), _random_block_state(space, 2)
    z = space.to_real(x)
    assert np.abs(space.to_complex(z) - x).max() < 1e-13
    monkeypatch.setattr(block_space, "THREADED_STATE_MIN", 1)     # in runs of blocks on 2 and 3 threads
    for threads in (2, 3):
        with SharedThreads(threads) as workers:
            assert np.array_equal(space.to_complex(z, workers), space.to_complex(z))
    for P, Q in zip(space.hermitian_blocks(z), space.split(x)):
        assert np.abs(P - Q).max() < 1e-13
        assert np.array_equal(P, P.conj().T)          # exactly Hermitian, as the eigensolver assumes
    # Frobenius inner product of Hermitian blocks = dot product of their coordinates
    assert abs(np.vdot(x, y).real - z @ space.to_real(y)) < 1e-10 * np.abs(x).sum()
    assert np.abs(space.to_complex(R @ z) - G @ x).max() < 1e-12 * abs(G).max() * np.abs(x).max() * 50
    old = liouvillian._Triplets.CHUNK
    try:
        liouvillian._Triplets.CHUNK = 7            # one row group per block
        _, R_small = eng.generator(model, N, real=True)
    finally:
        liouvillian._Triplets.CHUNK = old
    assert abs(R_small - R).max() < 1e-14 * abs(R).max()
    assert BlockSpace(N, d).hermitian_layout()[0].size == space.size


def test_marginal_times_skip_higher_marginals_elsewhere():
    """Marginals k >= 2 only where asked (NaN elsewhere); entropy and R^(1) everywhere, equal to
    the full run."""
    model = _model(2, JUMP_SETS["three channels"](2))
    check_marginal_times(PermutationalEngine(), model, random_density_matrix(2, seed=4), 6, np.linspace(0, 1, 5),
                         [1, 4])


def _numpy_block_entropy(space, blocks):
    """Reference: S(R_N) and the most negative block eigenvalue from NumPy's eigenvalues."""
    ref, neg = 0.0, 0.0
    for i, P in enumerate(blocks):
        w = np.linalg.eigvalsh(P)
        neg = min(neg, w.min())
        w = w[w > 0]
        ref -= np.sum(w * (np.log(w) - space.logmult[i]))
    return ref, neg


@pytest.mark.parametrize("d, N, real", [(2, 7, False), (3, 5, False), (3, 5, True)])
def test_block_entropy_against_dense_eigenvalues(d, N, real):
    """S(R_N) from the blocks' eigenvalues (direct LAPACK calls, one vectorised sum) against
    NumPy's eigenvalues of each block; the most negative eigenvalue too."""
    from qmeanfield.blocks import BlockSpace, block_entropy

    space = BlockSpace(N, d)
    blocks = [P.real.copy() if real else P.copy() for P in space.split(_random_block_state(space, 3))]
    ref, neg = _numpy_block_entropy(space, blocks)
    S, most_negative = block_entropy(space, [P.copy() for P in blocks], hermitian=True)
    assert S == pytest.approx(ref, rel=1e-12)
    assert most_negative == pytest.approx(neg, rel=1e-12)
    S2, _ = block_entropy(space, [np.asfortranarray(P) for P in blocks])   # not C-ordered, not assumed Hermitian
    assert S2 == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("real", [False, True])
def test_block_entropy_shared_over_threads(real):
    """The block eigenvalues shared out over two threads (GIL-free LAPACK calls, blocks taken as
    the threads are free): the same entropy and most negative eigenvalue as NumPy's eigenvalues, at a
    size above the threading threshold (d = 2, N = 50: blocks n = 1..51)."""
    from qmeanfield._parallel import SharedThreads
    from qmeanfield.blocks import BlockSpace, block_entropy
    from qmeanfield.blocks.space import THREADED_EIGENVALUES_MIN_COST

    space = BlockSpace(50, 2)
    assert float(np.sum(space.dims.astype(float) ** 3)) >= THREADED_EIGENVALUES_MIN_COST
    rng = np.random.default_rng(7)
    blocks = []
    for n in space.dims:
        G = rng.standard_normal((n, n)) + (0 if real else 1j) * rng.standard_normal((n, n))
        blocks.append((G @ G.conj().T - 0.1 * np.eye(n)) / space.size)   # some negative eigenvalues
    ref, neg = _numpy_block_entropy(space, blocks)
    with SharedThreads(2) as workers:
        S, most_negative = block_entropy(space, [P.copy() for P in blocks], hermitian=True, workers=workers)
    assert S == pytest.approx(ref, rel=1e-12)
    assert most_negative == pytest.approx(neg, rel=1e-10)


@pytest.mark.parametrize("d, N", [(2, 9), (3, 5)])
def test_measurement_on_threads_equals_one_thread(d, N, monkeypatch):
    """BlockMeasurement with its conversion, moments (k <= 3) and eigenvalues on two threads
    (thresholds lowered so that this small state is split) equals the one-thread measurement."""
    from qmeanfield.blocks import BlockMeasurement, BlockSpace
    from qmeanfield.blocks import space as space_module

    monkeypatch.setattr(space_module, "THREADED_STATE_MIN", 1)
    monkeypatch.setattr(space_module, "THREADED_EIGENVALUES_MIN_COST", 1)
    space = BlockSpace(N, d)
    z = space.to_real(_random_block_state(space, 11))
    results = []
    for threads in (1, 2):
        with BlockMeasurement(space, 2, 3, threads=threads) as meas:
            meas.add_real(0, z.copy())
            meas.add_real(1, z.copy(), higher=False)
        results.append(meas)
    one, two = results
    np.testing.assert_allclose(two.entropy, one.entropy, rtol=1e-13)
    for a, b in ((two.M1, one.M1), (two.M2[0], one.M2[0]), (two.M3[0], one.M3[0])):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12 * np.abs(b).max())
    assert np.isnan(two.M2[1]).all() and two.most_negative == one.most_negative


def test_block_entropy_without_gil_free_lapack(monkeypatch):
    """Where SciPy exports no compiled LAPACK, SciPy's wrappers give the same entropy (one thread
    even with two threads offered)."""
    from qmeanfield._parallel import SharedThreads

    from qmeanfield.blocks import BlockSpace, block_entropy
    from qmeanfield.blocks import space as space_module

    space = BlockSpace(40, 2)                   # blocks n = 1..41: both paths below n = 32 and above
    assert space.dims.max() >= space_module.GIL_FREE_MIN_DIM
    blocks = space.split(_random_block_state(space, 5))
    S_ref, neg_ref = block_entropy(space, [P.copy() for P in blocks], hermitian=True)
    monkeypatch.setattr(space_module, "_EIGENVALUES", None)
    with SharedThreads(2) as workers:
        S, neg = block_entropy(space, [P.copy() for P in blocks], hermitian=True, workers=workers)
    assert S == pytest.approx(S_ref, rel=1e-12) and neg == pytest.approx(neg_ref, rel=1e-12)


def test_gil_free_eigenvalues_against_numpy():
    """The LAPACK calls through SciPy's compiled exports: eigenvalues of complex Hermitian and
    real symmetric matrices (n = 1 .. 40, Fortran-ordered, overwritten) equal NumPy's."""
    from qmeanfield.blocks._lapack import eigenvalues_function

    eig = eigenvalues_function()
    if eig is None:
        pytest.skip("this SciPy build exports no compiled LAPACK")
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 40):
        for cplx in (True, False):
            G = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if cplx else 0)
            H = G + G.conj().T
            w = eig(np.asfortranarray(H.copy()))
            assert w is not None and w.dtype == np.float64
            np.testing.assert_allclose(w, np.linalg.eigvalsh(H), rtol=0, atol=1e-12 * np.abs(H).sum())


def test_consume_behind_order_errors_and_depth():
    """consume_behind: every item once with its index, done counts in order, at most `depth`
    items waiting for a slow consumer, and an error on either side raised in the caller."""
    import time

    from qmeanfield._parallel import consume_behind

    got, counts, ahead = {}, [], []

    def items():
        for k in range(20):
            ahead.append(k - len(got))   # items handed over and not yet consumed
            yield k * k

    def fn(k, item):
        time.sleep(0.01)
        got[k] = item

    consume_behind(items(), fn, depth=4, done=counts.append)
    assert got == {k: k * k for k in range(20)} and counts == list(range(1, 21))
    assert 3 <= max(ahead) <= 5                  # the producer ran ahead, by at most depth + 1

    def bad(k, item):
        if k == 3:
            raise ValueError("item 3")

    with pytest.raises(ValueError, match="item 3"):
        consume_behind(iter(range(10)), bad)

    def broken():
        yield 1
        raise RuntimeError("producer")

    with pytest.raises(RuntimeError, match="producer"):
        consume_behind(broken(), lambda k, x: None)
