"""`make bench`: run every benchmark script in benchmarks/ and print their headline figures as one table.

Each script runs as its own process (so one's imports and memory do not colour another's). The pipeline
build runs first and keeps its warehouse, which the analyst-query benchmark then queries; the other
scripts run with their defaults. A script's full output goes to stderr as it finishes; the table of
figures is printed to stdout at the end. A script that fails is named in the table with its exit code.

    .venv/bin/python benchmarks/run_all.py
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIRST = ["pipeline_build.py", "analyst_queries.py"]
# Not benchmarks: this runner, and a module two benchmarks import.
NOT_SCRIPTS = {"run_all.py", "build_turns.py"}
# The aim for the small build (issue 16): these steps each under a second on the embedded data.
UNDER_A_SECOND = {"core/observations", "marts/goal_progress", "reports/goal_report"}
JSONSTAT_AIMS = {"read_jsonstat": "<= 1.5x orjson", "read_jsonstat + to_tidy": "<= 3x orjson"}


def run(script: str, *args: str) -> tuple[int, str]:
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, str(HERE / script), *args], cwd=REPO, capture_output=True, text=True,
                               check=False)
    output = completed.stdout + (completed.stderr if completed.returncode else "")
    print(f"\n===== {script} ({time.perf_counter() - started:.0f} s, exit {completed.returncode}) =====\n{output}",
          file=sys.stderr, flush=True)
    return completed.returncode, completed.stdout


def pipeline_rows(results: dict) -> list[tuple[str, str, str]]:
    floor, cold, rerun = results["import_floor"], results["cold_build"], results["rerun"]
    built = f"ran ({rerun['built']})" if rerun["built"] else "skipped, inputs unchanged"
    rows = [
        ("import floor (dagster, pandas, duckdb, GX)", f"{floor['wall']:.1f} s, {floor['peak_mib']:.0f} MiB", ""),
        ("full cold build (live, local stand-in)", f"{cold['wall']:.1f} s, {cold['peak_mib']:.0f} MiB", ""),
        ("  ratio to the import floor", f"{cold['wall'] / floor['wall']:.1f}x", "<= 3x (compass 2x)"),
        ("no-change rerun", f"{rerun['wall']:.1f} s = {rerun['wall'] / cold['wall']:.2f}x the full build", "<= 0.2x"),
        ("  new versions / data downloads", f"{rerun['new_versions']} / {rerun['data_requests']}", "0 / 0"),
        ("  its build step", built, ""),
    ]
    for asset, seconds in sorted(results["assets"].items(), key=lambda kv: -sum(kv[1].values())):
        checks = f" + checks {seconds['checks']:.2f} s" if seconds["checks"] else ""
        aim = "< 1 s" if asset in UNDER_A_SECOND else ""
        rows.append((f"  asset {asset}", f"{seconds['asset']:.2f} s{checks}", aim))
    return rows


def scaling_rows(results: list[dict]) -> list[tuple[str, str, str]]:
    rows = [("scaling.py: synthetic SSB 07459, staging -> core -> indicator_values", "", "")]
    for r in results:
        millions = r["cells"] / 1e6
        state = "" if r["success"] else " (run FAILED)"
        rows.append((f"  {r['cells']:,} cells", f"{r['wall']:.1f} s = {r['wall'] / millions:.1f} s/M cells, peak "
                     f"{r['peak_mib']:.0f} MiB = {r['peak_mib'] / millions:.0f} MiB/M cells{state}",
                     "<= 1.5 GB" if r["millions"] == 3.4 else ""))
    by_size = {r["millions"]: r for r in results}
    if 1.0 in by_size and 3.4 in by_size:
        small, large = by_size[1.0], by_size[3.4]
        growth = (large["wall"] / large["cells"]) / (small["wall"] / small["cells"])
        rows.append(("  time per million cells, 3.4M / 1M", f"{growth:.2f}", "<= 1.2"))
    return rows


def query_rows(results: dict) -> list[tuple[str, str, str]]:
    return [
        (f"{results['queries']} analyst queries, median on catalog.duckdb", f"{results['catalog_median'] * 1000:.1f} ms", ""),
        ("  same queries over CSV exports", f"{results['csv_median'] * 1000:.1f} ms", ""),
        ("  ratio catalog / CSV", f"{results['ratio']:.2f}", "< 1"),
        ("  queries whose results differ between the two", str(results["differing_results"]), "0"),
    ]


def headline_rows(script: str, stdout: str) -> list[tuple[str, str, str]]:
    """The lines of another script's output that state a ratio (and its JSON-stat reader rows)."""
    rows = []
    in_jsonstat_table = False
    for line in stdout.splitlines():
        text = line.strip()
        if "pyjstat/x" in text:
            in_jsonstat_table = True
        elif in_jsonstat_table and text.startswith("read_jsonstat"):
            # columns: step, best s, pyjstat/x, x/orjson, x/json, peak MB
            name, figures = re.split(r"\s{2,}", text, maxsplit=1)
            seconds, pyjstat, orjson, _, peak = figures.split()
            rows.append((f"  {name}", f"{seconds} s, {orjson}x orjson, pyjstat {pyjstat}x slower, peak +{peak} MB",
                         JSONSTAT_AIMS.get(name, "")))
        elif "ratio" in text.lower():
            label, _, value = text.partition(":")
            rows.append((f"  {label.strip()}", value.strip(), ""))
    return [(script, "", "")] + (rows or [("  (no ratio found in its output)", "", "")])


def main() -> int:
    scripts = FIRST + sorted(p.name for p in HERE.glob("*.py") if p.name not in FIRST and p.name not in NOT_SCRIPTS)
    rows: list[tuple[str, str, str]] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ci-bench-all-") as folder:
        work = Path(folder)
        warehouse = work / "warehouse"
        for script in scripts:
            if script == "pipeline_build.py":
                args = ["--keep-warehouse", str(warehouse), "--json", str(work / "build.json")]
            elif script == "analyst_queries.py":
                args = ["--json", str(work / "queries.json")] + (["--warehouse", str(warehouse)] if warehouse.exists() else [])
            elif script == "scaling.py":
                args = ["--json", str(work / "scaling.json")]
            else:
                args = []
            code, stdout = run(script, *args)
            if code != 0:
                failed += 1
                rows.append((script, f"FAILED (exit {code}); its output is above", ""))
            elif script == "pipeline_build.py":
                rows += pipeline_rows(json.loads((work / "build.json").read_text()))
            elif script == "analyst_queries.py":
                rows += query_rows(json.loads((work / "queries.json").read_text()))
            elif script == "scaling.py":
                rows += scaling_rows(json.loads((work / "scaling.json").read_text()))
            else:
                rows += headline_rows(script, stdout)

    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\nmake bench on {platform.node()}: {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"{'measure':{width}s}  {'value':{value_width}s}  aim")
    print(f"{'-' * width}  {'-' * value_width}  ----")
    for label, value, aim in rows:
        print(f"{label:{width}s}  {value:{value_width}s}  {aim}".rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
