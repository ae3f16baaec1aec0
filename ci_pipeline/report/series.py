"""The observations behind the report's charts, and where and when the sources published them.

They come from ci_pipeline.goals (`region_series`, `gap_series`), so the charts show exactly the series
goal_progress was computed from: per region a frame with period, time, value, status, ci_low, ci_high,
provenance and is_estimate; the gap series has period, time, value and provenance. Data dates come from
indicator_values (`source_updated`) and survey_results (`wave_date`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline.goals.gaps import gap_series
from ci_pipeline.goals.series import region_series
from ci_pipeline.report.adapter import DISTRICTS, Entry, present


@dataclass(frozen=True)
class Point:
    time: float
    period: str
    value: float | None
    status: str | None
    ci_low: float | None
    ci_high: float | None
    illustrative: bool
    estimate: bool


@dataclass(frozen=True)
class Origin:
    """What the marts hold of an indicator: its provenances (sorted), its first and last period and when
    its source last updated it."""

    provenances: tuple[str, ...]
    first: Any
    last: Any
    updated: Any


class SeriesSource:
    """The observations behind each entry's charts, and when each source last updated them."""

    def __init__(self, indicator_values: pd.DataFrame, survey_results: pd.DataFrame,
                 registry: Mapping[str, Any]):
        self.indicator_values = indicator_values
        self.survey_results = survey_results
        self.registry = registry
        self._series: dict[tuple, dict] = {}
        self._points: dict[tuple, dict[str, list[Point]]] = {}
        self._gap_points: dict[tuple, list[Point]] = {}
        self._origins: dict[tuple, Origin | None] = {}

    @staticmethod
    def _series_key(entry: Entry) -> tuple:
        """What a series is read from: an indicator several goals follow, and every chart of it in both
        languages, share one."""
        return entry.item.indicator_id, entry.item.source, entry.item.age_group

    def _region_series(self, entry: Entry) -> dict:
        key = self._series_key(entry)
        if key not in self._series:
            # region_series picks the indicator's rows out of the whole mart; handing it only those rows
            # (found once for all indicators) gives the same series without a scan of the mart per call
            indicator_id = entry.indicator_id
            self._series[key], _ = region_series(
                self._value_rows.get(indicator_id, self.indicator_values.iloc[:0]),
                self._survey_rows.get(indicator_id, self.survey_results.iloc[:0]),
                entry.goal, entry.item, self.registry)
        return self._series[key]

    @cached_property
    def _value_rows(self) -> dict[str, pd.DataFrame]:
        return _by_indicator(self.indicator_values)

    @cached_property
    def _survey_rows(self) -> dict[str, pd.DataFrame]:
        return _by_indicator(self.survey_results)

    def points(self, entry: Entry) -> dict[str, list[Point]]:
        """Per region (Oslo, each bydel, Norway where it has figures), its observations oldest first."""
        key = self._series_key(entry)
        if key not in self._points:
            self._points[key] = {code: _points(s.frame) for code, s in self._region_series(entry).items()}
        return self._points[key]

    def gap_points(self, entry: Entry) -> list[Point]:
        """The gap between the best and the worst bydel per period."""
        key = (*self._series_key(entry), entry.polarity)
        if key not in self._gap_points:
            series = self._region_series(entry)
            frame = gap_series({d: series[d] for d in DISTRICTS}, entry.polarity)
            self._gap_points[key] = _points(frame.assign(status=None, ci_low=None, ci_high=None, is_estimate=False))
        return self._gap_points[key]

    def data_date(self, entry: Entry) -> str | None:
        """When the source last updated the table (survey: the latest wave's date)."""
        if entry.item.is_survey:
            return self._wave_dates.get(entry.indicator_id)
        return self._table_dates.get((entry.indicator_id, str(entry.table_id)))

    @cached_property
    def _wave_dates(self) -> dict[str, str]:
        """The latest wave's date per survey indicator."""
        survey = self.survey_results
        return {indicator_id: str(survey["wave_date"].iloc[positions].max())
                for indicator_id, positions in survey.groupby("indicator_id", sort=False).indices.items()}

    @cached_property
    def _table_dates(self) -> dict[tuple[str, str], str]:
        """The latest source_updated per indicator and table, found once: every chart asks for its own."""
        values = self.indicator_values
        if "source_updated" not in values:
            return {}
        tables = values.groupby([values["indicator_id"].astype(str), values["table_id"].astype(str)], sort=False)
        dates = {}
        for key, positions in tables.indices.items():
            updated = values["source_updated"].iloc[positions].dropna()
            if not updated.empty:
                dates[key] = str(updated.max())
        return dates

    def definition(self, indicator_id: str) -> str | None:
        entry = self.registry.get(indicator_id)
        return getattr(entry, "definition", None) if entry is not None else None

    def origin(self, entry: Entry) -> Origin | None:
        """Where the entry's indicator comes from (a statistic from the entry's source), None when the marts
        hold none of it; found once for both editions of the page on the figures."""
        source = entry.source if entry.source and not entry.item.is_survey else None
        key = (entry.indicator_id, source)
        if key not in self._origins:
            found = self._provenance_of.get(entry.indicator_id)
            if found is not None and source is not None:
                found = found[found["source"] == source]
            self._origins[key] = None if found is None or found.empty else Origin(
                tuple(sorted(set(found["provenance"].dropna()))), found["first"].min(), found["last"].max(),
                found["updated"].max())
        return self._origins[key]

    @cached_property
    def _provenance_of(self) -> dict[str, pd.DataFrame]:
        origins = self.provenance_by_indicator()
        return {} if origins.empty else dict(iter(origins.groupby("indicator_id", sort=False)))

    def provenance_by_indicator(self) -> pd.DataFrame:
        """indicator_id, source, table_id, provenance, first and last period, source_updated: every
        indicator's origin as the marts hold it (for the page on the figures)."""
        frames = []
        if not self.indicator_values.empty:
            values = self.indicator_values
            frames.append(values.groupby(["indicator_id", "source", "table_id", "provenance"], dropna=False)
                          .agg(first=("period", "min"), last=("period", "max"),
                               updated=("source_updated", "max")).reset_index())
        if not self.survey_results.empty:
            survey = self.survey_results
            frames.append(survey.assign(source="survey", table_id="").groupby(
                ["indicator_id", "source", "table_id", "provenance"], dropna=False)
                .agg(first=("wave", "min"), last=("wave", "max"), updated=("wave_date", "max")).reset_index())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _by_indicator(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each indicator's rows of `frame`, in their order: the frame is put in indicator order once (one
    take of every column) and cut into slices, which costs less than a take per indicator."""
    codes, indicators = pd.factorize(frame["indicator_id"])
    order = np.argsort(codes, kind="stable")
    ordered = frame.iloc[order]
    bounds = np.searchsorted(codes[order], np.arange(len(indicators) + 1))
    return {str(indicator): ordered.iloc[bounds[k]:bounds[k + 1]] for k, indicator in enumerate(indicators)}


def _points(frame: pd.DataFrame) -> list[Point]:
    def number(value: Any) -> float | None:
        return float(value) if present(value) else None

    def column(name: str) -> list:
        return frame[name].tolist() if name in frame.columns else [None] * len(frame)

    return [
        Point(
            time=float(time), period=str(period), value=number(value),
            status=status if present(status) else None,
            ci_low=number(ci_low), ci_high=number(ci_high),
            illustrative=provenance == "illustrative",
            estimate=bool(estimate) if present(estimate) else False,
        )
        for time, period, value, status, ci_low, ci_high, provenance, estimate in zip(
            column("time"), column("period"), column("value"), column("status"), column("ci_low"),
            column("ci_high"), column("provenance"), column("is_estimate"))
    ]
