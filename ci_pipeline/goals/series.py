"""Series: one goal indicator for one region, oldest first, in one shape for statistics and surveys.

Statistics come from indicator_values (sex total, one age group, one table); where the registry asks for
pooling_years > 1 and the series is single years with numerators and denominators, periods are pooled
by summing them (ci_pipeline.stats.pool_years), and 95 % intervals are added where counts allow (Wilson
for shares, Garwood for counts and rates). Surveys come from survey_results (group `all`), as percent.
Each period carries its span and time in decimal years (ci_pipeline.periods), a survey wave its date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline import stats
from ci_pipeline.archive import worst_provenance
from ci_pipeline.goals.config import NORWAY, OSLO, OSLO_DISTRICTS, Goal, GoalIndicator, GoalsError
from ci_pipeline.periods import parse_period
from ci_pipeline.tidy import plain


@dataclass
class Series:
    """The observations of one indicator for one region, oldest first, with the columns
    period, time, start, end, value, numerator, denominator, status, ci_low, ci_high, provenance,
    question_set_version, weighted, n_years, method, is_estimate."""

    frame: pd.DataFrame
    table_id: str | None
    source: str | None

    def at(self, period: str) -> pd.Series | None:
        rows = self.frame[self.frame["period"] == period]
        return None if rows.empty else rows.iloc[0]

    @property
    def latest(self) -> pd.Series | None:
        return None if self.frame.empty else self.frame.iloc[-1]


SERIES_COLUMNS = [
    "period", "time", "start", "end", "value", "numerator", "denominator", "status", "ci_low", "ci_high",
    "provenance", "question_set_version", "weighted", "n_years", "method", "is_estimate",
]


def _empty_series(table_id: str | None = None, source: str | None = None) -> Series:
    return Series(pd.DataFrame(columns=SERIES_COLUMNS), table_id, source)


def _statistics_rows(indicator_values: pd.DataFrame, goal: Goal, item: GoalIndicator) -> pd.DataFrame:
    """The indicator's rows for sex total and one age group, from one table; errors say how to choose."""
    where = f"goal {goal.id!r}, indicator {item.indicator_id!r}"
    rows = plain(indicator_values[(indicator_values["indicator_id"] == item.indicator_id)
                                  & (indicator_values["sex"] == "total")])
    if item.source is not None:
        rows = rows[rows["source"] == item.source]
    if item.age_group is not None:
        rows = rows[rows["age_group"] == item.age_group]
    elif rows["age_group"].nunique() > 1:
        raise GoalsError(
            f"goals.yaml {where}: indicator_values has age groups {sorted(rows['age_group'].unique())}; "
            "set `age_group` to the one the goal follows"
        )
    tables = sorted(rows[["source", "table_id"]].drop_duplicates().itertuples(index=False, name=None))
    if len(tables) > 1:
        raise GoalsError(f"goals.yaml {where}: indicator_values has it from several tables {tables}; "
                         "set `source` to the one the goal follows")
    duplicated = rows.duplicated(["region_code", "period"], keep=False)
    if duplicated.any():
        sample = rows.loc[duplicated, ["region_code", "period"]].head(3).values.tolist()
        raise GoalsError(f"indicator_values {where}: more than one row per region and period, e.g. {sample}")
    return rows


def _statistics_series(rows: pd.DataFrame, region: str, registry_entry: Any) -> Series:
    region_rows = rows[rows["region_code"] == region]
    if region_rows.empty:
        return _empty_series()
    table_id, source = str(region_rows["table_id"].iloc[0]), str(region_rows["source"].iloc[0])
    frame = pd.DataFrame(
        {
            "period": region_rows["period"].astype(str).to_numpy(),
            "value": region_rows["value"].astype("float64").to_numpy(),
            "numerator": region_rows["numerator"].astype("float64").to_numpy(),
            "denominator": region_rows["denominator"].astype("float64").to_numpy(),
            "status": region_rows["status"].to_numpy(dtype=object),
            "provenance": region_rows["provenance"].astype(str).to_numpy(),
            "method": region_rows["method"].to_numpy(dtype=object) if "method" in region_rows else None,
            "is_estimate": (region_rows["is_estimate"].to_numpy(dtype=object) if "is_estimate" in region_rows
                            else None),
        }
    )
    frame["status"] = frame["status"].where(frame["status"].notna(), None)
    pooling = int(getattr(registry_entry, "pooling_years", 1) or 1)
    spans = [parse_period(p).span for p in frame["period"]]
    single_years = all(end - start == 1 for start, end in spans)
    with_values = frame["status"].isna()
    countable = (frame.loc[with_values, ["numerator", "denominator"]].notna().all(axis=None)
                 and with_values.any())
    if pooling > 1 and single_years and countable:
        frame = _pooled(frame, pooling, unit_scale(registry_entry.unit))
    else:
        frame["n_years"] = [round(float(end - start)) if end - start >= 1 else 0 for start, end in spans]
    frame["start"] = [parse_period(p).span[0] for p in frame["period"]]
    frame["end"] = [parse_period(p).span[1] for p in frame["period"]]
    frame["time"] = [parse_period(p).time for p in frame["period"]]
    frame["ci_low"], frame["ci_high"] = _intervals(frame, registry_entry)
    frame["question_set_version"] = None
    frame["weighted"] = False
    frame = frame.sort_values(["time", "start"], kind="stable").reset_index(drop=True)
    return Series(frame[SERIES_COLUMNS], table_id, source)


