r"""Entropies (natural logarithm) - docs/theory.md, Relative entropy.

$$
H_N = H(R_N | \rho^{\otimes N}) = \mathrm{Tr}\,R_N(\log R_N - \log\rho^{\otimes N})
    = -S(R_N) - N\,\mathrm{Tr}(R^{(1)}\log\rho)
$$

for permutation-symmetric $R_N$. The value is $+\infty$ when the support of
$R_N$ is not inside that of $\rho^{\otimes N}$ (e.g. $\rho$ pure and
$R_N$ entangled); round-off below zero is clamped to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..states import RANK_TOL

__all__ = ["von_neumann_entropy", "relative_entropy", "relative_entropy_to_product", "clamp_product_roundoff",
           "ProductRelativeEntropy", "SUPPORT_TOL", "ROUNDOFF_RTOL"]

#: eigenvalue / weight threshold deciding support questions: the package's one rank criterion
SUPPORT_TOL = RANK_TOL
#: values below zero within this relative size of their terms are round-off, set to zero
ROUNDOFF_RTOL = 1e-10


@dataclass(frozen=True)
class ProductRelativeEntropy:
    r"""$H(R_N | \rho^{\otimes N})$ and, when it is $+\infty$, why (else `reason` is empty)."""

    value: float
    reason: str = ""

    @property
    def finite(self) -> bool:
        return not self.reason


def von_neumann_entropy(R: np.ndarray) -> float:
    r"""$S(R) = -\mathrm{Tr}\,R\log R$ from the spectrum (eigenvalues <= 0 contribute 0)."""
    w = np.linalg.eigvalsh((R + R.conj().T) / 2)
    w = w[w > 0]
    return float(-np.sum(w * np.log(w)))


def _log_expectation(R: np.ndarray, sigma: np.ndarray, tol: float) -> tuple[float, float, float]:
    r"""`(cross, leak, smallest)`: $\mathrm{Tr}(R\log\sigma)$ over the support of sigma, the
    largest weight of R on the kernel of sigma (0 if none), and sigma's smallest eigenvalue."""
    w, W = np.linalg.eigh((sigma + sigma.conj().T) / 2)
    weights = np.real(np.einsum("ia,ij,ja->a", W.conj(), R, W))  # <s_a| R |s_a>
    kernel = w <= tol
    leak = float(weights[kernel].max()) if kernel.any() else 0.0
    cross = float(np.sum(weights[~kernel] * np.log(w[~kernel])))
    return cross, leak, float(w[0])


def relative_entropy(R: np.ndarray, sigma: np.ndarray, tol: float = SUPPORT_TOL) -> float:
    r"""$H(R|\sigma) = \mathrm{Tr}\,R(\log R - \log\sigma)$; $+\infty$ unless
    $\mathrm{supp} R \subseteq \mathrm{supp}\,\sigma$. Shapes: both (n, n), Hermitian, trace one."""
    if R.shape != sigma.shape:
        raise ValueError(f"relative_entropy: shapes differ, {R.shape} vs {sigma.shape}")
    cross, leak, _ = _log_expectation(R, sigma, tol)
    if leak > tol:
        return float("inf")
    neg_S = -von_neumann_entropy(R)
    return _clamp_roundoff(neg_S - cross, abs(neg_S) + abs(cross))


def relative_entropy_to_product(entropy_R: float, R1: np.ndarray, rho: np.ndarray, N: int,
                                tol: float = SUPPORT_TOL, clamp: bool = True) -> ProductRelativeEntropy:
    r"""$H(R_N|\rho^{\otimes N}) = -S(R_N) - N\,\mathrm{Tr}(R^{(1)}\log\rho)$ for symmetric $R_N$.

    `reason` of the result is empty when finite, otherwise says why the value
    is $+\infty$ (R^(1) has weight on the kernel of a rank-deficient rho). `clamp`
    sets round-off below zero (1e-10 relative) to zero; `clamp=False` keeps the value smooth in
    time (for finite differences).
    """
    cross, leak, smallest = _log_expectation(R1, rho, tol)
    if leak > tol:
        return ProductRelativeEntropy(float("inf"), (
            f"rho(t) is rank deficient (smallest eigenvalue {smallest:.2g}) and R^(1) has weight "
            f"{leak:.2g} on its kernel: R_N is not supported inside rho^(x)N"))
    value = -entropy_R - N * cross
    return ProductRelativeEntropy(clamp_product_roundoff(value, entropy_R) if clamp else value)


def clamp_product_roundoff(value: float, entropy_R: float) -> float:
    r"""The clamping of `relative_entropy_to_product` applied to an unclamped value:
    round-off below zero, relative to its terms $S(R_N)$ and
    $N\,\mathrm{Tr}(R^{(1)}\log\rho) = -S(R_N) - H$, set to zero."""
    return _clamp_roundoff(value, abs(entropy_R) + abs(entropy_R + value))


def _clamp_roundoff(value: float, scale: float) -> float:
    """Set round-off below zero (within 1e-10 relative to the terms) to zero; keep real negatives."""
    if -ROUNDOFF_RTOL * max(1.0, scale) < value < 0:
        return 0.0
    return value
