"""The attacks of issue 14, run on published survey marts: they must recover nothing.

- cross-indicator: fill a hidden n with the n the same cell has in another indicator, then subtract;
- interval (linear programming): the narrowest interval the published cells allow for every hidden count,
  survey_change's n_pairs (lower bounds on survey_results' n) included;
- attribute: 0 %, 100 % or a minority of 3 or fewer in a published cell under 50, or provable in a hidden one;
- version difference: subtract two published versions of the same wave cell by cell.
"""

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import linprog
from survey_support import SURVEYS, WAVE, generator, valid_frame, write_csv

from ci_pipeline.marts import MartStore
from ci_pipeline.surveys.aggregate import CELL_KEYS, aggregate_responses
from ci_pipeline.surveys.attack import Attacker, Judge, subtraction_attack
from ci_pipeline.surveys.codebook import load_codebook
from ci_pipeline.surveys.disclosure_table import TOLERANCE, DisclosureError, DisclosureRules
from ci_pipeline.surveys.ingest import WaveRefused, process_wave, stored_response_files
from ci_pipeline.surveys.publish import (
    _results_grid,
    _results_lower_bounds,
    build_survey_results,
    change_lines,
    results_lines,
    results_table,
)

RULES = DisclosureRules()


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(SURVEYS)


def test_cross_indicator_attack_recovers_nothing(survey_panel, codebook):
    results = survey_panel.results
    cell = ["wave", "district_code", "group_type", "group_value"]
    hidden = results[results["n"].isna()]
    elsewhere = results[results["n"].notna()][cell].drop_duplicates()
    # no hidden n is published under another indicator of the same wave
    assert hidden.merge(elsewhere, on=cell).empty
    assert len(hidden) > 100
    # so filling hidden n from other indicators gives nothing to subtract with
    filled = results.copy()
    filled["n"] = filled.groupby(cell)["n"].transform(lambda n: n.fillna(n.max()))
    assert filled["n"].isna().sum() == len(hidden)
    assert subtraction_attack(filled, results_lines(filled, codebook), "n", "share_positive").empty


def test_interval_attack_on_the_published_marts_recovers_nothing(survey_panel, codebook):
    results, change = survey_panel.results, survey_panel.change
    truth = _results_grid(aggregate_responses(survey_panel.responses, codebook), codebook)
    truth = truth.sort_values(CELL_KEYS, ignore_index=True)
    assert (truth[CELL_KEYS].to_numpy() == results[CELL_KEYS].to_numpy()).all()
    # the attacker also uses survey_change: n_pairs of a district bound its n from below
    table = results_table(truth, codebook, _results_lower_bounds(truth, change.fillna({"n_pairs": 0}), codebook))
    size_hidden = results["n"].isna().to_numpy()
    value_hidden = results["share_positive"].isna().to_numpy() & truth["n"].gt(0).to_numpy() | size_hidden
    protected = truth["n"].to_numpy() < RULES.min_n
    attacked = int(size_hidden.sum() + value_hidden.sum())
    assert attacked > 500
    assert Judge(table, RULES)(size_hidden, value_hidden, protected) == []
    assert subtraction_attack(results, results_lines(results, codebook), "n", "share_positive").empty
    assert subtraction_attack(change, change_lines(change, codebook), "n_pairs", "share_improved").empty


