"""Benchmark: how time and memory grow with the size of a table, through staging -> core -> indicator_values.

    .venv/bin/python benchmarks/scaling.py [--sizes 0.1 1 3.4] [--json FILE]

For each size (millions of cells) a synthetic SSB 07459 ("Befolkning, etter region, kjønn og ettårig
alder") is made in the real table's shape: Region (the country, counties, municipalities and the districts
of Oslo, Bergen, Trondheim and Stavanger, with today's KLASS codes), Kjonn 1/2, Alder 000-104 and 105+,
ContentsCode Personer1, Tid 1986-2025; a municipality with districts holds the sum of its districts, and
one cell in a thousand is suppressed (":"). 3.4M cells is the issue's measurement (401 regions x 106 ages
x 2 sexes x 40 years = 3,400,480 cells).

The table is served over HTTP on 127.0.0.1 by a small generator (tables/07459, its /metadata and /data
for any selection) and fetched once in record mode, through the pipeline's own SSB client (so the
answers are split at SSB's 800,000-cell limit exactly as in production) into a copy of the embedded
snapshot archive. A fresh process then runs the pipeline in replay mode on that archive, with the
catalogue's ssb_07459 entry selecting the whole table: every raw and staging asset, the KLASS geography,
core/observations and marts/indicator_values, with their checks. Printed for each size: wall seconds and
peak resident memory of that process (wait4's ru_maxrss), both per million cells, the slowest steps, and
the growth ratios between sizes (time per million cells at 3.4M over 1M: aim at most 1.2; peak RSS at
3.4M: aim at most 1.5 GB). Each size is one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

from pipeline_build import asset_times, measure

TABLE = "07459"
UPDATED = "2025-02-20T07:00:00Z"
SEXES = ["1", "2"]
AGES = [f"{age:03d}" for age in range(105)] + ["105+"]
YEARS = [str(year) for year in range(1986, 2026)]
CELLS_PER_REGION = len(SEXES) * len(AGES) * len(YEARS)
# Municipalities whose districts the table holds (KLASS 103), smallest first so a small table has whole cities.
CITIES = ["5001", "4601", "1103", "0301"]
PEAK_AIM_MIB = 1.5 * 1024
GROWTH_AIM = 1.2


# ------------------------------------------------------------------------------------- the synthetic table


def region_codes(count: int) -> dict[str, int | None]:
    """`count` of today's region codes: the country, whole cities (municipality and its districts), the
    counties, then other municipalities; each district with the year it starts (KLASS valid_from)."""
    from ci_pipeline.geography.load import load_klass_geography
    from ci_pipeline.geography.regions import build_regions
    from ci_pipeline.ingest import HostThrottles, make_clients
    from ci_pipeline.settings import Settings

    clients = make_clients(Settings(), HostThrottles())
    regions = build_regions(load_klass_geography(clients.klass.http))
    current = regions[regions["valid_to"].isna()]
    codes: dict[str, int | None] = {"0": None}
    for city in CITIES:
        districts = current[(current["level"] == "district") & (current["parent_code"] == city)]
        codes[city] = None
        codes.update({code: int(start[:4]) for code, start in sorted(zip(districts["code"], districts["valid_from"]))})
    codes.update({code: None for code in sorted(current[current["level"] == "county"]["code"])})
    codes.update({code: None for code in sorted(current[current["level"] == "municipality"]["code"])
                  if code not in CITIES})
    if count > len(codes):
        raise SystemExit(f"{count} regions asked for; KLASS has {len(codes)} current ones")
    return dict(list(codes.items())[:count])


class SyntheticTable:
    """Every cell of the table, in JSON-stat row-major order over (Region, Kjonn, Alder, ContentsCode, Tid).

    As SSB does, a district's years before it existed are "." (cannot occur); one cell in a thousand is
    suppressed (":")."""

    def __init__(self, regions: dict[str, int | None], seed: int = 16):
        self.regions = list(regions)
        rng = np.random.default_rng(seed)
        shape = (len(regions), len(SEXES), len(AGES), 1, len(YEARS))
        values = rng.integers(0, 3000, shape).astype(np.float64)
        position = {code: i for i, code in enumerate(regions)}
        status = np.where(rng.random(shape) < 0.001, ":", "")
        years = np.array([int(year) for year in YEARS])
        for code, start in regions.items():
            if start is not None:
                values[position[code], ..., years < start] = 0
                status[position[code], ..., years < start] = "."
        for city in CITIES:
            districts = [i for code, i in position.items() if len(code) == 6 and code.startswith(city)]
            if city in position and districts:
                values[position[city]] = values[districts].sum(axis=0)
        self.values = np.where(status == "", values, np.nan)
        self.status = status

    def dimension_codes(self) -> dict[str, list[str]]:
        return {"Region": self.regions, "Kjonn": SEXES, "Alder": AGES, "ContentsCode": ["Personer1"], "Tid": YEARS}

    def document(self, selected: dict[str, list[str]] | None) -> dict[str, Any]:
        """The JSON-stat 2.0 answer for a selection (None: the /metadata answer, without cells)."""
        all_codes = self.dimension_codes()
        codes = {dim: selected.get(dim, all_codes[dim]) if selected else all_codes[dim] for dim in all_codes}
        dimension = {
            dim: {"label": dim, "category": {
                "index": {code: i for i, code in enumerate(dim_codes)},
                "label": {code: f"{dim} {code}" for code in dim_codes},
                **({"unit": {"Personer1": {"base": "personer", "decimals": 0}}} if dim == "ContentsCode" else {}),
            }, "extension": {"elimination": dim in ("Kjonn", "Alder")}}
            for dim, dim_codes in codes.items()
        }
        document: dict[str, Any] = {
            "version": "2.0", "class": "dataset", "label": f"{TABLE}: Befolkning (synthetic)",
            "source": "Statistisk sentralbyrå", "updated": UPDATED,
            "role": {"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]},
            "id": list(codes), "size": [len(c) for c in codes.values()], "dimension": dimension,
            "extension": {"px": {"tableid": TABLE, "decimals": 0}},
        }
        if selected is None:
            return document
        index = np.ix_(*[[all_codes[dim].index(code) for code in dim_codes] for dim, dim_codes in codes.items()])
        values = self.values[index].ravel()
        status = self.status[index].ravel()
        document["value"] = [None if np.isnan(v) else int(v) for v in values.tolist()]
        document["status"] = {str(cell): status[cell] for cell in np.flatnonzero(status != "").tolist()}
        return document


def serve(table: SyntheticTable) -> ThreadingHTTPServer:
    """PxWebApi v2 for one table on 127.0.0.1: tables/{id}, tables/{id}/metadata, POST tables/{id}/data."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, document: dict) -> None:
            body = orjson.dumps(document)
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            if path.endswith(f"tables/{TABLE}"):
                self._answer({"id": TABLE, "label": "Befolkning (synthetic)", "updated": UPDATED,
                              "firstPeriod": YEARS[0], "lastPeriod": YEARS[-1],
                              "variableNames": ["region", "kjønn", "alder", "statistikkvariabel", "år"]})
            elif path.endswith(f"tables/{TABLE}/metadata"):
                self._answer(table.document(None))
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            request = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._answer(table.document({item["variableCode"]: item["valueCodes"] for item in request["selection"]}))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def prepare(root: Path, region_count: int) -> dict[str, str]:
    """A catalogue, checks and snapshot archive under `root` holding the synthetic table; the environment
    of a replay run on them."""
    from ci_pipeline.catalogue import load_catalogue
    from ci_pipeline.ingest import HostThrottles, SourceState, fetch_table, make_clients
    from ci_pipeline.settings import Settings

    table = SyntheticTable(region_codes(region_count))
    catalogue, snapshots = root / "assets", root / "snapshots"
    shutil.copytree(REPO / "assets", catalogue)
    shutil.copytree(REPO / "data" / "snapshots", snapshots, ignore=lambda folder, _: [TABLE] if folder.endswith("ssb") else [])
    entry = yaml.safe_load((catalogue / "sources" / "ssb" / "ssb_07459.yaml").read_text(encoding="utf-8"))
    entry["selection"] = [{"variable": dim, "values": codes} for dim, codes in table.dimension_codes().items()]
    entry["dimensions"] = {"region": "Region", "period": "Tid", "sex": "Kjonn", "age": "Alder",
                           "indicator": "ContentsCode"}
    entry["sex_codes"] = {"1": "male", "2": "female"}
    entry["snapshot_provenance"] = "illustrative"
    (catalogue / "sources" / "ssb" / "ssb_07459.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True),
                                                                  encoding="utf-8")
    server = serve(table)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        settings = Settings(catalogue_root=catalogue, snapshot_root=snapshots, warehouse_root=root / "recording",
                            mode="record", ssb_base_url=base, requests_per_minute=100000)
        (spec,) = [s for s in load_catalogue(catalogue) if s.name == "ssb_07459"]
        fetched = fetch_table(spec, make_clients(settings, HostThrottles()), SourceState(root / "recording" / "state"))
    finally:
        server.shutdown()
    print(f"  {len(table.values.ravel()):,} cells in {len(fetched.responses)} answer(s) of at most 800,000 cells",
          file=sys.stderr)
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return {**os.environ, "CI_PIPELINE_MODE": "replay", "CI_PIPELINE_CATALOGUE": str(catalogue),
            "CI_PIPELINE_SNAPSHOTS": str(snapshots), "CI_PIPELINE_WAREHOUSE": str(root / "warehouse"),
            "DAGSTER_HOME": str(home)}


