"""What disclosure control works on: the thresholds (`DisclosureRules`), the table of cells to protect
(`Table`) and its lines (Oslo = the sum of its districts; a group "total" = the sum of its sexes and of its
age bands), and the sex-split rule. The rules themselves are documented in docs/SURVEYS.md ("Disclosure
control"); surveys/attack.py plays the attacker on a `Table`, surveys/disclosure.py decides what to hide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SUPPRESSED = ":"
TOLERANCE = 1e-6


class DisclosureError(RuntimeError):
    """A table about to be published would let a hidden cell be recovered."""


@dataclass(frozen=True)
class DisclosureRules:
    min_n: int = 10
    sex_split_min_total: int = 40
    sex_split_min_each: int = 15
    attribute_max_n: int = 50
    minority_max: int = 3


Line = tuple[int, np.ndarray]  # (position of the total, positions of its parts)


def geography_lines(frame: pd.DataFrame, line_keys: Sequence[str], oslo_code: str) -> list[Line]:
    """Oslo as the total of its districts, for every combination of `line_keys`."""
    lines = []
    district = frame["district_code"].to_numpy()
    for positions in frame.groupby(list(line_keys), sort=False).indices.values():
        is_total = district[positions] == oslo_code
        if is_total.sum() == 1 and (~is_total).any():
            lines.append((int(positions[is_total][0]), positions[~is_total]))
    return lines


def group_lines(frame: pd.DataFrame, line_keys: Sequence[str]) -> list[Line]:
    """A cell of group "total" as the total of its sex cells, and of its age-band cells."""
    lines = []
    group_type = frame["group_type"].to_numpy()
    for positions in frame.groupby(list(line_keys), sort=False).indices.values():
        totals = positions[group_type[positions] == "total"]
        if len(totals) != 1:
            continue
        for split in ("sex", "age_band"):
            parts = positions[group_type[positions] == split]
            if len(parts):
                lines.append((int(totals[0]), parts))
    return lines


def sex_split_failures(frame: pd.DataFrame, cell_keys: Sequence[str], sexes: Sequence[str],
                       rules: DisclosureRules) -> np.ndarray:
    """Mask of sex cells whose district total or any sex is below the sex-split thresholds."""
    keys = list(cell_keys)
    totals = frame.loc[frame["group_type"] == "total", [*keys, "n"]].rename(columns={"n": "total_n"})
    sex_rows = frame[frame["group_type"] == "sex"]
    smallest = (
        sex_rows.pivot_table(index=keys, columns="group_value", values="n", aggfunc="sum", observed=True)
        .reindex(columns=list(sexes))
        .fillna(0)
        .min(axis=1)
        .rename("smallest_sex_n")
        .reset_index()
    )
    checked = frame[keys].merge(totals, on=keys, how="left").merge(smallest, on=keys, how="left")
    fails = (checked["total_n"].fillna(0) < rules.sex_split_min_total) | (
        checked["smallest_sex_n"].fillna(0) < rules.sex_split_min_each
    )
    return (frame["group_type"].to_numpy() == "sex") & fails.to_numpy()


@dataclass
class Table:
    """A table to protect: one row per cell, in the order the lines refer to.

    cells: `n` (respondents), `size` (what the categories add up to: n, or the sum of weights for a
    weighted indicator), one column per category (additive amounts: counts or weighted counts), and
    `counts` of the categories in respondents (for the attribute rule); optionally `n_lower` / `n_upper`,
    what the other survey table reveals about n. `block` numbers the independent linear systems (one
    indicator of one wave); `pattern` numbers the cells that share the size decision across indicators
    (one district x group of one wave)."""

    cells: pd.DataFrame
    categories: list[str]
    category_counts: list[str]
    block: np.ndarray
    pattern: np.ndarray
    lines: list[Line]

    def __post_init__(self) -> None:
        self.n = self.cells["n"].to_numpy(dtype="float64")
        self.size = self.cells["size"].to_numpy(dtype="float64")
        self.values = self.cells[self.categories].to_numpy(dtype="float64")
        self.counts = self.cells[self.category_counts].to_numpy(dtype="float64")
        self.size_is_n = self.cells["size_is_n"].to_numpy(dtype=bool)
        # What another published table tells about a cell's n (survey_change's n_pairs <= survey_results' n).
        self.n_lower = self.cells["n_lower"].to_numpy(dtype="float64") if "n_lower" in self.cells else \
            np.zeros(len(self.n))
        self.n_upper = self.cells["n_upper"].to_numpy(dtype="float64") if "n_upper" in self.cells else \
            np.full(len(self.n), np.inf)
        self.line_members = [np.concatenate(([total], parts)) for total, parts in self.lines]
        self.lines_of: dict[int, list[int]] = {}
        for index, members in enumerate(self.line_members):
            for member in members:
                self.lines_of.setdefault(int(member), []).append(index)

    def attribute_cells(self, rules: DisclosureRules) -> np.ndarray:
        return (self.n < rules.attribute_max_n) & (self.counts.min(axis=1) <= rules.minority_max) & (self.n > 0)
