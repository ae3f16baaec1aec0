"""Regions from KLASS, their code history, and harmonising observed region codes to today's codes.

Three things live here:

1. Readers for KLASS answers: JSON (`codes`, `codesAt`, `classifications/{id}`, `versions/{id}` with its
   misspelled `changeOccured`, `changes` with `changeOccurred`, `correspondencetables/{id}`) and CSV
   exports (latin1, `;`, quoted, ragged rows: 8-column header and 6-field rows).
2. `build_regions()`: the `regions` dimension (country "0", 2-digit counties, 4-digit municipalities,
   6-digit districts), current and historical rows with valid_from/valid_to (valid_to exclusive, null =
   current), and `build_code_history()`: every spelling a source uses for a region, what it denotes and
   which code it has today.
3. `harmonise()`: sets original_region_code / region_code / region_level / region_name on tidy
   observations, one NAMED rule per case (see RULES), and a report of everything that was renumbered,
   respelled, not mapped or invalid for its period.

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

import csv
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from ci_pipeline.sources.klass import KlassClient

MUNICIPALITIES = "131"
COUNTIES = "104"
DISTRICTS = "103"

COUNTRY_CODE = "0"
COUNTRY_NAME_NB = "Norge"
COUNTRY_NAME_EN = "Norway"

LEVELS = ("country", "county", "municipality", "district")

# Worst first: a row derived from an illustrative answer is illustrative, whatever else went into it.
PROVENANCE_ORDER = ("illustrative", "reconstructed", "recorded")


@dataclass(frozen=True)
class KlassRequest:
    """One KLASS request the pipeline makes: `call` is the KlassClient method, `args` its arguments."""

    name: str
    call: str
    args: tuple[str, ...]
    purpose: str


# The one list of KLASS requests: the pipeline sends exactly these, and tools/build_klass_snapshots.py
# writes an answer for each into the snapshot archive.
KLASS_REQUESTS: tuple[KlassRequest, ...] = (
    KlassRequest("municipalities_2023", "codes_at", (MUNICIPALITIES, "2023-03-02"),
                 "municipalities valid on 2023-03-02: the base list today's codes are derived from"),
    KlassRequest("municipalities_2020", "codes_at", (MUNICIPALITIES, "2020-01-01"),
                 "municipalities valid on 2020-01-01: checks that the changes lead from it to the 2023 list"),
    KlassRequest("municipality_changes", "changes", (MUNICIPALITIES, "2000-01-01"),
                 "municipal code changes (2018, 2020 and 2024 reforms)"),
    KlassRequest("counties_2022", "codes", (COUNTIES, "2022-07-10"),
                 "counties valid from 2022-07-10: the base county list"),
    KlassRequest("county_changes", "changes", (COUNTIES, "2000-01-01"),
                 "county code changes (2018, 2020 and 2024 reforms)"),
    KlassRequest("district_classification", "classification", (DISTRICTS,),
                 "the district classification's versions and their validity"),
    KlassRequest("district_version_398", "version", ("398",), "Bydelsinndeling 2004 (2004-2018)"),
    KlassRequest("district_version_919", "version", ("919",), "Bydelsinndeling 2018 (2018-2020)"),
    KlassRequest("district_version_1168", "version", ("1168",), "Bydelsinndeling 2020 (from 2020)"),
    KlassRequest("district_change_table_742", "correspondence_table", ("742",),
                 "Bydelsinndeling 2020 - Bydelsinndeling 2018 change table: cross-checks the Bergen renumbering"),
)
DISTRICT_VERSION_REQUESTS = ("district_version_398", "district_version_919", "district_version_1168")


class GeographyError(ValueError):
    """KLASS answers or observations that cannot be read or are inconsistent."""


# --------------------------------------------------------------------------------------------- readers


def _text(value: Any) -> str | None:
    """KLASS writes absent values as null or ""; both mean absent."""
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _require_list(doc: Any, key: str, origin: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or key not in doc:
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise GeographyError(f"{origin}: expected a JSON object with {key!r}, found {found}")
    items = doc[key]
    if not isinstance(items, list):
        raise GeographyError(f"{origin}: {key!r} must be a list, got {type(items).__name__}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise GeographyError(f"{origin}: {key}[{index}] must be an object, got {type(item).__name__}")
    return items


def _required(item: dict[str, Any], key: str, origin: str, where: str) -> str:
    value = _text(item.get(key))
    if value is None:
        raise GeographyError(f"{origin}: {where} has no {key!r}")
    return value


CODE_COLUMNS = ["code", "parent_code", "level", "name", "short_name", "presentation_name", "notes",
                "valid_from", "valid_to", "valid_from_in_range", "valid_to_in_range"]


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=columns).astype(object).where(
        lambda frame: frame.notna(), None
    ) if records else pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def parse_codes(doc: Any, *, origin: str = "KLASS codes") -> pd.DataFrame:
    """A `codes` or `codesAt` answer ({"codes": [...]}) as a frame with CODE_COLUMNS."""
    records = []
    for index, item in enumerate(_require_list(doc, "codes", origin)):
        where = f"codes[{index}]"
        records.append({
            "code": _required(item, "code", origin, where),
            "parent_code": _text(item.get("parentCode")),
            "level": _text(item.get("level")),
            "name": _required(item, "name", origin, where),
            "short_name": _text(item.get("shortName")),
            "presentation_name": _text(item.get("presentationName")),
            "notes": _text(item.get("notes")),
            "valid_from": _text(item.get("validFrom")),
            "valid_to": _text(item.get("validTo")),
            "valid_from_in_range": _text(item.get("validFromInRequestedRange")),
            "valid_to_in_range": _text(item.get("validToInRequestedRange")),
        })
    frame = _frame(records, CODE_COLUMNS)
    _refuse_duplicate_codes(frame, origin)
    return frame


def _refuse_duplicate_codes(frame: pd.DataFrame, origin: str) -> None:
    duplicated = frame.loc[frame["code"].duplicated(), "code"].tolist()
    if duplicated:
        raise GeographyError(f"{origin}: codes listed more than once: {', '.join(sorted(set(duplicated)))}")


CSV_COLUMNS = {"code": "code", "parentCode": "parent_code", "level": "level", "name": "name",
               "shortName": "short_name", "notes": "notes", "validFrom": "valid_from", "validTo": "valid_to",
               "presentationName": "presentation_name"}


def parse_klass_csv(data: bytes, *, origin: str, encoding: str = "latin-1", separator: str = ";") -> pd.DataFrame:
    """A KLASS CSV export (default ISO-8859-1) as a frame with the header's columns in snake_case.

    Real exports have an 8-column header and 6-field rows (validFrom/validTo left off): a short row is
    read left to right and its missing trailing fields are null. A row with MORE fields than the header
    cannot be aligned and is an error.
    """
    text = data.decode(encoding)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator, quotechar='"', strict=True))
    if not rows:
        raise GeographyError(f"{origin}: empty KLASS CSV")
    header = rows[0]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown or "code" not in header or "name" not in header:
        raise GeographyError(f"{origin}: unexpected KLASS CSV header {header} (unknown columns {unknown})")
    columns = [CSV_COLUMNS[name] for name in header]
    records = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) > len(header):
            raise GeographyError(
                f"{origin}: line {line_number} has {len(row)} fields but the header has {len(header)}: {row}"
            )
        values = [_text(value) for value in row] + [None] * (len(header) - len(row))
        record = dict(zip(columns, values))
        if record["code"] is None or record["name"] is None:
            raise GeographyError(f"{origin}: line {line_number} has no code or no name: {row}")
        records.append(record)
    frame = _frame(records, columns)
    _refuse_duplicate_codes(frame, origin)
    return frame


@dataclass(frozen=True)
class KlassClassification:
    id: str
    name: str
    versions: pd.DataFrame  # version_id, name, valid_from, valid_to, last_modified


def parse_classification(doc: Any, *, origin: str = "KLASS classification") -> KlassClassification:
    """A `classifications/{id}` answer: the classification and its versions (validTo absent = open)."""
    records = []
    for index, item in enumerate(_require_list(doc, "versions", origin)):
        where = f"versions[{index}]"
        records.append({
            "version_id": _required(item, "id", origin, where),
            "name": _required(item, "name", origin, where),
            "valid_from": _required(item, "validFrom", origin, where),
            "valid_to": _text(item.get("validTo")),
            "last_modified": _text(item.get("lastModified")),
        })
    versions = _frame(records, ["version_id", "name", "valid_from", "valid_to", "last_modified"])
    versions = versions.sort_values("valid_from", ignore_index=True)
    return KlassClassification(
        id=_required(doc, "id", origin, "the classification"),
        name=_required(doc, "name", origin, "the classification"),
        versions=versions,
    )


@dataclass(frozen=True)
class KlassVersion:
    id: str
    name: str
    valid_from: str
    valid_to: str | None
    items: pd.DataFrame  # code, parent_code, level, name, short_name, notes
    changelogs: pd.DataFrame  # changed_at, description
    correspondence_tables: pd.DataFrame  # table_id, name, source_id, target_id, change_table


def _change_moment(item: dict[str, Any], origin: str, where: str) -> str:
    # KLASS spells it `changeOccured` in version changelogs and `changeOccurred` in /changes.
    for key in ("changeOccurred", "changeOccured"):
        if _text(item.get(key)) is not None:
            return _text(item[key])
    raise GeographyError(f"{origin}: {where} has neither 'changeOccurred' nor 'changeOccured'")


def parse_version(doc: Any, *, origin: str = "KLASS version") -> KlassVersion:
    """A `versions/{id}` answer: its classificationItems, changelogs and correspondence tables."""
    items = []
    for index, item in enumerate(_require_list(doc, "classificationItems", origin)):
        where = f"classificationItems[{index}]"
        items.append({
            "code": _required(item, "code", origin, where),
            "parent_code": _text(item.get("parentCode")),
            "level": _text(item.get("level")),
            "name": _required(item, "name", origin, where),
            "short_name": _text(item.get("shortName")),
            "notes": _text(item.get("notes")),
        })
    changelogs = [
        {"changed_at": _change_moment(item, origin, f"changelogs[{index}]"), "description": _text(item.get("description"))}
        for index, item in enumerate(_require_list(doc, "changelogs", origin))
    ] if "changelogs" in doc else []
    tables = [
        {
            "table_id": _required(item, "id", origin, f"correspondenceTables[{index}]"),
            "name": _text(item.get("name")),
            "source_id": _text(item.get("sourceId")),
            "target_id": _text(item.get("targetId")),
            "change_table": bool(item.get("changeTable")),
        }
        for index, item in enumerate(_require_list(doc, "correspondenceTables", origin))
    ] if "correspondenceTables" in doc else []
    frame = _frame(items, ["code", "parent_code", "level", "name", "short_name", "notes"])
    _refuse_duplicate_codes(frame, origin)
    return KlassVersion(
        id=_required(doc, "id", origin, "the version"),
        name=_required(doc, "name", origin, "the version"),
        valid_from=_required(doc, "validFrom", origin, "the version"),
        valid_to=_text(doc.get("validTo")),
        items=frame,
        changelogs=_frame(changelogs, ["changed_at", "description"]),
        correspondence_tables=_frame(tables, ["table_id", "name", "source_id", "target_id", "change_table"]),
    )


CHANGE_COLUMNS = ["old_code", "old_name", "new_code", "new_name", "changed_on"]


def parse_changes(doc: Any, *, origin: str = "KLASS changes") -> pd.DataFrame:
    """A `changes` answer: one row per codeChanges item; old_code null = created, new_code null = ceased."""
    records = []
    for index, item in enumerate(_require_list(doc, "codeChanges", origin)):
        where = f"codeChanges[{index}]"
        record = {
            "old_code": _text(item.get("oldCode")),
            "old_name": _text(item.get("oldName")),
            "new_code": _text(item.get("newCode")),
            "new_name": _text(item.get("newName")),
            "changed_on": _change_moment(item, origin, where)[:10],
        }
        if record["old_code"] is None and record["new_code"] is None:
            raise GeographyError(f"{origin}: {where} has neither oldCode nor newCode")
        records.append(record)
    return _frame(records, CHANGE_COLUMNS)


@dataclass(frozen=True)
class KlassCorrespondenceTable:
    id: str
    name: str
    source_id: str | None
    target_id: str | None
    change_table: bool
    maps: pd.DataFrame  # source_code, source_name, target_code, target_name


def parse_correspondence_table(doc: Any, *, origin: str = "KLASS correspondence table") -> KlassCorrespondenceTable:
    """A `correspondencetables/{id}` answer and its correspondenceMaps."""
    records = []
    for index, item in enumerate(_require_list(doc, "correspondenceMaps", origin)):
        records.append({
            "source_code": _text(item.get("sourceCode")),
            "source_name": _text(item.get("sourceName")),
            "target_code": _text(item.get("targetCode")),
            "target_name": _text(item.get("targetName")),
        })
    return KlassCorrespondenceTable(
        id=_required(doc, "id", origin, "the table"),
        name=_required(doc, "name", origin, "the table"),
        source_id=_text(doc.get("sourceId")),
        target_id=_text(doc.get("targetId")),
        change_table=bool(doc.get("changeTable")),
        maps=_frame(records, ["source_code", "source_name", "target_code", "target_name"]),
    )


# --------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class KlassAnswer:
    doc: Any
    provenance: str
    sha256: str


@dataclass(frozen=True)
class KlassGeography:
    """Every KLASS answer the regions dimension is built from, parsed."""

    municipalities: pd.DataFrame
    municipalities_date: str
    municipalities_2020: pd.DataFrame
    municipalities_2020_date: str
    municipality_changes: pd.DataFrame
    counties: pd.DataFrame
    counties_date: str
    county_changes: pd.DataFrame
    district_classification: KlassClassification
    district_versions: tuple[KlassVersion, ...]
    district_change_table: KlassCorrespondenceTable
    provenance: dict[str, str] = field(default_factory=dict)  # request name -> provenance


class _RecordingHttp:
    """Passes requests on to the real transport and keeps each answer, for its provenance and sha256."""

    def __init__(self, http: Any):
        self._http = http
        self.responses: list[Any] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = self._http.request(*args, **kwargs)
        self.responses.append(response)
        return response


def fetch_klass_answers(http: Any) -> dict[str, KlassAnswer]:
    """Send every request of KLASS_REQUESTS through `http` (an HttpClient for source klass)."""
    recorder = _RecordingHttp(http)
    client = KlassClient(recorder)
    answers = {}
    for request in KLASS_REQUESTS:
        doc = getattr(client, request.call)(*request.args)
        response = recorder.responses[-1]
        answers[request.name] = KlassAnswer(doc=doc, provenance=response.provenance, sha256=response.sha256)
    return answers


def _request(name: str) -> KlassRequest:
    return next(request for request in KLASS_REQUESTS if request.name == name)


def parse_klass_answers(answers: dict[str, KlassAnswer]) -> KlassGeography:
    """The answers of fetch_klass_answers() parsed into a KlassGeography."""
    missing = [request.name for request in KLASS_REQUESTS if request.name not in answers]
    if missing:
        raise GeographyError(f"KLASS answers missing for: {', '.join(missing)}")

    def origin(name: str) -> str:
        request = _request(name)
        return f"KLASS {request.call}{request.args}"

    return KlassGeography(
        municipalities=parse_codes(answers["municipalities_2023"].doc, origin=origin("municipalities_2023")),
        municipalities_date=_request("municipalities_2023").args[1],
        municipalities_2020=parse_codes(answers["municipalities_2020"].doc, origin=origin("municipalities_2020")),
        municipalities_2020_date=_request("municipalities_2020").args[1],
        municipality_changes=parse_changes(answers["municipality_changes"].doc, origin=origin("municipality_changes")),
        counties=parse_codes(answers["counties_2022"].doc, origin=origin("counties_2022")),
        counties_date=_request("counties_2022").args[1],
        county_changes=parse_changes(answers["county_changes"].doc, origin=origin("county_changes")),
        district_classification=parse_classification(
            answers["district_classification"].doc, origin=origin("district_classification")
        ),
        district_versions=tuple(
            parse_version(answers[name].doc, origin=origin(name)) for name in DISTRICT_VERSION_REQUESTS
        ),
        district_change_table=parse_correspondence_table(
            answers["district_change_table_742"].doc, origin=origin("district_change_table_742")
        ),
        provenance={name: answer.provenance for name, answer in answers.items()},
    )


def load_klass_geography(http: Any) -> KlassGeography:
    return parse_klass_answers(fetch_klass_answers(http))


# --------------------------------------------------------------------------------------------- regions

REGION_COLUMNS = ["code", "name_nb", "name_en", "level", "parent_code", "valid_from", "valid_to", "is_current",
                  "is_unknown_district", "source", "classification_id", "classification_versions", "provenance"]


@dataclass(frozen=True)
class SsbOldDivision:
    """A district division SSB keeps in its (B) tables under unsuffixed codes, next to today's `a` codes.

    From the region labels of SSB table 10826 (e.g. "030101 Bygdøy-Frogner (1988-2003)",
    "160101 Sentrum (2001-2004)"; real export in shared/reference/ssb). KLASS has no such version here.
    """

    municipality: str
    valid_from: str
    valid_to: str  # also the start of the division SSB writes with the `a` suffix
    districts: dict[str, str]  # two-digit district number -> name
    old_rule: str
    suffix_rule: str

    def historical_code(self, code: str) -> str:
        return f"{code}@{self.valid_from[:4]}"


SSB_OLD_DIVISIONS: dict[str, SsbOldDivision] = {
    division.municipality: division
    for division in (
        SsbOldDivision(
            municipality="0301", valid_from="1988-01-01", valid_to="2004-01-01",
            districts={
                "01": "Bygdøy-Frogner", "02": "Uranienborg -Majorstuen", "03": "St.Hanshaugen-Ullevål",
                "04": "Sagene-Torshov", "05": "Grünerløkka-Sofienberg", "06": "Gamle Oslo",
                "07": "Ekeberg-Bekkelaget", "08": "Nordstrand", "09": "Søndre Nordstrand", "10": "Lambertseter",
                "11": "Bøler", "12": "Manglerud", "13": "Østensjø", "14": "Helsfyr-Sinsen", "15": "Hellerud",
                "16": "Furuset", "17": "Stovner", "18": "Romsås", "19": "Grorud", "20": "Bjerke",
                "21": "Grefsen-Kjelsås", "22": "Sogn", "23": "Vinderen", "24": "Røa", "25": "Ullern",
                "26": "Sentrum", "27": "Marka", "99": "Uoppgitt",
            },
            old_rule="pre_2004_oslo_division", suffix_rule="ssb_suffix_2004_division",
        ),
        SsbOldDivision(
            municipality="1601", valid_from="2001-01-01", valid_to="2005-01-01",
            districts={"01": "Sentrum", "02": "Strinda", "03": "Nardo", "04": "Byåsen", "05": "Saupstad",
                       "06": "Heimdal", "99": "Uoppgitt"},
            old_rule="trondheim_2018", suffix_rule="trondheim_2018",
        ),
    )
}

# District code changes that carry a name of their own: (municipality, date of the change) -> rule.
DISTRICT_RULES = {
    ("1201", "2020-01-01"): "bergen_2020",
    ("1601", "2018-01-01"): "trondheim_2018",
    ("1103", "2020-01-01"): "stavanger_2020",
}


def _worst(provenances: Iterable[str]) -> str:
    present = set(provenances)
    unknown = present - set(PROVENANCE_ORDER)
    if unknown:
        raise GeographyError(f"unknown provenance {sorted(unknown)}")
    return next(value for value in PROVENANCE_ORDER if value in present)


@dataclass
class _Lineage:
    """What the changes say about one flat classification (municipalities or counties)."""

    current: dict[str, str]  # code -> name, today
    historical: dict[str, str]  # code -> name, ended
    valid_from: dict[str, str]
    valid_to: dict[str, str]


def _apply_changes(base: pd.DataFrame, base_date: str, changes: pd.DataFrame, origin: str) -> _Lineage:
    """Today's codes: the base list with every later change applied; earlier changes give history."""
    names = dict(zip(base["code"], base["name"]))
    current = dict(names)
    historical: dict[str, str] = {}
    valid_from: dict[str, str] = {}
    valid_to: dict[str, str] = {}
    for changed_on, group in changes.groupby("changed_on", sort=True):
        olds = {code for code in group["old_code"] if code is not None}
        news = {code for code in group["new_code"] if code is not None}
        ended = olds - news
        started = news - olds
        old_names = {row.old_code: row.old_name for row in group.itertuples() if row.old_code is not None}
        new_names = {row.new_code: row.new_name for row in group.itertuples() if row.new_code is not None}
        for code in sorted(ended):
            valid_to[code] = changed_on
            historical[code] = old_names[code] or historical.get(code) or names.get(code) or code
        for code in sorted(started):
            valid_from[code] = changed_on
        if changed_on > base_date:
            for code in ended:
                current.pop(code, None)
            for code in started:
                current[code] = new_names[code] or code
        else:
            stale = sorted(code for code in ended if code in names)
            if stale:
                raise GeographyError(
                    f"{origin}: codes {stale} ended on {changed_on} but are in the list valid on {base_date}"
                )
    for code in current:
        historical.pop(code, None)
        valid_to.pop(code, None)
    unexplained = sorted(code for code, start in valid_from.items()
                         if start <= base_date and code not in current and code not in valid_to)
    if unexplained:
        raise GeographyError(f"{origin}: codes {unexplained} were created by changes up to {base_date} "
                             f"but are neither in the list valid on {base_date} nor ended later")
    return _Lineage(current=current, historical=historical, valid_from=valid_from, valid_to=valid_to)


