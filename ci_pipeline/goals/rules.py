"""The tests goal_progress runs on a series: comparisons with Oslo and Norway, and the trend test.

Status and progress are not here: they are read by ci_pipeline.stats.progress.assess_progress (defined
once, polarity-aware) against each region's own target (goals/targets.py).

Comparisons use the test the indicator's registry entry names: binomial for shares, poisson for counts
and rates, none for no test. Against Norway the national figure for the same period is taken as fixed
(FHI's practice). A bydel against Oslo is compared with the rest of Oslo (Oslo minus the bydel) when
Oslo's numerator and denominator are known, else against Oslo's figure taken as fixed; the comparison
says which (reference_area) and the figure it tested against. Tests need whole counts, so numerators
and denominators that FHI publishes as yearly averages are rounded to whole numbers first (which
understates the counts of a pooled period and makes a test more cautious, never less). Survey shares
are tested only when unweighted (counts recovered as share x n). An estimate (an apportioned figure)
never enters a test. Whether a difference is called better or worse is decided later, by the
Benjamini-Hochberg q-value within its family (goals/progress.py).

Trend: over the periods of the series that do not overlap (moving multi-year periods share years, so
from the latest period backwards only periods disjoint from those already taken), within one question
set for surveys, by ci_pipeline.stats.trends:
  - survey waves: weighted least squares with the waves' known standard errors (from their intervals);
  - shares with numerator and denominator in every period: quasi-binomial (logit) regression;
  - counts and rates with numerator and denominator: quasi-Poisson regression with the denominator as
    exposure; counts given as values (kind count): quasi-Poisson on the values;
  - otherwise values alone: weighted least squares where intervals give standard errors, else ordinary
    least squares.
The quasi tests scale the standard error by the Pearson dispersion when above 1; no p-value comes from
fewer than 5 points (3 with known standard errors): the fit says `too_few_points`. Estimate rows are
left out of every test and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline import stats
from ci_pipeline.goals.config import GoalsError
from ci_pipeline.goals.series import IndicatorMethod, Series, whole_counts
from ci_pipeline.stats.trends import OLS, QUASI_BINOMIAL, QUASI_POISSON, TOO_FEW_POINTS, WLS_KNOWN_SE

COMPARISONS = ("better", "worse", "not_significant", "not_tested")
FIXED, CONTAINS_LOCAL, INDEPENDENT = "fixed", "contains_local", "independent"


@dataclass(frozen=True)
class Comparison:
    """One figure against a reference. p_value None: not tested (note says why). higher: the local figure
    lies above the figure it was tested against. reference_value: that figure, in the indicator's unit;
    reference_area: what it is (e.g. rest_of_oslo, oslo, norway; None for another district)."""

    test: str | None = None
    p_value: float | None = None
    higher: bool | None = None
    reference_value: float | None = None
    reference_area: str | None = None
    note: str = ""

    def outcome(self, q_value: float | None, polarity: str, alpha: float = stats.ALPHA) -> str:
        """better / worse when the q-value is below alpha, not_significant when tested, else not_tested."""
        if self.p_value is None:
            return "not_tested"
        if q_value is None or np.isnan(q_value) or q_value >= alpha or self.higher is None:
            return "not_significant"
        return "better" if self.higher == (polarity == "higher_is_better") else "worse"


def is_estimate(value) -> bool:
    """A row's is_estimate flag as a bool: missing counts as not an estimate (survey rows, gaps)."""
    return value is not None and not pd.isna(value) and bool(value)


def _estimate_row(row: Mapping[str, Any]) -> bool:
    return "is_estimate" in row and is_estimate(row["is_estimate"])


