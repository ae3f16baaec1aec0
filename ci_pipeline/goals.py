"""The initiative's goals (assets/goals.yaml) and the goal_progress mart.

goal_progress has one row per goal x indicator x region: Oslo (0301), each of the 15 bydeler
(030101-030115; Sentrum, Marka and unknown district are not goal districts) and Norway (0) where the
indicator has a Norway figure; gap goals add one `measure == "gap"` row for Oslo. Each row holds the
baseline and latest value, the target, progress toward it, a status, a trend test over the series and
comparisons with Oslo and Norway (ci_pipeline.stats). Rows name their indicator (indicator_name_en,
indicator_name_nb) from the registry, or from the survey codebook, which has English names only.

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

Pooling: where the registry asks for pooling_years > 1 and the series is single years with numerators
and denominators, periods are pooled by summing them (ci_pipeline.stats.pool_years).

Provenance: a row is illustrative when any input row it used is illustrative, else reconstructed when
any is, else recorded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ci_pipeline import stats

OSLO = "0301"
NORWAY = "0"
# FHI's geography triangle for Oslo: the 15 bydeler of the 2004 division. Sentrum (030116), Marka
# (030117) and unknown district (030199) have no population of their own worth a goal.
OSLO_DISTRICTS = tuple(f"0301{number:02d}" for number in range(1, 16))

SCOPES = ("city", "each_district", "gap")
POLARITIES = ("higher_is_better", "higher_is_worse")
STATUSES = ("on_track", "off_track", "insufficient_data", "no_target")
COMPARISONS = ("better", "worse", "not_significant", "not_tested")
PROVENANCE_ORDER = ("recorded", "reconstructed", "illustrative")
SURVEY_PREFIX = "survey_"

_GOAL_KEYS = {"id", "name_nb", "name_en", "description", "indicators"}
_INDICATOR_KEYS = {
    "indicator_id", "source", "age_group", "baseline_period", "target_value", "target_year", "polarity", "scope",
}
_REQUIRED_INDICATOR_KEYS = {"indicator_id", "baseline_period", "target_value", "target_year", "polarity", "scope"}


class GoalsError(ValueError):
    """goals.yaml or the data given for the goals is not usable; the message says where and why."""


@dataclass(frozen=True)
class GoalIndicator:
    indicator_id: str
    baseline_period: str
    target_value: float
    target_year: int
    polarity: str
    scope: str
    source: str | None = None
    age_group: str | None = None

    @property
    def is_survey(self) -> bool:
        return self.indicator_id.startswith(SURVEY_PREFIX)


@dataclass(frozen=True)
class Goal:
    id: str
    name_nb: str
    name_en: str
    description: str
    indicators: tuple[GoalIndicator, ...]


# ---------------------------------------------------------------------------------------------
# Loading goals.yaml


def load_goals(path: Path) -> list[Goal]:
    """Read and validate goals.yaml; errors name the file, the goal and the key."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoalsError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise GoalsError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("goals"), list) or not document["goals"]:
        raise GoalsError(f"{path}: expected a top-level key `goals` with a non-empty list of goals")
    goals = []
    seen = set()
    for position, spec in enumerate(document["goals"], start=1):
        where = f"{path}: goal #{position}"
        if not isinstance(spec, dict):
            raise GoalsError(f"{where}: expected a mapping, got {type(spec).__name__}")
        if "id" in spec:
            where = f"{path}: goal {spec['id']!r}"
        _check_keys(spec, _GOAL_KEYS, _GOAL_KEYS - {"description"}, where)
        goal_id = str(spec["id"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", goal_id):
            raise GoalsError(f"{where}: id must be snake_case")
        if goal_id in seen:
            raise GoalsError(f"{where}: id is used by more than one goal")
        seen.add(goal_id)
        if not isinstance(spec["indicators"], list) or not spec["indicators"]:
            raise GoalsError(f"{where}: `indicators` must be a non-empty list")
        indicators = tuple(
            _goal_indicator(item, f"{where}, indicator #{number}")
            for number, item in enumerate(spec["indicators"], start=1)
        )
        keys = [(item.indicator_id, item.scope) for item in indicators]
        if len(set(keys)) != len(keys):
            raise GoalsError(f"{where}: an indicator is listed twice with the same scope")
        goals.append(Goal(goal_id, str(spec["name_nb"]), str(spec["name_en"]),
                          " ".join(str(spec.get("description", "")).split()), indicators))
    return goals


def _check_keys(spec: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise GoalsError(f"{where}: unknown key(s) {unknown}; allowed are {sorted(allowed)}")
    missing = sorted(required - set(spec))
    if missing:
        raise GoalsError(f"{where}: missing key(s) {missing}")


def _goal_indicator(spec: Any, where: str) -> GoalIndicator:
    if not isinstance(spec, dict):
        raise GoalsError(f"{where}: expected a mapping, got {type(spec).__name__}")
    if "indicator_id" in spec:
        where = f"{where.rsplit(', indicator', 1)[0]}, indicator {spec['indicator_id']!r}"
    _check_keys(spec, _INDICATOR_KEYS, _REQUIRED_INDICATOR_KEYS, where)
    if spec["scope"] not in SCOPES:
        raise GoalsError(f"{where}: scope must be one of {', '.join(SCOPES)}, got {spec['scope']!r}")
    if spec["polarity"] not in POLARITIES:
        raise GoalsError(f"{where}: polarity must be one of {', '.join(POLARITIES)}, got {spec['polarity']!r}")
    target = spec["target_value"]
    if isinstance(target, bool) or not isinstance(target, (int, float)) or math.isnan(target):
        raise GoalsError(f"{where}: target_value must be a number, got {target!r}")
    year = spec["target_year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 < year < 2200:
        raise GoalsError(f"{where}: target_year must be a year such as 2030, got {year!r}")
    indicator_id = str(spec["indicator_id"])
    if spec.get("source") is not None and indicator_id.startswith(SURVEY_PREFIX):
        raise GoalsError(f"{where}: `source` is for public statistics; survey indicators have one source")
    baseline = str(spec["baseline_period"])
    if not indicator_id.startswith(SURVEY_PREFIX):
        try:
            period_time(baseline)
        except ValueError as error:
            raise GoalsError(f"{where}: baseline_period: {error}") from None
        if period_time(baseline) >= year:
            raise GoalsError(f"{where}: baseline_period {baseline} does not end before target_year {year}")
    return GoalIndicator(
        indicator_id=indicator_id,
        baseline_period=baseline,
        target_value=float(target),
        target_year=year,
        polarity=spec["polarity"],
        scope=spec["scope"],
        source=spec.get("source"),
        age_group=None if spec.get("age_group") is None else str(spec["age_group"]),
    )


def check_goals_against(goals: list[Goal], registry: Mapping[str, Any], survey_polarities: Mapping[str, str],
                        path: Path | str = "goals.yaml") -> None:
    """Every indicator must exist in the registry (or the survey codebook) with the same polarity."""
    for goal in goals:
        for item in goal.indicators:
            where = f"{path}: goal {goal.id!r}, indicator {item.indicator_id!r}"
            if item.is_survey:
                if item.indicator_id not in survey_polarities:
                    raise GoalsError(f"{where}: not an indicator of the survey codebook")
                known = survey_polarities[item.indicator_id]
            else:
                if item.indicator_id not in registry:
                    raise GoalsError(f"{where}: not in the indicator registry (assets/indicators/)")
                known = registry[item.indicator_id].polarity
            if known != item.polarity:
                raise GoalsError(f"{where}: polarity {item.polarity} disagrees with the registry/codebook ({known})")


def survey_polarity(codebook_polarity: str) -> str:
    """The survey codebook says lower_is_better where the registry says higher_is_worse."""
    return {"lower_is_better": "higher_is_worse"}.get(codebook_polarity, codebook_polarity)


GOALS_COLUMNS = [
    "goal_id", "goal_name_nb", "goal_name_en", "goal_description", "indicator_id", "data_source", "source",
    "age_group", "scope", "polarity", "baseline_period", "target_value", "target_year",
]


def goals_frame(goals: list[Goal]) -> pd.DataFrame:
    """The `goals` mart: one row per goal x indicator entry."""
    rows = [
        {
            "goal_id": goal.id,
            "goal_name_nb": goal.name_nb,
            "goal_name_en": goal.name_en,
            "goal_description": goal.description,
            "indicator_id": item.indicator_id,
            "data_source": "survey" if item.is_survey else "statistics",
            "source": "survey" if item.is_survey else item.source,
            "age_group": item.age_group,
            "scope": item.scope,
            "polarity": item.polarity,
            "baseline_period": item.baseline_period,
            "target_value": item.target_value,
            "target_year": item.target_year,
        }
        for goal in goals
        for item in goal.indicators
    ]
    return pd.DataFrame(rows, columns=GOALS_COLUMNS).astype({"target_value": "float64", "target_year": "int64"})


# ---------------------------------------------------------------------------------------------
# Periods


def period_span(period: str) -> tuple[float, float]:
    """(start, end) of a period in decimal years: "2021" -> (2021, 2022), "2018-2020" -> (2018, 2021)."""
    text = str(period)
    if match := re.fullmatch(r"(\d{4})", text):
        year = int(match[1])
        return year, year + 1
    if match := re.fullmatch(r"(\d{4})-(\d{4})", text):
        first, last = int(match[1]), int(match[2])
        if last < first:
            raise ValueError(f"period {text!r} ends before it starts")
        return first, last + 1
    if match := re.fullmatch(r"(\d{4})K([1-4])", text):
        start = int(match[1]) + (int(match[2]) - 1) / 4
        return start, start + 0.25
    if match := re.fullmatch(r"(\d{4})M(0[1-9]|1[0-2])", text):
        start = int(match[1]) + (int(match[2]) - 1) / 12
        return start, start + 1 / 12
    raise ValueError(f"period {text!r} is not a year, YYYY-YYYY, YYYYKn or YYYYMmm")


def period_time(period: str) -> float:
    """The year a period is reported as: its last year ("2018-2020" -> 2020), or the year and fraction."""
    start, end = period_span(period)
    return float(end - 1) if end - start >= 1 else start


def _date_time(value: Any) -> float:
    day = pd.Timestamp(value).date()
    return day.year + (day - date(day.year, 1, 1)).days / 365.25


def _non_overlapping(spans: list[tuple[float, float]]) -> list[int]:
    """Positions of the periods kept for a trend test: from the latest backwards, disjoint periods."""
    kept: list[int] = []
    order = sorted(range(len(spans)), key=lambda i: spans[i][1], reverse=True)
    for position in order:
        start, end = spans[position]
        if all(end <= spans[other][0] or start >= spans[other][1] for other in kept):
            kept.append(position)
    return sorted(kept, key=lambda i: spans[i][1])


# ---------------------------------------------------------------------------------------------
# Series: one indicator for one region, in a common shape


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
    rows = indicator_values[(indicator_values["indicator_id"] == item.indicator_id)
                            & (indicator_values["sex"] == "total")]
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
    spans = [period_span(p) for p in frame["period"]]
    single_years = all(end - start == 1 for start, end in spans)
    with_values = frame["status"].isna()
    countable = (frame.loc[with_values, ["numerator", "denominator"]].notna().all(axis=None)
                 and with_values.any())
    if pooling > 1 and single_years and countable:
        frame = _pooled(frame, pooling, _scale(registry_entry.unit))
    else:
        frame["n_years"] = [round(float(end - start)) if end - start >= 1 else 0 for start, end in spans]
    frame["start"] = [period_span(p)[0] for p in frame["period"]]
    frame["end"] = [period_span(p)[1] for p in frame["period"]]
    frame["time"] = [period_time(p) for p in frame["period"]]
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
        provenance.append(_worst_provenance(used["provenance"]))
    latest = frame.iloc[-1]
    return pd.DataFrame({
        "period": pooled["period"], "value": pooled["value"], "numerator": pooled["numerator"],
        "denominator": pooled["denominator"], "status": pooled["status"],
        "provenance": provenance, "method": latest["method"], "is_estimate": latest["is_estimate"],
        "n_years": pooled["n_years"],
    })


def _scale(unit: str) -> float:
    return {"percent": 100.0, "per_1000": 1000.0, "per_100000": 100000.0}.get(unit, 1.0)


def _intervals(frame: pd.DataFrame, registry_entry: Any) -> tuple[list, list]:
    """95 % intervals where counts allow: Wilson for shares, Garwood for counts and rates."""
    lows, highs = [], []
    scale = _scale(registry_entry.unit)
    for _, row in frame.iterrows():
        low = high = None
        counts = _whole_counts(row["numerator"], row["denominator"])
        if row["status"] is None and counts is not None:
            x, n = counts
            if registry_entry.test == "binomial" and 0 < n and x <= n:
                low, high = (bound * scale for bound in stats.wilson_interval(x, n))
            elif registry_entry.test == "poisson" and n > 0:
                low, high = (bound / n * scale for bound in stats.garwood_interval(x))
        lows.append(low)
        highs.append(high)
    return lows, highs


def _whole_counts(numerator: Any, denominator: Any) -> tuple[int, int] | None:
    if pd.isna(numerator) or pd.isna(denominator) or numerator < 0 or denominator < 0:
        return None
    return round(float(numerator)), round(float(denominator))


def _survey_series(survey_results: pd.DataFrame, indicator_id: str, region: str) -> Series:
    rows = survey_results[(survey_results["indicator_id"] == indicator_id)
                          & (survey_results["district_code"] == region)
                          & (survey_results["group_type"] == "all")]
    if rows.empty:
        return _empty_series(source="survey")
    if rows["wave"].duplicated().any():
        raise GoalsError(f"survey_results: more than one 'all' row for {indicator_id} in {region} in a wave")
    frame = pd.DataFrame({
        "period": rows["wave"].astype(str).to_numpy(),
        "time": [_date_time(value) for value in rows["wave_date"]],
        # survey_results holds proportions 0-1; goal_progress speaks percent like the statistics.
        "value": rows["share_positive"].astype("float64").to_numpy() * 100,
        "denominator": rows["n"].astype("float64").to_numpy(),
        "status": rows["status"].to_numpy(dtype=object),
        "ci_low": rows["ci_low"].astype("float64").to_numpy() * 100,
        "ci_high": rows["ci_high"].astype("float64").to_numpy() * 100,
        "provenance": rows["provenance"].astype(str).to_numpy(),
        "question_set_version": rows["question_set_version"].to_numpy(dtype=object),
        "weighted": rows["weighted"].astype(bool).to_numpy(),
    })
    frame["status"] = frame["status"].where(frame["status"].notna() & frame["value"].isna(), None)
    # Counts behind an unweighted share (share = positives / n exactly); a weighted share has none.
    frame["numerator"] = [
        round(share * n) if not weighted and not pd.isna(share) and not pd.isna(n) else np.nan
        for share, n, weighted in zip(rows["share_positive"], frame["denominator"], frame["weighted"])
    ]
    frame["start"] = frame["time"]
    frame["end"] = frame["time"]
    frame["n_years"] = 0
    frame["method"] = "aggregated"
    frame["is_estimate"] = False
    frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    return Series(frame[SERIES_COLUMNS], "survey", "survey")


def _worst_provenance(values) -> str:
    present = {str(v) for v in values if not pd.isna(v)}
    unknown = present - set(PROVENANCE_ORDER)
    if unknown:
        raise GoalsError(f"unknown provenance value(s) {sorted(unknown)}")
    for provenance in reversed(PROVENANCE_ORDER):
        if provenance in present:
            return provenance
    return "recorded"


# ---------------------------------------------------------------------------------------------
# Tests on series


@dataclass(frozen=True)
class _Method:
    """How an indicator is measured: its unit scale and test (registry, or survey share)."""

    unit: str
    kind: str
    test: str

    @property
    def scale(self) -> float:
        return _scale(self.unit)


FIXED, CONTAINS_LOCAL, INDEPENDENT = "fixed", "contains_local", "independent"


def _compare(local: pd.Series | None, reference: pd.Series | None, method: _Method, polarity: str,
             reference_kind: str) -> tuple[str, str | None, float | None, float | None, str]:
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
    local_counts = _whole_counts(local["numerator"], local["denominator"])
    if local_counts is None:
        return "not_tested", None, None, reference_value, "no numerator and denominator to test"
    x, n = local_counts
    if n == 0 or (method.test == "binomial" and x > n):
        return "not_tested", None, None, reference_value, f"counts {x} of {n} cannot be tested"
    second = _whole_counts(reference["numerator"], reference["denominator"])
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


def _trend(series: Series, method: _Method) -> stats.TrendResult:
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
    counts = [_whole_counts(x, n) for x, n in zip(frame["numerator"], frame["denominator"])]
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


def _trend_columns(trend: stats.TrendResult, polarity: str) -> dict:
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


def _status(item: GoalIndicator, baseline: pd.Series | None, latest: pd.Series | None, polarity: str,
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


PROGRESS_COLUMNS = [
    "goal_id", "indicator_id", "indicator_name_en", "indicator_name_nb", "data_source", "source", "table_id",
    "region_code", "region_name", "region_level",
    "measure", "scope", "headline", "target_applies", "unit", "polarity",
    "baseline_period", "baseline_value", "baseline_status",
    "latest_period", "latest_value", "latest_status", "latest_numerator", "latest_denominator",
    "latest_ci_low", "latest_ci_high", "n_years", "question_set_version",
    "target_value", "target_year", "progress_pct", "status", "status_reason",
    "trend_test", "trend_n_points", "trend_slope", "trend_p_value", "trend_significant", "trend_direction",
    "comparison_oslo", "comparison_oslo_test", "comparison_oslo_p_value", "comparison_oslo_reference",
    "comparison_norway", "comparison_norway_test", "comparison_norway_p_value", "comparison_norway_reference",
    "comparison_note",
    "gap_best_region_code", "gap_worst_region_code", "gap_n_districts", "gap_test", "gap_p_value",
    "gap_significant", "method", "is_estimate", "provenance", "alpha",
]

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


def region_series(indicator_values: pd.DataFrame, survey_results: pd.DataFrame, goal: Goal,
                  item: GoalIndicator, registry: Mapping[str, Any]) -> tuple[dict[str, Series], _Method]:
    """The series of a goal's indicator for Norway (when it has figures), Oslo and each bydel."""
    if item.is_survey:
        series = {region: _survey_series(survey_results, item.indicator_id, region)
                  for region in (OSLO, *OSLO_DISTRICTS)}
        return series, _Method("percent", "share", "binomial")
    if item.indicator_id not in registry:
        raise GoalsError(f"goals.yaml goal {goal.id!r}: indicator {item.indicator_id!r} is not in the registry")
    entry = registry[item.indicator_id]
    statistics = _statistics_rows(indicator_values, goal, item)
    series = {region: _statistics_series(statistics, region, entry) for region in (NORWAY, OSLO, *OSLO_DISTRICTS)}
    if series[NORWAY].frame.empty:
        del series[NORWAY]
    return series, _Method(entry.unit, entry.kind, entry.test)


def _indicator_rows(indicator_values, survey_results, goal, item, registry, names) -> list[dict]:
    series, method = region_series(indicator_values, survey_results, goal, item, registry)
    rows = []
    for region, region_series_ in series.items():
        level = "country" if region == NORWAY else "municipality" if region == OSLO else "district"
        applies = item.scope in ("city", "each_district") and region != NORWAY
        headline = (item.scope == "city" and region == OSLO) or (item.scope == "each_district" and level == "district")
        rows.append(_region_row(goal, item, region, level, region_series_, series, method,
                                names, headline, applies))
    if item.scope == "gap":
        rows.append(_gap_row(goal, item, {d: series[d] for d in OSLO_DISTRICTS}, method, names))
    return rows


def _common(goal: Goal, item: GoalIndicator, method: _Method, series: Series) -> dict:
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


def _region_row(goal, item, region, level, series: Series, all_series: dict[str, Series], method: _Method,
                names, headline: bool, applies: bool) -> dict:
    latest, baseline = series.latest, series.at(item.baseline_period)
    version_changed = (
        latest is not None and baseline is not None and latest["question_set_version"] is not None
        and latest["question_set_version"] != baseline["question_set_version"]
    )
    if applies:
        status, reason, progress = _status(item, baseline, latest, item.polarity, version_changed)
    else:
        status, reason, progress = "no_target", "the target is not set for this region", None
    if series.frame.empty:
        reason = (f"{reason}: no figures for this region" if applies else reason)
    trend = _trend(series, method)
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
            outcome = _compare(latest, reference, method, item.polarity, kind)
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
        **_trend_columns(trend, item.polarity),
        "method": _value(latest, "method"),
        "is_estimate": bool(latest["is_estimate"]) if latest is not None and not pd.isna(latest["is_estimate"])
        else None,
        "provenance": _worst_provenance(used_provenance) if used_provenance else None,
        "comparison_note": "; ".join(notes) or None,
    })
    for name, (outcome, test, p_value, reference_value, _) in comparisons.items():
        row.update({f"comparison_{name}": outcome, f"comparison_{name}_test": test,
                    f"comparison_{name}_p_value": p_value, f"comparison_{name}_reference": reference_value})
    return row


def _gap_row(goal: Goal, item: GoalIndicator, districts: dict[str, Series], method: _Method, names) -> dict:
    """The gap between the best and the worst bydel, per period, with its baseline, latest and trend."""
    by_period, gaps = _gaps(districts, item.polarity)
    frame = pd.DataFrame(gaps, columns=["period", "time", "start", "end", "value", "status", "provenance"])
    latest = frame.iloc[-1] if not frame.empty else None
    at_baseline = frame[frame["period"] == item.baseline_period]
    baseline = at_baseline.iloc[0] if not at_baseline.empty else None
    all_periods = sorted(by_period, key=lambda p: max(r["time"] for _, r in by_period[p]))
    row = _common(goal, item, method, next(iter(districts.values())))
    row.update({"region_code": OSLO, "region_name": names.get(OSLO, OSLO), "region_level": "municipality",
                "measure": "gap", "headline": True, "target_applies": True, "polarity": "higher_is_worse",
                "source": next((s.source for s in districts.values() if s.source), item.source),
                "table_id": next((s.table_id for s in districts.values() if s.table_id), None),
                "n_years": 0, "trend_n_points": 0, "trend_significant": False,
                "comparison_oslo": "not_tested", "comparison_norway": "not_tested", "gap_significant": False,
                "provenance": _worst_provenance(frame["provenance"]) if not frame.empty else None})
    if all_periods and (latest is None or latest["period"] != all_periods[-1]):
        # The latest period exists, but fewer than two districts have values in it.
        row.update({"latest_period": all_periods[-1], "status": "insufficient_data",
                    "status_reason": f"fewer than two districts have values for {all_periods[-1]}"})
        return row
    if latest is None:
        row.update({"status": "insufficient_data", "status_reason": "no district figures"})
        return row
    status, reason, progress = _status(item, baseline, latest, "higher_is_worse", False)
    latest_gap = gaps[-1]
    n_districts = latest_gap["n"]
    if n_districts < len(districts):
        reason = f"{reason} (gap over {n_districts} of {len(districts)} districts with values)"
    trend = _trend(Series(frame.assign(numerator=np.nan, denominator=np.nan, ci_low=np.nan, ci_high=np.nan,
                                       question_set_version=None), None, None),
                   _Method(method.unit, method.kind, "none"))
    gap_test = _compare(latest_gap["best"][1], latest_gap["worst"][1], method, item.polarity, INDEPENDENT)
    row.update({
        "baseline_value": None if baseline is None else float(baseline["value"]),
        "latest_period": latest["period"],
        "latest_value": float(latest["value"]),
        "progress_pct": progress,
        "status": status,
        "status_reason": reason,
        **_trend_columns(trend, "higher_is_worse"),
        "gap_best_region_code": latest_gap["best"][0],
        "gap_worst_region_code": latest_gap["worst"][0],
        "gap_n_districts": n_districts,
        "gap_test": gap_test[1],
        "gap_p_value": gap_test[2],
        "gap_significant": gap_test[0] in ("better", "worse"),
        "comparison_note": f"best vs worst district: {gap_test[4]}" if gap_test[4] else None,
    })
    return row


def _gaps(districts: dict[str, Series], polarity: str) -> tuple[dict[str, list], list[dict]]:
    """Per period, the best and worst bydel with a value and the gap between them, oldest first."""
    higher_is_better = polarity == "higher_is_better"
    by_period: dict[str, list[tuple[str, pd.Series]]] = {}
    for code, series in districts.items():
        for _, observation in series.frame.iterrows():
            by_period.setdefault(observation["period"], []).append((code, observation))
    gaps = []
    for period, observations in by_period.items():
        with_values = [(code, row) for code, row in observations if not pd.isna(row["value"])]
        if len(with_values) < 2:
            continue
        ranked = sorted(with_values, key=lambda pair: float(pair[1]["value"]), reverse=higher_is_better)
        (best_code, best), (worst_code, worst) = ranked[0], ranked[-1]
        gaps.append({
            "period": period, "time": best["time"], "start": best["start"], "end": best["end"],
            "value": abs(float(best["value"]) - float(worst["value"])), "status": None,
            "best": (best_code, best), "worst": (worst_code, worst), "n": len(with_values),
            "provenance": _worst_provenance([row["provenance"] for _, row in observations]),
        })
    gaps.sort(key=lambda gap: gap["time"])
    return by_period, gaps


def gap_series(districts: dict[str, Series], polarity: str) -> pd.DataFrame:
    """The gap between the best and the worst bydel per period: period, time, value, best, worst, n."""
    _, gaps = _gaps(districts, polarity)
    return pd.DataFrame(
        [{"period": g["period"], "time": g["time"], "value": g["value"], "best_region_code": g["best"][0],
          "worst_region_code": g["worst"][0], "n_districts": g["n"], "provenance": g["provenance"]} for g in gaps],
        columns=["period", "time", "value", "best_region_code", "worst_region_code", "n_districts", "provenance"],
    )
