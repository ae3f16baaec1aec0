"""Shared fixtures: one replay-mode run of the whole pipeline into a temporary warehouse, reused by the
end-to-end tests that only read its results (tests that corrupt inputs make their own runs)."""

from dataclasses import dataclass
from pathlib import Path

import pytest
from support import dagster_home


@dataclass
class PipelineRun:
    settings: object
    instance: object
    first: object  # RunSummary of the first run
    second: object  # RunSummary of an immediate rerun
    dagster_home: Path


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> PipelineRun:
    """Runs the whole pipeline twice on the embedded default (replay, no network) in a fresh warehouse."""
    from dagster import DagsterInstance

    from ci_pipeline.run import run_pipeline
    from ci_pipeline.settings import Settings

    root = tmp_path_factory.mktemp("pipeline")
    home = dagster_home(root / "dagster_home")
    settings = Settings.from_env().with_(warehouse_root=root / "warehouse", mode="replay")
    patch = pytest.MonkeyPatch()
    patch.setenv("DAGSTER_HOME", str(home))
    instance = DagsterInstance.from_config(str(home))
    try:
        first = run_pipeline(settings, instance)
        second = run_pipeline(settings, instance)
        yield PipelineRun(settings, instance, first, second, home)
    finally:
        instance.dispose()
        patch.undo()


@pytest.fixture(scope="session")
def store(pipeline_run):
    """The mart store the shared run published into."""
    from ci_pipeline.marts import MartStore

    return MartStore(pipeline_run.settings.warehouse_root)


@pytest.fixture(scope="session")
def indicator_values(store):
    """The latest published indicator_values of the shared run."""
    return store.read("indicator_values")


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on 127.0.0.1 for the deployment tests (tests/pgserver.py), stopped and removed
    at the end of the session; skipped with the reason where no server binaries are installed."""
    from pgserver import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer.start()
    except PostgresUnavailable as missing:
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()
