"""Harmonising tidy observations to today's region codes, one NAMED rule per case (see RULES).

`harmonise()` sets original_region_code / region_code / region_level / region_name on tidy observations
and reports everything that was renumbered, respelled, not mapped or invalid for its period.

Decisions (documented here because the marts depend on them):
- Nothing is dropped. A row that cannot honestly be given today's code keeps the code of the region it
  denotes (the source's code, or for SSB's 1988-2003 Oslo / 2001-2004 Trondheim divisions a historical
  code such as "030101@1988", because the same digits mean Gamle Oslo today) and `harmonised` False.
- Only 1:1 relations are mapped onto today's code (same, respelled, renumbered). A municipality merged
  into a bigger one (0104 Moss -> 3002 -> 3103) is NOT relabelled 3103: its figure covers part of
  today's area, and two predecessors would collide on the same key. The history still resolves the
  chain (current_code 3103, relation merged) and the report names it. Split municipalities
  (1850 Tysfjord, 5012 Snillfjord) have no current_code at all.
- SSB district totals ("030100aa", "120100a", "460100") are mapped to the municipality with
  `aggregate_of_districts` True. If the same table also publishes the municipality itself for the same
  key, the municipal row wins and the total stays unmapped (outcome "collision"); so the unique key of
  ARCHITECTURE.md holds.
- Validity: a historical code observed on or after its valid_to is invalid for that period (SSB exports
  the ended divisions with zeros for later years). District codes are also checked against their start
  (110308 Finnøy before 2020 is invalid), except that a district renumbered 1:1 (120101 Arna -> 460101)
  is accepted from its predecessor's start, since sources publish today's codes backwards. Municipal
  and county codes are accepted before their start for the same reason (FHI always, SSB through its
  agg_* codelists publish today's geography for earlier years).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline.geography.history import MAPPED_RELATIONS
from ci_pipeline.geography.parse import GeographyError
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import OBSERVATION_KEY
from ci_pipeline.tidy import compact, distinct_rows, text_categories

RULES = (
    "same", "unknown_district", "ssb_suffix_2004_division", "pre_2004_oslo_division", "bergen_2020",
    "trondheim_2018", "stavanger_2020", "municipal_reform_2018", "municipal_reform_2020",
    "municipal_reform_2024", "county_reform_2018", "county_reform_2020", "county_reform_2024",
    "split_municipality", "split_county", "district_total", "republished_on_todays_code", "unknown_code",
)
OUTCOMES = ("unchanged", "respelled", "renumbered", "not_mapped", "invalid_for_period", "unknown_code", "collision")
# Text columns that harmonise() adds or rewrites, kept compact (ci_pipeline.tidy.compact). The region codes
# stay plain text: they are short, and compared with each other, which categoricals allow only with equal
# categories.
COMPACT_COLUMNS = ["region_level", "region_name", "harmonisation_rule", "harmonisation_outcome"]
_SUFFIXED_DISTRICT = re.compile(r"^(\d{4})(?!00)\d{2}a$")


def period_reference_date(period: str, period_type: str) -> str:
    """The date whose geography a period is published in (ISO text; ci_pipeline.periods.Period)."""
    try:
        return parse_period(period, period_type).reference_date.isoformat()
    except PeriodError:
        raise GeographyError(f"cannot read period {period!r} of period_type {period_type!r}") from None


def _covers(entry: dict[str, Any], when: str) -> bool:
    return (entry["valid_from"] is None or entry["valid_from"] <= when) and (
        entry["valid_to"] is None or when < entry["valid_to"])


def _unmapped_code(code: str, entry: dict[str, Any]) -> str:
    # The source's spelling, unless those digits mean one of today's districts (SSB's older divisions).
    return entry["region_code"] if entry["convention"] == "ssb_suffix" else code


def _resolve_observed_code(code: str, when: str, suffixed: set[str],
                           history: dict[str, list[dict[str, Any]]], allow_republished: bool) -> dict[str, Any]:
    convention = "ssb_suffix" if len(code) == 6 and code.isdigit() and code[:4] in suffixed else "plain"
    accepted = {"any", convention, "republished"} if allow_republished else {"any", convention}
    candidates = [entry for entry in history.get(code, []) if entry["convention"] in accepted]
    if not candidates:
        return {"region_code": code, "harmonised": False, "rule": "unknown_code", "outcome": "unknown_code",
                "relation": None, "current_code": None, "aggregate_of_districts": False,
                "note": "code not in the KLASS-based code history"}
    covering = [entry for entry in candidates if _covers(entry, when)]
    if len(covering) > 1:
        raise GeographyError(f"code history: {code} on {when} matches {len(covering)} entries")
    if not covering:
        entry = candidates[0]
        return {"region_code": _unmapped_code(code, entry), "harmonised": False, "rule": entry["rule"],
                "outcome": "invalid_for_period", "relation": entry["relation"], "current_code": None,
                "aggregate_of_districts": entry["aggregate_of_districts"],
                "note": f"valid {entry['valid_from'] or '...'} to {entry['valid_to'] or '...'}, observed for {when}"}
    entry = covering[0]
    mapped = entry["relation"] in MAPPED_RELATIONS and entry["current_code"] is not None
    if not mapped:
        outcome = "not_mapped"
    elif entry["current_code"] == code:
        outcome = "unchanged"
    elif entry["region_code"] == entry["current_code"]:
        outcome = "respelled"
    else:
        outcome = "renumbered"
    return {"region_code": entry["current_code"] if mapped else _unmapped_code(code, entry), "harmonised": mapped,
            "rule": entry["rule"], "outcome": outcome, "relation": entry["relation"],
            "current_code": entry["current_code"], "aggregate_of_districts": entry["aggregate_of_districts"],
            "note": entry["note"]}


REPORT_COLUMNS = ["source", "table_id", "original_region_code", "region_code", "current_code", "rule", "relation",
                  "outcome", "aggregate_of_districts", "rows", "first_period", "last_period", "note"]


def harmonise(observations: pd.DataFrame, history: pd.DataFrame,
              regions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy observations with today's region codes, and a report of every code that was not unchanged.

    Adds original_region_code (as the source spelled it), region_code (today's code, or the code of the
    historical region when there is no 1:1 successor), region_level and region_name from the regions
    dimension, `harmonised` (region_code is today's code), `harmonisation_rule` (a name from RULES) and
    `aggregate_of_districts` (an SSB total over districts given the municipality's code).
    """
    required = ["source", "table_id", "region_code", "region_level", "period", "period_type"]
    missing = [column for column in required if column not in observations.columns]
    if missing:
        raise GeographyError(f"harmonise: observations lack columns {missing}")
    # pandas copies on write: a shallow copy keeps the caller's frame unchanged without copying its columns.
    frame = observations.copy(deep=False).reset_index(drop=True)
    # Everything is worked out once per distinct (table, code, period) and spread over the rows by
    # position: the rows are many (millions in a population table), the combinations few.
    distinct, positions = distinct_rows(frame, ["source", "table_id", "region_code", "period", "period_type"])
    combos = list(distinct.itertuples(index=False, name=None))
    when_of = {(period, period_type): period_reference_date(period, period_type)
               for period, period_type in {(c[3], c[4]) for c in combos}}
    combos = [(str(source), str(table_id), str(code), when_of[(period, period_type)])
              for source, table_id, code, period, period_type in combos]

    suffixed_by_table: dict[tuple[str, str], set[str]] = defaultdict(set)
    codes_by_table: dict[tuple[str, str], set[str]] = defaultdict(set)
    for source, table_id, code, _ in combos:
        codes_by_table[(source, table_id)].add(code)
        match = _SUFFIXED_DISTRICT.match(code)
        if match:
            suffixed_by_table[(source, table_id)].add(match.group(1))

    by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in history.astype(object).where(history.notna(), None).to_dict("records"):
        by_code[entry["original_code"]].append(entry)

    predecessors: dict[str, set[str]] = defaultdict(set)
    for entries in by_code.values():
        for entry in entries:
            if entry["relation"] == "renumbered" and entry["current_code"]:
                predecessors[entry["current_code"]].add(entry["original_code"])

    resolution = pd.DataFrame.from_records([
        _resolve_observed_code(c, w, suffixed_by_table.get((s, t), set()), by_code,
                               allow_republished=not (predecessors.get(c, set()) & codes_by_table[(s, t)]))
        for s, t, c, w in combos
    ])
    resolution["original_region_code"] = [code for _, _, code, _ in combos]
    resolution["_when"] = [when for _, _, _, when in combos]
    resolution["_candidate"] = _may_collide(combos, resolution)
    resolution = compact(resolution, ["rule", "outcome", "relation", "current_code", "note", "_when"])
    frame = frame.drop(columns=["region_code"])
    for column in resolution.columns:
        frame[column] = resolution[column].take(positions).set_axis(frame.index)
    frame = _unmap_collisions(frame, regions)

    code_of_row, codes = pd.factorize(frame["region_code"])
    # A code with several validity rows takes its last (latest) row's level and name.
    dimension = regions.drop_duplicates("code", keep="last").set_index("code")
    known = np.append(pd.Index(codes).isin(dimension.index), False)[code_of_row]
    # A code outside the dimension keeps the level its source spelling implies.
    outside = frame.index[~known]
    source_level = frame["region_level"].iloc[~known].astype("str").to_numpy()
    frame["region_level"] = _by_code(pd.Series(dimension["level"].reindex(codes).to_numpy(), dtype="str"), code_of_row)
    if len(outside):
        _set_rows(frame, outside, "region_level", source_level)
    frame["region_name"] = _by_code(pd.Series(dimension["name_nb"].reindex(codes).to_numpy(), dtype="str"), code_of_row)
    frame["harmonisation_rule"] = frame["rule"]
    frame["harmonisation_outcome"] = frame["outcome"]

    report = _report(frame, positions)
    frame = frame.drop(columns=["_when", "_candidate", "rule", "outcome", "relation", "current_code", "note"])
    ordered = [c for c in observations.columns if c != "region_code"]
    insert_at = list(observations.columns).index("region_code")
    ordered[insert_at:insert_at] = ["region_code"]
    extra = ["original_region_code", "region_name", "harmonised", "harmonisation_rule", "harmonisation_outcome",
             "aggregate_of_districts"]
    frame = compact(frame[ordered + [c for c in extra if c not in ordered]], COMPACT_COLUMNS)
    frame["harmonised"] = frame["harmonised"].astype(bool)
    frame["aggregate_of_districts"] = frame["aggregate_of_districts"].astype(bool)
    return frame, report


