"""The code history: every spelling a source uses for a region, what it denotes, and its code today.

`build_code_history()` follows the KLASS changes from each ended code to today's (renumbered, merged,
split, ceased), adds the district codes of the KLASS versions and SSB's own spellings (`030101a`, the
totals `030100aa`/`120100a`/`460100`, the older divisions), and checks the result: validity windows of
one spelling never overlap, and the KLASS change table 742 agrees with the renumberings derived here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ci_pipeline.geography.load import KlassGeography
from ci_pipeline.geography.parse import GeographyError, KlassCorrespondenceTable
from ci_pipeline.geography.regions import DISTRICT_RULES, SSB_OLD_DIVISIONS

HISTORY_COLUMNS = ["original_code", "convention", "valid_from", "valid_to", "region_code", "current_code",
                   "relation", "rule", "aggregate_of_districts", "note"]
RELATIONS = ("same", "renumbered", "merged", "split", "ceased", "unknown_district")
# Relations whose rows are given today's code.
MAPPED_RELATIONS = frozenset({"same", "renumbered", "unknown_district"})
CONVENTIONS = ("any", "plain", "ssb_suffix", "republished")


@dataclass(frozen=True)
class _Step:
    changed_on: str
    successors: tuple[str, ...]
    relation: str  # renumbered, merged, split, ceased


def _steps(changes: pd.DataFrame) -> dict[str, _Step]:
    """For each code that ended: what it became on that date.

    A single successor is a renumbering only when this code is its only source and the successor did
    not exist before (no oldCode == newCode row that date, no earlier change naming it); otherwise the
    code was merged into it.
    """
    steps = {}
    seen_before: set[str] = set()
    for changed_on, group in changes.groupby("changed_on", sort=True):
        olds = {code for code in group["old_code"] if code is not None}
        news = {code for code in group["new_code"] if code is not None}
        for code in sorted(olds - news):
            successors = tuple(sorted({row.new_code for row in group.itertuples()
                                       if row.old_code == code and row.new_code is not None}))
            if not successors:
                relation = "ceased"
            elif len(successors) > 1:
                relation = "split"
            else:
                target = successors[0]
                sources = {row.old_code for row in group.itertuples() if row.new_code == target}
                existed = target in olds or target in seen_before
                relation = "renumbered" if sources == {code} and not existed else "merged"
            steps[code] = _Step(changed_on, successors, relation)
        seen_before |= olds | news
    return steps


def _resolve(code: str, steps: dict[str, _Step], current: set[str]) -> tuple[str | None, str, list[str]]:
    """Follow a code through its changes to today: (current_code or None, relation, description)."""
    relation, path, seen = "same", [code], {code}
    while code not in current:
        step = steps.get(code)
        if step is None:
            return None, "ceased" if relation == "same" else relation, path
        if step.relation in ("split", "ceased"):
            path.append(f"{step.relation} {step.changed_on} into {', '.join(step.successors) or 'nothing'}")
            return None, step.relation, path
        code = step.successors[0]
        if code in seen:
            raise GeographyError(f"KLASS changes form a cycle through {code}")
        seen.add(code)
        path.append(f"{step.relation} {step.changed_on} -> {code}")
        relation = "merged" if "merged" in (relation, step.relation) else "renumbered"
    return code, relation, path


def _entry(original: str, convention: str, valid_from: str | None, valid_to: str | None, region_code: str,
           current_code: str | None, relation: str, rule: str, note: str, aggregate: bool = False) -> dict[str, Any]:
    return {"original_code": original, "convention": convention, "valid_from": valid_from, "valid_to": valid_to,
            "region_code": region_code, "current_code": current_code, "relation": relation, "rule": rule,
            "aggregate_of_districts": aggregate, "note": note}


def build_code_history(geo: KlassGeography, regions: pd.DataFrame) -> pd.DataFrame:
    """region_code_history: every spelling of a region code, what it denotes and its code today.

    convention: "any" (unambiguous spellings), "plain" (6-digit codes as KLASS, FHI and KOSTRA write
    them) and "ssb_suffix" (unsuffixed 6-digit codes in an SSB table that writes today's districts of
    that municipality with an `a`: there they are the older division).
    """
    current = set(regions.loc[regions["is_current"], "code"])
    steps = {**_steps(geo.county_changes), **_steps(geo.municipality_changes)}
    entries: list[dict[str, Any]] = []
    flat_entries: dict[str, dict[str, Any]] = {}

    for row in regions[regions["level"].isin(["country", "county", "municipality"])].itertuples():
        if row.is_current:
            entry = _entry(row.code, "any", None, None, row.code, row.code, "same", "same",
                           "current code; accepted for earlier periods (sources publish today's areas backwards)")
        else:
            current_code, relation, path = _resolve(row.code, steps, current)
            step = steps[row.code]
            rule = DISTRICT_RULES.get((row.code, step.changed_on))
            if rule is None:
                word = "municipal" if row.level == "municipality" else "county"
                rule = f"split_{row.level}" if relation == "split" else f"{word}_reform_{step.changed_on[:4]}"
            entry = _entry(row.code, "any", row.valid_from, row.valid_to, row.code, current_code, relation, rule,
                           f"{row.code} {row.name_nb}: " + "; ".join(path[1:]))
        flat_entries[row.code] = entry
        entries.append(entry)

    district_entries = _backdate_renumbered_districts(_district_history(geo, regions))
    entries += district_entries
    entries += _ssb_spellings(regions, flat_entries, district_entries)
    history = pd.DataFrame.from_records(entries, columns=HISTORY_COLUMNS)
    history["aggregate_of_districts"] = history["aggregate_of_districts"].astype(bool)
    _check_windows_disjoint(history)
    _check_change_table(geo.district_change_table, history)
    return history.sort_values(["original_code", "convention", "valid_from"], na_position="first",
                               ignore_index=True)


def _backdate_renumbered_districts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add a "republished" entry for each district renumbered 1:1 (120101 Arna -> 460101).

    FHI republishes whole series on today's codes, so 460101 appears for 2015, denoting the area 120101
    had then. The entry covers the predecessor's life up to the successor's start; harmonise() uses it
    only for tables that do not publish the predecessor code themselves (SSB 10826 does, and fills
    today's code with zeros for those years).
    """
    starts: dict[str, str | None] = {}
    for entry in entries:
        if entry["relation"] == "renumbered" and entry["current_code"]:
            successor, start = entry["current_code"], entry["valid_from"]
            earlier = starts.get(successor, "9999")
            starts[successor] = None if start is None or earlier is None else min(start, earlier)
    republished = [
        _entry(entry["original_code"], "republished", starts[entry["original_code"]], entry["valid_from"],
               entry["original_code"], entry["original_code"], "same", "republished_on_todays_code",
               f"{entry['original_code']} published for periods before {entry['valid_from']} on today's code")
        for entry in entries
        if entry["relation"] == "same" and entry["original_code"] in starts and entry["valid_from"]
    ]
    return entries + republished


