"""The goal_progress mart: per goal and region, baseline, latest, own target, progress, status, trend, comparisons.

goal_progress has one row per goal x indicator x region: Oslo (0301), each of the 15 bydeler
(030101-030115; Sentrum, Marka and unknown district are not goal districts) and Norway (0) where the
indicator has a Norway figure; gap goals add one `measure == "gap"` row for Oslo. Rows name their
indicator (indicator_name_en, indicator_name_nb) from the registry, or from the survey codebook, which
has English names only.

Where a target applies (Oslo for a city goal; Oslo and each bydel for an each_district goal; the gap row
for a gap goal; never Norway, and not where a supporting indicator sets none) the row carries the
region's own target (goals/targets.py: target_value, target_form, target_reference), and status,
progress and the trend's wording come from ci_pipeline.stats.progress.assess_progress with that target,
so the three never contradict. The figures cannot be compared (insufficient_data) when the latest
value is suppressed or missing (its symbol stays in latest_status), the baseline has no value, the
target cannot be set, nothing is newer than the baseline, or the survey's question set changed.

Tests (goals/rules.py): the trend test per kind of series, and comparisons with Oslo (the rest of Oslo)
and Norway, and of the best against the worst bydel on gap rows. p-values are stored through
stats.p_for_mart (never 0). Beside each p-value is its Benjamini-Hochberg q-value within the family
goal x indicator x scope x measure (one goal table: every region's trend, every bydel against Oslo,
every region against Norway), and `better`/`worse`/`trend_significant`/`gap_significant` mean q < alpha.
The mart keeps these calls for illustrative inputs too (with provenance); the wording a partner reads
(trend_label, status_reason) never calls a made-up figure significant.

Provenance: a row is illustrative when any input row it used is illustrative, else reconstructed when
any is, else recorded (ci_pipeline.archive.worst_provenance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline import stats
from ci_pipeline.archive import worst_provenance
from ci_pipeline.goals.config import NORWAY, OSLO, OSLO_DISTRICTS, Goal, GoalIndicator, GoalsError
from ci_pipeline.goals.gaps import district_gaps
from ci_pipeline.goals.rules import (
    CONTAINS_LOCAL,
    FIXED,
    INDEPENDENT,
    Comparison,
    compare_figures,
    is_estimate,
    series_trend,
    trend_direction,
)
from ci_pipeline.goals.series import (
    IndicatorMethod,
    Series,
    goal_statistics_rows,
    goal_survey_rows,
    region_series,
)
from ci_pipeline.goals.targets import ResolvedTarget, region_target
from ci_pipeline.schema import GOAL_PROGRESS, PROGRESS_COLUMNS

# The rows whose tests are adjusted together: one goal table (a gap row is its own family).
FAMILY = ["goal_id", "indicator_id", "scope", "measure"]
GAP_POLARITY = "higher_is_worse"
# The columns of a gap's series that district_gaps gives, and their types.
_GAP_COLUMNS = {"period": object, "time": float, "start": float, "end": float, "value": float, "status": object,
                "provenance": object, "is_estimate": bool}
_TESTS = {"trend": "trend_p_value", "oslo": "comparison_oslo_p_value", "norway": "comparison_norway_p_value",
          "gap": "gap_p_value"}


@dataclass
class _Draft:
    """A goal_progress row before its q-values and status: the row, and what assess_progress reads."""

    row: dict
    trend: stats.TrendFit
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    target: ResolvedTarget | None = None
    times: tuple[float | None, float | None] = (None, None)
    unusable: str | None = None
    no_target_reason: str = "no target is set for this row"
    polarity: str = "higher_is_better"


def _value(row: Mapping[str, Any] | pd.Series | None, column: str):
    if row is None or column not in row or pd.isna(row[column]):
        return None
    return row[column]


def build_goal_progress(
    indicator_values: pd.DataFrame,
    survey_results: pd.DataFrame,
    goals: list[Goal],
    registry: Mapping[str, Any],
    survey_names: Mapping[str, str],
) -> pd.DataFrame:
    """The goal_progress mart (see the module docstring for the rules).

    `survey_names` maps each survey indicator id to its name in the survey codebook (English only)."""
    names = _region_names(indicator_values)
    items = [item for goal in goals for item in goal.indicators]
    statistics_ids = {item.indicator_id for item in items if not item.is_survey}
    survey_ids = {item.indicator_id for item in items if item.is_survey}
    # Goals without statistics (or without surveys) may come with no such frame at all.
    if statistics_ids:
        indicator_values = goal_statistics_rows(indicator_values, statistics_ids)
    if survey_ids:
        survey_results = goal_survey_rows(survey_results, survey_ids)
    drafts: list[_Draft] = []
    tested: dict[tuple, _TestedSeries] = {}
    for goal in goals:
        for item in goal.indicators:
            indicator_names = _indicator_names(goal, item, registry, survey_names)
            # An indicator several goals follow (a gap goal's bydeler, say) is read and tested once.
            key = (item.indicator_id, item.source, item.age_group)
            if key not in tested:
                tested[key] = _tested_series(indicator_values, survey_results, goal, item, registry)
            for draft in _indicator_drafts(tested[key], goal, item, names):
                draft.row.update(indicator_names)
                drafts.append(draft)
    frame = pd.DataFrame([draft.row for draft in drafts], columns=[*FAMILY, *_TESTS.values()])
    # Lists, not rows of the frame: taking a row of this wide frame costs more than a whole column.
    q_values = {p_column.replace("p_value", "q_value"): stats.q_values_within(frame, p_column, FAMILY).tolist()
                for p_column in _TESTS.values()}
    for position, draft in enumerate(drafts):
        draft.row.update({column: _present(values[position]) for column, values in q_values.items()})
        draft.row.update(_calls(draft))
        draft.row.update(_reading(draft))
    frame = pd.DataFrame([draft.row for draft in drafts], columns=PROGRESS_COLUMNS)
    frame = _typed(frame)
    return frame.sort_values(["goal_id", "indicator_id", "scope", "measure", "region_code"],
                             kind="stable").reset_index(drop=True)


def _present(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract's types; a text column stays text even when every row is null."""
    types = {column: dtype for column, dtype in GOAL_PROGRESS.dtypes.items() if dtype != "object"}
    for column in ("headline", "target_applies", "trend_significant"):
        frame[column] = frame[column].fillna(False)
    return frame.astype(types)


