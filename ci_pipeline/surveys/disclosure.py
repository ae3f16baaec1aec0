"""Disclosure control for the published survey tables, and the interval (linear-programming) attack that
verifies it before anything is published. The rules and the attacker model are documented in
docs/SURVEYS.md ("Disclosure control"); in short:

Size (a cell's n is hidden, in every indicator at once): a cell with fewer than `min_n` (10) respondents
in any indicator; the sex cells of a district whose total is under 40 or either sex under 15; and the
secondary cells needed so that no hidden n can be narrowed to an interval shorter than `min_n`. The
pattern is decided jointly for all indicators of a wave (pair of waves for survey_change): their n describe
the same respondents, so an n hidden in one indicator and published in another would give it away.

Attribute (a cell keeps its n, its shares and means are hidden): a cell with fewer than
`attribute_max_n` (50) respondents in which some answer category (positive / not positive; improved /
unchanged / worsened) has `minority_max` (3) respondents or fewer: 0 %, 100 % and "all but one" are of
this kind. Secondary cells are hidden so that no hidden share can be worked out.

Verification: `Attacker` plays the attacker. From the published cells alone (plus, for weighted
indicators, the population sizes, which are public) it solves, per indicator and wave, the linear
programme of everything the lines (Oslo = sum of districts; all = sum of sexes; all = sum of age bands)
and the cells' own sums allow, and returns the narrowest interval it can prove for every hidden count.
`judge` compares them with the truth: a hidden n of a size-protected cell known to within fewer than
`min_n`, or a small category provably at most `minority_max`, is recovered. `protect` adds suppression
until nothing is recovered, and the publishing step refuses a table for which that fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

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


# --- the attack ---------------------------------------------------------------------------------------


def _block_system(n, size, size_is_n, values, lines: list[Line], rows: np.ndarray):
    """Variables and equalities of one block: unknown n ("n"), unknown weighted sizes ("w", for a weighted
    indicator whose n is hidden) and unknown category amounts ("v"). Returns (variables, index, A_eq, b_eq)."""
    local = {int(r): i for i, r in enumerate(rows)}
    variables, index = [], {}

    def variable(key: tuple) -> None:
        index[key] = len(variables)
        variables.append(key)

    for r in rows:
        if np.isnan(n[r]):
            variable(("n", int(r), 0))
        if np.isnan(size[r]) and not size_is_n[r]:
            variable(("w", int(r), 0))
        for k in range(values.shape[1]):
            if np.isnan(values[r, k]):
                variable(("v", int(r), k))
    equations, rhs = [], []

    def add(terms: list[tuple[tuple, float]], known: float) -> None:
        row = np.zeros(len(variables))
        for key, coefficient in terms:
            row[index[key]] += coefficient
        if row.any():
            equations.append(row)
            rhs.append(known)

    measures = [("n", None, n), ("w", None, size)] + [("v", k, values[:, k]) for k in range(values.shape[1])]
    for total, parts in lines:
        if total not in local:
            continue
        members = [(int(total), -1.0)] + [(int(p), 1.0) for p in parts]
        for kind, column, amounts in measures:
            if kind == "w" and size_is_n[total]:
                continue  # unweighted: the sizes are the n, already in the n lines
            terms, known = [], 0.0
            for member, sign in members:
                if np.isnan(amounts[member]):
                    terms.append(((kind, member, column or 0), sign))
                else:
                    known -= sign * amounts[member]
            if terms:
                add(terms, known)
    for r in rows:
        unknown = [k for k in range(values.shape[1]) if np.isnan(values[r, k])]
        if not unknown:
            continue
        terms = [(("v", int(r), k), 1.0) for k in unknown]
        known = -sum(values[r, k] for k in range(values.shape[1]) if k not in unknown)
        if np.isnan(size[r]):
            terms.append((("n" if size_is_n[r] else "w", int(r), 0), -1.0))  # categories add up to the size
        else:
            known += size[r]
        add(terms, known)
    a_eq = sparse.csr_array(np.array(equations)) if equations else None
    return variables, index, a_eq, np.array(rhs)


def _variable_bounds(table: Table, variables: list[tuple]) -> list[tuple[float, float | None]]:
    return [(table.n_lower[row], None if np.isinf(table.n_upper[row]) else table.n_upper[row]) if kind == "n"
            else (0.0, None) for kind, row, _ in variables]


def _bound(a_eq, b_eq, bounds, position: int, maximise: bool) -> float:
    objective = np.zeros(len(bounds))
    objective[position] = -1.0 if maximise else 1.0
    result = linprog(objective, A_eq=a_eq, b_eq=b_eq if a_eq is not None else None, bounds=bounds,
                     method="highs")
    if result.status == 3:  # unbounded
        return np.inf if maximise else 0.0
    if result.status != 0:
        raise DisclosureError(f"the interval attack could not be solved (status {result.status}: {result.message})")
    return -result.fun if maximise else result.fun


@dataclass(frozen=True)
class Finding:
    position: int
    kind: str  # "size" (n narrowed below min_n) or "attribute" (a small category proven small)
    detail: str


class Attacker:
    """Everything an attacker can derive from one published view of a table, per block (the linear system
    is built once per block and reused for every question)."""

    def __init__(self, table: Table, published_n: np.ndarray, published_values: np.ndarray):
        self.table, self.published_n, self.published_values = table, published_n, published_values
        # A cell's size (n, or the weights of a weighted indicator) is known where its n is published.
        self.size = np.where(np.isnan(published_n), np.nan, table.size)
        self._systems: dict[int, tuple] = {}
        self._lines: dict[int, list[Line]] = {}
        for line in table.lines:
            self._lines.setdefault(int(table.block[line[0]]), []).append(line)

    def system(self, block: int):
        if block not in self._systems:
            rows = np.flatnonzero(self.table.block == block)
            variables, index, a_eq, b_eq = _block_system(self.published_n, self.size, self.table.size_is_n,
                                                         self.published_values, self._lines.get(block, []), rows)
            self._systems[block] = (variables, index, a_eq, b_eq, _variable_bounds(self.table, variables))
        return self._systems[block]

    def bound(self, kind: str, row: int, category: int, maximise: bool) -> float:
        """The attacker's maximum (or minimum) of one count of one cell; its value if published."""
        _, index, a_eq, b_eq, bounds = self.system(int(self.table.block[row]))
        key = (kind, row, category)
        if key not in index:
            return self.published_n[row] if kind == "n" else self.published_values[row, category]
        return _bound(a_eq, b_eq, bounds, index[key], maximise)

    def reachable(self, block: int, targets: list[tuple[str, int, int, float]]) -> np.ndarray:
        """Whether one point the published cells allow has every asked variable at least its target (then
        each can reach it, and no own linear programme is needed). `targets`: (kind, row, category, target)."""
        variables, index, a_eq, b_eq, bounds = self.system(block)
        count, extra = len(variables), len(targets)
        # maximise sum(t) with t_i <= variable_i - target_i and t_i <= 0: all reach their target iff sum(t) = 0
        a_ub = np.zeros((extra, count + extra))
        for i, (kind, row, category, _) in enumerate(targets):
            a_ub[i, index[(kind, row, category)]] = -1.0
            a_ub[i, count + i] = 1.0
        b_ub = np.array([-target for *_, target in targets])
        objective = np.concatenate((np.zeros(count), -np.ones(extra)))
        if a_eq is not None:
            a_eq = sparse.hstack((a_eq, sparse.csr_array((a_eq.shape[0], extra)))).tocsr()
        result = linprog(objective, A_ub=sparse.csr_array(a_ub), b_ub=b_ub, A_eq=a_eq,
                         b_eq=b_eq if a_eq is not None else None,
                         bounds=bounds + [(None, 0)] * extra, method="highs")
        if result.status != 0:
            return np.zeros(extra, dtype=bool)
        return result.x[count:] > -TOLERANCE


