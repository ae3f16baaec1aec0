"""The tidy mapping: from a JSON-stat table to tidy observations, and the code conventions it applies.

`to_tidy()` maps a `JsonStatTable` (ci_pipeline.jsonstat) through its catalogue entry (`TableSpec`) into
the tidy observation shape (ci_pipeline.schema.TIDY_OBSERVATIONS). The code conventions turn the sources'
spellings into the project's: `normalise_age` (SSB's 999/007/015-029, FHI's 16_25 and 0_120),
`normalise_period` (FHI's 2020_2020 and 2018_2020; read as ci_pipeline.periods), `region_level` (the level
of a code by its shape, SSB's F-/K- prefixes stripped).

The observations come out compact: every text column is a categorical of sorted, ordered str categories
(`compact`), one small integer per row instead of a string; `concat_compact` joins such frames without
falling back to Python objects, `plain` turns a few rows back into str columns, `text_equals` and
`text_matches` test a column through its categories. The published marts are plain text again
(MartStore.publish).

Everything that cannot be mapped (an unknown indicator code, a dimension the spec does not mention, a
region code of unknown shape) is a JsonStatError naming the table, so nothing is dropped silently, and
status symbols are kept as they are: a suppressed cell is NaN with its symbol, never 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from math import prod
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ci_pipeline.catalogue import TableSpec
from ci_pipeline.jsonstat import JsonStatError, JsonStatTable
from ci_pipeline.jsonstat.cells import code_dtype
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import TIDY_COLUMNS

SUPPRESSED = ":"  # a cell withheld for confidentiality (too few to publish)
STATUS_SYMBOLS = frozenset({".", "..", SUPPRESSED, "...", "-", "*"})
# FHI's SPVFLAGG: 0 = no flag, 1 = missing data, 2 = cannot be computed, 3 = suppressed for privacy.
FHI_FLAGS = {"0": None, "1": "..", "2": ".", "3": SUPPRESSED}
DEFAULT_SEX_CODES = {"0": "total", "1": "male", "2": "female"}


# ------------------------------------------------------------------------------------ code conventions

_AGE_SINGLE = re.compile(r"^(\d+)$")
_AGE_RANGE = re.compile(r"^(\d+)[-_](\d+)$")
_AGE_OPEN = re.compile(r"^(\d+)\+$")
_AGE_TOTAL = re.compile(r"^999[A-Z]?$")
_OLDEST_AGE = 120


def normalise_age(code: str) -> str:
    """An age code as an age group: "total", "7", "15-29" or "105+".

    SSB spells all ages 999/999D and pads single years ("007") and ranges ("015-029"); FHI writes
    ranges with an underscore ("16_25") and all ages as "0_120". A range from 0 to 120 or more is all
    ages.
    """
    if _AGE_TOTAL.match(code):
        return "total"
    if match := _AGE_SINGLE.match(code):
        return str(int(match[1]))
    if match := _AGE_RANGE.match(code):
        low, high = int(match[1]), int(match[2])
        return "total" if low == 0 and high >= _OLDEST_AGE else f"{low}-{high}"
    if match := _AGE_OPEN.match(code):
        return f"{int(match[1])}+"
    raise JsonStatError(f"age code {code!r} has no known shape; map it in the spec's age_codes")


# How sources write a range of years: SSB 2018-2020, FHI 2018_2020 (and 2020_2020 for the year 2020).
_SOURCE_RANGE = re.compile(r"^(\d{4})[-_](\d{4})$")


def normalise_period(code: str, range_type: str = "multi_year") -> tuple[str, str]:
    """A time code as (period, period_type), read by ci_pipeline.periods.parse_period.

    SSB: "2021" year, "2021K1" quarter, "2021M03" month, "2018-2020" a range. FHI: "2020_2020" is the
    year 2020, "2018_2020" a range. A range is read as `range_type` (multi_year, or school_year for
    tables of school years such as "2019-2020").
    """
    text, kind = code, None
    if match := _SOURCE_RANGE.match(code):
        first, last = match[1], match[2]
        if first > last:
            raise JsonStatError(f"time code {code!r} ends before it starts")
        text, kind = (first, None) if first == last else (f"{first}-{last}", range_type)
    try:
        period = parse_period(text, kind)
    except PeriodError as error:
        if kind is None:
            raise JsonStatError(
                f"time code {code!r} has no known shape (year, 2021K1, 2021M03, 2018-2020)") from None
        raise JsonStatError(f"time code {code!r}: {error}") from None
    return period.text, period.kind


_COUNTRY_CODES = frozenset({"0", "00", "EAK"})
_REGION_SHAPES = [
    (re.compile(r"^(?:F-)?(\d{2})$"), "county"),
    (re.compile(r"^(?:K-)?(\d{4})$"), "municipality"),
    (re.compile(r"^(\d{6}(?:a|aa)?)$"), "district"),
    (re.compile(r"^(\d{10})$"), "sub_district"),
]


def region_level(code: str) -> tuple[str, str]:
    """A region code as (region_code, region_level), by the shape of the code.

    Strips the "F-"/"K-" prefixes of SSB's agg_ codelists and otherwise keeps the code as the source
    spells it (030101a stays 030101a: harmonisation belongs to geography).
    """
    if code in _COUNTRY_CODES:
        return code, "country"
    for shape, level in _REGION_SHAPES:
        if match := shape.match(code):
            return match[1], level
    raise JsonStatError(
        f"region code {code!r} has no known shape (0, 2/4/6/10 digits, F-xx, K-xxxx); "
        "leave pseudo-regions such as EAKUO or EKGxx out of the selection")


# ----------------------------------------------------------------------------------------- to_tidy


def to_tidy(table: JsonStatTable, spec: TableSpec, *, provenance: str, snapshot_sha256: str,
            retrieved_at: str, source_updated: str | None) -> pd.DataFrame:
    """The table as tidy observations (columns TIDY_COLUMNS), mapped through its catalogue entry.

    One row per cell of a value indicator; cells of numerator_of/denominator_of codes (FHI TELLER /
    NEVNER) become the numerator/denominator of the value cell that matches on every other dimension.
    """
    name = f"table {spec.table_id} ({spec.name}, {spec.path})"
    roles = dict(spec.dimensions)
    check_dimensions(table, roles, spec.fixed, name)
    frame = table.frame
    codes = {dim_id: frame[dim_id].cat.codes.to_numpy() for dim_id in table.ids}

    indicator_dim = roles["indicator"]
    indicator_codes = table.dimensions[indicator_dim].codes
    unknown = [code for code in indicator_codes if code not in spec.indicators]
    if unknown:
        raise JsonStatError(f"{name}: {indicator_dim} codes {unknown} are not in the spec's indicators")
    entries = [spec.indicators[code] for code in indicator_codes]
    is_value_category = np.array(["indicator_id" in entry for entry in entries], dtype=bool)
    rows = np.flatnonzero(is_value_category[codes[indicator_dim]])
    every_cell = len(rows) == len(frame)

    def of_rows(cells: np.ndarray) -> np.ndarray:
        # every cell is a value row (the common case): the frame's arrays serve as they are
        return cells if every_cell else cells[rows]

    codes_of_rows = {dim_id: of_rows(dim_codes) for dim_id, dim_codes in codes.items()}
    row_indicator = codes_of_rows[indicator_dim]

    values = frame["value"].to_numpy()
    numerator, denominator = _aligned_counts(table, codes, indicator_dim, entries, rows, row_indicator, name)

    columns: dict[str, Any] = {
        "source": constant_text(spec.source, len(rows)),
        "table_id": constant_text(spec.table_id, len(rows)),
        "indicator_id": _strings([entry.get("indicator_id") for entry in entries], row_indicator),
    }
    region = [_mapped(name, region_level, code) for code in table.dimensions[roles["region"]].codes]
    check_distinct(name, roles["region"], dict(zip(table.dimensions[roles["region"]].codes, [c for c, _ in region])))
    region_rows = codes_of_rows[roles["region"]]
    columns["region_code"] = _strings([code for code, _ in region], region_rows)
    columns["region_level"] = _strings([level for _, level in region], region_rows)

    range_type = spec.period_type or "multi_year"
    periods = [_mapped(name, normalise_period, code, range_type)
               for code in table.dimensions[roles["period"]].codes]
    check_distinct(name, roles["period"], dict(zip(table.dimensions[roles["period"]].codes, [p for p, _ in periods])))
    period_rows = codes_of_rows[roles["period"]]
    columns["period"] = _strings([period for period, _ in periods], period_rows)
    columns["period_type"] = _strings([kind for _, kind in periods], period_rows)

    columns["sex"] = _mapped_column(table, roles.get("sex"), codes_of_rows, len(rows), name, _sex_mapper(spec, name))
    columns["age_group"] = _mapped_column(table, roles.get("age"), codes_of_rows, len(rows), name,
                                          _age_mapper(spec, name))
    columns["value"] = values.copy() if every_cell else values[rows]  # a copy: the frame's array is read-only
    columns["unit"] = _strings([entry.get("unit") for entry in entries], row_indicator)
    columns["numerator"] = numerator
    columns["denominator"] = denominator
    columns["status"] = _tidy_status(of_rows(frame["status"].cat.codes.to_numpy()),
                                     list(frame["status"].cat.categories), spec, name)
    columns["source_updated"] = constant_text(source_updated, len(rows))
    columns["retrieved_at"] = constant_text(retrieved_at, len(rows))
    columns["snapshot_sha256"] = constant_text(snapshot_sha256, len(rows))
    columns["provenance"] = constant_text(provenance, len(rows))
    # every column is an array of its own (no view of the table's frame), so none needs copying
    return pd.DataFrame(columns, columns=TIDY_COLUMNS, copy=False)


def check_dimensions(table: JsonStatTable, roles: Mapping[str, str], fixed: Mapping[str, str], name: str,
                     error: type[ValueError] = JsonStatError) -> None:
    """The entry's role -> dimension mapping and fixed dimensions must cover the table exactly (this
    module's entries and sources.oslo_tidy's); `error` is the mapping's error type."""
    for role, dim_id in roles.items():
        if dim_id not in table.dimensions:
            raise error(f"{name}: the entry maps {role} to dimension {dim_id!r}, which the table does not have "
                        f"(it has {table.ids})")
    for dim_id, wanted in fixed.items():
        if dim_id not in table.dimensions:
            raise error(f"{name}: fixed dimension {dim_id!r} is not in the table (it has {table.ids})")
        held = table.dimensions[dim_id].codes
        if held != [wanted]:
            raise error(f"{name}: fixed dimension {dim_id!r} must hold exactly {wanted!r}, but holds {held}")
    unmapped = [dim_id for dim_id in table.ids if dim_id not in roles.values() and dim_id not in fixed]
    if unmapped:
        raise error(f"{name}: dimension(s) {unmapped} are neither mapped nor fixed in the entry (map each in "
                    "'dimensions' or list it in 'fixed')")


