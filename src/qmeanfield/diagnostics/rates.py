r"""Rates in N: power laws and the :math:`N \to \infty` limit.

* :func:`fit_power_law`: least-squares slope of :math:`\log y` against :math:`\log N`.
* :func:`fit_inverse_N`: :math:`y \approx a + b/N` by least squares; ``a`` estimates the limit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_power_law", "fit_inverse_N"]


def fit_power_law(x, y) -> float | None:
    """Slope of log y against log x over the positive finite points (None if fewer than two)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0) & (x > 0)
    if ok.sum() < 2:
        return None
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def fit_inverse_N(N, y) -> tuple[float, float] | None:
    """``(a, b)`` with y ~ a + b/N (least squares over finite points; None if fewer than two)."""
    N = np.asarray(N, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (N > 0)
    if ok.sum() < 2:
        return None
    A = np.stack([np.ones(ok.sum()), 1.0 / N[ok]], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y[ok], rcond=None)
    return float(a), float(b)
