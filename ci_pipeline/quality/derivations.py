"""Derivations: checks GX cannot express on one frame, computed in pandas for a GX expectation to decide.

Checks GX cannot express on one frame (region valid for its period against the regions dimension, series
without gaps, district sums against the municipal total, value/status consistency, the age of the
source's `updated` stamp) are DERIVATIONS: plain pandas computes a column holding "ok" or a description
of the problem for each row it judges (null where it does not judge), and a GX expectation on that
column decides, so GX still reports the count and a sample of the offending values. An entry declares
its derivation with `derive:` and checks the column of the same name:

      - expectation: expect_column_values_to_be_in_set
        derive: {name: series_without_gaps}
        kwargs: {column: series_without_gaps, value_set: [ok]}

Each derivation returns a column of "ok" / a problem text per row it judges, null elsewhere. Its
arguments (what `derive:` may set besides the name) are a TypedDict validated when the suite loads;
`context` carries what the frame alone does not: regions (the regions dimension), now (a datetime),
normalise_region_code (source spelling -> dimension code, e.g. 030101a -> 030101).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Required

import numpy as np
import pandas as pd
from pydantic import Field, StrictStr
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from ci_pipeline.config import Number, forbid_extra_keys
from ci_pipeline.geography.district_sums import district_sums_against_totals, municipality_numbers
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import observation_key_without
from ci_pipeline.tidy import distinct_rows, group_numbers

OK = "ok"
SERIES_KEY = observation_key_without("period")
GROUP_KEY = [*observation_key_without("region_code"), "unit"]


@dataclass(frozen=True)
class Derivation:
    function: Callable[[pd.DataFrame, dict[str, Any], dict[str, Any]], pd.Series]
    arguments: type  # the `derive:` mapping it accepts: a TypedDict whose `name` is the derivation's
    needs: tuple[str, ...] = ()  # context keys without which the entry is skipped (and says so)


# What `derive:` may set for each derivation (an argument left out takes the function's default).
NonNegative = Annotated[Number, Field(ge=0)]


@forbid_extra_keys
class RegionValidForPeriodArguments(TypedDict, total=False):
    name: Required[Literal["region_valid_for_period"]]
    column: StrictStr
    as_of: Literal["period", "source_updated", "today"]
    backdated_levels: list[StrictStr]


@forbid_extra_keys
class SeriesWithoutGapsArguments(TypedDict, total=False):
    name: Required[Literal["series_without_gaps"]]
    series_key: list[StrictStr]


@forbid_extra_keys
class DistrictSumsArguments(TypedDict, total=False):
    name: Required[Literal["district_sums_match_municipal"]]
    units: list[StrictStr]
    absolute_tolerance: NonNegative
    relative_tolerance: NonNegative
    except_tables: list[StrictStr]  # tables whose districts do not add up to the total by design


@forbid_extra_keys
class ValueStatusArguments(TypedDict):
    name: Literal["value_status_consistent"]


def _text(column: pd.Series) -> pd.Series:
    """A column as text: a compact one (ordered categorical of str, ci_pipeline.tidy.compact) as it is,
    since it compares, sorts and joins as text already; any other as str."""
    if isinstance(column.dtype, pd.CategoricalDtype) and column.cat.ordered \
            and column.cat.categories.dtype == "str" and column.cat.categories.is_monotonic_increasing:
        return column
    return column.astype("str")


def _period_bounds(periods: pd.Series) -> tuple[pd.Series, pd.Series]:
    """[start, end) of each period (ci_pipeline.periods; NaT when not understood)."""
    bounds = {}
    for text in periods.unique():
        try:
            period = parse_period(text)
        except PeriodError:
            bounds[text] = (pd.NaT, pd.NaT)
        else:
            bounds[text] = (pd.Timestamp(period.start), pd.Timestamp(period.end))
    start = pd.Series([bounds[text][0] for text in periods], index=periods.index, dtype="datetime64[ns]")
    end = pd.Series([bounds[text][1] for text in periods], index=periods.index, dtype="datetime64[ns]")
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
    codes = _text(frame[column])
    if as_of == "period":
        keys = pd.DataFrame({"source_code": codes, "period": _text(frame["period"])})
    elif as_of == "source_updated":
        keys = pd.DataFrame({"source_code": codes, "period": _text(frame["source_updated"])})
    else:
        keys = pd.DataFrame({"source_code": codes, "period": context["now"].date().isoformat()}, index=frame.index)
    # Judged once per distinct (code, period) pair; pair_of_row is each row's pair.
    pairs, pair_of_row = distinct_rows(keys, ["source_code", "period"])
    pairs["code"] = normalise(pairs["source_code"].astype("str")).astype("str")
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
    problem_of_pair = np.full(len(pairs), None, dtype=object)
    problem_of_pair[:] = [None if v == OK else f"{code} {period}: {v}"
                          for v, code, period in zip(verdict, pairs["source_code"], pairs["period"])]
    rows = np.flatnonzero(pd.notna(problem_of_pair)[pair_of_row])
    judged = dict(zip(rows.tolist(), problem_of_pair[pair_of_row[rows]].tolist()))
    return _verdicts(len(frame), frame.index, judged, default=OK)


def series_without_gaps(frame: pd.DataFrame, args: dict[str, Any], context: dict[str, Any]) -> pd.Series:
    """Does every series cover, between its first and last period, every period its table publishes?

    The calendar of a (source, table, indicator, period type) is the set of periods it has anywhere, so
    tables published every other year or in 3-year windows need no special rules. The row after a gap
    says which periods are missing. Worked out on integer codes (a group number per row, a rank per
    period), so a table of millions of rows is never copied; only the rows after a gap are read as text.
    """
    series_key = list(args.get("series_key", SERIES_KEY))
    calendar_key = [c for c in ["source", "table_id", "indicator_id", "period_type"] if c in frame.columns]
    calendar = group_numbers(frame, calendar_key)
    period_codes, periods = pd.factorize(_text(frame["period"]).to_numpy(), use_na_sentinel=False)
    periods = np.asarray(periods, dtype=object)
    # Each distinct period's place in text order, and the periods each calendar has, ranked that way.
    text_rank = np.empty(len(periods), dtype=np.int64)
    by_text = np.argsort(periods.astype("str"), kind="stable")
    text_rank[by_text] = np.arange(len(periods))
    pairs, row_pair = np.unique(calendar * len(periods) + text_rank[period_codes], return_inverse=True)
    pair_calendar = pairs // max(len(periods), 1)
    row_rank = (np.arange(len(pairs)) - np.searchsorted(pair_calendar, pair_calendar, side="left"))[row_pair]
    series = group_numbers(frame, [*dict.fromkeys([*series_key, *calendar_key])])
    order = np.lexsort((row_rank, series))
    step = np.diff(row_rank[order])
    after_gap = (series[order][1:] == series[order][:-1]) & (step > 1)
    judged = {}
    for row, gap in zip(order[1:][after_gap].tolist(), step[after_gap].tolist()):
        pair = row_pair[row]
        missing = [periods[by_text[pairs[p] % len(periods)]] for p in range(pair - gap + 1, pair)]
        series_text = " ".join(str(_text(frame[c]).iloc[row]) for c in series_key)
        judged[row] = f"{series_text}: missing {', '.join(missing)} before {periods[period_codes[row]]}"
    return _verdicts(len(frame), frame.index, judged, default=OK)


def district_sums_match_municipal(frame: pd.DataFrame, args: dict[str, Any],
                                  context: dict[str, Any]) -> pd.Series:
    """Do the districts of a municipality (99 'unknown' included) add up to its total?

    Judged on the municipal total row, for the units listed (counts: never rates). The total is the
    municipality row (KKKK) or, in SSB's district tables, the KKKK00 'total over districts' row.
    Districts with status '.' (did not exist then) count as absent; any other missing value (suppressed,
    missing) means the group is not judged, since its sum is not known. Tables listed in `except_tables`
    (ids) are not judged: their districts are documented not to add up to their total. Each distinct
    code is read once; the rows are summed by ci_pipeline.geography.district_sums, never copied.
    """
    units = [str(u) for u in args.get("units", ["persons"])]
    absolute = float(args.get("absolute_tolerance", 0))
    relative = float(args.get("relative_tolerance", 0))
    normalise = context.get("normalise_region_code") or (lambda codes: codes)
    group_key = [c for c in GROUP_KEY if c in frame.columns]
    counted = (_text(frame["unit"]).isin(units)
               & ~_text(frame["table_id"]).isin([str(t) for t in args.get("except_tables", [])])).to_numpy(bool)
    code_of_row, distinct = pd.factorize(_text(frame["region_code"]).to_numpy(), use_na_sentinel=True)
    counted = counted & (code_of_row >= 0)
    distinct = pd.Series(np.asarray(distinct, dtype=object), dtype="str")
    digits = distinct.str.extract(r"^(\d+)", expand=False).fillna("")
    level = _text(frame["region_level"])
    is_district = (level == "district").fillna(False).to_numpy(bool) & (digits.str.len() == 6).to_numpy()[code_of_row]
    is_total_row = is_district & digits.str.endswith("00").to_numpy()[code_of_row]
    municipal = (level == "municipality").fillna(False).to_numpy(bool) | is_total_row
    # The municipality of each row: a district's first four digits, else its own (normalised) code.
    municipality = municipality_numbers(code_of_row, digits.str[:4], normalise(distinct).astype("str"), is_district)
    summed = counted & is_district & ~is_total_row & ~_text(frame["status"]).eq(".").fillna(False).to_numpy(bool)
    sums = district_sums_against_totals(frame, group_key, municipality, summed, counted & municipal)
    within = np.abs(sums.total - sums.district_sum) <= np.maximum(absolute, relative * np.abs(sums.total))
    codes = distinct.to_numpy()[code_of_row[sums.totals]]
    periods = _text(frame["period"]).to_numpy()[sums.totals]
    judged = {row: OK if ok else f"{code} {period}: {count} districts sum to {s:g}, total is {v:g}"
              for row, ok, code, period, count, s, v in zip(sums.totals.tolist(), within, codes, periods,
                                                            sums.districts.tolist(), sums.district_sum, sums.total)}
    return _verdicts(len(frame), frame.index, judged, default=None)


def _verdicts(length: int, index: pd.Index, judged: dict[int, str], default: str | None) -> pd.Series:
    """A verdict column: `default` on every row but those `judged` (row position -> verdict), stored as
    a categorical (a code per row, not a string per row: the column is as long as the table)."""
    categories = pd.Index([*dict.fromkeys([*([default] if default is not None else []), *judged.values()])],
                          dtype="str")
    codes = np.full(length, -1 if default is None else 0, dtype=np.int32)
    if judged:
        rows = np.fromiter(judged.keys(), dtype=np.int64, count=len(judged))
        codes[rows] = categories.get_indexer(list(judged.values()))
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=index)


def value_status_consistent(frame: pd.DataFrame, args: dict[str, Any], context: dict[str, Any]) -> pd.Series:
    """A status symbol comes with a null value and a null value with a status symbol."""
    has_status = frame["status"].notna().to_numpy()
    has_value = frame["value"].notna().to_numpy()
    both = np.flatnonzero(has_status & has_value)
    judged = dict(zip(both.tolist(), (f"value {v:g} with status {s!r}" for v, s in
                                      zip(frame["value"].to_numpy()[both], frame["status"].to_numpy()[both]))))
    judged.update(dict.fromkeys(np.flatnonzero(~has_status & ~has_value).tolist(), "no value and no status"))
    return _verdicts(len(frame), frame.index, judged, default=OK)


DERIVATIONS: dict[str, Derivation] = {
    "region_valid_for_period": Derivation(region_valid_for_period, RegionValidForPeriodArguments,
                                          needs=("regions",)),
    "series_without_gaps": Derivation(series_without_gaps, SeriesWithoutGapsArguments),
    "district_sums_match_municipal": Derivation(district_sums_match_municipal, DistrictSumsArguments),
    "value_status_consistent": Derivation(value_status_consistent, ValueStatusArguments),
}
