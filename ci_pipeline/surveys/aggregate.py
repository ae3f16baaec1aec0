"""Aggregation of stored survey responses to wave x district x indicator x group, inside DuckDB.

One respondent's indicator: the questions of the indicator they answered (at least one, else they do not
count for it); positive when at least half of those answers count as positive; score = mean of the
answers where the scale has a mean, otherwise the share of answers that are positive (the score is what
change per person is measured on).

Cells: every wave x district (15 bydeler and Oslo "0301" as their total) x indicator x group, where group
is all, each sex, each age band. Per cell: n (respondents), share_positive (a proportion 0-1), mean (scales
with a mean), and the Wilson 95 % interval of the share. For an indicator with `weighting: population` the
share and mean are weighted to the population by district x sex x age band (post-stratification; by age
band only when the population has no sex split) and the interval uses Kish's effective sample size; n
stays the number of respondents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ci_pipeline.stats import wilson_intervals
from ci_pipeline.surveys.codebook import Codebook, Indicator

CELL_KEYS = ["wave", "indicator_id", "district_code", "group_type", "group_value"]


def _sql_list(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def indicator_score_sql(indicator: Indicator, weighted: bool) -> str:
    """SELECT of one indicator's per-respondent result from the `responses` relation. A don't-know answer
    (stored as -1, below every scale value) is not an answer here: neither counted, positive nor summed."""
    questions = [_quoted(q.id) for q in indicator.questions]
    answered = " + ".join(f"coalesce(({q} >= 0)::INTEGER, 0)" for q in questions)
    positives = " + ".join(
        f"coalesce(({_quoted(q.id)} IN ({_sql_list(q.positive)}))::INTEGER, 0)" for q in indicator.questions
    )
    answer_sum = " + ".join(f"coalesce(greatest({q}, 0), 0)" for q in questions)
    score = f"({answer_sum})::DOUBLE" if indicator.scale.has_mean else f"({positives})::DOUBLE"
    weight = "coalesce(weight, 1.0)" if weighted else "1.0"
    is_weighted = "weight IS NOT NULL" if weighted else "false"
    return f"""
        SELECT wave, respondent_key, district_code, sex, age_band, {weight} AS w, {is_weighted} AS is_weighted,
               '{indicator.id}' AS indicator_id,
               (2 * ({positives}) >= ({answered}))::INTEGER AS positive,
               {score} / ({answered}) AS score
        FROM responses
        WHERE ({answered}) > 0"""


def respondent_scores_sql(codebook: Codebook, weighted_indicators: frozenset[str] = frozenset()) -> str:
    """All indicators' per-respondent results, stacked (one row per respondent and indicator answered)."""
    return "\nUNION ALL".join(
        indicator_score_sql(indicator, indicator.id in weighted_indicators) for indicator in codebook.indicators
    )


