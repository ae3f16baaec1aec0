"""Reading one JSON-stat 2.0 answer into a `JsonStatTable`: `read_jsonstat()` (dimensions and cells),
`read_jsonstat_metadata()` (dimensions only) and `parse_timestamp()` (the source's `updated`).

The document is parsed with orjson (unless it comes parsed; in a bytes body, a dense `value` array of
numbers and nulls is read by ci_pipeline.jsonstat.dense_values without a Python object per cell), checked
to be a 2.0 dataset (a JSON-stat 1.x answer gets an error saying what to request instead), its dimensions
read by ci_pipeline.jsonstat.dimensions and its cells by ci_pipeline.jsonstat.cells; this module lays them
out as the frame: one categorical column of category positions per dimension, built with np.repeat/np.tile
over `size`, never cell by cell, then `value` and `status`.
"""

from __future__ import annotations

import warnings
from math import prod
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ci_pipeline.archive import read_source_timestamp
from ci_pipeline.jsonstat.cells import code_dtype, read_cells
from ci_pipeline.jsonstat.dense_values import parse_with_dense_values
from ci_pipeline.jsonstat.dimensions import ids_and_sizes, read_dimension, table_names
from ci_pipeline.jsonstat.model import JsonStatError, JsonStatTable, JsonStatWarning


def read_jsonstat(doc: bytes | str | dict, *, origin: str | None = None) -> JsonStatTable:
    """Read one JSON-stat 2.0 data answer (bytes, text or an already parsed dict): dimensions and cells.

    `origin` (a file name or URL) is put in front of every error and warning message.

    Every cell must be there: a `value` array with one entry per cell of the product of `size`, or a
    sparse `value` object keyed by cell number. A missing, null or too short `value` is an error (a
    /metadata answer, which has no cells, is read with read_jsonstat_metadata).

    `status` may be one string for every cell, an array with one symbol per cell, a one-element
    array that applies to every cell (as the JSON-stat JavaScript toolkit reads it), or an object
    keyed by cell number. A dimension called `value` or `status` is renamed (see Dimension). An
    `updated` that is not a timestamp does not stop the reading: it warns (JsonStatWarning) and the
    table's `updated` is None (unknown), with the stamp as sent in `updated_raw`.
    """
    return _read(doc, origin, with_cells=True)


def read_jsonstat_metadata(doc: bytes | str | dict, *, origin: str | None = None) -> JsonStatTable:
    """Read the dimensions of a JSON-stat 2.0 answer and none of its cells: a frame without rows.

    For PxWebApi 2's /tables/{id}/metadata, which SSB sends without `value` and Statistics Sweden with
    `"value": []`, under a `size` whose product may be in the millions: `value` and `status` are not
    looked at, whatever they hold, and nothing per cell is allocated.
    """
    return _read(doc, origin, with_cells=False)


