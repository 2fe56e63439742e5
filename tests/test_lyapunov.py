"""Block Lyapunov solves A X + X A^+ = C: the triangular recursion against SciPy's Sylvester
solver, the eigen / Schur choice against the residual it guards, on the blocks that need it."""

import numpy as np
import pytest
import scipy.linalg

from qmeanfield.blocks import BlockSpace, lyapunov
from qmeanfield.blocks.lyapunov import BlockLyapunov, triangular_sylvester
from qmeanfield.config import load_config
from qmeanfield.engines.permutational import no_jump_block


def _residual(A, X, C):
    return np.linalg.norm(A @ X + X @ A.conj().T - C) / np.linalg.norm(C)


@pytest.mark.parametrize("leaf", ["compiled", "ztrsyl", "scipy"])
@pytest.mark.parametrize("m,n", [(5, 7), (60, 130), (130, 60), (97, 97)])
def test_triangular_sylvester_matches_scipy(m, n, leaf, monkeypatch):
    """Shapes on both sides of LEAF, one and two levels of splitting, leaves by the compiled
    kernel, by ztrsyl through ctypes and through SciPy's wrapper: the same Y as
    scipy.linalg.solve_sylvester."""
    if leaf != "compiled":
        monkeypatch.setattr(lyapunov, "_leaf_kernel", lambda: None)
    if leaf == "scipy":
        monkeypatch.setattr(lyapunov, "_TRSYL", None)
    rng = np.random.default_rng(m * n)
    Ta = np.triu(rng.standard_normal((m, m)) + 1j * rng.standard_normal((m, m))) + 3 * np.eye(m)
    Tb = np.triu(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) + 3 * np.eye(n)
    C = rng.standard_normal((m, n)) + 1j * rng.standard_normal((m, n))
    Y = triangular_sylvester(Ta, Tb, C)
    ref = scipy.linalg.solve_sylvester(Ta, Tb.conj().T, C)
    assert np.abs(Y - ref).max() < 1e-12 * np.abs(ref).max()


def test_well_conditioned_block_takes_the_eigendecomposition():
    """A small stable A: the eigen method, X equal to SciPy's Lyapunov solver's."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((12, 12)) + 1j * rng.standard_normal((12, 12)) - 6 * np.eye(12)
    C = rng.standard_normal((12, 12)) + 1j * rng.standard_normal((12, 12))
    solver = BlockLyapunov(A)
    assert solver.method == "eigen"
    ref = scipy.linalg.solve_continuous_lyapunov(A, C)
    assert np.abs(solver.solve(C) - ref).max() < 1e-12 * np.abs(ref).max()


def test_ill_conditioned_block_takes_the_schur_form():
    """The README open model's largest block at N = 240 (n = 241): its eigenvectors are so
    ill-conditioned that the eigen method's X has a residual above one; the solver detects it,
    takes the Schur form, and solves to 1e-12 (sparse and dense A alike)."""
    model = load_config("examples/open_large_N.toml").model
    ir = BlockSpace(240, 2).irrep(0)
    A, _ = no_jump_block(ir, np.asarray(model.h), np.asarray(model.V), list(model.jumps), [],
                         model.kappa(240), model.hbar)
    Ad = A.toarray()
    rng = np.random.default_rng(5)
    C = rng.standard_normal(Ad.shape) + 1j * rng.standard_normal(Ad.shape)
    eigen = BlockLyapunov(A, max_residual=np.inf)
    assert eigen.method == "eigen" and _residual(Ad, eigen.solve(C), C) > 1.0
    C0 = C.copy()
    for a in (A, Ad):
        solver = BlockLyapunov(a)
        assert solver.method == "schur"
        X = solver.solve(C)
        assert _residual(Ad, X, C) < 1e-12
    np.testing.assert_array_equal(C, C0)                 # solve leaves its argument alone
