"""Readers for survey wave files as Nettskjema, SurveyXact, SPSS and Excel produce them.

Every reader returns the file's cells as text (one str column per file column, "" for an empty cell) with
the data-row number of each row, so that validation decides, row by row and with a reason, what a value
means. A reader never guesses: what it cannot read for certain is refused as a WaveFileError naming the
file, the row or cell, and what to do. Library errors (zip, XML, SPSS, csv) never reach the user as they
are; they are kept as the cause of the WaveFileError for the log.

CSV: UTF-8 (with or without byte-order mark), UTF-16 (with a byte-order mark, or recognisable by its zero
bytes) or Windows-1252; a file mixing encodings, or with bytes that are none of them, is refused. Comma,
semicolon or tab separated; CRLF, LF or CR line ends; decimal comma is left as text for validation.
XLSX: exactly one sheet with data (a second one is refused, never ignored); formula and error cells are
refused (their cached values are not trusted); a respondent id typed as a number is refused unless the
cell's number format pads it with zeros, because Excel drops leading zeros from numbers.
SPSS .sav: value labels of the demographic columns replace their codes; value labels and user-missing
codes of the answer columns are kept so validation can check them against the codebook. Numeric ids are
written without decimals, zero-padded when their SPSS format is N (restricted numeric).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ci_pipeline.archive import file_sha256

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".sav")
BOM_UTF8 = b"\xef\xbb\xbf"
BOMS_UTF16 = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
# A multi-byte UTF-8 sequence; Windows-1252 text practically never contains one.
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class WaveFileError(ValueError):
    """A wave file that cannot be used as a whole."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class WaveFile:
    path: Path
    sha256: str
    file_format: str
    encoding: str | None
    separator: str | None
    cells: pd.DataFrame  # every column str, "" for empty; header names stripped and lower-cased
    row_numbers: np.ndarray  # data-row number of each row in the file (1 = first row after the header)
    # .sav only: column -> {code as text: value label}, and column -> codes SPSS declares user-missing
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    missing_codes: dict[str, set[str]] = field(default_factory=dict)


