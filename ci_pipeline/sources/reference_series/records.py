"""An original reference file read as records, one per figure, by the recipe's `read.format`:
`read_records()`. Each record maps the file's keys to the text as written, with `_line` saying where in
the file it stands; mapping records to rows is build.py's job.

Formats:
- imdi_flat: IMDi's flat key-value CSV (",", quoted): one row per figure; keys are the columns.
- imdi_crossed: IMDi's crossed export (";", latin1, decimal comma, "341 500"): three header rows give
  each data column its keys ("innvkat_5.alle", "kjonn.1", "enhet.prosent"), then one row per region
  with the code in column 2 and the name in column 3; one record per (row, data column).
- table_csv: a small UTF-8 table transcribed from a web page: one record per (row, measure column);
  an empty measure cell means the page gives no figure and makes no row.
"""

from __future__ import annotations

import csv
import io

from ci_pipeline.sources.reference_series.spec import Recipe, ReferenceSeriesError


def _records_flat(data: bytes, origin: str) -> list[dict[str, str]]:
    text = data.decode("ascii")
    reader = csv.DictReader(io.StringIO(text))
    records = []
    for line, row in enumerate(reader, start=2):
        if None in row or None in row.values():
            raise ReferenceSeriesError(f"{origin} line {line}: {len(row)} fields do not match the header")
        records.append({"_line": str(line), **row})
    return records


def _records_crossed(data: bytes, origin: str, value_key: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(data.decode("latin1")), delimiter=";"))
    header, body = rows[:3], [row for row in rows[3:] if any(cell.strip() for cell in row)]
    width = len(header[0])
    columns: list[dict[str, str]] = []
    for position in range(3, width):
        keys: dict[str, str] = {}
        for row in header:
            token = row[position].strip() if position < len(row) else ""
            if not token:
                continue
            name, dot, code = token.partition(".")
            if not dot or name in keys:
                raise ReferenceSeriesError(f"{origin} column {position + 1}: header token {token!r} is not key.value "
                                           "or repeats a key")
            keys[name] = code
        columns.append(keys)
    records = []
    for line, row in enumerate(body, start=4):
        if len(row) != width:
            raise ReferenceSeriesError(f"{origin} line {line}: {len(row)} fields, the header has {width}")
        for position, keys in enumerate(columns, start=3):
            records.append({"_line": f"{line} column {position + 1}", "region_code": row[1].strip(),
                            "region_label": row[2].strip(), **keys, value_key: row[position]})
    return records


def _records_table(data: bytes, origin: str, recipe: Recipe) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    measures = set(recipe.measure.codes) | set(recipe.measure.not_used)
    used = {recipe.region.key, recipe.period.key, *(c.key for c in (recipe.sex, recipe.age) if c is not None),
            *recipe.keep, *recipe.ignore_keys} - {None}
    unknown = [column for column in reader.fieldnames or [] if column not in measures | used]
    if unknown:
        raise ReferenceSeriesError(f"{origin}: column(s) {unknown} are neither measures nor named in the recipe")
    records = []
    for line, row in enumerate(reader, start=2):
        for column in reader.fieldnames or []:
            if column in measures and row[column].strip():
                records.append({"_line": f"{line} column {column}", **row, recipe.measure.key: column,
                                recipe.value_key: row[column]})
    return records


def read_records(data: bytes, recipe: Recipe, origin: str) -> list[dict[str, str]]:
    if recipe.format == "imdi_flat":
        return _records_flat(data, origin)
    if recipe.format == "imdi_crossed":
        return _records_crossed(data, origin, recipe.value_key)
    return _records_table(data, origin, recipe)