def test_the_interval_attack_agrees_with_linear_programmes_solved_from_scratch(survey_panel, codebook):
    """The attacker re-solves each block through HiGHS hot-started from its last basis; scipy's linprog
    solves every bound on its own. Both on the published view and on one hiding only the small cells
    (where many intervals are narrow)."""
    results = survey_panel.results
    truth = _results_grid(aggregate_responses(survey_panel.responses, codebook), codebook)
    truth = truth.sort_values(CELL_KEYS, ignore_index=True)
    table = results_table(truth, codebook)
    published = results["n"].isna().to_numpy(), results["share_positive"].isna().to_numpy()
    small = truth["n"].to_numpy() < RULES.min_n
    compared, narrow = 0, 0
    for size_hidden, value_hidden in (published, (small, small)):
        attacker = Attacker(table, np.where(size_hidden, np.nan, table.n),
                            np.where(value_hidden[:, None], np.nan, table.values))
        for block in np.unique(table.block)[:2]:
            variables, _, lp, _ = attacker.system(block)
            a_eq = sparse.csr_array((lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_),
                                    shape=(lp.num_row_, lp.num_col_))
            bounds = [(low, None if np.isinf(high) else high) for low, high in zip(lp.col_lower_, lp.col_upper_)]
            for position, (kind, row, category) in enumerate(variables):
                interval = []
                for maximise in (False, True):
                    objective = np.zeros(len(variables))
                    objective[position] = -1.0 if maximise else 1.0
                    solved = linprog(objective, A_eq=a_eq, b_eq=np.asarray(lp.row_lower_), bounds=bounds,
                                     method="highs")
                    expected = np.inf if solved.status == 3 else (-solved.fun if maximise else solved.fun)
                    found = attacker.bound(kind, row, category, maximise)
                    assert found == pytest.approx(expected, rel=1e-9, abs=1e-9), (kind, row, category, maximise)
                    interval.append(found)
                    compared += 1
                narrow += kind == "n" and interval[1] - interval[0] < RULES.min_n
    assert compared > 800 and narrow > 5



def test_judge_finds_what_every_cells_own_bounds_find(survey_panel, codebook):
    """Judge skips linear programmes: a target placed by a shared point, a bound a point found for another
    bound already proves, a block whose view an earlier call judged. Its findings must be those of every
    checked cell's own minimum and maximum, on a view hiding only the small cells (many narrow intervals);
    and the same Judge asked about the published view next must not answer from the first view."""
    results = survey_panel.results
    truth = _results_grid(aggregate_responses(survey_panel.responses, codebook), codebook)
    truth = truth.sort_values(CELL_KEYS, ignore_index=True)
    table = results_table(truth, codebook)
    small = truth["n"].to_numpy() < RULES.min_n
    attacker = Attacker(table, np.where(small, np.nan, table.n), np.where(small[:, None], np.nan, table.values))
    expected = []
    for row in np.flatnonzero(small):
        high, low = (attacker.bound("n", int(row), 0, maximise) for maximise in (True, False))
        if high - low < RULES.min_n - TOLERANCE:
            expected.append((int(row), "size"))
    for row in np.flatnonzero(small & table.attribute_cells(RULES)):
        for k in range(len(table.categories)):
            if table.counts[row, k] <= RULES.minority_max:
                target = min(RULES.minority_max + 1, table.n[row] / 2) / table.n[row] * table.size[row]
                if attacker.bound("v", int(row), k, maximise=True) < target - TOLERANCE:
                    expected.append((int(row), "attribute"))
    judged = Judge(table, RULES)
    found = [(f.position, f.kind) for f in judged(small, small, small)]
    assert sorted(found) == sorted(expected) and len(expected) > 5
    published = results["n"].isna().to_numpy(), results["share_positive"].isna().to_numpy()
    assert judged(*published, small) == Judge(table, RULES)(*published, small) == []


