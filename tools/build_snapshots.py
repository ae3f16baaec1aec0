"""Build the embedded snapshot archive (data/snapshots/ssb and data/snapshots/fhi) for the replay run.

The default run of the pipeline reads API answers from data/snapshots/ instead of the network. This
script writes those answers, in exactly the layout record mode writes (ci_pipeline.archive), for every
SSB and FHI entry of the source catalogue (assets/sources/{ssb,fhi}/*.yaml): for each entry it answers
the requests the clients send (docs/ARCHITECTURE.md, "SSB requests" / "FHI requests") in the APIs' real
shapes (see ../shared/reference/).

Where the numbers come from (the `provenance` of every archived answer):
- reconstructed: SSB 10826 (population by city district and age, 2001-2024) and SSB 07459 (population
  of Oslo and Norway by age, 2022-2024) are re-encoded from the real StatBank CSV exports in the
  reference folder (ssb/ssb_10826_bydel_population_Personerward*.csv,
  ssb/ssb_07459_municipal_population_Personer*.csv).
- illustrative: every other table. No real figures are at hand for them, so values are made up:
  plausible levels per district (a fixed "deprivation" score per district), a trend, and a small
  deterministic jitter. Population denominators follow the real 10826 export.

The output is deterministic: the same catalogue and reference folder give byte-identical files (fixed
retrieval timestamp, jitter from a hash of a fixed seed and the cell's coordinates, no wall clock).

    .venv/bin/python tools/build_snapshots.py [--reference ../shared/reference] [--out data/snapshots]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ci_pipeline.archive import Archive, ArchivedResponse, sha256_bytes
from ci_pipeline.catalogue import TableSpec, load_table_spec
from ci_pipeline.errors import SourceError
from ci_pipeline.settings import FHI_BASE_URL, SSB_BASE_URL
from ci_pipeline.sources.ssb import Selection, resolve_values

# Every envelope carries this retrieval time, so a rebuild gives the same files.
BUILD_TIMESTAMP = "2026-03-02T06:00:00.000000Z"
SEED = "ci-pipeline-snapshots-1"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
SSB_INFO_PARAMS = {"lang": "no"}
SSB_DATA_PARAMS = {"lang": "no", "outputFormat": "json-stat2"}
FHI_RESPONSE = {"format": "json-stat2", "maxRowCount": 50000}
FHI_FLAG_LEGEND = [
    {"title": "..", "text": "Manglende data"},
    {"title": ".", "text": "Lar seg ikke beregne"},
    {"title": ":", "text": "Anonymisert"},
]
# FHI flag codes in a data answer's `status` (SPVFLAGG): 1 "..", 2 ".", 3 ":".
FLAG_MISSING, FLAG_CANNOT_COMPUTE, FLAG_SUPPRESSED = "1", "2", "3"

# Illustrative district profile: 0 = the most affluent district, 1 = the most deprived. Levels of every
# illustrative indicator are drawn from it, so the districts keep one consistent ranking across tables.
DEPRIVATION = {
    "030101": 0.95,
    "030102": 0.80,
    "030103": 0.60,
    "030104": 0.45,
    "030105": 0.25,
    "030106": 0.10,
    "030107": 0.00,
    "030108": 0.08,
    "030109": 0.70,
    "030110": 0.85,
    "030111": 0.95,
    "030112": 0.90,
    "030113": 0.40,
    "030114": 0.20,
    "030115": 0.85,
    "030116": 0.80,
    "030117": 0.30,
    "460101": 0.55,
    "460102": 0.60,
    "460103": 0.20,
    "460104": 0.50,
    "460105": 0.55,
    "460106": 0.30,
    "460107": 0.60,
    "460108": 0.40,
    "500101": 0.50,
    "500102": 0.50,
    "500103": 0.45,
    "500104": 0.35,
    "110301": 0.45,
    "110302": 0.45,
    "110303": 0.35,
    "110304": 0.35,
    "110305": 0.70,
    "110306": 0.60,
    "110307": 0.30,
    "110308": 0.25,
    "110309": 0.20,
}
MUNICIPALITIES = {"0301": "Oslo", "4601": "Bergen", "5001": "Trondheim", "1103": "Stavanger"}
NORWAY_DEPRIVATION = 0.35
# Norway's population per year of age as a multiple of Oslo's (about right for the 2010s-2020s).
NORWAY_TO_OSLO = ((19, 8.5), (39, 5.7), (66, 8.3), (200, 11.4))
YEARLY_GROWTH_AFTER_EXPORT = 0.009

Cell = tuple[Any, "str | None"]  # (value, SSB status symbol)


class BuildError(Exception):
    """The catalogue or the reference folder does not fit what the builder can answer."""


def jitter(*parts: object) -> float:
    """A deterministic pseudo-random number in [-1, 1] for one cell, independent of build order."""
    digest = hashlib.sha256("|".join([SEED, *map(str, parts)]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**63 - 1.0


def norway_factor(age: int) -> float:
    return next(factor for upper, factor in NORWAY_TO_OSLO if age <= upper)


# --- the real StatBank exports (10826, 07459) -----------------------------------------------------------

AGE_LABEL = re.compile(r"^(\d+) years?( or older)?$")
EXPORT_10826 = "ssb_10826_bydel_population_Personerward*.csv"
EXPORT_07459 = "ssb_07459_municipal_population_Personer*.csv"


@dataclass
class PopulationExport:
    """An SSB population table as exported from StatBank: persons by region code, age code and year."""

    region_labels: dict[str, str]
    age_labels: dict[str, str]  # code ("000".."104", "105+") -> English export label
    years: list[str]
    persons: dict[tuple[str, str, str], int]

    def __post_init__(self) -> None:
        self.living = {(region, year) for (region, _, year), count in self.persons.items() if count}

    def region_alive(self, region: str, year: str) -> bool:
        """False for a region-year the export fills with 0 for every age (outside the region's lifetime)."""
        return (region, year) in self.living

    def total(self, region: str, ages: range, year: int) -> float:
        """Persons of the given ages; years after the export are extrapolated with a steady growth."""
        export_year = min(year, int(self.years[-1]))
        count = sum(self.persons[region, age_code(age), str(export_year)] for age in ages)
        return count * (1 + YEARLY_GROWTH_AFTER_EXPORT) ** (year - export_year)

    def regions_in(self, year: str) -> list[str]:
        """The region codes the export of `year` lists (municipal exports follow each year's reforms)."""
        return [region for region in self.region_labels if (region, "000", year) in self.persons]


def age_code(age: int) -> str:
    return "105+" if age >= 105 else f"{age:03d}"


def read_statbank_exports(files: list[Path], table_id: str) -> PopulationExport:
    """Read and merge StatBank CSV exports of one table (latin1, ';', title line + blank line, then a
    header "region";"age";"Persons <year>"... wide by year). Each file must be a full region x age x
    year grid, and no year may come from two files."""
    if not files:
        raise BuildError(f"no StatBank export of table {table_id} found")
    region_labels: dict[str, str] = {}
    age_labels: dict[str, str] = {}
    persons: dict[tuple[str, str, str], int] = {}
    years: list[str] = []
    for path in files:
        lines = path.read_text(encoding="latin1").splitlines()
        if not lines or not lines[0].startswith(f'"{table_id}:'):
            raise BuildError(f"{path.name} line 1: expected the title of table {table_id}, got {lines[:1]}")
        rows = list(csv.reader(lines[2:], delimiter=";"))
        header, body = rows[0], [row for row in rows[1:] if row]
        file_years = [column.removeprefix("Persons ") for column in header[2:]]
        repeated = sorted(set(file_years) & set(years))
        if repeated or not all(re.fullmatch(r"\d{4}", year) for year in file_years):
            raise BuildError(f"{path.name} line 3: years {file_years} repeat {repeated} or are not years")
        years.extend(file_years)
        file_regions: set[str] = set()
        file_ages: set[str] = set()
        for line_number, row in enumerate(body, start=4):
            code, _, label = row[0].partition(" ")
            match = AGE_LABEL.match(row[1])
            if not match or len(row) != len(header):
                raise BuildError(f"{path.name} line {line_number}: unexpected row {row[:3]}")
            age = age_code(int(match.group(1)))
            region_labels.setdefault(code, label)
            age_labels.setdefault(age, row[1])
            file_regions.add(code)
            file_ages.add(age)
            for year, count in zip(file_years, row[2:]):
                if not count.isdigit():
                    raise BuildError(
                        f"{path.name} line {line_number}: count {count!r} for {year} is not a number"
                    )
                if (code, age, year) in persons:
                    raise BuildError(f"{path.name} line {line_number}: {code} {row[1]} {year} is listed twice")
                persons[code, age, year] = int(count)
        expected = len(file_regions) * len(file_ages) * len(file_years)
        found = sum(1 for (_, _, year) in persons if year in file_years)
        if found != expected:
            raise BuildError(f"{path.name}: not a full region x age x year grid ({found} of {expected})")
    return PopulationExport(region_labels, age_labels, sorted(years), persons)


def read_10826_export(reference: Path) -> PopulationExport:
    """Every 10826 export (2001-2020, 2021, 2022, ...) merged; each must list the same regions."""
    files = sorted((reference / "ssb").glob(EXPORT_10826))
    export = read_statbank_exports(files, "10826")
    first = export.regions_in(export.years[0])
    for year in export.years:
        if export.regions_in(year) != first:
            raise BuildError(
                f"10826 exports in {reference / 'ssb'}: the regions of {year} differ from those of "
                f"{export.years[0]}; the snapshot needs one region list for all years"
            )
    return export


def read_07459_export(reference: Path) -> PopulationExport:
    """Every 07459 export (one year each, municipalities spelled as agg_KommSummer codes "K-0301")."""
    return read_statbank_exports(sorted((reference / "ssb").glob(EXPORT_07459)), "07459")


# --- table models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Codelist:
    """An SSB codelist (here: valuesets, codes that are a subset of the table's own codes)."""

    id: str
    label: str
    values: dict[str, str]


@dataclass(frozen=True)
class Variable:
    """One dimension of a table: its code, label and categories (code -> label) in table order."""

    code: str
    label: str
    categories: dict[str, str]
    elimination: bool = False
    units: dict[str, dict[str, Any]] | None = None
    codelists: tuple[Codelist, ...] = ()


@dataclass(frozen=True)
class SsbTable:
    """What the builder knows of one SSB table, and how it produces the value of one cell."""

    table_id: str
    title: str
    updated: str
    subject_code: str
    subject_area: str
    variables: tuple[Variable, ...]
    cell: Callable[[dict[str, str]], Cell]
    provenance: str
    note: str

    def variable(self, code: str) -> Variable:
        return next(variable for variable in self.variables if variable.code == code)


@dataclass(frozen=True)
class FhiTable:
    """What the builder knows of one FHI nokkel table. `row` gives, for one combination of all
    dimensions but MEASURE_TYPE, either {measure: value} or an FHI flag code."""

    table_id: str
    title: str
    published_at: str
    modified_at: str
    dimensions: tuple[Variable, ...]
    row: Callable[[dict[str, str]], dict[str, float] | str]
    note: str


# --- SSB answers -------------------------------------------------------------------------------------


def ssb_table_info(table: SsbTable) -> dict[str, Any]:
    """GET tables/{id}: the table object (as in the real 03013 answer)."""
    periods = list(table.variable("Tid").categories)
    base = f"{SSB_BASE_URL}tables/{table.table_id}"
    return {
        "type": "Table",
        "id": table.table_id,
        "label": f"{table.table_id}: {table.title} {periods[0]}-{periods[-1]}",
        "description": "",
        "updated": table.updated,
        "firstPeriod": periods[0],
        "lastPeriod": periods[-1],
        "category": "public",
        "variableNames": [variable.label for variable in table.variables],
        "discontinued": False,
        "subjectCode": table.subject_code,
        "timeUnit": "Annual",
        "links": [
            {"rel": "self", "hreflang": "no", "href": f"{base}?lang=no"},
            {"rel": "metadata", "hreflang": "no", "href": f"{base}/metadata?lang=no&outputFormat=json-stat2"},
            {"rel": "data", "hreflang": "no", "href": f"{base}/data?lang=no&outputFormat=json-stat2"},
        ],
        "language": "no",
    }


def ssb_dimension(variable: Variable, categories: dict[str, str]) -> dict[str, Any]:
    category: dict[str, Any] = {
        "index": {code: position for position, code in enumerate(categories)},
        "label": dict(categories),
    }
    if variable.units:
        category["unit"] = {code: variable.units[code] for code in categories}
    extension: dict[str, Any] = {
        "elimination": variable.elimination,
        "show": "code" if variable.code == "Tid" else "value",
        "codeLists": [
            {
                "id": codelist.id,
                "label": codelist.label,
                "type": "Valueset",
                "links": [{"rel": "metadata", "href": f"{SSB_BASE_URL}codeLists/{codelist.id}?lang=no"}],
            }
            for codelist in variable.codelists
        ],
    }
    return {"label": variable.label, "category": category, "extension": extension}


def ssb_dataset(table: SsbTable, chosen: list[tuple[Variable, dict[str, str]]]) -> dict[str, Any]:
    """The JSON-stat2 frame shared by /metadata and /data (no `value` yet)."""
    ids = [variable.code for variable, _ in chosen]
    role = {"time": ["Tid"], "metric": ["ContentsCode"]}
    if "Region" in ids:
        role["geo"] = ["Region"]
    dataset: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "label": f"{table.table_id}: {table.title}",
        "source": "Statistisk sentralbyrå",
        "updated": table.updated,
        "role": role,
        "id": ids,
        "size": [len(categories) for _, categories in chosen],
        "dimension": {variable.code: ssb_dimension(variable, categories) for variable, categories in chosen},
        "extension": {
            "px": {
                "infofile": "None",
                "tableid": table.table_id,
                "decimals": 0,
                "official-statistics": True,
                "aggregallowed": False,
                "language": "no",
                "contents": f"{table.table_id}: {table.title.split(',')[0]},",
                "descriptiondefault": False,
                "matrix": table.table_id,
                "subject-code": table.subject_code,
                "subject-area": table.subject_area,
            },
            "contact": [
                {
                    "name": "Statistisk sentralbyrå",
                    "organization": "Statistisk sentralbyrå",
                    "phone": "62 88 50 00",
                    "mail": "informasjon@ssb.no",
                    "raw": "Statistisk sentralbyrå# +47 62 88 50 00#informasjon@ssb.no",
                }
            ],
        },
    }
    return dataset


