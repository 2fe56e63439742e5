r"""The Schur-Weyl blocks of N particles in C^d and block-diagonal symmetric states on them.

:class:`BlockSpace` lists the Young diagrams :math:`\lambda` (N boxes, at most d rows), their
:math:`\mathfrak{gl}(d)` irreps (built on first use), multiplicities and the layout of a state
vector of concatenated row-major blocks :math:`P_\lambda`. It serves the permutational engine,
the steady-state solver and the certificate alike. :class:`BlockMeasurement` takes entropy,
trace, positivity and collective moments of such states, time by time.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .collective import moments_to_marginals
from .irreps import Irrep, log_multiplicity, log_vector_weights, partitions, weyl_dimension

__all__ = ["BlockSpace", "BlockMeasurement", "block_entropy"]


class BlockSpace:
    """The blocks lambda of N particles in C^d, their irreps and the layout of the state vector.

    Irreps are constructed lazily (:meth:`irrep`), so a caller that visits a few blocks of a
    large N (the certificate) does not pay for all of them.
    """

    def __init__(self, N: int, d: int):
        self.N, self.d = N, d
        self.lams = partitions(N, d)
        self.index = {lam: i for i, lam in enumerate(self.lams)}
        self._irreps: dict[int, Irrep] = {}
        self.dims = np.array([weyl_dimension(lam) for lam in self.lams])
        self.sizes = self.dims**2
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.size = int(self.offsets[-1])
        self.logmult = np.array([log_multiplicity(lam) for lam in self.lams])

    def irrep(self, i: int) -> Irrep:
        """The irrep of block i (built once)."""
        if i not in self._irreps:
            self._irreps[i] = Irrep(self.lams[i])
        return self._irreps[i]

    @property
    def irreps(self) -> list[Irrep]:
        """Every block's irrep, in the order of ``lams``."""
        return [self.irrep(i) for i in range(len(self.lams))]

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        """The blocks P_lambda of a state vector (views)."""
        return [x[self.offsets[i]:self.offsets[i + 1]].reshape(n, n) for i, n in enumerate(self.dims)]

    def trace_row(self) -> np.ndarray:
        """The row vector whose product with a state vector is its trace, sum_lambda tr P_lambda."""
        row = np.zeros(self.size, dtype=complex)
        for i, n in enumerate(self.dims):
            row[self.offsets[i] + np.arange(n) * (n + 1)] = 1.0
        return row

    def product_state_vector(self, rho: np.ndarray) -> np.ndarray:
        r"""Vector of :math:`\rho^{\otimes N}`. With :math:`\rho = W \mathrm{diag}(p) W^\dagger`, block
        :math:`\lambda` is :math:`U_\lambda D_\lambda U_\lambda^\dagger`: :math:`D_\lambda` diagonal with
        :math:`\dim S_\lambda \prod_a p_a^{w_a}` (0^0 = 1, so pure states are exact) and
        :math:`U_\lambda = \exp J_\lambda(\log W)` the irrep of the unitary W."""
        p, W = np.linalg.eigh((rho + rho.conj().T) / 2)
        p, W = np.clip(p[::-1], 0.0, None), W[:, ::-1]
        p = p / p.sum()
        theta, Q = scipy.linalg.schur(W, output="complex")        # W = Q diag(e^{i phi}) Q^+
        logW = (Q * (1j * np.angle(np.diag(theta)))[None, :]) @ Q.conj().T
        x = np.zeros(self.size, dtype=complex)
        with np.errstate(divide="ignore"):
            logp = np.log(p)
        for i, ir in enumerate(self.irreps):
            logw = log_vector_weights(ir.weights, self.logmult[i], logp)
            U = scipy.linalg.expm(ir.collective(logW).toarray())
            x[self.offsets[i]:self.offsets[i + 1]] = ((U * np.exp(logw)[None, :]) @ U.conj().T).reshape(-1)
        return x




def block_entropy(space: BlockSpace, blocks: list[np.ndarray]) -> tuple[float, float]:
    r""":math:`S(R_N) = -\sum_\lambda \mathrm{tr}\,P_\lambda\log(P_\lambda/\dim S_\lambda)` and the most
    negative block eigenvalue (a positivity check)."""
    S = 0.0
    most_negative = 0.0
    for i, P in enumerate(blocks):
        w = np.linalg.eigvalsh((P + P.conj().T) / 2)
        most_negative = min(most_negative, float(w[0]))
        w = w[w > 0]
        S -= float(np.sum(w * (np.log(w) - space.logmult[i])))
    return S, most_negative


def _moments(space: BlockSpace, blocks, kmax: int):
    """Collective moments tr(R J_x), tr(R J_x J_y) (and third order), x = a * d + b."""
    d = space.d
    D2 = d * d
    M1 = np.zeros(D2, dtype=complex)
    M2 = np.zeros((D2, D2), dtype=complex)
    M3 = np.zeros((D2, D2, D2), dtype=complex) if kmax >= 3 else None
    for ir, P in zip(space.irreps, blocks):
        J = [ir.J(a, b) for a in range(d) for b in range(d)]
        JP = [Jx @ P for Jx in J]                      # J_x P (dense)
        trace_with = lambda X, Y: X.multiply(Y.T).sum()  # noqa: E731  tr(X Y), X sparse
        for x in range(D2):
            M1[x] += np.trace(JP[x])
            for y in range(D2):
                M2[x, y] += trace_with(J[x], JP[y])
        if M3 is not None:
            for y in range(D2):
                for z in range(D2):
                    JJP = J[y] @ JP[z]
                    for x in range(D2):
                        M3[x, y, z] += trace_with(J[x], JJP)
    return M1, M2, M3


class BlockMeasurement:
    """Entropy, trace and positivity checks and collective moments of block states, time by time."""

    def __init__(self, space: BlockSpace, T: int, kmax: int):
        d = space.d
        self.space, self.kmax = space, kmax
        self.entropy = np.empty(T)
        self.M1 = np.zeros((T, d * d), dtype=complex)
        self.M2 = np.zeros((T, d * d, d * d), dtype=complex)
        self.M3 = np.zeros((T, d * d, d * d, d * d), dtype=complex) if kmax >= 3 else None
        self.trace_error = 0.0
        self.most_negative = 0.0

    def add(self, n: int, x: np.ndarray) -> None:
        blocks = self.space.split(x)
        self.trace_error = max(self.trace_error, float(abs(sum(np.trace(P) for P in blocks) - 1)))
        self.entropy[n], neg = block_entropy(self.space, blocks)
        self.most_negative = min(self.most_negative, neg)
        m1, m2, m3 = _moments(self.space, blocks, self.kmax)
        self.M1[n], self.M2[n] = m1, m2
        if self.M3 is not None:
            self.M3[n] = m3

    def marginals(self) -> dict[int, np.ndarray]:
        out = moments_to_marginals(self.M1, self.M2, self.M3, self.space.N, self.space.d)
        return {k: out[k] for k in range(1, self.kmax + 1)}