def _interval_from_the_cells(cells: pd.DataFrame, n: np.ndarray, positives: np.ndarray, oslo: str,
                             variable: tuple[str, int], maximise: bool) -> float:
    """The attacker's bound on one count of an unweighted block, written from the table's meaning alone: every
    cell has a count n = positives + not positives, each unknown where hidden and at least 0; Oslo's cell
    is the sum of its districts' cells, and a "total" cell the sum of its sex cells and of its age-band
    cells, for each of the three counts."""
    rows = range(len(cells))
    index = {(what, row): i for i, (what, row) in enumerate((what, row) for row in rows
                                                              for what in ("n", "positive", "other"))}
    equations, known = [], []

    def equal(terms: list[tuple[str, int, float]], value: float) -> None:
        row = np.zeros(len(index))
        for what, cell, coefficient in terms:
            row[index[(what, cell)]] += coefficient
        equations.append(row)
        known.append(value)

    for row in rows:
        equal([("positive", row, 1.0), ("other", row, 1.0), ("n", row, -1.0)], 0.0)
        if not np.isnan(n[row]):
            equal([("n", row, 1.0)], n[row])
        if not np.isnan(positives[row]):
            equal([("positive", row, 1.0)], positives[row])
    position = {key: row for row, key in enumerate(zip(cells["district_code"], cells["group_type"],
                                                       cells["group_value"]))}
    sums = [(key, [position[(district, *key[1:])] for district in cells["district_code"].unique() if district != oslo])
            for key in position if key[0] == oslo]
    for district in cells["district_code"].unique():
        for split in ("sex", "age_band"):
            parts = [row for (code, kind, _), row in position.items() if code == district and kind == split]
            sums.append(((district, "total", "total"), parts))
    for total, parts in sums:
        for what in ("n", "positive", "other"):
            equal([(what, position[total], -1.0)] + [(what, part, 1.0) for part in parts], 0.0)
    objective = np.zeros(len(index))
    objective[index[variable]] = -1.0 if maximise else 1.0
    solved = linprog(objective, A_eq=np.array(equations), b_eq=np.array(known), bounds=(0, None), method="highs")
    assert solved.status in (0, 3), solved.message
    return np.inf if solved.status == 3 else (-solved.fun if maximise else solved.fun)


def test_the_interval_attack_agrees_with_the_table_written_out_independently(survey_panel, codebook):
    """The attacker builds its equations itself (_block_system), so a wrong one would also be in a programme
    read back from it. Here one indicator of one wave at a time is written out from the published cells'
    meaning and solved by scipy's linprog, for every hidden count: on the published view and on one hiding
    only the small cells."""
    results = survey_panel.results
    truth = _results_grid(aggregate_responses(survey_panel.responses, codebook), codebook)
    truth = truth.sort_values(CELL_KEYS, ignore_index=True)
    assert truth[CELL_KEYS].equals(results[CELL_KEYS]) and not truth["weighted"].any()
    table = results_table(truth, codebook)
    published = results["n"].isna().to_numpy(), results["share_positive"].isna().to_numpy()
    small = truth["n"].to_numpy() < RULES.min_n
    compared = 0
    for size_hidden, value_hidden in (published, (small, small)):
        n = np.where(size_hidden, np.nan, truth["n"].to_numpy(dtype="float64"))
        positives = np.where(value_hidden, np.nan, truth["positives"].to_numpy(dtype="float64"))
        attacker = Attacker(table, n, np.where(value_hidden[:, None], np.nan, table.values))
        for block in np.unique(table.block)[:2]:
            rows = np.flatnonzero(table.block == block)
            cells = truth.iloc[rows].reset_index(drop=True)
            for local, row in enumerate(rows):
                asked = [("n", 0, "n")] if size_hidden[row] else []
                asked += [("v", 0, "positive"), ("v", 1, "other")] if value_hidden[row] else []
                for kind, category, what in asked:
                    for maximise in (False, True):
                        expected = _interval_from_the_cells(cells, n[rows], positives[rows], codebook.oslo_code,
                                                            (what, local), maximise)
                        found = attacker.bound(kind, int(row), category, maximise)
                        assert found == pytest.approx(expected, rel=1e-9, abs=1e-7), (kind, row, category, maximise)
                        compared += 1
    assert compared > 100