def ssb_metadata(table: SsbTable) -> dict[str, Any]:
    """GET tables/{id}/metadata: JSON-stat2 without `value` (as in the real 11118 answer)."""
    dataset = ssb_dataset(table, [(variable, variable.categories) for variable in table.variables])
    dataset["href"] = f"{SSB_BASE_URL}tables/{table.table_id}/metadata?lang=no&outputFormat=json-stat2"
    dataset["link"] = {
        "data": [{"href": f"{SSB_BASE_URL}tables/{table.table_id}/data?lang=no&outputFormat=json-stat2"}]
    }
    return dataset


def resolve_ssb_selection(table: SsbTable, entry: TableSpec) -> list[tuple[Variable, dict[str, str]]]:
    """The chosen categories of every selected variable, in table order; eliminated variables left out."""
    where = f"catalogue entry {entry.name} (SSB table {table.table_id})"
    selection = {item["variable"]: item for item in entry.selection}
    unknown = set(selection) - {variable.code for variable in table.variables}
    if unknown:
        raise BuildError(f"{where}: the table has no variable {sorted(unknown)}")
    chosen = []
    for variable in table.variables:
        item = selection.get(variable.code)
        if item is None:
            if not variable.elimination:
                raise BuildError(
                    f"{where}: variable {variable.code} cannot be eliminated and is not selected"
                )
            continue
        available = variable.categories
        if item.get("codelist"):
            codelists = {codelist.id: codelist for codelist in variable.codelists}
            if item["codelist"] not in codelists:
                raise BuildError(f"{where}: variable {variable.code} has no codelist {item['codelist']!r}")
            available = codelists[item["codelist"]].values
        try:
            # The client's own resolver, so the snapshot answers exactly what the client asks for.
            wanted = set(
                resolve_values(
                    [str(value) for value in item["values"]],
                    list(available),
                    is_time=variable.code == "Tid",
                    variable=variable.code,
                    table=table.table_id,
                )
            )
        except SourceError as exc:
            raise BuildError(f"{where}: {exc}") from None
        chosen.append((variable, {code: label for code, label in available.items() if code in wanted}))
    return chosen


