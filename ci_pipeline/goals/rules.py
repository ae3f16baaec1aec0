"""The rules goal_progress applies to a series: status, comparisons with Oslo and Norway, and trend.

Status rule (rows where the target applies: Oslo and the bydeler for scopes city and each_district,
the gap row for scope gap; every other row is `no_target`):
  1. insufficient_data when the latest value is missing or suppressed (its status symbol is kept in
     latest_status), when the baseline period has no value, when nothing newer than the baseline
     exists, or (surveys) when the question set changed since the baseline wave;
  2. on_track when the latest value meets the target, or is at least as good (by polarity) as the
     straight line from the baseline value in the baseline year to the target value in the target
     year, read off at the latest period's year (a multi-year period such as 2018-2020 counts as its
     last year, a survey wave as its date);
  3. off_track otherwise.
progress_pct = (latest - baseline) / (target - baseline) x 100 (null when target equals baseline).
A status is a reading of the figures, not a test: whether the change is real is told by the trend
columns, and differences from Oslo or Norway by the comparison columns.

Comparisons (comparison_oslo / comparison_norway in better, worse, not_significant, not_tested) use the
test the indicator's registry entry names: binomial for shares, poisson for counts and rates, none
for no test. Against Norway the national figure for the same period is taken as fixed (FHI's
practice). A bydel against Oslo is compared with the rest of Oslo (Oslo minus the bydel) when Oslo's
numerator and denominator are known, else against Oslo's figure taken as fixed. A comparison is better
or worse only when p < ALPHA; tests need whole counts, so numerators and denominators that FHI
publishes as yearly averages are rounded to whole numbers first (which understates the counts of a
pooled period and makes a test more cautious, never less). Survey shares are tested only when
unweighted (counts recovered as share x n).

Trend: over the periods of the series that do not overlap (moving multi-year periods share years, so
from the latest period backwards only periods disjoint from those already taken), within one question
set for surveys: a Cochran-Armitage test with numerators and denominators of shares, a Poisson score
test for counts and rates, else a least-squares slope (weighted by 1/se^2 where confidence intervals
give the standard error). trend_direction says improving / worsening / no_change by polarity;
trend_significant only when p < ALPHA.
"""

from __future__ import annotations

import pandas as pd

from ci_pipeline import stats
from ci_pipeline.goals.config import GoalIndicator, GoalsError
from ci_pipeline.goals.series import IndicatorMethod, Series, whole_counts

STATUSES = ("on_track", "off_track", "insufficient_data", "no_target")
COMPARISONS = ("better", "worse", "not_significant", "not_tested")
FIXED, CONTAINS_LOCAL, INDEPENDENT = "fixed", "contains_local", "independent"


def compare_figures(local: pd.Series | None, reference: pd.Series | None, method: IndicatorMethod,
                    polarity: str, reference_kind: str) -> tuple[str, str | None, float | None, float | None, str]:
    """(comparison, test, p_value, reference value, note) for a local value against a reference.

    reference_kind: FIXED (Norway: its figure is taken as known), CONTAINS_LOCAL (Oslo for a bydel:
    the rest of Oslo is the second sample when Oslo's counts are known, else Oslo's figure is taken
    as fixed) or INDEPENDENT (another bydel: a two-sample test, counts needed on both sides).
    """
    if method.test == "none":
        return "not_tested", None, None, None, "the registry names no test for this indicator"
    if method.test not in ("binomial", "poisson"):
        raise GoalsError(f"unknown test {method.test!r} in the registry")
    if local is None or pd.isna(local["value"]):
        return "not_tested", None, None, None, "no latest value"
    if reference is None or pd.isna(reference["value"]):
        return "not_tested", None, None, None, "no reference value for the same period"
    reference_value = float(reference["value"])
    local_counts = whole_counts(local["numerator"], local["denominator"])
    if local_counts is None:
        return "not_tested", None, None, reference_value, "no numerator and denominator to test"
    x, n = local_counts
    if n == 0 or (method.test == "binomial" and x > n):
        return "not_tested", None, None, reference_value, f"counts {x} of {n} cannot be tested"
    second = whole_counts(reference["numerator"], reference["denominator"])
    if reference_kind == CONTAINS_LOCAL and second is not None:
        second = (second[0] - x, second[1] - n)
        if second[1] <= 0 or second[0] < 0 or (method.test == "binomial" and second[0] > second[1]):
            second = None  # the reference's counts do not contain the local ones: use its figure
    if reference_kind == INDEPENDENT and second is None:
        return "not_tested", None, None, reference_value, "no numerator and denominator to test"
    if reference_kind != FIXED and second is not None:
        if method.test == "binomial":
            result = stats.compare_two_shares(x, n, *second)
        else:
            result = stats.compare_two_rates(x, n, *second)
    elif method.test == "binomial":
        result = stats.binomial_test(x, n, min(1.0, max(0.0, reference_value / method.scale)))
    else:
        result = stats.poisson_test(x, n * reference_value / method.scale)
    if result.p_value is None:
        return "not_tested", result.test, None, reference_value, result.note
    if not result.significant:
        return "not_significant", result.test, result.p_value, reference_value, ""
    local_higher = float(local["value"]) > reference_value
    better = local_higher == (polarity == "higher_is_better")
    return ("better" if better else "worse"), result.test, result.p_value, reference_value, ""