def _district_history(geo: KlassGeography, regions: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain 6-digit district codes: current ones, and ended ones with their 1:1 successor if any.

    A district ending the day its municipality is renumbered 1:1, with a district of the same number
    and name starting that day under the new municipality code, was renumbered (120101 -> 460101).
    Validity starts with the district's first KLASS version, except that the first version loaded
    (2004) is not the start of Bergen's and Stavanger's districts: SSB publishes them, under the same
    codes, for earlier years. Oslo's and Trondheim's codes meant other areas before (SSB_OLD_DIVISIONS).
    """
    districts = regions[(regions["level"] == "district") & (regions["source"] == "klass")]
    by_code = districts.set_index("code")
    versions = geo.district_classification.versions.set_index("version_id")
    first_version_start = min(versions.loc[version.id, "valid_from"] for version in geo.district_versions)
    steps = _steps(geo.municipality_changes)

    def start(code: str, valid_from: str) -> str | None:
        open_start = valid_from <= first_version_start and code[:4] not in SSB_OLD_DIVISIONS
        return None if open_start else valid_from

    successor: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    for row in districts[~districts["is_current"]].itertuples():
        municipality = row.code[:4]
        step = steps.get(municipality)
        candidate = None
        if step is not None and step.relation == "renumbered" and step.changed_on == row.valid_to:
            candidate = step.successors[0] + row.code[4:]
        renumbered = (candidate in by_code.index and by_code.loc[candidate, "valid_from"] == row.valid_to
                      and by_code.loc[candidate, "name_nb"] == row.name_nb)
        rule = DISTRICT_RULES.get((municipality, row.valid_to), f"district_change_{row.valid_to[:4]}")
        if renumbered:
            successor[row.code] = candidate
            note = f"{row.code} {row.name_nb} renumbered with its municipality on {row.valid_to} -> {candidate}"
        else:
            note = f"{row.code} {row.name_nb} ended {row.valid_to} without a 1:1 successor"
        entries[row.code] = _entry(row.code, "plain", start(row.code, row.valid_from), row.valid_to, row.code,
                                   None, "renumbered" if renumbered else "ceased", rule, note)
    for code, entry in entries.items():
        target = code
        while target in successor:
            target = successor[target]
        if by_code.loc[target, "is_current"] and entry["relation"] == "renumbered":
            entry["current_code"] = target
        elif entry["relation"] == "renumbered":
            entry["relation"] = "ceased"
    for row in districts[districts["is_current"]].itertuples():
        if row.is_unknown_district:
            relation, rule = "unknown_district", "unknown_district"
            note = f"{row.code} unknown district of {row.code[:4]}"
        else:
            relation = "same"
            rule = DISTRICT_RULES.get((row.code[:4], row.valid_from), "same")
            note = f"{row.code} {row.name_nb}, valid from {row.valid_from}"
        entries[row.code] = _entry(row.code, "plain", start(row.code, row.valid_from), None, row.code, row.code,
                                   relation, rule, note)
    return list(entries.values())


def _ssb_spellings(regions: pd.DataFrame, flat_entries: dict[str, dict[str, Any]],
                   district_entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SSB's district spellings: `030101a`, totals `030100aa`/`120100a`/`460100`, old divisions."""
    entries = []
    plain = {entry["original_code"]: entry for entry in district_entries}
    starts = {code: start for code, start in zip(regions["code"], regions["valid_from"]) if pd.notna(start)}
    municipalities = sorted(set(regions.loc[(regions["level"] == "district") & (regions["source"] == "klass"),
                                            "parent_code"]))
    for municipality in municipalities:
        total = flat_entries[municipality]
        division = SSB_OLD_DIVISIONS.get(municipality)

        def total_entry(spelling: str, valid_from: str | None, valid_to: str | None, rule: str,
                        municipality: str = municipality, total: dict[str, Any] = total) -> dict[str, Any]:
            return _entry(spelling, "any", valid_from, valid_to, municipality, total["current_code"],
                          total["relation"], rule, f"{spelling}: total over the districts of {municipality}",
                          aggregate=True)

        # A total over districts exists while the municipality code does (not back to before it).
        municipality_start = starts.get(municipality)
        if division is None:
            rule = total["rule"] if total["rule"] != "same" else "district_total"
            entries.append(total_entry(municipality + "00", municipality_start, total["valid_to"], rule))
            entries.append(total_entry(municipality + "00a", municipality_start, total["valid_to"], rule))
            continue
        entries.append(total_entry(municipality + "00a", division.valid_from, division.valid_to, division.old_rule))
        entries.append(total_entry(municipality + "00aa", division.valid_to, total["valid_to"], division.suffix_rule))
        entries.append(total_entry(municipality + "00", municipality_start, total["valid_to"], "district_total"))
        for code, entry in plain.items():
            if code[:4] != municipality:
                continue
            valid_from = max(entry["valid_from"], division.valid_to)
            entries.append(_entry(code + "a", "any", valid_from, entry["valid_to"], code, entry["current_code"],
                                  entry["relation"], division.suffix_rule,
                                  f"{code}a: SSB's spelling of {code} (division from {division.valid_to[:4]})"))
        for number, name in division.districts.items():
            code = municipality + number
            entries.append(_entry(code, "ssb_suffix", division.valid_from, division.valid_to,
                                  division.historical_code(code), None, "ceased", division.old_rule,
                                  f"{code} {name} ({division.valid_from[:4]}-{int(division.valid_to[:4]) - 1}): "
                                  "older division, no 1:1 successor among today's districts"))
    return entries


def _check_windows_disjoint(history: pd.DataFrame) -> None:
    for (code, convention), group in history.groupby(["original_code", "convention"]):
        windows = sorted((row.valid_from or "", row.valid_to or "9999") for row in group.itertuples())
        for (_, end), (start, _) in itertools.pairwise(windows):
            if start < end:
                raise GeographyError(f"code history: {code} ({convention}) has overlapping validity windows {windows}")


def _check_change_table(table: KlassCorrespondenceTable, history: pd.DataFrame) -> None:
    """Every renumbering in the KLASS change table must agree with the history derived from the versions."""
    plain = history[history["convention"] == "plain"].set_index("original_code")
    for row in table.maps.itertuples():
        if row.source_code == row.target_code or row.target_code is None:
            continue
        derived = plain["current_code"].get(row.target_code)
        if derived != row.source_code:
            raise GeographyError(
                f"KLASS correspondence table {table.id}: {row.target_code} -> {row.source_code}, but the "
                f"versions give {row.target_code} -> {derived}"
            )