def ssb_request_body(entry: TableSpec) -> dict[str, Any]:
    """The POST body the SSB client sends for a catalogue entry (selection in catalogue order)."""
    selection = [
        Selection(item["variable"], [str(value) for value in item["values"]], item.get("codelist"))
        for item in entry.selection
    ]
    return {"selection": [item.as_body() for item in selection]}


def ssb_data(table: SsbTable, entry: TableSpec) -> dict[str, Any]:
    """POST tables/{id}/data: the JSON-stat2 answer to the entry's selection (as in the real 03024 answer)."""
    chosen = resolve_ssb_selection(table, entry)
    dataset = ssb_dataset(table, chosen)
    values: list[Any] = []
    status: dict[str, str] = {}
    for position, codes in enumerate(cell_coordinates(chosen)):
        value, symbol = table.cell(codes)
        values.append(value)
        if symbol is not None:
            status[str(position)] = symbol
    dataset["value"] = values
    if status:
        dataset["status"] = status
    return dataset


def cell_coordinates(chosen: list[tuple[Variable, dict[str, str]]]) -> list[dict[str, str]]:
    """Every cell's codes, in JSON-stat row-major order (the last dimension varies fastest)."""
    cells: list[dict[str, str]] = [{}]
    for variable, categories in chosen:
        cells = [{**cell, variable.code: code} for cell in cells for code in categories]
    return cells


def ssb_codelist(codelist: Codelist) -> dict[str, Any]:
    """GET codeLists/{id}: a valueset (each code maps to itself)."""
    return {
        "id": codelist.id,
        "label": codelist.label,
        "language": "no",
        "type": "Valueset",
        "elimination": False,
        "values": [
            {"code": code, "label": label, "valueMap": [code]} for code, label in codelist.values.items()
        ],
        "links": [{"rel": "self", "href": f"{SSB_BASE_URL}codeLists/{codelist.id}?lang=no"}],
    }


# --- FHI answers -------------------------------------------------------------------------------------


def fhi_table_info(table: FhiTable) -> dict[str, Any]:
    return {
        "tableId": int(table.table_id),
        "title": table.title,
        "publishedAt": table.published_at,
        "modifiedAt": table.modified_at,
    }


def fhi_query(table: FhiTable) -> dict[str, Any]:
    """GET {source}/table/{id}/query: a ready-made body naming every dimension."""
    return {
        "dimensions": [
            {"code": dimension.code, "filter": "item", "values": list(dimension.categories)}
            for dimension in table.dimensions
        ],
        "response": dict(FHI_RESPONSE),
    }


def fhi_request_body(entry: TableSpec) -> dict[str, Any]:
    """The POST body the FHI client sends for a catalogue entry."""
    return {
        "dimensions": [
            {"code": item["code"], "filter": item["filter"], "values": [str(v) for v in item["values"]]}
            for item in entry.dimensions_filter
        ],
        "response": dict(FHI_RESPONSE),
    }


