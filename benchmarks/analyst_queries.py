"""Benchmark: 100 typical analyst queries on catalog.duckdb against the same queries over CSV exports.

    .venv/bin/python benchmarks/analyst_queries.py [--warehouse DIR] [--repeat 3] [--json FILE]

The queries are what an analyst of the initiative asks: the latest figure of an indicator per district,
a district's time series, district rankings, the indicator registry joined in, goal progress by status,
survey results of a wave, survey change between waves. They are generated from ten templates with
parameters drawn (seeded) from the data, so they always hit existing indicators, regions and waves.

The CSV side is what an analyst gets without the marts: every mart exported to CSV (DuckDB COPY) and
read with DuckDB's CSV reader, with the column types of the mart given explicitly (so '0301' stays a
code, not the number 301). Both sides run in DuckDB with one connection each; every query's result is
compared between the two. Prints the median over the queries of each query's best time of --repeat runs,
and the ratio catalog / CSV. Without --warehouse, the pipeline is first built in replay mode into a
temporary warehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
MARTS = ["indicator_values", "regions", "indicators", "goals", "goal_progress", "survey_results", "survey_change"]
QUERY_COUNT = 100
SEED = 20240611

TEMPLATES = [
    # latest figure of an indicator in every district
    """SELECT region_code, region_name, period, value, status FROM indicator_values
       WHERE indicator_id = '{indicator}' AND region_level = 'district' AND sex = 'total' AND age_group = 'total'
         AND period = (SELECT max(period) FROM indicator_values WHERE indicator_id = '{indicator}')
       ORDER BY region_code""",
    # one region's time series
    """SELECT period, value, status, method FROM indicator_values
       WHERE indicator_id = '{indicator}' AND region_code = '{region}' AND sex = 'total' AND age_group = 'total'
       ORDER BY period""",
    # top five districts
    """SELECT region_name, value FROM indicator_values
       WHERE indicator_id = '{indicator}' AND region_level = 'district' AND value IS NOT NULL
       ORDER BY value DESC, region_name LIMIT 5""",
    # yearly mean over districts
    """SELECT period, avg(value) AS mean_value, count(*) AS n FROM indicator_values
       WHERE indicator_id = '{indicator}' AND region_level = 'district' GROUP BY period ORDER BY period""",
    # registry names joined in, per method
    """SELECT i.name_en, v.method, count(*) AS rows, count(v.status) AS with_status
       FROM indicator_values v JOIN indicators i USING (indicator_id)
       WHERE v.region_code = '{region}' GROUP BY ALL ORDER BY ALL""",
    # a municipality's districts with names from the regions dimension
    """SELECT r.name_nb, v.period, sum(v.value) AS total FROM indicator_values v
       JOIN regions r ON r.code = v.region_code AND r.is_current
       WHERE v.indicator_id = 'population' AND r.parent_code = '{municipality}' AND v.age_group = 'total'
       GROUP BY ALL ORDER BY ALL""",
    # goal progress by status
    """SELECT g.goal_name_en, p.status, count(*) AS n FROM goal_progress p JOIN goals g USING (goal_id, indicator_id)
       WHERE p.region_level = '{level}' GROUP BY ALL ORDER BY ALL""",
    # survey results of one wave and district
    """SELECT indicator_id, group_type, group_value, n, share_positive, status FROM survey_results
       WHERE wave = '{wave}' AND district_code = '{district}' ORDER BY ALL""",
    # survey change between waves
    """SELECT from_wave, to_wave, indicator_id, share_improved, share_worsened, status FROM survey_change
       WHERE district_code = '{district}' ORDER BY ALL""",
    # rows and suppressed cells per source and provenance
    """SELECT source, provenance, count(*) AS rows, count(*) FILTER (WHERE status IS NOT NULL) AS suppressed
       FROM indicator_values WHERE period >= '{period}' GROUP BY ALL ORDER BY ALL""",
]


def build_warehouse(root: Path) -> Path:
    """The pipeline built in replay mode into `root` (the same call `make run` makes)."""
    from dagster import DagsterInstance

    from ci_pipeline.run import run_pipeline
    from ci_pipeline.settings import Settings

    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ.update({"CI_PIPELINE_WAREHOUSE": str(root / "warehouse"), "CI_PIPELINE_MODE": "replay",
                       "DAGSTER_HOME": str(home)})
    instance = DagsterInstance.from_config(str(home))
    try:
        summary = run_pipeline(Settings.from_env(), instance)
    finally:
        instance.dispose()
    if not summary.success:
        raise SystemExit("the pipeline build failed:\n" + "\n".join(summary.failures))
    return root / "warehouse"


def analyst_queries(con: duckdb.DuckDBPyConnection, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)

    def values(sql: str) -> list[str]:
        return [row[0] for row in con.execute(sql).fetchall()]

    pools = {
        "indicator": values("SELECT DISTINCT indicator_id FROM indicator_values ORDER BY 1"),
        "region": values("SELECT DISTINCT region_code FROM indicator_values ORDER BY 1"),
        "municipality": values("SELECT DISTINCT parent_code FROM regions WHERE level = 'district' ORDER BY 1"),
        "level": values("SELECT DISTINCT region_level FROM goal_progress ORDER BY 1"),
        "wave": values("SELECT DISTINCT wave FROM survey_results ORDER BY 1"),
        "district": values("SELECT DISTINCT district_code FROM survey_results ORDER BY 1"),
        "period": values("SELECT DISTINCT period FROM indicator_values ORDER BY 1"),
    }
    return [TEMPLATES[i % len(TEMPLATES)].format(**{name: rng.choice(pool) for name, pool in pools.items()})
            for i in range(count)]


def csv_connection(catalog: duckdb.DuckDBPyConnection, folder: Path) -> duckdb.DuckDBPyConnection:
    """Every mart exported to CSV, and an in-memory DuckDB whose views read those files with the marts' types."""
    con = duckdb.connect()
    for mart in MARTS:
        path = (folder / f"{mart}.csv").as_posix()
        catalog.execute(f"COPY (SELECT * FROM \"{mart}\") TO '{path}' (HEADER)")
        types = {name: kind for name, kind, *_ in catalog.execute(f'DESCRIBE "{mart}"').fetchall()}
        # An all-null column is typed "NULL" in Parquet; VARCHAR is what a CSV reader makes of it.
        types = {name: ("VARCHAR" if kind == '"NULL"' else kind) for name, kind in types.items()}
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in types.items())
        con.execute(f"CREATE VIEW \"{mart}\" AS SELECT * FROM read_csv('{path}', header = true, columns = {{{columns}}})")
    return con