def check_code_lists_agree(earlier: pd.DataFrame, earlier_date: str, later: pd.DataFrame, later_date: str,
                           changes: pd.DataFrame, *, what: str) -> None:
    """The changes between two dates must turn the earlier code list into the later one."""
    codes = set(earlier["code"])
    between = changes[(changes["changed_on"] > earlier_date) & (changes["changed_on"] <= later_date)]
    for _, group in between.groupby("changed_on", sort=True):
        olds = {code for code in group["old_code"] if code is not None}
        news = {code for code in group["new_code"] if code is not None}
        codes = (codes - (olds - news)) | news
    expected = set(later["code"])
    if codes != expected:
        raise GeographyError(
            f"{what}: the changes between {earlier_date} and {later_date} do not lead from one list to the other: "
            f"missing {sorted(expected - codes)}, unexpected {sorted(codes - expected)}"
        )


def _flat_rows(lineage: _Lineage, level: str, classification_id: str, version: str, provenance: str,
               parent: Callable[[str], str]) -> list[dict[str, Any]]:
    rows = []
    for code, name in [*lineage.current.items(), *lineage.historical.items()]:
        is_current = code in lineage.current
        rows.append({
            "code": code, "name_nb": name, "name_en": None, "level": level, "parent_code": parent(code),
            "valid_from": lineage.valid_from.get(code), "valid_to": None if is_current else lineage.valid_to.get(code),
            "is_current": is_current, "is_unknown_district": False, "source": "klass",
            "classification_id": classification_id, "classification_versions": version, "provenance": provenance,
        })
    return rows