def resolve_fhi_filter(table: FhiTable, entry: TableSpec) -> list[tuple[Variable, dict[str, str]]]:
    where = f"catalogue entry {entry.name} (FHI table {table.table_id})"
    filters = {item["code"]: item for item in entry.dimensions_filter}
    codes = [dimension.code for dimension in table.dimensions]
    if sorted(filters) != sorted(codes):
        raise BuildError(
            f"{where}: dimensions_filter must name every dimension {codes}, got {sorted(filters)}"
        )
    chosen = []
    for dimension in table.dimensions:
        item = filters[dimension.code]
        values = [str(value) for value in item["values"]]
        if item["filter"] == "all" and values == ["*"]:
            chosen.append((dimension, dict(dimension.categories)))
        elif item["filter"] == "item":
            missing = [value for value in values if value not in dimension.categories]
            if missing:
                raise BuildError(f"{where}: dimension {dimension.code} has no value {missing}")
            chosen.append((dimension, {c: label for c, label in dimension.categories.items() if c in values}))
        else:
            raise BuildError(
                f"{where}: filter {item['filter']!r} with {values} is not supported by the builder"
            )
    return chosen


def fhi_data(table: FhiTable, entry: TableSpec) -> dict[str, Any]:
    """POST {source}/table/{id}/data: JSON-stat2 in FHI's shape (index arrays, null roles, flags)."""
    chosen = resolve_fhi_filter(table, entry)
    *row_dimensions, (measure_dimension, measures) = chosen
    if measure_dimension.code != "MEASURE_TYPE":
        raise BuildError(f"FHI table {table.table_id}: MEASURE_TYPE must be the last dimension")
    values: list[Any] = []
    status: dict[str, str] = {}
    for codes in cell_coordinates(row_dimensions):
        row = table.row(codes)
        for measure in measures:
            if isinstance(row, str):
                status[str(len(values))] = row
                values.append(None)
            else:
                values.append(row[measure])
    dimension = {}
    for variable, categories in chosen:
        category: dict[str, Any] = {"index": list(categories), "label": dict(categories)}
        if variable.units:
            category["unit"] = {code: variable.units[code] for code in categories}
        dimension[variable.code] = {"label": variable.label, "category": category}
    return {
        "class": "dataset",
        "version": "2.0",
        "href": None,
        "label": table.title,
        "updated": table.modified_at,
        "source": None,
        "id": [variable.code for variable, _ in chosen],
        "size": [len(categories) for _, categories in chosen],
        "role": {"time": None, "geo": None, "metric": ["MEASURE_TYPE"]},
        "dimension": dimension,
        "value": values,
        # FHI sends an empty string when no cell is flagged (README example).
        "status": status or "",
    }


# --- writing -----------------------------------------------------------------------------------------


def dump(body: Any) -> bytes:
    """Compact UTF-8 JSON in the order the answer was built (as the APIs send it)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Answer:
    """One request and the answer the snapshot gives to it."""

    source: str
    resource: str
    method: str
    path: str
    params: dict[str, Any]
    request_body: Any
    body: Any
    provenance: str
    note: str

    @property
    def source_updated(self) -> str | None:
        """The answer's own change stamp, as the clients record it: `updated` (SSB, FHI data) or
        `modifiedAt` (FHI table info); None for answers without one (codelists, query, flags, lists)."""
        if isinstance(self.body, dict):
            return self.body.get("updated") or self.body.get("modifiedAt")
        return None

    def archived(self) -> ArchivedResponse:
        base_url = SSB_BASE_URL if self.source == "ssb" else FHI_BASE_URL
        url = base_url + self.path + (f"?{urlencode(self.params)}" if self.params else "")
        body = dump(self.body)
        return ArchivedResponse(
            source=self.source,
            resource=self.resource,
            method=self.method,
            url=url,
            path=self.path,
            params=self.params,
            request_body=self.request_body,
            status=200,
            headers={"content-type": JSON_CONTENT_TYPE},
            retrieved_at=BUILD_TIMESTAMP,
            sha256=sha256_bytes(body),
            provenance=self.provenance,
            source_updated=self.source_updated,
            note=self.note,
            body=body,
        )


def ssb_answers(table: SsbTable, entry: TableSpec) -> list[Answer]:
    common = {"source": "ssb", "resource": table.table_id, "provenance": table.provenance, "note": table.note}
    answers = [
        Answer(
            method="GET",
            path=f"tables/{table.table_id}",
            params=dict(SSB_INFO_PARAMS),
            request_body=None,
            body=ssb_table_info(table),
            **common,
        ),
        Answer(
            method="GET",
            path=f"tables/{table.table_id}/metadata",
            params=dict(SSB_DATA_PARAMS),
            request_body=None,
            body=ssb_metadata(table),
            **common,
        ),
        Answer(
            method="POST",
            path=f"tables/{table.table_id}/data",
            params=dict(SSB_DATA_PARAMS),
            request_body=ssb_request_body(entry),
            body=ssb_data(table, entry),
            **common,
        ),
    ]
    for item in entry.selection:
        if item.get("codelist"):
            codelist = next(c for c in table.variable(item["variable"]).codelists if c.id == item["codelist"])
            # The SSB client files codelists under one resource, "codelists", shared by all tables.
            answers.append(
                Answer(
                    method="GET",
                    path=f"codeLists/{codelist.id}",
                    params=dict(SSB_INFO_PARAMS),
                    request_body=None,
                    body=ssb_codelist(codelist),
                    **{**common, "resource": "codelists"},
                )
            )
    return answers


def fhi_answers(table: FhiTable, entry: TableSpec) -> list[Answer]:
    source = entry.fhi_source
    common = {"source": "fhi", "resource": table.table_id, "provenance": "illustrative", "note": table.note}
    base = f"{source}/table/{table.table_id}"
    return [
        Answer(method="GET", path=base, params={}, request_body=None, body=fhi_table_info(table), **common),
        Answer(
            method="GET", path=f"{base}/query", params={}, request_body=None, body=fhi_query(table), **common
        ),
        Answer(
            method="GET", path=f"{base}/flag", params={}, request_body=None, body=FHI_FLAG_LEGEND, **common
        ),
        Answer(
            method="POST",
            path=f"{base}/data",
            params={},
            request_body=fhi_request_body(entry),
            body=fhi_data(table, entry),
            **common,
        ),
    ]


def fhi_catalogue_answer(source: str, tables: list[FhiTable]) -> Answer:
    """GET {source}/table: the list of every FHI table in the snapshot, with modifiedAt."""
    unique = {table.table_id: table for table in tables}.values()
    listing = [fhi_table_info(table) for table in sorted(unique, key=lambda t: int(t.table_id))]
    return Answer(
        source="fhi",
        resource="catalogue",
        method="GET",
        path=f"{source}/table",
        params={},
        request_body=None,
        body=listing,
        provenance="illustrative",
        note=(
            "Illustrative table list: the FHI tables of this project's catalogue, with illustrative "
            "modifiedAt."
        ),
    )


# --- SSB tables --------------------------------------------------------------------------------------


def contents(code: str, label: str, base: str, decimals: int) -> Variable:
    return Variable(
        "ContentsCode",
        "statistikkvariabel",
        {code: label},
        units={code: {"base": base, "decimals": decimals}},
    )


def merge_contents(*variables: Variable) -> Variable:
    categories: dict[str, str] = {}
    units: dict[str, dict[str, Any]] = {}
    for variable in variables:
        categories.update(variable.categories)
        units.update(variable.units or {})
    return Variable("ContentsCode", "statistikkvariabel", categories, units=units)


def years(first: int, last: int) -> Variable:
    return Variable("Tid", "år", {str(year): str(year) for year in range(first, last + 1)})


def norwegian_age_label(code: str) -> str:
    return "105 år eller eldre" if code == "105+" else f"{int(code)} år"


def without_sex(table_id: str, codes: dict[str, str]) -> None:
    if "Kjonn" in codes:
        raise BuildError(
            f"SSB table {table_id}: the StatBank exports have no sex split; leave Kjonn out of the "
            "catalogue selection (it is eliminated, i.e. summed over both sexes)"
        )


def population_variables(export: PopulationExport, regions: dict[str, str]) -> tuple[Variable, ...]:
    """Region, Kjonn, Alder, ContentsCode and Tid of SSB's population tables (10826, 07459)."""
    return (
        Variable("Region", "region", regions),
        Variable("Kjonn", "kjønn", {"1": "Menn", "2": "Kvinner"}, elimination=True),
        Variable(
            "Alder",
            "alder",
            {code: norwegian_age_label(code) for code in export.age_labels},
            elimination=True,
        ),
        contents("Personer1", "Personer", "personer", 0),
        Variable("Tid", "år", {year: year for year in export.years}),
    )


