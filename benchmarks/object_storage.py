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
import tempfile
from pathlib import Path

from pipeline_build import REPO, measure

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pgserver import deployment_env
from s3server import S3Server

KINDS = ("local disk", "object storage")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    best: dict[str, float] = {}
    server = S3Server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="ci-bench-objectstore-") as folder:
            for turn in range(args.repeat):
                for number, kind in enumerate(KINDS):
                    root = Path(folder) / f"{turn}-{number}"
                    home = root / "dagster_home"
                    home.mkdir(parents=True)
                    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
                    if kind == "local disk":
                        env = deployment_env(home, root / "warehouse", {})
                    else:
                        env = deployment_env(home, root / "unused", server.env(),
                                             CI_PIPELINE_WAREHOUSE=server.bucket("warehouse"),
                                             CI_PIPELINE_REPO_ROOT=str(REPO))
                    for run in ("cold build", "no-change rerun"):
                        wall, _, _ = measure([sys.executable, "-m", "ci_pipeline.run"], env)
                        print(f"turn {turn + 1}: {kind}, {run}: {wall:.1f} s", flush=True)
                        best[f"{kind}, {run}"] = min(best.get(f"{kind}, {run}", wall), wall)
                    shutil.rmtree(root)
                    shutil.rmtree(REPO / "data" / "work", ignore_errors=True)
    finally:
        server.stop()
    print(f"\nbest of {args.repeat} `make run`s (replay mode):")
    for key, seconds in best.items():
        print(f"  {key}: {seconds:.1f} s")
    for run in ("cold build", "no-change rerun"):
        print(f"ratio object storage / local disk, {run}: "
              f"{best[f'object storage, {run}'] / best[f'local disk, {run}']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