def judge(table: Table, size_hidden: np.ndarray, value_hidden: np.ndarray, size_protected: np.ndarray,
          rules: DisclosureRules) -> list[Finding]:
    """Run the interval attack on the published view of `table` and report every hidden cell it recovers:
    a size-protected cell whose n lies in an interval shorter than min_n, or a hidden cell under
    attribute_max_n whose small category (at most minority_max respondents) is provably that small.

    Per block, one linear programme first looks for a single point where every checked cell is beyond its
    threshold; only the cells it cannot place there get their own minimum and maximum."""
    published_n = np.where(size_hidden, np.nan, table.n)
    published_values = np.where(value_hidden[:, None], np.nan, table.values)
    checks: dict[int, list[tuple[str, int, int, float]]] = {}
    for row in np.flatnonzero(size_protected & size_hidden):
        checks.setdefault(int(table.block[row]), []).append(("n", int(row), 0, table.n[row] + rules.min_n))
    for row in np.flatnonzero(value_hidden & table.attribute_cells(rules)):
        for k in range(len(table.categories)):
            if table.counts[row, k] <= rules.minority_max:
                # more than minority_max respondents' worth of the cell, or half of a very small cell
                share = min(rules.minority_max + 1, table.n[row] / 2) / table.n[row]
                checks.setdefault(int(table.block[row]), []).append(("v", int(row), k, share * table.size[row]))
    attacker = Attacker(table, published_n, published_values)
    findings = []
    for block, targets in checks.items():
        # Each round places the cells it can; the rest try again, until a round places none.
        while targets:
            reached = attacker.reachable(block, targets)
            if not reached.any():
                break
            targets = [target for target, ok in zip(targets, reached) if not ok]
        for kind, row, k, target in targets:
            high = attacker.bound(kind, row, k, maximise=True)
            if kind == "v":
                if high < target - TOLERANCE:
                    findings.append(Finding(row, "attribute", f"{table.categories[k]} at most {high:.4g}"))
                continue
            if high - table.n[row] >= rules.min_n - TOLERANCE:
                continue
            low = attacker.bound(kind, row, k, maximise=False)
            if high - low < rules.min_n - TOLERANCE:
                findings.append(Finding(row, "size", f"n in [{low:.4g}, {high:.4g}]"))
    return findings


# --- deciding what to hide ----------------------------------------------------------------------------


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
    for _ in range(max_rounds):
        value_hidden = _secondary(table, value_hidden | size_hidden, rules, for_size=False)
        findings = judge(table, size_hidden, value_hidden, size_protected, rules)
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


def subtraction_attack(published: pd.DataFrame, lines: list[Line], count_column: str = "n",
                       share_column: str | None = None) -> pd.DataFrame:
    """Recover hidden cells by subtracting published parts from published totals, repeatedly (the simplest
    attack; `Attacker` is the complete one).

    Returns one row per recovered cell: its position, the recovered count and (when `share_column` is
    given) the recovered number of positive answers. Empty when the table is safe."""
    count = published[count_column].astype("float64").to_numpy().copy()
    positives = (published[share_column].astype("float64").to_numpy() * count
                 if share_column else np.zeros(len(published)))
    known = ~np.isnan(count) & ~np.isnan(positives)
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
