"""The goal_progress mart: per goal and region, baseline, latest, target, progress, status, trend, comparisons.

goal_progress has one row per goal x indicator x region: Oslo (0301), each of the 15 bydeler
(030101-030115; Sentrum, Marka and unknown district are not goal districts) and Norway (0) where the
indicator has a Norway figure; gap goals add one `measure == "gap"` row for Oslo. Each row holds the
baseline and latest value, the target, progress toward it, a status, a trend test over the series and
comparisons with Oslo and Norway (ci_pipeline.stats). Rows name their indicator (indicator_name_en,
indicator_name_nb) from the registry, or from the survey codebook, which has English names only.

Provenance: a row is illustrative when any input row it used is illustrative, else reconstructed when
any is, else recorded (ci_pipeline.archive.worst_provenance).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    compare_figures,
    goal_status,
    series_trend,
    trend_columns,
)
from ci_pipeline.goals.series import IndicatorMethod, Series, region_series
from ci_pipeline.schema import PROGRESS_COLUMNS

_FLOAT_COLUMNS = [
    "baseline_value", "latest_value", "latest_numerator", "latest_denominator", "latest_ci_low", "latest_ci_high",
    "target_value", "progress_pct", "trend_slope", "trend_p_value", "comparison_oslo_p_value",
    "comparison_oslo_reference", "comparison_norway_p_value", "comparison_norway_reference", "gap_p_value", "alpha",
]


def _value(row: pd.Series | None, column: str):
    if row is None or column not in row.index or pd.isna(row[column]):
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
    rows: list[dict] = []
    for goal in goals:
        for item in goal.indicators:
            item_rows = _indicator_rows(indicator_values, survey_results, goal, item, registry, names)
            indicator_names = _indicator_names(goal, item, registry, survey_names)
            rows.extend({**row, **indicator_names} for row in item_rows)
    frame = pd.DataFrame(rows, columns=PROGRESS_COLUMNS)
    frame[_FLOAT_COLUMNS] = frame[_FLOAT_COLUMNS].astype("float64")
    frame = frame.astype({"target_year": "int64", "trend_n_points": "int64", "headline": "bool",
                          "target_applies": "bool"})
    return frame.sort_values(["goal_id", "indicator_id", "scope", "measure", "region_code"],
                             kind="stable").reset_index(drop=True)


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


def _indicator_rows(indicator_values, survey_results, goal, item, registry, names) -> list[dict]:
    series, method = region_series(indicator_values, survey_results, goal, item, registry)
    rows = []
    for region, region_series_ in series.items():
        level = "country" if region == NORWAY else "municipality" if region == OSLO else "district"
        applies = item.scope in ("city", "each_district") and region != NORWAY
        headline = item.headline and ((item.scope == "city" and region == OSLO)
                                      or (item.scope == "each_district" and level == "district"))
        rows.append(_region_row(goal, item, region, level, region_series_, series, method,
                                names, headline, applies))
    if item.scope == "gap":
        rows.append(_gap_row(goal, item, {d: series[d] for d in OSLO_DISTRICTS}, method, names))
    return rows


def _common(goal: Goal, item: GoalIndicator, method: IndicatorMethod, series: Series) -> dict:
    return {
        "goal_id": goal.id,
        "indicator_id": item.indicator_id,
        "data_source": "survey" if item.is_survey else "statistics",
        "source": series.source if series.source is not None else item.source,
        "table_id": series.table_id,
        "scope": item.scope,
        "unit": method.unit,
        "baseline_period": item.baseline_period,
        "target_value": item.target_value,
        "target_year": item.target_year,
        "alpha": stats.ALPHA,
    }


def _region_row(goal, item, region, level, series: Series, all_series: dict[str, Series],
                method: IndicatorMethod, names, headline: bool, applies: bool) -> dict:
    latest, baseline = series.latest, series.at(item.baseline_period)
    version_changed = (
        latest is not None and baseline is not None and latest["question_set_version"] is not None
        and latest["question_set_version"] != baseline["question_set_version"]
    )
    if applies:
        status, reason, progress = goal_status(item, baseline, latest, item.polarity, version_changed)
    else:
        status, reason, progress = "no_target", "the target is not set for this region", None
    if series.frame.empty:
        reason = (f"{reason}: no figures for this region" if applies else reason)
    trend = series_trend(series, method)
    comparisons, notes = {}, []
    used_provenance = list(series.frame["provenance"])
    for name, reference_code, kind in (("oslo", OSLO, CONTAINS_LOCAL), ("norway", NORWAY, FIXED)):
        reference_series = all_series.get(reference_code)
        if region == reference_code or region == NORWAY:
            outcome = ("not_tested", None, None, None, "")
        elif reference_series is None:
            outcome = ("not_tested", None, None, None, f"no {name} figures")
        else:
            reference = reference_series.at(latest["period"]) if latest is not None else None
            outcome = compare_figures(latest, reference, method, item.polarity, kind)
            if reference is not None and outcome[3] is not None:
                used_provenance.append(reference["provenance"])
        comparisons[name] = outcome
        if outcome[4]:
            notes.append(f"{name}: {outcome[4]}")
    row = _common(goal, item, method, series)
    row.update({
        "region_code": region,
        "region_name": names.get(region, region),
        "region_level": level,
        "measure": "value",
        "headline": headline,
        "target_applies": applies,
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
        "progress_pct": progress,
        "status": status,
        "status_reason": reason,
        **trend_columns(trend, item.polarity),
        "method": _value(latest, "method"),
        "is_estimate": bool(latest["is_estimate"]) if latest is not None and not pd.isna(latest["is_estimate"])
        else None,
        "provenance": worst_provenance(used_provenance) if used_provenance else None,
        "comparison_note": "; ".join(notes) or None,
    })
    for name, (outcome, test, p_value, reference_value, _) in comparisons.items():
        row.update({f"comparison_{name}": outcome, f"comparison_{name}_test": test,
                    f"comparison_{name}_p_value": p_value, f"comparison_{name}_reference": reference_value})
    return row


def _gap_row(goal: Goal, item: GoalIndicator, districts: dict[str, Series], method: IndicatorMethod,
             names) -> dict:
    """The gap between the best and the worst bydel, per period, with its baseline, latest and trend."""
    by_period, gaps = district_gaps(districts, item.polarity)
    frame = pd.DataFrame(gaps, columns=["period", "time", "start", "end", "value", "status", "provenance"])
    latest = frame.iloc[-1] if not frame.empty else None
    at_baseline = frame[frame["period"] == item.baseline_period]
    baseline = at_baseline.iloc[0] if not at_baseline.empty else None
    all_periods = sorted(by_period, key=lambda p: max(r["time"] for _, r in by_period[p]))
    row = _common(goal, item, method, next(iter(districts.values())))
    row.update({"region_code": OSLO, "region_name": names.get(OSLO, OSLO), "region_level": "municipality",
                "measure": "gap", "headline": item.headline, "target_applies": True, "polarity": "higher_is_worse",
                "source": next((s.source for s in districts.values() if s.source), item.source),
                "table_id": next((s.table_id for s in districts.values() if s.table_id), None),
                "n_years": 0, "trend_n_points": 0, "trend_significant": False,
                "comparison_oslo": "not_tested", "comparison_norway": "not_tested", "gap_significant": False,
                "provenance": worst_provenance(frame["provenance"]) if not frame.empty else None})
    if all_periods and (latest is None or latest["period"] != all_periods[-1]):
        # The latest period exists, but fewer than two districts have values in it.
        row.update({"latest_period": all_periods[-1], "status": "insufficient_data",
                    "status_reason": f"fewer than two districts have values for {all_periods[-1]}"})
        return row
    if latest is None:
        row.update({"status": "insufficient_data", "status_reason": "no district figures"})
        return row
    status, reason, progress = goal_status(item, baseline, latest, "higher_is_worse", False)
    latest_gap = gaps[-1]
    n_districts = latest_gap["n"]
    if n_districts < len(districts):
        reason = f"{reason} (gap over {n_districts} of {len(districts)} districts with values)"
    trend = series_trend(Series(frame.assign(numerator=np.nan, denominator=np.nan, ci_low=np.nan, ci_high=np.nan,
                                             question_set_version=None), None, None),
                         IndicatorMethod(method.unit, method.kind, "none"))
    gap_test = compare_figures(latest_gap["best"][1], latest_gap["worst"][1], method, item.polarity,
                               INDEPENDENT)
    row.update({
        "baseline_value": None if baseline is None else float(baseline["value"]),
        "latest_period": latest["period"],
        "latest_value": float(latest["value"]),
        "progress_pct": progress,
        "status": status,
        "status_reason": reason,
        **trend_columns(trend, "higher_is_worse"),
        "gap_best_region_code": latest_gap["best"][0],
        "gap_worst_region_code": latest_gap["worst"][0],
        "gap_n_districts": n_districts,
        "gap_test": gap_test[1],
        "gap_p_value": gap_test[2],
        "gap_significant": gap_test[0] in ("better", "worse"),
        "comparison_note": f"best vs worst district: {gap_test[4]}" if gap_test[4] else None,
    })
    return row
