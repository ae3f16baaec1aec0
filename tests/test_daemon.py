"""dagster-daemon against the PostgreSQL instance: the survey sensor's tick becomes a run that goes through
the run queue and completes, and the nightly schedule is evaluated.

The daemon runs as a deployment runs it: `dagster-daemon run -w workspace.yaml` (the repository's own
workspace file) in a process of its own, with DAGSTER_HOME holding deploy/dagster.yaml (PostgreSQL, the
run queue) and the `postgres` fixture's DAGSTER_PG_* variables. A wave file waits in the survey folder's
incoming/ before the daemon starts: the sensor's first tick (at once: it has never ticked) requests its
ingest; the run is queued, dequeued by the daemon's run coordinator, launched through the code server
the daemon starts, and completes. The nightly schedule (02:30 Oslo time) has no tick due; the daemon
records that it is running. The test then reads PostgreSQL's tables and stops the daemon (its process
group, so the code server and run worker it started go too). It waits for the run for at most
RUN_TIMEOUT_SECONDS, and asserts no duration.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance
from dagster._core.scheduler.instigation import InstigatorState
from dagster._serdes import deserialize_value
from test_deploy_postgres import REPO, deployed_home, deployment_env

from ci_pipeline.archive import file_sha256

pytestmark = pytest.mark.slow

WAVE = REPO / "data" / "surveys" / "waves" / "2024-spring.csv"
RUN_TIMEOUT_SECONDS = 300
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the daemon's process group (daemon, code server, run workers), SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_finished_run(postgres, db: str, daemon: subprocess.Popen, log: Path) -> tuple[str, str]:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        rows = postgres.execute(db, "SELECT run_id, status FROM runs WHERE status = ANY(%s)", (list(FINISHED),))
        if rows:
            return rows[0]
        if daemon.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({daemon.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(1)
    pytest.fail(f"no run finished within {RUN_TIMEOUT_SECONDS} s; daemon log:\n{log.read_text()[-4000:]}")


def instigators(postgres, db: str) -> dict[str, tuple[str, str, InstigatorState]]:
    """The schedule and sensor states in the instance: name -> (type, status, state)."""
    rows = postgres.execute(db, "SELECT instigator_type, status, instigator_body FROM instigators")
    states = [(kind, status, deserialize_value(body, InstigatorState)) for kind, status, body in rows]
    return {state.instigator_name: (kind, status, state) for kind, status, state in states}


def test_the_daemon_turns_a_sensor_tick_into_a_queued_run_that_completes(postgres, tmp_path):
    db = postgres.create_database("daemon")
    home = deployed_home(tmp_path)
    incoming = tmp_path / "surveys" / "incoming"
    incoming.mkdir(parents=True)
    shutil.copy(WAVE, incoming / WAVE.name)
    env = deployment_env(home, tmp_path / "warehouse", postgres.env(db), CI_PIPELINE_SURVEYS=str(tmp_path / "surveys"))
    with pytest.MonkeyPatch.context() as patch:  # the tables exist before the daemon polls them
        for name, value in postgres.env(db).items():
            patch.setenv(name, value)
        DagsterInstance.from_config(str(home)).dispose()
    log = tmp_path / "daemon.log"
    with log.open("w") as output:
        daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run",
                                   "-w", str(REPO / "workspace.yaml")],
                                  env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run_id, status = wait_for_finished_run(postgres, db, daemon, log)
        # The daemon evaluated the schedule too: running by default, its state and start time are stored.
        schedule_kind, schedule_status, schedule = instigators(postgres, db)["nightly_refresh"]
        heartbeats = {kind for (kind,) in postgres.execute(db, "SELECT daemon_type FROM daemon_heartbeats")}
    finally:
        stop(daemon)

    assert status == "SUCCESS", log.read_text()[-4000:]
    ((job, tags),) = postgres.execute(
        db, "SELECT r.pipeline_name, json_object_agg(t.key, t.value) FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE r.run_id = %s GROUP BY r.pipeline_name", (run_id,))
    assert job == "survey_ingest_job"
    assert tags["dagster/sensor_name"] == "survey_wave_sensor"
    assert tags["dagster/partition"] == "2024-spring"
    # Through the queue: enqueued by the sensor's submission, launched by the daemon's run coordinator
    # (STARTING), run by the run worker, finished.
    expected = [DagsterEventType.RUN_ENQUEUED.value, DagsterEventType.RUN_STARTING.value,
                DagsterEventType.RUN_START.value, DagsterEventType.RUN_SUCCESS.value]
    lifecycle = postgres.execute(db, "SELECT dagster_event_type FROM event_logs WHERE run_id = %s AND "
                                     "dagster_event_type = ANY(%s) ORDER BY id", (run_id, expected))
    assert [kind for (kind,) in lifecycle] == expected
    assert (tmp_path / "warehouse" / "survey" / "responses").exists()

    # The sensor's cursor is in PostgreSQL: the wave file's content hash, so it is never requested twice.
    kind, _, sensor = instigators(postgres, db)["survey_wave_sensor"]
    assert kind == "SENSOR"
    assert json.loads(sensor.instigator_data.cursor) == {file_sha256(WAVE): "2024-spring"}
    ticks = postgres.execute(db, "SELECT status, type FROM job_ticks WHERE selector_id = %s", (sensor.selector_id,))
    assert ("SUCCESS", "SENSOR") in ticks

    assert (schedule_kind, schedule_status) == ("SCHEDULE", "DECLARED_IN_CODE")
    assert schedule.instigator_data.cron_schedule == "30 2 * * *"
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= heartbeats
