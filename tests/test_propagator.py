"""Propagators against SciPy's expm_multiply (an independent implementation)."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import expm_multiply
from scipy.special import jv

from qmeanfield.propagators import (
    HermitianOffsets,
    KrylovPropagator,
    TaylorPropagator,
    ThreadedProduct,
    bessel_table,
    hermitian_trajectory,
    spectral_interval,
)

TIMES = np.array([0.0, 1e-4, 0.013, 0.3, 0.31, 1.0, 1.7, 2.0])


def _random_sparse_hermitian(n, seed, density=0.01):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=density, random_state=rng, format="csr") * 3.0
    A = A + 1j * sp.random(n, n, density=density, random_state=rng, format="csr")
    return ((A + A.conj().T) / 2).tocsr()


def _reference(A, v, times):
    return [expm_multiply(A * t, v) if t > 0 else v for t in times]


@pytest.mark.parametrize("n, in_place", [(200, True), (900, True), (200, False)])
def test_chebyshev_trajectory(n, in_place, monkeypatch):
    if not in_place:   # the public-product path taken where SciPy's in-place kernel is missing
        import qmeanfield.propagators as propagators

        monkeypatch.setattr(propagators, "_csr_matvecs", None)
    H = _random_sparse_hermitian(n, seed=n)
    v = np.random.default_rng(1).normal(size=(n, 3)) + 0j
    out = list(hermitian_trajectory(H, v, TIMES, hbar=0.8, group_bytes=16 * v.size * 3))
    ref = _reference((-1j / 0.8) * H, v, TIMES)
    assert len(out) == TIMES.size
    for o, r in zip(out, ref):
        assert np.abs(o - r).max() < 1e-10 * np.abs(r).max()
    single = list(hermitian_trajectory(H, v[:, 1].copy(), TIMES, hbar=0.8))   # one vector (1-D)
    for o, r in zip(single, ref):
        assert np.abs(o - r[:, 1]).max() < 1e-10 * np.abs(r).max()


def test_chebyshev_offsets_of_both_signs():
    """Short propagations forward and backward from one state, one shared series, against
    expm_multiply; an interval that misses the spectrum is refused, not silently wrong."""
    H = _random_sparse_hermitian(300, seed=11)
    v = np.random.default_rng(3).normal(size=(300, 2)) + 0j
    offsets = np.array([-2e-3, -1e-3, 1e-3, 2e-3, -0.05, 0.2])
    out = HermitianOffsets(H, hbar=0.7)(v, offsets)
    for o, s in zip(out, offsets):
        r = expm_multiply((-1j * s / 0.7) * H, v)
        assert np.abs(o - r).max() < 1e-12 * np.abs(r).max()
    w = np.linalg.eigvalsh(H.toarray())
    with pytest.raises(RuntimeError, match="misses part of the spectrum"):
        HermitianOffsets(H, interval=(0.5 * w[0], 0.5 * w[-1]))(v, [3.0])


def test_spectral_interval_encloses_the_spectrum():
    H = _random_sparse_hermitian(900, seed=3)
    lo, hi = spectral_interval(H)
    w = np.linalg.eigvalsh(H.toarray())
    assert lo <= w[0] and w[-1] <= hi
    assert hi - lo < 1.1 * (w[-1] - w[0])   # tight, not Gershgorin's enclosure


@pytest.mark.parametrize("threads", [1, 2])
def test_taylor_trajectory_with_dissipation(threads):
    n = 100_000 if threads == 2 else 300   # threads only split large matrices
    rng = np.random.default_rng(4)
    H = _random_sparse_hermitian(n, seed=5, density=min(0.01, 20 / n))
    A = (-1j * H - 0.3 * sp.identity(n)).tocsr()
    v = rng.normal(size=n) + 0j
    P = TaylorPropagator(A, threads=threads)
    out = list(P.trajectory(v, TIMES[:4]))
    P.close()
    for o, r in zip(out, _reference(A, v, TIMES[:4])):
        assert np.abs(o - r).max() < 1e-10 * np.abs(r).max()


def test_chebyshev_recovers_from_an_interval_that_misses_the_spectrum():
    """A too narrow interval makes the series blow up; the norm check redoes it on Gershgorin's."""
    H = _random_sparse_hermitian(600, seed=8)
    w = np.linalg.eigvalsh(H.toarray())
    v = np.random.default_rng(2).normal(size=(600, 2)) + 0j
    narrow = (0.5 * w[0], 0.5 * w[-1])
    out = list(hermitian_trajectory(H, v, TIMES, interval=narrow))
    ref = _reference(-1j * H, v, TIMES)
    for o, r in zip(out, ref):
        assert np.abs(o - r).max() < 1e-10 * np.abs(r).max()


def test_chebyshev_trajectory_recovers_from_an_interval_that_misses_the_spectrum():
    """A given interval that misses part of the spectrum shows as norm drift; the series are
    redone on Gershgorin's enclosure and still match expm_multiply."""
    H = _random_sparse_hermitian(200, seed=5)
    v = np.random.default_rng(2).normal(size=(200, 2)) + 0j
    w = np.linalg.eigvalsh(H.toarray())
    out = list(hermitian_trajectory(H, v, TIMES, hbar=0.8, group_bytes=16 * v.size * 3,
                                    interval=(0.5 * w[0], 0.5 * w[-1])))
    for o, r in zip(out, _reference((-1j / 0.8) * H, v, TIMES)):
        assert np.abs(o - r).max() < 1e-10 * np.abs(r).max()


@pytest.mark.parametrize("x", [np.array([0.0, 1e-12, 1e-3, 0.5, -0.5, 1.0]), np.linspace(-60.0, 60.0, 121),
                               np.array([3000.0, -2999.5, 0.01, 7.3])])
