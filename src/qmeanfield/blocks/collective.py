r"""Collective operators on one irrep: two-body sums, block Hamiltonians, marginals from moments.

Shared by the symmetric and permutational engines and the certificate (docs/theory.md, Schur-Weyl blocks).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .irreps import Irrep, combine

__all__ = ["collective_two_body", "block_hamiltonian", "moments_to_marginals"]


def collective_two_body(irrep: Irrep, one: np.ndarray, two: np.ndarray, scale: float) -> sp.csr_matrix:
    r"""$J(X) + s \sum_s [J(A_s) J(B_s) - J(A_s B_s)]$ on one irrep, for a one-body X and a
    two-body $T = \sum_s A_s \otimes B_s$ (any d^2 x d^2 matrix), sparse, not symmetrised.

    Expanded over the generators: $J(X - s Q) + s \sum_{xy} C_{xy} J_x J_y$ with
    $C_{(ab),(cd)} = T_{(ac),(bd)}$ and $Q_{ad} = \sum_b T_{(ab),(bd)}$; the quadratic
    part is one sparse product $[J_1 \cdots J_{d^2}]\,(C \otimes 1)\,[J_1; \dots; J_{d^2}]$."""
    d, n = irrep.d, irrep.dim
    J = irrep.generators()
    T4 = np.asarray(two).reshape(d, d, d, d)
    C = scale * T4.transpose(0, 2, 1, 3).reshape(d * d, d * d)
    lin = np.asarray(one) - scale * np.einsum("abbd->ad", T4)
    K = sp.kron(sp.csr_matrix(C), sp.identity(n, format="csr"), format="csr") @ sp.vstack(J, format="csr")
    return (sp.hstack(J, format="csr") @ K + combine(J, lin.reshape(-1))).tocsr()


def block_hamiltonian(irrep: Irrep, h: np.ndarray, V: np.ndarray, kappa: float, sparse: bool = False):
    r"""$H_\lambda = J(h) + \tfrac{\kappa}{2}\sum_s [J(A_s)J(B_s) - J(A_s B_s)]$ on one irrep
    (`collective_two_body` with scale $\kappa/2$, Hermitian part), dense or sparse (CSR)."""
    H = collective_two_body(irrep, h, V, kappa / 2)
    H = ((H + H.conj().T) / 2).tocsr()
    if sparse:
        H.eliminate_zeros()
        return H
    return H.toarray()


def moments_to_marginals(M1, M2, M3, N: int, d: int):
    """Marginals R^(1), R^(2) (and R^(3) if M3 is given) from collective moments, arrays over time."""
    T = M1.shape[0]
    m1 = M1.reshape(T, d, d)                     # m1[t, a, b] = <J_ab>
    R1 = m1.transpose(0, 2, 1) / N
    eye = np.eye(d)
    t2 = M2.reshape(T, d, d, d, d) - np.einsum("bc,tad->tabcd", eye, m1)   # sum_{i != j}
    R2 = t2.transpose(0, 2, 4, 1, 3).reshape(T, d * d, d * d) / (N * (N - 1))
    out = {1: R1, 2: R2}
    if M3 is not None and N >= 3:
        t3 = (M3.reshape(T, d, d, d, d, d, d)
              - np.einsum("bc,tadef->tabcdef", eye, t2)
              - np.einsum("be,tafcd->tabcdef", eye, t2)
              - np.einsum("de,tabcf->tabcdef", eye, t2)
              - np.einsum("bc,de,taf->tabcdef", eye, eye, m1))
        out[3] = t3.transpose(0, 2, 4, 6, 1, 3, 5).reshape(T, d**3, d**3) / (N * (N - 1) * (N - 2))
    return out