def _by_code(values_of_code: pd.Series, code_of_row: np.ndarray) -> pd.Series:
    """A compact column from one value per distinct code (code -1: null)."""
    dtype = text_categories(values_of_code.dropna().unique())
    codes = np.append(dtype.categories.get_indexer(values_of_code), -1)[code_of_row]
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype))


def _may_collide(combos: list[tuple[str, str, str, str]], resolution: pd.DataFrame) -> np.ndarray:
    """Which combinations share today's code with another source spelling of the same table and date:
    only their rows can collide on the observation key (a table repeating a key under one spelling is
    the data's duplicate, left for the unique-key expectation to name)."""
    harmonised = resolution["harmonised"].to_numpy(bool)
    targets = pd.DataFrame({"source": [s for s, _, _, _ in combos], "table": [t for _, t, _, _ in combos],
                            "when": [w for _, _, _, w in combos], "code": resolution["region_code"].to_numpy(),
                            # only the spellings of harmonised combinations count
                            "original": np.where(harmonised, np.array([c for _, _, c, _ in combos], dtype=object), None)})
    spellings = targets.groupby(["source", "table", "when", "code"])["original"].transform("nunique")
    return (spellings > 1).to_numpy(bool)


def _unmap_collisions(frame: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Two source rows given the same key: one keeps today's code, the others keep their own.

    The winner is the row observed within its own code's life: SSB also exports today's codes for years
    before they existed (filled with zeros), and those lose to the predecessor's real figures. Among the
    rest, the row the source already spelled with today's code wins (a municipality over its total
    over districts).
    """
    key = [column for column in OBSERVATION_KEY if column in frame.columns]
    candidates = frame.index[frame["_candidate"].to_numpy(bool)]
    colliding = candidates[frame.loc[candidates, "harmonised"].to_numpy(bool)
                           & frame.loc[candidates, key].duplicated(keep=False).to_numpy()]
    if len(colliding):
        starts = dict(zip(regions["code"], regions["valid_from"]))
        group = frame.loc[colliding].copy()
        start = group["region_code"].map(starts)
        group["_backcast"] = (group["original_region_code"] == group["region_code"]) & start.notna() & (
            group["_when"].astype("str") < start.fillna(""))
        group["_respelled"] = group["original_region_code"] != group["region_code"]
        group = group.sort_values(key + ["_backcast", "_respelled"], kind="stable")
        position = group.groupby(key, sort=False).cumcount()
        rank = ["_backcast", "_respelled"]
        winners = group.loc[position == 0].set_index(key)[rank]
        runners_up = group.loc[position == 1].set_index(key)[rank]
        tied = (winners.loc[runners_up.index] == runners_up).all(axis=1)
        # Rows that cannot be told apart keep their key: the duplicate is the data's, and the mart's
        # unique-key expectation blocks its publication, naming the key.
        undecided = group.set_index(key).index.isin(tied[tied].index)
        losers = group.index[(position > 0).to_numpy() & ~undecided]
        frame.loc[losers, "harmonised"] = False
        _set_rows(frame, losers, "outcome", "collision")
        _set_rows(frame, losers, "note", "another row of the table has this key under today's code")
        _set_rows(frame, losers, "region_code", frame.loc[losers, "original_region_code"].astype("str"))
    return frame


def _set_rows(frame: pd.DataFrame, rows: pd.Index, column: str, values) -> None:
    """frame.loc[rows, column] = values, adding the new values to a compact (categorical) column first."""
    if isinstance(frame[column].dtype, pd.CategoricalDtype):
        new = pd.Series(values, index=rows, dtype="str").dropna().unique()
        categories = frame[column].cat.categories
        frame[column] = frame[column].cat.set_categories(categories.union(pd.Index(new, dtype="str")))
    frame.loc[rows, column] = values


def _report(frame: pd.DataFrame, combination: np.ndarray) -> pd.DataFrame:
    """The codes that were not unchanged, per table, spelling, today's code, rule and outcome.
    `combination`: each row's (table, code, period) combination. Its rows agree on every column of the
    report, except those a collision unmapped: the rows are reduced to (combination, collided) first, in
    the order they first occur, and only those few are grouped."""
    noted = np.flatnonzero((frame["outcome"] != "unchanged").to_numpy())
    if not len(noted):
        return pd.DataFrame(columns=REPORT_COLUMNS)
    collided = (frame["outcome"] == "collision").to_numpy()[noted]
    _, first, part = np.unique(combination[noted] * 2 + collided, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    group = ["source", "table_id", "original_region_code", "region_code", "rule", "outcome"]
    reduced = frame[[*group, "current_code", "relation", "aggregate_of_districts", "period", "note"]].iloc[
        noted[first[order]]].assign(rows=np.bincount(part)[order])
    report = reduced.groupby(group, dropna=False, sort=True).agg(
        current_code=("current_code", "first"), relation=("relation", "first"),
        aggregate_of_districts=("aggregate_of_districts", "first"), rows=("rows", "sum"),
        first_period=("period", "min"), last_period=("period", "max"), note=("note", "first"),
    ).reset_index()
    return report[REPORT_COLUMNS]
