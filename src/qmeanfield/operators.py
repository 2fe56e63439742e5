r"""Operators on one- and two-particle spaces.

Conventions
-----------
* Basis of $\mathbb{C}^d$: $|0\rangle, \dots, |d-1\rangle$; for spins,
  $|0\rangle$ is the highest weight state $m = s$.
* Two-body operators act on $\mathbb{C}^d \otimes \mathbb{C}^d$ with row index
  $(a, c) \mapsto a d + c$ (numpy's `kron` order), so
  $V_{ab,cd} = \langle a c | V | b d \rangle$ is `V.reshape(d, d, d, d)[a, c, b, d]`.
* `sigma_minus` lowers $|0\rangle$ (up) to $|1\rangle$ (down), as in QuTiP.
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from .errors import ModelError, QMeanFieldError

__all__ = [
    "pauli",
    "spin_matrices",
    "sigma_minus",
    "sigma_plus",
    "matrix_unit",
    "swap",
    "kron_all",
    "kron_sum",
    "embed",
    "partial_trace",
    "partial_trace_second",
    "symmetrize_swap",
    "swap_asymmetry",
    "operator_schmidt",
    "random_interaction",
    "random_hermitian",
    "random_density_matrix",
    "mean_field_potential",
]


def pauli() -> dict[str, np.ndarray]:
    """The Pauli matrices under `"x", "y", "z"` and, as in expressions, `"sx", "sy", "sz"`, and
    the identity `"id"` (2 x 2, complex)."""
    out = {
        "id": np.eye(2, dtype=complex),
        "x": np.array([[0, 1], [1, 0]], dtype=complex),
        "y": np.array([[0, -1j], [1j, 0]], dtype=complex),
        "z": np.array([[1, 0], [0, -1]], dtype=complex),
    }
    out.update(sx=out["x"].copy(), sy=out["y"].copy(), sz=out["z"].copy())
    return out


def sigma_minus() -> np.ndarray:
    r"""$\sigma_- = |1\rangle\langle 0|$ (QuTiP's `sigmam`)."""
    return np.array([[0, 0], [1, 0]], dtype=complex)


def sigma_plus() -> np.ndarray:
    r"""$\sigma_+ = |0\rangle\langle 1|$."""
    return sigma_minus().T.copy()


def spin_matrices(d: int) -> dict[str, np.ndarray]:
    r"""Spin-$s$ matrices for $d = 2s + 1$: `jx, jy, jz, jp, jm` (and `id`).

    Basis ordered $m = s, s-1, \dots, -s$; $[j_x, j_y] = i j_z$.
    """
    if int(d) != d or d < 1:
        raise ModelError(f"spin_matrices: d must be a positive integer, got {d!r}")
    d = int(d)
    s = (d - 1) / 2
    m = s - np.arange(d)
    jz = np.diag(m).astype(complex)
    jp = np.zeros((d, d), dtype=complex)
    for k in range(1, d):  # <m+1| J+ |m>, m = m[k]
        jp[k - 1, k] = np.sqrt(s * (s + 1) - m[k] * (m[k] + 1))
    jm = jp.conj().T
    return {
        "id": np.eye(d, dtype=complex),
        "jx": (jp + jm) / 2,
        "jy": (jp - jm) / 2j,
        "jz": jz,
        "jp": jp,
        "jm": jm,
    }


def matrix_unit(d: int, a: int, b: int) -> np.ndarray:
    r"""$E_{ab} = |a\rangle\langle b|$ in dimension d."""
    if not (0 <= a < d and 0 <= b < d):
        raise ModelError(f"matrix_unit: indices ({a}, {b}) out of range for d = {d}")
    E = np.zeros((d, d), dtype=complex)
    E[a, b] = 1.0
    return E


def swap(d: int) -> np.ndarray:
    r"""The swap $S |a c\rangle = |c a\rangle$ on $\mathbb{C}^d \otimes \mathbb{C}^d$."""
    S = np.zeros((d * d, d * d), dtype=complex)
    for a in range(d):
        for c in range(d):
            S[c * d + a, a * d + c] = 1.0
    return S


def kron_all(*ops: np.ndarray) -> np.ndarray:
    """Kronecker product of all arguments, left to right."""
    if not ops:
        raise ModelError("kron_all needs at least one operator")
    return reduce(np.kron, ops)


def kron_sum(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Kronecker sum $A \otimes 1 + 1 \otimes B$."""
    return np.kron(A, np.eye(B.shape[0])) + np.kron(np.eye(A.shape[0]), B)


def embed(op: np.ndarray, site: int, N: int) -> np.ndarray:
    r"""One-body `op` acting on particle `site` of N: $1^{\otimes site} \otimes op \otimes 1^{\otimes (N - site - 1)}$."""
    d = op.shape[0]
    return np.kron(np.kron(np.eye(d**site), op), np.eye(d ** (N - site - 1)))


def partial_trace(R: np.ndarray, dims: tuple[int, ...], keep: tuple[int, ...] | list[int]) -> np.ndarray:
    """Partial trace of `R` on a tensor product with factor dimensions `dims`, keeping `keep`.

    The kept factors stay in increasing order. Shapes: `R` is `(prod(dims), prod(dims))`.
    """
    dims = tuple(int(x) for x in dims)
    n = len(dims)
    keep = sorted(int(k) for k in keep)
    T = R.reshape(dims + dims)
    traced = [i for i in range(n) if i not in keep]
    # trace pairs of axes from the last to keep the axis numbering valid
    for count, i in enumerate(sorted(traced, reverse=True)):
        m = n - count  # current number of factors
        T = np.trace(T, axis1=i, axis2=i + m)
    dk = int(np.prod([dims[k] for k in keep])) if keep else 1
    return T.reshape(dk, dk)


def partial_trace_second(X: np.ndarray, d: int) -> np.ndarray:
    r"""$\mathrm{Tr}_2 X$ for X on $\mathbb{C}^d \otimes \mathbb{C}^d$."""
    return np.einsum("acbc->ab", X.reshape(d, d, d, d))


def swap_asymmetry(V: np.ndarray) -> float:
    r"""$\max |S V S - V|$ for a two-body operator V."""
    d = int(round(np.sqrt(V.shape[0])))
    W = V.reshape(d, d, d, d).transpose(1, 0, 3, 2).reshape(d * d, d * d)
    return float(np.max(np.abs(W - V))) if V.size else 0.0


def symmetrize_swap(V: np.ndarray) -> np.ndarray:
    r"""Swap-symmetric part $(V + S V S) / 2$ of a two-body operator."""
    V = np.asarray(V, dtype=complex)
    d = int(round(np.sqrt(V.shape[0])))
    if V.ndim != 2 or V.shape != (d * d, d * d):
        raise ModelError(f"symmetrize_swap: V must have shape (d^2, d^2), got {V.shape}")
    W = V.reshape(d, d, d, d).transpose(1, 0, 3, 2).reshape(d * d, d * d)
    return (V + W) / 2


def operator_schmidt(V: np.ndarray, d: int, tol: float = 1e-14) -> list[tuple[np.ndarray, np.ndarray]]:
    r"""Operator Schmidt decomposition $V = \sum_s A_s \otimes B_s$ (at most $d^2$ terms)."""
    M = V.reshape(d, d, d, d).transpose(0, 2, 1, 3).reshape(d * d, d * d)  # [(a,b),(c,d)]
    U, s, Wh = np.linalg.svd(M)
    keep = s > tol * max(s[0] if s.size else 0.0, 1e-300)
    return [
        (s[k] * U[:, k].reshape(d, d), Wh[k, :].reshape(d, d)) for k in np.flatnonzero(keep)
    ]


def random_hermitian(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random Hermitian d x d matrix (GUE-like, unnormalised)."""
    X = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return (X + X.conj().T) / 2


#: the largest one-body dimension of :func:`random_interaction` (V has d^4 entries: 16 MiB at d = 32)
MAX_RANDOM_DIMENSION = 32


def random_interaction(d: int, seed: int | None = 0, norm: float = 1.0) -> np.ndarray:
    r"""A reproducible random two-body interaction.

    Hermitian, swap-symmetric ($S V S = V$), generically *not* a sum of products,
    scaled to operator norm `norm` (default 1). Same `seed` gives the same V.
    `d` at most `MAX_RANDOM_DIMENSION`; `seed` None or an integer >= 0.
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 1 <= d <= MAX_RANDOM_DIMENSION:
        raise QMeanFieldError(f"random_interaction: d must be an integer in 1..{MAX_RANDOM_DIMENSION} (V has d^4 "
                              f"entries), got {d!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise QMeanFieldError(f"random_interaction: seed must be None or an integer >= 0, got {seed!r}")
    if isinstance(norm, bool) or not isinstance(norm, (int, float, np.integer, np.floating)) or not np.isfinite(norm) \
            or norm < 0:
        raise QMeanFieldError(f"random_interaction: norm must be a finite number >= 0, got {norm!r}")
    rng = np.random.default_rng(seed)
    V = symmetrize_swap(random_hermitian(d * d, rng))
    V = (V + V.conj().T) / 2
    return norm * V / np.linalg.norm(V, 2)


def random_density_matrix(d: int, seed: int | None = 0, min_eigenvalue: float = 0.05) -> np.ndarray:
    """A reproducible random full-rank density matrix with spectrum bounded below."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = X @ X.conj().T
    rho = rho / np.trace(rho).real
    rho = (1 - d * min_eigenvalue) * rho + min_eigenvalue * np.eye(d)
    return (rho + rho.conj().T) / 2


def mean_field_potential(V: np.ndarray, rho: np.ndarray) -> np.ndarray:
    r"""Mean-field potential $V_\rho = \mathrm{Tr}_2[V (1 \otimes \rho)]$, shape (d, d).

    Componentwise $(V_\rho)_{ab} = \sum_{c,e} V_{(a c),(b e)} \rho_{e c}$. A stack of states
    (shape (..., d, d)) gives the stack of potentials.
    """
    d = rho.shape[-1]
    return np.einsum("acbe,...ec->...ab", V.reshape(d, d, d, d), rho)
