"""Disclosure control for published survey tables, and the subtraction attack that checks it.

Rules (MEASUREMENT.md 2.5 and 8.2; NOVA/FHI practice for youth surveys):
1. primary: a cell with fewer than `min_n` respondents (10) is suppressed;
2. sex split: the sex cells of a district are published only when the district's total is at least 40
   and every sex has at least 15 respondents; otherwise all of them are suppressed;
3. secondary: published tables consist of "lines", a total and the parts that add up to it: Oslo and its
   15 bydeler (for every group), and a district's "all" cell and its sex or age-band cells. If exactly one
   cell of a line is suppressed, it could be recovered by subtracting the published cells from the
   published total, so one more cell (the part with the fewest respondents) is suppressed; this repeats
   until no line has exactly one suppressed cell.
A suppressed cell keeps its row with status ":" and null n, measures and interval.

`subtraction_attack` plays the attacker on a published table: it repeatedly solves every line with a
single unknown cell and reports each cell it recovers. Published tables must give it nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SUPPRESSED = ":"


@dataclass(frozen=True)
class DisclosureRules:
    min_n: int = 10
    sex_split_min_total: int = 40
    sex_split_min_each: int = 15


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
    """A cell of group "all" as the total of its sex cells, and of its age-band cells."""
    lines = []
    group_type = frame["group_type"].to_numpy()
    for positions in frame.groupby(list(line_keys), sort=False).indices.values():
        totals = positions[group_type[positions] == "all"]
        if len(totals) != 1:
            continue
        for split in ("sex", "age_band"):
            parts = positions[group_type[positions] == split]
            if len(parts):
                lines.append((int(totals[0]), parts))
    return lines


def secondary_suppression(n: np.ndarray, suppressed: np.ndarray, lines: list[Line]) -> np.ndarray:
    """Suppress further cells until no line has exactly one suppressed cell; returns the new mask."""
    suppressed = suppressed.copy()
    changed = True
    while changed:
        changed = False
        for total, parts in lines:
            if suppressed[total] + suppressed[parts].sum() != 1:
                continue
            candidates = parts[~suppressed[parts]]
            if len(candidates):
                # the smallest cell costs the least information; ties go to the first in table order
                pick = candidates[np.lexsort((candidates, n[candidates]))[0]]
            else:
                pick = total
            suppressed[pick] = True
            changed = True
    return suppressed


def sex_split_failures(frame: pd.DataFrame, cell_keys: Sequence[str], sexes: Sequence[str],
                       rules: DisclosureRules) -> np.ndarray:
    """Mask of sex cells whose district total or any sex is below the sex-split thresholds."""
    keys = list(cell_keys)
    totals = frame.loc[frame["group_type"] == "all", [*keys, "n"]].rename(columns={"n": "total_n"})
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


def suppress(frame: pd.DataFrame, suppressed: np.ndarray, value_columns: Sequence[str]) -> pd.DataFrame:
    """Set status ":" and null counts and values on the suppressed rows."""
    out = frame.copy()
    out["status"] = pd.Series(np.where(suppressed, SUPPRESSED, None), index=out.index, dtype="str")
    for column in value_columns:
        if column in ("n", "n_pairs"):
            out[column] = out[column].astype("Int64").mask(suppressed)
        else:
            out[column] = out[column].astype("float64").mask(suppressed)
    return out


def subtraction_attack(published: pd.DataFrame, lines: list[Line], count_column: str = "n",
                       share_column: str | None = None) -> pd.DataFrame:
    """Recover suppressed cells by subtracting published parts from published totals, repeatedly.

    Returns one row per recovered cell: its position, the recovered count and (when `share_column` is
    given) the recovered number of positive answers. Empty when the table is safe."""
    count = published[count_column].astype("float64").to_numpy().copy()
    positives = (published[share_column].astype("float64").to_numpy() * count
                 if share_column else np.zeros(len(published)))
    known = ~np.isnan(count)
    recovered = []
    changed = True
    while changed:
        changed = False
        for total, parts in lines:
            members = np.concatenate(([total], parts))
            unknown = members[~known[members]]
            if len(unknown) != 1:
                continue
            cell = int(unknown[0])
            sign = 1.0 if cell == total else -1.0
            others = [m for m in parts if m != cell]
            base = 0.0 if cell == total else 1.0
            count[cell] = sign * (np.sum(count[others]) - base * count[total])
            positives[cell] = sign * (np.sum(positives[others]) - base * positives[total])
            known[cell] = True
            recovered.append((cell, count[cell], positives[cell]))
            changed = True
    return pd.DataFrame(recovered, columns=["position", "recovered_count", "recovered_positives"])
