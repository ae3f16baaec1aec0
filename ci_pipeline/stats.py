"""Statistics for goal progress: significance tests, confidence intervals, trend tests and pooling.

The tests follow FHI's practice for the public-health profiles (MEASUREMENT.md 2.2 and 10.1): shares
are tested with an exact binomial test and counts/rates with an exact Poisson test against a reference
figure (Norway, or Oslo). Everything is two-sided at ALPHA = 0.05. FHI's own significance level is
not documented in the sources examined (MEASUREMENT.md 2.2, "Significance level: NOT FOUND"); a
two-sided 5 % test is the presumption, so treat ALPHA as a choice of this project until confirmed.
No adjustment for multiple comparisons is made (15 districts x several indicators), as FHI does not.

Choices, and why:
- one reference that is much larger than the local area (Norway): the reference is treated as fixed,
  as FHI does: binomial_test(x, n, p_ref) and poisson_test(x, expected).
- a reference that contains the local area and is not much larger (a district against Oslo): the
  district is compared with the *rest* of Oslo (Oslo minus the district) so the two samples are
  independent. Shares use Fisher's exact test (conditional, exact for small counts, no continuity
  fudge); rates use the conditional binomial test of two Poisson rates (exact; R's poisson.test).
- trend over a series: with numerator and denominator, a Cochran-Armitage test for shares (the score
  test of a logistic-regression slope; identical to R's prop.trend.test) and a Poisson score test for
  counts/rates (the score test of a Poisson-regression slope with log-exposure offset). Both are
  asymptotic (normal approximation) and become unreliable when the series has very few events; with
  no events (or no non-events) at all there is no variation to test and no p-value is given. With
  values only (no counts), a weighted least-squares slope with a t-test on n-2 degrees of freedom;
  weights are 1/se^2 when standard errors are known, else equal (ordinary least squares).
- pooling of multi-year periods sums numerators and denominators (never averages rates) and records
  n_years; a period is suppressed (':') when >= 20 % of its years were suppressed at source, as FHI
  (anon_tot_tol 0.2), and marked missing ('..') when >= 20 % of its years have no row at all.

Counts are whole numbers: the tests raise ValueError for negative or fractional counts and for
numerators above their denominators, naming the offending value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

ALPHA = 0.05
CONFIDENCE = 0.95
SUPPRESSED_SHARE_LIMIT = 0.2
# The standard normal quantile of a two-sided CONFIDENCE interval (1.96): turns an interval's width into
# a standard error.
Z_CONFIDENCE = float(scipy_stats.norm.ppf(0.5 + CONFIDENCE / 2))

# R's poisson.test (and scipy's binomtest) count outcomes as "as extreme" when their probability is
# within this relative tolerance of the observed one, so ties are not lost to floating-point noise.
_RELATIVE_TOLERANCE = 1 + 1e-7


@dataclass(frozen=True)
class TestResult:
    """Outcome of one comparison. p_value is None when no test was possible; note says why."""

    test: str
    p_value: float | None
    estimate: float | None = None
    reference: float | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


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


def _whole_count(value: float, name: str) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{name} is missing")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if abs(value - round(value)) > 1e-9:
        raise ValueError(f"{name} must be a whole count, got {value}")
    return round(float(value))


def _share_counts(successes: float, trials: float, what: str = "") -> tuple[int, int]:
    x = _whole_count(successes, f"{what}numerator")
    n = _whole_count(trials, f"{what}denominator")
    if x > n:
        raise ValueError(f"{what}numerator {x} is larger than the denominator {n}")
    return x, n


# ---------------------------------------------------------------------------------------------
# Tests against a reference figure


def binomial_test(successes: float, trials: float, reference_proportion: float) -> TestResult:
    """Exact two-sided binomial test of x out of n against a fixed proportion (0-1)."""
    x, n = _share_counts(successes, trials)
    if not 0 <= reference_proportion <= 1:
        raise ValueError(f"reference proportion must be within 0-1, got {reference_proportion}")
    if n == 0:
        return TestResult("binomial", None, None, reference_proportion, "denominator is 0")
    result = scipy_stats.binomtest(x, n, reference_proportion, alternative="two-sided")
    return TestResult("binomial", float(result.pvalue), x / n, reference_proportion)


def poisson_test(observed: float, expected: float) -> TestResult:
    """Exact two-sided Poisson test of an observed count against an expected count.

    The two-sided p-value sums the probabilities of all counts no more likely than the observed one
    (the method of R's poisson.test and of scipy's binomtest).
    """
    x = _whole_count(observed, "observed count")
    if expected is None or math.isnan(expected) or expected < 0:
        raise ValueError(f"expected count must be a non-negative number, got {expected}")
    if expected == 0:
        # Under a rate of zero any event is impossible; nothing to test against.
        return TestResult("poisson", None, float(x), 0.0, "expected count is 0")
    observed_probability = scipy_stats.poisson.pmf(x, expected)
    if x == expected:
        return TestResult("poisson", 1.0, float(x), expected)
    threshold = observed_probability * _RELATIVE_TOLERANCE
    if x < expected:
        # Counts above the mean as unlikely as x: the pmf falls beyond the mode, so find a count N
        # at least that unlikely and count the tail of [ceil(m), N] below the threshold.
        last = math.ceil(2 * expected - x)
        while scipy_stats.poisson.pmf(last, expected) > threshold:
            last *= 2
        upper = np.arange(math.ceil(expected), last + 1)
        n_as_extreme = int((scipy_stats.poisson.pmf(upper, expected) <= threshold).sum())
        p_value = scipy_stats.poisson.cdf(x, expected) + scipy_stats.poisson.sf(last - n_as_extreme, expected)
    else:
        lower = np.arange(0, math.floor(expected) + 1)
        n_as_extreme = int((scipy_stats.poisson.pmf(lower, expected) <= threshold).sum())
        p_value = scipy_stats.poisson.cdf(n_as_extreme - 1, expected) + scipy_stats.poisson.sf(x - 1, expected)
    return TestResult("poisson", float(min(1.0, p_value)), float(x), expected)


def compare_two_shares(x1: float, n1: float, x2: float, n2: float) -> TestResult:
    """Fisher's exact two-sided test of x1/n1 against x2/n2 (two independent samples)."""
    a, n_a = _share_counts(x1, n1, "first ")
    b, n_b = _share_counts(x2, n2, "second ")
    if n_a == 0 or n_b == 0:
        return TestResult("fisher_exact", None, None, None, "a denominator is 0")
    estimate, reference = a / n_a, b / n_b
    if a + b == 0 or a + b == n_a + n_b:
        # Every count falls in one column: the table carries no evidence of a difference.
        return TestResult("fisher_exact", 1.0, estimate, reference)
    result = scipy_stats.fisher_exact([[a, n_a - a], [b, n_b - b]], alternative="two-sided")
    return TestResult("fisher_exact", float(result.pvalue), estimate, reference)