def _district_rows(geo: KlassGeography, provenance: str) -> list[dict[str, Any]]:
    validity = geo.district_classification.versions.set_index("version_id")
    merged: dict[str, dict[str, Any]] = {}
    for version in sorted(geo.district_versions, key=lambda v: validity.loc[v.id, "valid_from"]):
        if version.id not in validity.index:
            raise GeographyError(f"KLASS 103 version {version.id} is not listed by the classification")
        valid_from, valid_to = validity.loc[version.id, "valid_from"], validity.loc[version.id, "valid_to"]
        for item in version.items.itertuples():
            row = merged.get(item.code)
            if row is None:
                merged[item.code] = {
                    "code": item.code, "name_nb": item.name, "name_en": None, "level": "district",
                    "parent_code": item.code[:4], "valid_from": valid_from, "valid_to": valid_to,
                    "is_current": valid_to is None, "is_unknown_district": item.code.endswith("99"),
                    "source": "klass", "classification_id": DISTRICTS, "classification_versions": version.id,
                    "provenance": provenance,
                }
                continue
            if row["valid_to"] != valid_from:
                raise GeographyError(
                    f"KLASS 103: district {item.code} reappears in version {version.id} from {valid_from} "
                    f"after ending {row['valid_to']}; a gap in a district's life is not supported"
                )
            row.update(name_nb=item.name, valid_to=valid_to, is_current=valid_to is None,
                       classification_versions=f"{row['classification_versions']},{version.id}")
    for code, row in merged.items():
        if len(code) != 6 or not code.isdigit():
            raise GeographyError(f"KLASS 103: district code {code!r} is not six digits")
    return list(merged.values())