# ------------------------------------------------------------------------------------ the measured process


def build_in_this_process() -> None:
    """Materialise raw/*, staging/*, the geography, core/observations and marts/indicator_values (with
    their checks) in one run, as `make run`'s build does."""
    from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, execute_job, reconstructable

    from ci_pipeline.definitions import defs, pipeline_job_from_environment
    from ci_pipeline.run import QUIET

    keys = [key for key in defs.resolve_all_asset_keys()
            if key.path[0] in ("raw", "staging", "geography")
            or key in (AssetKey(["core", "observations"]), AssetKey(["marts", "indicator_values"]))]
    instance = DagsterInstance.get()
    # As `make run` does: a launched run of the environment's job, steps in this process, no output kept.
    result = execute_job(reconstructable(pipeline_job_from_environment), instance, run_config=QUIET,
                         asset_selection=keys)
    failed = [event.step_key for event in result.all_events if event.is_step_failure]
    checks = [event.asset_check_evaluation_data for event in result.all_events
              if event.event_type_value == "ASSET_CHECK_EVALUATION"]
    blocking = [c for c in checks if not c.passed and c.severity == AssetCheckSeverity.ERROR]
    print(json.dumps({"success": result.success, "failed_steps": failed,
                      "checks_failed": sorted(f"{c.check_name} on {c.asset_key.to_user_string()}: "
                                              f"{c.description}"
                                              for c in blocking)}, default=str))
    instance.dispose()


