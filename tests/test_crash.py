"""Crash safety of publishing: the publish step killed with SIGKILL at random points, many times.

releases/<mart> publishes through MartStore.publish (repair what an earlier kill left, write the version
into _staging, rename it into place, verify, replace LATEST, journal it, rebuild catalog.duckdb). Here a
child process runs exactly that for two marts and is killed, in a loop with a fixed seed, either

- at the k-th executed line of the ci_pipeline/marts package (k drawn from the seeded generator over every line a
  publish executes, so every step boundary is hit without depending on timing), or
- by the parent, after a seeded random share of a publish's duration (to land inside a write as well).

After each kill: every mart's LATEST names a complete version whose manifest hashes match its Parquet
file and content, the catalogue opens and reads, and the next publish completes and is LATEST.
The children fork from a forkserver that has imported the mart store once, so a child starts in
milliseconds; none of the assertions depends on where a timed kill lands.
"""

from __future__ import annotations

import multiprocessing
import random
import runpy
import signal
import time
from pathlib import Path

import pytest
from support import dagster_home

from ci_pipeline import catalog
from ci_pipeline.marts import STAGING_DIR, MartStore, content_sha256

pytestmark = pytest.mark.slow  # crash loops: publishes and the whole pipeline killed and recovered

SEED = 20240611
ITERATIONS = 30
TIMED_KILL_SHARE = 0.25
MARTS = ("indicator_values", "regions")

# What a child runs (written to a file and run with runpy, so the forkserver can start it by reference).
CHILD = '''
import os, signal, sys

import numpy as np
import pandas as pd

from ci_pipeline import marts


def make_frame(mart, iteration):
    """A mart-shaped frame whose content differs per iteration (so every publish writes a version)."""
    rng = np.random.default_rng(iteration)
    rows = 20_000 if mart == "indicator_values" else 600
    suppressed = rng.random(rows) < 0.05
    return pd.DataFrame({
        "region_code": [f"0301{i % 17:02d}" for i in range(rows)],
        "period": [str(2000 + i % 25) for i in range(rows)],
        "value": np.where(suppressed, np.nan, rng.normal(100, 15, rows)),
        "status": pd.array(np.where(suppressed, "..", None), dtype="str"),
        "iteration": iteration,
    })


def publish_all():
    store = marts.MartStore(warehouse)
    for mart in mart_names:
        store.publish(mart, make_frame(mart, iteration))


executed = 0
if kill_at_line is not None:

    def on_line(frame, event, arg):
        global executed
        if event == "line":
            executed += 1
            if executed == kill_at_line:
                os.kill(os.getpid(), signal.SIGKILL)
        return on_line

    def on_call(frame, event, arg):
        return on_line if frame.f_code.co_filename.startswith(os.path.dirname(marts.__file__)) else None

    sys.settrace(on_call)
if started is not None:
    started.set()
publish_all()
sys.settrace(None)
if count_lines is not None:
    count_lines.value = executed
'''


@pytest.fixture(scope="module")
def context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["ci_pipeline.marts", "pandas", "numpy"])
    return ctx


class Publisher:
    def __init__(self, ctx, warehouse: Path, script: Path):
        self.ctx = ctx
        self.warehouse = warehouse
        self.script = script

    def start(self, iteration: int, *, kill_at_line: int | None = None, started=None, count_lines=None):
        init = {"warehouse": str(self.warehouse), "mart_names": MARTS, "iteration": iteration,
                "kill_at_line": kill_at_line, "started": started,
                "count_lines": count_lines}
        process = self.ctx.Process(target=runpy.run_path, args=(str(self.script),), kwargs={"init_globals": init})
        process.start()
        return process

    def run(self, iteration: int, **options) -> int:
        process = self.start(iteration, **options)
        process.join(60)
        return process.exitcode


def assert_consistent(store: MartStore, where: str) -> None:
    for mart in MARTS:
        version = store.latest_version(mart)
        assert version is not None, f"{where}: {mart} lost its LATEST"
        assert version in store.versions(mart), f"{where}: {mart} LATEST names {version}, not a complete version"
        store.verify(mart, version)
    con = catalog.connect(store.root)
    try:
        for mart in MARTS:
            assert con.execute(f'SELECT count(*) FROM "{mart}"').fetchone()[0] > 0, f"{where}: catalogue view {mart}"
    finally:
        con.close()