def _old_division_rows() -> list[dict[str, Any]]:
    rows = []
    for division in SSB_OLD_DIVISIONS.values():
        for number, name in division.districts.items():
            code = division.municipality + number
            rows.append({
                "code": division.historical_code(code), "name_nb": name, "name_en": None, "level": "district",
                "parent_code": division.municipality, "valid_from": division.valid_from,
                "valid_to": division.valid_to, "is_current": False, "is_unknown_district": number == "99",
                "source": "ssb", "classification_id": None,
                "classification_versions": "table 10826 region labels", "provenance": "reconstructed",
            })
    return rows


def build_regions(geo: KlassGeography) -> pd.DataFrame:
    """The regions dimension (REGION_COLUMNS), one row per code, current and historical."""
    check_code_lists_agree(geo.municipalities_2020, geo.municipalities_2020_date, geo.municipalities,
                           geo.municipalities_date, geo.municipality_changes, what="KLASS 131")
    prov = geo.provenance
    municipalities = _apply_changes(geo.municipalities, geo.municipalities_date, geo.municipality_changes,
                                    "KLASS 131")
    counties = _apply_changes(geo.counties, geo.counties_date, geo.county_changes, "KLASS 104")
    rows = [{
        "code": COUNTRY_CODE, "name_nb": COUNTRY_NAME_NB, "name_en": COUNTRY_NAME_EN, "level": "country",
        "parent_code": None, "valid_from": None, "valid_to": None, "is_current": True,
        "is_unknown_district": False, "source": "constant", "classification_id": None,
        "classification_versions": None, "provenance": "reconstructed",
    }]
    rows += _flat_rows(counties, "county", COUNTIES, f"codes from {geo.counties_date} + changes",
                       _worst([prov.get("counties_2022", "recorded"), prov.get("county_changes", "recorded")]),
                       lambda code: COUNTRY_CODE)
    rows += _flat_rows(municipalities, "municipality", MUNICIPALITIES,
                       f"codesAt {geo.municipalities_date} + changes",
                       _worst([prov.get("municipalities_2023", "recorded"),
                               prov.get("municipality_changes", "recorded")]),
                       lambda code: code[:2])
    rows += _district_rows(geo, _worst([prov.get(name, "recorded") for name in DISTRICT_VERSION_REQUESTS]))
    rows += _old_division_rows()
    regions = pd.DataFrame.from_records(rows, columns=REGION_COLUMNS)
    duplicated = regions.loc[regions["code"].duplicated(), "code"].tolist()
    if duplicated:
        raise GeographyError(f"regions: codes defined twice: {sorted(set(duplicated))}")
    orphans = regions.loc[regions["parent_code"].notna() & ~regions["parent_code"].isin(regions["code"]),
                          ["code", "parent_code"]]
    if len(orphans):
        raise GeographyError(f"regions: parents missing for {orphans.to_dict('records')}")
    level_order = {level: index for index, level in enumerate(LEVELS)}
    regions = regions.sort_values(["level", "code"], key=lambda s: s.map(level_order) if s.name == "level" else s)
    for column in ("is_current", "is_unknown_district"):
        regions[column] = regions[column].astype(bool)
    return regions.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- code history

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


