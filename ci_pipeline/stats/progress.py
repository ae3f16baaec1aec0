"""Progress towards a target, the status of a goal and the wording of its trend, defined once and aware of
polarity, so that the three can never contradict each other.

Polarity says which way is good: higher_is_better or higher_is_worse (Clear Impact's "polarity", FHI's
feilvei). "Meets the target" means at least as good as the target by polarity.

progress (percent) = the share of the baseline-to-target distance covered in the good direction:
    (latest - baseline) / (target - baseline) x 100,
defined only where the baseline does not already meet the target, so target - baseline always points the
good way: progress > 0 means better than the baseline, 100 means the target is reached, above 100 beyond
it, below 0 worse than the baseline. It is not capped, but progress_display is (to [-100, 100]) and
progress_flag says when it was (`above_100`, `below_minus_100`).

direction: the change from the baseline to the latest value by polarity (improved, worsened, unchanged);
where progress exists it is read off progress's sign, so the two always agree.

Status, in this order:
  1. insufficient_data when the caller says the figures cannot be compared (`unusable`, e.g. the
     survey's question set changed, or a target relative to a baseline that is missing cannot be set);
  2. no_target: no target is set for this row (the caller passes target None and no `unusable`);
  3. insufficient_data: the latest or the baseline value is missing, or nothing is newer than the
     baseline;
  4. the baseline already meets the target: progress is null, never a percentage, and the status says
     whether the latest value still does: target_met_at_baseline when it does, target_no_longer_met when
     it has slipped past the target since (a district that was to hold its level and did not must not
     read as a success);
  5. on_track: the latest value meets the target, or progress is positive and at least the progress the
     straight line from the baseline (at its time) to the target (at the target year) expects by the
     latest time (expected_progress, capped at 100);
  6. off_track: otherwise.
So on_track always has progress > 0, off_track has progress below expected_progress (<= 100), and only
target_met_at_baseline and target_no_longer_met have a target met at baseline.
A status is a reading of the figures, not a test: whether the change is real is the trend's to say.

Trend wording (field `trend`), from a trends.TrendFit, in this order:
  - illustrative: the inputs are illustrative (made up): never called significant, whatever the test says;
  - not_tested: no test ran (no TrendFit, too few points, estimates only, ...; trend_reason says which);
  - not_significant: p (or the Benjamini-Hochberg q-value when given) >= alpha, or a flat slope;
  - improving_significant: significant, the slope points the good way AND the latest value is better
    than the baseline (direction improved);
  - worsening_significant: significant, the slope points the bad way AND direction worsened;
  - unconfirmed: significant, but the change since the baseline does not agree with the slope (or there
    is no baseline to compare with): neither word is used.
So "improving (significant)" never sits beside a latest value worse than the baseline, or an on_track
beside "worsening (significant)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ci_pipeline.stats.common import ALPHA
from ci_pipeline.stats.pvalues import format_p_value
from ci_pipeline.stats.trends import TESTED, TrendFit

HIGHER_IS_BETTER, HIGHER_IS_WORSE = "higher_is_better", "higher_is_worse"
POLARITIES = (HIGHER_IS_BETTER, HIGHER_IS_WORSE)

ON_TRACK, OFF_TRACK = "on_track", "off_track"
TARGET_MET_AT_BASELINE, TARGET_NO_LONGER_MET = "target_met_at_baseline", "target_no_longer_met"
INSUFFICIENT_DATA, NO_TARGET = "insufficient_data", "no_target"
STATUSES = (ON_TRACK, OFF_TRACK, TARGET_MET_AT_BASELINE, TARGET_NO_LONGER_MET, INSUFFICIENT_DATA, NO_TARGET)

IMPROVED, WORSENED, UNCHANGED = "improved", "worsened", "unchanged"
DIRECTIONS = (IMPROVED, WORSENED, UNCHANGED)

IMPROVING_SIGNIFICANT, WORSENING_SIGNIFICANT = "improving_significant", "worsening_significant"
NOT_SIGNIFICANT, UNCONFIRMED, NOT_TESTED, ILLUSTRATIVE = "not_significant", "unconfirmed", "not_tested", "illustrative"
TREND_LABELS = (IMPROVING_SIGNIFICANT, WORSENING_SIGNIFICANT, NOT_SIGNIFICANT, UNCONFIRMED, NOT_TESTED, ILLUSTRATIVE)

PROGRESS_DISPLAY_LIMIT = 100.0
ABOVE_100, BELOW_MINUS_100 = "above_100", "below_minus_100"


@dataclass(frozen=True)
class ProgressReading:
    """The status, progress and trend wording of one goal row (rules in the module docstring)."""

    status: str
    reason: str
    progress: float | None = None
    progress_display: float | None = None
    progress_flag: str | None = None
    expected_progress: float | None = None
    direction: str | None = None
    meets_target: bool | None = None
    trend: str = NOT_TESTED
    trend_reason: str = "no trend test"


def _number(value: float | None, name: str) -> float | None:
    """None for a missing value (None or NaN); ValueError for an infinite one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise ValueError(f"{name} is infinite")
    return value


def _check_polarity(polarity: str) -> bool:
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {', '.join(POLARITIES)}, got {polarity!r}")
    return polarity == HIGHER_IS_BETTER


def meets(value: float, target: float, polarity: str) -> bool:
    """True when `value` is at least as good as `target` by polarity."""
    return value >= target if _check_polarity(polarity) else value <= target


def progress_pct(baseline: float, latest: float, target: float, polarity: str) -> float | None:
    """Percent of the baseline-to-target distance covered in the good direction; None when the baseline
    already meets the target (there is no distance to cover)."""
    if meets(baseline, target, polarity):
        return None
    return (latest - baseline) / (target - baseline) * 100