def _indicator_names(goal: Goal, item: GoalIndicator, registry: Mapping[str, Any],
                     survey_names: Mapping[str, str]) -> dict[str, str | None]:
    """The indicator's English and Norwegian names (region_series has checked the registry has it); the
    survey codebook has no Norwegian names."""
    if item.is_survey:
        if item.indicator_id not in survey_names:
            raise GoalsError(f"goals.yaml goal {goal.id!r}: indicator {item.indicator_id!r} has no name in the "
                             "survey codebook")
        return {"indicator_name_en": survey_names[item.indicator_id], "indicator_name_nb": None}
    entry = registry[item.indicator_id]
    return {"indicator_name_en": entry.name_en, "indicator_name_nb": entry.name_nb}


def _region_names(indicator_values: pd.DataFrame) -> dict[str, str]:
    if "region_name" not in indicator_values.columns or indicator_values.empty:
        return {}
    named = indicator_values[["region_code", "region_name"]].dropna().drop_duplicates("region_code")
    return dict(zip(named["region_code"], named["region_name"]))


def _applies(item: GoalIndicator, region: str) -> bool:
    """Whether the goal's target is for this region (a city goal is Oslo's alone)."""
    return (item.scope == "city" and region == OSLO) or (item.scope == "each_district" and region != NORWAY)


def _no_target_reason(item: GoalIndicator, region: str) -> str:
    if item.target_form is None and not item.overrides:
        return "a supporting indicator without a target"
    if region == NORWAY:
        return "Norway is a reference, not a goal area"
    if item.scope == "gap":
        return "the target is for the gap between the districts (the gap row)"
    return "the target is for Oslo as a whole"