# --------------------------------------------------------------------------------------------- harmonise

RULES = (
    "same", "unknown_district", "ssb_suffix_2004_division", "pre_2004_oslo_division", "bergen_2020",
    "trondheim_2018", "stavanger_2020", "municipal_reform_2018", "municipal_reform_2020",
    "municipal_reform_2024", "county_reform_2018", "county_reform_2020", "county_reform_2024",
    "split_municipality", "split_county", "district_total", "republished_on_todays_code", "unknown_code",
)
OUTCOMES = ("unchanged", "respelled", "renumbered", "not_mapped", "invalid_for_period", "unknown_code", "collision")
UNIQUE_KEY = ["source", "table_id", "indicator_id", "region_code", "period", "sex", "age_group"]
_SUFFIXED_DISTRICT = re.compile(r"^(\d{4})(?!00)\d{2}a$")
_PERIOD_PATTERNS = {
    "year": re.compile(r"^(\d{4})$"),
    "multi_year": re.compile(r"^(\d{4})-(\d{4})$"),
    "quarter": re.compile(r"^(\d{4})K([1-4])$"),
    "month": re.compile(r"^(\d{4})M(\d{2})$"),
    "school_year": re.compile(r"^(\d{4})[-/](\d{2}|\d{4})$"),
}


def period_reference_date(period: str, period_type: str) -> str:
    """The date whose geography a period is published in (ISO text).

    year: 1 January; multi_year: 1 January of its last year (sources publish pooled figures on the
    geography of the latest year); quarter/month: its first day; school_year: 1 August of its first year.
    """
    pattern = _PERIOD_PATTERNS.get(period_type)
    match = pattern.match(period) if pattern else None
    if match is None:
        raise GeographyError(f"cannot read period {period!r} of period_type {period_type!r}")
    year = int(match.group(1))
    if period_type == "multi_year":
        return date(int(match.group(2)), 1, 1).isoformat()
    if period_type == "quarter":
        return date(year, 3 * int(match.group(2)) - 2, 1).isoformat()
    if period_type == "month":
        return date(year, int(match.group(2)), 1).isoformat()
    if period_type == "school_year":
        return date(year, 8, 1).isoformat()
    return date(year, 1, 1).isoformat()


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
    frame = observations.copy()
    frame["original_region_code"] = frame["region_code"].astype(str)
    periods = frame[["period", "period_type"]].drop_duplicates()
    reference = {(p, t): period_reference_date(p, t) for p, t in zip(periods["period"], periods["period_type"])}
    frame["_when"] = [reference[key] for key in zip(frame["period"], frame["period_type"])]

    suffixed_by_table: dict[tuple[str, str], set[str]] = defaultdict(set)
    for source, table_id, code in frame[["source", "table_id", "original_region_code"]].drop_duplicates().itertuples(
            index=False):
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
    codes_by_table: dict[tuple[str, str], set[str]] = defaultdict(set)
    for source, table_id, code in frame[["source", "table_id", "original_region_code"]].drop_duplicates().itertuples(
            index=False):
        codes_by_table[(source, table_id)].add(code)

    keys = ["source", "table_id", "original_region_code", "_when"]
    combos = frame[keys].drop_duplicates()
    resolved = [
        {"source": s, "table_id": t, "original_region_code": c, "_when": w,
         **_resolve_observed_code(c, w, suffixed_by_table.get((s, t), set()), by_code,
                                  allow_republished=not (predecessors.get(c, set()) & codes_by_table[(s, t)]))}
        for s, t, c, w in combos.itertuples(index=False)
    ]
    resolution = pd.DataFrame.from_records(resolved)
    frame = frame.drop(columns=["region_code"]).merge(resolution, on=keys, how="left", validate="many_to_one")
    frame = _unmap_collisions(frame, regions)

    level = dict(zip(regions["code"], regions["level"]))
    name = dict(zip(regions["code"], regions["name_nb"]))
    known = frame["region_code"].isin(level.keys())
    frame["region_level"] = frame["region_code"].map(level).where(known, frame["region_level"])
    frame["region_name"] = frame["region_code"].map(name)
    frame["harmonisation_rule"] = frame["rule"]
    frame["harmonisation_outcome"] = frame["outcome"]

    report = _report(frame)
    frame = frame.drop(columns=["_when", "rule", "outcome", "relation", "current_code", "note"])
    ordered = [c for c in observations.columns if c != "region_code"]
    insert_at = list(observations.columns).index("region_code")
    ordered[insert_at:insert_at] = ["region_code"]
    extra = ["original_region_code", "region_name", "harmonised", "harmonisation_rule", "harmonisation_outcome",
             "aggregate_of_districts"]
    frame = frame[ordered + [c for c in extra if c not in ordered]]
    frame["harmonised"] = frame["harmonised"].astype(bool)
    frame["aggregate_of_districts"] = frame["aggregate_of_districts"].astype(bool)
    return frame, report


