"""The deployment path on real servers: Dagster's instance in PostgreSQL (deploy/dagster.yaml), steps in
processes of their own (CI_PIPELINE_EXECUTOR=multiprocess), and API hosts that never see more than the
configured requests a minute.

One run does it all, as `make run` does it in a deployment: `python -m ci_pipeline.run` in a fresh
process, with DAGSTER_HOME holding deploy/dagster.yaml and its DAGSTER_PG_* variables pointing at the
PostgreSQL server the `postgres` fixture started (tests/pgserver.py: initdb into a temporary folder, an
unprivileged user, a free loopback port; stopped and removed at the end of the session). Live mode
against three stand-in servers (tests/standin.py, threads of this process), one per API host as in
reality: SSB and KLASS share one, FHI and Oslo's statistics bank have one each. It ingests the three survey waves (one partition
each), refreshes every source and builds, audits and publishes every mart.

Then the tests read PostgreSQL's tables: the run history, every asset check's result, the pool limits,
the request windows; and the stand-ins' own record of when each request arrived, checked over every
sliding minute. SSB's and FHI's hosts get more requests than their limit in a minute, so the run has to wait; nothing
here asserts how long anything took.
"""

from __future__ import annotations

import bisect
import os
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, EventLogEntry
from dagster._serdes import deserialize_value
from pgserver import deployed_home, deployment_env
from standin import FaultPlan, StandinServer
from test_live_e2e import LIVE_ONLY_COLUMNS, assert_same_marts

from ci_pipeline.definitions import build_definitions
from ci_pipeline.defs.resources import WINDOW_KEY_PREFIX, api_pool
from ci_pipeline.marts import MartStore
from ci_pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "data" / "snapshots"
REQUESTS_PER_MINUTE = 20
RUN_TIMEOUT_SECONDS = 540


@dataclass
class DeploymentRun:
    home: Path
    warehouse: Path
    env: dict[str, str]
    db: str
    completed: subprocess.CompletedProcess
    hosts: dict[str, StandinServer]  # pool name -> the stand-in serving that host

    @property
    def output(self) -> str:
        return self.completed.stdout + self.completed.stderr