def _non_overlapping(spans: list[tuple[float, float]]) -> list[int]:
    """Positions of the periods kept for a trend test: from the latest backwards, disjoint periods."""
    kept: list[int] = []
    order = sorted(range(len(spans)), key=lambda i: spans[i][1], reverse=True)
    for position in order:
        start, end = spans[position]
        if all(end <= spans[other][0] or start >= spans[other][1] for other in kept):
            kept.append(position)
    return sorted(kept, key=lambda i: spans[i][1])


def series_trend(series: Series, method: IndicatorMethod) -> stats.TrendResult:
    """Trend test over the series' non-overlapping periods (within the latest question set)."""
    frame = series.frame
    if frame.empty:
        return stats.TrendResult("not_tested", None, None, 0, "no data")
    latest_version = frame["question_set_version"].iloc[-1]
    if latest_version is not None and not pd.isna(latest_version):
        frame = frame[frame["question_set_version"] == latest_version]
    frame = frame[frame["value"].notna()]
    if frame.empty:
        return stats.TrendResult("not_tested", None, None, 0, "no values")
    frame = frame.iloc[_non_overlapping(list(zip(frame["start"], frame["end"])))]
    counts = [whole_counts(x, n) for x, n in zip(frame["numerator"], frame["denominator"])]
    if method.test == "binomial" and all(c is not None and c[0] <= c[1] for c in counts):
        result = stats.trend_test_shares(frame["time"], [c[0] for c in counts], [c[1] for c in counts])
        return _rescaled(result, method.scale)
    if method.test == "poisson" and all(c is not None and c[1] > 0 for c in counts):
        result = stats.trend_test_counts(frame["time"], [c[0] for c in counts], [c[1] for c in counts])
        return _rescaled(result, method.scale)
    errors = (frame["ci_high"] - frame["ci_low"]) / (2 * stats.Z_CONFIDENCE)
    if errors.notna().all() and (errors > 0).all():
        return stats.trend_test_values(frame["time"], frame["value"], errors)
    return stats.trend_test_values(frame["time"], frame["value"])


def _rescaled(result: stats.TrendResult, scale: float) -> stats.TrendResult:
    """Count-based tests report slopes of proportions or rates; the mart shows the indicator's unit."""
    slope = None if result.slope is None else result.slope * scale
    return stats.TrendResult(result.test, slope, result.p_value, result.n_points, result.note)


def trend_columns(trend: stats.TrendResult, polarity: str) -> dict:
    return {
        "trend_test": trend.test,
        "trend_n_points": trend.n_points,
        "trend_slope": trend.slope,
        "trend_p_value": trend.p_value,
        "trend_significant": trend.significant,
        "trend_direction": _direction(trend.slope, polarity),
    }


def _direction(slope: float | None, polarity: str) -> str | None:
    if slope is None:
        return None
    if abs(slope) < 1e-9:  # a slope this small is floating-point noise on a flat series
        return "no_change"
    return "improving" if (slope > 0) == (polarity == "higher_is_better") else "worsening"


def goal_status(item: GoalIndicator, baseline: pd.Series | None, latest: pd.Series | None, polarity: str,
                question_set_changed: bool) -> tuple[str, str, float | None]:
    """(status, reason, progress_pct) by the rule in the module docstring."""
    if latest is None:
        return "insufficient_data", "no data", None
    if pd.isna(latest["value"]):
        symbol = latest["status"] if latest["status"] is not None else "no value"
        return "insufficient_data", f"latest period {latest['period']} is suppressed or missing ({symbol})", None
    if baseline is None or pd.isna(baseline["value"]):
        symbol = "" if baseline is None or baseline["status"] is None else f" ({baseline['status']})"
        return "insufficient_data", f"baseline period {item.baseline_period} has no value{symbol}", None
    if question_set_changed:
        return "insufficient_data", "the question set changed since the baseline wave", None
    if latest["time"] <= baseline["time"]:
        return "insufficient_data", f"nothing newer than the baseline period {item.baseline_period}", None
    start, current, target = float(baseline["value"]), float(latest["value"]), item.target_value
    progress = None if target == start else (current - start) / (target - start) * 100
    higher_is_better = polarity == "higher_is_better"

    def at_least(value: float, bar: float) -> bool:
        return value >= bar if higher_is_better else value <= bar

    if at_least(current, target):
        return "on_track", f"latest {current:.1f} meets the target {target:.1f}", progress
    # Straight line from the baseline value (baseline year) to the target (target year).
    share_of_time = (latest["time"] - baseline["time"]) / (item.target_year - baseline["time"])
    trajectory = start + (target - start) * min(1.0, share_of_time)
    if at_least(current, trajectory):
        return "on_track", (f"latest {current:.1f} is at least as good as the trajectory value "
                            f"{trajectory:.1f} for {latest['period']}"), progress
    return "off_track", (f"latest {current:.1f} is behind the trajectory value {trajectory:.1f} "
                         f"for {latest['period']}"), progress
