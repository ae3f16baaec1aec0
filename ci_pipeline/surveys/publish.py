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

from ci_pipeline.surveys.aggregate import CELL_KEYS, Connect, aggregate_responses, in_memory, respondent_cells
from ci_pipeline.surveys.change import CHANGE_KEYS, aggregate_change, comparable_pairs
from ci_pipeline.surveys.codebook import Codebook
from ci_pipeline.surveys.disclosure import protect, suppress, version_differences
from ci_pipeline.surveys.disclosure_table import (
    DisclosureError,
    DisclosureRules,
    Table,
    geography_lines,
    group_lines,
    sex_split_failures,
)
from ci_pipeline.surveys.weighting import METHOD, UNWEIGHTED, SurveyWeights, rake_waves
from ci_pipeline.tidy import distinct_rows, group_numbers

RESULTS_COLUMNS = [
    "wave", "wave_date", "district_code", "district_name", "focus_area", "indicator_id",
    "question_set_version", "question_text_nb", "question_text_en", "group_type", "group_value", "n", "effective_n", "share_positive", "mean", "ci_low",
    "ci_high", "weighted", "weighting", "weighting_margins", "population_period", "status", "provenance",
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
    """A built survey mart. weighting: per weighted wave, how it was weighted (survey_results only);
    `inputs` are the population tables and the weighting, for the version manifest (also set as
    frame.attrs["inputs"], which the release step writes into the manifest)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    count_column: str = "n"
    weighting: dict[str, dict] = field(default_factory=dict)
    inputs: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.inputs:
            self.frame.attrs["inputs"] = self.inputs

    def metadata(self) -> dict:
        status = self.frame["status"]
        found = {
            "rows": len(self.frame),
            "cells_published": int(status.isna().sum()),
            "cells_suppressed": int((status == ":").sum()),
            "cells_size_hidden": int(self.frame[self.count_column].isna().sum()),
            "recoverable_cells": 0,  # build_* refuse to return a mart for which this is not 0
            "notes": self.notes,
        }
        if self.weighting:
            found["weighting"] = self.weighting
        return found


def results_lines(frame: pd.DataFrame, codebook: Codebook):
    return geography_lines(frame, ["wave", "indicator_id", "group_type", "group_value"], codebook.oslo_code) + \
        group_lines(frame, ["wave", "indicator_id", "district_code"])


def change_lines(frame: pd.DataFrame, codebook: Codebook):
    return geography_lines(frame, ["from_wave", "to_wave", "indicator_id"], codebook.oslo_code)


def _district_codes(codebook: Codebook) -> list[str]:
    return [codebook.oslo_code, *codebook.districts]


def _results_grid(cells: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    groups = [("total", "total")] + [("sex", s) for s in codebook.sexes] + \
        [("age_band", b.band) for b in codebook.age_bands]
    asked = cells[["wave", "indicator_id"]].drop_duplicates()
    grid = asked.merge(pd.DataFrame({"district_code": _district_codes(codebook)}), how="cross").merge(
        pd.DataFrame(groups, columns=["group_type", "group_value"]), how="cross")
    filled = grid.merge(cells, on=CELL_KEYS, how="left")
    filled["n"] = filled["n"].fillna(0).astype("int64")
    filled["positives"] = filled["positives"].fillna(0).astype("int64")
    filled["effective_n"] = filled["effective_n"].fillna(0.0)
    # weighted per indicator and wave: its empty cells are weighted cells without respondents
    filled["weighted"] = filled["weighted"].fillna(False).astype(bool).groupby(
        [filled["wave"], filled["indicator_id"]]).transform("any")
    return filled


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


def _results_lower_bounds(cells: pd.DataFrame, change: pd.DataFrame, codebook: Codebook) -> np.ndarray:
    """What survey_change reveals about survey_results' n: the pairs of a district are respondents of its
    "total" cell in the later wave (and Oslo's pairs of Oslo in both waves). `change`: the published n_pairs
    (null where hidden)."""
    change = change[change["n_pairs"].notna()]
    later = change.rename(columns={"to_wave": "wave"})[["wave", "indicator_id", "district_code", "n_pairs"]]
    earlier = change[change["district_code"] == codebook.oslo_code].rename(columns={"from_wave": "wave"})
    bounds = pd.concat([later, earlier[["wave", "indicator_id", "district_code", "n_pairs"]]])
    bounds = bounds.groupby(["wave", "indicator_id", "district_code"], as_index=False)["n_pairs"].max()
    joined = cells[CELL_KEYS].merge(bounds.assign(group_type="total"), on=["wave", "indicator_id", "district_code",
                                                                        "group_type"], how="left")
    return joined["n_pairs"].astype("float64").fillna(0).to_numpy()


def _change_upper_bounds(cells: pd.DataFrame, results: pd.DataFrame, codebook: Codebook) -> np.ndarray:
    """What survey_results reveals about survey_change's n_pairs: at most the published n of the district's
    "total" cell in the later wave (for Oslo: in either wave)."""
    totals = results[(results["group_type"] == "total") & results["n"].notna()]
    totals = totals[["wave", "indicator_id", "district_code", "n"]]
    keys = ["indicator_id", "district_code"]
    later = cells[CHANGE_KEYS].merge(totals.rename(columns={"wave": "to_wave"}), on=["to_wave", *keys], how="left")
    earlier = cells[CHANGE_KEYS].merge(totals.rename(columns={"wave": "from_wave"}), on=["from_wave", *keys],
                                       how="left")
    upper = later["n"].astype("float64").fillna(np.inf).to_numpy().copy()
    oslo = (cells["district_code"] == codebook.oslo_code).to_numpy()
    upper[oslo] = np.minimum(upper[oslo], earlier["n"].astype("float64").fillna(np.inf).to_numpy()[oslo])
    return upper


def results_table(cells: pd.DataFrame, codebook: Codebook, n_lower: np.ndarray | None = None) -> Table:
    # weighted per indicator and wave (as _results_grid marks it): its empty cells have a weight sum of 0
    weighted = cells.groupby(["wave", "indicator_id"])["weighted"].transform("any").to_numpy(dtype=bool)
    n = cells["n"].to_numpy(dtype="float64")
    positives = cells["positives"].to_numpy(dtype="float64")
    w_sum = np.where(weighted, cells["w_sum"].fillna(0).to_numpy(dtype="float64"), n)
    w_positives = np.where(weighted, cells["w_positives"].fillna(0).to_numpy(dtype="float64"), positives)
    frame = pd.DataFrame({"n": n, "size": w_sum, "positive": w_positives, "not_positive": w_sum - w_positives,
                          "positive_n": positives, "not_positive_n": n - positives, "size_is_n": ~weighted,
                          "n_lower": np.zeros(len(n)) if n_lower is None else n_lower})
    return Table(frame, ["positive", "not_positive"], ["positive_n", "not_positive_n"],
                 group_numbers(cells, ["wave", "indicator_id"]),
                 group_numbers(cells, ["wave", "district_code", "group_type", "group_value"]),
                 results_lines(cells, codebook))


def change_table(cells: pd.DataFrame, codebook: Codebook, n_upper: np.ndarray | None = None) -> Table:
    categories = ["n_improved", "n_unchanged", "n_worsened"]
    frame = cells[categories].astype("float64").assign(
        n=cells["n_pairs"].astype("float64"), size=cells["n_pairs"].astype("float64"), size_is_n=True,
        n_upper=np.full(len(cells), np.inf) if n_upper is None else n_upper)
    return Table(frame, categories, categories, group_numbers(cells, ["from_wave", "to_wave", "indicator_id"]),
                 group_numbers(cells, ["from_wave", "to_wave", "district_code"]), change_lines(cells, codebook))


def build_survey_marts(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                       population: pd.DataFrame | None = None, rules: DisclosureRules = DEFAULT_RULES,
                       earlier_results: Sequence[pd.DataFrame] = (), earlier_change: Sequence[pd.DataFrame] = (),
                       connect: Connect = in_memory) -> tuple[SurveyMart, SurveyMart]:
    """survey_results and survey_change from stored responses, protected together: survey_change first,
    then survey_results with what the published n_pairs reveal (lower bounds on n), then survey_change
    again with what the published n reveal (upper bounds on n_pairs); hiding more change cells there only
    takes information away from survey_results, so both stay safe.

    `population` (tidy rows of the population tables: SSB 10826, and Oslo kommune's OK-BEF001 for the split
    by sex) enables the raking of indicators marked `weighting: population` (surveys/weighting.py; a wave
    that cannot be raked raises WeightingError); `earlier_*`: the published versions of each mart (their
    hidden cells stay hidden, and the new version must not differ from any of them by a few people);
    `connect`: where the aggregation SQL runs (surveys/aggregate.py)."""
    change_cells, pairs = _change_cells(sources, codebook, connect)
    change_primary = change_cells["n_pairs"].to_numpy() < rules.min_n
    change_forced = _forced(change_cells, earlier_change, CHANGE_KEYS, "n_pairs", "share_improved")
    change_size, change_values = _protected(change_table(change_cells, codebook), change_primary, change_forced,
                                            rules, "survey_change")
    change_published = suppress(change_cells, change_size, change_values, ["n_pairs"], CHANGE_VALUES)

    weighting = SurveyWeights(None)
    if any(i.weighting == "population" for i in codebook.indicators):
        weighting = rake_waves(respondent_cells(sources, codebook, connect), population, codebook)
    notes = list(weighting.notes)
    cells = _results_grid(aggregate_responses(sources, codebook, weighting.weights, connect), codebook)
    cells = cells.sort_values(CELL_KEYS, ignore_index=True)
    primary = (cells["n"].to_numpy() < rules.min_n) | sex_split_failures(
        cells, ["wave", "indicator_id", "district_code"], codebook.sexes, rules)
    table = results_table(cells, codebook, _results_lower_bounds(cells, change_published, codebook))
    forced = _forced(cells, earlier_results, CELL_KEYS, "n", "share_positive")
    size_hidden, value_hidden = _protected(table, primary, forced, rules, "survey_results")
    published = suppress(cells, size_hidden, value_hidden, ["n"], RESULTS_VALUES)
    # the effective n is n over a published design effect: shown exactly where n is
    published["effective_n"] = published["effective_n"].round(1).mask(size_hidden)
    _check_versions(published, earlier_results, CELL_KEYS, "n", "survey_results", rules)

    bounded = change_table(change_cells, codebook, _change_upper_bounds(change_cells, published, codebook))
    change_size, change_values = _protected(bounded, change_primary, (change_size, change_values), rules,
                                            "survey_change")
    change_published = suppress(change_cells, change_size, change_values, ["n_pairs"], CHANGE_VALUES)
    _check_versions(change_published, earlier_change, CHANGE_KEYS, "n_pairs", "survey_change", rules)

    notes.append(f"{int(size_hidden.sum())} cell(s) with hidden n ({int(primary.sum())} below the size "
                 f"rules), {int((value_hidden & ~size_hidden).sum())} more with hidden values (attribute rule "
                 "and their protection)")
    change_notes = [f"{len(pairs)} wave pair x indicator combination(s) with an unchanged question set",
                    (f"{int(change_size.sum())} cell(s) with hidden n_pairs, "
                     f"{int((change_values & ~change_size).sum())} more with hidden values")]
    results = _weighting_labels(_results_labels(published, codebook), weighting)[RESULTS_COLUMNS]
    return (SurveyMart(results, notes, weighting={w: v.metadata() for w, v in weighting.waves.items()},
                       inputs=_manifest_inputs(weighting)),
            SurveyMart(_change_labels(change_published, codebook)[CHANGE_COLUMNS], change_notes,
                       count_column="n_pairs"))


def build_survey_results(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                         population: pd.DataFrame | None = None, rules: DisclosureRules = DEFAULT_RULES,
                         earlier: Sequence[pd.DataFrame] = ()) -> SurveyMart:
    """The survey_results mart of `build_survey_marts`."""
    return build_survey_marts(sources, codebook, population, rules, earlier_results=earlier)[0]


def build_survey_change(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                        rules: DisclosureRules = DEFAULT_RULES, earlier: Sequence[pd.DataFrame] = ()) -> SurveyMart:
    """The survey_change mart of `build_survey_marts`."""
    return build_survey_marts(sources, codebook, rules=rules, earlier_change=earlier)[1]


def _change_cells(sources, codebook: Codebook, connect: Connect) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change per person on the full grid (every comparable pair x indicator x district and Oslo)."""
    change = aggregate_change(sources, codebook, connect)
    waves_present = sorted(set(change["from_wave"]) | set(change["to_wave"]))
    pairs = comparable_pairs(codebook, waves_present)[["from_wave", "to_wave", "indicator_id"]]
    grid = pairs.merge(pd.DataFrame({"district_code": _district_codes(codebook)}), how="cross")
    cells = grid.merge(change, on=CHANGE_KEYS, how="left").sort_values(CHANGE_KEYS, ignore_index=True)
    for column in ("n_pairs", "n_improved", "n_unchanged", "n_worsened"):
        cells[column] = cells[column].fillna(0).astype("int64")
    return cells, pairs


def _results_labels(published: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    indicators = {i.id: i for i in codebook.indicators}
    waves = {w.id: w for w in codebook.waves}
    district_names = {codebook.oslo_code: codebook.oslo_name, **codebook.districts}
    published["wave_date"] = published["wave"].map(lambda w: waves[w].date).astype("str")
    published["district_name"] = published["district_code"].map(district_names).astype("str")
    published["focus_area"] = published["indicator_id"].map(lambda i: indicators[i].focus_area).astype("str")
    # worked out once per wave x indicator and spread over its rows by position
    pairs, pair_of_row = distinct_rows(published, ["wave", "indicator_id"])
    pairs = list(zip(pairs["wave"].tolist(), pairs["indicator_id"].tolist()))
    versions = [codebook.question_set_version(indicators[i], w) for w, i in pairs]
    published["question_set_version"] = pd.Series(np.array(versions, dtype=object)[pair_of_row],
                                                   index=published.index, dtype="str")
    # the questions behind the figure, as asked in the wave (several joined by " / ")
    for column, attribute in (("question_text_nb", "text_nb"), ("question_text_en", "text")):
        texts = [" / ".join(getattr(q, attribute) for q in codebook.indicator_questions(indicators[i], w))
                 for w, i in pairs]
        published[column] = pd.Series(np.array(texts, dtype=object)[pair_of_row], index=published.index,
                                      dtype="str")
    published["provenance"] = published["wave"].map(
        lambda w: "illustrative" if waves[w].illustrative else "recorded").astype("str")
    return published


def _weighting_labels(published: pd.DataFrame, weighting: SurveyWeights) -> pd.DataFrame:
    """How each row was weighted: the method, its margins and the population's year (null unweighted)."""
    waves = {wave: weighting.waves[wave] for wave in published["wave"].unique() if wave in weighting.waves}
    raked = published["weighted"].to_numpy(dtype=bool) & published["wave"].isin(list(waves)).to_numpy()
    published["weighting"] = pd.Series(np.where(raked, METHOD, UNWEIGHTED), index=published.index, dtype="str")
    for column, attribute in (("weighting_margins", "margins"), ("population_period", "population_period")):
        values = published["wave"].map({wave: getattr(w, attribute) for wave, w in waves.items()})
        published[column] = values.where(raked).astype("str")
    return published


def _manifest_inputs(weighting: SurveyWeights) -> list[dict]:
    """The version manifest's inputs of survey_results: the population tables, and how each wave was
    weighted."""
    if not weighting.waves:
        return []
    return [*weighting.inputs, {"weighting": METHOD, "waves": {wave: w.metadata() for wave, w in weighting.waves.items()}}]


def _change_labels(published: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    illustrative = {w.id: w.illustrative for w in codebook.waves}
    published["provenance"] = pd.Series(
        np.where([illustrative[a] or illustrative[b] for a, b in zip(published["from_wave"], published["to_wave"])],
                 "illustrative", "recorded"), index=published.index, dtype="str")
    return published