def ssb_10826(export: PopulationExport) -> SsbTable:
    def cell(codes: dict[str, str]) -> Cell:
        without_sex("10826", codes)
        region, year = codes["Region"], codes["Tid"]
        if not export.region_alive(region, year):
            return None, "."
        return export.persons[region, codes["Alder"], year], None

    first, last = export.years[0], export.years[-1]
    return SsbTable(
        table_id="10826",
        title="Befolkning, etter region, kjønn, alder, statistikkvariabel og år",
        # Approximate publication date of the 1 January figures of the last export year (the export
        # does not carry it).
        updated=f"{last}-02-21T07:00:00Z",
        subject_code="be",
        subject_area="Befolkning",
        variables=population_variables(export, dict(export.region_labels)),
        cell=cell,
        provenance="reconstructed",
        note=(
            f"Reconstructed from the real SSB StatBank CSV exports of table 10826 for {first}-{last} "
            "(2001-2020 and 2021: folkehelseinstituttet/fhidata inst/rawdata/population; 2022-2024: "
            "niphr/csdata data-raw/files/population; latin1, wide by year; no sex dimension, so Kjonn is "
            "eliminated). Region codes and labels as in the export (English label text); age labels "
            "translated to the Norwegian StatBank wording. The export writes 0 for region-years outside a "
            "region's lifetime: where a region-year is 0 for every age, its cells have status '.' (cannot "
            "occur) and a null value; a 0 inside a living region-year is kept. The table-level 'updated' "
            f"is the approximate publication date of the {last} figures."
        ),
    )


def ssb_07459(export: PopulationExport) -> SsbTable:
    def cell(codes: dict[str, str]) -> Cell:
        without_sex("07459", codes)
        age, year = codes["Alder"], codes["Tid"]
        if codes["Region"] == "0301":
            return export.persons["K-0301", age, year], None
        return sum(export.persons[region, age, year] for region in export.regions_in(year)), None

    first, last = export.years[0], export.years[-1]
    return SsbTable(
        table_id="07459",
        title="Befolkning, etter region, kjønn, alder, statistikkvariabel og år",
        # Approximate publication date of the 1 January figures of the last export year.
        updated=f"{last}-02-21T07:00:00Z",
        subject_code="be",
        subject_area="Befolkning",
        variables=population_variables(export, {"0": "Hele landet", "0301": "Oslo"}),
        cell=cell,
        provenance="reconstructed",
        note=(
            f"Reconstructed from the real SSB StatBank CSV exports of table 07459 for {first}-{last}, one "
            "file a year (niphr/csdata data-raw/files/population/Personer<year>.csv; latin1, municipalities "
            "as agg_KommSummer codes 'K-0301', no sex dimension, so Kjonn is eliminated). Oslo (0301) is the "
            "export's row K-0301; Hele landet (0) is the sum of every row of that year's export (all "
            "municipalities and 'Rest: divided municipalities and unknown'), as SSB's national total is. "
            "Age labels translated to the Norwegian StatBank wording. No illustrative cells. The "
            f"table-level 'updated' is the approximate publication date of the {last} figures."
        ),
    )


def district_labels(export: PopulationExport) -> dict[str, str]:
    """SSB district codes of the four cities in the valueset's style, labelled as in the 10826 export."""
    codes = [code for code in export.region_labels if code.rstrip("a")[:6] in DEPRIVATION]
    oslo = [
        code for code in codes if code.startswith("0301") and code.endswith("a") and not code.endswith("aa")
    ]
    others = [code for code in codes if code[:4] in ("4601", "5001", "1103") and not code.endswith("a")]
    return {code: export.region_labels[code] for code in oslo + others}


def ssb_06944(export: PopulationExport) -> SsbTable:
    def cell(codes: dict[str, str]) -> Cell:
        region, year = codes["Region"], int(codes["Tid"])
        if region == "030117a":
            return None, ":"
        norway = 478_000 * 1.032 ** (year - 2015)
        if region == "0":
            level = norway
        elif region == "0301":
            level = 0.95 * norway
        else:
            level = 0.95 * norway * (1.45 - 0.72 * DEPRIVATION[region.rstrip("a")])
        return int(round(level * (1 + 0.012 * jitter("06944", region, year)), -2)), None

    districts = district_labels(export)
    valueset = Codelist("vs_Bydeler4StoreByerNye2", "Bydeler i de fire største byene", districts)
    return SsbTable(
        table_id="06944",
        title=(
            "Inntekt etter skatt for husholdninger, etter region, husholdningstype, statistikkvariabel og år"
        ),
        updated="2025-12-18T07:00:00Z",
        subject_code="if",
        subject_area="Inntekt og forbruk",
        variables=(
            Variable(
                "Region", "region", {"0": "Hele landet", "0301": "Oslo", **districts}, codelists=(valueset,)
            ),
            Variable("HusholdType", "husholdningstype", {"0000": "Alle husholdninger"}),
            contents("InntSkatt", "Inntekt etter skatt, median (kr)", "kr", 0),
            years(2015, 2024),
        ),
        cell=cell,
        provenance="illustrative",
        note=(
            "ILLUSTRATIVE, in the real PxWebApi v2 shape: median household income after tax, made-up levels "
            "(3.2 % yearly growth, a fixed spread between districts, a small deterministic jitter), rounded "
            "to 100 NOK. The valueset holds the district codes of the four cities as spelled in 10826 "
            "(abridged, not the real 57-code list). Marka (030117a) is suppressed (':'). Not official "
            "figures."
        ),
    )


