"""Benchmark: a full cold build of the pipeline, a no-change rerun, and where the build's time goes.

    .venv/bin/python benchmarks/pipeline_build.py [--keep-warehouse DIR] [--json FILE]

Measured, each as a separate process (`python -m ci_pipeline.run`, what `make run` runs) so start-up and
imports count as they do for a user:

- the import floor: a process that only imports dagster, pandas, duckdb and great_expectations;
- a full cold build into an empty warehouse and DAGSTER_HOME, in live mode against the local stand-in
  (tests/standin.py serving the embedded snapshots on 127.0.0.1), so downloads can be counted; the
  client's rate limit is raised for the local server (the real APIs' 30 a minute would dominate);
- an immediate rerun: its wall time as a ratio to the full build (aim: at most 0.2), the new mart
  versions it wrote and the data requests (POST .../data) it sent (aim: zero of both);
- per-asset times of the cold build (its step and the step of its checks), from the Dagster event log.

Wall time and peak resident memory (ru_maxrss of the process) are of one run each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
IMPORT_FLOOR = "import dagster, pandas, duckdb, great_expectations"


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak resident MiB, stdout) of one child process; raises when it fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
        # wait4 gives this child's own resource usage (RUSAGE_CHILDREN would mix all children so far).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed (exit {process.returncode}):\n{err.read()[-3000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def version_count(warehouse: Path) -> int:
    return sum(1 for _ in (warehouse / "marts").glob("*/version=*"))


def asset_times(dagster_home: Path) -> dict[str, dict[str, float]]:
    """Seconds per asset in the pipeline_job runs of this DAGSTER_HOME: its own step and its check steps."""
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        step_asset: dict[str, str] = {}
        step_kind: dict[str, str] = {}
        durations: dict[str, float] = {}
        for run in instance.get_runs():
            if run.job_name != "pipeline_job":
                continue
            started: dict[str, float] = {}
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None or event.step_key is None:
                    continue
                if event.event_type == DagsterEventType.STEP_START:
                    started[event.step_key] = record.timestamp
                elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                    durations[event.step_key] = record.timestamp - started[event.step_key]
                elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                    step_asset.setdefault(event.step_key, event.asset_key.to_user_string())
                    step_kind[event.step_key] = "asset"
                elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                    step_asset.setdefault(event.step_key, event.asset_check_evaluation_data.asset_key.to_user_string())
                    step_kind.setdefault(event.step_key, "checks")
        times: dict[str, dict[str, float]] = defaultdict(lambda: {"asset": 0.0, "checks": 0.0})
        for step, seconds in durations.items():
            # A multi-asset step (KLASS geography) is listed under the first asset it materialised.
            times[step_asset.get(step, step)][step_kind.get(step, "asset")] += seconds
        return dict(times)
    finally:
        instance.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-warehouse", type=Path,
                        help="build into this (new) folder and keep it, e.g. for analyst_queries.py")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()

    # The stand-in API server is test support (tests/standin.py), not part of the shipped package.
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from standin import StandinServer

    floor_wall, floor_peak, _ = min((measure([PYTHON, "-c", IMPORT_FLOOR]) for _ in range(2)), key=lambda m: m[0])
    with tempfile.TemporaryDirectory(prefix="ci-bench-build-") as folder, \
            StandinServer(REPO / "data" / "snapshots") as standin:
        root = Path(folder)
        home = root / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        warehouse = args.keep_warehouse.resolve() if args.keep_warehouse else root / "warehouse"
        if warehouse.exists() and any(warehouse.iterdir()):
            raise SystemExit(f"{warehouse} is not empty; a cold build needs an empty warehouse")
        env = {
            **os.environ, "CI_PIPELINE_MODE": "live", "CI_PIPELINE_WAREHOUSE": str(warehouse),
            "DAGSTER_HOME": str(home), "CI_PIPELINE_REQUESTS_PER_MINUTE": "100000",
            "SSB_BASE_URL": standin.base_urls["ssb"], "FHI_BASE_URL": standin.base_urls["fhi"],
            "KLASS_BASE_URL": standin.base_urls["klass"], "OSLO_STATBANK_BASE_URL": standin.base_urls["oslo"],
        }
        command = [PYTHON, "-m", "ci_pipeline.run"]
        cold_wall, cold_peak, _ = measure(command, env)
        # SSB's and FHI's data requests, and Oslo's statistics bank (POST on the table's .px path).
        cold_downloads = standin.count("*/data", "POST") + standin.count("oslo/*", "POST")
        versions_after_cold = version_count(warehouse)
        cold_assets = asset_times(home)
        standin.reset_counts()
        rerun_wall, rerun_peak, rerun_out = measure(command, env)
        results = {
            "import_floor": {"wall": floor_wall, "peak_mib": floor_peak},
            "cold_build": {"wall": cold_wall, "peak_mib": cold_peak, "data_requests": cold_downloads,
                           "versions": versions_after_cold},
            # Oslo's bank has no update stamp: a rerun fetches its tables and finds them unchanged by content.
            "rerun": {"wall": rerun_wall, "peak_mib": rerun_peak, "data_requests": standin.count("*/data", "POST"),
                      "oslo_refetches": standin.count("oslo/*", "POST"),
                      "requests": standin.count(), "new_versions": version_count(warehouse) - versions_after_cold,
                      "built": next((line.removeprefix("build step ran: ") for line in rerun_out.splitlines()
                                     if line.startswith("build step ran: ")), None)},
            "assets": cold_assets,
        }

    cold, rerun, floor = results["cold_build"], results["rerun"], results["import_floor"]
    print(f"import floor ({IMPORT_FLOOR}): {floor['wall']:.2f} s, peak {floor['peak_mib']:.0f} MiB")
    print(f"full cold build (live, local stand-in): {cold['wall']:.2f} s, peak {cold['peak_mib']:.0f} MiB, "
          f"{cold['wall'] / floor['wall']:.1f}x the import floor (aim <= 3x); {cold['data_requests']} data requests, "
          f"{cold['versions']} mart versions")
    print(f"no-change rerun: {rerun['wall']:.2f} s = {rerun['wall'] / cold['wall']:.2f}x the full build (aim <= 0.2); "
          f"{rerun['new_versions']} new versions, {rerun['data_requests']} data requests, "
          f"{rerun['oslo_refetches']} Oslo statbank tables fetched again with unchanged content, "
          f"{rerun['requests']} requests in all (update stamps, KLASS, Oslo); build step "
          f"{'ran, ' + rerun['built'] if rerun['built'] else 'skipped (inputs unchanged)'}")
    print("\nper-asset times of the cold build (s):")
    print(f"  {'asset':36s} {'asset':>7s} {'checks':>7s}")
    for asset, seconds in sorted(results["assets"].items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {asset:36s} {seconds['asset']:7.2f} {seconds['checks']:7.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
