"""Readers for survey wave files as Nettskjema, SurveyXact and Excel produce them.

Every reader returns the file's cells as text (one str column per file column, "" for an empty cell), so
that validation decides, row by row and with a reason, what a value means; nothing is converted or
dropped here. A file that cannot be read at all raises WaveFileError naming the file and the problem.

CSV: UTF-8, UTF-8 with BOM, or Windows-1252/latin-1; comma, semicolon or tab separated; decimal comma is
left as text and understood by validation. XLSX: the first sheet, first row as header. SPSS .sav: value
labels of the demographic columns are used (a labelled district or sex code becomes its label); answer
columns keep their numeric codes, which are the scale values.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ci_pipeline.archive import file_sha256

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".sav")


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
    cells: pd.DataFrame  # every column str, "" for empty



def read_wave_file(path: Path | str, labelled_columns: frozenset[str] = frozenset()) -> WaveFile:
    """Read a wave file by its suffix. `labelled_columns` (lower-case names) are the .sav columns whose
    value labels replace their codes (the demographic fields)."""
    path = Path(path)
    if not path.is_file():
        raise WaveFileError(path, "file does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise WaveFileError(path, f"unsupported file type {suffix!r}; expected one of {SUPPORTED_SUFFIXES}")
    if path.stat().st_size == 0:
        raise WaveFileError(path, "file is empty")
    encoding = separator = None
    if suffix == ".csv":
        cells, encoding, separator = _read_csv(path)
    elif suffix == ".xlsx":
        cells = _read_xlsx(path)
    else:
        cells = _read_sav(path, labelled_columns)
    cells = cells.set_axis(_header(path, cells.columns), axis=1)
    if cells.empty:
        raise WaveFileError(path, "file has a header but no data rows")
    return WaveFile(path, file_sha256(path), suffix[1:], encoding, separator, cells)


def _header(path: Path, columns) -> list[str]:
    """Column names stripped and lower-cased, so a re-typed header in Excel still matches the codebook."""
    names = [str(c).strip().lower() for c in columns]
    if any(name == "" or name.startswith("unnamed:") for name in names):
        raise WaveFileError(path, "header has an empty column name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise WaveFileError(path, f"header repeats column(s) {duplicates}")
    return names


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if b"\x00" in data[:8192]:
        raise WaveFileError(path, "binary content (NUL bytes), not a text CSV file")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Excel on Windows saves "CSV" as Windows-1252; bytes it leaves undefined mean plain latin-1.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _read_csv(path: Path) -> tuple[pd.DataFrame, str, str]:
    text, encoding = _decode(path, path.read_bytes())
    lines = text.splitlines()
    if not text.strip():
        raise WaveFileError(path, "file has no header line (only whitespace)")
    header = lines[0]
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    separator = max(counts, key=counts.get)
    if counts[separator] == 0:
        raise WaveFileError(path, "cannot find a column separator (comma, semicolon or tab) in the header line")
    rows = list(csv.reader(io.StringIO(text), delimiter=separator))
    header_row, data_rows = rows[0], [row for row in rows[1:] if any(cell.strip() for cell in row)]
    for line_number, row in enumerate(data_rows, start=2):
        if len(row) != len(header_row):
            raise WaveFileError(
                path,
                f"data row {line_number - 1} has {len(row)} fields but the header has {len(header_row)} "
                f"(separator {separator!r})",
            )
    cells = pd.DataFrame(data_rows, columns=header_row, dtype=str)
    return cells.apply(lambda column: column.str.strip()), encoding, separator


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types (zip, xml, key errors) for a broken file
        raise WaveFileError(path, f"not a readable XLSX workbook ({type(error).__name__}: {error})") from error
    frame = frame.dropna(how="all")
    return pd.DataFrame({str(c): [_as_text(v) for v in frame[c]] for c in frame.columns}, dtype=str)


def _read_sav(path: Path, labelled_columns: frozenset[str]) -> pd.DataFrame:
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
    except Exception as error:  # pyreadstat raises ReadstatError/PyreadstatError for a broken file
        raise WaveFileError(path, f"not a readable SPSS .sav file ({type(error).__name__}: {error})") from error
    columns = {}
    for name in frame.columns:
        labels = meta.variable_value_labels.get(name, {}) if name.lower() in labelled_columns else {}
        columns[str(name)] = [
            labels[value] if value in labels else _as_text(value) for value in frame[name].tolist()
        ]
    return pd.DataFrame(columns, dtype=str)
