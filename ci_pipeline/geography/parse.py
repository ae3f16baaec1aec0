"""Readers for KLASS answers: every shape the KLASS API and its CSV exports answer in, as frames.

JSON: `codes`, `codesAt`, `classifications/{id}`, `versions/{id}` (with its misspelled `changeOccured`),
`changes` (with `changeOccurred`), `correspondencetables/{id}`. CSV exports: latin1, `;`, quoted, ragged
rows (an 8-column header and 6-field rows). Absent values (null or "") are None; a code listed twice,
a missing code or name, or a row that cannot be aligned is a GeographyError naming the answer.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import pandas as pd


class GeographyError(ValueError):
    """KLASS answers or observations that cannot be read or are inconsistent."""


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


def _code_item(item: dict[str, Any], origin: str, where: str) -> dict[str, str | None]:
    """The fields every KLASS code item has (in codes, codesAt and a version's classificationItems)."""
    return {
        "code": _required(item, "code", origin, where),
        "parent_code": _text(item.get("parentCode")),
        "level": _text(item.get("level")),
        "name": _required(item, "name", origin, where),
        "short_name": _text(item.get("shortName")),
        "notes": _text(item.get("notes")),
    }


def parse_codes(doc: Any, *, origin: str = "KLASS codes") -> pd.DataFrame:
    """A `codes` or `codesAt` answer ({"codes": [...]}) as a frame with CODE_COLUMNS."""
    records = []
    for index, item in enumerate(_require_list(doc, "codes", origin)):
        records.append({
            **_code_item(item, origin, f"codes[{index}]"),
            "presentation_name": _text(item.get("presentationName")),
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
        items.append(_code_item(item, origin, f"classificationItems[{index}]"))
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