def _pooled(frame: pd.DataFrame, window: int, scale: float) -> pd.DataFrame:
    yearly = pd.DataFrame({
        "year": [int(p) for p in frame["period"]],
        "numerator": frame["numerator"], "denominator": frame["denominator"], "status": frame["status"],
    })
    pooled = stats.pool_years(yearly, window, scale)
    provenance = []
    for first, last in zip(pooled["first_year"], pooled["last_year"]):
        used = frame[[first <= int(p) <= last for p in frame["period"]]]
        provenance.append(worst_provenance(used["provenance"]))
    latest = frame.iloc[-1]
    return pd.DataFrame({
        "period": pooled["period"], "value": pooled["value"], "numerator": pooled["numerator"],
        "denominator": pooled["denominator"], "status": pooled["status"],
        "provenance": provenance, "method": latest["method"], "is_estimate": latest["is_estimate"],
        "n_years": pooled["n_years"],
    })


def unit_scale(unit: str) -> float:
    return {"percent": 100.0, "per_1000": 1000.0, "per_100000": 100000.0}.get(unit, 1.0)


def _intervals(frame: pd.DataFrame, registry_entry: Any) -> tuple[list, list]:
    """95 % intervals where counts allow: Wilson for shares, Garwood for counts and rates."""
    lows, highs = [], []
    scale = unit_scale(registry_entry.unit)
    for _, row in frame.iterrows():
        low = high = None
        counts = whole_counts(row["numerator"], row["denominator"])
        if row["status"] is None and counts is not None:
            x, n = counts
            if registry_entry.test == "binomial" and 0 < n and x <= n:
                low, high = (bound * scale for bound in stats.wilson_interval(x, n))
            elif registry_entry.test == "poisson" and n > 0:
                low, high = (bound / n * scale for bound in stats.garwood_interval(x))
        lows.append(low)
        highs.append(high)
    return lows, highs


def whole_counts(numerator: Any, denominator: Any) -> tuple[int, int] | None:
    if pd.isna(numerator) or pd.isna(denominator) or numerator < 0 or denominator < 0:
        return None
    return round(float(numerator)), round(float(denominator))


def _survey_series(survey_results: pd.DataFrame, indicator_id: str, region: str) -> Series:
    rows = survey_results[(survey_results["indicator_id"] == indicator_id)
                          & (survey_results["district_code"] == region)
                          & (survey_results["group_type"] == "total")]
    if rows.empty:
        return _empty_series(source="survey")
    if rows["wave"].duplicated().any():
        raise GoalsError(f"survey_results: more than one 'total' row for {indicator_id} in {region} in a wave")
    frame = pd.DataFrame({
        "period": rows["wave"].astype(str).to_numpy(),
        "time": [_date_time(value) for value in rows["wave_date"]],
        # survey_results holds proportions 0-1; goal_progress speaks percent like the statistics.
        "value": rows["share_positive"].astype("float64").to_numpy() * 100,
        # a weighted share is tested as if from its Kish effective sample (survey_results' effective_n)
        "denominator": rows["effective_n" if "effective_n" in rows.columns else "n"].astype("float64").to_numpy(),
        "status": rows["status"].to_numpy(dtype=object),
        "ci_low": rows["ci_low"].astype("float64").to_numpy() * 100,
        "ci_high": rows["ci_high"].astype("float64").to_numpy() * 100,
        "provenance": rows["provenance"].astype(str).to_numpy(),
        "question_set_version": rows["question_set_version"].to_numpy(dtype=object),
        "weighted": rows["weighted"].astype(bool).to_numpy(),
    })
    frame["status"] = frame["status"].where(frame["status"].notna() & frame["value"].isna(), None)
    # Counts behind the share: positives / n exactly when unweighted, share x effective n when weighted.
    frame["numerator"] = [
        round(share * n) if not pd.isna(share) and not pd.isna(n) else np.nan
        for share, n in zip(rows["share_positive"], frame["denominator"])
    ]
    frame["start"] = frame["time"]
    frame["end"] = frame["time"]
    frame["n_years"] = 0
    frame["method"] = "aggregated"
    frame["is_estimate"] = False
    frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    return Series(frame[SERIES_COLUMNS], "survey", "survey")


def _date_time(value: Any) -> float:
    day = pd.Timestamp(value).date()
    return day.year + (day - date(day.year, 1, 1)).days / 365.25


@dataclass(frozen=True)
class IndicatorMethod:
    """How an indicator is measured: its unit scale and test (registry, or survey share)."""

    unit: str
    kind: str
    test: str

    @property
    def scale(self) -> float:
        return unit_scale(self.unit)


def region_series(indicator_values: pd.DataFrame, survey_results: pd.DataFrame, goal: Goal,
                  item: GoalIndicator,
                  registry: Mapping[str, Any]) -> tuple[dict[str, Series], IndicatorMethod]:
    """The series of a goal's indicator for Norway (when it has figures), Oslo and each bydel."""
    if item.is_survey:
        series = {region: _survey_series(survey_results, item.indicator_id, region)
                  for region in (OSLO, *OSLO_DISTRICTS)}
        return series, IndicatorMethod("percent", "share", "binomial")
    if item.indicator_id not in registry:
        raise GoalsError(f"goals.yaml goal {goal.id!r}: indicator {item.indicator_id!r} is not in the registry")
    entry = registry[item.indicator_id]
    statistics = _statistics_rows(indicator_values, goal, item)
    series = {region: _statistics_series(statistics, region, entry) for region in (NORWAY, OSLO, *OSLO_DISTRICTS)}
    if series[NORWAY].frame.empty:
        del series[NORWAY]
    return series, IndicatorMethod(entry.unit, entry.kind, entry.test)