def best_time(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> tuple[float, pd.DataFrame]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = con.execute(sql).fetchdf()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, help="a built warehouse (default: build one in replay mode)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each query (the best counts)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="ci-bench-queries-") as folder:
        warehouse = args.warehouse or build_warehouse(Path(folder) / "build")
        from ci_pipeline.catalog import connect

        catalog = connect(warehouse)
        csv = csv_connection(catalog, Path(folder))
        queries = analyst_queries(catalog, QUERY_COUNT, SEED)
        catalog_times, csv_times, differing = [], [], 0
        for sql in queries:
            seconds, on_catalog = best_time(catalog, sql, args.repeat)
            catalog_times.append(seconds)
            seconds, on_csv = best_time(csv, sql, args.repeat)
            csv_times.append(seconds)
            try:
                pd.testing.assert_frame_equal(on_catalog, on_csv, check_dtype=False)
            except AssertionError:
                differing += 1
        catalog.close()
        csv.close()

    results = {"queries": len(queries), "catalog_median": statistics.median(catalog_times),
               "csv_median": statistics.median(csv_times), "differing_results": differing}
    results["ratio"] = results["catalog_median"] / results["csv_median"]
    print(f"{len(queries)} analyst queries, best of {args.repeat} each; median latency:")
    print(f"  catalog.duckdb (Parquet marts): {results['catalog_median'] * 1000:8.2f} ms")
    print(f"  CSV exports of the same data:   {results['csv_median'] * 1000:8.2f} ms")
    print(f"  ratio catalog / CSV:            {results['ratio']:8.2f}")
    print(f"  queries whose results differ between the two: {differing}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