@dataclass
class _RegionTests:
    """What a region's row reads of its series whatever the goal: its trend, its comparisons with Oslo and
    Norway, and the provenance of the rows they used."""

    trend: stats.TrendFit
    comparisons: dict[str, Comparison]
    used_provenance: list


@dataclass
class _TestedSeries:
    series: dict[str, Series]
    method: IndicatorMethod
    tests: dict[str, _RegionTests]


def _tested_series(indicator_values, survey_results, goal, item, registry) -> _TestedSeries:
    series, method = region_series(indicator_values, survey_results, goal, item, registry)
    return _TestedSeries(series, method, {region: _region_tests(region, region_series_, series, method)
                                          for region, region_series_ in series.items()})


def _region_tests(region: str, series: Series, all_series: dict[str, Series],
                  method: IndicatorMethod) -> _RegionTests:
    latest = series.latest
    comparisons: dict[str, Comparison] = {}
    used_provenance = series.columns["provenance"].tolist()
    for name, reference_code, kind in (("oslo", OSLO, CONTAINS_LOCAL), ("norway", NORWAY, FIXED)):
        reference_series = all_series.get(reference_code)
        if region in (reference_code, NORWAY):
            comparison = Comparison()
        elif reference_series is None:
            comparison = Comparison(note=f"no {name} figures")
        else:
            reference = reference_series.at(latest["period"]) if latest is not None else None
            comparison = compare_figures(latest, reference, method, kind, name)
            if reference is not None and comparison.p_value is not None:
                used_provenance.append(reference["provenance"])
        comparisons[name] = comparison
    return _RegionTests(series_trend(series, method), comparisons, used_provenance)


def _indicator_drafts(tested: _TestedSeries, goal, item, names) -> list[_Draft]:
    series, method = tested.series, tested.method
    baselines = {region: _number(_value(s.at(item.baseline_period), "value")) for region, s in series.items()}
    drafts = []
    for region, region_series_ in series.items():
        level = "country" if region == NORWAY else "municipality" if region == OSLO else "district"
        target = region_target(item, region, baselines) if _applies(item, region) else None
        headline = item.headline and ((item.scope == "city" and region == OSLO)
                                      or (item.scope == "each_district" and level == "district"))
        drafts.append(_region_draft(goal, item, region, level, region_series_, tested.tests[region], method, names,
                                    headline, target))
    if item.scope == "gap":
        drafts.append(_gap_draft(goal, item, {d: series[d] for d in OSLO_DISTRICTS}, method, names))
    return drafts


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _common(goal: Goal, item: GoalIndicator, method: IndicatorMethod, series: Series,
            target: ResolvedTarget | None) -> dict:
    return {
        "goal_id": goal.id,
        "indicator_id": item.indicator_id,
        "data_source": "survey" if item.is_survey else "statistics",
        "source": series.source if series.source is not None else item.source,
        "table_id": series.table_id,
        "scope": item.scope,
        "unit": method.unit,
        "baseline_period": item.baseline_period,
        "target_applies": target is not None,
        "target_value": None if target is None else target.value,
        "target_year": item.target_year,
        "target_form": None if target is None else target.form,
        "target_reference": None if target is None else target.reference,
        "target_reference_value": None if target is None else target.reference_value,
        "target_note": None if target is None else target.note,
        "alpha": stats.ALPHA,
    }


def _trend_columns(trend: stats.TrendFit, polarity: str) -> dict:
    return {
        "trend_test": trend.test,
        "trend_status": trend.status,
        "trend_n_points": trend.n_points,
        "trend_n_estimates_excluded": trend.n_estimates_excluded,
        "trend_slope": trend.slope,
        "trend_slope_scale": trend.slope_scale,
        "trend_se": trend.se,
        "trend_df": trend.df,
        "trend_dispersion": trend.dispersion,
        "trend_p_value": stats.p_for_mart(trend.p_value),
        "trend_direction": trend_direction(trend.slope, polarity),
    }


