r"""Rates in N (or hbar): power laws and the $N \to \infty$ limit, as frozen fit results.

One sign convention everywhere: a power law is $y \approx c\,x^{p}$ and `exponent` is
the log-log slope p (negative for a decaying quantity: $N^{-1/2}$ has exponent -0.5).

* `fit_power_law`: regression of $\log y$ on $\log x$ -> `PowerLawFit`.
* `fit_inverse_N`: $y \approx a + b/N$ -> `InverseNFit` (`limit` = a, the
  $N\to\infty$ value, with its interval; `poor` when the fit explains the data badly).
* `richardson_limit`: polynomial extrapolation in 1/N to N = infinity.

Confidence intervals are Student-t half-widths on the regression's standard errors (level 95 %
by default); NaN when there are no degrees of freedom left (two points for two parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PowerLawFit", "InverseNFit", "fit_power_law", "fit_inverse_N", "richardson_limit"]

#: R^2 below this marks an a + b/N fit as poor
POOR_FIT_R2 = 0.9


@dataclass(frozen=True)
class PowerLawFit:
    r"""$y \approx$ `prefactor` $x^{\text{exponent}}$; `exponent_ci` is the half-width
    of the confidence interval at `level`; `points` the number of points used."""

    exponent: float
    exponent_ci: float
    prefactor: float
    points: int
    level: float = 0.95


@dataclass(frozen=True)
class InverseNFit:
    r"""$y \approx$ `limit` + `coefficient` / N, with confidence half-widths; `r2` the
    coefficient of determination (NaN with two points) and `poor` when it is below POOR_FIT_R2."""

    limit: float
    limit_ci: float
    coefficient: float
    coefficient_ci: float
    r2: float
    points: int
    level: float = 0.95

    @property
    def poor(self) -> bool:
        return bool(np.isfinite(self.r2) and self.r2 < POOR_FIT_R2)


def _linear_fit_with_ci(X: np.ndarray, y: np.ndarray, level: float):
    """Least squares y ~ X beta; returns (beta, half-widths of the confidence intervals, R^2)."""
    from scipy import stats

    n, p = X.shape
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = n - p
    resid = y - X @ beta
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss_tot if dof > 0 and ss_tot > 0 else float("nan")
    if dof <= 0:
        return beta, np.full(p, np.nan), r2
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    half = stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(np.diag(cov))
    return beta, half, r2


def fit_power_law(x, y, level: float = 0.95) -> PowerLawFit | None:
    """Fit y ~ c x^p over the points with x > 0 and finite y > 0 (None with fewer than two)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0) & (x > 0)
    if ok.sum() < 2:
        return None
    X = np.stack([np.ones(ok.sum()), np.log(x[ok])], axis=1)
    (logc, slope), (_, dslope), _ = _linear_fit_with_ci(X, np.log(y[ok]), level)
    return PowerLawFit(exponent=float(slope), exponent_ci=float(dslope), prefactor=float(np.exp(logc)),
                       points=int(ok.sum()), level=level)


def fit_inverse_N(N, y, level: float = 0.95) -> InverseNFit | None:
    """Fit y ~ a + b/N by least squares over the finite points (None with fewer than two)."""
    N = np.asarray(N, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (N > 0)
    if ok.sum() < 2:
        return None
    X = np.stack([np.ones(ok.sum()), 1.0 / N[ok]], axis=1)
    (a, b), (da, db), r2 = _linear_fit_with_ci(X, y[ok], level)
    return InverseNFit(limit=float(a), limit_ci=float(da), coefficient=float(b), coefficient_ci=float(db),
                       r2=float(r2), points=int(ok.sum()), level=level)


def richardson_limit(N, y) -> float | None:
    r"""Richardson extrapolation to $N = \infty$ assuming $y = a + b/N + c/N^2 + \dots$.

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
