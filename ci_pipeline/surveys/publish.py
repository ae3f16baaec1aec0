"""Builds the published survey marts, survey_results and survey_change, with disclosure control applied.

Both marts have a row for every cell of their grid (every district and Oslo, every group), so a reader
sees a hidden cell as a row with status ":" instead of a silent gap: with null n and values where its size
is hidden, with n but null values where only its values are (disclosure.py). The hidden cells are decided
jointly for all indicators of a wave, together with every cell hidden in an earlier published version of
the same wave (once hidden, always hidden), and verified by the interval attack; the version-difference
attack against every earlier published version must find nothing. A mart that fails either is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ci_pipeline.surveys.aggregate import CELL_KEYS, aggregate_responses, population_weights, respondent_cells
from ci_pipeline.surveys.change import CHANGE_KEYS, aggregate_change, comparable_pairs
from ci_pipeline.surveys.codebook import Codebook
from ci_pipeline.surveys.disclosure import (
    DisclosureError,
    DisclosureRules,
    Table,
    geography_lines,
    group_lines,
    protect,
    sex_split_failures,
    suppress,
    version_differences,
)

RESULTS_COLUMNS = [
    "wave", "wave_date", "district_code", "district_name", "focus_area", "indicator_id",
    "question_set_version", "group_type", "group_value", "n", "share_positive", "mean", "ci_low", "ci_high",
    "weighted", "status", "provenance",
]
CHANGE_COLUMNS = [
    "from_wave", "to_wave", "district_code", "indicator_id", "n_pairs", "share_improved", "share_unchanged",
    "share_worsened", "mean_change", "status", "provenance",
]
DEFAULT_RULES = DisclosureRules()
RESULTS_VALUES = ["share_positive", "mean", "ci_low", "ci_high"]
CHANGE_VALUES = ["share_improved", "share_unchanged", "share_worsened", "mean_change"]


@dataclass
class SurveyMart:
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    count_column: str = "n"

    def metadata(self) -> dict:
        status = self.frame["status"]
        return {
            "rows": len(self.frame),
            "cells_published": int(status.isna().sum()),
            "cells_suppressed": int((status == ":").sum()),
            "cells_size_hidden": int(self.frame[self.count_column].isna().sum()),
            "recoverable_cells": 0,  # build_* refuse to return a mart for which this is not 0
            "notes": self.notes,
        }


def results_lines(frame: pd.DataFrame, codebook: Codebook):
    return geography_lines(frame, ["wave", "indicator_id", "group_type", "group_value"], codebook.oslo_code) + \
        group_lines(frame, ["wave", "indicator_id", "district_code"])


def change_lines(frame: pd.DataFrame, codebook: Codebook):
    return geography_lines(frame, ["from_wave", "to_wave", "indicator_id"], codebook.oslo_code)


def _district_codes(codebook: Codebook) -> list[str]:
    return [codebook.oslo_code, *codebook.districts]


def _results_grid(cells: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    groups = [("all", "all")] + [("sex", s) for s in codebook.sexes] + \
        [("age_band", b.band) for b in codebook.age_bands]
    asked = cells[["wave", "indicator_id"]].drop_duplicates()
    grid = asked.merge(pd.DataFrame({"district_code": _district_codes(codebook)}), how="cross").merge(
        pd.DataFrame(groups, columns=["group_type", "group_value"]), how="cross")
    filled = grid.merge(cells, on=CELL_KEYS, how="left")
    filled["n"] = filled["n"].fillna(0).astype("int64")
    filled["positives"] = filled["positives"].fillna(0).astype("int64")
    filled["weighted"] = filled["weighted"].fillna(False).astype(bool)
    return filled


def _codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame.groupby(columns, sort=False).ngroup().to_numpy()


def _forced(cells: pd.DataFrame, earlier: Sequence[pd.DataFrame], keys: list[str], count: str, value: str
            ) -> tuple[np.ndarray, np.ndarray]:
    """Cells hidden in an earlier published version stay hidden: (size hidden before, values hidden before)."""
    size = np.zeros(len(cells), dtype=bool)
    values = np.zeros(len(cells), dtype=bool)
    for version in earlier:
        if not {*keys, count, value} <= set(version.columns):
            continue
        joined = cells[keys].merge(version[[*keys, count, value]], on=keys, how="left", indicator=True)
        present = (joined["_merge"] == "both").to_numpy()
        size |= present & joined[count].isna().to_numpy()
        values |= present & joined[value].isna().to_numpy()
    return size, values


def _check_versions(published: pd.DataFrame, earlier: Sequence[pd.DataFrame], keys: list[str], count: str,
                    what: str, rules: DisclosureRules) -> None:
    found = version_differences(published, earlier, keys, count, rules.min_n)
    if len(found):
        raise DisclosureError(f"{what}: {len(found)} cell(s) differ from an earlier published version by fewer "
                              f"than {rules.min_n} respondents; publishing would reveal them by difference")


def _protected(table: Table, primary: np.ndarray, forced, rules: DisclosureRules,
               what: str) -> tuple[np.ndarray, np.ndarray]:
    """The hidden cells; protect returns only once the interval attack recovers nothing (else this table
    is refused)."""
    try:
        return protect(table, primary, rules, *forced)
    except DisclosureError as error:
        raise DisclosureError(f"{what}: {error}") from error


def results_table(cells: pd.DataFrame, codebook: Codebook) -> Table:
    # weighted per indicator and wave: its empty cells have a weight sum of 0, not an n
    weighted = cells.groupby(["wave", "indicator_id"])["weighted"].transform("any").to_numpy(dtype=bool)
    n = cells["n"].to_numpy(dtype="float64")
    positives = cells["positives"].to_numpy(dtype="float64")
    w_sum = np.where(weighted, cells["w_sum"].fillna(0).to_numpy(dtype="float64"), n)
    w_positives = np.where(weighted, cells["w_positives"].fillna(0).to_numpy(dtype="float64"), positives)
    frame = pd.DataFrame({"n": n, "size": w_sum, "positive": w_positives, "not_positive": w_sum - w_positives,
                          "positive_n": positives, "not_positive_n": n - positives, "size_is_n": ~weighted})
    return Table(frame, ["positive", "not_positive"], ["positive_n", "not_positive_n"],
                 _codes(cells, ["wave", "indicator_id"]),
                 _codes(cells, ["wave", "district_code", "group_type", "group_value"]),
                 results_lines(cells, codebook))


def change_table(cells: pd.DataFrame, codebook: Codebook) -> Table:
    categories = ["n_improved", "n_unchanged", "n_worsened"]
    frame = cells[categories].astype("float64").assign(n=cells["n_pairs"].astype("float64"),
                                                       size=cells["n_pairs"].astype("float64"), size_is_n=True)
    return Table(frame, categories, categories, _codes(cells, ["from_wave", "to_wave", "indicator_id"]),
                 _codes(cells, ["from_wave", "to_wave", "district_code"]), change_lines(cells, codebook))


def build_survey_results(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                         population: pd.DataFrame | None = None,
                         rules: DisclosureRules = DEFAULT_RULES,
                         earlier: Sequence[pd.DataFrame] = ()) -> SurveyMart:
    """The survey_results mart from stored responses; `population` (tidy SSB 10826 shape) enables the
    weighting of indicators marked `weighting: population`; `earlier`: the published versions of the mart
    (their hidden cells stay hidden, and the new version must not differ from them by a few people)."""
    notes: list[str] = []
    weights = None
    if any(i.weighting == "population" for i in codebook.indicators):
        weighting = population_weights(respondent_cells(sources, codebook), population, codebook)
        weights, notes = weighting.weights, weighting.notes
    cells = _results_grid(aggregate_responses(sources, codebook, weights), codebook)
    cells = cells.sort_values(CELL_KEYS, ignore_index=True)

    n = cells["n"].to_numpy()
    primary = (n < rules.min_n) | sex_split_failures(cells, ["wave", "indicator_id", "district_code"],
                                                     codebook.sexes, rules)
    table = results_table(cells, codebook)
    forced = _forced(cells, earlier, CELL_KEYS, "n", "share_positive")
    size_hidden, value_hidden = _protected(table, primary, forced, rules, "survey_results")
    published = suppress(cells, size_hidden, value_hidden, ["n"], RESULTS_VALUES)
    _check_versions(published, earlier, CELL_KEYS, "n", "survey_results", rules)

    indicators = {i.id: i for i in codebook.indicators}
    waves = {w.id: w for w in codebook.waves}
    district_names = {codebook.oslo_code: codebook.oslo_name, **codebook.districts}
    published["wave_date"] = published["wave"].map(lambda w: waves[w].date).astype("str")
    published["district_name"] = published["district_code"].map(district_names).astype("str")
    published["focus_area"] = published["indicator_id"].map(lambda i: indicators[i].focus_area).astype("str")
    versions = {(w, i): codebook.question_set_version(indicators[i], w)
                for w, i in published[["wave", "indicator_id"]].drop_duplicates().itertuples(index=False)}
    published["question_set_version"] = pd.Series(
        [versions[key] for key in zip(published["wave"], published["indicator_id"])], dtype="str")
    published["provenance"] = published["wave"].map(
        lambda w: "illustrative" if waves[w].illustrative else "recorded").astype("str")
    notes.append(f"{int(size_hidden.sum())} cell(s) with hidden n ({int(primary.sum())} below the size "
                 f"rules), {int((value_hidden & ~size_hidden).sum())} more with hidden values (attribute rule "
                 "and their protection)")
    return SurveyMart(published[RESULTS_COLUMNS], notes)


def build_survey_change(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                        rules: DisclosureRules = DEFAULT_RULES,
                        earlier: Sequence[pd.DataFrame] = ()) -> SurveyMart:
    """The survey_change mart: change per person between consecutive waves, as district aggregates."""
    change = aggregate_change(sources, codebook)
    waves_present = sorted(set(change["from_wave"]) | set(change["to_wave"]))
    pairs = comparable_pairs(codebook, waves_present)[["from_wave", "to_wave", "indicator_id"]]
    grid = pairs.merge(pd.DataFrame({"district_code": _district_codes(codebook)}), how="cross")
    cells = grid.merge(change, on=CHANGE_KEYS, how="left").sort_values(CHANGE_KEYS, ignore_index=True)
    for column in ("n_pairs", "n_improved", "n_unchanged", "n_worsened"):
        cells[column] = cells[column].fillna(0).astype("int64")

    primary = cells["n_pairs"].to_numpy() < rules.min_n
    table = change_table(cells, codebook)
    forced = _forced(cells, earlier, CHANGE_KEYS, "n_pairs", "share_improved")
    size_hidden, value_hidden = _protected(table, primary, forced, rules, "survey_change")
    published = suppress(cells, size_hidden, value_hidden, ["n_pairs"], CHANGE_VALUES)
    _check_versions(published, earlier, CHANGE_KEYS, "n_pairs", "survey_change", rules)
    illustrative = {w.id: w.illustrative for w in codebook.waves}
    published["provenance"] = pd.Series(
        np.where([illustrative[a] or illustrative[b] for a, b in zip(published["from_wave"], published["to_wave"])],
                 "illustrative", "recorded"), index=published.index, dtype="str")
    notes = [f"{len(pairs)} wave pair x indicator combination(s) with an unchanged question set",
             (f"{int(size_hidden.sum())} cell(s) with hidden n_pairs, "
              f"{int((value_hidden & ~size_hidden).sum())} more with hidden values")]
    return SurveyMart(published[CHANGE_COLUMNS], notes, count_column="n_pairs")
