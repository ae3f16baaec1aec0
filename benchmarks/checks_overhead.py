"""How much the expectation suites add to a full pipeline build.

Builds the whole pipeline (ci_pipeline.run.run_pipeline: survey waves, sources, every mart and the goal
report) in this process, each time into a fresh temporary warehouse with a fresh ephemeral Dagster
instance: with the asset checks (build_definitions(settings, include_checks=True)) and without, taking
turns so that a change in machine load hits both kinds alike. Prints the best wall and CPU time of each
kind, their ratios, and how long the check steps themselves took in the best checked build. Great
Expectations is imported (and its ephemeral context created) before anything is timed: that one-time
cost of a process (~3 s) is printed separately. Aim: a ratio of at most 1.5.

    .venv/bin/python benchmarks/checks_overhead.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from ci_pipeline.definitions import build_definitions
from ci_pipeline.run import run_pipeline
from ci_pipeline.settings import Settings


@dataclass(frozen=True)
class Build:
    wall: float
    cpu: float
    check_steps: float  # wall time of the check steps (0 without checks)
    checks: int


def _step_seconds(instance: DagsterInstance, run_ids: list[str], step_keys: set[str]) -> float:
    started: dict[str, float] = {}
    total = 0.0
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None or event.step_key not in step_keys:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started[event.step_key] = record.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                total += record.timestamp - started.pop(event.step_key)
    return total


def build_once(include_checks: bool) -> Build:
    """One full build into a fresh warehouse; raises SystemExit if it fails."""
    with tempfile.TemporaryDirectory(prefix="ci-bench-") as folder:
        settings = Settings.from_env().with_(warehouse_root=Path(folder) / "warehouse")
        instance = DagsterInstance.ephemeral()
        wall, cpu = time.perf_counter(), time.process_time()
        definitions = build_definitions(settings, include_checks=include_checks)
        summary = run_pipeline(settings, instance, definitions)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if not summary.success:
            raise SystemExit(f"the {'checked' if include_checks else 'unchecked'} build failed:\n"
                             + "\n".join(summary.failures))
        check_ops = {check.node_def.name for check in definitions.asset_checks}
        return Build(wall, cpu, _step_seconds(instance, summary.run_ids, check_ops), len(check_ops))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="builds of each kind, taking turns (best counts)")
    args = parser.parse_args()

    started = time.perf_counter()
    from ci_pipeline.quality.runner import _gx

    _gx()
    print(f"one-time GX import and context: {time.perf_counter() - started:.2f} s (not counted)")

    without, checked = [], []
    for _ in range(args.repeat):
        without.append(build_once(include_checks=False))
        checked.append(build_once(include_checks=True))
    best_without = min(without, key=lambda b: b.wall)
    best_checked = min(checked, key=lambda b: b.wall)
    cpu_without = min(b.cpu for b in without)
    cpu_checked = min(b.cpu for b in checked)
    print(f"full build without checks: {best_without.wall:6.2f} s wall, {cpu_without:6.2f} s CPU "
          f"(best of {args.repeat})")
    print(f"full build with checks:    {best_checked.wall:6.2f} s wall, {cpu_checked:6.2f} s CPU "
          f"({best_checked.checks} checks; their steps took {best_checked.check_steps:.2f} s)")
    print(f"ratio with / without: {best_checked.wall / best_without.wall:.2f}x wall, "
          f"{cpu_checked / cpu_without:.2f}x CPU (aim: at most 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