def compare_figures(local: Mapping[str, Any] | None, reference: Mapping[str, Any] | None,
                    method: IndicatorMethod, reference_kind: str, reference_name: str | None = None) -> Comparison:
    """A local figure against a reference: reference_kind FIXED (Norway: its figure is taken as known),
    CONTAINS_LOCAL (Oslo for a bydel: the rest of Oslo is the second sample when Oslo's counts are known,
    else Oslo's figure is taken as fixed) or INDEPENDENT (another bydel: a two-sample test, counts
    needed on both sides). reference_name names the reference area (oslo, norway)."""
    if method.test == "none":
        return Comparison(note="the registry names no test for this indicator")
    if method.test not in ("binomial", "poisson"):
        raise GoalsError(f"unknown test {method.test!r} in the registry")
    if local is None or pd.isna(local["value"]):
        return Comparison(note="no latest value")
    if reference is None or pd.isna(reference["value"]):
        return Comparison(note="no reference value for the same period")
    reference_value = float(reference["value"])
    if _estimate_row(local) or _estimate_row(reference):
        return Comparison(reference_value=reference_value, reference_area=reference_name,
                          note="an estimate (apportioned figure) never enters a test")
    local_counts = whole_counts(local["numerator"], local["denominator"])
    if local_counts is None:
        return Comparison(reference_value=reference_value, reference_area=reference_name,
                          note="no numerator and denominator to test")
    x, n = local_counts
    if n == 0 or (method.test == "binomial" and x > n):
        return Comparison(reference_value=reference_value, reference_area=reference_name,
                          note=f"counts {x} of {n} cannot be tested")
    second = whole_counts(reference["numerator"], reference["denominator"])
    if reference_kind == CONTAINS_LOCAL and second is not None:
        second = (second[0] - x, second[1] - n)
        if second[1] <= 0 or second[0] < 0 or (method.test == "binomial" and second[0] > second[1]):
            second = None  # the reference's counts do not contain the local ones: use its figure
    if reference_kind == INDEPENDENT and second is None:
        return Comparison(reference_value=reference_value, note="no numerator and denominator to test")
    area = reference_name
    if reference_kind != FIXED and second is not None:
        if method.test == "binomial":
            result = stats.compare_two_shares(x, n, *second)
        else:
            result = stats.compare_two_rates(x, n, *second)
        # the figure actually tested against: the second sample's own share or rate
        reference_value = second[0] / second[1] * method.scale
        if reference_kind == CONTAINS_LOCAL:
            area = f"rest_of_{reference_name}"
    elif method.test == "binomial":
        result = stats.binomial_test(x, n, min(1.0, max(0.0, reference_value / method.scale)))
    else:
        result = stats.poisson_test(x, n * reference_value / method.scale)
    if result.p_value is None:
        return Comparison(result.test, reference_value=reference_value, reference_area=area, note=result.note)
    local_value = x / n * method.scale
    higher = None if local_value == reference_value else local_value > reference_value
    return Comparison(result.test, result.p_value, higher, reference_value, area)


def _non_overlapping(spans: list[tuple[float, float]]) -> list[int]:
    """Positions of the periods kept for a trend test: from the latest backwards, disjoint periods."""
    kept: list[int] = []
    order = sorted(range(len(spans)), key=lambda i: spans[i][1], reverse=True)
    for position in order:
        start, end = spans[position]
        if all(end <= spans[other][0] or start >= spans[other][1] for other in kept):
            kept.append(position)
    return sorted(kept, key=lambda i: spans[i][1])


def _planned_test(method: IndicatorMethod, survey: bool) -> str:
    if survey:
        return WLS_KNOWN_SE
    return {"binomial": QUASI_BINOMIAL, "poisson": QUASI_POISSON}.get(method.test, OLS)


def series_trend(series: Series, method: IndicatorMethod) -> stats.TrendFit:
    """The trend test over the series' non-overlapping periods (within the latest question set), chosen
    by the rules in the module docstring."""
    survey = series.source == "survey"
    columns = series.columns
    keep = ~pd.isna(columns["value"])
    if not series.empty:
        latest_version = columns["question_set_version"][-1]
        if latest_version is not None and not pd.isna(latest_version):
            keep = keep & (columns["question_set_version"] == latest_version)
    kept = np.flatnonzero(keep)
    if not len(kept):
        return stats.TrendFit(_planned_test(method, survey), TOO_FEW_POINTS, 0, 0, note="no values")
    starts, ends = columns["start"][kept], columns["end"][kept]
    kept = kept[_non_overlapping(list(zip(starts, ends)))]

    def taken(column: str) -> np.ndarray:
        return np.asarray(columns[column][kept], dtype=float)

    times, values = taken("time"), taken("value")
    estimates = [is_estimate(flag) for flag in columns["is_estimate"][kept]]
    low, high = taken("ci_low"), taken("ci_high")
    errors = (high - low) / (2 * stats.Z_CONFIDENCE)
    known_errors = bool(np.isfinite(errors).all() and (errors > 0).all())
    if survey:
        if known_errors:
            return stats.least_squares_trend(times, values, errors, is_estimate=estimates)
        return stats.least_squares_trend(times, values, is_estimate=estimates)
    numerators, denominators = taken("numerator"), taken("denominator")
    counted = bool(np.isfinite(numerators).all() and np.isfinite(denominators).all() and (denominators > 0).all())
    if method.test == "binomial" and counted and (numerators <= denominators).all():
        return stats.quasi_binomial_trend(times, numerators, denominators, is_estimate=estimates)
    if method.test == "poisson" and counted:
        return stats.quasi_poisson_trend(times, numerators, denominators, is_estimate=estimates)
    if method.test == "poisson" and method.kind == "count" and (values >= 0).all():
        return stats.quasi_poisson_trend(times, values, is_estimate=estimates)
    if known_errors:
        return stats.least_squares_trend(times, values, errors, is_estimate=estimates)
    return stats.least_squares_trend(times, values, is_estimate=estimates)


def trend_direction(slope: float | None, polarity: str) -> str | None:
    """improving / worsening / no_change by the slope's sign and the polarity; None without a slope."""
    if slope is None:
        return None
    if abs(slope) < 1e-9:  # a slope this small is floating-point noise on a flat series
        return "no_change"
    return "improving" if (slope > 0) == (polarity == "higher_is_better") else "worsening"
