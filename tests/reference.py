"""Independent brute-force references, written without the package's N-body code.

Two-body terms are placed on particles (i, j) by permuting tensor axes of ``kron(V, 1)``;
the Lindbladian uses column-stacking vectorisation and ``scipy.linalg.expm`` (the package uses
row-major vectorisation and its own Taylor propagator).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm, logm


def permute_sites(op: np.ndarray, d: int, N: int, perm: list[int]) -> np.ndarray:
    """Conjugate an N-body operator by the site permutation taking site k to perm[k]."""
    T = op.reshape([d] * (2 * N))
    inv = np.argsort(perm)
    axes = list(inv) + [N + p for p in inv]
    return T.transpose(axes).reshape(d**N, d**N)


def pair_operator(V: np.ndarray, d: int, N: int, i: int, j: int) -> np.ndarray:
    """V acting on particles i < j: V (x) 1 on sites (0, 1), then moved to (i, j)."""
    op = np.kron(V, np.eye(d ** (N - 2)))
    rest = [s for s in range(N) if s not in (i, j)]
    perm = [0] * N
    perm[0], perm[1] = i, j
    for k, s in enumerate(rest):
        perm[2 + k] = s
    return permute_sites(op, d, N, perm)


def one_body(op: np.ndarray, d: int, N: int, j: int) -> np.ndarray:
    out = np.array([[1.0 + 0j]])
    for s in range(N):
        out = np.kron(out, op if s == j else np.eye(d))
    return out


def hamiltonian(h, V, N, kappa) -> np.ndarray:
    d = h.shape[0]
    H = sum(one_body(h, d, N, j) for j in range(N))
    for i in range(N):
        for j in range(i + 1, N):
            H = H + kappa * pair_operator(V, d, N, i, j)
    return H


def product(rho, N):
    out = np.array([[1.0 + 0j]])
    for _ in range(N):
        out = np.kron(out, rho)
    return out


def evolve_closed(h, V, rho0, N, kappa, hbar, t) -> np.ndarray:
    U = expm(-1j * t / hbar * hamiltonian(h, V, N, kappa))
    R0 = product(rho0, N)
    return U @ R0 @ U.conj().T


def _dissipator(Lop, I):
    K = Lop.conj().T @ Lop
    return np.kron(Lop.conj(), Lop) - 0.5 * (np.kron(I, K) + np.kron(K.T, I))


def evolve_open(h, V, jumps, rho0, N, kappa, hbar, t, collective=()) -> np.ndarray:
    """Column-stacking: vec(A X B) = (B^T (x) A) vec(X). Each one-body jump L acts on every
    particle; each collective C gives the N-body jump sqrt(kappa) sum_j C_j."""
    d = h.shape[0]
    D = d**N
    H = hamiltonian(h, V, N, kappa)
    I = np.eye(D)
    Lsup = -1j / hbar * (np.kron(I, H) - np.kron(H.T, I))
    for L in jumps:
        for j in range(N):
            Lsup += _dissipator(one_body(L, d, N, j), I)
    for C in collective:
        Lsup += _dissipator(np.sqrt(kappa) * sum(one_body(C, d, N, j) for j in range(N)), I)
    v0 = product(rho0, N).reshape(-1, order="F")
    return (expm(t * Lsup) @ v0).reshape(D, D, order="F")


def ptrace_keep_first(R, d, N, k):
    """Keep the first k particles (explicit loops over the traced indices)."""
    dk, dr = d**k, d ** (N - k)
    T = R.reshape(dk, dr, dk, dr)
    out = np.zeros((dk, dk), dtype=complex)
    for r in range(dr):
        out += T[:, r, :, r]
    return out


def relative_entropy_logm(R, sigma) -> float:
    """Tr R (log R - log sigma) with scipy's matrix logarithm (full-rank inputs)."""
    return float(np.real(np.trace(R @ (logm(R) - logm(sigma)))))


def entropy_eig(R) -> float:
    w = np.linalg.eigvalsh(R)
    w = w[w > 1e-300]
    return float(-np.sum(w * np.log(w)))