# ------------------------------------------------------------------------------------------------- main


def run_size(millions: float, keep: Path | None = None) -> dict[str, Any]:
    regions = max(1, round(millions * 1e6 / CELLS_PER_REGION))
    cells = regions * CELLS_PER_REGION
    print(f"\n{millions}M: {regions} regions x {len(SEXES)} sexes x {len(AGES)} ages x {len(YEARS)} years",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ci-bench-scaling-") as folder:
        root = Path(folder)
        env = prepare(root, regions)
        wall, peak_mib, out = measure([sys.executable, __file__, "--build-in-this-process"], env)
        outcome = json.loads(out.strip().splitlines()[-1])
        steps = asset_times(root / "dagster_home")
        if keep is not None:
            shutil.copytree(root, keep / f"{millions}M")
    return {"millions": millions, "cells": cells, "wall": wall, "peak_mib": peak_mib, "steps": steps, **outcome}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.1, 1.0, 3.4], help="millions of cells")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", type=Path, help="keep each size's catalogue, archive and warehouse here")
    parser.add_argument("--build-in-this-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_in_this_process:
        build_in_this_process()
        return 0

    results = [run_size(size, args.keep) for size in args.sizes]
    print(f"{'cells':>10s} {'wall s':>8s} {'s/M cells':>10s} {'peak MiB':>9s} {'MiB/M cells':>12s}  slowest steps (s)")
    for r in results:
        per_million = r["cells"] / 1e6
        slowest = sorted(r["steps"].items(), key=lambda kv: -sum(kv[1].values()))[:3]
        steps = ", ".join(f"{name} {s['asset']:.1f}+{s['checks']:.1f}" for name, s in slowest)
        print(f"{r['cells']:>10,d} {r['wall']:8.1f} {r['wall'] / per_million:10.1f} {r['peak_mib']:9.0f} "
              f"{r['peak_mib'] / per_million:12.0f}  {steps}")
        if not r["success"]:
            print(f"{'':10s} run FAILED: steps {r['failed_steps']}")
        if r["checks_failed"]:
            print(f"{'':10s} failed checks: {', '.join(r['checks_failed'])}")
    by_size = {r["millions"]: r for r in results}
    for small, large in itertools.pairwise(results):
        growth = (large["wall"] / large["cells"]) / (small["wall"] / small["cells"])
        aim = f" (aim <= {GROWTH_AIM})" if (small["millions"], large["millions"]) == (1.0, 3.4) else ""
        print(f"ratio time per million cells {large['millions']}M / {small['millions']}M: {growth:.2f}{aim}")
    if 3.4 in by_size:
        peak = by_size[3.4]["peak_mib"]
        print(f"ratio peak RSS at 3.4M cells / 1.5 GB aim: {peak / PEAK_AIM_MIB:.2f} ({peak:.0f} MiB; aim <= 1)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["success"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
