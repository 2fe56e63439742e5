r"""Rates in N: power laws and the :math:`N \to \infty` limit.

* :func:`fit_power_law`: least-squares slope of :math:`\log y` against :math:`\log N`.
* :func:`fit_inverse_N`: :math:`y \approx a + b/N` by least squares; ``a`` estimates the limit.
* :func:`fit_inverse_N_ci`, :func:`fit_power_law_ci`: the same with confidence intervals
  (Student t on the regression's standard errors).
* :func:`richardson_limit`: polynomial extrapolation in 1/N to N = infinity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_power_law", "fit_inverse_N", "fit_inverse_N_ci", "fit_power_law_ci", "richardson_limit"]


def fit_power_law(x, y) -> float | None:
    """Slope of log y against log x over the positive finite points (None if fewer than two)."""
    fit = fit_power_law_ci(x, y)
    return None if fit is None else -fit["alpha"]


def fit_inverse_N(N, y) -> tuple[float, float] | None:
    """``(a, b)`` with y ~ a + b/N (least squares over finite points; None if fewer than two)."""
    fit = fit_inverse_N_ci(N, y)
    return None if fit is None else (fit["a"], fit["b"])


def _linear_fit_with_ci(X: np.ndarray, y: np.ndarray, level: float = 0.95):
    """Least squares y ~ X beta; returns (beta, half-widths of the confidence intervals)."""
    from scipy import stats

    n, p = X.shape
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = n - p
    if dof <= 0:
        return beta, np.full(p, np.nan)
    resid = y - X @ beta
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    half = stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(np.diag(cov))
    return beta, half


def fit_inverse_N_ci(N, y, level: float = 0.95) -> dict | None:
    """``y ~ a + b/N`` with confidence intervals: {"a", "a_ci", "b", "b_ci"} (None with < 2 points)."""
    N = np.asarray(N, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (N > 0)
    if ok.sum() < 2:
        return None
    X = np.stack([np.ones(ok.sum()), 1.0 / N[ok]], axis=1)
    (a, b), (da, db) = _linear_fit_with_ci(X, y[ok], level)
    return {"a": float(a), "a_ci": float(da), "b": float(b), "b_ci": float(db)}


def fit_power_law_ci(N, y, level: float = 0.95) -> dict | None:
    """``y ~ c N^(-alpha)`` by regression of log y on log N: {"alpha", "alpha_ci", "c"}."""
    N = np.asarray(N, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0) & (N > 0)
    if ok.sum() < 2:
        return None
    X = np.stack([np.ones(ok.sum()), np.log(N[ok])], axis=1)
    (logc, slope), (_, dslope) = _linear_fit_with_ci(X, np.log(y[ok]), level)
    return {"alpha": float(-slope), "alpha_ci": float(dslope), "c": float(np.exp(logc))}


def richardson_limit(N, y) -> float | None:
    r"""Richardson extrapolation to :math:`N = \infty` assuming :math:`y = a + b/N + c/N^2 + \dots`.

    Uses the polynomial in 1/N through the (up to three) largest N and returns its value at 1/N = 0.
    """
    N = np.asarray(N, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (N > 0)
    if ok.sum() < 2:
        return None
    order = np.argsort(N[ok])[-3:]
    x = 1.0 / N[ok][order]
    coeffs = np.polyfit(x, y[ok][order], x.size - 1)
    return float(np.polyval(coeffs, 0.0))
