"""Builds the published survey marts, survey_results and survey_change, with disclosure control applied.

Both marts have a row for every cell of their grid (every district and Oslo, every group), so a reader
sees a suppressed cell as a row with status ":" and null values instead of a silent gap. Before a mart is
returned the subtraction attack is run on it; a mart from which any cell can be recovered is refused.
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
    DisclosureRules,
    geography_lines,
    group_lines,
    secondary_suppression,
    sex_split_failures,
    subtraction_attack,
    suppress,
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
RESULTS_VALUES = ["n", "share_positive", "mean", "ci_low", "ci_high"]
CHANGE_VALUES = ["n_pairs", "share_improved", "share_unchanged", "share_worsened", "mean_change"]


class DisclosureError(RuntimeError):
    """A table about to be published would let a suppressed cell be recovered."""


@dataclass
class SurveyMart:
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        status = self.frame["status"]
        return {
            "rows": len(self.frame),
            "cells_published": int(status.isna().sum()),
            "cells_suppressed": int((status == ":").sum()),
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
    filled["weighted"] = filled["weighted"].fillna(False).astype(bool)
    return filled


def _checked(frame: pd.DataFrame, lines, what: str, count_column: str, share_column: str) -> None:
    recovered = subtraction_attack(frame, lines, count_column, share_column)
    if len(recovered):
        raise DisclosureError(f"{what}: {len(recovered)} suppressed cell(s) could be recovered by subtraction")


def build_survey_results(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                         population: pd.DataFrame | None = None,
                         rules: DisclosureRules = DEFAULT_RULES) -> SurveyMart:
    """The survey_results mart from stored responses; `population` (tidy SSB 10826 shape) enables the
    weighting of indicators marked `weighting: population`."""
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
    lines = results_lines(cells, codebook)
    suppressed = secondary_suppression(n, primary, lines)
    published = suppress(cells, suppressed, RESULTS_VALUES)
    _checked(published, lines, "survey_results", "n", "share_positive")

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
    notes.append(f"{int(suppressed.sum() - primary.sum())} cell(s) suppressed by secondary suppression")
    return SurveyMart(published[RESULTS_COLUMNS], notes)


def build_survey_change(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                        rules: DisclosureRules = DEFAULT_RULES) -> SurveyMart:
    """The survey_change mart: change per person between consecutive waves, as district aggregates."""
    change = aggregate_change(sources, codebook)
    waves_present = sorted(set(change["from_wave"]) | set(change["to_wave"]))
    pairs = comparable_pairs(codebook, waves_present)[["from_wave", "to_wave", "indicator_id"]]
    grid = pairs.merge(pd.DataFrame({"district_code": _district_codes(codebook)}), how="cross")
    cells = grid.merge(change, on=CHANGE_KEYS, how="left").sort_values(CHANGE_KEYS, ignore_index=True)
    cells["n_pairs"] = cells["n_pairs"].fillna(0).astype("int64")

    n = cells["n_pairs"].to_numpy()
    primary = n < rules.min_n
    lines = change_lines(cells, codebook)
    suppressed = secondary_suppression(n, primary, lines)
    published = suppress(cells, suppressed, CHANGE_VALUES)
    _checked(published, lines, "survey_change", "n_pairs", "share_improved")
    illustrative = {w.id: w.illustrative for w in codebook.waves}
    published["provenance"] = pd.Series(
        np.where([illustrative[a] or illustrative[b] for a, b in zip(published["from_wave"], published["to_wave"])],
                 "illustrative", "recorded"), index=published.index, dtype="str")
    notes = [f"{len(pairs)} wave pair x indicator combination(s) with an unchanged question set",
             f"{int(suppressed.sum() - primary.sum())} cell(s) suppressed by secondary suppression"]
    return SurveyMart(published[CHANGE_COLUMNS], notes)