def test_sigkill_at_random_points_of_a_publish_never_breaks_latest(context, tmp_path):
    script = tmp_path / "publish_child.py"
    script.write_text(CHILD, encoding="utf-8")
    publisher = Publisher(context, tmp_path / "warehouse", script)
    store = MartStore(tmp_path / "warehouse")

    # A first, uninterrupted publish: every mart has a LATEST, and we learn how many lines a publish of a
    # changed version executes (the upper bound for the kill points) and roughly how long it takes.
    assert publisher.run(0) == 0
    lines = context.Value("i", 0)
    started_at = time.perf_counter()
    assert publisher.run(1, kill_at_line=10**9, count_lines=lines) == 0
    publish_seconds = time.perf_counter() - started_at
    assert lines.value > 50
    assert_consistent(store, "before the loop")

    rng = random.Random(SEED)
    killed = 0
    for iteration in range(2, 2 + ITERATIONS):
        before = {mart: store.versions(mart) for mart in MARTS}
        if rng.random() < TIMED_KILL_SHARE:
            started = context.Event()
            process = publisher.start(iteration, started=started)
            assert started.wait(30)
            time.sleep(rng.uniform(0, publish_seconds))
            process.kill()
            process.join(30)
            where = f"iteration {iteration}, killed by the parent"
            exitcode = process.exitcode
        else:
            kill_at = rng.randint(1, lines.value)
            exitcode = publisher.run(iteration, kill_at_line=kill_at)
            where = f"iteration {iteration}, killed at line event {kill_at}"
        killed += exitcode == -signal.SIGKILL
        assert exitcode in (0, -signal.SIGKILL), f"{where}: exit code {exitcode}"
        assert_consistent(store, where)
        for mart in MARTS:  # no published version is ever lost or changed
            assert set(before[mart]) <= set(store.versions(mart)), f"{where}: {mart} lost a version"

        # The next publish completes, whatever the crash left behind (staging folders, temporary files).
        assert publisher.run(iteration) == 0, f"{where}: the next publish failed"
        assert_consistent(store, f"{where}, next publish")
        for mart in MARTS:
            manifest = store.latest_manifest(mart)
            assert manifest["content_sha256"] == content_sha256(store.read(mart)), where
            assert int(store.read(mart)["iteration"].iloc[0]) == iteration, f"{where}: {mart} is not the new content"
    # Line-event kills are deterministic for the seed; nearly every iteration must really have crashed.
    assert killed >= ITERATIONS * 0.6, f"only {killed} of {ITERATIONS} publishes were killed"
    for mart in MARTS:
        for version in store.versions(mart):
            store.verify(mart, version)
        leftovers = list((store.mart_dir(mart) / STAGING_DIR).glob("*"))
        assert leftovers == [], f"{mart}: abandoned staging folders are cleared by the next publish"
        folders = sorted(p.name.split("=", 1)[1] for p in store.mart_dir(mart).glob("version=*"))
        assert folders == store.versions(mart), f"{mart}: unpublished version folders are cleared too"
    temporary = [p.name for p in store.root.rglob(".*")]
    assert temporary == [], "temporary files of killed writes and catalogue refreshes are removed"


PIPELINE_CHILD = '''
import os, signal, sys

from ci_pipeline import marts, run

kill_at = int(sys.argv[1])
promoted = 0


def kill_at_the_nth_promotion(boundary, mart):
    global promoted
    if boundary == "renamed":
        promoted += 1
        if promoted == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


marts.set_boundary_hook(kill_at_the_nth_promotion)
sys.exit(run.main())
'''


def test_the_whole_pipeline_killed_during_its_publishes_recovers_on_the_next_run(tmp_path):
    """`make run` itself, SIGKILLed when its 4th mart's version folder has been renamed into place but is
    not yet named by LATEST (three marts published): the published marts stay complete, and the next
    run completes, publishes every mart and leaves no abandoned version folder behind."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    home = dagster_home(tmp_path / "dagster_home")
    env = {**os.environ, "CI_PIPELINE_WAREHOUSE": str(tmp_path / "warehouse"), "CI_PIPELINE_MODE": "replay",
           "DAGSTER_HOME": str(home)}
    killed = subprocess.run([sys.executable, "-c", PIPELINE_CHILD, "4"], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    store = MartStore(tmp_path / "warehouse")
    published = store.marts()
    assert len(published) == 3
    for mart in published:
        store.verify(mart, store.latest_version(mart))
    leftovers = [p for p in store.marts_root.glob("*/version=*")
                 if p.name.split("=", 1)[1] not in store.versions(p.parent.name)]
    assert len(leftovers) == 1, "the fourth mart's version folder was renamed into place, never named LATEST"

    rerun = subprocess.run([sys.executable, "-m", "ci_pipeline.run"], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len(store.marts()) == 9
    for mart in store.marts():
        store.verify(mart, store.latest_version(mart))
        folders = sorted(p.name.split("=", 1)[1] for p in store.mart_dir(mart).glob("version=*"))
        assert folders == store.versions(mart), f"{mart}: an abandoned version folder was left behind"
    con = catalog.connect(store.root)
    try:
        assert con.execute("SELECT count(*) FROM indicator_values").fetchone()[0] > 0
    finally:
        con.close()
