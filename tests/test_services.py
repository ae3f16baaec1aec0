"""The three services of a deployment against the PostgreSQL instance, started exactly as the systemd units
in deploy/systemd/ start them: the code server, dagster-daemon and the webserver. The survey sensor's
tick becomes a run that goes through the run queue and completes; the nightly schedule is evaluated.

Each service runs the ExecStart command of its unit (read from the unit file; only the virtualenv, the
workspace file and the two ports are replaced: free loopback ports here), with the environment the units
read from /etc/ci-pipeline/env: DAGSTER_HOME holding deploy/dagster.yaml (PostgreSQL, the run queue), the
`postgres` fixture's DAGSTER_PG_* variables, and the pipeline's settings. A wave file waits in the survey
folder's incoming/ before the daemon starts: the sensor's first tick (at once: it has never ticked)
requests its ingest; the run is queued, launched by the daemon's run coordinator through the code server,
and completes; the webserver reports it. The nightly schedule (02:30 Oslo time) has no tick due; the
daemon records that it is running. The test then reads PostgreSQL's tables and stops the services (each
one's process group, so the run worker the code server started goes too). It waits at most
SERVICE_TIMEOUT_SECONDS for each thing it waits for, and asserts no duration.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance
from dagster._core.scheduler.instigation import InstigatorState
from dagster._serdes import deserialize_value
from pgserver import REPO, deployed_home, deployment_env

from ci_pipeline.archive import file_sha256

pytestmark = pytest.mark.slow

UNITS = REPO / "deploy" / "systemd"
WAVE = REPO / "data" / "surveys" / "waves" / "2024-spring.csv"
SERVICE_TIMEOUT_SECONDS = 300
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
# What the units say, and what it becomes here.
UNIT_VENV_BIN, UNIT_WORKSPACE = "/opt/ci-pipeline/.venv/bin/", "/etc/ci-pipeline/workspace.yaml"
UNIT_CODE_PORT, UNIT_WEB_PORT = "4266", "3000"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unit_command(unit: str, replacements: dict[str, str]) -> list[str]:
    """The ExecStart command line of a unit in deploy/systemd/, with `replacements` applied to each word."""
    text = (UNITS / unit).read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    words = shlex.split(line.removeprefix("ExecStart="))
    for old, new in replacements.items():
        words = [word.replace(old, new) for word in words]
    return words


class Services:
    """The started services; stop() ends each one's process group (SIGTERM, then SIGKILL)."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> None:
        with (self.logs / f"{name}.log").open("w") as output:
            self.processes[name] = subprocess.Popen(command, env=self.env, cwd=self.logs, stdout=output,
                                                    stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def logs_text(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)}" for name in self.processes)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited ({process.returncode}):\n{self.log(name)}")

    def wait_for(self, what: str, ready) -> object:
        deadline = time.monotonic() + SERVICE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            found = ready()
            if found:
                return found
            self.check_alive()
            time.sleep(1)
        pytest.fail(f"{what}: not within {SERVICE_TIMEOUT_SECONDS} s\n{self.logs_text()}")

    def stop(self) -> None:
        for process in self.processes.values():
            for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["data"]


def instigators(postgres, db: str) -> dict[str, tuple[str, str, InstigatorState]]:
    """The schedule and sensor states in the instance: name -> (type, status, state)."""
    rows = postgres.execute(db, "SELECT instigator_type, status, instigator_body FROM instigators")
    states = [(kind, status, deserialize_value(body, InstigatorState)) for kind, status, body in rows]
    return {state.instigator_name: (kind, status, state) for kind, status, state in states}


def test_the_services_turn_a_sensor_tick_into_a_queued_run_that_completes(postgres, tmp_path):
    db = postgres.create_database("services")
    home = deployed_home(tmp_path)
    incoming = tmp_path / "surveys" / "incoming"
    incoming.mkdir(parents=True)
    shutil.copy(WAVE, incoming / WAVE.name)
    code_port, web_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text((UNITS / "workspace.yaml").read_text().replace(UNIT_CODE_PORT, str(code_port)))
    replacements = {UNIT_VENV_BIN: str(Path(sys.executable).parent) + "/", UNIT_WORKSPACE: str(workspace),
                    UNIT_CODE_PORT: str(code_port), UNIT_WEB_PORT: str(web_port)}
    env = deployment_env(home, tmp_path / "warehouse", postgres.env(db), CI_PIPELINE_SURVEYS=str(tmp_path / "surveys"))
    with pytest.MonkeyPatch.context() as patch:  # the tables exist before the services poll them
        for name, value in postgres.env(db).items():
            patch.setenv(name, value)
        DagsterInstance.from_config(str(home)).dispose()

    services = Services(env, tmp_path)
    try:
        services.start("code-server", unit_command("ci-pipeline-code-server.service", replacements))
        services.wait_for("the code server's port", lambda: port_open(code_port))
        services.start("daemon", unit_command("ci-pipeline-daemon.service", replacements))
        services.start("webserver", unit_command("ci-pipeline-webserver.service", replacements))
        run_id, status = services.wait_for("a finished run", lambda: postgres.execute(
            db, "SELECT run_id, status FROM runs WHERE status = ANY(%s)", (list(FINISHED),)))[0]
        services.wait_for("the webserver", lambda: port_open(web_port))
        reported = services.wait_for("the run in the webserver", lambda: graphql(
            web_port, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status jobName }} }} }}')["runOrError"])
        # The daemon evaluated the schedule too: running by default, its state and start time are stored.
        schedule_kind, schedule_status, schedule = instigators(postgres, db)["nightly_refresh"]
        heartbeats = {kind for (kind,) in postgres.execute(db, "SELECT daemon_type FROM daemon_heartbeats")}
    finally:
        services.stop()

    assert status == "SUCCESS", services.logs_text()
    assert reported == {"status": "SUCCESS", "jobName": "survey_ingest_job"}
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
