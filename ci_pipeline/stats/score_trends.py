"""Score tests for a trend over a short series (the tests goal_progress runs today; the quasi-likelihood
tests in ci_pipeline.stats.trends replace them once goal_progress is wired to those).

With numerator and denominator, a Cochran-Armitage test for shares (the score test of a
logistic-regression slope; identical to R's prop.trend.test) and a Poisson score test for counts/rates
(the score test of a Poisson-regression slope with log-exposure offset). Both are asymptotic (normal
approximation), assume no variation beyond sampling (no over-dispersion), and become unreliable when the
series has very few events; with no events (or no non-events) at all there is no variation to test and
no p-value is given. With values only (no counts), a weighted least-squares slope with a t-test on n-2
degrees of freedom; weights are 1/se^2 when standard errors are known, else equal (ordinary least squares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from ci_pipeline.stats.common import ALPHA, as_array, share_counts, whole_count
from ci_pipeline.stats.trends import weighted_line


@dataclass(frozen=True)
class TrendResult:
    """Outcome of a trend test: slope in value units per year, p_value None when not testable."""

    test: str
    slope: float | None
    p_value: float | None
    n_points: int
    note: str = ""

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def _normal_two_sided(z: float) -> float:
    return float(2 * scipy_stats.norm.sf(abs(z)))


def trend_test_shares(times, successes, trials) -> TrendResult:
    """Cochran-Armitage test for a linear trend in x_i / n_i over times t_i (years).

    The slope reported is the weighted least-squares slope of the share (0-1) per year, weights n_i.
    """
    t = as_array(times, "times")
    x = as_array(successes, "successes", len(t))
    n = as_array(trials, "trials", len(t))
    for xi, ni in zip(x, n):
        share_counts(xi, ni)
    keep = n > 0
    t, x, n = t[keep], x[keep], n[keep]
    if len(t) < 3 or len(np.unique(t)) < 2:
        return TrendResult("cochran_armitage", None, None, len(t), "fewer than 3 periods with data")
    total_n, total_x = n.sum(), x.sum()
    pooled = total_x / total_n
    t_bar = (n * t).sum() / total_n
    slope = float((n * (t - t_bar) * (x / n - pooled)).sum() / (n * (t - t_bar) ** 2).sum())
    if total_x == 0 or total_x == total_n:
        return TrendResult("cochran_armitage", slope, None, len(t), "no variation: all or no events")
    score = (x * (t - t_bar)).sum()
    variance = pooled * (1 - pooled) * (n * (t - t_bar) ** 2).sum()
    return TrendResult("cochran_armitage", slope, _normal_two_sided(score / math.sqrt(variance)), len(t))


def trend_test_counts(times, counts, exposures=None) -> TrendResult:
    """Poisson score test for a log-linear trend in counts (with exposures, in rates) over times.

    The slope reported is the exposure-weighted least-squares slope of count/exposure per year.
    """
    t = as_array(times, "times")
    x = as_array(counts, "counts", len(t))
    e = np.ones_like(t) if exposures is None else as_array(exposures, "exposures", len(t))
    for xi in x:
        whole_count(xi, "count")
    if (e <= 0).any():
        raise ValueError("exposures must be positive")
    if len(t) < 3 or len(np.unique(t)) < 2:
        return TrendResult("poisson_score", None, None, len(t), "fewer than 3 periods with data")
    rates = x / e
    t_bar_e = (e * t).sum() / e.sum()
    slope = float((e * (t - t_bar_e) * rates).sum() / (e * (t - t_bar_e) ** 2).sum())
    total = x.sum()
    if total == 0:
        return TrendResult("poisson_score", slope, None, len(t), "no events")
    expected = total * e / e.sum()
    t_bar = (expected * t).sum() / total
    score = (x * (t - t_bar)).sum()
    variance = (expected * (t - t_bar) ** 2).sum()
    return TrendResult("poisson_score", slope, _normal_two_sided(score / math.sqrt(variance)), len(t))


def trend_test_values(times, values, standard_errors=None) -> TrendResult:
    """Weighted least-squares slope with a t-test (n-2 df); weights 1/se^2, or equal when se is None."""
    t = as_array(times, "times")
    y = as_array(values, "values", len(t))
    if standard_errors is None:
        w = np.ones_like(t)
        test = "ols_slope"
    else:
        se = as_array(standard_errors, "standard errors", len(t))
        if (se <= 0).any():
            raise ValueError("standard errors must be positive")
        w = 1 / se**2
        test = "wls_slope"
    if len(t) < 3 or len(np.unique(t)) < 2:
        return TrendResult(test, None, None, len(t), "fewer than 3 periods with data")
    slope, spread, chi2, _ = weighted_line(t, y, w)
    degrees = len(t) - 2
    scale = chi2 / degrees
    if scale == 0:
        # A perfect line: the slope is exact, so any non-zero slope is certain and a flat one is not.
        return TrendResult(test, slope, 0.0 if slope != 0 else 1.0, len(t), "points lie exactly on a line")
    t_statistic = slope / math.sqrt(scale / spread)
    return TrendResult(test, slope, float(2 * scipy_stats.t.sf(abs(t_statistic), degrees)), len(t))