def _unusable(item: GoalIndicator, series: Series, baseline: Mapping[str, Any] | None,
              latest: Mapping[str, Any] | None, target: ResolvedTarget) -> str | None:
    """Why baseline and latest cannot be compared against the target, or None."""
    if series.empty:
        return "no figures for this region"
    if pd.isna(latest["value"]):
        symbol = latest["status"] if latest["status"] is not None else "no value"
        return f"latest period {latest['period']} is suppressed or missing ({symbol})"
    if baseline is None or pd.isna(baseline["value"]):
        symbol = "" if baseline is None or baseline["status"] is None else f" ({baseline['status']})"
        return f"baseline period {item.baseline_period} has no value{symbol}"
    changed = latest["question_set_version"]
    if changed is not None and not pd.isna(changed) and changed != baseline["question_set_version"]:
        return "the question set changed since the baseline wave"
    if target.value is None:
        return target.note
    return None


def _region_draft(goal, item, region, level, series: Series, tests: _RegionTests, method: IndicatorMethod,
                  names, headline: bool, target: ResolvedTarget | None) -> _Draft:
    latest, baseline = series.latest, series.at(item.baseline_period)
    trend, comparisons, used_provenance = tests.trend, tests.comparisons, tests.used_provenance
    row = _common(goal, item, method, series, target)
    row.update({
        "region_code": region,
        "region_name": names.get(region, region),
        "region_level": level,
        "measure": "value",
        "headline": headline,
        "polarity": item.polarity,
        "baseline_value": _value(baseline, "value"),
        "baseline_status": _value(baseline, "status"),
        "latest_period": _value(latest, "period"),
        "latest_value": _value(latest, "value"),
        "latest_status": _value(latest, "status"),
        "latest_numerator": _value(latest, "numerator"),
        "latest_denominator": _value(latest, "denominator"),
        "latest_ci_low": _value(latest, "ci_low"),
        "latest_ci_high": _value(latest, "ci_high"),
        "n_years": int(latest["n_years"]) if latest is not None else 0,
        "question_set_version": _value(latest, "question_set_version"),
        **_trend_columns(trend, item.polarity),
        "method": _value(latest, "method"),
        "is_estimate": is_estimate(latest["is_estimate"]) if latest is not None else None,
        "provenance": worst_provenance(used_provenance) if used_provenance else None,
        "comparison_note": "; ".join(f"{name}: {c.note}" for name, c in comparisons.items() if c.note) or None,
    })
    for name, comparison in comparisons.items():
        tested = comparison.p_value is not None
        row.update({f"comparison_{name}_test": comparison.test,
                    f"comparison_{name}_p_value": stats.p_for_mart(comparison.p_value),
                    f"comparison_{name}_reference_value": comparison.reference_value if tested else None})
    row["comparison_oslo_reference_area"] = comparisons["oslo"].reference_area if comparisons["oslo"].p_value \
        is not None else None
    times = (_value(baseline, "time"), _value(latest, "time"))
    unusable = _unusable(item, series, baseline, latest, target) if target is not None else None
    return _Draft(row, trend, comparisons, target, times, unusable, _no_target_reason(item, region), item.polarity)


