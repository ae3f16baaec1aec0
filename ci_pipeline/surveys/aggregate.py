"""Aggregation of stored survey responses to wave x district x indicator x group, inside DuckDB.

One respondent's indicator: the questions of the indicator they answered (at least one, else they do not
count for it); positive when at least half of those answers count as positive; score = mean of the
answers where the scale has a mean, otherwise the share of answers that are positive (the score is what
change per person is measured on).

Cells: every wave x district (15 bydeler and Oslo "0301" as their total) x indicator x group, where group
is all, each sex, each age band. Per cell: n (respondents), share_positive (a proportion 0-1), mean (scales
with a mean), the effective n and the Wilson 95 % interval of the share over it. For an indicator with
`weighting: population` the share and mean are weighted with the raking weights (surveys/weighting.py);
n stays the number of respondents.

Effective n of a weighted cell: n / the Kish design effect (n x sum w^2 / (sum w)^2) of its level, per wave
and indicator: Oslo's cells take Oslo's (all respondents), a district's cells the districts' pooled design
effect (their respondents over the sum of their own Kish effective n). Both are rounded to two decimals,
so the effective n (and the interval) of a cell says nothing beyond its n and two published figures per
wave and indicator. A cell's own Kish n would: it depends on how its respondents spread over the district's
sex x age band cells, and published beside its n and its neighbours' it would let an attacker narrow a
hidden n (tests/test_survey_weighting.py checks the ratio is one per level). An unweighted cell's
effective n is its n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, closing
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ci_pipeline.stats import wilson_intervals
from ci_pipeline.surveys.codebook import Codebook, Indicator

CELL_KEYS = ["wave", "indicator_id", "district_code", "group_type", "group_value"]

# Where the survey SQL runs: a factory of DuckDB connections, each closed when its block ends. The Dagster
# layer passes its DuckDBResource's get_connection (ci_pipeline.defs.resources.survey_sql_resource, the one
# place the connection is configured); library callers and tests get a private in-memory database.
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

# One thread: the weighted sums then add up in one order, so the same responses give the same bits every
# build (in parallel, float sums depend on which thread finishes first, and a rebuild would publish a
# "new" version of unchanged figures). The survey tables are small; one thread is not slower here.
SURVEY_SQL_CONFIG = {"threads": 1}


def in_memory() -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    return closing(duckdb.connect(config=SURVEY_SQL_CONFIG))


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


def open_responses(connection: duckdb.DuckDBPyConnection, sources: Sequence[Path] | pd.DataFrame,
                   codebook: Codebook, weights: pd.DataFrame | None = None) -> None:
    """Create, in `connection`, a `responses` view over stored wave files (or a frame), every codebook
    question present as a column (NULL where no wave asked it) and a `weight` column (NULL unless
    population weights are given for the respondent's wave and cell)."""
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


def aggregate_responses(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                        weights: pd.DataFrame | None = None, connect: Connect = in_memory) -> pd.DataFrame:
    """Cells (see module docstring) from stored responses: Parquet files of the stored shape, or a frame.

    `weights`: columns wave, district_code, sex, age_band, weight (from weighting.rake_waves); indicators
    with `weighting: population` use them for the respondents they cover. Returns one row per non-empty
    cell: CELL_KEYS, n, positives (respondents), w_sum, w_positives and w_squares (weighted; n, positives
    and n when unweighted), share_positive, mean, weighted, design_effect, effective_n, ci_low, ci_high."""
    weighted_indicators = frozenset(i.id for i in codebook.indicators if i.weighting == "population")
    with connect() as connection:
        open_responses(connection, sources, codebook, weights)
        raw = connection.execute(f"""
            WITH scored AS ({respondent_scores_sql(codebook, weighted_indicators)})
            SELECT wave, indicator_id,
                   coalesce(district_code, '{codebook.oslo_code}') AS district_code,
                   CASE WHEN GROUPING(sex) = 0 THEN 'sex' WHEN GROUPING(age_band) = 0 THEN 'age_band'
                        ELSE 'total' END AS group_type,
                   coalesce(sex, age_band, 'total') AS group_value,
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
    return _cells_from_sums(raw, codebook)


def _cells_from_sums(raw: dict, codebook: Codebook) -> pd.DataFrame:
    has_mean = {i.id: i.scale.has_mean for i in codebook.indicators}
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
            "w_squares": np.asarray(raw["w_squares"], dtype="float64"),
            "share_positive": raw["w_positives"] / raw["w_sum"],
            "mean": mean,
            "weighted": np.asarray(raw["weighted"], dtype=bool),
        }
    )
    cells["design_effect"] = design_effects(cells, codebook.oslo_code)
    cells["effective_n"] = cells["n"] / cells["design_effect"]
    cells["ci_low"], cells["ci_high"] = wilson_intervals(cells["share_positive"] * cells["effective_n"],
                                                         cells["effective_n"])
    return cells.sort_values(CELL_KEYS, ignore_index=True)


def design_effects(cells: pd.DataFrame, oslo_code: str) -> np.ndarray:
    """The design effect each cell's interval uses (rules in the module docstring): 1 for an unweighted
    cell; for a weighted one its level's pooled Kish design effect of the wave and indicator, rounded to
    two decimals (at least 1)."""
    alls = cells[(cells["group_type"] == "total") & cells["weighted"] & (cells["n"] > 0)]
    kish_n = alls["w_sum"] ** 2 / alls["w_squares"]
    level = np.where(alls["district_code"] == oslo_code, "oslo", "district")
    pooled = (pd.DataFrame({"wave": alls["wave"], "indicator_id": alls["indicator_id"], "level": level,
                            "n": alls["n"], "kish_n": kish_n})
              .groupby(["wave", "indicator_id", "level"], as_index=False)[["n", "kish_n"]].sum())
    pooled["design_effect"] = np.maximum(1.0, (pooled["n"] / pooled["kish_n"]).round(2))
    keyed = cells[["wave", "indicator_id"]].assign(
        level=np.where(cells["district_code"] == oslo_code, "oslo", "district"))
    found = keyed.merge(pooled[["wave", "indicator_id", "level", "design_effect"]], how="left")["design_effect"]
    return np.where(cells["weighted"].to_numpy(dtype=bool), found.fillna(1.0).to_numpy(), 1.0)


def respondent_cells(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                     connect: Connect = in_memory) -> pd.DataFrame:
    """Respondent counts per wave x district x sex x age band (the weighting cells)."""
    with connect() as connection:
        open_responses(connection, sources, codebook)
        return connection.execute(
            "SELECT wave, district_code, sex, age_band, count(*) AS n FROM responses GROUP BY ALL"
        ).df()
