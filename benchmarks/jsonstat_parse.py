"""Benchmark: the JSON-stat 2.0 reader against pyjstat and a bare JSON parse, on an SSB-sized response.

Builds one realistic response at the SSB limit (~800,000 cells: Region 99 x Alder 106 x Kjonn 2 x Tid 38,
one ContentsCode, suppressed cells as null + status ":" and "..", provisional "*" cells that keep their
value) and prints, measured in the same run, the best time of several repeats of

    orjson.loads, json.loads, read_jsonstat, read_jsonstat + to_tidy,
    pyjstat Dataset.read().write('dataframe')

as ratios, and the peak memory of each: how far the resident set grows above the loaded response, measured
in a fresh subprocess per step (VmHWM; unlike tracemalloc it also sees Arrow's and numpy's
allocations). Run: .venv/bin/python benchmarks/jsonstat_parse.py [--repeats 5] [--pyjstat-repeats 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pyjstat import pyjstat

from ci_pipeline.catalogue import TableSpec
from ci_pipeline.jsonstat import read_jsonstat
from ci_pipeline.tidy import to_tidy

COUNTIES = (3, 11, 15, 18, 31, 32, 33, 34, 39, 40, 42, 46, 50, 55, 56)
REGIONS = ["0"] + [f"{county:02d}" for county in COUNTIES] + ["0301", "1103", "4601", "5001"] \
    + [f"0301{district:02d}" for district in range(1, 18)] \
    + [f"{municipality:04d}" for municipality in range(3101, 3163)]
AGES = [f"{age:03d}" for age in range(105)] + ["105+"]
SEXES = ["1", "2"]
YEARS = [str(year) for year in range(1986, 2024)]


def build_response(seed: int = 1) -> bytes:
    """One JSON-stat 2.0 population response in SSB's v2 layout."""
    regions = REGIONS[:99]
    sizes = [len(regions), len(AGES), len(SEXES), len(YEARS), 1]
    cells = int(np.prod(sizes))
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6000, cells)
    values: list[Any] = counts.tolist()
    status: dict[str, str] = {}
    for cell in rng.choice(cells, 4000, replace=False).tolist():
        values[cell] = None
        status[str(cell)] = ":"
    for cell in rng.choice(cells, 1000, replace=False).tolist():
        if values[cell] is not None:
            values[cell] = None
            status[str(cell)] = ".."
    for cell in range(len(YEARS) - 1, cells, len(YEARS) * 50):
        if values[cell] is not None:
            status[str(cell)] = "*"

    def category(codes: list[str], unit: dict | None = None) -> dict:
        body: dict[str, Any] = {"index": {code: i for i, code in enumerate(codes)},
                                "label": {code: f"label {code}" for code in codes}}
        if unit:
            body["unit"] = unit
        return {"label": "dimension", "category": body, "extension": {"elimination": False, "show": "value"}}

    document = {
        "version": "2.0", "class": "dataset", "label": "07459: Befolkning (benchmark)",
        "source": "Statistisk sentralbyrå", "updated": "2025-02-20T07:00:00Z",
        "role": {"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]},
        "id": ["Region", "Alder", "Kjonn", "Tid", "ContentsCode"], "size": sizes,
        "dimension": {
            "Region": category(regions), "Alder": category(AGES), "Kjonn": category(SEXES),
            "Tid": category(YEARS),
            "ContentsCode": category(["Personer1"], {"Personer1": {"base": "personer", "decimals": 0}}),
        },
        "extension": {"px": {"tableid": "07459", "decimals": 0}},
        "value": values, "status": status,
    }
    return orjson.dumps(document)


SPEC = TableSpec(
    source="ssb", name="ssb_07459", table_id="07459", title="Befolkning", description="benchmark",
    group="population",
    dimensions={"region": "Region", "period": "Tid", "sex": "Kjonn", "age": "Alder",
                "indicator": "ContentsCode"},
    indicators={"Personer1": {"indicator_id": "population", "unit": "persons"}},
    sex_codes={"1": "male", "2": "female"},
)


def read_and_tidy(body: bytes):
    return to_tidy(read_jsonstat(body), SPEC, provenance="illustrative", snapshot_sha256="0" * 64,
                   retrieved_at="2025-02-21T00:00:00.000000Z", source_updated="2025-02-20T07:00:00Z")


def best_time(function: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def cases(body: bytes, repeats: int, pyjstat_repeats: int) -> list[tuple[str, Callable[[], Any], int]]:
    text = body.decode()
    return [
        ("orjson.loads", lambda: orjson.loads(body), repeats),
        ("json.loads", lambda: json.loads(body), repeats),
        ("read_jsonstat", lambda: read_jsonstat(body), repeats),
        ("read_jsonstat + to_tidy", lambda: read_and_tidy(body), repeats),
        ("pyjstat read+write('dataframe')",
         lambda: pyjstat.Dataset.read(text).write("dataframe", naming="id"), pyjstat_repeats),
    ]


def peak_resident_kib() -> int:
    """The process's peak resident set. VmHWM belongs to this program image, whereas ru_maxrss of a
    child process starts from its parent's peak (Linux keeps it across fork and exec)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory_child(body_path: Path, step: str) -> None:
    """Run one step once in this (fresh) process and print the growth of its peak resident set."""
    body = body_path.read_bytes()
    (function,) = [function for name, function, _ in cases(body, 1, 1) if name == step]
    gc.collect()
    before = peak_resident_kib()
    function()
    print(peak_resident_kib() - before)


def peak_memory(body_path: Path, step: str) -> float:
    """Peak memory of one step in MB, from a fresh interpreter."""
    answer = subprocess.run([sys.executable, __file__, "--peak-memory-of", step, "--body", str(body_path)],
                            check=True, capture_output=True, text=True)
    return int(answer.stdout.strip()) * 1024 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pyjstat-repeats", type=int, default=2)
    parser.add_argument("--peak-memory-of", help=argparse.SUPPRESS)
    parser.add_argument("--body", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_memory_of:
        peak_memory_child(args.body, args.peak_memory_of)
        return

    body = build_response()
    table = read_jsonstat(body)
    tidy = read_and_tidy(body)
    print(f"response: {len(body) / 1e6:.1f} MB, {len(table.frame):,} cells {table.sizes}, "
          f"{int(table.frame['status'].notna().sum()):,} with status; tidy rows: {len(tidy):,}")
    del table, tidy

    steps = cases(body, args.repeats, args.pyjstat_repeats)
    times = {name: best_time(function, repeats) for name, function, repeats in steps}
    with tempfile.TemporaryDirectory() as folder:
        body_path = Path(folder) / "response.json"
        body_path.write_bytes(body)
        peaks = {name: peak_memory(body_path, name) for name, _, _ in steps}

    pyjstat_time = times["pyjstat read+write('dataframe')"]
    orjson_time = times["orjson.loads"]
    json_time = times["json.loads"]
    print(f"\n{'step':34s} {'best s':>8s} {'pyjstat/x':>10s} {'x/orjson':>9s} {'x/json':>7s} {'peak MB':>8s}")
    for name, seconds in times.items():
        print(f"{name:34s} {seconds:8.3f} {pyjstat_time / seconds:10.1f} {seconds / orjson_time:9.2f} "
              f"{seconds / json_time:7.2f} {peaks[name]:8.0f}")
    print(f"\n(best of {args.repeats} repeats, pyjstat best of {args.pyjstat_repeats}; peak MB = growth of "
          "the peak resident set above the loaded response, one fresh process per step)")


if __name__ == "__main__":
    main()
