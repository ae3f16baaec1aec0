"""JSON-stat 2.0 reader: one SSB or FHI data answer as a table of category codes, values and status.

Both SSB (PxWebApi v2, and v1 with response format json-stat2) and FHI Statistikk answer data requests
in JSON-stat 2.0, each with its own quirks (see SOURCES.md 1.2 and 3):

- SSB: `category.index` is an object, `status` a sparse object {"cell": symbol}, `/metadata` answers
  have no `value` at all;
- FHI: `category.index` is an array, `role.time`/`role.geo` may be null, `status` may be "", `updated`
  has seven fractional-second digits, and `value` may mix flag strings into the numbers.

`read_jsonstat()` turns one response into a `JsonStatTable`: the dimensions and a frame with one
categorical column of category codes per dimension, then `value` (float64) and `status`. A response of
800,000 cells is the SSB maximum, so the reader works on whole numpy arrays: the dimension columns are
built with np.repeat/np.tile over `size`, never cell by cell.

This module only reads; ci_pipeline.tidy maps a table through its catalogue entry into tidy observations.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ci_pipeline.archive import read_source_timestamp


class JsonStatError(ValueError):
    """A response that is not a well-formed JSON-stat 2.0 dataset, or a table its spec cannot map
    (ci_pipeline.tidy)."""


class JsonStatWarning(UserWarning):
    """A response that was read, with something its caller should show (a malformed `updated`, a
    renamed dimension). Callers surface it with warnings.catch_warnings(record=True)."""


# The frame's own columns; a dimension with one of these ids gets RENAMED_SUFFIX in the table.
FRAME_COLUMNS = ("value", "status")
RENAMED_SUFFIX = "_dimension"


@dataclass(frozen=True)
class Dimension:
    """One dimension of a dataset.

    id: its name in the table (the key in JsonStatTable.dimensions, its place in `ids`, its frame
    column): the id the source sent, except that a dimension called `value` or `status` is renamed
    `value_dimension` / `status_dimension` so that it cannot overwrite the frame's own columns;
    `source_id` is always the id as sent (what a request to the source must name).
    labels: a label for every code; a category without one is labelled with its code (the spec's
    default). Labels of codes that are not categories are kept as sent.
    children: category.child as sent, parent code -> child codes: which categories add up to which
    (a region and its districts). The codes are the source's; a child need not be in this answer.
    """

    id: str
    label: str | None
    codes: list[str]
    labels: dict[str, str]
    units: dict[str, dict] = field(default_factory=dict)
    extension: dict = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    renamed_from: str | None = None

    @property
    def source_id(self) -> str:
        return self.renamed_from or self.id


@dataclass
class JsonStatTable:
    """One JSON-stat 2.0 dataset.

    frame: one categorical column of category codes per dimension (in `ids` order, named by the
    dimension's id in the table, see Dimension), then `value` (float64, NaN where the cell is missing)
    and `status` (categorical of symbols, NaN where there is none). Rows are in JSON-stat row-major
    order (the last dimension varies fastest). A table read with read_jsonstat_metadata has no rows.
    updated: the source's `updated` as ISO-8601 UTC, or None when the source sent none or one that is
    not a timestamp: then the update stamp is unknown. updated_raw: `updated` as the source sent it.
    """

    label: str | None
    source: str | None
    updated: str | None
    ids: list[str]
    sizes: list[int]
    dimensions: dict[str, Dimension]
    roles: dict[str, list[str]]
    extension: dict
    frame: pd.DataFrame
    updated_raw: str | None = None

    @property
    def table_id(self) -> str | None:
        tableid = (self.extension.get("px") or {}).get("tableid")
        return None if tableid is None else str(tableid)


_NUMBER_TYPES = frozenset({int, float, type(None)})


# --------------------------------------------------------------------------------------------- reading

# What a caller reading a /metadata answer as data is told.
_METADATA_HINT = "a /metadata answer (dimensions only) is read with read_jsonstat_metadata"


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

    source_ids, sizes = _ids_and_sizes(doc, where)
    names = _table_names(source_ids, where)
    ids = [names[dim_id] for dim_id in source_ids]
    dimensions = {names[dim_id]: _dimension(dim_id, names[dim_id], doc["dimension"][dim_id], size, where)
                  for dim_id, size in zip(source_ids, sizes)}

    if with_cells:
        values, status_codes, status_symbols = _cells(doc, prod(sizes), where)
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
        frame=pd.DataFrame(columns),
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


def _ids_and_sizes(doc: dict, where: str) -> tuple[list[str], list[int]]:
    ids, sizes, dimension = doc.get("id"), doc.get("size"), doc.get("dimension")
    if not isinstance(ids, list) or not all(isinstance(dim_id, str) for dim_id in ids):
        raise JsonStatError(f"{where}'id' must be a list of dimension ids, got {ids!r}")
    if not isinstance(sizes, list) or not all(isinstance(size, int) and size >= 0 for size in sizes):
        raise JsonStatError(f"{where}'size' must be a list of non-negative integers, got {sizes!r}")
    if len(ids) != len(sizes):
        raise JsonStatError(f"{where}'id' has {len(ids)} dimensions but 'size' has {len(sizes)}")
    if len(set(ids)) != len(ids):
        raise JsonStatError(f"{where}'id' lists a dimension twice: {ids}")
    if not isinstance(dimension, dict):
        raise JsonStatError(f"{where}'dimension' is missing or not an object")
    missing = [dim_id for dim_id in ids if dim_id not in dimension]
    if missing:
        raise JsonStatError(f"{where}dimension(s) {missing} are listed in 'id' but missing from 'dimension'")
    return ids, sizes


def _table_names(ids: list[str], where: str) -> dict[str, str]:
    """Each dimension's name in the table: its id, or id + RENAMED_SUFFIX for `value` and `status`."""
    names = {dim_id: dim_id + RENAMED_SUFFIX if dim_id in FRAME_COLUMNS else dim_id for dim_id in ids}
    renamed = {dim_id: name for dim_id, name in names.items() if name != dim_id}
    for dim_id, name in renamed.items():
        if name in names:
            raise JsonStatError(
                f"{where}dimension {dim_id!r} cannot be renamed {name!r} (the frame has its own {dim_id!r} "
                f"column), because the dataset also has a dimension {name!r}")
    if renamed:
        warnings.warn(
            f"{where}dimension(s) {list(renamed)} renamed {list(renamed.values())} in the table: the frame "
            "has its own 'value' and 'status' columns", JsonStatWarning, stacklevel=4)
    return names


def _dimension(dim_id: str, name: str, spec: Any, size: int, where: str) -> Dimension:
    if not isinstance(spec, dict) or not isinstance(spec.get("category"), dict):
        raise JsonStatError(f"{where}dimension {dim_id!r} has no 'category' object")
    category = spec["category"]
    labels = category.get("label") or {}
    if not isinstance(labels, dict):
        raise JsonStatError(f"{where}dimension {dim_id!r}: category.label must be an object (code -> label)")
    index = category.get("index")
    if index is None:
        if len(labels) != 1:
            raise JsonStatError(
                f"{where}dimension {dim_id!r} has no category.index and {len(labels)} labels; "
                "an index may only be left out for a single category")
        codes = [str(code) for code in labels]
    elif isinstance(index, list):
        codes = [str(code) for code in index]
        if len(set(codes)) != len(codes):
            raise JsonStatError(f"{where}dimension {dim_id!r}: category.index lists a code twice")
    elif isinstance(index, dict):
        codes = _codes_from_positions(dim_id, index, where)
    else:
        raise JsonStatError(f"{where}dimension {dim_id!r}: category.index must be an object or an array")
    if len(codes) != size:
        raise JsonStatError(
            f"{where}dimension {dim_id!r} has {len(codes)} categories but 'size' says {size}")
    return Dimension(
        id=name,
        label=spec.get("label"),
        codes=codes,
        labels=_labels(codes, labels),
        units=dict(category.get("unit") or {}),
        extension=dict(spec.get("extension") or {}),
        children=_children(dim_id, category.get("child"), where),
        renamed_from=dim_id if name != dim_id else None,
    )


def _labels(codes: list[str], labels: dict) -> dict[str, str]:
    """A label for every code: the source's, or the code itself (the spec's default)."""
    given = {str(code): text for code, text in labels.items()}
    return {**{code: given.get(code, code) for code in codes}, **given}


def _children(dim_id: str, child: Any, where: str) -> dict[str, list[str]]:
    if child is None:
        return {}
    if not isinstance(child, dict) or not all(
            isinstance(kids, list) and all(isinstance(kid, str) for kid in kids) for kids in child.values()):
        raise JsonStatError(
            f"{where}dimension {dim_id!r}: category.child must map a category to the list of its child "
            "categories' codes")
    return {str(parent): list(kids) for parent, kids in child.items()}


def _codes_from_positions(dim_id: str, index: dict, where: str) -> list[str]:
    codes: list[str | None] = [None] * len(index)
    for code, position in index.items():
        if not isinstance(position, int) or not 0 <= position < len(index) or codes[position] is not None:
            raise JsonStatError(
                f"{where}dimension {dim_id!r}: category.index gives {code!r} position {position!r}; "
                f"positions must be 0..{len(index) - 1}, each used once")
        codes[position] = str(code)
    return codes  # type: ignore[return-value]


def _cells(doc: dict, cell_count: int, where: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The values (float64) and the status (codes into a list of symbols) of every cell."""
    raw = doc.get("value")
    if raw is None:
        if cell_count:
            raise JsonStatError(
                f"{where}the dataset has no 'value' but 'size' makes {cell_count:,} cells; {_METADATA_HINT}")
        raw = []
    values, value_strings = _values(raw, cell_count, where)
    status_codes, status_symbols = _status(doc.get("status"), cell_count, where)
    if value_strings is not None:
        status_codes, status_symbols = _merge_value_strings(status_codes, status_symbols, value_strings, where)
    return values, status_codes, status_symbols


def _values(raw: Any, cell_count: int, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The cell values as float64 (NaN for null) and, when the source mixed strings into them, the
    strings as an object array (None elsewhere)."""
    if isinstance(raw, list):
        if len(raw) != cell_count:
            hint = f"; {_METADATA_HINT}" if not raw else ""
            raise JsonStatError(
                f"{where}'value' has {len(raw):,} cells but the product of 'size' is {cell_count:,}{hint}")
        return _numbers(raw, where, positions=None)
    if isinstance(raw, dict):
        positions = _cell_positions(raw.keys(), cell_count, "value", where)
        sparse_values, sparse_strings = _numbers(list(raw.values()), where, positions=positions)
        values = np.full(cell_count, np.nan)
        values[positions] = sparse_values
        strings = None
        if sparse_strings is not None:
            strings = np.full(cell_count, None, dtype=object)
            strings[positions] = sparse_strings
        return values, strings
    raise JsonStatError(f"{where}'value' must be an array or an object, got {type(raw).__name__}")


def _numbers(raw: list, where: str, positions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    kinds = set(map(type, raw))
    if kinds <= _NUMBER_TYPES:
        return np.array(raw, dtype=np.float64), None
    bad = kinds - _NUMBER_TYPES - {str}
    if bad:
        first = next(position for position, item in enumerate(raw) if type(item) in bad)
        cell = first if positions is None else int(positions[first])
        raise JsonStatError(
            f"{where}'value' cell {cell} is {raw[first]!r}; cells must be numbers, null or status strings")
    # FHI may put a flag symbol where a number would be: that string is the cell's status.
    cells = np.array(raw, dtype=object)
    is_string = np.array(list(map(type, raw)), dtype=object) == str
    values = np.full(len(raw), np.nan)
    numeric = ~is_string & (cells != None)  # elementwise on the object array
    values[numeric] = cells[numeric].astype(np.float64)
    strings = np.where(is_string, cells, None)
    strings[strings == ""] = None
    return values, strings


def _cell_positions(keys: Any, cell_count: int, what: str, where: str) -> np.ndarray:
    try:
        positions = np.fromiter(map(int, keys), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        positions = np.array([_cell_number(key, cell_count, what, where) for key in keys], dtype=np.int64)
    outside = (positions < 0) | (positions >= cell_count)
    if outside.any():
        raise _outside(int(positions[outside][0]), cell_count, what, where)
    return positions


def _cell_number(key: Any, cell_count: int, what: str, where: str) -> int:
    """One key of a sparse value/status object as a cell number."""
    try:
        number = int(key)
    except (TypeError, ValueError):
        raise JsonStatError(
            f"{where}'{what}' has the key {key!r}, which is not a cell number: the keys of a sparse '{what}' "
            "object are cell numbers in row-major order (\"0\" for the first cell)") from None
    if not 0 <= number < cell_count:
        raise _outside(number, cell_count, what, where)
    return number


def _outside(cell: int, cell_count: int, what: str, where: str) -> JsonStatError:
    return JsonStatError(f"{where}'{what}' refers to cell {cell}, outside 0..{cell_count - 1}")


def _status(raw: Any, cell_count: int, where: str) -> tuple[np.ndarray, list[str]]:
    """Status as category codes (-1 = no status) and the list of symbols they point into."""
    if raw is None or raw == "":
        return np.full(cell_count, -1, dtype=np.int8), []
    if isinstance(raw, str):
        return np.zeros(cell_count, dtype=np.int8), [raw]
    if isinstance(raw, list):
        if len(raw) == 1:
            # One symbol for every cell, as the JSON-stat JavaScript toolkit reads a one-element array.
            code, symbols = _factorize_symbols(np.array(raw, dtype=object), where)
            return np.full(cell_count, code[0], dtype=code.dtype), symbols
        if len(raw) != cell_count:
            raise JsonStatError(
                f"{where}'status' has {len(raw):,} cells but the product of 'size' is {cell_count:,} "
                "(a status array has one symbol per cell, or one for all)")
        return _factorize_symbols(np.array(raw, dtype=object), where)
    if isinstance(raw, dict):
        positions = _cell_positions(raw.keys(), cell_count, "status", where)
        sparse_codes, symbols = _factorize_symbols(np.array(list(raw.values()), dtype=object), where)
        codes = np.full(cell_count, -1, dtype=sparse_codes.dtype)
        codes[positions] = sparse_codes
        return codes, symbols
    raise JsonStatError(f"{where}'status' must be a string, an array or an object, got {type(raw).__name__}")


def _factorize_symbols(cells: np.ndarray, where: str) -> tuple[np.ndarray, list[str]]:
    cells = np.where(cells == "", None, cells)
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    symbols = list(uniques)
    not_strings = [symbol for symbol in symbols if not isinstance(symbol, str)]
    if not_strings:
        raise JsonStatError(f"{where}'status' holds {not_strings[0]!r}; status symbols must be strings")
    return codes.astype(_code_dtype(len(symbols))), symbols


def _merge_value_strings(status_codes: np.ndarray, status_symbols: list[str], value_strings: np.ndarray,
                         where: str) -> tuple[np.ndarray, list[str]]:
    string_codes, string_symbols = _factorize_symbols(value_strings, where)
    symbols = list(dict.fromkeys(status_symbols + string_symbols))
    remap = np.array([symbols.index(symbol) for symbol in string_symbols] + [-1], dtype=np.int64)
    # index -1 of remap is the "no string" sentinel
    string_codes = remap[string_codes.astype(np.int64)]
    status_codes = status_codes.astype(_code_dtype(len(symbols)))
    conflict = (string_codes >= 0) & (status_codes >= 0) & (string_codes != status_codes)
    if conflict.any():
        cell = int(np.flatnonzero(conflict)[0])
        raise JsonStatError(
            f"{where}cell {cell} has the string {symbols[string_codes[cell]]!r} as value "
            f"and a different status {symbols[status_codes[cell]]!r}")
    use_string = string_codes >= 0
    status_codes[use_string] = string_codes[use_string]
    return status_codes, symbols


def _row_major_codes(sizes: list[int]) -> list[np.ndarray]:
    """For each dimension, the category position of every cell (the last dimension varies fastest)."""
    codes = []
    for axis, size in enumerate(sizes):
        inner = prod(sizes[axis + 1:])
        outer = prod(sizes[:axis])
        positions = np.arange(size, dtype=_code_dtype(size))
        codes.append(np.tile(np.repeat(positions, inner), outer))
    return codes


def _code_dtype(category_count: int) -> type:
    if category_count < 2**7:
        return np.int8
    if category_count < 2**15:
        return np.int16
    return np.int32


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
