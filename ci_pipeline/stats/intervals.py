"""Confidence intervals: Wilson and Clopper-Pearson for proportions, Garwood for Poisson counts, and the
Wilson interval of a weighted share over Kish's effective sample size (survey cells)."""

from __future__ import annotations

import numpy as np

from ci_pipeline.stats.common import CONFIDENCE, share_counts, whole_count

# scipy.stats (and statsmodels) take seconds to import: they are imported where a figure is computed, so
# loading the definitions (every `make run`, the UI's code server) does not pay for them.


def wilson_interval(successes: float, trials: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion (0-1); (0, 1) when n is 0."""
    x, n = share_counts(successes, trials)
    if n == 0:
        return 0.0, 1.0
    low, high = wilson_intervals(x, n, confidence)
    return float(low), float(high)


def wilson_intervals(successes, trials, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals for arrays of proportions (0-1); NaN where trials is 0.

    Unlike wilson_interval the counts are not checked: `successes` and `trials` may be fractional (a
    weighted count over Kish's effective sample size), which is how survey cells use it."""
    from scipy import stats as scipy_stats
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


def kish_effective_n(weights) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: n for equal weights, smaller the more they vary.

    Weights must be finite and non-negative with a positive sum (ValueError otherwise)."""
    w = np.asarray(weights, dtype="float64")
    if w.ndim != 1 or len(w) == 0:
        raise ValueError("weights must be a non-empty one-dimensional array")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights sum to zero")
    return float(total**2 / (w**2).sum())


def weighted_share_interval(positive, weights, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """(share, effective n, low, high) of a weighted share: the weighted mean of the 0/1 values `positive`,
    Kish's effective n of the weights, and the Wilson interval with the effective n as its sample size
    (so unequal weights widen the interval, as they should)."""
    y = np.asarray(positive, dtype="float64")
    w = np.asarray(weights, dtype="float64")
    if y.shape != w.shape:
        raise ValueError(f"{len(y)} values but {len(w)} weights")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("positive must hold 0/1 values (missing answers are the caller's to drop)")
    n_effective = kish_effective_n(w)
    share = float((w * y).sum() / w.sum())
    low, high = wilson_intervals(share * n_effective, n_effective, confidence)
    return share, n_effective, float(low), float(high)


def clopper_pearson_interval(
    successes: float, trials: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a proportion (0-1); (0, 1) when n is 0."""
    from scipy import stats as scipy_stats
    x, n = share_counts(successes, trials)
    if n == 0:
        return 0.0, 1.0
    tail = (1 - confidence) / 2
    low = 0.0 if x == 0 else float(scipy_stats.beta.ppf(tail, x, n - x + 1))
    high = 1.0 if x == n else float(scipy_stats.beta.ppf(1 - tail, x + 1, n - x))
    return low, high


def garwood_interval(count: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count; divide by the exposure for a rate."""
    from scipy import stats as scipy_stats
    x = whole_count(count, "count")
    tail = (1 - confidence) / 2
    low = 0.0 if x == 0 else float(scipy_stats.chi2.ppf(tail, 2 * x) / 2)
    high = float(scipy_stats.chi2.ppf(1 - tail, 2 * x + 2) / 2)
    return low, high
