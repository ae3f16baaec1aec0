"""Series: one goal indicator for one region, oldest first, in one shape for statistics and surveys.

Statistics come from indicator_values (sex total, one age group, one table); where the registry asks for
pooling_years > 1 and the series is single years with numerators and denominators, periods are pooled
by summing them (ci_pipeline.stats.pool_years), and 95 % intervals are added where counts allow (Wilson
for shares, Garwood for counts and rates). Surveys come from survey_results (group `all`), as percent.
Each period carries its span and time in decimal years (ci_pipeline.periods), a survey wave its date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
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
    question_set_version, weighted, n_years, method, is_estimate.

    `columns` holds them as arrays: goal_progress reads every region's series of every goal indicator
    column by column (the trend test, the gaps) and a few rows many times, and a column of a pandas frame
    costs tens of microseconds to take. `frame` (for the report's charts) is made of them when first asked
    for."""

    columns: dict[str, np.ndarray]
    table_id: str | None
    source: str | None
    _rows: dict[int, dict[str, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns)

    @property
    def empty(self) -> bool:
        return len(self) == 0

    def __len__(self) -> int:
        return len(self.columns["period"])

    def at(self, period: str) -> dict[str, Any] | None:
        position = self._positions.get(period)
        return None if position is None else self._row(position)

    @cached_property
    def _positions(self) -> dict[str, int]:
        """The first row of each period: `at` is asked for every region's baseline and latest period."""
        positions: dict[str, int] = {}
        for position, period in enumerate(self.columns["period"].tolist()):
            positions.setdefault(period, position)
        return positions

    def _row(self, position: int) -> dict[str, Any]:
        """The row at `position` as a dict of its values, taken once: goal_progress reads the same few rows
        (latest, baseline, Oslo's and Norway's at each bydel's latest period) many times."""
        if position not in self._rows:
            self._rows[position] = {column: values[position] for column, values in self.columns.items()}
        return self._rows[position]

    @property
    def latest(self) -> dict[str, Any] | None:
        return None if self.empty else self._row(len(self) - 1)


SERIES_COLUMNS = [
    "period", "time", "start", "end", "value", "numerator", "denominator", "status", "ci_low", "ci_high",
    "provenance", "question_set_version", "weighted", "n_years", "method", "is_estimate",
]


# What a statistics series reads of indicator_values (the others are not turned into plain text).
STATISTICS_COLUMNS = [
    "source", "table_id", "region_code", "age_group", "period", "value", "numerator", "denominator", "status",
    "provenance", "method", "is_estimate",
]


_NUMBER_COLUMNS = {"value", "numerator", "denominator"}

# The columns of a series without rows: one empty array shared by all, as there is nothing to write into.
_NO_ROWS = np.array([], dtype=object)


def _empty_series(table_id: str | None = None, source: str | None = None) -> Series:
    return Series(dict.fromkeys(SERIES_COLUMNS, _NO_ROWS), table_id, source)


def goal_statistics_rows(indicator_values: pd.DataFrame, indicator_ids: Iterable[str]) -> pd.DataFrame:
    """The rows of indicator_values that series of these indicators read (sex total), with the columns
    they read, as plain text: taken out of the whole mart and decoded once, not once per goal indicator."""
    chosen = indicator_values["indicator_id"].isin(set(indicator_ids)) & (indicator_values["sex"] == "total")
    columns = ["indicator_id", "sex", *STATISTICS_COLUMNS]
    return plain(indicator_values.loc[chosen, [c for c in columns if c in indicator_values.columns]])


def goal_survey_rows(survey_results: pd.DataFrame, indicator_ids: Iterable[str]) -> pd.DataFrame:
    """The rows of survey_results that series of these indicators read (group total), taken once and
    without the mart's attrs: pandas deep-copies a frame's attrs (survey_results' lineage) into every
    frame and column derived from it."""
    chosen = survey_results["indicator_id"].isin(set(indicator_ids)) & (survey_results["group_type"] == "total")
    rows = survey_results[chosen]
    rows.attrs = {}
    return rows


def _statistics_rows(indicator_values: pd.DataFrame, goal: Goal, item: GoalIndicator) -> dict[str, np.ndarray]:
    """The indicator's rows for sex total and one age group, from one table, as arrays of the columns a
    statistics series reads (taken out of the frame once: the checks and the series work on the arrays);
    errors say how to choose."""
    where = f"goal {goal.id!r}, indicator {item.indicator_id!r}"
    chosen = (indicator_values["indicator_id"] == item.indicator_id) & (indicator_values["sex"] == "total")
    rows = plain(indicator_values.loc[chosen, [c for c in STATISTICS_COLUMNS if c in indicator_values.columns]])
    columns = {column: rows[column].astype("float64").to_numpy() if column in _NUMBER_COLUMNS
               else rows[column].to_numpy(dtype=object) for column in rows.columns}
    keep = np.ones(len(rows), dtype=bool)
    if item.source is not None:
        keep &= columns["source"] == item.source
    if item.age_group is not None:
        keep &= columns["age_group"] == item.age_group
    columns = {column: values[keep] for column, values in columns.items()}
    # a missing age group is not one to choose (and would not sort among the named ones in the message)
    age_groups = sorted(age for age in pd.unique(columns["age_group"]) if not pd.isna(age))
    if item.age_group is None and len(age_groups) > 1:
        raise GoalsError(
            f"goals.yaml {where}: indicator_values has age groups {age_groups}; "
            "set `age_group` to the one the goal follows"
        )
    tables = sorted(set(zip(columns["source"].tolist(), columns["table_id"].tolist())))
    if len(tables) > 1:
        raise GoalsError(f"goals.yaml {where}: indicator_values has it from several tables {tables}; "
                         "set `source` to the one the goal follows")
    pairs = list(zip(columns["region_code"].tolist(), columns["period"].tolist()))
    if len(set(pairs)) < len(pairs):
        counts = Counter(pairs)
        sample = [list(pair) for pair in pairs if counts[pair] > 1][:3]
        raise GoalsError(f"indicator_values {where}: more than one row per region and period, e.g. {sample}")
    return columns


def _statistics_series(rows: dict[str, np.ndarray], regions: tuple[str, ...],
                       registry_entry: Any) -> dict[str, Series]:
    """Each region's series, built for all regions at once on the indicator's arrays: per-region work, or
    a pandas frame assigned column by column, costs more than the whole table's arrays."""
    in_regions = np.isin(rows["region_code"], regions)
    if not in_regions.any():
        return {region: _empty_series() for region in regions}
    table_id, source = str(rows["table_id"][0]), str(rows["source"][0])
    columns = {
        "region_code": rows["region_code"],
        "period": rows["period"],
        "value": rows["value"],
        "numerator": rows["numerator"],
        "denominator": rows["denominator"],
        "status": rows["status"],
        "provenance": rows["provenance"],
        "method": rows["method"] if "method" in rows else np.full(len(in_regions), None),
        "is_estimate": rows["is_estimate"] if "is_estimate" in rows else np.full(len(in_regions), None),
    }
    columns = {column: values[in_regions] for column, values in columns.items()}
    spans = {period: parse_period(period).span for period in set(columns["period"].tolist())}
    columns["n_years"] = np.array([round(float(end - start)) if end - start >= 1 else 0
                                   for start, end in map(spans.__getitem__, columns["period"])], dtype="int64")
    columns["status"] = _symbols(columns["status"])
    pooling = int(getattr(registry_entry, "pooling_years", 1) or 1)
    if pooling > 1:
        frame = _pooled_where_countable(pd.DataFrame(columns), pooling, unit_scale(registry_entry.unit), spans)
        columns = {column: frame[column].to_numpy() for column in frame.columns}
        columns["status"] = _symbols(columns["status"])
    periods = {period: parse_period(period) for period in set(columns["period"].tolist())}
    columns["start"] = np.array([periods[p].span[0] for p in columns["period"]], dtype="float64")
    columns["end"] = np.array([periods[p].span[1] for p in columns["period"]], dtype="float64")
    columns["time"] = np.array([periods[p].time for p in columns["period"]], dtype="float64")
    columns["ci_low"], columns["ci_high"] = _intervals(columns["numerator"], columns["denominator"],
                                                       columns["status"], registry_entry)
    columns["question_set_version"] = np.full(len(columns["period"]), None)
    columns["weighted"] = np.zeros(len(columns["period"]), dtype=bool)
    by_region = _series_by_region(columns, ["time", "start"], table_id, source)
    return {region: by_region.get(region) or _empty_series() for region in regions}


def _symbols(status: np.ndarray) -> np.ndarray:
    """Status symbols as objects, a missing one None (not NaN) throughout."""
    return np.array([None if pd.isna(symbol) else symbol for symbol in status.tolist()], dtype=object)


def _series_by_region(columns: dict[str, np.ndarray], order: list[str], table_id: str | None,
                      source: str | None) -> dict[str, Series]:
    """Each region's rows, sorted by `order` (ties in the rows' order), as a Series.

    Sorted by region first, so each region's rows are one run: its columns are views of the whole
    indicator's sorted arrays, and this runs for every region of every goal indicator. np.lexsort is
    stable, like sort_values(kind="stable")."""
    if not len(columns["region_code"]):
        return {}
    regions, region_ranks = np.unique(columns["region_code"], return_inverse=True)
    keys = [np.asarray(columns[column], dtype=float) for column in reversed(order)]
    positions = np.lexsort([*keys, region_ranks])
    ranks = region_ranks[positions]
    starts = np.flatnonzero(np.r_[True, ranks[1:] != ranks[:-1]])
    ends = np.r_[starts[1:], len(ranks)]
    arrays = {column: columns[column][positions] for column in SERIES_COLUMNS}
    return {regions[ranks[start]]: Series({column: values[start:end] for column, values in arrays.items()},
                                          table_id, source)
            for start, end in zip(starts, ends)}


def _pooled_where_countable(frame: pd.DataFrame, window: int, scale: float,
                            spans: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """The regions whose series are single years with numerators and denominators wherever there is a
    value, pooled into moving windows; the other regions' rows as they are (in their order)."""
    single_year = [end - start == 1 for start, end in map(spans.__getitem__, frame["period"])]
    with_values = frame["status"].isna()
    counted = frame["numerator"].notna() & frame["denominator"].notna()
    flags = pd.DataFrame({"region_code": frame["region_code"], "single_year": single_year,
                          "counted": counted | ~with_values, "with_values": with_values})
    by_region = flags.groupby("region_code", sort=False).agg(
        single_year=("single_year", "all"), counted=("counted", "all"), with_values=("with_values", "any"))
    pooled_regions = by_region.index[by_region.all(axis=1)]
    if pooled_regions.empty:
        return frame
    parts = [frame[~frame["region_code"].isin(pooled_regions)]]
    for region, group in frame[frame["region_code"].isin(pooled_regions)].groupby("region_code", sort=False):
        parts.append(_pooled(group.reset_index(drop=True), window, scale).assign(region_code=region))
    return pd.concat(parts, ignore_index=True)


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


def _intervals(numerators: np.ndarray, denominators: np.ndarray, statuses: np.ndarray,
               registry_entry: Any) -> tuple[np.ndarray, np.ndarray]:
    """95 % intervals where counts allow (NaN elsewhere): Wilson for shares, Garwood for counts and rates."""
    lows = np.full(len(numerators), np.nan)
    highs = np.full(len(numerators), np.nan)
    counts = [whole_counts(numerator, denominator)
              for numerator, denominator in zip(numerators.tolist(), denominators.tolist())]
    usable = [status is None and pair is not None for status, pair in zip(statuses, counts)]
    x = np.array([pair[0] if ok else 0 for pair, ok in zip(counts, usable)], dtype="float64")
    n = np.array([pair[1] if ok else 0 for pair, ok in zip(counts, usable)], dtype="float64")
    usable = np.array(usable, dtype=bool)
    scale = unit_scale(registry_entry.unit)
    if registry_entry.test == "binomial":
        chosen = usable & (n > 0) & (x <= n)
        low, high = stats.wilson_intervals(x[chosen], n[chosen])
        lows[chosen], highs[chosen] = low * scale, high * scale
    elif registry_entry.test == "poisson":
        # garwood_interval one count at a time: scipy's chi2 quantiles of an array differ in the last digit
        garwood = {count: stats.garwood_interval(count) for count in x[usable & (n > 0)].astype(int).tolist()}
        for position in np.flatnonzero(usable & (n > 0)):
            low, high = garwood[int(x[position])]
            lows[position], highs[position] = low / n[position] * scale, high / n[position] * scale
    return lows, highs


def whole_counts(numerator: Any, denominator: Any) -> tuple[int, int] | None:
    if pd.isna(numerator) or pd.isna(denominator) or numerator < 0 or denominator < 0:
        return None
    return round(float(numerator)), round(float(denominator))


def _survey_series(survey_results: pd.DataFrame, indicator_id: str, regions: tuple[str, ...]) -> dict[str, Series]:
    """Each region's survey series (group `all`), built for all regions at once."""
    rows = survey_results[(survey_results["indicator_id"] == indicator_id)
                          & (survey_results["group_type"] == "total")
                          & survey_results["district_code"].isin(regions)]
    duplicated = rows.duplicated(["district_code", "wave"])
    if duplicated.any():
        region = min(rows.loc[duplicated, "district_code"], key=regions.index)
        raise GoalsError(f"survey_results: more than one 'total' row for {indicator_id} in {region} in a wave")
    times = {value: _date_time(value) for value in rows["wave_date"].unique()}
    time = np.array([times[value] for value in rows["wave_date"]], dtype="float64")
    shares = rows["share_positive"].astype("float64").to_numpy()
    # a weighted share is tested as if from its Kish effective sample (survey_results' effective_n)
    sizes = rows["effective_n" if "effective_n" in rows.columns else "n"].astype("float64").to_numpy()
    symbols = rows["status"].to_numpy(dtype=object)
    columns = {
        "region_code": rows["district_code"].astype(str).to_numpy(),
        "period": rows["wave"].astype(str).to_numpy(),
        "time": time,
        "start": time,
        "end": time,
        # survey_results holds proportions 0-1; goal_progress speaks percent like the statistics.
        "value": shares * 100,
        # Counts behind the share: positives / n exactly when unweighted, share x effective n when weighted.
        # whole numbers (int64) unless a share is missing (float64, NaN there)
        "numerator": np.array([round(share * n) if not pd.isna(share) and not pd.isna(n) else np.nan
                               for share, n in zip(shares.tolist(), sizes.tolist())]),
        "denominator": sizes,
        # a symbol only where the share is missing
        "status": np.array([symbol if not pd.isna(symbol) and pd.isna(share) else None
                            for symbol, share in zip(symbols.tolist(), shares.tolist())], dtype=object),
        "ci_low": rows["ci_low"].astype("float64").to_numpy() * 100,
        "ci_high": rows["ci_high"].astype("float64").to_numpy() * 100,
        "provenance": rows["provenance"].astype(str).to_numpy(),
        "question_set_version": rows["question_set_version"].to_numpy(dtype=object),
        "weighted": rows["weighted"].astype(bool).to_numpy(),
        "n_years": np.zeros(len(time), dtype="int64"),
        "method": np.full(len(time), "aggregated", dtype=object),
        "is_estimate": np.zeros(len(time), dtype=bool),
    }
    by_region = _series_by_region(columns, ["time"], "survey", "survey")
    return {region: by_region.get(region) or _empty_series(source="survey") for region in regions}


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
        series = _survey_series(survey_results, item.indicator_id, (OSLO, *OSLO_DISTRICTS))
        return series, IndicatorMethod("percent", "share", "binomial")
    if item.indicator_id not in registry:
        raise GoalsError(f"goals.yaml goal {goal.id!r}: indicator {item.indicator_id!r} is not in the registry")
    entry = registry[item.indicator_id]
    statistics = _statistics_rows(indicator_values, goal, item)
    series = _statistics_series(statistics, (NORWAY, OSLO, *OSLO_DISTRICTS), entry)
    if series[NORWAY].empty:
        del series[NORWAY]
    return series, IndicatorMethod(entry.unit, entry.kind, entry.test)
