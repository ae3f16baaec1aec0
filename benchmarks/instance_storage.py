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
import shutil
import sys
import tempfile
from pathlib import Path

from pipeline_build import REPO, measure

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pgserver import PostgresServer, deployed_home, deployment_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--multiprocess", action="store_true", help="also time CI_PIPELINE_EXECUTOR=multiprocess")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] + (["postgres, multiprocess"] if args.multiprocess else [])
    best: dict[str, float] = {}
    server = PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="ci-bench-instance-") as folder:
            for turn in range(args.repeat):
                for number, kind in enumerate(kinds):
                    root = Path(folder) / f"{turn}-{number}"
                    root.mkdir()
                    if kind == "sqlite":
                        home = root / "dagster_home"
                        home.mkdir()
                        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
                        env = deployment_env(home, root / "warehouse", {})
                    else:
                        database = server.create_database(f"bench_{turn}_{number}")
                        executor = "multiprocess" if "multiprocess" in kind else "in_process"
                        env = deployment_env(deployed_home(root), root / "warehouse", server.env(database),
                                             CI_PIPELINE_EXECUTOR=executor)
                    wall, _, _ = measure([sys.executable, "-m", "ci_pipeline.run"], env)
                    print(f"turn {turn + 1}: {kind}: {wall:.1f} s", flush=True)
                    best[kind] = min(best.get(kind, wall), wall)
                    shutil.rmtree(root)
    finally:
        server.stop()
    print(f"\nbest of {args.repeat} cold `make run` builds (replay mode):")
    for kind in kinds:
        print(f"  {kind}: {best[kind]:.1f} s")
    for kind in kinds[1:]:
        print(f"ratio {kind} / sqlite: {best[kind] / best['sqlite']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