def _read(doc: bytes | str | dict, origin: str | None, *, with_cells: bool) -> JsonStatTable:
    where = f"{origin}: " if origin else ""
    from_json_text = isinstance(doc, (bytes, bytearray, memoryview, str))
    dense_values = None
    if with_cells and isinstance(doc, bytes):
        parsed = parse_with_dense_values(doc)
        if parsed is not None:
            doc, dense_values = parsed
    if isinstance(doc, (bytes, bytearray, memoryview, str)):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError as exc:
            raise JsonStatError(f"{where}not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise JsonStatError(f"{where}expected a JSON object, got {type(doc).__name__}")
    _reject_jsonstat1(doc, where)
    if doc.get("class") != "dataset":
        raise JsonStatError(f"{where}JSON-stat class is {doc.get('class')!r}; only 'dataset' is supported")

    source_ids, sizes = ids_and_sizes(doc, where)
    names = table_names(source_ids, where)
    ids = [names[dim_id] for dim_id in source_ids]
    dimensions = {names[dim_id]: read_dimension(dim_id, names[dim_id], doc["dimension"][dim_id], size, where)
                  for dim_id, size in zip(source_ids, sizes)}

    if with_cells:
        values, status_codes, status_symbols = read_cells(
            doc, prod(sizes), where, from_json_text=from_json_text, dense_values=dense_values)
        dimension_codes = _row_major_codes(sizes)
    else:
        values = np.empty(0, dtype=np.float64)
        status_codes, status_symbols = np.empty(0, dtype=np.int8), []
        dimension_codes = [np.empty(0, dtype=np.int8) for _ in ids]

    columns: dict[str, Any] = {
        dim_id: _categorical(codes, dimensions[dim_id].codes)
        for dim_id, codes in zip(ids, dimension_codes)
    }
    columns["value"] = values
    columns["status"] = _categorical(status_codes, status_symbols)
    # every column is a new array of the reader's own, so the frame need not copy them
    frame = pd.DataFrame(columns, copy=False)
    raw_updated = doc.get("updated")
    return JsonStatTable(
        label=doc.get("label"),
        source=doc.get("source"),
        updated=_updated(raw_updated, origin),
        ids=ids,
        sizes=sizes,
        dimensions=dimensions,
        roles={role: [names.get(dim_id, dim_id) for dim_id in dims or []]
               for role, dims in (doc.get("role") or {}).items()},
        extension=doc.get("extension") or {},
        frame=frame,
        updated_raw=None if raw_updated is None else str(raw_updated),
    )


def _reject_jsonstat1(doc: dict, where: str) -> None:
    version = doc.get("version")
    if version is not None and not str(version).startswith("1"):
        return
    request = ("not JSON-stat 2.0; request the json-stat2 format (PxWebApi v2: outputFormat=json-stat2, "
               "v1: \"response\": {\"format\": \"json-stat2\"})")
    if doc.get("class") in (None, "bundle"):
        bundled = [key for key, item in doc.items() if isinstance(item, dict) and "dimension" in item]
        if bundled:
            raise JsonStatError(
                f"{where}this is a JSON-stat 1.x bundle (top-level key {bundled[0]!r} holds the dataset, "
                f"with id/size inside 'dimension'), {request}")
    # 1.x keeps id and size inside 'dimension'; 1.01 datasets may say "class": "dataset" all the same.
    if "id" not in doc and isinstance(doc.get("dimension"), dict) and "id" in doc["dimension"]:
        declared = f"version {version!r}" if version is not None else "no 'version'"
        raise JsonStatError(
            f"{where}this is a JSON-stat 1.x dataset ({declared}, id/size inside 'dimension'), {request}")


def _row_major_codes(sizes: list[int]) -> list[np.ndarray]:
    """For each dimension, the category position of every cell (the last dimension varies fastest)."""
    codes = []
    for axis, size in enumerate(sizes):
        inner = prod(sizes[axis + 1:])
        outer = prod(sizes[:axis])
        positions = np.arange(size, dtype=code_dtype(size))
        codes.append(np.tile(np.repeat(positions, inner), outer))
    return codes


def _categorical(codes: np.ndarray, categories: list[str]) -> pd.Categorical:
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"))
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _updated(raw: Any, origin: str | None) -> str | None:
    """`updated` as ISO-8601 UTC; None (unknown) with a warning when it is not a timestamp."""
    try:
        return parse_timestamp(raw, origin=origin)
    except JsonStatError as exc:
        warnings.warn(f"{exc}; the data is read, and its update stamp counts as unknown",
                      JsonStatWarning, stacklevel=4)
        return None


def parse_timestamp(text: str | None, *, origin: str | None = None) -> str | None:
    """A source timestamp as ISO-8601 UTC ("2022-12-20T11:44:58.770632Z"), read by
    archive.read_source_timestamp; one that is not a timestamp is a JsonStatError naming `origin`."""
    if text is None:
        return None
    try:
        moment = read_source_timestamp(text)
    except ValueError as exc:
        raise JsonStatError(f"{origin + ': ' if origin else ''}'updated' is {exc}") from None
    return moment.isoformat().replace("+00:00", "Z")
