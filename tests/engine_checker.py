"""One checker for every engine: its trajectory against the brute-force Kronecker reference.

``CASES`` names models that cover what the engines must do (closed and open qubits, qutrits with
the 1/N coupling, collective jumps, a pure initial state); ``check_engine`` runs an engine on one
case and compares entropy and marginals with ``reference.py`` (dense matrices, scipy's expm,
written without the package's N-body code). A newly registered engine is tested by
``test_engines_vs_reference.py`` for free: it is parametrized over the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus, spin_matrices

import reference as ref

P = pauli()
S3 = spin_matrices(3)
TIMES = np.array([0.0, 0.37, 1.1])
#: agreement asked of every engine against the reference
ATOL = 1e-8


@dataclass(frozen=True)
class Case:
    model: qmf.Model
    rho0: np.ndarray
    Ns: tuple[int, ...]
    kmax: int = 2


def _cases() -> dict[str, Case]:
    return {
        "closed qubits": Case(qmf.Model(h=0.7 * P["x"] - 0.2 * P["z"], V=random_interaction(2, seed=4)),
                              random_density_matrix(2, seed=14), (2, 3, 4, 5), kmax=3),
        "closed qubits, pure rho0": Case(qmf.Model(h=0.7 * P["x"] - 0.2 * P["z"], V=random_interaction(2, seed=5)),
                                         qmf.states.pure([0.8, 0.6j]), (3, 4)),
        "open qubits, cross-term jump": Case(
            qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=23),
                      jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])], hbar=0.8),
            random_density_matrix(2, seed=3), (2, 3, 4, 5)),
        "collective jumps": Case(
            qmf.Model(h=0.5 * P["x"], V=random_interaction(2, seed=6), jumps=[0.3 * sigma_minus()],
                      collective_jumps=[0.6 * sigma_minus(), 0.2 * P["z"]]),
            random_density_matrix(2, seed=5), (2, 3, 4)),
        "closed qutrits, 1/N": Case(
            qmf.Model(h=S3["jx"] + 0.3 * S3["jz"] @ S3["jz"], V=random_interaction(3, seed=5), coupling="1/N"),
            random_density_matrix(3, seed=3), (3,)),
        "open qutrits, 1/N": Case(
            qmf.Model(h=S3["jx"] + 0.3 * S3["jz"] @ S3["jz"], V=random_interaction(3, seed=5), coupling="1/N",
                      jumps=[0.4 * S3["jm"] + 0.1 * S3["jz"]]),
            random_density_matrix(3, seed=3), (3,)),
    }


CASES = _cases()
CASE_POINTS = [(name, N) for name, case in CASES.items() for N in case.Ns]


def reference_states(case: Case, N: int, times=TIMES) -> list[np.ndarray]:
    m = case.model
    if m.is_open:
        return [ref.evolve_open(m.h, m.V, m.jumps, case.rho0, N, m.kappa(N), m.hbar, t, collective=m.collective_jumps)
                for t in times]
    return [ref.evolve_closed(m.h, m.V, case.rho0, N, m.kappa(N), m.hbar, t) for t in times]


def check_engine(engine, case: Case, N: int, times=TIMES, atol: float = ATOL) -> None:
    """Run ``engine`` on (case, N) and compare entropy and marginals R^(1..kmax) with the reference;
    skip when the engine declares the case unsupported."""
    ok, why = engine.supports(case.model, N)
    if not ok:
        pytest.skip(f"{engine.name}: {why}")
    kmax = min(case.kmax, N)
    traj = engine.evolve(case.model, case.rho0, N, times, kmax=kmax)
    d = case.model.d
    assert traj.N == N and traj.engine == engine.name
    np.testing.assert_array_equal(traj.times, times)
    assert 0.0 <= traj.discarded_weight <= atol
    for n, R in enumerate(reference_states(case, N, times)):
        assert traj.entropy[n] == pytest.approx(ref.entropy_eig(R), abs=atol)
        for k in range(1, kmax + 1):
            np.testing.assert_allclose(traj.marginals[k][n], ref.ptrace_keep_first(R, d, N, k), atol=atol,
                                       err_msg=f"{engine.name}: R^({k}) at t = {times[n]}")


def check_marginal_times(engine, model: qmf.Model, rho0: np.ndarray, N: int, times, asked) -> None:
    """``evolve(..., marginal_times=asked)`` against the full run of the same engine: entropy and
    R^(1) equal at every time, R^(k >= 2) equal at the asked times and NaN at the others."""
    full = engine.evolve(model, rho0, N, times, kmax=3)
    part = engine.evolve(model, rho0, N, times, kmax=3, marginal_times=asked)
    other = np.setdiff1d(np.arange(len(times)), asked)
    assert np.abs(full.entropy - part.entropy).max() < 1e-12
    assert np.abs(full.marginals[1] - part.marginals[1]).max() < 1e-12
    for k in (2, 3):
        assert np.abs(full.marginals[k][asked] - part.marginals[k][asked]).max() < 1e-12
        assert np.isnan(part.marginals[k][other]).all()