def open_responses(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                   weights: pd.DataFrame | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a `responses` view over stored wave files (or a frame), every codebook
    question present as a column (NULL where no wave asked it) and a `weight` column (NULL unless
    population weights are given for the respondent's wave and cell)."""
    connection = duckdb.connect()
    if isinstance(sources, pd.DataFrame):
        connection.register("raw_responses", sources)
        base = "raw_responses"
    else:
        if not sources:
            raise ValueError("no stored survey responses to aggregate")
        files = ", ".join("'" + str(path).replace("'", "''") + "'" for path in sources)
        base = f"read_parquet([{files}], union_by_name = true)"
    connection.execute(f"CREATE VIEW responses_in AS SELECT * FROM {base}")
    present = {row[0] for row in connection.execute("DESCRIBE responses_in").fetchall()}
    absent = "".join(f", NULL::SMALLINT AS {_quoted(q.id)}" for q in codebook.questions if q.id not in present)
    if weights is not None:
        connection.register("weights", weights[["wave", "district_code", "sex", "age_band", "weight"]])
        connection.execute(
            f"CREATE VIEW responses AS SELECT r.*{absent}, w.weight FROM responses_in r "
            "LEFT JOIN weights w USING (wave, district_code, sex, age_band)"
        )
    else:
        connection.execute(f"CREATE VIEW responses AS SELECT *{absent}, NULL::DOUBLE AS weight FROM responses_in")
    return connection


def aggregate_responses(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                        weights: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cells (see module docstring) from stored responses: Parquet files of the stored shape, or a frame.

    `weights`: columns wave, district_code, sex, age_band, weight (from `population_weights`); indicators
    with `weighting: population` use them for the respondents they cover. Returns one row per non-empty
    cell: CELL_KEYS, n, positives (respondents), w_sum and w_positives (weighted; equal to n and positives
    when unweighted), share_positive, mean, ci_low, ci_high, weighted."""
    weighted_indicators = frozenset(i.id for i in codebook.indicators if i.weighting == "population")
    connection = open_responses(sources, codebook, weights)
    try:
        raw = connection.execute(f"""
            WITH scored AS ({respondent_scores_sql(codebook, weighted_indicators)})
            SELECT wave, indicator_id,
                   coalesce(district_code, '{codebook.oslo_code}') AS district_code,
                   CASE WHEN GROUPING(sex) = 0 THEN 'sex' WHEN GROUPING(age_band) = 0 THEN 'age_band'
                        ELSE 'all' END AS group_type,
                   coalesce(sex, age_band, 'all') AS group_value,
                   count(*) AS n,
                   sum(positive) AS positives,
                   sum(w) AS w_sum,
                   sum(w * positive) AS w_positives,
                   sum(w * score) AS w_score_sum,
                   sum(w * w) AS w_squares,
                   bool_and(is_weighted) AS weighted
            FROM scored
            GROUP BY GROUPING SETS (
                (wave, indicator_id, district_code), (wave, indicator_id),
                (wave, indicator_id, district_code, sex), (wave, indicator_id, sex),
                (wave, indicator_id, district_code, age_band), (wave, indicator_id, age_band))
        """).fetchnumpy()
    finally:
        connection.close()
    return _cells_from_sums(raw, codebook)


def _cells_from_sums(raw: dict, codebook: Codebook) -> pd.DataFrame:
    has_mean = {i.id: i.scale.has_mean for i in codebook.indicators}
    share = raw["w_positives"] / raw["w_sum"]
    # Kish's effective sample size; equals n when every weight is 1
    n_effective = raw["w_sum"] ** 2 / raw["w_squares"]
    ci_low, ci_high = wilson_intervals(share * n_effective, n_effective)
    indicator_ids = pd.Series(raw["indicator_id"], dtype="str")
    mean = np.where(indicator_ids.map(has_mean).to_numpy(dtype=bool), raw["w_score_sum"] / raw["w_sum"], np.nan)
    cells = pd.DataFrame(
        {
            "wave": pd.Series(raw["wave"], dtype="str"),
            "indicator_id": indicator_ids,
            "district_code": pd.Series(raw["district_code"], dtype="str"),
            "group_type": pd.Series(raw["group_type"], dtype="str"),
            "group_value": pd.Series(raw["group_value"], dtype="str"),
            "n": np.asarray(raw["n"], dtype="int64"),
            "positives": np.asarray(raw["positives"], dtype="int64"),
            "w_sum": np.asarray(raw["w_sum"], dtype="float64"),
            "w_positives": np.asarray(raw["w_positives"], dtype="float64"),
            "share_positive": share,
            "mean": mean,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "weighted": np.asarray(raw["weighted"], dtype=bool),
        }
    )
    return cells.sort_values(CELL_KEYS, ignore_index=True)


@dataclass
class PopulationWeights:
    """Post-stratification weights per wave x district x sex x age band, and what was done to get them."""

    weights: pd.DataFrame | None  # wave, district_code, sex, age_band, weight
    notes: list[str] = field(default_factory=list)


def respondent_cells(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Respondent counts per wave x district x sex x age band (the weighting cells)."""
    connection = open_responses(sources, codebook)
    try:
        return connection.execute(
            "SELECT wave, district_code, sex, age_band, count(*) AS n FROM responses GROUP BY ALL"
        ).df()
    finally:
        connection.close()


def district_population(population: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Persons per year x district x sex x age band from a tidy population table (SSB 10826 shape).

    SSB spells the 2004 Oslo districts "030101a"; the same digits without the suffix are the 1988-2003
    division, a different area, so when suffixed codes are present only they are used. Harmonised
    tables (plain "030101") are used as they are. sex is "total" when the table has no sex split."""
    rows = population
    if "indicator_id" in rows.columns:
        rows = rows[rows["indicator_id"] == "population"]
    rows = rows[rows["value"].notna()]
    codes = rows["region_code"].astype("str").str.strip()
    ssb_spelled = codes.str.fullmatch(r"\d{6}a")
    if ssb_spelled.any():
        rows, codes = rows[ssb_spelled], codes[ssb_spelled].str[:6]
    in_oslo = codes.isin(list(codebook.districts))
    rows, codes = rows[in_oslo], codes[in_oslo]
    ages = pd.to_numeric(rows["age_group"].astype("str").str.extract(r"^(\d+)\+?$")[0], errors="coerce")
    low, high = codebook.age_range
    usable = ages.between(low, high)
    band_of_age = {age: codebook.age_band_for_age(age) for age in range(low, high + 1)}
    frame = pd.DataFrame(
        {
            "year": rows["period"].astype("str").str[:4].astype(int)[usable],
            "district_code": codes[usable],
            "sex": rows["sex"].astype("str")[usable],
            "age_band": ages[usable].astype(int).map(band_of_age),
            "persons": rows["value"].astype(float)[usable],
        }
    )
    return frame.groupby(["year", "district_code", "sex", "age_band"], as_index=False)["persons"].sum()


def population_weights(cells: pd.DataFrame, population: pd.DataFrame | None, codebook: Codebook
                       ) -> PopulationWeights:
    """Weights = population of the cell / respondents in the cell, per wave, from `respondent_cells`.

    Uses the latest population year not after the wave's year (else the earliest year there is). When
    that year has no sex split the cells are district x age band. A wave with a respondent cell the
    population does not cover is left unweighted. Every such decision is reported in `notes`."""
    if population is None or population.empty:
        return PopulationWeights(None, ["no population table given: no indicator is weighted"])
    persons = district_population(population, codebook)
    if persons.empty:
        note = "population table has no Oslo district rows in the codebook's age range: no indicator is weighted"
        return PopulationWeights(None, [note])
    notes: list[str] = []
    weights = []
    years = sorted(persons["year"].unique())
    for wave_id, wave_cells in cells.groupby("wave"):
        wave_year = int(codebook.wave(wave_id).date[:4])
        earlier = [y for y in years if y <= wave_year]
        year = earlier[-1] if earlier else years[0]
        if year != wave_year:
            notes.append(f"wave {wave_id}: population of {year} used (none for {wave_year})")
        of_year = persons[persons["year"] == year]
        by_sex = {"male", "female"} <= set(of_year["sex"])
        if by_sex:
            keys = ["district_code", "sex", "age_band"]
            of_year = of_year[of_year["sex"].isin(["male", "female"])]
        else:
            keys = ["district_code", "age_band"]
            of_year = of_year[of_year["sex"] == "total"]
            notes.append(f"wave {wave_id}: population of {year} has no sex split; weights calibrated to "
                         "district x age band only")
        counts = wave_cells.groupby(keys, as_index=False)["n"].sum()
        calibrated = counts.merge(of_year.groupby(keys, as_index=False)["persons"].sum(), on=keys, how="left")
        uncovered = calibrated["persons"].isna() | (calibrated["persons"] <= 0)
        if uncovered.any():
            notes.append(f"wave {wave_id}: {int(uncovered.sum())} respondent cell(s) have no population; "
                         "wave left unweighted")
            continue
        calibrated["weight"] = calibrated["persons"] / calibrated["n"]
        weights.append(wave_cells[["wave", "district_code", "sex", "age_band"]].merge(
            calibrated[[*keys, "weight"]], on=keys, how="left"))
    if not weights:
        return PopulationWeights(None, notes)
    return PopulationWeights(pd.concat(weights, ignore_index=True), notes)
