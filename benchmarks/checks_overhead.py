"""How much the expectation suites add to a full pipeline build.

Builds the whole pipeline twice in this process, each time into a fresh temporary warehouse: once with
the asset checks (ci_pipeline.definitions.build_definitions(settings, include_checks=True)) and once
without, and prints both wall times and their ratio. Great Expectations is imported (and its one
ephemeral context created) before either build is timed, so its one-time import cost (~3 s) is not
counted. Aim: at most 1.5x.

    .venv/bin/python benchmarks/checks_overhead.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ci_pipeline.definitions import build_definitions
from dagster import DagsterInstance

from ci_pipeline.settings import Settings

PIPELINE_JOB = "pipeline_job"


def build_once(include_checks: bool) -> float:
    """Wall time of one full build into a fresh warehouse; raises if the run fails."""
    with tempfile.TemporaryDirectory(prefix="ci-bench-") as folder:
        os.environ["CI_PIPELINE_WAREHOUSE"] = str(Path(folder) / "warehouse")
        settings = Settings.from_env()
        started = time.perf_counter()
        definitions = build_definitions(settings, include_checks=include_checks)
        result = definitions.resolve_job_def(PIPELINE_JOB).execute_in_process(
            instance=DagsterInstance.ephemeral(), raise_on_error=False)
        elapsed = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"the {'checked' if include_checks else 'unchecked'} build failed; "
                             "run the pipeline on its own to see why")
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="builds of each kind (the fastest counts)")
    args = parser.parse_args()

    started = time.perf_counter()
    from ci_pipeline.quality import _gx

    _gx()  # the one-time GX import and context, outside the timed builds
    print(f"one-time GX import and context: {time.perf_counter() - started:.2f} s (excluded)")

    without = min(build_once(include_checks=False) for _ in range(args.repeat))
    with_checks = min(build_once(include_checks=True) for _ in range(args.repeat))
    print(f"full build without checks: {without:.2f} s")
    print(f"full build with checks:    {with_checks:.2f} s")
    print(f"ratio: {with_checks / without:.2f}x (aim: at most 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
