r"""A-priori bounds of the entropy method (docs/theory.md, Marginal bound and The certificate).

Pinsker + superadditivity of relative entropy over disjoint blocks of k particles:

$$
\| R^{(k)} - \rho^{\otimes k} \|_1 \le \sqrt{2 H_N / \lfloor N/k \rfloor}.
$$
"""

from __future__ import annotations

import numpy as np

__all__ = ["pinsker_marginal_bound"]


def pinsker_marginal_bound(H_N, N: int, k: int):
    r"""$\sqrt{2 H_N / \lfloor N/k\rfloor}$ (array-valued in `H_N`); NaN where k > N, +inf where H_N = +inf."""
    H = np.asarray(H_N, dtype=float)
    if k > N or k < 1:
        return np.full(H.shape, np.nan)
    return np.sqrt(2.0 * np.clip(H, 0.0, None) / (N // k))