def test_bessel_table_against_scipy(x):
    """Miller's backward recurrence against SciPy's jv (orders up to the Chebyshev series' length:
    past max|x| and its tail), and the identity J_0^2 + 2 sum_k J_k^2 = 1."""
    xmax = float(np.abs(x).max())
    K = int(xmax + 12 * np.cbrt(xmax) + 40)
    table = bessel_table(x, K)
    reference = jv(np.arange(K)[:, None], x[None, :])
    assert table.shape == (K, x.size)
    assert np.abs(table - reference).max() < 3e-15 + 3e-17 * xmax
    assert np.abs(table[0] ** 2 + 2 * (table[1:] ** 2).sum(axis=0) - 1).max() < 1e-13


@pytest.mark.parametrize("threads, real", [(1, False), (2, False), (1, True), (2, True)])
def test_krylov_trajectory_with_dissipation(threads, real):
    """Arnoldi steps against expm_multiply: a complex dissipative generator and a real
    non-normal one (like the open engine's real coordinates), one and two row blocks."""
    n = 100_000 if threads == 2 else 400   # threads only split large matrices
    rng = np.random.default_rng(7)
    if real:
        B = sp.random(n, n, density=min(0.01, 20 / n), random_state=rng, format="csr")
        A = (B - B.T + 0.4 * sp.random(n, n, density=min(0.01, 20 / n), random_state=rng)
             - 1.5 * sp.identity(n)).tocsr()
        v = rng.normal(size=n)
    else:
        H = _random_sparse_hermitian(n, seed=5, density=min(0.01, 20 / n))
        A = (-1j * H - 0.3 * sp.identity(n)).tocsr()
        v = rng.normal(size=n) + 0j
    times = TIMES if threads == 1 else TIMES[:4]      # the reference is slow on the large one
    P = KrylovPropagator(A, threads=threads)
    out = list(P.trajectory(v, times))
    P.close()
    assert len(out) == times.size
    assert P.steps >= (2 if threads == 1 else 1)      # t = 2 takes several Arnoldi steps
    for o, r in zip(out, _reference(A, v, times)):
        assert o.dtype == r.dtype
        assert np.abs(o - r).max() < 1e-10 * np.abs(r).max()


def test_krylov_short_generator_and_single_step():
    """A basis that closes (n below the Krylov dimension) is exact for any step, and a call
    P(v, tau) is the last state of the trajectory to tau."""
    rng = np.random.default_rng(3)
    A = sp.csr_matrix(rng.normal(size=(6, 6)) - 4 * np.eye(6))
    v = rng.normal(size=6)
    P = KrylovPropagator(A, m=24)
    for o, r in zip(P.trajectory(v, TIMES), _reference(A, v, TIMES)):
        assert np.abs(o - r).max() < 1e-12 * np.abs(r).max()
    B = _random_sparse_hermitian(300, seed=2) * -1j
    w = rng.normal(size=300) + 0j
    Q = KrylovPropagator(B.tocsr())
    assert np.abs(Q(w, 1.3) - expm_multiply(B * 1.3, w)).max() < 1e-10 * np.abs(w).max()
    assert Q(w, 0.0) is w


@pytest.mark.parametrize("dtype", [float, complex])
def test_threaded_product_equals_scipys(dtype):
    """ThreadedProduct over two row blocks (120 000 rows: split) and one (small: not split),
    for 1-D and column inputs, equals SciPy's product."""
    rng = np.random.default_rng(4)
    for n, threads in ((120_000, 2), (3_000, 1)):
        rows, cols = rng.integers(0, n, 8 * n), rng.integers(0, n, 8 * n)
        vals = rng.standard_normal(8 * n) + (1j * rng.standard_normal(8 * n) if dtype is complex else 0)
        A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
        v = rng.standard_normal(n) + (1j * rng.standard_normal(n) if dtype is complex else 0)
        prod = ThreadedProduct(A, threads=2)
        try:
            assert prod.threads == threads
            ref = A @ v
            np.testing.assert_allclose(prod(v), ref, rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(prod(v[:, None]), ref, rtol=1e-14, atol=1e-14)
            if dtype is float:   # a complex vector through a real matrix (the public product)
                np.testing.assert_allclose(prod(v * (1 + 2j)), ref * (1 + 2j), rtol=1e-14, atol=1e-14)
            assert prod.matvecs == (3 if dtype is float else 2)
            # ||A||_1 from the row blocks' column sums on the threads, against SciPy's abs
            assert prod.column_norm() == pytest.approx(float(abs(A).sum(axis=0).max()), rel=1e-13)
        finally:
            prod.close()


def test_shared_threads_take_items_as_they_are_free():
    """SharedThreads.map: results in the order of the items whatever thread ran them; a thread held
    up by one slow item leaves the rest to the other (both threads take items); an error in
    any item is raised."""
    import threading
    import time

    from qmeanfield._parallel import SharedThreads

    ran_on = {}

    def work(k):
        ran_on[k] = threading.get_ident()
        time.sleep(0.2 if k == 0 else 0.002)
        return k * k

    with SharedThreads(2) as workers:
        assert workers.map(work, range(30)) == [k * k for k in range(30)]
        slow = ran_on[0]
        assert sum(1 for k in range(1, 30) if ran_on[k] != slow) >= 25     # the other thread took most
        assert len(set(ran_on.values())) == 2

        def fail(k):
            if k == 7:
                raise ValueError("item 7")
            return k

        with pytest.raises(ValueError, match="item 7"):
            workers.map(fail, range(20))
        assert workers.map(lambda k: -k, [3, 1], split=False) == [-3, -1]   # not split: in this thread
    with SharedThreads(1) as one:
        assert one.map(lambda k: -k, [3, 1]) == [-3, -1]