def test_attribute_attack_finds_no_small_minority_in_published_cells(survey_panel):
    results, change = survey_panel.results, survey_panel.change
    shown = results[results["share_positive"].notna() & ~results["weighted"] & (results["n"] < RULES.attribute_max_n)]
    positives = (shown["share_positive"] * shown["n"]).round()
    assert len(shown) > 50
    assert (positives > RULES.minority_max).all() and (shown["n"] - positives > RULES.minority_max).all()
    small = change[change["share_improved"].notna() & (change["n_pairs"] < RULES.attribute_max_n)]
    for column in ("share_improved", "share_unchanged", "share_worsened"):
        assert ((small[column] * small["n_pairs"]).round() > RULES.minority_max).all()


def test_version_difference_attack_recovers_nothing(tmp_path, codebook):
    """Publish a wave, then try the republications the adversarial test used; diff every published version."""
    warehouse, files = tmp_path / "warehouse", tmp_path / "files"
    files.mkdir()
    store = MartStore(warehouse)
    frame = valid_frame(codebook, 400)
    frame["respondent_id"] = [f"P{i:04d}" for i in range(400)]
    frame["district"] = [list(codebook.districts)[i % 15] for i in range(400)]
    frame["age"] = [10 + i % 16 for i in range(400)]
    frame["q_work_future_job"] = [1 + i % 5 for i in range(400)]

    def publish() -> None:
        sources = stored_response_files(warehouse, codebook)
        earlier = [store.read("survey_results", v) for v in store.versions("survey_results")]
        store.publish("survey_results", build_survey_results(sources, codebook, earlier=earlier).frame)

    def submit(changed: pd.DataFrame, name: str):
        return process_wave(write_csv(changed, files / name), codebook, WAVE, warehouse, env={})

    submit(frame, "v1.csv")
    publish()
    attempts = {
        "one extra respondent": pd.concat([frame, frame.tail(1).assign(respondent_id="NEW")]),
        "one changed answer": frame.assign(q_work_future_job=[2] + frame["q_work_future_job"].tolist()[1:]),
        "one respondent moved district": frame.assign(district=["030102"] + frame["district"].tolist()[1:]),
    }
    for name, changed in attempts.items():
        with pytest.raises(WaveRefused, match="fewer than 10 respondents"):
            submit(changed, f"{name}.csv")
    publish()  # the refused files changed nothing: no new version
    # a correction big enough in every cell it touches is published
    grown = pd.concat([frame, frame.head(15).assign(respondent_id=[f"N{i}" for i in range(15)],
                                                    district="030101", sex="female", age=14)])
    submit(grown, "grown.csv")
    publish()
    versions = [store.read("survey_results", v) for v in store.versions("survey_results")]
    assert len(versions) == 2
    compared = recovered = 0
    for older, newer in pairwise(versions):
        both = newer.merge(older, on=CELL_KEYS, suffixes=("", "_old"))
        shown = both[both["n"].notna() & both["n_old"].notna()]
        difference = (shown["n"] - shown["n_old"]).abs()
        compared += len(shown)
        recovered += int(((difference > 0) & (difference < RULES.min_n)).sum())
        # a cell hidden before stays hidden
        assert not (both["n_old"].isna() & both["n"].notna()).any()
    assert compared > 300 and recovered == 0


def test_a_release_that_would_reveal_a_few_people_by_difference_is_blocked(codebook):
    """Stored responses changed behind the admission rule's back: the mart build refuses to publish."""
    base = generator.synthetic_responses(codebook, WAVE, 600, seed=5)
    first = build_survey_results(base, codebook).frame
    extra = pd.concat([base, base.tail(1).assign(respondent_key="f" * 64)], ignore_index=True)
    with pytest.raises(DisclosureError, match="differ from an earlier published version by fewer than 10"):
        build_survey_results(extra, codebook, earlier=[first])
    # without the earlier version the same table is publishable: it is the difference that is refused
    assert np.isfinite(build_survey_results(extra, codebook).frame["n"].astype("float64")).any()