def ssb_08764(export: PopulationExport) -> SsbTable:
    periods = {f"{end - 2}-{end}": f"{end - 2}-{end}" for end in range(2013, 2025)}

    def cell(codes: dict[str, str]) -> Cell:
        region, period = codes["Region"], codes["Tid"]
        end = int(period[-4:])
        step = end - 2013
        share = (15.6 + 0.18 * step if region == "0301" else 10.1 + 0.17 * step) + 0.3 * jitter(
            "08764", region, end
        )
        share = round(share, 1)
        if codes["ContentsCode"] == "AndelBarnLavinnt":
            return share, None
        children = export.total("030100aa", range(18), end)
        if region == "0":
            children *= norway_factor(0)
        return round(children * share / 100), None

    return SsbTable(
        table_id="08764",
        title="Barn under 18 år i husholdninger med lavinntekt (EU-skala 60 prosent), 3-årig, etter region, "
        "statistikkvariabel og periode",
        updated="2026-02-12T07:00:00Z",
        subject_code="if",
        subject_area="Inntekt og forbruk",
        variables=(
            Variable("Region", "region", {"0": "Hele landet", "0301": "Oslo"}),
            merge_contents(
                contents(
                    "AndelBarnLavinnt",
                    "Andel barn under 18 år i husholdninger med vedvarende lavinntekt (prosent)",
                    "prosent",
                    1,
                ),
                contents(
                    "AntallBarnLavinnt",
                    "Barn under 18 år i husholdninger med vedvarende lavinntekt",
                    "personer",
                    0,
                ),
            ),
            Variable("Tid", "periode", periods),
        ),
        cell=cell,
        provenance="illustrative",
        note=(
            "ILLUSTRATIVE, in the real PxWebApi v2 shape: made-up shares (Oslo about 16-18 %, Norway about "
            "10-12 %) for 3-year periods; counts are the share of the children 0-17 in the real 10826 Oslo "
            "total (Norway: Oslo times a made-up ratio). ContentsCode ids are this project's. Not official "
            "figures."
        ),
    )


def ssb_13563(export: PopulationExport) -> SsbTable:
    def cell(codes: dict[str, str]) -> Cell:
        region, year = codes["Region"], int(codes["Tid"])
        pandemic = 0.8 if year in (2020, 2021) else 0.0
        base = 8.7 if region == "0301" else 7.4
        share = round(base - 0.06 * (year - 2015) + pandemic + 0.2 * jitter("13563", region, year), 1)
        if codes["ContentsCode"] == "AndelNEET":
            return share, None
        young = export.total("030100aa", range(15, 30), year)
        if region == "0":
            young *= sum(norway_factor(age) for age in range(15, 30)) / 15
        return round(young * share / 100), None

    return SsbTable(
        table_id="13563",
        title="Personer 15-61 år utenfor arbeid, utdanning og arbeidsmarkedstiltak, etter region, "
        "hovedarbeidsstyrkestatus, alder, statistikkvariabel og år",
        updated="2025-11-27T07:00:00Z",
        subject_code="al",
        subject_area="Arbeid og lønn",
        variables=(
            Variable("Region", "region", {"0": "Hele landet", "0301": "Oslo"}),
            Variable(
                "HovArbStyrkStatus",
                "hovedarbeidsstyrkestatus",
                {"TOT3": "I alt", "NEET2": "Utenfor arbeid, utdanning og arbeidsmarkedstiltak"},
            ),
            Variable("Alder", "alder", {"15-29": "15-29 år", "30-61": "30-61 år"}),
            merge_contents(
                contents("AndelNEET", "Andel av befolkningen i aldersgruppen (prosent)", "prosent", 1),
                contents("PersonerNEET", "Personer", "personer", 0),
            ),
            years(2015, 2024),
        ),
        cell=cell,
        provenance="illustrative",
        note=(
            "ILLUSTRATIVE, in the real PxWebApi v2 shape: made-up NEET shares (a slow decline and a "
            "2020-2021 pandemic bump); counts are the share of the real 10826 Oslo population 15-29 (Norway: "
            "Oslo times a made-up ratio). ContentsCode ids are this project's. Not official figures."
        ),
    )


# --- FHI tables --------------------------------------------------------------------------------------


def fhi_geo_labels(reference: Path) -> dict[str, str]:
    """GEO labels from FHI's own flattened GEO dimension (fhi/fhi_GEO_dimension_flattened_*.csv)."""
    path = reference / "fhi" / "fhi_GEO_dimension_flattened_dim_regioner_FHI.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["region_code"]: row["region_navn"] for row in csv.DictReader(handle)}


def export_region(geo: str, year: int) -> str:
    """The 10826 export's code for an FHI GEO code in a year (city codes changed with the reforms)."""
    municipality, district = geo[:4], geo[4:] or "00"
    if municipality == "0301":
        return "030100aa" if district == "00" else f"0301{district}a"
    if municipality == "4601" and year < 2020:
        return "120100a" if district == "00" else f"1201{district}"
    if municipality == "5001" and year < 2018:
        return "160100aa" if district == "00" else f"1601{district}a"
    if municipality == "1103" and district == "00":
        return "110300a"
    return f"{municipality}{district}"


@dataclass(frozen=True)
class IllustrativeIndicator:
    """A made-up indicator: level = base + slope * deprivation + trend * period step + jitter."""

    table_id: str
    base: float
    slope: float
    trend: float
    noise: float
    ages: range  # the population the indicator is about (denominator, weights)
    counts: bool  # TELLER/NEVNER published, rate computed from them
    suppress_below: int = 0  # primary suppression: TELLER or NEVNER - TELLER below this -> flag 3

    def level(self, deprivation: float, step: int, *key: object) -> float:
        return (
            self.base
            + self.slope * deprivation
            + self.trend * step
            + self.noise * jitter(self.table_id, *key)
        )


def period_years(period: str) -> range:
    first, last = period.split("_")
    return range(int(first), int(last) + 1)


