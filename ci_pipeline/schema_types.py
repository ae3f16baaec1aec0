"""The building blocks of the column contract (ci_pipeline.schema): the types a column may have, what a
column and a dataset's contract are, and `to_arrow`, which turns a built frame into the Arrow table that is
published, converting the published-only types (`date`, `timestamp`, `json`) from the builder's text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

DTYPES = ("str", "float64", "int64", "Int64", "bool", "object", "date", "timestamp", "json")

# The DuckDB type a column of each dtype reads as from the published Parquet (object: whatever the values
# are; the column's description says).
SQL_TYPES = {"str": "VARCHAR", "float64": "DOUBLE", "int64": "BIGINT", "Int64": "BIGINT", "bool": "BOOLEAN",
             "object": "varies", "date": "DATE", "timestamp": "TIMESTAMP WITH TIME ZONE", "json": "JSON"}

# The pandas dtype `pd.read_parquet` gives back for each published-only type (dates as datetime.date).
_READ_BACK = {"date": "object", "timestamp": "datetime64[us, UTC]", "json": "str"}


class ContractError(ValueError):
    """A value that cannot be stored as its column's contract type."""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    description: str


@dataclass(frozen=True)
class Contract:
    """One dataset: `grain` says what one row is; primary_key names the columns that identify it."""

    name: str
    grain: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"contract {self.name}: a column is listed twice")
        unknown = [column.dtype for column in self.columns if column.dtype not in DTYPES]
        if unknown:
            raise ValueError(f"contract {self.name}: unknown dtype(s) {unknown}; use one of {DTYPES}")
        if not set(self.primary_key) <= set(names):
            raise ValueError(f"contract {self.name}: primary key {self.primary_key} names unknown columns")

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def dtypes(self) -> dict[str, str]:
        return {column.name: column.dtype for column in self.columns}

    @property
    def read_dtypes(self) -> dict[str, str]:
        """The pandas dtype of each column as `pd.read_parquet` reads the published file."""
        return {column.name: _READ_BACK.get(column.dtype, column.dtype) for column in self.columns}

    @property
    def descriptions(self) -> dict[str, str]:
        return {column.name: column.description for column in self.columns}

    @property
    def summary(self) -> str:
        """What a row is and what identifies it, in one sentence."""
        return f"One row per {self.grain}. Primary key: ({', '.join(self.primary_key)})."

    def parquet_metadata(self) -> dict[str, str]:
        """The table-level key/value metadata a published Parquet file carries (its fields carry
        `description`)."""
        return {"grain": self.grain, "primary_key": json.dumps(list(self.primary_key)), "description": self.summary}


def to_arrow(frame: pd.DataFrame, contract: Contract | None) -> pa.Table:
    """`frame` as the Arrow table to publish, its published-only columns (`date`, `timestamp`, `json`)
    converted from the builder's text. A value that does not parse raises ContractError naming the column
    and row; nothing becomes null on the way. The pandas metadata Arrow keeps says the converted dtypes, so
    `pd.read_parquet` gives `read_dtypes` back."""
    frame = frame.reset_index(drop=True)
    published = [column for column in (contract.columns if contract else ())
                 if column.dtype in _PARSERS and column.name in frame.columns]
    if published:
        frame = frame.assign(**{column.name: _parsed(frame[column.name], column, contract.name)
                                for column in published})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for column in published:
        if column.dtype == "json":
            position = table.column_names.index(column.name)
            table = table.set_column(position, table.field(position).with_type(pa.json_()),
                                     table.column(position).cast(pa.json_()))
    return table


def _parse_json(values: pd.Series) -> pd.Series:
    for value in values.dropna():
        json.loads(value)
    return values


# How each published-only type is read from the builder's text; each raises ValueError on a bad value.
_PARSERS = {
    # ISO 8601 with any offset spelling (SSB's `Z`, FHI's `.0000000+00:00`), to UTC, in microseconds
    # (DuckDB's TIMESTAMPTZ resolution: FHI's seventh fractional digit, 100 ns, is dropped).
    "timestamp": lambda values: pd.to_datetime(values, utc=True, format="ISO8601").dt.floor("us").dt.as_unit("us"),
    "date": lambda values: pd.Series([None if pd.isna(day) else day.date()
                                      for day in pd.to_datetime(values, format="%Y-%m-%d")], dtype=object),
    "json": _parse_json,
}
_EXPECTED = {"date": "date (YYYY-MM-DD)", "timestamp": "ISO 8601 instant", "json": "JSON text"}


def _parsed(values: pd.Series, column: Column, dataset: str) -> pd.Series:
    parse = _PARSERS[column.dtype]
    try:
        return parse(values)
    except (ValueError, TypeError) as error:
        row = next((row for row, value in values.dropna().items() if not _parses(parse, value)),
                   values.first_valid_index())
        raise ContractError(f"{dataset}.{column.name}: row {row} holds {values[row]!r}, which is not a "
                            f"{_EXPECTED[column.dtype]} ({error})") from error


def _parses(parse, value: object) -> bool:
    try:
        parse(pd.Series([value]))
    except (ValueError, TypeError):
        return False
    return True
