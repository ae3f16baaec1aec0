"""Benchmark: `make run` with the archive and the marts in object storage (CI_PIPELINE_WAREHOUSE=s3://...)
against the embedded local-disk warehouse, measured in the same run.

    .venv/bin/python benchmarks/object_storage.py [--repeat N]

Each run is `python -m ci_pipeline.run` in its own process (what `make run` runs), a full cold build on
the embedded snapshots (replay mode) into a fresh warehouse and a fresh DAGSTER_HOME (SQLite): either a
local folder or a fresh bucket on an S3-compatible server on 127.0.0.1 (moto, tests/s3server.py, started
for the benchmark). Then the same warehouse is run again with nothing changed (it publishes nothing).
The kinds take turns, so a change in machine load hits each alike; the best wall time of each is printed
with its ratio to local disk. The server is local, so the ratio shows the cost of the store's protocol
(a request per object, the lease, the conditional LATEST, reading back to verify), not of a network.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from build_turns import best_of_turns, local_home, print_best_and_ratios
from pipeline_build import REPO

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pgserver import deployment_env
from s3server import S3Server

KINDS = ("local disk", "object storage")
RUNS = ("cold build", "no-change rerun")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    server = S3Server.start()

    def environment(kind: str, root: Path, _name: str) -> dict[str, str]:
        if kind == "local disk":
            return deployment_env(local_home(root), root / "warehouse", {})
        return deployment_env(local_home(root), root / "unused", server.env(),
                              CI_PIPELINE_WAREHOUSE=server.bucket("warehouse"), CI_PIPELINE_REPO_ROOT=str(REPO))

    try:
        # a bucket's work files (Dagster's stored values, state) go under the repository's data/work
        best = best_of_turns(KINDS, environment, repeat=args.repeat, runs=RUNS,
                             after_each=lambda: shutil.rmtree(REPO / "data" / "work", ignore_errors=True))
    finally:
        server.stop()
    print_best_and_ratios(best, KINDS, heading=f"best of {args.repeat} `make run`s (replay mode)", runs=RUNS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