def _gap_draft(goal: Goal, item: GoalIndicator, districts: dict[str, Series], method: IndicatorMethod,
               names) -> _Draft:
    """The gap between the best and the worst bydel, per period, with its baseline, latest and trend."""
    by_period, gaps = district_gaps(districts, item.polarity)
    columns = {name: np.array([gap[name] for gap in gaps], dtype=dtype) for name, dtype in _GAP_COLUMNS.items()}
    columns.update({name: np.full(len(gaps), np.nan) for name in ("numerator", "denominator", "ci_low", "ci_high")})
    columns["question_set_version"] = np.full(len(gaps), None, dtype=object)
    gap_series = Series(columns, None, None)
    latest, baseline = gap_series.latest, gap_series.at(item.baseline_period)
    baseline_gap = None if baseline is None else float(baseline["value"])
    target = region_target(item, OSLO, {OSLO: baseline_gap}, GAP_POLARITY)
    trend = series_trend(gap_series, IndicatorMethod(method.unit, method.kind, "none"))
    row = _common(goal, item, method, next(iter(districts.values())), target)
    row.update({"region_code": OSLO, "region_name": names.get(OSLO, OSLO), "region_level": "municipality",
                "measure": "gap", "headline": item.headline, "polarity": GAP_POLARITY,
                "source": next((s.source for s in districts.values() if s.source), item.source),
                "table_id": next((s.table_id for s in districts.values() if s.table_id), None),
                "n_years": 0, "baseline_value": baseline_gap, **_trend_columns(trend, GAP_POLARITY),
                "comparison_oslo": "not_tested", "comparison_norway": "not_tested",
                "is_estimate": None if latest is None else bool(latest["is_estimate"]),
                "provenance": worst_provenance(columns["provenance"]) if gaps else None})
    draft = _Draft(row, trend, {}, target, (_value(baseline, "time"), _value(latest, "time")), None,
                   _no_target_reason(item, OSLO), GAP_POLARITY)
    all_periods = sorted(by_period, key=lambda p: max(r["time"] for _, r in by_period[p]))
    if all_periods and (latest is None or latest["period"] != all_periods[-1]):
        # The latest period exists, but fewer than two districts have values in it.
        row["latest_period"] = all_periods[-1]
        draft.unusable = f"fewer than two districts have values for {all_periods[-1]}"
        return draft
    if latest is None:
        draft.unusable = "no district figures"
        return draft
    latest_gap = gaps[-1]
    gap_test = compare_figures(latest_gap["best"][1], latest_gap["worst"][1], method, INDEPENDENT)
    draft.comparisons["gap"] = gap_test
    row.update({
        "latest_period": latest["period"],
        "latest_value": float(latest["value"]),
        "gap_best_region_code": latest_gap["best"][0],
        "gap_worst_region_code": latest_gap["worst"][0],
        "gap_n_districts": latest_gap["n"],
        "gap_test": gap_test.test,
        "gap_p_value": stats.p_for_mart(gap_test.p_value),
        "comparison_note": f"best vs worst district: {gap_test.note}" if gap_test.note else None,
    })
    if baseline is None:
        draft.unusable = f"baseline period {item.baseline_period} has no gap (fewer than two districts with values)"
    elif target is not None and target.value is None:
        draft.unusable = target.note
    return draft


def _calls(draft: _Draft) -> dict:
    """better / worse / significant by the q-values (filled in by build_goal_progress)."""
    row, alpha = draft.row, stats.ALPHA
    calls = {}
    for name in ("oslo", "norway"):
        if name in draft.comparisons:
            calls[f"comparison_{name}"] = draft.comparisons[name].outcome(row[f"comparison_{name}_q_value"],
                                                                          draft.polarity, alpha)
    q = row["trend_q_value"]
    calls["trend_significant"] = draft.trend.significant and q is not None and q < alpha
    if "gap" in draft.comparisons:
        gap_q = row["gap_q_value"]
        calls["gap_significant"] = gap_q is not None and gap_q < alpha
    elif row["measure"] == "gap":
        calls["gap_significant"] = False
    return calls


def _reading(draft: _Draft) -> dict:
    """Status, progress and the trend's wording by stats.assess_progress."""
    row, target = draft.row, draft.target
    reading = stats.assess_progress(
        polarity=draft.polarity, baseline=row["baseline_value"], latest=row["latest_value"],
        target=None if target is None else target.value, baseline_time=draft.times[0], latest_time=draft.times[1],
        target_time=float(row["target_year"]), trend=draft.trend, trend_q_value=row["trend_q_value"],
        illustrative=row["provenance"] == "illustrative", unusable=draft.unusable)
    if target is None:
        reading = replace(reading, reason=draft.no_target_reason)
    return {
        "progress_pct": reading.progress,
        "progress_display_pct": reading.progress_display,
        "progress_flag": reading.progress_flag,
        "expected_progress_pct": reading.expected_progress,
        "change_direction": reading.direction,
        "meets_target": reading.meets_target,
        "status": reading.status,
        "status_reason": reading.reason,
        "trend_label": reading.trend,
        "trend_reason": reading.trend_reason,
    }