def _aligned_counts(table: JsonStatTable, codes: dict[str, np.ndarray], indicator_dim: str,
                    entries: list[dict], rows: np.ndarray, row_indicator: np.ndarray,
                    name: str) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of each value row: the cell that differs only in the indicator
    dimension, located by its flat JSON-stat cell number (no join needed)."""
    if not any("numerator_of" in entry or "denominator_of" in entry for entry in entries):
        return np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    strides = {dim_id: prod(table.sizes[axis + 1:]) for axis, dim_id in enumerate(table.ids)}
    flat = np.zeros(len(table.frame), dtype=np.int64)
    for dim_id in table.ids:
        flat += codes[dim_id].astype(np.int64) * strides[dim_id]
    row_of_cell = np.full(prod(table.sizes), -1, dtype=np.int64)
    row_of_cell[flat] = np.arange(len(flat))
    values = table.frame["value"].to_numpy()

    position_of_indicator = {entry["indicator_id"]: position
                             for position, entry in enumerate(entries) if "indicator_id" in entry}
    results = []
    for role in ("numerator_of", "denominator_of"):
        partner = np.full(len(entries), -1, dtype=np.int64)
        for position, entry in enumerate(entries):
            if role not in entry:
                continue
            code = table.dimensions[indicator_dim].codes[position]
            if entry[role] not in position_of_indicator:
                raise JsonStatError(
                    f"{name}: {indicator_dim} code {code!r} is {role} {entry[role]!r}, "
                    "but the table has no code for that indicator")
            if partner[position_of_indicator[entry[role]]] >= 0:
                raise JsonStatError(f"{name}: two {indicator_dim} codes are {role} {entry[role]!r}")
            partner[position_of_indicator[entry[role]]] = position
        counts = np.full(len(rows), np.nan)
        row_partner = partner[row_indicator]
        has_partner = row_partner >= 0
        target_cells = flat[rows[has_partner]] + (row_partner[has_partner] - row_indicator[has_partner]) \
            * strides[indicator_dim]
        target_rows = row_of_cell[target_cells]
        counts[has_partner] = np.where(target_rows >= 0, values[target_rows], np.nan)
        results.append(counts)
    return results[0], results[1]


def _mapped(name: str, function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except JsonStatError as exc:
        raise JsonStatError(f"{name}: {exc}") from exc


def _sex_mapper(spec: TableSpec, name: str):
    sex_codes = spec.sex_codes or DEFAULT_SEX_CODES

    def sex(code: str) -> str:
        if code not in sex_codes:
            raise JsonStatError(f"{name}: sex code {code!r} is not in sex_codes {sex_codes}")
        return sex_codes[code]
    return sex


def _age_mapper(spec: TableSpec, name: str):
    age_codes = spec.age_codes or {}

    def age(code: str) -> str:
        return age_codes[code] if code in age_codes else _mapped(name, normalise_age, code)
    return age


def _mapped_column(table: JsonStatTable, dim_id: str | None, codes_of_rows: dict[str, np.ndarray], length: int,
                   name: str, mapper: Any) -> pd.Categorical:
    if dim_id is None:
        return constant_text("total", length)
    mapped = {code: mapper(code) for code in table.dimensions[dim_id].codes}
    check_distinct(name, dim_id, mapped)
    return _strings(list(mapped.values()), codes_of_rows[dim_id])


def check_distinct(name: str, dim_id: str, mapped: Mapping[str, object],
                   error: type[ValueError] = JsonStatError) -> None:
    """Two categories (code -> mapped value; None = not used) mapped to the same value would give two rows
    with the same key."""
    seen: dict[object, str] = {}
    for code, value in mapped.items():
        if value is not None and value in seen:
            raise error(f"{name}: dimension {dim_id!r} has two categories ({seen[value]!r} and {code!r}) "
                        f"that both become {value!r}")
        seen[value] = code


def check_status_symbols(name: str, symbols: Iterable[str | None], error: type[ValueError] = JsonStatError) -> None:
    """Every status symbol used must be one of STATUS_SYMBOLS."""
    unknown = sorted({symbol for symbol in symbols if symbol is not None and symbol not in STATUS_SYMBOLS})
    if unknown:
        raise error(f"{name}: status symbol(s) {unknown} are not known ({' '.join(sorted(STATUS_SYMBOLS))})")


def _tidy_status(row_codes: np.ndarray, symbols: list[str | None], spec: TableSpec, name: str) -> pd.Categorical:
    """The status of each row (codes into the table's status symbols), its symbols checked."""
    if spec.source == "fhi":
        symbols = [FHI_FLAGS.get(symbol, symbol) for symbol in symbols]
    # rows per code, shifted by one so that -1 (no status) counts too
    used = np.flatnonzero(np.bincount(row_codes.astype(np.intp) + 1, minlength=len(symbols) + 1)[1:])
    check_status_symbols(name, (symbols[code] for code in used))
    return _strings(symbols, row_codes)


def _strings(categories: list[str | None], codes: np.ndarray) -> pd.Categorical:
    """categories[codes] as a Categorical (null where the code is negative or its category is None)."""
    present = sorted({category for category in categories if category is not None})
    position = {category: i for i, category in enumerate(present)}
    # the last entry answers code -1 (no category); small codes keep the gather small
    remap = np.array([position[category] if category is not None else -1 for category in categories] + [-1],
                     dtype=code_dtype(len(present)))
    # categories sorted and distinct already: the codes serve as they are, copied (they may be a view of
    # the table's frame)
    as_they_are = categories == present and codes.dtype == remap.dtype
    return pd.Categorical.from_codes(codes.copy() if as_they_are else remap.take(codes),
                                     dtype=text_categories(present), validate=False)


def constant_text(value: str | None, length: int) -> pd.Categorical:
    """A compact text column holding `value` (None: null) on every one of `length` rows."""
    codes = np.full(length, -1 if value is None else 0, dtype=np.int8)
    return pd.Categorical.from_codes(codes, dtype=text_categories([] if value is None else [value]), validate=False)


# ------------------------------------------------------------------------------------ compact columns


def text_categories(values: Iterable[str]) -> pd.CategoricalDtype:
    """The dtype of a compact text column: its distinct values as sorted, ordered str categories, so that
    sorting rows by the column, and its min and max, are those of the text."""
    return pd.CategoricalDtype(pd.Index(sorted(values), dtype="str"), ordered=True)


def group_numbers(frame: pd.DataFrame, columns: list[str], sort: bool = False) -> np.ndarray:
    """A number per row, the same for rows equal in `columns` (null equal to null), numbered in the order
    the combinations first occur (as groupby(sort=False).ngroup()), or with `sort` in the order of their
    values, null after every value (as groupby(sort=True, dropna=False, observed=True).ngroup(); a compact
    column's values in the order of its categories). Worked out on the columns' codes (a compact column's
    own, any other factorised), folded into one integer per row a column at a time: compact columns are
    never turned into text per row, and no column gets an int64 array of its own."""
    renumber = _in_value_order if sort else _in_first_occurrence_order
    numbers = np.zeros(len(frame), dtype=np.int64)
    count = 1  # how many distinct numbers the columns folded so far can give
    for column in columns:
        codes, size = _value_codes(frame[column], sort)
        if count > _FOLD_LIMIT // size:
            numbers = renumber(numbers)
            count = int(numbers.max(initial=-1)) + 1
        numbers *= size
        if sort:
            numbers += np.where(codes < 0, size - 1, codes)  # null after every value
        else:
            numbers += codes
            numbers += 1  # codes start at -1 (null)
        count *= size
    return renumber(numbers)


_FOLD_LIMIT = 2**62  # a folded number stays well inside int64


def _in_first_occurrence_order(numbers: np.ndarray) -> np.ndarray:
    return pd.factorize(numbers)[0].astype(np.int64, copy=False)


def _in_value_order(numbers: np.ndarray) -> np.ndarray:
    return np.unique(numbers, return_inverse=True)[1].astype(np.int64, copy=False)


def _value_codes(series: pd.Series, sort: bool = False) -> tuple[np.ndarray, int]:
    """A code per row, -1 for null, equal for equal values (with `sort`, in the order of the values), and
    how many codes there can be (null's included)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), len(series.cat.categories) + 1
    codes, distinct = pd.factorize(series, sort=sort)
    return codes, len(distinct) + 1


def distinct_rows(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct combinations of `columns` (null equal to null), in the order they first occur, and for
    each row the position of its combination among them: work done once per combination is spread back
    over the rows by position."""
    numbers = group_numbers(frame, columns)
    # ngroup numbers groups in the order they first occur, so the first rows are in number order.
    firsts = pd.Series(numbers).drop_duplicates().index.to_numpy()
    return frame[columns].iloc[firsts].reset_index(drop=True), numbers


def compact(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """`frame` with its text columns (or `columns`) as categoricals with sorted categories: a code per
    row instead of a string, for the columns of tidy observations that repeat a few values many times."""
    chosen = frame.columns if columns is None else [c for c in columns if c in frame.columns]
    converted = {}
    for column in chosen:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories
            if not (series.cat.ordered and categories.is_monotonic_increasing and categories.dtype == "str"):
                converted[column] = series.astype("str").astype(text_categories(categories.astype("str")))
        elif series.dtype == "str" or (series.dtype == object and _all_text(series)):
            converted[column] = series.astype(text_categories(series.dropna().unique()))
    return frame.assign(**converted) if converted else frame


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its compact (categorical) columns as plain str columns: for the few rows code works on
    value by value, where categoricals would need equal categories to compare or combine."""
    categorical = [c for c, dtype in frame.dtypes.items() if isinstance(dtype, pd.CategoricalDtype)]
    return frame.assign(**{c: _as_text(frame[c]) for c in categorical}) if categorical else frame


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # what .astype("str") gives


def _as_text(series: pd.Series) -> pd.Series:
    """series.astype("str") for a categorical; one of text, decoded by Arrow: about 5x faster than pandas,
    which goes through a Python object per row."""
    categorical = series.array  # its own codes and categories: the .cat accessor wraps each in a new Series
    if categorical.categories.dtype != "str":
        return series.astype("str")
    codes = categorical.codes
    dictionary = pa.array(categorical.categories, type=pa.large_string())
    text = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary).cast(pa.large_string())
    return pd.Series(pd.array(text, dtype=_TEXT), index=series.index, name=series.name)


def text_equals(series: pd.Series, text: str) -> pd.Series:
    """series == text, comparing as text; a compact column is compared through its categories."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        matching = np.flatnonzero(series.cat.categories.astype("str") == text)
        return pd.Series(np.isin(series.cat.codes.to_numpy(), matching), index=series.index)
    return series.astype("str") == text


def text_matches(series: pd.Series, pattern: re.Pattern) -> pd.Series:
    """series.str.match(pattern) as booleans (null: False); a compact column is matched through its
    categories."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        matching = np.flatnonzero(np.asarray(series.cat.categories.str.match(pattern), dtype=bool))
        return pd.Series(np.isin(series.cat.codes.to_numpy(), matching), index=series.index)
    return series.astype("str").str.match(pattern).fillna(False).astype(bool)


def _all_text(series: pd.Series) -> bool:
    return bool(series.dropna().map(lambda value: isinstance(value, str)).all())


def concat_compact(frames: Sequence[pd.DataFrame | pa.Table]) -> pd.DataFrame:
    """pd.concat of frames with the same columns, keeping text columns compact: categoricals whose
    categories differ are unioned (sorted), where pd.concat would fall back to Python objects.

    A part may be an Arrow table as read from Parquet, with the same result as its pandas frame: its
    dictionary columns count as categoricals, and their codes and dictionaries serve as they are (making
    a pandas frame of each of thirty stored tables first cost more than joining them); its other columns
    become what Table.to_pandas makes of them."""
    if len(frames) == 1 and isinstance(frames[0], pd.DataFrame):
        return frames[0].reset_index(drop=True)
    names = [set(_column_names(frame)) for frame in frames]
    columns = list(dict.fromkeys(column for frame in frames for column in _column_names(frame)))
    categorical = [c for c in columns if any(_is_categorical(frame[c]) for frame, has in zip(frames, names) if c in has)]
    joined = {}
    for column in columns:
        parts = [frame[column] if column in has else pd.Series(np.nan, index=pd.RangeIndex(len(frame)))
                 for frame, has in zip(frames, names)]
        if column in categorical:
            coded = [_coded(part) for part in parts]
            dtype = text_categories(set().union(*(texts for _, texts in coded)))
            joined[column] = pd.Categorical.from_codes(_joined_codes(coded, dtype), dtype=dtype, validate=False)
        else:
            joined[column] = pd.concat([_series(part) for part in parts], ignore_index=True)
    # copy=False: the joined columns are new already; a copy would hold the result twice at once.
    return pd.DataFrame(joined, columns=columns, copy=False)


def _column_names(frame: pd.DataFrame | pa.Table) -> list[str]:
    return frame.column_names if isinstance(frame, pa.Table) else list(frame.columns)


def _is_categorical(part: pd.Series | pa.ChunkedArray) -> bool:
    if isinstance(part, pa.ChunkedArray):
        return pa.types.is_dictionary(part.type)
    return isinstance(part.dtype, pd.CategoricalDtype)


def _series(part: pd.Series | pa.ChunkedArray) -> pd.Series:
    return part.to_pandas() if isinstance(part, pa.ChunkedArray) else part


def _coded(part: pd.Series | pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """A column as a code per row (-1 for null) and the text of each code: a compact column's own codes
    and categories (an Arrow column's indices and dictionary), any other column factorised as text (no
    compact copy of it is made)."""
    if isinstance(part, pa.ChunkedArray):
        if pa.types.is_dictionary(part.type) or _is_arrow_text(part.type):
            return _arrow_coded(part)
        part = part.to_pandas()
    # Called once per column of every part (hundreds of times for a few thousand rows): the Categorical's
    # own codes array (.cat.codes wraps a copy in a Series) and a str column as it is (no astype copy).
    if isinstance(part.dtype, pd.CategoricalDtype):
        categories = part.cat.categories
        return part.array.codes, (categories if categories.dtype == "str" else categories.astype("str")).tolist()
    codes, texts = pd.factorize(part if part.dtype == "str" else part.astype("str"))
    return codes, texts.tolist()


def _is_arrow_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _arrow_coded(part: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """_coded of an Arrow text or dictionary column: its dictionary's indices (a text column encoded by
    Arrow first), one dictionary for all its chunks."""
    encoded = (part if pa.types.is_dictionary(part.type) else part.dictionary_encode()).combine_chunks()
    indices, dictionary = encoded.indices, encoded.dictionary
    if indices.null_count:
        # -1 for null in the indices' own type where it is signed (a compact column's int8: no wider copy)
        signed = indices if pa.types.is_signed_integer(indices.type) else indices.cast(pa.int64())
        indices = pc.fill_null(signed, -1)
    texts = dictionary.to_pylist() if _is_arrow_text(dictionary.type) else dictionary.to_pandas().astype("str").tolist()
    return indices.to_numpy(), texts


def _joined_codes(coded: list[tuple[np.ndarray, list[str]]], dtype: pd.CategoricalDtype) -> np.ndarray:
    """The position among dtype's categories of each value of the coded parts, one part after another
    (-1 for null), written into one array of the smallest code type (no int64 array per part)."""
    # Looked up once per distinct text of a part, in Python: pandas' lookups in an Arrow-string index
    # turn the whole index into Python strings again for every part.
    position = {text: i for i, text in enumerate(dtype.categories)}
    codes = np.empty(sum(len(part_codes) for part_codes, _ in coded), dtype=code_dtype(len(dtype.categories)))
    start = 0
    for part_codes, texts in coded:
        # the appended -1 answers code -1 (null)
        mapping = np.array([position[text] for text in texts] + [-1], dtype=codes.dtype)
        codes[start:start + len(part_codes)] = mapping[part_codes]
        start += len(part_codes)
    return codes
