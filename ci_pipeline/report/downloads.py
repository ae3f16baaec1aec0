"""Every table of the report as a CSV file that Norwegian Excel opens right.

UTF-8 with a byte-order mark (so Excel does not guess Windows-1252), `;` between fields and a decimal
comma in numbers (Excel's Norwegian locale), CRLF line ends, no digit grouping and an ASCII minus, so every
number reads as a number. Each row carries the report version and the provenance of its figures in
words, so a copy taken out of its folder still says what it is.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from ci_pipeline.report.formatting import is_missing

BOM = "\ufeff"


@dataclass
class Download:
    """A table as columns and rows of plain values (str, int, float or None)."""

    filename: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def cell(value: Any, digits: int = 1) -> str:
    if value is None or is_missing(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}".replace(".", ",")
    return str(value)


def csv_bytes(download: Download, digits: int = 1) -> bytes:
    """The table as UTF-8 (with BOM), `;`-separated CSV bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(download.columns)
    for row in download.rows:
        if len(row) != len(download.columns):
            raise ValueError(f"{download.filename}: a row has {len(row)} cells for {len(download.columns)} columns")
        writer.writerow([cell(value, digits) for value in row])
    return (BOM + buffer.getvalue()).encode("utf-8")
