"""Expectation suites (checks/*.yaml) and their run through Great Expectations.

A suite file names the asset(s) it checks and lists Great Expectations (GX Core 1.x) expectations by
their snake_case names, with kwargs and a severity (`error` blocks publication, `warn` reports):

    asset: staging/ssb_10826            # or a list of asset keys
    description: ...
    extends: _tidy_observations.yaml    # optional base file whose entries come first
    expectations:
      - expectation: expect_column_values_to_not_be_null
        kwargs: {column: region_code}
        severity: error
        description: every observation has a region

Files whose name starts with "_" are bases: they are only used through `extends`.

Loading happens when the Dagster definitions load, so it must not import GX (~3 s, ~250 MB): names and
kwargs are checked against SUPPORTED_EXPECTATIONS, a static table that tests compare with GX's classes.
GX is imported at check time only, inside `run_suite`.

Checks GX cannot express on one frame (region valid for its period against the regions dimension, series
without gaps, district sums against the municipal total, value/status consistency, the age of the
source's `updated` stamp) are DERIVATIONS: plain pandas computes a column holding "ok" or a description
of the problem for each row it judges (null where it does not judge), and a GX expectation on that
column decides, so GX still reports the count and a sample of the offending values. An entry declares
its derivation with `derive:` and checks the column of the same name:

      - expectation: expect_column_values_to_be_in_set
        derive: {name: series_without_gaps}
        kwargs: {column: series_without_gaps, value_set: [ok]}

The row count of the previous published version enters as a derived kwarg:
`kwargs: {min_value: {previous_row_count_ratio: 0.8}}`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

SEVERITIES = ("error", "warn")
SAMPLE_SIZE = 10
OK = "ok"

# GX's own fields every expectation has; an entry sets description and severity its own way.
_COLUMN_MAP = ("mostly", "row_condition", "condition_parser")
_ROW_FILTER = ("row_condition", "condition_parser")
_RANGE = ("min_value", "max_value", "strict_min", "strict_max")

# name -> (required kwargs, optional kwargs). The expectations that make sense on one pandas DataFrame;
# tests/test_quality.py checks every row against the real GX class.
SUPPORTED_EXPECTATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "expect_column_to_exist": (("column",), ("column_index",)),
    "expect_column_type_to_be": (("column", "type_"), ()),
    "expect_column_values_to_be_of_type": (("column", "type_"), _COLUMN_MAP),
    "expect_column_values_to_be_in_type_list": (("column",), (*_COLUMN_MAP, "type_list")),
    "expect_column_values_to_not_be_null": (("column",), _COLUMN_MAP),
    "expect_column_values_to_be_null": (("column",), _COLUMN_MAP),
    "expect_column_values_to_be_unique": (("column",), _COLUMN_MAP),
    "expect_compound_columns_to_be_unique": (("column_list",), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_select_column_values_to_be_unique_within_record": (("column_list",), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_column_values_to_be_in_set": (("column", "value_set"), _COLUMN_MAP),
    "expect_column_values_to_not_be_in_set": (("column", "value_set"), _COLUMN_MAP),
    "expect_column_distinct_values_to_be_in_set": (("column", "value_set"), _ROW_FILTER),
    "expect_column_distinct_values_to_contain_set": (("column", "value_set"), _ROW_FILTER),
    "expect_column_distinct_values_to_equal_set": (("column", "value_set"), _ROW_FILTER),
    "expect_column_values_to_be_between": (("column",), (*_COLUMN_MAP, *_RANGE)),
    "expect_column_value_lengths_to_be_between": (("column",), (*_COLUMN_MAP, *_RANGE)),
    "expect_column_value_lengths_to_equal": (("column", "value"), _COLUMN_MAP),
    "expect_column_values_to_match_regex": (("column",), (*_COLUMN_MAP, "regex")),
    "expect_column_values_to_not_match_regex": (("column", "regex"), _COLUMN_MAP),
    "expect_column_values_to_match_regex_list": (("column", "regex_list"), (*_COLUMN_MAP, "match_on")),
    "expect_column_values_to_match_strftime_format": (("column", "strftime_format"), _COLUMN_MAP),
    "expect_column_values_to_be_increasing": (("column",), (*_COLUMN_MAP, "strictly")),
    "expect_column_values_to_be_decreasing": (("column",), (*_COLUMN_MAP, "strictly")),
    "expect_column_pair_values_to_be_equal": (("column_A", "column_B"), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        ("column_A", "column_B"), (*_COLUMN_MAP, "or_equal", "ignore_row_if")),
    "expect_multicolumn_sum_to_equal": (("column_list", "sum_total"), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_column_min_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_max_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_mean_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_sum_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_unique_value_count_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_proportion_of_non_null_values_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_table_row_count_to_be_between": ((), (*_RANGE, *_ROW_FILTER)),
    "expect_table_row_count_to_equal": (("value",), _ROW_FILTER),
    "expect_table_columns_to_match_set": ((), ("column_set", "exact_match")),
    "expect_table_columns_to_match_ordered_list": ((), ("column_list",)),
    "expect_table_column_count_to_equal": (("value",), ()),
}

# What a kwarg must look like, by name, wherever it appears (checked without GX).
_NUMBER = (int, float)
_KWARG_TYPES: dict[str, tuple[type, ...]] = {
    "column": (str,), "column_A": (str,), "column_B": (str,), "type_": (str,), "regex": (str,),
    "strftime_format": (str,), "row_condition": (str,), "condition_parser": (str,), "ignore_row_if": (str,),
    "match_on": (str,), "column_list": (list,), "column_set": (list,), "value_set": (list,),
    "regex_list": (list,), "type_list": (list,), "mostly": _NUMBER, "sum_total": _NUMBER,
    "value": _NUMBER, "column_index": (int,), "strict_min": (bool,), "strict_max": (bool,),
    "strictly": (bool,), "or_equal": (bool,), "exact_match": (bool,),
    "min_value": (*_NUMBER, dict, type(None)), "max_value": (*_NUMBER, dict, type(None)),
}

# Derived kwargs: {kwarg: {derived name: argument}} resolved from the run context.
_DERIVED_KWARGS = {"previous_row_count_ratio": ("min_value", "max_value")}

_ENTRY_KEYS = {"expectation", "kwargs", "severity", "description", "derive"}
_SUITE_KEYS = {"asset", "description", "extends", "expectations"}


class QualityError(ValueError):
    """A suite file that cannot be loaded, or a suite that cannot be run, with the file and entry named."""


# ------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class SuiteEntry:
    expectation: str
    kwargs: dict[str, Any]
    severity: str
    description: str | None
    derive: dict[str, Any] | None
    source_file: str  # the file the entry is written in (a base file for inherited entries)
    position: int  # 1-based position in that file's expectations list

    @property
    def label(self) -> str:
        return f"{self.source_file} entry {self.position} ({self.expectation})"


@dataclass(frozen=True)
class Suite:
    name: str  # the file stem; also the Dagster check name
    path: str  # relative to the checks root's parent, e.g. checks/ssb_10826.yaml
    assets: tuple[str, ...]  # asset keys as "staging/ssb_10826"
    description: str
    entries: tuple[SuiteEntry, ...]

    @property
    def blocking(self) -> bool:
        return any(entry.severity == "error" for entry in self.entries)

    @property
    def derivations(self) -> set[str]:
        return {entry.derive["name"] for entry in self.entries if entry.derive}

    @property
    def needs_previous_row_count(self) -> bool:
        return any(_derived_kwargs(entry.kwargs) for entry in self.entries)


@dataclass(frozen=True)
class EntryResult:
    expectation: str
    severity: str
    description: str | None
    source: str  # SuiteEntry.label
    success: bool | None  # None: not run (skip_reason says why)
    unexpected_count: int | None = None
    element_count: int | None = None
    sample: list[Any] = field(default_factory=list)
    observed_value: Any = None
    error: str | None = None
    skip_reason: str | None = None


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    path: str
    asset: str
    entries: tuple[EntryResult, ...]

    @property
    def failed(self) -> list[EntryResult]:
        return [entry for entry in self.entries if entry.success is False]

    @property
    def success(self) -> bool:
        return not self.failed

    @property
    def blocking_failed(self) -> bool:
        return any(entry.severity == "error" for entry in self.failed)

    def message(self) -> str:
        if self.success:
            return f"suite {self.suite} ({self.path}) passed on {self.asset}: {len(self.entries)} expectations"
        lines = [(f"suite {self.suite} ({self.path}) failed on {self.asset}: "
                  f"{len(self.failed)} of {len(self.entries)} expectations failed")]
        for entry in self.failed:
            what = entry.description or ""
            if entry.error:
                detail = f"error: {entry.error}"
            elif entry.unexpected_count is not None:
                detail = f"{entry.unexpected_count} unexpected, e.g. {entry.sample[:3]}"
            else:
                detail = f"observed {entry.observed_value}"
            lines.append(f"  [{entry.severity}] {entry.expectation} ({entry.source}) {what} - {detail}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ loading


def load_suites(checks_root: Path | str) -> list[Suite]:
    """Every suite in checks_root/*.yaml (bases, named _*.yaml, only through `extends`), by name."""
    root = Path(checks_root)
    if not root.is_dir():
        raise QualityError(f"checks folder {root} does not exist")
    suites = [load_suite(path) for path in sorted(root.glob("*.yaml")) if not path.name.startswith("_")]
    return suites


def load_suite(path: Path | str) -> Suite:
    path = Path(path)
    document = _read_yaml(path)
    label = _display(path)
    unknown = set(document) - _SUITE_KEYS
    if unknown:
        raise QualityError(f"{label}: unknown key(s) {sorted(unknown)} (allowed: {sorted(_SUITE_KEYS)})")
    assets = document.get("asset")
    if isinstance(assets, str):
        assets = [assets]
    if not assets or not all(isinstance(a, str) and a for a in assets):
        raise QualityError(f"{label}: 'asset' must name an asset key such as staging/ssb_10826 (or a list)")
    entries = _entries_with_bases(path, document, seen=[])
    if not entries:
        raise QualityError(f"{label}: the suite has no expectations")
    return Suite(name=path.stem, path=label, assets=tuple(assets),
                 description=str(document.get("description") or ""), entries=tuple(entries))


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise QualityError(f"suite file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise QualityError(f"{_display(path)}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise QualityError(f"{_display(path)}: expected a mapping with 'expectations'")
    return document


def _entries_with_bases(path: Path, document: dict[str, Any], seen: list[Path]) -> list[SuiteEntry]:
    label = _display(path)
    if path.resolve() in seen:
        raise QualityError(f"{label}: 'extends' forms a cycle through {[p.name for p in seen]}")
    seen = [*seen, path.resolve()]
    entries: list[SuiteEntry] = []
    base = document.get("extends")
    if base is not None:
        base_path = path.parent / str(base)
        if not base_path.exists():
            raise QualityError(f"{label}: extends {base!r}, but {base_path} does not exist")
        entries.extend(_entries_with_bases(base_path, _read_yaml(base_path), seen))
    raw_entries = document.get("expectations") or []
    if not isinstance(raw_entries, list):
        raise QualityError(f"{label}: 'expectations' must be a list")
    entries.extend(_entry(label, position, raw) for position, raw in enumerate(raw_entries, start=1))
    return entries


def _entry(label: str, position: int, raw: Any) -> SuiteEntry:
    where = f"{label} entry {position}"
    if not isinstance(raw, dict):
        raise QualityError(f"{where}: expected a mapping with 'expectation', 'kwargs' and 'severity'")
    name = raw.get("expectation")
    where = f"{where} ({name})"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise QualityError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {sorted(_ENTRY_KEYS)})")
    if name not in SUPPORTED_EXPECTATIONS:
        close = [known for known in SUPPORTED_EXPECTATIONS if name and name.split("_")[-1] in known]
        hint = f"; similar: {close[:5]}" if close else ""
        raise QualityError(f"{where}: unknown expectation {name!r} (see SUPPORTED_EXPECTATIONS in "
                           f"ci_pipeline/quality.py{hint})")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise QualityError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
    kwargs = raw.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise QualityError(f"{where}: kwargs must be a mapping")
    _check_kwargs(where, name, kwargs)
    derive = _derive_spec(where, raw.get("derive"), kwargs)
    description = raw.get("description")
    return SuiteEntry(expectation=name, kwargs=kwargs, severity=severity,
                      description=str(description) if description is not None else None,
                      derive=derive, source_file=label, position=position)


def _check_kwargs(where: str, name: str, kwargs: dict[str, Any]) -> None:
    required, optional = SUPPORTED_EXPECTATIONS[name]
    missing = [k for k in required if k not in kwargs]
    if missing:
        raise QualityError(f"{where}: missing required kwarg(s) {missing}")
    unknown = [k for k in kwargs if k not in required and k not in optional]
    if unknown:
        raise QualityError(f"{where}: unknown kwarg(s) {unknown}; {name} takes {list(required + optional)}")
    for key, value in kwargs.items():
        allowed = _KWARG_TYPES.get(key)
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise QualityError(f"{where}: kwarg {key}={value!r} must be of type "
                               f"{' or '.join(t.__name__ for t in allowed)}")
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in _DERIVED_KWARGS \
                    or key not in _DERIVED_KWARGS[next(iter(value))]:
                raise QualityError(f"{where}: kwarg {key}={value!r}: a mapping here must be a derived kwarg "
                                   f"such as {{previous_row_count_ratio: 0.8}} (on min_value/max_value)")
            ratio = next(iter(value.values()))
            if not isinstance(ratio, _NUMBER) or isinstance(ratio, bool) or ratio < 0:
                raise QualityError(f"{where}: kwarg {key}: previous_row_count_ratio must be a number >= 0")
    if "mostly" in kwargs and not 0 <= kwargs["mostly"] <= 1:
        raise QualityError(f"{where}: mostly must be between 0 and 1, got {kwargs['mostly']}")
    if name.endswith("_to_be_between") and kwargs.get("min_value") is None and kwargs.get("max_value") is None:
        raise QualityError(f"{where}: give min_value, max_value or both")


def _derive_spec(where: str, raw: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    if raw is None:
        return None
    spec = {"name": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, dict) or spec.get("name") not in DERIVATIONS:
        raise QualityError(f"{where}: derive must name one of {sorted(DERIVATIONS)}, got {raw!r}")
    name = spec["name"]
    arguments = {k: v for k, v in spec.items() if k != "name"}
    allowed = DERIVATIONS[name].arguments
    unknown = set(arguments) - set(allowed)
    if unknown:
        raise QualityError(f"{where}: derivation {name} takes {sorted(allowed)}, not {sorted(unknown)}")
    for key, value in arguments.items():
        if not isinstance(value, allowed[key]):
            raise QualityError(f"{where}: derivation {name}: {key}={value!r} must be of type "
                               f"{' or '.join(t.__name__ for t in allowed[key])}")
    if kwargs.get("column") != name:
        raise QualityError(f"{where}: an entry with derive {name} must check column {name!r} "
                           f"(kwargs.column is {kwargs.get('column')!r})")
    return {"name": name, **arguments}


def _derived_kwargs(kwargs: dict[str, Any]) -> list[str]:
    return [key for key, value in kwargs.items() if isinstance(value, dict)]


# ------------------------------------------------------------------------------------------ derivations
#
# Each derivation returns a column of "ok" / a problem text per row it judges, null elsewhere.
# `context` carries what the frame alone does not: regions (the regions dimension), now (a datetime),
# normalise_region_code (source spelling -> dimension code, e.g. 030101a -> 030101).

SERIES_KEY = ["source", "table_id", "indicator_id", "region_code", "sex", "age_group"]
GROUP_KEY = ["source", "table_id", "indicator_id", "period", "sex", "age_group", "unit"]


@dataclass(frozen=True)
class Derivation:
    function: Callable[[pd.DataFrame, dict[str, Any], dict[str, Any]], pd.Series]
    arguments: dict[str, tuple[type, ...]]
    needs: tuple[str, ...] = ()  # context keys without which the entry is skipped (and says so)


def _judged(values: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype=object)


def _period_bounds(periods: pd.Series) -> tuple[pd.Series, pd.Series]:
    """[start, end) dates of periods written 2021, 2018-2020, 2024K1, 2024M03 (NaT when not understood)."""
    text = periods.astype("str")
    parts = text.str.extract(r"^(?P<y1>\d{4})(?:-(?P<y2>\d{4})|K(?P<q>[1-4])|M(?P<m>\d{2}))?$")
    first = pd.to_numeric(parts["y1"], errors="coerce")
    last = pd.to_numeric(parts["y2"], errors="coerce").fillna(first)
    quarter = pd.to_numeric(parts["q"], errors="coerce")
    month = pd.to_numeric(parts["m"], errors="coerce")
    start_month = np.where(quarter.notna(), (quarter - 1) * 3 + 1, np.where(month.notna(), month, 1))
    length = np.where(quarter.notna(), 3, np.where(month.notna(), 1, 12 * (last - first + 1)))
    start = pd.to_datetime(pd.DataFrame({"year": first, "month": start_month, "day": 1}), errors="coerce")
    end = pd.Series([s + pd.DateOffset(months=int(n)) if pd.notna(s) else pd.NaT
                     for s, n in zip(start, np.nan_to_num(length))], index=periods.index, dtype="datetime64[ns]")
    return start, end


def _as_dates(values: pd.Series) -> pd.Series:
    # format="ISO8601": otherwise pandas infers one format from the first value, and stamps written
    # another way (FHI's 7-digit fractions next to SSB's whole seconds) would become NaT.
    return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601").dt.tz_localize(None)


def region_valid_for_period(frame: pd.DataFrame, args: dict[str, Any], context: dict[str, Any]) -> pd.Series:
    """Is the row's region code in the regions dimension and valid when it applies?

    as_of: period (default; the code must be valid during part of the observation's period, as SSB
    publishes codes as they were), source_updated (valid on the source's `updated` date: FHI publishes
    every period on the geography of its release) or today. valid_to is exclusive (KLASS convention).
    backdated_levels: levels whose codes are also accepted before their start, because sources publish
    today's municipalities and counties for earlier years (the rule geography.harmonise applies too).
    """
    column = args.get("column", "region_code")
    as_of = args.get("as_of", "period")
    regions = context["regions"]
    normalise = context.get("normalise_region_code") or (lambda codes: codes)
    codes = frame[column].astype("str")
    if as_of == "period":
        keys = pd.DataFrame({"source_code": codes, "period": frame["period"].astype("str")})
    elif as_of == "source_updated":
        keys = pd.DataFrame({"source_code": codes, "period": frame["source_updated"].astype("str")})
    else:
        keys = pd.DataFrame({"source_code": codes, "period": context["now"].date().isoformat()}, index=frame.index)
    pairs = keys.drop_duplicates().reset_index(drop=True)
    pairs["code"] = normalise(pairs["source_code"]).astype("str")
    if as_of == "period":
        pairs["start"], pairs["end"] = _period_bounds(pairs["period"])
    else:
        pairs["start"] = _as_dates(pairs["period"])
        pairs["end"] = pairs["start"] + pd.Timedelta(days=1)
    levels = args.get("backdated_levels", [])
    backdated = regions["level"].isin(levels).to_numpy() if levels else np.zeros(len(regions), dtype=bool)
    dimension = pd.DataFrame({
        "code": regions["code"].astype("str"),
        "valid_from": _as_dates(regions["valid_from"]).mask(backdated).fillna(pd.Timestamp.min),
        "valid_to": _as_dates(regions["valid_to"]).fillna(pd.Timestamp.max),
    })
    joined = pairs.reset_index().merge(dimension, on="code", how="left")
    joined["known"] = joined["valid_from"].notna()
    joined["valid"] = joined["known"] & (joined["valid_from"] < joined["end"]) & (joined["valid_to"] > joined["start"])
    per_pair = joined.groupby("index").agg(known=("known", "any"), valid=("valid", "any"))
    verdict = np.where(per_pair["valid"], OK, np.where(
        pairs["start"].isna(), "period not understood",
        np.where(per_pair["known"], "not valid then", "not in the regions dimension")))
    pairs["verdict"] = [v if v == OK else f"{code} {period}: {v}"
                        for v, code, period in zip(verdict, pairs["source_code"], pairs["period"])]
    mapped = keys.merge(pairs[["source_code", "period", "verdict"]], on=["source_code", "period"], how="left")
    return _judged(mapped["verdict"].to_numpy(), frame.index)


def series_without_gaps(frame: pd.DataFrame, args: dict[str, Any], context: dict[str, Any]) -> pd.Series:
    """Does every series cover, between its first and last period, every period its table publishes?

    The calendar of a (source, table, indicator, period type) is the set of periods it has anywhere, so
    tables published every other year or in 3-year windows need no special rules. The row after a gap
    says which periods are missing.
    """
    series_key = list(args.get("series_key", SERIES_KEY))
    calendar_key = [c for c in ["source", "table_id", "indicator_id", "period_type"] if c in frame.columns]
    work = frame[[*dict.fromkeys([*series_key, *calendar_key, "period"])]].astype("str")
    periods = work[[*calendar_key, "period"]].drop_duplicates().sort_values([*calendar_key, "period"])
    periods["rank"] = periods.groupby(calendar_key, sort=False).cumcount()
    work = work.merge(periods, on=[*calendar_key, "period"], how="left")
    work["series"] = work.groupby([*dict.fromkeys([*series_key, *calendar_key])], sort=False).ngroup()
    work["row"] = np.arange(len(work))
    ordered = work.sort_values(["series", "rank"])
    step = ordered.groupby("series", sort=False)["rank"].diff()
    gap_rows = ordered[step > 1]
    verdict = np.full(len(work), OK, dtype=object)
    if len(gap_rows):
        by_rank = periods.set_index([*calendar_key, "rank"])["period"]
        for row, gap in zip(gap_rows["row"], step[step > 1]):
            record = work.iloc[row]
            calendar = tuple(record[c] for c in calendar_key)
            missing = [by_rank[(*calendar, r)] for r in range(record["rank"] - int(gap) + 1, record["rank"])]
            series = " ".join(str(record[c]) for c in series_key)
            verdict[row] = f"{series}: missing {', '.join(missing)} before {record['period']}"
    return _judged(verdict, frame.index)


def district_sums_match_municipal(frame: pd.DataFrame, args: dict[str, Any],
                                  context: dict[str, Any]) -> pd.Series:
    """Do the districts of a municipality (99 'unknown' included) add up to its total?

    Judged on the municipal total row, for the units listed (counts: never rates). The total is the
    municipality row (KKKK) or, in SSB's district tables, the KKKK00 'total over districts' row.
    Districts with status '.' (did not exist then) count as absent; any other missing value (suppressed,
    missing) means the group is not judged, since its sum is not known.
    """
    units = list(args.get("units", ["persons"]))
    absolute = float(args.get("absolute_tolerance", 0))
    relative = float(args.get("relative_tolerance", 0))
    normalise = context.get("normalise_region_code") or (lambda codes: codes)
    group_key = [c for c in GROUP_KEY if c in frame.columns]
    counted = frame.loc[frame["unit"].astype("str").isin(units),
                        [*group_key, "region_code", "region_level", "status", "value"]]
    verdict = pd.Series(None, index=frame.index, dtype=object)
    if counted.empty:
        return verdict
    # Codes are few and rows many: work out each distinct code once, then index by row.
    codes = pd.Categorical(counted["region_code"].astype("str"))
    distinct = pd.Series(codes.categories, dtype="str")
    digits = distinct.str.extract(r"^(\d+)", expand=False).fillna("")
    row = codes.codes
    level = counted["region_level"].astype("str")
    is_district = (level == "district").to_numpy() & (digits.str.len() == 6).to_numpy()[row]
    is_total_row = is_district & digits.str.endswith("00").to_numpy()[row]
    municipal = (level == "municipality").to_numpy() | is_total_row
    municipality = np.where(is_district, digits.str[:4].to_numpy()[row],
                            normalise(distinct).astype("str").to_numpy()[row])
    status = counted["status"].astype("str").where(counted["status"].notna(), None)
    is_counted_district = is_district & ~is_total_row & (status != ".").to_numpy()
    districts = counted[is_counted_district].assign(municipality=municipality[is_counted_district])
    sums = districts.groupby([*group_key, "municipality"], dropna=False).agg(
        district_sum=("value", "sum"), districts=("value", "size"), known=("value", "count"))
    sums["district_sum"] = sums["district_sum"].where(sums["known"] == sums["districts"])
    totals = counted[municipal].assign(municipality=municipality[municipal], row=lambda f: f.index)
    compared = totals.merge(sums.reset_index(), on=[*group_key, "municipality"], how="inner")
    compared = compared[compared["value"].notna() & compared["district_sum"].notna()]
    allowed = np.maximum(absolute, relative * compared["value"].abs())
    within = (compared["value"] - compared["district_sum"]).abs() <= allowed
    verdict.loc[compared["row"].to_numpy()] = [
        OK if ok else f"{code} {period}: {districts_n} districts sum to {s:g}, total is {v:g}"
        for ok, code, period, districts_n, s, v in zip(
            within, compared["region_code"], compared["period"], compared["districts"],
            compared["district_sum"], compared["value"])]
    return verdict


def value_status_consistent(frame: pd.DataFrame, args: dict[str, Any], context: dict[str, Any]) -> pd.Series:
    """A status symbol comes with a null value and a null value with a status symbol."""
    has_status = frame["status"].notna().to_numpy()
    has_value = frame["value"].notna().to_numpy()
    verdict = np.full(len(frame), OK, dtype=object)
    both = np.flatnonzero(has_status & has_value)
    verdict[both] = [f"value {v:g} with status {s!r}"
                     for v, s in zip(frame["value"].to_numpy()[both], frame["status"].to_numpy()[both])]
    verdict[~has_status & ~has_value] = "no value and no status"
    return _judged(verdict, frame.index)


def source_updated_age(frame: pd.DataFrame, args: dict[str, Any], context: dict[str, Any]) -> pd.Series:
    """Is the source's `updated` stamp at most max_age_days old (by the run's clock)?"""
    max_age = int(args.get("max_age_days", 800))
    now = pd.Timestamp(context["now"]).tz_convert("UTC").tz_localize(None)
    # A table has one or a few stamps: judge each distinct stamp once, then index by row.
    stamps = pd.Categorical(frame["source_updated"].astype("str"))
    distinct = pd.Series(stamps.categories, dtype="str")
    ages = (now - _as_dates(distinct)).dt.days
    verdicts = [OK if pd.notna(age) and age <= max_age else
                f"updated {stamp} is {int(age)} days old (limit {max_age})" if pd.notna(age) else
                f"updated {stamp!r} is not a timestamp"
                for stamp, age in zip(distinct, ages)]
    # A null stamp has code -1, which picks the last verdict.
    by_code = np.array([*verdicts, "no source_updated"], dtype=object)
    return _judged(by_code[stamps.codes], frame.index)


DERIVATIONS: dict[str, Derivation] = {
    "region_valid_for_period": Derivation(
        region_valid_for_period, {"column": (str,), "as_of": (str,), "backdated_levels": (list,)},
        needs=("regions",)),
    "series_without_gaps": Derivation(series_without_gaps, {"series_key": (list,)}),
    "district_sums_match_municipal": Derivation(
        district_sums_match_municipal,
        {"units": (list,), "absolute_tolerance": (int, float), "relative_tolerance": (int, float)}),
    "value_status_consistent": Derivation(value_status_consistent, {}),
    "source_updated_age": Derivation(source_updated_age, {"max_age_days": (int,)}),
}


# ------------------------------------------------------------------------------------------ running


def _gx():
    """GX, imported on first use with analytics and progress bars off; one ephemeral context, data source
    and batch definition per process, reused by every suite run."""
    global _GX_STATE
    if _GX_STATE is None:
        os.environ["GX_ANALYTICS_ENABLED"] = "false"
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        batch_definition = (context.data_sources.add_pandas("ci_pipeline_checks")
                            .add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole"))
        _GX_STATE = (gx, batch_definition)
    return _GX_STATE


_GX_STATE = None


def expectation_object(entry: SuiteEntry, kwargs: dict[str, Any] | None = None):
    """The GX expectation for an entry (kwargs resolved), or QualityError naming the file and entry."""
    gx, _ = _gx()
    expectation_class = _GX_CLASSES.get(entry.expectation) or _gx_class(gx, entry.expectation)
    try:
        return expectation_class(**(entry.kwargs if kwargs is None else kwargs),
                                 description=entry.description or entry.expectation)
    except Exception as exc:  # GX raises pydantic errors; name where the entry is written
        raise QualityError(f"{entry.label}: GX rejects kwargs {entry.kwargs}: {exc}") from exc


_GX_CLASSES: dict[str, Any] = {}


def _gx_class(gx, name: str):
    for class_name in dir(gx.expectations):
        candidate = getattr(gx.expectations, class_name)
        if getattr(candidate, "expectation_type", None) == name:
            _GX_CLASSES[name] = candidate
            return candidate
    raise QualityError(f"GX {gx.__version__} has no expectation {name!r}")


def run_suite(suite: Suite, frame: pd.DataFrame, context: dict[str, Any] | None = None,
              asset: str | None = None) -> SuiteResult:
    """Run a suite on a frame through GX's own validation.

    context: regions (DataFrame, the regions dimension), normalise_region_code (callable on a Series),
    now (aware datetime; default the current time), previous_row_count (int or None). An entry whose
    derivation or derived kwarg lacks its context is reported as not run, with the reason.
    """
    context = {"now": datetime.now(UTC), **(context or {})}
    asset = asset or suite.assets[0]
    derived: dict[str, pd.Series] = {}
    results: dict[int, EntryResult] = {}
    to_validate: dict[int, dict[str, Any]] = {}  # entry number -> resolved kwargs
    for number, entry in enumerate(suite.entries):
        skip = _missing_context(entry, context)
        if skip:
            results[number] = _result(entry, success=None, skip_reason=skip)
            continue
        if entry.derive and entry.derive["name"] not in derived:
            derivation = DERIVATIONS[entry.derive["name"]]
            arguments = {k: v for k, v in entry.derive.items() if k != "name"}
            try:
                derived[entry.derive["name"]] = derivation.function(frame, arguments, context)
            except (KeyError, ValueError, TypeError) as exc:
                results[number] = _result(entry, success=False,
                                          error=f"derivation {entry.derive['name']} failed: {exc!r}")
                continue
        to_validate[number] = _resolve_kwargs(entry, context)
    if to_validate:
        checked = frame.assign(**derived) if derived else frame
        results.update(_validate(suite, checked, to_validate))
    return SuiteResult(suite=suite.name, path=suite.path, asset=asset,
                       entries=tuple(results[n] for n in range(len(suite.entries))))


def _validate(suite: Suite, frame: pd.DataFrame, to_validate: dict[int, dict[str, Any]]) -> dict[int, EntryResult]:
    """GX's verdict on the entries, in two validations of one batch.

    Most runs pass, and a result format beyond BOOLEAN_ONLY adds metrics (counts, samples) to every
    expectation: every entry is first decided with BOOLEAN_ONLY, and only the entries that failed are
    validated again with BASIC for their unexpected count and sample. GX's V1 Validator (what
    Batch.validate() builds internally) loads and fingerprints the batch once for both validations.
    """
    from great_expectations.validator.v1_validator import Validator

    gx, batch_definition = _gx()

    def gx_suite(numbers: list[int]):
        expectations = []
        for number in numbers:
            expectation = expectation_object(suite.entries[number], to_validate[number])
            expectation.meta = {"entry": number}
            expectations.append(expectation)
        return gx.ExpectationSuite(name=suite.name, expectations=expectations)

    validator = Validator(batch_definition=batch_definition, batch_parameters={"dataframe": frame},
                          result_format="BOOLEAN_ONLY")
    results: dict[int, EntryResult] = {}
    failed = []
    for outcome in validator.validate_expectation_suite(gx_suite(list(to_validate))).results:
        number = outcome.expectation_config.meta["entry"]
        if outcome.success:
            results[number] = _entry_result(suite.entries[number], outcome)
        else:
            failed.append(number)
    if failed:
        validator.result_format = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE}
        for outcome in validator.validate_expectation_suite(gx_suite(failed)).results:
            number = outcome.expectation_config.meta["entry"]
            results[number] = _entry_result(suite.entries[number], outcome)
    return results


def _missing_context(entry: SuiteEntry, context: dict[str, Any]) -> str | None:
    if entry.derive:
        for need in DERIVATIONS[entry.derive["name"]].needs:
            if context.get(need) is None:
                return f"derivation {entry.derive['name']} needs {need}, which this run does not have"
    if _derived_kwargs(entry.kwargs) and context.get("previous_row_count") is None:
        return "no previous published version to compare the row count with"
    return None


def _resolve_kwargs(entry: SuiteEntry, context: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(entry.kwargs)
    for key in _derived_kwargs(kwargs):
        ratio = kwargs[key]["previous_row_count_ratio"]
        bound = ratio * context["previous_row_count"]
        kwargs[key] = math.floor(bound) if key == "min_value" else math.ceil(bound)
    return kwargs


def _result(entry: SuiteEntry, **values: Any) -> EntryResult:
    return EntryResult(expectation=entry.expectation, severity=entry.severity, description=entry.description,
                       source=entry.label, **values)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _entry_result(entry: SuiteEntry, outcome: Any) -> EntryResult:
    # GX reports an exception either directly or keyed by the metric that raised it.
    info = outcome.exception_info or {}
    raised = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    errors = [str(i.get("exception_message")) for i in raised if i.get("raised_exception")]
    if errors:
        return _result(entry, success=False, error="; ".join(errors))
    result = outcome.result or {}
    return _result(entry, success=bool(outcome.success),
                   unexpected_count=result.get("unexpected_count"),
                   element_count=result.get("element_count"),
                   sample=_json_safe(list(result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]),
                   observed_value=_json_safe(result.get("observed_value")))