def _unmap_collisions(frame: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Two source rows given the same key: one keeps today's code, the others keep their own.

    The winner is the row observed within its own code's life: SSB also exports today's codes for years
    before they existed (filled with zeros), and those lose to the predecessor's real figures. Among the
    rest, the row the source already spelled with today's code wins (a municipality over its total
    over districts).
    """
    key = [column for column in UNIQUE_KEY if column in frame.columns]
    colliding = frame["harmonised"] & frame.duplicated(key, keep=False)
    if colliding.any():
        starts = dict(zip(regions["code"], regions["valid_from"]))
        group = frame.loc[colliding].copy()
        start = group["region_code"].map(starts)
        group["_backcast"] = (group["original_region_code"] == group["region_code"]) & start.notna() & (
            group["_when"] < start.fillna(""))
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
        frame.loc[losers, "outcome"] = "collision"
        frame.loc[losers, "note"] = "another row of the table has this key under today's code"
        frame.loc[losers, "region_code"] = frame.loc[losers, "original_region_code"]
    return frame


def _report(frame: pd.DataFrame) -> pd.DataFrame:
    noted = frame[frame["outcome"] != "unchanged"]
    if noted.empty:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    group = ["source", "table_id", "original_region_code", "region_code", "rule", "outcome"]
    report = noted.groupby(group, dropna=False, sort=True).agg(
        current_code=("current_code", "first"), relation=("relation", "first"),
        aggregate_of_districts=("aggregate_of_districts", "first"), rows=("period", "size"),
        first_period=("period", "min"), last_period=("period", "max"), note=("note", "first"),
    ).reset_index()
    return report[REPORT_COLUMNS]