class FhiRows:
    """Rows of one illustrative FHI table. Municipal rows are built from their districts (counts summed,
    or, for published percentages without counts, population-weighted); Norway has its own level."""

    def __init__(
        self,
        indicator: IllustrativeIndicator,
        export: PopulationExport,
        periods: list[str],
        sex_offsets: dict[str, float],
        flagged: Callable[[dict[str, str]], str | None],
    ):
        self.indicator = indicator
        self.export = export
        self.steps = {period: step for step, period in enumerate(periods)}
        self.sex_offsets = sex_offsets
        self.flagged = flagged

    def population(self, geo: str, period: str) -> float:
        years_ = period_years(period)
        if geo == "0":
            ages = self.indicator.ages
            oslo = sum(
                self.export.total("030100aa", range(age, age + 1), year) for age in ages for year in years_
            )
            return oslo * sum(norway_factor(age) for age in ages) / len(ages) / len(years_)
        return sum(
            self.export.total(export_region(geo, year), self.indicator.ages, year) for year in years_
        ) / len(years_)

    def district_rate(self, geo: str, period: str, sex: str) -> float:
        deprivation = NORWAY_DEPRIVATION if geo == "0" else DEPRIVATION[geo]
        rate = self.indicator.level(deprivation, self.steps[period], geo, period, sex) + self.sex_offsets[sex]
        return min(max(rate, 0.5), 99.5)

    def counts(self, geo: str, period: str, sex: str) -> tuple[float, float]:
        """(TELLER, NEVNER) as yearly averages, unrounded; a municipality sums its districts."""
        if geo in MUNICIPALITIES:
            parts = [self.counts(d, period, sex) for d in DEPRIVATION if d.startswith(geo)]
            return sum(t for t, _ in parts), sum(n for _, n in parts)
        share = {"0": 1.0, "1": 0.51, "2": 0.49}[sex]
        denominator = self.population(geo, period) * share
        return denominator * self.district_rate(geo, period, sex) / 100, denominator

    def __call__(self, codes: dict[str, str]) -> dict[str, float] | str:
        geo, period, sex = codes["GEO"], codes["AAR"], codes["KJONN"]
        flag = self.flagged(codes)
        if flag:
            return flag
        numerator, denominator = self.counts(geo, period, sex)
        if round(denominator) == 0:
            return FLAG_CANNOT_COMPUTE
        if not self.indicator.counts:
            return {"MEIS": round(100 * numerator / denominator, 1)}
        teller, nevner = round(numerator), round(denominator)
        limit = self.indicator.suppress_below
        if geo not in MUNICIPALITIES and geo != "0" and (teller < limit or nevner - teller < limit):
            return FLAG_SUPPRESSED
        return {"TELLER": teller, "NEVNER": nevner, "RATE": round(100 * teller / nevner, 1)}


MEASURES = {
    "TELLER": ("Antall (teller)", {"decimals": 0, "label": "antall", "symbol": None, "position": None}),
    "NEVNER": ("Antall (nevner)", {"decimals": 0, "label": "antall", "symbol": None, "position": None}),
    "RATE": ("Andel (prosent)", {"decimals": 1, "label": "prosent", "symbol": "%", "position": "end"}),
    "MEIS": (
        "Andel (prosent), standardisert",
        {"decimals": 1, "label": "prosent", "symbol": "%", "position": "end"},
    ),
}


def fhi_table(
    table_id: str,
    title: str,
    modified_at: str,
    geo_labels: dict[str, str],
    geos: list[str],
    periods: dict[str, str],
    age: tuple[str, str],
    measures: list[str],
    rows: Callable,
    note: str,
    sexes: tuple[str, ...] = ("0",),
    extra: tuple[Variable, ...] = (),
) -> FhiTable:
    sex_labels = {"0": "Kjønn samlet", "1": "Menn", "2": "Kvinner"}
    return FhiTable(
        table_id=table_id,
        title=title,
        published_at=modified_at,
        modified_at=modified_at,
        dimensions=(
            Variable("GEO", "Geografi", {geo: geo_labels[geo] for geo in geos}),
            Variable("AAR", "År", periods),
            Variable("KJONN", "Kjønn", {sex: sex_labels[sex] for sex in sexes}),
            Variable("ALDER", "Alder", {age[0]: age[1]}),
            *extra,
            Variable(
                "MEASURE_TYPE",
                "Måltall",
                {m: MEASURES[m][0] for m in measures},
                units={m: MEASURES[m][1] for m in measures},
            ),
        ),
        row=rows,
        note=note,
    )


def multi_year_periods(first_end: int, last_end: int, length: int) -> dict[str, str]:
    return {
        f"{end - length + 1}_{end}": f"{end - length + 1}-{end}" for end in range(first_end, last_end + 1)
    }


def school_year_periods(first_end: int, last_end: int, length: int) -> dict[str, str]:
    return {
        f"{end - length + 1}_{end}": f"{end - length + 1}/{end - length + 2}-{end}/{end + 1}"
        for end in range(first_end, last_end + 1)
    }