def _direction(baseline: float | None, latest: float | None, progress: float | None, polarity: str) -> str | None:
    if progress is not None:
        change = progress
    elif baseline is None or latest is None:
        return None
    else:
        change = (latest - baseline) if _check_polarity(polarity) else (baseline - latest)
    return IMPROVED if change > 0 else WORSENED if change < 0 else UNCHANGED


def _display(progress: float | None) -> tuple[float | None, str | None]:
    if progress is None:
        return None, None
    if progress > PROGRESS_DISPLAY_LIMIT:
        return PROGRESS_DISPLAY_LIMIT, ABOVE_100
    if progress < -PROGRESS_DISPLAY_LIMIT:
        return -PROGRESS_DISPLAY_LIMIT, BELOW_MINUS_100
    return progress, None


def _trend_wording(trend: TrendFit | None, q_value: float | None, direction: str | None, polarity: str,
                   illustrative: bool, alpha: float) -> tuple[str, str]:
    if illustrative:
        return ILLUSTRATIVE, "the inputs are illustrative: never called significant"
    if trend is None:
        return NOT_TESTED, "no trend test"
    if trend.status != TESTED or trend.p_value is None:
        return NOT_TESTED, f"{trend.status}: {trend.note}" if trend.note else trend.status
    name, p = ("q", q_value) if q_value is not None else ("p", trend.p_value)
    if math.isnan(p):
        return NOT_TESTED, f"{name} is missing"
    shown = f"{trend.test}: {name}{format_p_value(p, alpha=alpha)[1:]}"  # "q < 0.001", never "q = 0"
    if p >= alpha or not trend.slope:
        return NOT_SIGNIFICANT, shown
    good_slope = (trend.slope > 0) == _check_polarity(polarity)
    if good_slope and direction == IMPROVED:
        return IMPROVING_SIGNIFICANT, f"{shown}, better than the baseline"
    if not good_slope and direction == WORSENED:
        return WORSENING_SIGNIFICANT, f"{shown}, worse than the baseline"
    since = "no baseline to compare with" if direction is None else f"the latest value has {direction} since the baseline"
    way = "improving" if good_slope else "worsening"
    return UNCONFIRMED, f"{shown}, the slope is {way} but {since}"


def assess_progress(*, polarity: str, baseline: float | None, latest: float | None, target: float | None,
                    baseline_time: float | None, latest_time: float | None, target_time: float | None,
                    trend: TrendFit | None = None, trend_q_value: float | None = None,
                    illustrative: bool = False, unusable: str | None = None, alpha: float = ALPHA) -> ProgressReading:
    """Status, progress, direction and trend wording of one goal row, by the rules in the module docstring.

    Times are decimal years (a period as its last year, a survey wave as its date). target None means
    no target applies (status no_target); `unusable` is the caller's reason why baseline and latest cannot
    be compared against the target, or why the target cannot be set (status insufficient_data, also
    when target is None). trend_q_value, when given, decides significance instead of
    the trend's raw p-value (Benjamini-Hochberg within the indicator's family of tests)."""
    higher_is_better = _check_polarity(polarity)
    baseline, latest = _number(baseline, "baseline"), _number(latest, "latest")
    target = _number(target, "target")
    progress = None
    if target is not None and unusable is None and baseline is not None and latest is not None:
        progress = progress_pct(baseline, latest, target, polarity)
    direction = _direction(baseline, latest, progress, polarity)
    wording = _trend_wording(trend, trend_q_value, direction, polarity, illustrative, alpha)

    def reading(status: str, reason: str, **fields) -> ProgressReading:
        return ProgressReading(status, reason, direction=direction, trend=wording[0], trend_reason=wording[1],
                               **fields)

    if unusable is not None:
        return reading(INSUFFICIENT_DATA, unusable)
    if target is None:
        return reading(NO_TARGET, "no target is set for this row")
    if latest is None:
        return reading(INSUFFICIENT_DATA, "no latest value")
    if baseline is None:
        return reading(INSUFFICIENT_DATA, "no baseline value")
    if baseline_time is None or latest_time is None or not latest_time > baseline_time:
        return reading(INSUFFICIENT_DATA, "nothing newer than the baseline")
    meets_target = meets(latest, target, polarity)
    if progress is None:
        status, still = (TARGET_MET_AT_BASELINE, "still meets it") if meets_target else \
            (TARGET_NO_LONGER_MET, "no longer meets it")
        return reading(status, f"the baseline {baseline:.3g} already meets the target {target:.3g}; "
                       f"the latest {latest:.3g} {still}", meets_target=meets_target)
    if target_time is None or not target_time > baseline_time:
        raise ValueError(f"the target year {target_time} must come after the baseline time {baseline_time}")
    expected = min(1.0, (latest_time - baseline_time) / (target_time - baseline_time)) * 100
    shown, flag = _display(progress)
    fields = {"progress": progress, "progress_display": shown, "progress_flag": flag,
              "expected_progress": expected, "meets_target": meets_target}
    better = "higher" if higher_is_better else "lower"
    if meets_target:
        return reading(ON_TRACK, f"the latest {latest:.3g} meets the target {target:.3g} ({better} is better)", **fields)
    if progress > 0 and progress >= expected:
        return reading(ON_TRACK, f"{progress:.0f} % of the way to the target, at least the {expected:.0f} % "
                       "the straight line to the target year expects by now", **fields)
    return reading(OFF_TRACK, f"{progress:.0f} % of the way to the target, behind the {expected:.0f} % "
                   "the straight line to the target year expects by now", **fields)
