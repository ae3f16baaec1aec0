"""The cells of a JSON-stat 2.0 data answer: `value` and `status` decoded into whole numpy arrays.

`value` is a dense array or a sparse object keyed by cell number; FHI may mix flag strings into the
numbers, and such a string becomes the cell's status. `status` is one string for every cell, an array
(one symbol per cell, or one for all), or a sparse object. The status comes out as small integer codes
into a list of symbols, ready for a pandas Categorical.

A `value` parsed here from JSON text can only hold numbers, null, strings, booleans, arrays and objects:
Arrow converts it in one pass and refuses all but numbers and null, except booleans among floats, which it
reads as 1 and 0 (so the cells it read as 0 or 1 are checked for booleans). A document that came parsed may
hold anything (numpy scalars and Decimals, which Arrow would take), so its cells are type-checked one by
one, as are those of a `value` Arrow refused, to name the first offending cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ci_pipeline.jsonstat.model import JsonStatError

_NUMBER_TYPES = frozenset({int, float, type(None)})

# What a caller reading a /metadata answer as data is told.
_METADATA_HINT = "a /metadata answer (dimensions only) is read with read_jsonstat_metadata"


def read_cells(doc: dict, cell_count: int, where: str, *, from_json_text: bool,
               dense_values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The values (float64) and the status (codes into a list of symbols) of every cell. `from_json_text`:
    the document was parsed from JSON text (its cells hold JSON's types only). `dense_values`: the `value`
    array, already read from the text as float64 (the document then has no `value`)."""
    if dense_values is None:
        values, value_strings = _values(doc.get("value"), cell_count, where, from_json_text)
    else:
        _check_cell_count(len(dense_values), cell_count, where)
        values, value_strings = dense_values, None
    status_codes, status_symbols = _status(doc.get("status"), cell_count, where)
    if value_strings is not None:
        status_codes, status_symbols = _merge_value_strings(status_codes, status_symbols, value_strings, where)
    return values, status_codes, status_symbols


def _values(raw: Any, cell_count: int, where: str, from_json_text: bool
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """The cell values as float64 (NaN for null) and, when the source mixed strings into them, the
    strings as an object array (None elsewhere)."""
    if raw is None:
        if cell_count:
            raise JsonStatError(
                f"{where}the dataset has no 'value' but 'size' makes {cell_count:,} cells; {_METADATA_HINT}")
        raw = []
    if isinstance(raw, list):
        _check_cell_count(len(raw), cell_count, where)
        return _numbers(raw, where, None, from_json_text)
    if isinstance(raw, dict):
        positions = _cell_positions(raw.keys(), cell_count, "value", where)
        sparse_values, sparse_strings = _numbers(list(raw.values()), where, positions, from_json_text)
        values = np.full(cell_count, np.nan)
        values[positions] = sparse_values
        strings = None
        if sparse_strings is not None:
            strings = np.full(cell_count, None, dtype=object)
            strings[positions] = sparse_strings
        return values, strings
    raise JsonStatError(f"{where}'value' must be an array or an object, got {type(raw).__name__}")


def _check_cell_count(count: int, cell_count: int, where: str) -> None:
    """A dense `value` has one entry per cell."""
    if count != cell_count:
        hint = f"; {_METADATA_HINT}" if not count else ""
        raise JsonStatError(
            f"{where}'value' has {count:,} cells but the product of 'size' is {cell_count:,}{hint}")


def _numbers(raw: list, where: str, positions: np.ndarray | None,
             from_json_text: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if from_json_text:
        numbers = _json_numbers(raw)
        if numbers is not None:
            return numbers, None
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


def _json_numbers(raw: list) -> np.ndarray | None:
    """The cells as float64 (NaN for null) when every one is a number or null, else None. Only for cells
    parsed from JSON text (see the module's docstring)."""
    try:
        # inferred: int64 (Arrow refuses booleans among integers), double (it reads booleans as 1.0 and 0.0
        # among floats) or null; strings, arrays and objects among numbers are refused
        cells = pa.array(raw)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    if cells.type not in (pa.int64(), pa.float64(), pa.null()):
        return None
    # int64 beyond 2**53 rounds to the nearest double, as float() does
    values = cells.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False, writable=True)
    if cells.type == pa.float64():
        zero_or_one = np.flatnonzero((values == 0) | (values == 1)).tolist()
        if bool in set(map(type, map(raw.__getitem__, zero_or_one))):
            return None
    return values


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
    return codes.astype(code_dtype(len(symbols))), symbols


def _merge_value_strings(status_codes: np.ndarray, status_symbols: list[str], value_strings: np.ndarray,
                         where: str) -> tuple[np.ndarray, list[str]]:
    string_codes, string_symbols = _factorize_symbols(value_strings, where)
    symbols = list(dict.fromkeys(status_symbols + string_symbols))
    remap = np.array([symbols.index(symbol) for symbol in string_symbols] + [-1], dtype=np.int64)
    # index -1 of remap is the "no string" sentinel
    string_codes = remap[string_codes.astype(np.int64)]
    status_codes = status_codes.astype(code_dtype(len(symbols)))
    conflict = (string_codes >= 0) & (status_codes >= 0) & (string_codes != status_codes)
    if conflict.any():
        cell = int(np.flatnonzero(conflict)[0])
        raise JsonStatError(
            f"{where}cell {cell} has the string {symbols[string_codes[cell]]!r} as value "
            f"and a different status {symbols[status_codes[cell]]!r}")
    use_string = string_codes >= 0
    status_codes[use_string] = string_codes[use_string]
    return status_codes, symbols


def code_dtype(category_count: int) -> type:
    """The smallest integer type that holds a code for each of `category_count` categories and -1."""
    if category_count < 2**7:
        return np.int8
    if category_count < 2**15:
        return np.int16
    return np.int32
