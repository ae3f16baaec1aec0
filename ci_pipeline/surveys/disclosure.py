"""Disclosure control for the published survey tables: deciding what to hide, hiding it, and the
version-difference check. The rules and the attacker model are documented in docs/SURVEYS.md
("Disclosure control"); the thresholds and the table are in surveys/disclosure_table.py, the attacks in
surveys/attack.py. In short:

Size (a cell's n is hidden, in every indicator at once): a cell with fewer than `min_n` (10) respondents
in any indicator; the sex cells of a district whose total is under 40 or either sex under 15; and the
secondary cells needed so that no hidden n can be narrowed to an interval shorter than `min_n`. The
pattern is decided jointly for all indicators of a wave (pair of waves for survey_change): their n describe
the same respondents, so an n hidden in one indicator and published in another would give it away.

Attribute (a cell keeps its n, its shares and means are hidden): a cell with fewer than
`attribute_max_n` (50) respondents in which some answer category (positive / not positive; improved /
unchanged / worsened) has `minority_max` (3) respondents or fewer: 0 %, 100 % and "all but one" are of
this kind. Secondary cells are hidden so that no hidden share can be worked out.

`protect` adds suppression until the interval attack (attack.Judge) recovers nothing, and the publishing
step refuses a table for which that fails.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ci_pipeline.surveys.attack import Judge
from ci_pipeline.surveys.disclosure_table import (
    SUPPRESSED,
    DisclosureError,
    DisclosureRules,
    Table,
)


def _spread(mask: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """A size decision for one cell holds for every cell of its pattern (all indicators)."""
    hidden_patterns = np.unique(pattern[mask])
    return np.isin(pattern, hidden_patterns)


def _pick(candidates: np.ndarray, table: Table, for_size: bool) -> int:
    """The cell to hide next among `candidates`: for size the one with the fewest respondents; for values
    the one whose categories are most balanced (it protects best), then the smallest."""
    if for_size:
        order = np.lexsort((candidates, table.n[candidates]))
    else:
        order = np.lexsort((candidates, table.n[candidates], -table.counts[candidates].min(axis=1)))
    return int(candidates[order[0]])


def _secondary(table: Table, hidden: np.ndarray, rules: DisclosureRules, for_size: bool) -> np.ndarray:
    """Hide more cells until every line with a hidden cell has two, and (when its total is published) the
    hidden parts together are at least min_n respondents and, for values, their categories are not small."""
    hidden = hidden.copy()
    changed = True
    while changed:
        changed = False
        for (total, parts), members in zip(table.lines, table.line_members):
            secret = members[hidden[members]]
            if len(secret) == 0:
                continue
            weak = len(secret) == 1
            if not weak and not hidden[total]:
                union_n = table.n[secret].sum()
                weak = union_n < rules.min_n
                if not for_size and not weak and union_n < rules.attribute_max_n:
                    weak = table.counts[secret].sum(axis=0).min() <= rules.minority_max
            if not weak:
                continue
            candidates = parts[~hidden[parts]]
            if len(candidates) == 0:
                if hidden[total]:
                    continue
                candidates = np.array([total])
            pick = _pick(candidates, table, for_size)
            hidden[_spread(np.eye(1, len(hidden), pick, dtype=bool)[0], table.pattern) if for_size else pick] = True
            changed = True
    return hidden


def protect(table: Table, primary_size: np.ndarray, rules: DisclosureRules,
            forced_size: np.ndarray | None = None, forced_values: np.ndarray | None = None,
            max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(size_hidden, value_hidden) masks such that the interval attack recovers nothing. `forced_*`: cells
    that must stay hidden (hidden in an earlier published version of the same wave)."""
    zeros = np.zeros(len(table.n), dtype=bool)
    forced_size = zeros if forced_size is None else forced_size
    forced_values = zeros if forced_values is None else forced_values
    size_protected = _spread(primary_size, table.pattern)
    size_hidden = _secondary(table, _spread(size_protected | forced_size, table.pattern), rules, for_size=True)
    value_hidden = size_hidden | forced_values | table.attribute_cells(rules)
    judge = Judge(table, rules)
    for _ in range(max_rounds):
        value_hidden = _secondary(table, value_hidden | size_hidden, rules, for_size=False)
        findings = judge(size_hidden, value_hidden, size_protected)
        if not findings:
            return size_hidden, value_hidden
        for finding in findings:
            for_size = finding.kind == "size"
            hidden = size_hidden if for_size else value_hidden
            lines = table.lines_of.get(finding.position, [])
            candidates = [p for line in lines for p in table.line_members[line] if not hidden[p]]
            totals = [table.lines[line][0] for line in lines if not hidden[table.lines[line][0]]]
            if not for_size and totals:
                # a category small in the hidden parts is small in their published total: hide the total
                candidates = totals
            if not candidates:
                continue
            candidates = np.array(sorted(set(candidates)))
            if for_size:
                # the smallest partner that can add min_n of slack to the interval, else the largest one
                roomy = candidates[table.n[candidates] >= rules.min_n]
                pick = _pick(roomy, table, True) if len(roomy) else int(candidates[np.argmax(table.n[candidates])])
            else:
                pick = _pick(candidates, table, False)
            if for_size:
                size_hidden |= _spread(np.eye(1, len(hidden), pick, dtype=bool)[0], table.pattern)
            else:
                value_hidden[pick] = True
        size_hidden = _secondary(table, size_hidden, rules, for_size=True)
    raise DisclosureError(f"disclosure control did not converge in {max_rounds} rounds")


def suppress(frame: pd.DataFrame, size_hidden: np.ndarray, value_hidden: np.ndarray,
             count_columns: Sequence[str], value_columns: Sequence[str]) -> pd.DataFrame:
    """Status ":" on every hidden cell; null counts where the size is hidden, null values where the
    values are."""
    out = frame.copy()
    hidden = size_hidden | value_hidden
    out["status"] = pd.Series(np.where(hidden, SUPPRESSED, None), index=out.index, dtype="str")
    for column in count_columns:
        out[column] = out[column].astype("Int64").mask(size_hidden)
    for column in value_columns:
        out[column] = out[column].astype("float64").mask(hidden)
    return out


def version_differences(current: pd.DataFrame, earlier: Sequence[pd.DataFrame], keys: Sequence[str],
                        count_column: str, min_n: int) -> pd.DataFrame:
    """The version-difference attack: cells published in the current table and in an earlier version whose
    count differs by 1 to min_n - 1 respondents (the difference is the answers of those few people)."""
    found = []
    for number, version in enumerate(earlier):
        if not {*keys, count_column} <= set(version.columns):
            continue
        both = current[[*keys, count_column]].merge(version[[*keys, count_column]], on=list(keys),
                                                    suffixes=("", "_earlier"))
        difference = (both[count_column].astype("float64") - both[f"{count_column}_earlier"].astype("float64")).abs()
        small = both[(difference > 0) & (difference < min_n)]
        found.append(small.assign(version=number, difference=difference[small.index]))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()
