"""Statistics for shared measurement, as pure functions (no Dagster): every one is tested against an
independent implementation or a published worked example (tests/test_stats*.py).

Modules, by job:
- common: ALPHA (two-sided 5 %), CONFIDENCE, and the checks of counts;
- comparisons: one figure against a reference (exact binomial / Poisson, Fisher, two Poisson rates);
- intervals: Wilson, Clopper-Pearson, Garwood, Kish's effective n and the weighted-share interval;
- pooling: multi-year periods by summing numerators and denominators (FHI's rules);
- trends: quasi-Poisson / quasi-binomial / least-squares trend tests that allow for over-dispersion;
- progress: progress towards a target, status and trend wording that never contradict each other;
- multiplicity: Benjamini-Hochberg q-values within a family of tests;
- pvalues: p-values as marts store them and reports print them;
- raking: survey weights raked to population margins, with trimming;
- apportionment: a municipal count spread over districts by population x a related district share.

Everything is re-exported here, so `from ci_pipeline import stats; stats.wilson_interval(...)` works.
"""

from ci_pipeline.stats.apportionment import APPORTIONED, APPORTIONED_BY_RATE, apportion_by_rate
from ci_pipeline.stats.common import ALPHA, CONFIDENCE, Z_CONFIDENCE
from ci_pipeline.stats.comparisons import (
    TestResult,
    binomial_test,
    compare_two_rates,
    compare_two_shares,
    poisson_test,
)
from ci_pipeline.stats.intervals import (
    clopper_pearson_interval,
    garwood_interval,
    kish_effective_n,
    weighted_share_interval,
    wilson_interval,
    wilson_intervals,
)
from ci_pipeline.stats.multiplicity import bh_q_values, q_values_within
from ci_pipeline.stats.pooling import SUPPRESSED_SHARE_LIMIT, pool_years
from ci_pipeline.stats.progress import ProgressReading, assess_progress, meets, progress_pct
from ci_pipeline.stats.pvalues import P_FLOOR, format_p_value, p_for_mart
from ci_pipeline.stats.raking import Margin, RakingError, RakingResult, rake
from ci_pipeline.stats.trends import (
    TrendFit,
    least_squares_trend,
    quasi_binomial_trend,
    quasi_poisson_trend,
)

__all__ = [
    "ALPHA",
    "APPORTIONED",
    "APPORTIONED_BY_RATE",
    "CONFIDENCE",
    "P_FLOOR",
    "SUPPRESSED_SHARE_LIMIT",
    "Z_CONFIDENCE",
    "Margin",
    "ProgressReading",
    "RakingError",
    "RakingResult",
    "TestResult",
    "TrendFit",
    "apportion_by_rate",
    "assess_progress",
    "bh_q_values",
    "binomial_test",
    "clopper_pearson_interval",
    "compare_two_rates",
    "compare_two_shares",
    "format_p_value",
    "garwood_interval",
    "kish_effective_n",
    "least_squares_trend",
    "meets",
    "p_for_mart",
    "poisson_test",
    "pool_years",
    "progress_pct",
    "q_values_within",
    "quasi_binomial_trend",
    "quasi_poisson_trend",
    "rake",
    "weighted_share_interval",
    "wilson_interval",
    "wilson_intervals",
]
