"""Shared constants and input checks of ci_pipeline.stats: the significance level, the confidence level, and
the checks that turn bad counts into errors that name the offending value.

ALPHA: every test is two-sided at 5 %. FHI's own significance level is not documented in the sources
examined (MEASUREMENT.md 2.2, "Significance level: NOT FOUND"); a two-sided 5 % test is the presumption,
so treat ALPHA as a choice of this project until confirmed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

ALPHA = 0.05
CONFIDENCE = 0.95
# The standard normal quantile of a two-sided CONFIDENCE interval (1.96): turns an interval's width into
# a standard error. (scipy.stats.norm.ppf is this function; scipy.stats itself takes seconds to import.)
Z_CONFIDENCE = float(ndtri(0.5 + CONFIDENCE / 2))


def whole_count(value: float, name: str) -> int:
    """`value` as an int; ValueError naming `name` when it is missing, negative or fractional."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{name} is missing")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if abs(value - round(value)) > 1e-9:
        raise ValueError(f"{name} must be a whole count, got {value}")
    return round(float(value))


def share_counts(successes: float, trials: float, what: str = "") -> tuple[int, int]:
    """(x, n) as whole counts with x <= n; `what` prefixes the names in the error."""
    x = whole_count(successes, f"{what}numerator")
    n = whole_count(trials, f"{what}denominator")
    if x > n:
        raise ValueError(f"{what}numerator {x} is larger than the denominator {n}")
    return x, n


def as_array(values, name: str, length: int | None = None) -> np.ndarray:
    """A one-dimensional float array without missing values (suppressed periods are the caller's to drop)."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if np.isnan(array).any():
        positions = np.flatnonzero(np.isnan(array)).tolist()
        raise ValueError(f"{name} contains missing values at positions {positions[:5]}; "
                         "drop suppressed periods before testing")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has {len(array)} values, expected {length}")
    return array
