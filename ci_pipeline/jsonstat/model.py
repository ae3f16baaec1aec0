"""What a JSON-stat 2.0 answer is read into: `JsonStatTable`, its `Dimension`s, and the reader's
`JsonStatError` / `JsonStatWarning`.

The frame's own columns are `FRAME_COLUMNS`; a dimension with one of these ids is renamed with
`RENAMED_SUFFIX` in the table (see Dimension).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


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
