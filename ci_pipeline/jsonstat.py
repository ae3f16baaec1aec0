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

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import prod
from typing import Any

import numpy as np
import orjson
import pandas as pd


class JsonStatError(ValueError):
    """A response that is not a well-formed JSON-stat 2.0 dataset, or a table its spec cannot map
    (ci_pipeline.tidy)."""


@dataclass(frozen=True)
class Dimension:
    id: str
    label: str | None
    codes: list[str]
    labels: dict[str, str]
    units: dict[str, dict] = field(default_factory=dict)
    extension: dict = field(default_factory=dict)


@dataclass
class JsonStatTable:
    """One JSON-stat 2.0 dataset.

    frame: one categorical column of category codes per dimension (in `ids` order), then `value`
    (float64, NaN where the cell is missing) and `status` (categorical of symbols, NaN where there is
    none). Rows are in JSON-stat row-major order (the last dimension varies fastest).
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

    @property
    def table_id(self) -> str | None:
        tableid = (self.extension.get("px") or {}).get("tableid")
        return None if tableid is None else str(tableid)


_NUMBER_TYPES = frozenset({int, float, type(None)})


# --------------------------------------------------------------------------------------------- reading


def read_jsonstat(doc: bytes | str | dict, *, origin: str | None = None) -> JsonStatTable:
    """Read one JSON-stat 2.0 dataset (bytes, text or an already parsed dict).

    `origin` (a file name or URL) is put in front of every error message.
    """
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

    ids, sizes = _ids_and_sizes(doc, where)
    dimensions = {dim_id: _dimension(dim_id, doc["dimension"][dim_id], size, where)
                  for dim_id, size in zip(ids, sizes)}
    cell_count = prod(sizes)

    if "value" in doc:
        values, value_strings = _values(doc["value"], cell_count, where)
        status_codes, status_symbols = _status(doc.get("status"), cell_count, where)
        if value_strings is not None:
            status_codes, status_symbols = _merge_value_strings(
                status_codes, status_symbols, value_strings, where)
        dimension_codes = _row_major_codes(sizes)
    else:
        # SSB's /metadata answer: the dimensions of the table and no cells.
        values = np.empty(0, dtype=np.float64)
        status_codes, status_symbols = np.empty(0, dtype=np.int8), []
        dimension_codes = [np.empty(0, dtype=np.int8) for _ in ids]

    columns: dict[str, Any] = {
        dim_id: _categorical(codes, dimensions[dim_id].codes)
        for dim_id, codes in zip(ids, dimension_codes)
    }
    columns["value"] = values
    columns["status"] = _categorical(status_codes, status_symbols)
    return JsonStatTable(
        label=doc.get("label"),
        source=doc.get("source"),
        updated=parse_timestamp(doc.get("updated"), origin=origin),
        ids=ids,
        sizes=sizes,
        dimensions=dimensions,
        roles={role: list(dims or []) for role, dims in (doc.get("role") or {}).items()},
        extension=doc.get("extension") or {},
        frame=pd.DataFrame(columns),
    )


def _reject_jsonstat1(doc: dict, where: str) -> None:
    if "class" not in doc and "version" not in doc:
        bundled = [key for key, item in doc.items() if isinstance(item, dict) and "dimension" in item]
        if bundled:
            raise JsonStatError(
                f"{where}this is a JSON-stat 1.x bundle (top-level key {bundled[0]!r} holds the dataset, "
                "with id/size inside 'dimension'), not JSON-stat 2.0; request the json-stat2 format")
        if isinstance(doc.get("dimension"), dict) and "id" in doc["dimension"]:
            raise JsonStatError(
                f"{where}this is a JSON-stat 1.x dataset (id/size inside 'dimension'), not JSON-stat 2.0; "
                "request the json-stat2 format")


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


def _dimension(dim_id: str, spec: Any, size: int, where: str) -> Dimension:
    if not isinstance(spec, dict) or not isinstance(spec.get("category"), dict):
        raise JsonStatError(f"{where}dimension {dim_id!r} has no 'category' object")
    category = spec["category"]
    labels = category.get("label") or {}
    index = category.get("index")
    if index is None:
        if len(labels) != 1:
            raise JsonStatError(
                f"{where}dimension {dim_id!r} has no category.index and {len(labels)} labels; "
                "an index may only be left out for a single category")
        codes = list(labels)
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
        id=dim_id,
        label=spec.get("label"),
        codes=codes,
        labels={str(code): text for code, text in labels.items()},
        units=dict(category.get("unit") or {}),
        extension=dict(spec.get("extension") or {}),
    )


def _codes_from_positions(dim_id: str, index: dict, where: str) -> list[str]:
    codes: list[str | None] = [None] * len(index)
    for code, position in index.items():
        if not isinstance(position, int) or not 0 <= position < len(index) or codes[position] is not None:
            raise JsonStatError(
                f"{where}dimension {dim_id!r}: category.index gives {code!r} position {position!r}; "
                f"positions must be 0..{len(index) - 1}, each used once")
        codes[position] = str(code)
    return codes  # type: ignore[return-value]


def _values(raw: Any, cell_count: int, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The cell values as float64 (NaN for null) and, when the source mixed strings into them, the
    strings as an object array (None elsewhere)."""
    if isinstance(raw, list):
        if len(raw) != cell_count:
            raise JsonStatError(
                f"{where}'value' has {len(raw)} cells but the product of 'size' is {cell_count}")
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
    except ValueError as exc:
        raise JsonStatError(f"{where}'{what}' keys must be cell numbers: {exc}") from exc
    outside = (positions < 0) | (positions >= cell_count)
    if outside.any():
        raise JsonStatError(
            f"{where}'{what}' refers to cell {int(positions[outside][0])}, outside 0..{cell_count - 1}")
    return positions


def _status(raw: Any, cell_count: int, where: str) -> tuple[np.ndarray, list[str]]:
    """Status as category codes (-1 = no status) and the list of symbols they point into."""
    if raw is None or raw == "":
        return np.full(cell_count, -1, dtype=np.int8), []
    if isinstance(raw, str):
        return np.zeros(cell_count, dtype=np.int8), [raw]
    if isinstance(raw, list):
        if len(raw) != cell_count:
            raise JsonStatError(
                f"{where}'status' has {len(raw)} cells but the product of 'size' is {cell_count}")
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


_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$")


def parse_timestamp(text: str | None, *, origin: str | None = None) -> str | None:
    """A source timestamp as ISO-8601 UTC ("2022-12-20T11:44:58.770632Z").

    Lenient where the sources differ: FHI writes seven fractional-second digits (cut to six), SSB writes
    "Z"; a timestamp without an offset is taken as UTC.
    """
    if text is None:
        return None
    match = _TIMESTAMP.match(text.strip()) if isinstance(text, str) else None
    if not match:
        where = f"{origin}: " if origin else ""
        raise JsonStatError(f"{where}'updated' is not an ISO-8601 timestamp: {text!r}")
    clock = match["time"] or "00:00:00"
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = match["offset"] or "+00:00"
    offset = "+00:00" if offset == "Z" else offset
    if ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    moment = datetime.fromisoformat(f"{match['date']}T{clock}.{fraction}{offset}").astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")
