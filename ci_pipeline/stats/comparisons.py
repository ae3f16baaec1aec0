"""Tests of one figure against a reference (FHI's practice, MEASUREMENT.md 2.2 and 10.1): shares with an
exact binomial test, counts and rates with an exact Poisson test, all two-sided at ALPHA.

Choices, and why:
- one reference that is much larger than the local area (Norway): the reference is treated as fixed,
  as FHI does: binomial_test(x, n, p_ref) and poisson_test(x, expected).
- a reference that contains the local area and is not much larger (a district against Oslo): the
  district is compared with the *rest* of Oslo (Oslo minus the district) so the two samples are
  independent. Shares use Fisher's exact test (conditional, exact for small counts, no continuity
  fudge); rates use the conditional binomial test of two Poisson rates (exact; R's poisson.test).

Counts are whole numbers: the tests raise ValueError for negative or fractional counts and for
numerators above their denominators, naming the offending value. Multiple comparisons are corrected
separately (ci_pipeline.stats.multiplicity), within a family of comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ci_pipeline.stats.common import ALPHA, share_counts, whole_count

# scipy.stats (and statsmodels) take seconds to import: they are imported where a figure is computed, so
# loading the definitions (every `make run`, the UI's code server) does not pay for them.

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


def binomial_test(successes: float, trials: float, reference_proportion: float) -> TestResult:
    """Exact two-sided binomial test of x out of n against a fixed proportion (0-1)."""
    from scipy import stats as scipy_stats
    x, n = share_counts(successes, trials)
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
    from scipy import stats as scipy_stats
    x = whole_count(observed, "observed count")
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
    from scipy import stats as scipy_stats
    a, n_a = share_counts(x1, n1, "first ")
    b, n_b = share_counts(x2, n2, "second ")
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
    from scipy import stats as scipy_stats
    a = whole_count(x1, "first count")
    b = whole_count(x2, "second count")
    if not exposure1 > 0 or not exposure2 > 0:
        return TestResult("poisson_conditional", None, None, None, "an exposure (denominator) is not positive")
    estimate, reference = a / exposure1, b / exposure2
    if a + b == 0:
        return TestResult("poisson_conditional", 1.0, estimate, reference, "no events in either group")
    share = exposure1 / (exposure1 + exposure2)
    result = scipy_stats.binomtest(a, a + b, share, alternative="two-sided")
    return TestResult("poisson_conditional", float(result.pvalue), estimate, reference)
