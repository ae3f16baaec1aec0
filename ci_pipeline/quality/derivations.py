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
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import observation_key_without

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


def _judged(values: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype=object)


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
    pairs = keys.drop_duplicates().reset_index(drop=True)
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
    work = frame[[*dict.fromkeys([*series_key, *calendar_key, "period"])]]
    work = work.assign(**{column: _text(work[column]) for column in work.columns})
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
    missing) means the group is not judged, since its sum is not known. Tables listed in `except_tables`
    (ids) are not judged: their districts are documented not to add up to their total.
    """
    units = list(args.get("units", ["persons"]))
    skipped = frame["table_id"].astype("str").isin([str(t) for t in args.get("except_tables", [])])
    absolute = float(args.get("absolute_tolerance", 0))
    relative = float(args.get("relative_tolerance", 0))
    normalise = context.get("normalise_region_code") or (lambda codes: codes)
    group_key = [c for c in GROUP_KEY if c in frame.columns]
    counted = frame.loc[frame["unit"].astype("str").isin(units) & ~skipped,
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


DERIVATIONS: dict[str, Derivation] = {
    "region_valid_for_period": Derivation(region_valid_for_period, RegionValidForPeriodArguments,
                                          needs=("regions",)),
    "series_without_gaps": Derivation(series_without_gaps, SeriesWithoutGapsArguments),
    "district_sums_match_municipal": Derivation(district_sums_match_municipal, DistrictSumsArguments),
    "value_status_consistent": Derivation(value_status_consistent, ValueStatusArguments),
}
