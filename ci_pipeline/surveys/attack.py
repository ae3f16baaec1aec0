"""The attacks a published survey table must withstand, played before anything is published.

`Attacker` is the interval (linear-programming) attack: from the published cells alone (plus, for
weighted indicators, the population sizes, which are public) it solves, per indicator and wave, the
linear programme of everything the lines (Oslo = sum of districts; all = sum of sexes; all = sum of age
bands) and the cells' own sums allow, and returns the narrowest interval it can prove for every hidden
count. `judge` compares them with the truth: a hidden n of a size-protected cell known to within fewer
than `min_n`, or a small category provably at most `minority_max`, is recovered. `subtraction_attack` is
the simplest attack (published totals minus published parts), kept as an independent check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from ci_pipeline.surveys.disclosure_table import TOLERANCE, DisclosureError, DisclosureRules, Line, Table


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
