"""Change per person between consecutive waves, aggregated per district x indicator.

A person is followed through their pseudonymous key: they count for an indicator and a pair of waves
(from_wave, to_wave; consecutive in waves.yaml) when they answered the indicator in both waves and the
indicator's question_set_version is the same in both (no change is measured across a changed question).
Their change is the difference of their indicator score (see aggregate.py); improved / worsened follow
the indicator's polarity, unchanged is a difference of zero. The district is the one given in to_wave.
mean_change is in the indicator's score units (scale points, or share of positive answers for yes/no
scales), not polarity-adjusted. Only aggregates leave this module; disclosure control is applied by the
publishing step like for survey_results.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pandas as pd

from ci_pipeline.surveys.aggregate import Connect, in_memory, open_responses, respondent_scores_sql
from ci_pipeline.surveys.codebook import Codebook

CHANGE_KEYS = ["from_wave", "to_wave", "indicator_id", "district_code"]
# Scores are means of small integers; a difference this small is rounding, not change.
UNCHANGED_TOLERANCE = 1e-9


def comparable_pairs(codebook: Codebook, waves_present: Sequence[str]) -> pd.DataFrame:
    """(from_wave, to_wave, indicator_id, direction) for consecutive present waves of the same kind (both
    illustrative or both real) where the indicator's question set is unchanged; direction +1 when higher is
    better, -1 when lower is better."""
    ordered = [w.id for w in codebook.waves if w.id in set(waves_present)]
    rows = []
    for from_wave, to_wave in pairwise(ordered):
        if codebook.wave(from_wave).illustrative != codebook.wave(to_wave).illustrative:
            continue  # made-up and real respondents are different people, keyed with different keys
        for indicator in codebook.indicators:
            version = codebook.question_set_version(indicator, to_wave)
            if version is not None and version == codebook.question_set_version(indicator, from_wave):
                rows.append((from_wave, to_wave, indicator.id,
                             1 if indicator.polarity == "higher_is_better" else -1))
    return pd.DataFrame(rows, columns=["from_wave", "to_wave", "indicator_id", "direction"])


def aggregate_change(sources: Sequence[Path] | pd.DataFrame, codebook: Codebook,
                     connect: Connect = in_memory) -> pd.DataFrame:
    """Per from_wave x to_wave x indicator x district (and Oslo "0301"): n_pairs, n_improved, n_unchanged,
    n_worsened, share_improved, share_unchanged, share_worsened, mean_change (before disclosure control)."""
    with connect() as connection:
        open_responses(connection, sources, codebook)
        waves_present = [row[0] for row in connection.execute("SELECT DISTINCT wave FROM responses").fetchall()]
        pairs = comparable_pairs(codebook, waves_present)
        connection.register("pairs", pairs)
        # the pairs restrict the join; without any, DuckDB would still score every respondent first
        where = "" if len(pairs) else "WHERE false"
        return connection.execute(f"""
            WITH scored AS (SELECT * FROM ({respondent_scores_sql(codebook)}) {where}),
            paired AS (
                SELECT p.from_wave, p.to_wave, p.indicator_id, b.district_code,
                       p.direction * (b.score - a.score) AS gain, b.score - a.score AS change
                FROM pairs p
                JOIN scored a ON a.wave = p.from_wave AND a.indicator_id = p.indicator_id
                JOIN scored b ON b.wave = p.to_wave AND b.indicator_id = p.indicator_id
                             AND b.respondent_key = a.respondent_key
            )
            SELECT from_wave, to_wave, indicator_id,
                   coalesce(district_code, '{codebook.oslo_code}') AS district_code,
                   count(*) AS n_pairs,
                   sum((gain > {UNCHANGED_TOLERANCE})::INTEGER) AS n_improved,
                   sum((abs(gain) <= {UNCHANGED_TOLERANCE})::INTEGER) AS n_unchanged,
                   sum((gain < -{UNCHANGED_TOLERANCE})::INTEGER) AS n_worsened,
                   avg((gain > {UNCHANGED_TOLERANCE})::DOUBLE) AS share_improved,
                   avg((abs(gain) <= {UNCHANGED_TOLERANCE})::DOUBLE) AS share_unchanged,
                   avg((gain < -{UNCHANGED_TOLERANCE})::DOUBLE) AS share_worsened,
                   avg(change) AS mean_change
            FROM paired
            GROUP BY GROUPING SETS ((from_wave, to_wave, indicator_id, district_code),
                                    (from_wave, to_wave, indicator_id))
            ORDER BY ALL
        """).df()