def fhi_tables(export: PopulationExport, geo_labels: dict[str, str]) -> dict[str, FhiTable]:
    all_cities = ["0"] + [
        geo for m in MUNICIPALITIES for geo in [m, *(d for d in DEPRIVATION if d.startswith(m))]
    ]
    oslo = [geo for geo in all_cities if geo == "0" or geo.startswith("0301")]
    oslo = [geo for geo in oslo if geo not in ("030116", "030117")]
    cities = [geo for geo in all_cities if geo not in ("030116", "030117")]
    note = (
        "ILLUSTRATIVE: made-up values in the real FHI Statistikk (nokkel) JSON-stat2 shape; district "
        "denominators follow the real 10826 populations; municipal counts are sums of their districts. Not "
        "official figures. "
    )

    def new_districts(codes: dict[str, str]) -> str | None:
        # Finnøy and Rennesøy became districts of Stavanger in 2020.
        if codes["GEO"] in ("110308", "110309") and period_years(codes["AAR"])[0] < 2020:
            return FLAG_CANNOT_COMPUTE
        return None

    def first_ungdata_period(periods: dict[str, str]) -> Callable[[dict[str, str]], str | None]:
        first = next(iter(periods))

        def flagged(codes: dict[str, str]) -> str | None:
            district = len(codes["GEO"]) == 6
            return FLAG_MISSING if district and codes["AAR"] == first else None

        return flagged

    tables = {}
    periods = {f"{year}_{year}": str(year) for year in range(2015, 2024)}
    neet = IllustrativeIndicator(
        "932", base=3.2, slope=7.5, trend=-0.08, noise=0.5, ages=range(16, 26), counts=True, suppress_below=20
    )
    tables["932"] = fhi_table(
        "932",
        "Unge utenfor arbeid og utdanning (B)",
        "2025-03-14T09:12:33.1234567+00:00",
        geo_labels,
        cities,
        periods,
        ("16_25", "16-25 år"),
        ["TELLER", "NEVNER", "RATE"],
        FhiRows(neet, export, list(periods), {"0": 0.0}, new_districts),
        note
        + (
            "Finnøy/Rennesøy before 2020 are flagged 2 ('.'); district numerators below 20 are flagged 3 "
            "(':')."
        ),
    )
    periods = multi_year_periods(2015, 2023, 3)
    low_income = IllustrativeIndicator(
        "507", base=3.0, slope=28.0, trend=0.15, noise=0.8, ages=range(18), counts=True, suppress_below=10
    )
    tables["507"] = fhi_table(
        "507",
        "Vedvarende lavinntekt (B)",
        "2025-01-30T10:05:12.4417803+00:00",
        geo_labels,
        cities,
        periods,
        ("0_17", "0-17 år"),
        ["TELLER", "NEVNER", "RATE"],
        FhiRows(low_income, export, list(periods), {"0": 0.0}, new_districts),
        note + "3-year periods; TELLER and NEVNER are yearly averages.",
    )
    periods = multi_year_periods(2014, 2022, 3)
    # Near the real Oslo kommune figures for the 2012-2013 cohorts: Gamle Oslo ~34 %, Vestre Aker ~11 %.
    dropout = IllustrativeIndicator(
        "360",
        base=11.3,
        slope=24.0,
        trend=-0.35,
        noise=0.7,
        ages=range(16, 17),
        counts=True,
        suppress_below=10,
    )
    tables["360"] = fhi_table(
        "360",
        "Frafall i videregående skole (B)",
        "2024-12-05T08:44:01.9027715+00:00",
        geo_labels,
        cities,
        periods,
        ("0_120", "alle aldre"),
        ["TELLER", "NEVNER", "RATE"],
        FhiRows(dropout, export, list(periods), {"0": 0.0}, new_districts),
        note + "Start cohorts (AAR) pooled over 3 years; the denominator is the residents aged 16 as a proxy "
        "for a start cohort. Oslo district levels are set near the real Oslo figures for the 2012-2013 "
        "cohorts.",
    )
    periods = multi_year_periods(2016, 2023, 3)
    leisure = IllustrativeIndicator(
        "401", base=73.0, slope=-30.0, trend=-0.4, noise=1.5, ages=range(13, 16), counts=False
    )
    tables["401"] = fhi_table(
        "401",
        "Ungdata: Med i fritidsorganisasjon (B)",
        "2024-06-20T12:00:41.5550912+00:00",
        geo_labels,
        oslo,
        periods,
        ("13_15", "13-15 år"),
        ["MEIS"],
        FhiRows(leisure, export, list(periods), {"0": 0.0}, first_ungdata_period(periods)),
        note + "Standardised 3-year shares; the districts of the first period are flagged 1 ('..').",
    )
    periods = school_year_periods(2019, 2023, 5)
    wellbeing = IllustrativeIndicator(
        "175", base=88.0, slope=-6.0, trend=-0.3, noise=1.0, ages=range(15, 16), counts=False
    )
    tables["175"] = fhi_table(
        "175",
        "Trives på skolen, 10. trinn (B)",
        "2024-11-07T13:30:00.0000000+00:00",
        geo_labels,
        cities,
        periods,
        ("15_16", "15-16 år"),
        ["MEIS"],
        FhiRows(wellbeing, export, list(periods), {"0": 0.0, "1": 1.2, "2": -1.2}, lambda codes: None),
        note + "5 school years pooled, by sex.",
        sexes=("0", "1", "2"),
        extra=(Variable("TRINN", "Trinn", {"10": "10. trinn"}),),
    )
    periods = multi_year_periods(2016, 2023, 3)
    local = IllustrativeIndicator(
        "412", base=81.0, slope=-20.0, trend=0.2, noise=1.5, ages=range(13, 16), counts=False
    )
    tables["412"] = fhi_table(
        "412",
        "Ungdata: Fornøyd med lokalmiljøet (B)",
        "2024-06-20T12:00:41.5550912+00:00",
        geo_labels,
        oslo,
        periods,
        ("13_15", "13-15 år"),
        ["MEIS"],
        FhiRows(local, export, list(periods), {"0": 0.0}, lambda codes: None),
        note + "Standardised 3-year shares.",
    )
    return tables


# --- the build ---------------------------------------------------------------------------------------


def load_catalogue(catalogue_root: Path, source: str) -> list[TableSpec]:
    """The checked catalogue entries of one source (<catalogue_root>/<source>/*.yaml)."""
    return [load_table_spec(path, expected_source=source)
            for path in sorted((catalogue_root / source).glob("*.yaml"))]


def build(reference: Path, out: Path, catalogue_root: Path) -> int:
    """(Re)create out/ssb and out/fhi from the catalogue; returns the number of answers written."""
    if not reference.is_dir():
        raise BuildError(f"reference folder {reference} does not exist")
    export = read_10826_export(reference)
    ssb_tables = {
        table.table_id: table
        for table in (
            ssb_10826(export),
            ssb_07459(read_07459_export(reference)),
            ssb_06944(export),
            ssb_08764(export),
            ssb_13563(export),
        )
    }
    fhi = fhi_tables(export, fhi_geo_labels(reference))

    answers: list[Answer] = []
    for entry in load_catalogue(catalogue_root, "ssb"):
        if entry.table_id not in ssb_tables:
            raise BuildError(
                f"catalogue entry {entry.name}: the builder has no SSB table {entry.table_id}"
            )
        answers.extend(ssb_answers(ssb_tables[entry.table_id], entry))
    fhi_used: dict[str, list[FhiTable]] = {}
    for entry in load_catalogue(catalogue_root, "fhi"):
        if entry.table_id not in fhi:
            raise BuildError(
                f"catalogue entry {entry.name}: the builder has no FHI table {entry.table_id}"
            )
        table = fhi[entry.table_id]
        fhi_used.setdefault(entry.fhi_source, []).append(table)
        answers.extend(fhi_answers(table, entry))
    for source, tables in sorted(fhi_used.items()):
        answers.append(fhi_catalogue_answer(source, tables))

    for source in ("ssb", "fhi"):
        shutil.rmtree(out / source, ignore_errors=True)
    archive = Archive(out)
    for answer in answers:
        archive.write(answer.archived())
    return len(answers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reference",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "reference",
        help="folder of real recorded responses and exports (default: ../shared/reference)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "data" / "snapshots",
        help="snapshot archive root; its ssb/ and fhi/ folders are replaced (default: data/snapshots)",
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=REPO_ROOT / "assets" / "sources",
        help="source catalogue root with ssb/ and fhi/ YAML files (default: assets/sources)",
    )
    args = parser.parse_args(argv)
    try:
        written = build(args.reference.resolve(), args.out.resolve(), args.catalogue.resolve())
    except BuildError as exc:
        print(f"build_snapshots: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {written} answers under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