@pytest.fixture(scope="module")
def deployment(postgres, tmp_path_factory) -> DeploymentRun:
    root = tmp_path_factory.mktemp("deployment")
    db = postgres.create_database("pipeline")
    home, warehouse = deployed_home(root), root / "warehouse"
    with StandinServer(SNAPSHOTS, faults=FaultPlan(retry_after="0")) as ssb_host, \
            StandinServer(SNAPSHOTS, faults=FaultPlan(retry_after="0")) as fhi_host, \
            StandinServer(SNAPSHOTS, faults=FaultPlan(retry_after="0")) as oslo_host:
        env = deployment_env(
            home, warehouse, postgres.env(db),
            CI_PIPELINE_MODE="live", CI_PIPELINE_EXECUTOR="multiprocess",
            SSB_BASE_URL=ssb_host.base_urls["ssb"], KLASS_BASE_URL=ssb_host.base_urls["klass"],
            FHI_BASE_URL=fhi_host.base_urls["fhi"], OSLO_STATBANK_BASE_URL=oslo_host.base_urls["oslo"],
            CI_PIPELINE_REQUESTS_PER_MINUTE=str(REQUESTS_PER_MINUTE), CI_PIPELINE_HTTP_BACKOFF_BASE="0.001",
        )
        completed = subprocess.run([sys.executable, "-m", "ci_pipeline.run"], env=env, cwd=REPO, capture_output=True,
                                   text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
    return DeploymentRun(home, warehouse, env, db, completed,
                         {api_pool("ssb"): ssb_host, api_pool("fhi"): fhi_host, api_pool("oslo"): oslo_host})


def settings_of(run: DeploymentRun) -> Settings:
    return Settings.from_env(run.env)


@pytest.mark.slow
def test_the_deployed_run_publishes_what_the_embedded_run_publishes(deployment, pipeline_run):
    assert deployment.completed.returncode == 0, deployment.output
    for mart in MartStore(pipeline_run.settings.warehouse_root).marts():
        assert f"mart {mart}: published new version" in deployment.completed.stdout
    assert_same_marts(MartStore(deployment.warehouse), MartStore(pipeline_run.settings.warehouse_root),
                      LIVE_ONLY_COLUMNS)


@pytest.mark.slow
def test_the_run_history_is_in_postgres_and_nothing_in_sqlite(deployment, postgres):
    assert deployment.completed.returncode == 0, deployment.output
    runs = Counter(postgres.execute(deployment.db, "SELECT pipeline_name, status FROM runs"))
    # One run per survey wave, then pipeline_job twice: the source refresh and the build.
    assert runs == {("survey_ingest_job", "SUCCESS"): 3, ("pipeline_job", "SUCCESS"): 2}
    partitions = postgres.execute(deployment.db, "SELECT partition FROM dynamic_partitions ORDER BY partition")
    assert [p for (p,) in partitions] == ["2024-autumn", "2024-spring", "2025-spring"]
    materialized = postgres.execute(
        deployment.db, "SELECT count(DISTINCT asset_key) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
    assert materialized[0][0] == len(build_definitions(settings_of(deployment)).resolve_asset_graph().get_all_asset_keys())
    assert sorted(p.name for p in deployment.home.rglob("*.db")) == []


@pytest.mark.slow
def test_every_asset_check_result_is_in_postgres(deployment, postgres):
    assert deployment.completed.returncode == 0, deployment.output
    graph = build_definitions(settings_of(deployment)).resolve_asset_graph()
    expected = {(key.asset_key.to_string(), key.name) for key in graph.asset_check_keys}
    rows = postgres.execute(deployment.db, "SELECT asset_key, check_name, execution_status, evaluation_event "
                                           "FROM asset_check_executions")
    assert {(key, name) for key, name, _, _ in rows} == set(expected)
    assert len(rows) == len(expected), "each check ran once"
    # Evaluated, with the evaluation stored: some warn (old illustrative snapshots), none failed with an error
    # (every mart was published).
    assert {status for _, _, status, _ in rows} <= {"SUCCEEDED", "FAILED"}
    assert all(event for _, _, _, event in rows)
    evaluations = {(key, name): deserialize_value(event, EventLogEntry).dagster_event.event_specific_data
                   for key, name, _, event in rows}
    assert [key for key, evaluation in evaluations.items()
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR] == []
    assert all((status == "SUCCEEDED") == evaluations[key, name].passed for key, name, status, _ in rows)


@pytest.mark.slow
def test_no_host_saw_more_than_the_configured_requests_in_any_minute(deployment):
    assert deployment.completed.returncode == 0, deployment.output
    # SSB and FHI get more requests than a minute allows: the limit had to hold the run back.
    assert len(deployment.hosts[api_pool("ssb")].requests) > REQUESTS_PER_MINUTE
    assert len(deployment.hosts[api_pool("fhi")].requests) > REQUESTS_PER_MINUTE
    for pool, standin in deployment.hosts.items():
        arrivals = sorted(request.received_at for request in standin.requests)
        busiest = max(bisect.bisect_left(arrivals, start + 60.0) - i for i, start in enumerate(arrivals))
        assert busiest <= REQUESTS_PER_MINUTE, f"{pool}: {busiest} requests within 60 s"


@pytest.mark.slow
def test_one_step_per_host_at_a_time_across_the_step_processes(deployment, postgres):
    assert deployment.completed.returncode == 0, deployment.output
    job = build_definitions(settings_of(deployment)).resolve_job_def("pipeline_job")
    pools = {node.name: node.pool for node in job.graph.node_defs if node.pool}
    assert set(pools.values()) == set(deployment.hosts)
    limits = dict(postgres.execute(deployment.db, 'SELECT concurrency_key, "limit" FROM concurrency_limits'))
    assert limits == dict.fromkeys(deployment.hosts, 1)
    events = postgres.execute(
        deployment.db,
        "SELECT step_key, dagster_event_type, timestamp FROM event_logs WHERE step_key = ANY(%s) "
        "AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS') ORDER BY id", (list(pools),))
    spans: dict[str, dict[str, object]] = {}
    for step, kind, at in events:
        spans.setdefault(step, {})[kind] = at
    assert set(spans) == set(pools)
    processes = postgres.execute(
        deployment.db, "SELECT count(DISTINCT step_key) FROM event_logs WHERE dagster_event_type = 'STEP_WORKER_STARTED'")
    assert processes[0][0] >= len(pools), "every step ran in a process of its own"
    for pool in deployment.hosts:
        in_pool = sorted((spans[step]["STEP_START"], spans[step]["STEP_SUCCESS"]) for step in pools if pools[step] == pool)
        for (_, end), (start, _) in pairwise(in_pool):
            assert start >= end, f"two steps of pool {pool} ran at once"


@pytest.mark.slow
def test_each_hosts_request_window_is_kept_in_the_instance(deployment, postgres):
    assert deployment.completed.returncode == 0, deployment.output
    keys = postgres.execute(deployment.db, "SELECT key FROM kvs WHERE key LIKE %s", (WINDOW_KEY_PREFIX + "%",))
    hosts = {f"127.0.0.1:{standin.port}" for standin in deployment.hosts.values()}
    assert {key.removeprefix(WINDOW_KEY_PREFIX) for (key,) in keys} == hosts


@pytest.mark.slow
def test_the_documented_backup_restores_the_instance(deployment, postgres, tmp_path):
    """deploy/README.md's pg_dump and pg_restore commands, with this server's client programs."""
    assert deployment.completed.returncode == 0, deployment.output
    env = {**deployment.env, "PGPASSWORD": deployment.env["DAGSTER_PG_PASSWORD"]}
    connection = ["--host", env["DAGSTER_PG_HOST"], "--port", env["DAGSTER_PG_PORT"], "--username", env["DAGSTER_PG_USER"]]
    dump = tmp_path / "dagster.dump"
    subprocess.run([postgres.bindir / "pg_dump", "--format=custom", *connection, f"--file={dump}",
                    env["DAGSTER_PG_DB"]], env=env, check=True, capture_output=True)
    restored = postgres.create_database("restored")
    subprocess.run([postgres.bindir / "pg_restore", "--clean", "--if-exists", "--no-owner", *connection,
                    f"--dbname={restored}", dump], env=env, check=True, capture_output=True)
    for table in ("runs", "event_logs", "asset_check_executions", "kvs", "concurrency_limits"):
        query = f"SELECT count(*) FROM {table}"
        assert postgres.execute(restored, query) == postgres.execute(deployment.db, query), table


def readme_block(after: str) -> str:
    """The first command block (indented lines after a blank line) below the line of deploy/README.md
    containing `after`, dedented."""
    lines = (REPO / "deploy" / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    first = next(i for i in range(start, len(lines)) if not lines[i].strip()) + 1
    end = next(i for i in range(first, len(lines)) if not lines[i].strip())
    return textwrap.dedent("\n".join(lines[first:end]))


@pytest.mark.slow
def test_the_documented_warehouse_copy_restores_every_mart(deployment, tmp_path):
    """deploy/README.md's two tar archives of the warehouse (pointers first), restored elsewhere."""
    assert deployment.completed.returncode == 0, deployment.output
    subprocess.run(["bash", "-euc", readme_block("pointers are copied first")], check=True, capture_output=True,
                   env={**os.environ, "CI_PIPELINE_WAREHOUSE": str(deployment.warehouse)})
    archives = {"latest" if name.name.endswith("-latest.tar.gz") else "data": name
                for name in deployment.warehouse.parent.glob("warehouse-*.tar.gz")}
    restore = tmp_path / "restore"
    restore.mkdir()
    for kind in ("data", "latest"):
        subprocess.run(["tar", "-xzf", archives[kind], "-C", restore], check=True)
    original, copy = MartStore(deployment.warehouse), MartStore(restore / deployment.warehouse.name)
    assert copy.repair() == []
    assert {m: copy.latest_version(m) for m in copy.marts()} == {m: original.latest_version(m) for m in original.marts()}
    for mart in copy.marts():
        copy.verify(mart, copy.latest_version(mart))


def test_make_run_without_settings_keeps_the_embedded_sqlite_instance(tmp_path, monkeypatch):
    from dagster._core.storage.runs import SqliteRunStorage

    from ci_pipeline.run import dagster_instance

    for name in [name for name in os.environ if name.startswith("DAGSTER_PG_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    instance = dagster_instance(Settings.from_env({}))
    try:
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert (tmp_path / "dagster_home" / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    finally:
        instance.dispose()