def read_wave_file(path: Path | str, labelled_columns: frozenset[str] = frozenset(),
                   id_column: str | None = None) -> WaveFile:
    """Read a wave file by its suffix. `labelled_columns` (lower-case names) are the .sav columns whose
    value labels replace their codes (the demographic fields); `id_column` is read as text strictly."""
    path = Path(path)
    if not path.is_file():
        raise WaveFileError(path, "file does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise WaveFileError(path, f"unsupported file type {suffix!r}; expected one of {SUPPORTED_SUFFIXES}")
    if path.stat().st_size == 0:
        raise WaveFileError(path, "file is empty")
    encoding = separator = None
    labels: dict[str, dict[str, str]] = {}
    missing: dict[str, set[str]] = {}
    if suffix == ".csv":
        cells, rows, encoding, separator = _read_csv(path)
    elif suffix == ".xlsx":
        cells, rows = _read_xlsx(path, id_column)
    else:
        cells, rows, labels, missing = _read_sav(path, labelled_columns, id_column)
    names = _header(path, cells.columns)
    cells = cells.set_axis(names, axis=1)
    if cells.empty:
        raise WaveFileError(path, "file has a header but no data rows")
    labels = {name.strip().lower(): value for name, value in labels.items()}
    missing = {name.strip().lower(): value for name, value in missing.items()}
    return WaveFile(path, file_sha256(path), suffix[1:], encoding, separator, cells.reset_index(drop=True),
                    np.asarray(rows, dtype="int64"), labels, missing)


def _header(path: Path, columns) -> list[str]:
    """Column names stripped and lower-cased, so a re-typed header in Excel still matches the codebook."""
    names = [str(c).strip().lower() for c in columns]
    if any(name == "" for name in names):
        raise WaveFileError(path, "header has an empty column name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise WaveFileError(path, f"header repeats column(s) {duplicates}")
    return names


# --- CSV ------------------------------------------------------------------------------------------


def _line_of(data: bytes, offset: int) -> int:
    return len(LINE_BREAK.findall(data, 0, offset)) + 1


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 recognised by its zero bytes: in mostly-ASCII text every other byte is zero."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was found to be in; anything uncertain is refused."""
    if data.startswith(BOM_UTF8):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as error:
            raise WaveFileError(path, (
                f"starts with a UTF-8 byte-order mark, but line {_line_of(data, error.start + 3)} has a byte "
                f"(0x{data[error.start + 3]:02X}) that is not UTF-8: the file mixes encodings. Save it again "
                "as \"CSV UTF-8\"")) from error
    bom = next((bom for bom in BOMS_UTF16 if data.startswith(bom)), None)
    utf16 = BOMS_UTF16[bom] if bom else _utf16_without_bom(data)
    if utf16:
        body = data[len(bom):] if bom else data
        try:
            return body.decode(utf16), utf16
        except UnicodeDecodeError as error:
            raise WaveFileError(path, f"looks like {utf16.upper()} text, but byte {error.start} is not valid "
                                      f"{utf16.upper()}; save it again as \"CSV UTF-8\"") from error
    if b"\x00" in data[:8192]:
        raise WaveFileError(path, "binary content (zero bytes), not a CSV text file; export the wave as CSV, "
                                  "XLSX or SPSS .sav")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        first_bad = error.start
    valid = UTF8_SEQUENCE.search(data)
    if valid is not None:
        raise WaveFileError(path, (
            f"mixes encodings: line {_line_of(data, valid.start())} is UTF-8 but line {_line_of(data, first_bad)} "
            f"has a byte (0x{data[first_bad]:02X}) that is not; the file was probably pasted together from "
            "several exports. Save it again as \"CSV UTF-8\""))
    try:
        # Excel on Windows saves "CSV" as Windows-1252.
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as error:
        raise WaveFileError(path, (
            f"line {_line_of(data, error.start)} has a byte (0x{data[error.start]:02X}) that is neither UTF-8 "
            "nor Windows-1252; save the file again as \"CSV UTF-8\"")) from error


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[int], str, str]:
    text, encoding = decode_text(path, path.read_bytes())
    # CR-only line ends (old Mac exports) and CRLF become LF before the csv module sees them.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise WaveFileError(path, "file has no header line (only whitespace)")
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    separator = max(counts, key=counts.get)
    if counts[separator] == 0:
        raise WaveFileError(path, "cannot find a column separator (comma, semicolon or tab) in the header line")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    records = []
    try:
        for row in reader:
            records.append((reader.line_num, row))
    except csv.Error as error:
        problem = str(error)
        if "field larger than field limit" in problem:
            problem = (f"a field is longer than {csv.field_size_limit():,} characters (an unclosed quote, or "
                       "not a survey export)")
        raise WaveFileError(path, f"line {reader.line_num + 1}: not readable as CSV ({problem}); check the "
                                  "quotes and the separator") from error
    header_row = records[0][1]
    cells, rows = [], []
    for number, (line, row) in enumerate(records[1:], start=1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header_row):
            raise WaveFileError(
                path,
                f"data row {number} (line {line}) has {len(row)} fields but the header has {len(header_row)} "
                f"(separator {separator!r}); check the quotes and separators of that row",
            )
        cells.append([cell.strip() for cell in row])
        rows.append(number)
    return pd.DataFrame(cells, columns=header_row, dtype=str), rows, encoding, separator


# --- XLSX -----------------------------------------------------------------------------------------


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _zero_padded_width(number_format: str | None) -> int | None:
    """Width of a number format that pads with zeros ("0000000"), else None."""
    return len(number_format) if number_format and re.fullmatch(r"0+", number_format) else None


def _read_xlsx(path: Path, id_column: str | None) -> tuple[pd.DataFrame, list[int]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, data_only=False)
    except Exception as error:  # openpyxl raises zip, XML and key errors for a broken file
        raise WaveFileError(path, "not a readable XLSX workbook (not an Office Open XML file, or damaged); "
                                  "open it in Excel and save it again as an Excel workbook (.xlsx)") from error
    with_data = [sheet for sheet in workbook.worksheets
                 if any(cell.value is not None for row in sheet.iter_rows() for cell in row)]
    if not with_data:
        raise WaveFileError(path, "the workbook has no data on any sheet")
    if len(with_data) > 1:
        raise WaveFileError(path, (
            f"the workbook has data on {len(with_data)} sheets ({', '.join(repr(s.title) for s in with_data)}); "
            "a wave is read from one sheet only: put all responses on one sheet and delete the others"))
    sheet = with_data[0]
    grid = list(sheet.iter_rows())
    header = [_as_text(cell.value) for cell in grid[0]]
    problems = []
    for row in grid:
        for cell in row:
            if cell.data_type == "f":
                problems.append(f"cell {cell.coordinate} holds a formula")
            elif cell.data_type == "e":
                problems.append(f"cell {cell.coordinate} holds an Excel error value")
    if problems:
        raise WaveFileError(path, (
            f"sheet {sheet.title!r}: {'; '.join(problems[:5])}{' and more' if len(problems) > 5 else ''}; "
            "the pipeline does not compute formulas: replace them by their values (Paste Special > Values)"))
    used = [i for i, name in enumerate(header) if name or any(
        row[i].value is not None for row in grid[1:] if i < len(row))]
    unnamed = [grid[0][i].column_letter for i in used if not header[i]]
    if unnamed:
        raise WaveFileError(path, f"sheet {sheet.title!r}: column(s) {unnamed} have data but no header")
    id_index = next((i for i in used if header[i].strip().lower() == id_column), None) if id_column else None
    cells, rows, numeric_ids = [], [], []
    for row in grid[1:]:
        values = [row[i].value if i < len(row) else None for i in used]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        texts = [_as_text(v) for v in values]
        if id_index is not None and id_index < len(row) and row[id_index].data_type == "n" \
                and row[id_index].value is not None:
            width = _zero_padded_width(row[id_index].number_format)
            if width is None:
                numeric_ids.append(row[id_index].row - 1)
            else:
                texts[used.index(id_index)] = str(int(row[id_index].value)).zfill(width)
        cells.append(texts)
        rows.append(row[0].row - 1)
    if numeric_ids:
        raise WaveFileError(path, (
            f"sheet {sheet.title!r}: {id_column} is stored as a number in {len(numeric_ids)} row(s) (first: data "
            f"row {numeric_ids[0]}); Excel drops leading zeros from numbers, so such an id may not match the same "
            f"person in other waves. Format the {id_column} column as Text and enter the ids again, or export "
            "the wave as CSV"))
    return pd.DataFrame(cells, columns=[header[i] for i in used], dtype=str), rows


# --- SPSS .sav ------------------------------------------------------------------------------------


def _missing_codes(ranges: list[dict], present: set[float]) -> set[str]:
    """The user-missing codes of a column as text: single values, and the codes present in a range."""
    codes = set()
    for item in ranges:
        low, high = item["lo"], item["hi"]
        codes |= {_as_text(low)} if low == high else {_as_text(v) for v in present if low <= v <= high}
    return codes


def _read_sav(path: Path, labelled_columns: frozenset[str], id_column: str | None):
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=False, user_missing=True)
    except Exception as error:  # pyreadstat raises ReadstatError/PyreadstatError for a broken file
        raise WaveFileError(path, "not a readable SPSS .sav file (damaged, or another format); save it "
                                  "again from SPSS or the survey tool") from error
    columns, labels, missing = {}, {}, {}
    for name in frame.columns:
        values = frame[name].tolist()
        value_labels = meta.variable_value_labels.get(name, {})
        numeric = meta.original_variable_types.get(name, "").upper().startswith(("F", "N"))
        if name.strip().lower() in labelled_columns:
            columns[str(name)] = [value_labels[v] if v in value_labels else _as_text(v) for v in values]
            continue
        if name.strip().lower() == id_column and meta.original_variable_types.get(name, "").upper().startswith("N"):
            width = int(re.match(r"N(\d+)", meta.original_variable_types[name].upper()).group(1))
            columns[str(name)] = [_as_text(v).zfill(width) if _as_text(v) else "" for v in values]
            continue
        columns[str(name)] = [_as_text(v) for v in values]
        if value_labels:
            labels[str(name)] = {_as_text(code): str(label) for code, label in value_labels.items()}
        if numeric and name in meta.missing_ranges:
            present = {v for v in values if isinstance(v, float) and not math.isnan(v)}
            missing[str(name)] = _missing_codes(meta.missing_ranges[name], present)
    cells = pd.DataFrame(columns, dtype=str)
    keep = cells.apply(lambda column: column.str.strip() != "").any(axis=1).to_numpy()
    rows = np.arange(1, len(cells) + 1)[keep]
    return cells[keep], rows, labels, missing
