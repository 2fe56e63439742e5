r"""Two-time correlations of collective operators by the quantum regression theorem, on the
Schur-Weyl blocks of the permutational engine.

For collective operators $J(A) = \sum_j A_j$, $J(B)$ and an N-body state $R$ (the steady state,
or $R_N(t)$),

$$
G(\tau) = \langle J(A)(t + \tau)\, J(B)(t) \rangle = \mathrm{tr}\big[J(A)\, e^{\tau\mathcal L}(J(B) R)\big].
$$

$J(B) R$ is permutation symmetric (not Hermitian): on block $\lambda$ it is $J_\lambda(B) P_\lambda$.
The generator preserves Hermiticity, so $X = J(B)R$ is propagated as its two Hermitian parts
$X_h = (X + X^\dagger)/2$ and $X_a = (X - X^\dagger)/2i$, each on the real coordinates (the fast
real generator of the dynamics), and $G = \mathrm{tr}[J(A) e^{\tau\mathcal L} X_h] + i\,
\mathrm{tr}[J(A) e^{\tau\mathcal L} X_a]$. The right product $R\,J(A)$ (for $\tau < 0$ in a
spectrum) is formed the same way.
"""

from __future__ import annotations

import numpy as np

from .._parallel import sparse_work
from ..blocks.space import BlockSpace

__all__ = ["apply_collective", "collective_trace", "adjoint", "regression", "Regression"]


def apply_collective(space: BlockSpace, x: np.ndarray, B: np.ndarray, side: str = "left") -> np.ndarray:
    """The state vector of $J(B) X$ (`side="left"`) or $X J(B)$ (`"right"`), block by block."""
    out = np.empty(space.size, dtype=complex)
    for i, P in enumerate(space.split(x)):
        JB = space.irrep(i).collective(B)
        Y = (JB @ P) if side == "left" else (JB.T @ P.T).T
        out[space.offsets[i]:space.offsets[i + 1]] = np.asarray(Y).ravel()
    return out


def adjoint(space: BlockSpace, x: np.ndarray) -> np.ndarray:
    """The state vector of $X^\\dagger$ (every block conjugate-transposed)."""
    _, mirror = space.hermitian_layout()
    return np.conj(x[mirror])


def collective_trace(space: BlockSpace, A: np.ndarray, xs) -> np.ndarray:
    r"""$\mathrm{tr}[J(A) X]$ for each complex state vector of `xs` (or one)."""
    T = space.first_moment_map()
    a = np.asarray(A, dtype=complex).reshape(-1)
    return np.array([a @ (T @ x) for x in np.atleast_2d(xs)])


class Regression:
    r"""$\mathrm{tr}[J(A)\, e^{\tau\mathcal L}(J(B) R)]$ (`side="left"`) or
    $\mathrm{tr}[J(A)\, e^{\tau\mathcal L}(R J(B))]$ (`"right"`) for the complex state vector
    `start` of R (concatenated blocks), delay span by delay span: `advance(taus)` continues from
    the last delay reached (so a span that turns out too short is extended, not recomputed).
    `generator`: the engine's `(space, L)` on the real coordinates (`engine.generator(model,
    N, real=True)`), shared by the regressions of one state. Call `close` (or use `with`) when done."""

    def __init__(self, engine, generator: tuple, start: np.ndarray, A: np.ndarray, B: np.ndarray,
                 side: str = "left"):
        self.space, L = generator
        self.A = A
        X = apply_collective(self.space, start, B, side)
        Xd = adjoint(self.space, X)
        # the Hermitian parts, so that the real coordinates (the fast real generator) carry them
        self.z = [self.space.to_real((X + Xd) / 2), self.space.to_real((X - Xd) / 2j)]
        self.prop = engine.propagator(L)
        self.tau = 0.0

    def advance(self, taus: np.ndarray) -> np.ndarray:
        """G at the increasing delays `taus` (>= the last delay reached)."""
        taus = np.asarray(taus, dtype=float)
        G = np.zeros(taus.size, dtype=complex)
        with sparse_work():   # one BLAS thread beside the sparse products (as the dynamics run)
            for p, (weight, z) in enumerate(zip((1.0, 1j), self.z)):
                for k, zt in enumerate(self.prop.trajectory(z, taus, t0=self.tau)):
                    G[k] += weight * collective_trace(self.space, self.A, self.space.to_complex(zt))[0]
                    self.z[p] = zt
        self.tau = float(taus[-1]) if taus.size else self.tau
        return G

    def close(self) -> None:
        self.prop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def regression(engine, generator: tuple, start: np.ndarray, A: np.ndarray, B: np.ndarray, taus: np.ndarray,
               side: str = "left") -> np.ndarray:
    """`Regression` at the increasing delays `taus` (>= 0), in one call."""
    with Regression(engine, generator, start, A, B, side) as reg:
        return reg.advance(taus)
