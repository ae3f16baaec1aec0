"""Shared fixtures: one replay-mode run of the whole pipeline into a temporary warehouse, reused by the
end-to-end tests that only read its results (tests that corrupt inputs make their own runs)."""

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import dagster_home

from ci_pipeline.report.browser import CHROMIUM_ENV, find_chromium

# The whole-pipeline runs of the tests print no district PDFs: their 32 pages cost 20-60 s a run, and
# nothing those tests check is in them. The PDFs (and the report in a browser) are tested where they are
# made, in test_report_pdf and test_report_browser, with the Chromium this machine has: the `chromium`
# fixture, found before this override.
MACHINE_CHROMIUM = find_chromium()
os.environ[CHROMIUM_ENV] = "none"


# Every Dagster step commits a dozen SQLite transactions to its instance, each synced to disk: on this
# project's 2-core machine, 0.4 s per no-op step on disk against 0.15 s in memory. So the tests' temporary
# folders (instances, warehouses) go to a RAM disk where one with room exists, unless --basetemp is given.
RAM_DISK, RAM_DISK_ROOM = Path("/dev/shm"), 4 * 2**30
_ON_RAM_DISK = pytest.StashKey[str]()


def pytest_configure(config):
    if config.option.basetemp is None and RAM_DISK.is_dir() and os.access(RAM_DISK, os.W_OK) \
            and shutil.disk_usage(RAM_DISK).free >= RAM_DISK_ROOM:
        config.option.basetemp = tempfile.mkdtemp(prefix="ci-pipeline-tests-", dir=RAM_DISK)
        config.stash[_ON_RAM_DISK] = config.option.basetemp


def pytest_unconfigure(config):
    folder = config.stash.get(_ON_RAM_DISK, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # memory, not disk: nothing kept after the session


@pytest.fixture(scope="session")
def chromium() -> Path | None:
    """This machine's Chromium (CI_PIPELINE_CHROMIUM or chromium on PATH), or None where there is none."""
    return MACHINE_CHROMIUM


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


@dataclass
class SurveyPanel:
    codebook: object
    responses: object  # stored-shape responses of every wave
    results: object  # the survey_results frame built from them
    change: object  # the survey_change frame built from them


@pytest.fixture(scope="session")
def survey_panel() -> SurveyPanel:
    """Three small synthetic waves with a panel (200 of 700 keys return in every wave), so many cells are
    near or below the disclosure thresholds, and the survey marts built from them (library code only)."""
    from survey_support import SURVEYS, panel_responses

    from ci_pipeline.surveys.codebook import load_codebook
    from ci_pipeline.surveys.publish import build_survey_marts

    codebook = load_codebook(SURVEYS)
    responses = panel_responses(codebook, 700, seed=0)
    results, change = build_survey_marts(responses, codebook)
    return SurveyPanel(codebook, responses, results.frame, change.frame)


@pytest.fixture(scope="session")
def store(pipeline_run):
    """The mart store the shared run published into."""
    from ci_pipeline.marts import MartStore

    return MartStore(pipeline_run.settings.warehouse_root)


@pytest.fixture(scope="session")
def indicator_values(store):
    """The latest published indicator_values of the shared run."""
    return store.read("indicator_values")


def _started(start, unavailable):
    """A server for the session: skipped with the reason when it cannot be started here, stopped at the end."""
    try:
        server = start()
    except unavailable as missing:
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on 127.0.0.1 for the deployment tests (tests/pgserver.py), stopped and removed
    at the end of the session; skipped with the reason where no server binaries are installed."""
    from pgserver import PostgresServer, PostgresUnavailable

    yield from _started(PostgresServer.start, PostgresUnavailable)


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server on 127.0.0.1 for the object-storage tests (tests/s3server.py: moto), stopped
    at the end of the session; skipped with the reason where moto or s3fs is not installed."""
    from s3server import S3Server, S3Unavailable

    yield from _started(S3Server.start, S3Unavailable)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """This process's environment pointed at the S3 server (credentials, endpoint), as a deployment's is."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