def compare_two_rates(x1: float, exposure1: float, x2: float, exposure2: float) -> TestResult:
    """Exact conditional test of two Poisson rates x1/exposure1 against x2/exposure2.

    Given the total x1 + x2, x1 is binomial with p = exposure1 / (exposure1 + exposure2) under equal
    rates (R's two-sample poisson.test).
    """
    a = _whole_count(x1, "first count")
    b = _whole_count(x2, "second count")
    if not exposure1 > 0 or not exposure2 > 0:
        return TestResult("poisson_conditional", None, None, None, "an exposure (denominator) is not positive")
    estimate, reference = a / exposure1, b / exposure2
    if a + b == 0:
        return TestResult("poisson_conditional", 1.0, estimate, reference, "no events in either group")
    share = exposure1 / (exposure1 + exposure2)
    result = scipy_stats.binomtest(a, a + b, share, alternative="two-sided")
    return TestResult("poisson_conditional", float(result.pvalue), estimate, reference)


# ---------------------------------------------------------------------------------------------
# Confidence intervals


def wilson_interval(successes: float, trials: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion (0-1); (0, 1) when n is 0."""
    x, n = _share_counts(successes, trials)
    if n == 0:
        return 0.0, 1.0
    low, high = wilson_intervals(x, n, confidence)
    return float(low), float(high)


def wilson_intervals(successes, trials, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals for arrays of proportions (0-1); NaN where trials is 0.

    Unlike wilson_interval the counts are not checked: `successes` and `trials` may be fractional (a
    weighted count over Kish's effective sample size), which is how survey cells use it."""
    successes = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        denominator = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denominator
        half_width = z / denominator * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = np.where(n > 0, np.clip(centre - half_width, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half_width, 0.0, 1.0), np.nan)
    return low, high


def clopper_pearson_interval(
    successes: float, trials: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a proportion (0-1); (0, 1) when n is 0."""
    x, n = _share_counts(successes, trials)
    if n == 0:
        return 0.0, 1.0
    tail = (1 - confidence) / 2
    low = 0.0 if x == 0 else float(scipy_stats.beta.ppf(tail, x, n - x + 1))
    high = 1.0 if x == n else float(scipy_stats.beta.ppf(1 - tail, x + 1, n - x))
    return low, high


def garwood_interval(count: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count; divide by the exposure for a rate."""
    x = _whole_count(count, "count")
    tail = (1 - confidence) / 2
    low = 0.0 if x == 0 else float(scipy_stats.chi2.ppf(tail, 2 * x) / 2)
    high = float(scipy_stats.chi2.ppf(1 - tail, 2 * x + 2) / 2)
    return low, high


# ---------------------------------------------------------------------------------------------
# Trend tests


def _as_array(values, name: str, length: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if np.isnan(array).any():
        raise ValueError(f"{name} contains missing values; drop suppressed periods before testing")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has {len(array)} values, expected {length}")
    return array


def _normal_two_sided(z: float) -> float:
    return float(2 * scipy_stats.norm.sf(abs(z)))


def trend_test_shares(times, successes, trials) -> TrendResult:
    """Cochran-Armitage test for a linear trend in x_i / n_i over times t_i (years).

    The slope reported is the weighted least-squares slope of the share (0-1) per year, weights n_i.
    """
    t = _as_array(times, "times")
    x = _as_array(successes, "successes", len(t))
    n = _as_array(trials, "trials", len(t))
    for xi, ni in zip(x, n):
        _share_counts(xi, ni)
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
    t = _as_array(times, "times")
    x = _as_array(counts, "counts", len(t))
    e = np.ones_like(t) if exposures is None else _as_array(exposures, "exposures", len(t))
    for xi in x:
        _whole_count(xi, "count")
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
    t = _as_array(times, "times")
    y = _as_array(values, "values", len(t))
    if standard_errors is None:
        w = np.ones_like(t)
        test = "ols_slope"
    else:
        se = _as_array(standard_errors, "standard errors", len(t))
        if (se <= 0).any():
            raise ValueError("standard errors must be positive")
        w = 1 / se**2
        test = "wls_slope"
    if len(t) < 3 or len(np.unique(t)) < 2:
        return TrendResult(test, None, None, len(t), "fewer than 3 periods with data")
    t_bar = (w * t).sum() / w.sum()
    y_bar = (w * y).sum() / w.sum()
    spread = (w * (t - t_bar) ** 2).sum()
    slope = float((w * (t - t_bar) * (y - y_bar)).sum() / spread)
    residuals = y - (y_bar + slope * (t - t_bar))
    degrees = len(t) - 2
    scale = (w * residuals**2).sum() / degrees
    if scale == 0:
        # A perfect line: the slope is exact, so any non-zero slope is certain and a flat one is not.
        return TrendResult(test, slope, 0.0 if slope != 0 else 1.0, len(t), "points lie exactly on a line")
    t_statistic = slope / math.sqrt(scale / spread)
    return TrendResult(test, slope, float(2 * scipy_stats.t.sf(abs(t_statistic), degrees)), len(t))


# ---------------------------------------------------------------------------------------------
# Pooling


def pool_years(yearly: pd.DataFrame, window: int, scale: float = 100.0) -> pd.DataFrame:
    """Pool single-year numerators and denominators into moving windows of `window` years.

    yearly has columns year (int), numerator, denominator, status (null or a suppression symbol) for
    one series. Returns one row per window ending at each year from the first complete window on:
    period ("2018-2020"), first_year, last_year, numerator, denominator (sums over the years with
    values), value (numerator / denominator * scale), n_years (years that contributed), n_suppressed,
    n_missing, status (':' when >= 20 % of the window's years were suppressed, '..' when >= 20 % have
    no row, else null).
    """
    if window < 1:
        raise ValueError(f"pooling window must be at least 1 year, got {window}")
    missing_columns = {"year", "numerator", "denominator", "status"} - set(yearly.columns)
    if missing_columns:
        raise ValueError(f"pooling input lacks columns {sorted(missing_columns)}")
    if yearly["year"].duplicated().any():
        duplicated = sorted(yearly.loc[yearly["year"].duplicated(), "year"].tolist())
        raise ValueError(f"pooling input has more than one row for years {duplicated}")
    by_year = yearly.set_index("year")
    has_value = by_year["status"].isna() & by_year["numerator"].notna() & by_year["denominator"].notna()
    bad_values = by_year["status"].isna() & ~has_value
    if bad_values.any():
        raise ValueError(
            f"years {sorted(by_year.index[bad_values].tolist())} have neither a status symbol nor "
            "both numerator and denominator"
        )
    rows = []
    years = sorted(by_year.index)
    for last_year in range(years[0] + window - 1, years[-1] + 1):
        span = range(last_year - window + 1, last_year + 1)
        present = [year for year in span if year in by_year.index]
        contributing = [year for year in present if has_value[year]]
        n_suppressed = len(present) - len(contributing)
        n_missing = window - len(present)
        if n_suppressed / window >= SUPPRESSED_SHARE_LIMIT:
            status = ":"
        elif n_missing / window >= SUPPRESSED_SHARE_LIMIT:
            status = ".."
        else:
            status = None
        numerator = float(by_year.loc[contributing, "numerator"].sum()) if status is None else None
        denominator = float(by_year.loc[contributing, "denominator"].sum()) if status is None else None
        value = None
        if status is None and denominator:
            value = numerator / denominator * scale
        rows.append(
            {
                "period": f"{span[0]}-{last_year}" if window > 1 else str(last_year),
                "first_year": span[0],
                "last_year": last_year,
                "numerator": numerator,
                "denominator": denominator,
                "value": value,
                "n_years": len(contributing) if status is None else 0,
                "n_suppressed": n_suppressed,
                "n_missing": n_missing,
                "status": status,
            }
        )
    pooled = pd.DataFrame(rows, columns=[
        "period", "first_year", "last_year", "numerator", "denominator", "value",
        "n_years", "n_suppressed", "n_missing", "status",
    ]).astype({"numerator": "float64", "denominator": "float64", "value": "float64"})
    # object dtype keeps None for "no symbol" (pandas would turn it into NaN in a string column)
    pooled["status"] = pd.Series([row["status"] for row in rows], dtype=object)
    return pooled
