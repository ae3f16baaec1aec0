"""Benchmark: `make run` with Dagster's instance in PostgreSQL (deploy/dagster.yaml) against the embedded
SQLite instance, and optionally with the multiprocess executor on PostgreSQL.

    .venv/bin/python benchmarks/instance_storage.py [--repeat N] [--multiprocess]

Each run is `python -m ci_pipeline.run` in its own process (what `make run` runs), a full cold build on
the embedded snapshots (replay mode) into a fresh warehouse and a fresh DAGSTER_HOME: either with no
dagster.yaml but telemetry off (SQLite, what `make run` uses) or with deploy/dagster.yaml and a fresh
database on a PostgreSQL server started for the benchmark (tests/pgserver.py, stopped at the end). The
kinds take turns, so a change in machine load hits each alike; the best wall time of each is printed with
its ratio to SQLite. Needs PostgreSQL's server binaries (Debian's `postgresql`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from build_turns import best_of_turns, local_home, print_best_and_ratios
from pipeline_build import REPO

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pgserver import PostgresServer, deployed_home, deployment_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--multiprocess", action="store_true", help="also time CI_PIPELINE_EXECUTOR=multiprocess")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] + (["postgres, multiprocess"] if args.multiprocess else [])
    server = PostgresServer.start()

    def environment(kind: str, root: Path, name: str) -> dict[str, str]:
        if kind == "sqlite":
            return deployment_env(local_home(root), root / "warehouse", {})
        executor = "multiprocess" if "multiprocess" in kind else "in_process"
        return deployment_env(deployed_home(root), root / "warehouse", server.env(server.create_database(name)),
                              CI_PIPELINE_EXECUTOR=executor)

    try:
        best = best_of_turns(kinds, environment, repeat=args.repeat)
    finally:
        server.stop()
    print_best_and_ratios(best, kinds, heading=f"best of {args.repeat} cold `make run` builds (replay mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
