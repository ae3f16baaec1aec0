"""Benchmark: the pipeline's survey_results build against one hand-written DuckDB query, same Parquet input.

    python benchmarks/survey_aggregate.py [--respondents 1000000] [--repeat 3]

Generates synthetic responses (stored shape, 30 questions of the codebook's first wave) to Parquet in a
temporary directory, then times ci_pipeline.surveys.publish.build_survey_results (n, share positive,
mean, Wilson interval per wave x district/Oslo x indicator x group, with the joint disclosure control and
its interval attack on) and a hand-written DuckDB SQL query computing n, share positive and mean for the
same cells (no disclosure control). Checks that both give the same figures, and prints the best time of
each, their ratio (aim: at most 2) and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ci_pipeline.settings import Settings
from ci_pipeline.surveys.aggregate import aggregate_responses
from ci_pipeline.surveys.codebook import load_codebook
from ci_pipeline.surveys.publish import build_survey_results

# The synthetic data generator is tool code (tools/), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from survey_generator import synthetic_responses

# Written by hand for the codebook's first wave: two questions per indicator (a, b); an answer is
# positive when it is at least the threshold; the mean is reported for scales that have one.
HAND_WRITTEN_SQL = """
WITH per_person AS (
    SELECT wave, district_code, sex, age_band,
        UNNEST(['survey_work_job_confidence', 'survey_work_job_experience', 'survey_work_money_worries',
                'survey_housing_safe_neighbourhood', 'survey_housing_own_space', 'survey_housing_satisfaction',
                'survey_democracy_influence', 'survey_democracy_participation', 'survey_democracy_trust',
                'survey_health_wellbeing', 'survey_health_sleep_activity', 'survey_health_loneliness',
                'survey_education_thriving', 'survey_education_bullied', 'survey_education_support'])
            AS indicator_id,
        UNNEST([q_work_future_job, q_work_had_job, q_work_worry_money, q_housing_safe_day, q_housing_own_room,
                q_housing_home_rating, q_democracy_listened, q_democracy_voted, q_democracy_trust_police,
                q_health_life_satisfaction, q_health_sleep, q_health_lonely, q_education_thrive,
                q_education_bullied, q_education_plans_vgs]) AS a,
        UNNEST([q_work_school_to_job, q_work_knows_help, q_work_missed_activity, q_housing_safe_evening,
                q_housing_quiet_place, q_housing_area_rating, q_democracy_can_change, q_democracy_member,
                q_democracy_trust_politicians, q_health_feel_good, q_health_active, q_health_no_one_to_talk,
                q_education_teacher_cares, q_education_left_out, q_education_homework_help]) AS b,
        UNNEST([4, 1, 4, 4, 1, 7, 4, 1, 7, 7, 4, 4, 4, 1, 1]) AS threshold,
        UNNEST([true, false, true, true, false, true, true, false, true, true, true, true, true, false, false])
            AS has_mean
    FROM read_parquet($path)
),
scored AS (
    SELECT *, (a IS NOT NULL)::INTEGER + (b IS NOT NULL)::INTEGER AS answered,
           coalesce((a >= threshold)::INTEGER, 0) + coalesce((b >= threshold)::INTEGER, 0) AS positives
    FROM per_person
)
SELECT wave, indicator_id, coalesce(district_code, '0301') AS district_code, sex, age_band,
       count(*) AS n,
       avg((2 * positives >= answered)::DOUBLE) AS share_positive,
       CASE WHEN any_value(has_mean) THEN avg((coalesce(a, 0) + coalesce(b, 0)) / answered) END AS mean
FROM scored
WHERE answered > 0
GROUP BY GROUPING SETS ((wave, indicator_id, district_code), (wave, indicator_id),
                        (wave, indicator_id, district_code, sex), (wave, indicator_id, sex),
                        (wave, indicator_id, district_code, age_band), (wave, indicator_id, age_band))
"""


def peak_memory_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(repeat: int, run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def check_same_cells(cells: pd.DataFrame, sql_cells: dict) -> None:
    """Both computations must give the same n, share and mean for every cell."""
    hand = pd.DataFrame(sql_cells)
    hand["group_type"] = np.where(hand["sex"].notna(), "sex", np.where(hand["age_band"].notna(), "age_band", "total"))
    hand["group_value"] = hand["sex"].fillna(hand["age_band"]).fillna("total")
    joined = cells.merge(hand, on=["wave", "indicator_id", "district_code", "group_type", "group_value"],
                         suffixes=("", "_sql"), how="outer", indicator=True)
    if (joined["_merge"] != "both").any() or (joined["n"] != joined["n_sql"]).any():
        raise SystemExit("the pipeline and the hand-written SQL do not give the same cells")
    for column in ("share_positive", "mean"):
        difference = (joined[column] - joined[f"{column}_sql"]).abs().max()
        if difference > 1e-9:
            raise SystemExit(f"{column} differs by up to {difference} between pipeline and hand-written SQL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    codebook = load_codebook(Settings.from_env().catalogue_root / "surveys")
    wave_id = codebook.waves[0].id
    questions = codebook.questions_in_wave(wave_id)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"wave={wave_id}.parquet"
        synthetic_responses(codebook, wave_id, args.respondents, seed=1).to_parquet(path, index=False)
        print(f"input: {args.respondents:,} responses x {len(questions)} questions, "
              f"{path.stat().st_size / 2**20:.1f} MiB Parquet")

        pipeline_seconds, mart = best_of(args.repeat, lambda: build_survey_results([path], codebook))
        cells = aggregate_responses([path], codebook)

        connection = duckdb.connect()
        sql_seconds, sql_cells = best_of(
            args.repeat, lambda: connection.execute(HAND_WRITTEN_SQL, {"path": str(path)}).fetchnumpy())
        connection.close()

    check_same_cells(cells, sql_cells)
    shown = mart.frame[mart.frame["share_positive"].notna()].merge(cells, on=["wave", "indicator_id", "district_code",
                                                                             "group_type", "group_value"])
    if (shown["share_positive_x"] != shown["share_positive_y"]).any():
        raise SystemExit("a published share differs from the aggregation")
    print(f"cells: {len(cells):,}; published with values: {len(shown):,}; hidden: "
          f"{int(mart.frame['status'].notna().sum()):,}")
    print(f"pipeline build_survey_results (joint disclosure control on): {pipeline_seconds:.3f} s "
          f"(best of {args.repeat})")
    print(f"hand-written DuckDB SQL:      {sql_seconds:.3f} s (best of {args.repeat})")
    print(f"ratio pipeline / SQL:         {pipeline_seconds / sql_seconds:.2f} (aim: <= 2)")
    print(f"peak memory (max RSS):        {peak_memory_mib():.0f} MiB")


if __name__ == "__main__":
    main()
