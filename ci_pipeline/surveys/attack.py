"""The attacks a published survey table must withstand, played before anything is published.

`Attacker` is the interval (linear-programming) attack: from the published cells alone (plus, for
weighted indicators, the population sizes, which are public) it solves, per indicator and wave, the
linear programme of everything the lines (Oslo = sum of districts; all = sum of sexes; all = sum of age
bands) and the cells' own sums allow, and returns the narrowest interval it can prove for every hidden
count. `Judge` compares them with the truth: a hidden n of a size-protected cell known to within fewer
than `min_n`, or a small category provably at most `minority_max`, is recovered. `subtraction_attack` is
the simplest attack (published totals minus published parts), kept as an independent check.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isnan

import highspy
import numpy as np
import pandas as pd

from ci_pipeline.surveys.disclosure_table import TOLERANCE, DisclosureError, DisclosureRules, Line, Table


def _block_system(n, size, size_is_n, values, lines: list[Line], rows: np.ndarray):
    """Variables and equalities of one block: unknown n ("n"), unknown weighted sizes ("w", for a weighted
    indicator whose n is hidden) and unknown category amounts ("v"). Returns (variables, index, A_eq, b_eq),
    A_eq row-wise compressed: (row starts, columns, coefficients)."""
    rows = rows.tolist()
    # the block's cells as Python floats, by position in the table (a block has tens to hundreds of cells)
    n, size, size_is_n = (dict(zip(rows, column[rows].tolist())) for column in (n, size, size_is_n))
    values = dict(zip(rows, values[rows].tolist()))
    categories = range(len(values[rows[0]])) if rows else range(0)
    variables, index = [], {}

    def variable(key: tuple) -> None:
        index[key] = len(variables)
        variables.append(key)

    for r in rows:
        if isnan(n[r]):
            variable(("n", r, 0))
        if isnan(size[r]) and not size_is_n[r]:
            variable(("w", r, 0))
        for k in categories:
            if isnan(values[r][k]):
                variable(("v", r, k))
    starts, columns, coefficients, rhs = [0], [], [], []

    def add(terms: list[tuple[tuple, float]], known: float) -> None:
        row: dict[int, float] = {}
        for key, coefficient in terms:
            row[index[key]] = row.get(index[key], 0.0) + coefficient
        row = {column: coefficient for column, coefficient in row.items() if coefficient}
        if row:
            columns.extend(row)
            coefficients.extend(row.values())
            starts.append(len(columns))
            rhs.append(known)

    measures = [("n", None, n), ("w", None, size)] + [
        ("v", k, {r: cell[k] for r, cell in values.items()}) for k in categories]
    for total, parts in lines:
        total = int(total)
        if total not in n:
            continue
        members = [(total, -1.0)] + [(p, 1.0) for p in parts.tolist()]
        for kind, column, amounts in measures:
            if kind == "w" and size_is_n[total]:
                continue  # unweighted: the sizes are the n, already in the n lines
            terms, known = [], 0.0
            for member, sign in members:
                if isnan(amounts[member]):
                    terms.append(((kind, member, column or 0), sign))
                else:
                    known -= sign * amounts[member]
            if terms:
                add(terms, known)
    for r in rows:
        unknown = [k for k in categories if isnan(values[r][k])]
        if not unknown:
            continue
        terms = [(("v", r, k), 1.0) for k in unknown]
        known = -sum(values[r][k] for k in categories if k not in unknown)
        if isnan(size[r]):
            terms.append((("n" if size_is_n[r] else "w", r, 0), -1.0))  # categories add up to the size
        else:
            known += size[r]
        add(terms, known)
    a_eq = (np.array(starts, dtype=np.int32), np.array(columns, dtype=np.int32), np.array(coefficients))
    return variables, index, a_eq, np.array(rhs)


def _linear_programme(table: Table, variables: list[tuple], a_eq: tuple[np.ndarray, np.ndarray, np.ndarray],
                      b_eq: np.ndarray) -> highspy.HighsLp:
    """The block's equalities with every variable's bounds (n within what the other table reveals, the rest
    non-negative), and no objective yet."""
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = len(b_eq), len(variables)
    lp.col_cost_ = np.zeros(len(variables))
    lp.col_lower_ = np.array([table.n_lower[row] if kind == "n" else 0.0 for kind, row, _ in variables])
    lp.col_upper_ = np.array([table.n_upper[row] if kind == "n" else np.inf for kind, row, _ in variables])
    lp.row_lower_ = lp.row_upper_ = b_eq
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_row_, lp.a_matrix_.num_col_ = lp.num_row_, lp.num_col_
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a_eq
    return lp


def _solver(lp: highspy.HighsLp) -> highspy._Highs:
    # The core class, not highspy.Highs: that wrapper sets up its callbacks on construction, which prints
    # HiGHS's banner to stdout before output can be turned off; the solver is the same.
    solver = highspy._Highs()
    solver.setOptionValue("output_flag", False)
    # A block's programme has tens to hundreds of variables: presolving it costs more than it saves. Every
    # later solve changes only the objective, so the last optimal basis stays feasible and the primal
    # simplex goes on from it (the dual simplex would first repair its dual feasibility).
    solver.setOptionValue("presolve", "off")
    solver.setOptionValue("simplex_strategy", int(highspy.simplex_constants.SimplexStrategy.kSimplexStrategyPrimal))
    solver.passModel(lp)
    return solver


Target = tuple[str, int, int, float]  # (kind, row, category, the value a variable must be able to reach)


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
        # per block, each variable's least and greatest value at the optima its bounds have found so far
        self._reached: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lines: dict[int, list[Line]] = {}
        for line in table.lines:
            self._lines.setdefault(int(table.block[line[0]]), []).append(line)

    def system(self, block: int) -> tuple[list[tuple], dict[tuple, int], highspy.HighsLp, highspy._Highs]:
        """(variables, their index, the linear programme, its solver) of one block. The solver keeps the
        model and its last basis, so each bound only changes the objective and starts from the last
        optimum."""
        if block not in self._systems:
            rows = np.flatnonzero(self.table.block == block)
            variables, index, a_eq, b_eq = _block_system(self.published_n, self.size, self.table.size_is_n,
                                                         self.published_values, self._lines.get(block, []), rows)
            lp = _linear_programme(self.table, variables, a_eq, b_eq)
            self._systems[block] = (variables, index, lp, _solver(lp))
        return self._systems[block]

    def bound(self, kind: str, row: int, category: int, maximise: bool) -> float:
        """The attacker's maximum (or minimum) of one count of one cell; its value if published."""
        block = int(self.table.block[row])
        variables, index, _, solver = self.system(block)
        key = (kind, row, category)
        if key not in index:
            return self.published_n[row] if kind == "n" else self.published_values[row, category]
        objective = np.zeros(len(variables))
        objective[index[key]] = -1.0 if maximise else 1.0
        solver.changeColsCost(len(variables), np.arange(len(variables), dtype=np.int32), objective)
        solver.run()
        status = solver.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            return np.inf if maximise else 0.0
        if status != highspy.HighsModelStatus.kOptimal:
            raise DisclosureError(f"the interval attack could not bound the {kind} of cell {row} "
                                  f"(HiGHS: {solver.modelStatusToString(status)})")
        point = np.asarray(solver.getSolution().col_value)
        if block in self._reached:
            lowest, highest = self._reached[block]
            np.minimum(lowest, point, out=lowest)
            np.maximum(highest, point, out=highest)
        else:
            self._reached[block] = point.copy(), point.copy()
        found = solver.getInfo().objective_function_value
        return -found if maximise else found

    def reached(self, kind: str, row: int, category: int) -> tuple[float, float]:
        """The least and the greatest value of one hidden count at the points the bounds asked so far in its
        block have found: each is a value the published cells allow, so the count's minimum is at most the
        first and its maximum at least the second ((inf, -inf) before any)."""
        block = int(self.table.block[row])
        if block not in self._reached:
            return np.inf, -np.inf
        position = self.system(block)[1][(kind, row, category)]
        lowest, highest = self._reached[block]
        return float(lowest[position]), float(highest[position])

    def unplaced(self, block: int, targets: list[Target]) -> list[Target]:
        """The targets of one block that rounds of one linear programme cannot place: a round looks for one
        point the published cells allow with every asked variable at least its target, and places those
        that reach it there (each can reach its target, and needs no own linear programme); the rest try
        again, until a round places none."""
        variables, index, lp, _ = self.system(block)
        count, extra = len(variables), len(targets)
        # maximise sum(t) with t_i <= variable_i - target_i and t_i <= 0: all reach their target iff sum(t) = 0
        solver = _solver(lp)
        solver.addCols(extra, -np.ones(extra), np.full(extra, -np.inf), np.zeros(extra), 0,
                       np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
        columns = np.array([[index[(kind, row, category)], count + i]
                            for i, (kind, row, category, _) in enumerate(targets)], dtype=np.int32)
        solver.addRows(extra, np.full(extra, -np.inf), np.array([-target for *_, target in targets]), 2 * extra,
                       np.arange(0, 2 * extra, 2, dtype=np.int32), columns.ravel(), np.tile([-1.0, 1.0], extra))
        unplaced = np.ones(extra, dtype=bool)
        while unplaced.any():
            solver.run()
            if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                break  # not solved: the rest get their own bounds, which raise if those cannot be solved either
            placed = unplaced & (np.asarray(solver.getSolution().col_value[count:]) > -TOLERANCE)
            if not placed.any():
                break
            unplaced &= ~placed
            # a placed target's t with no cost leaves its row free: the programme of the rest, from this basis
            solver.changeColsCost(int(placed.sum()), (count + np.flatnonzero(placed)).astype(np.int32),
                                  np.zeros(int(placed.sum())))
        return [target for target, left in zip(targets, unplaced) if left]


class Judge:
    """The interval attack on successive published views of one table (`protect` hides a few more cells
    per round and asks again). A block's findings depend on its own cells alone: its published n and
    values, and the cells checked in it (the table's n, sizes and bounds are fixed). A block whose view has
    not changed since an earlier round gets that round's findings again instead of the same linear
    programmes solved anew; the solver is deterministic, so they are the findings it would find."""

    def __init__(self, table: Table, rules: DisclosureRules):
        self.table, self.rules = table, rules
        self._rows = {int(block): np.flatnonzero(table.block == block) for block in np.unique(table.block)}
        self._found: dict[tuple, list[Finding]] = {}

    def __call__(self, size_hidden: np.ndarray, value_hidden: np.ndarray, size_protected: np.ndarray
                 ) -> list[Finding]:
        """Every hidden cell the attack recovers from this view: a size-protected cell whose n lies in an
        interval shorter than min_n, or a hidden cell under attribute_max_n whose small category (at most
        minority_max respondents) is provably that small.

        Per block, one linear programme first looks for a single point where every checked cell is beyond
        its threshold; only the cells it cannot place there get their own minimum and maximum."""
        table, rules = self.table, self.rules
        published_n = np.where(size_hidden, np.nan, table.n)
        published_values = np.where(value_hidden[:, None], np.nan, table.values)
        checks: dict[int, list[Target]] = {}
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
            rows = self._rows[block]
            view = (block, tuple(targets), published_n[rows].tobytes(), published_values[rows].tobytes())
            if view not in self._found:
                self._found[view] = self._block_findings(attacker, targets)
            findings.extend(self._found[view])
        return findings

    def _block_findings(self, attacker: Attacker, targets: list[Target]) -> list[Finding]:
        table, rules = self.table, self.rules
        findings = []
        for kind, row, k, target in attacker.unplaced(int(table.block[targets[0][1]]), targets):
            # A point found for an earlier bound of the block that already reaches the target (or lies
            # min_n below the maximum) proves what that bound's own linear programme would: it is skipped.
            lowest, highest = attacker.reached(kind, row, k)
            if highest > target - TOLERANCE:
                continue
            high = attacker.bound(kind, row, k, maximise=True)
            if kind == "v":
                if high < target - TOLERANCE:
                    findings.append(Finding(row, "attribute", f"{table.categories[k]} at most {high:.4g}"))
                continue
            if high - table.n[row] >= rules.min_n - TOLERANCE or lowest < high - rules.min_n + TOLERANCE:
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
