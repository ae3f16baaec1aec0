"""The whole pipeline in live mode against the local stand-in API server (tests/standin.py).

The stand-in serves the embedded snapshot archive over HTTP on 127.0.0.1, so a live run downloads the
same bytes a replay run reads. What "the same marts" means here: every mart has the same rows, keys,
values and statuses as the replay build, compared column by column, except

    retrieved_at  when the answer was fetched: the live run fetched it just now;
    provenance    a live answer is archived as `recorded` (the client cannot know that the stand-in
                  serves `reconstructed` or `illustrative` snapshots); the snapshot's own label
                  is what a replay run carries.

snapshot_sha256 and source_updated are compared: the stand-in sends the archived bodies byte for byte.

The scenarios: a clean run; a run under a seeded fault rate that retries absorb; a run with one source
down (fails naming the source and URL, publishes nothing); a rerun without changes (no SSB/FHI data
downloaded, Oslo's tables fetched and found unchanged by content, build step skipped, nothing published);
a moved `updated` stamp on one SSB table (exactly that table is downloaded again and only the marts built
from it get new versions); and a moved `updated` in one Oslo statbank answer (that table counts as changed).
Backoffs are tiny and the client-side rate limit high (settings from the environment), so no test
waits for real; nothing here asserts a duration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from standin import Fault, FaultPlan, StandinServer
from support import dagster_home

from ci_pipeline.archive import Archive
from ci_pipeline.catalogue import load_catalogue
from ci_pipeline.marts import MartStore
from ci_pipeline.settings import Settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "data" / "snapshots"
# provenance, and the trend wording and illustrative label that follow from it (made-up figures are never
# worded significant)
LIVE_ONLY_COLUMNS = ["retrieved_at", "provenance", "trend_label", "trend_reason", "illustrative"]
MARTS = ["goal_progress", "goals", "indicator_values", "indicators", "regions", "stories", "survey_change",
         "survey_results", "exclusion_costs"]
# The table whose `updated` stamp moves, and the catalogue entry that fetches it.
MOVED_TABLE, MOVED_ENTRY = "08764", "ssb_08764"
# Marts that do not read SSB 08764: a moved stamp on it must leave their versions alone.
NOT_FROM_MOVED_TABLE = ["goals", "indicators", "regions", "survey_change", "survey_results"]
ENTRIES = {spec.name: spec for spec in load_catalogue(REPO / "assets")}
OSLO_ENTRIES = sorted(name for name, spec in ENTRIES.items() if spec.source == "oslo")


def live_env(settings_root: Path, standin: StandinServer, *, timeout: float = 30.0, retries: int = 3) -> dict:
    urls = standin.base_urls
    return {
        "CI_PIPELINE_MODE": "live",
        "CI_PIPELINE_WAREHOUSE": str(settings_root / "warehouse"),
        "SSB_BASE_URL": urls["ssb"],
        "FHI_BASE_URL": urls["fhi"],
        "KLASS_BASE_URL": urls["klass"],
        "OSLO_STATBANK_BASE_URL": urls["oslo"],
        "CI_PIPELINE_HTTP_TIMEOUT": str(timeout),
        "CI_PIPELINE_HTTP_MAX_RETRIES": str(retries),
        "CI_PIPELINE_HTTP_BACKOFF_BASE": "0.001",
        "CI_PIPELINE_REQUESTS_PER_MINUTE": "100000",
        "DAGSTER_HOME": str(settings_root / "dagster_home"),
    }


@dataclass
class LiveWarehouse:
    root: Path
    standin: StandinServer

    def run(self, **env_options):
        """One run_pipeline in live mode, with the settings read from the environment as `make run` does."""
        from dagster import DagsterInstance

        from ci_pipeline.run import run_pipeline

        env = live_env(self.root, self.standin, **env_options)
        home = dagster_home(Path(env["DAGSTER_HOME"]))
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            settings = Settings.from_env()
            instance = DagsterInstance.from_config(str(home))
            try:
                return run_pipeline(settings, instance)
            finally:
                instance.dispose()

    @property
    def store(self) -> MartStore:
        return MartStore(self.root / "warehouse")

    def latest_versions(self) -> dict[str, str | None]:
        return {mart: self.store.latest_version(mart) for mart in MARTS}


def comparable(frame: pd.DataFrame, drop: list[str]) -> pd.DataFrame:
    return frame.drop(columns=[c for c in drop if c in frame.columns]).reset_index(drop=True)


def assert_same_marts(store: MartStore, expected: MartStore, drop: list[str]) -> None:
    assert store.marts() == expected.marts()
    for mart in expected.marts():
        pd.testing.assert_frame_equal(comparable(store.read(mart), drop), comparable(expected.read(mart), drop),
                                      obj=f"mart {mart}")


@pytest.fixture(scope="module")
def standin():
    with StandinServer(SNAPSHOTS, faults=FaultPlan(retry_after="0")) as server:
        yield server


@pytest.fixture(scope="module")
def clean_live(standin, tmp_path_factory):
    """A fresh warehouse built by one clean live run; the request counts of that run."""
    standin.faults = FaultPlan(retry_after="0")
    standin.reset_counts()
    warehouse = LiveWarehouse(tmp_path_factory.mktemp("live_clean"), standin)
    summary = warehouse.run()
    counts = {"total": standin.count(), "data": standin.count("*/data", "POST")}
    return warehouse, summary, counts


def test_clean_live_run_publishes_the_replay_marts(clean_live, pipeline_run):
    warehouse, summary, counts = clean_live
    assert summary.success, summary.failures
    assert summary.built
    assert sorted(summary.sources_changed) == sorted(pipeline_run.first.sources_changed)
    assert all(info["published"] for info in summary.marts.values())
    assert counts["data"] > 0
    assert_same_marts(warehouse.store, MartStore(pipeline_run.settings.warehouse_root), LIVE_ONLY_COLUMNS)
    # Every answer the live run used was archived in the warehouse, labelled as a live capture.
    archived = list(Archive(warehouse.root / "warehouse" / "archive").entries())
    assert {a.source for a in archived} == {"ssb", "fhi", "klass", "oslo"}
    assert {a.provenance for a in archived} == {"recorded"}
    assert all(a.url.startswith(f"http://127.0.0.1:{warehouse.standin.port}/") for a in archived)
    for mart in MARTS:
        warehouse.store.verify(mart, warehouse.store.latest_version(mart))


def test_faults_that_retries_absorb_publish_the_same_result(clean_live, standin, tmp_path_factory):
    clean, _, clean_counts = clean_live
    plan = FaultPlan(retry_after="0", random_rate=0.2, seed=20240611,
                     random_kinds=("429", "500", "503", "reset", "truncate", "garbled"), slow_seconds=1.5)
    # One answer slower than the client's timeout (1 s below), on a data download and on KLASS.
    plan.add("ssb/tables/10826/data", "slow", Fault("429", retry_after="0"), "truncate")
    plan.add("klass/classifications/131*", "slow", "reset")
    standin.faults = plan
    standin.reset_counts()
    try:
        faulted = LiveWarehouse(tmp_path_factory.mktemp("live_faults"), standin)
        summary = faulted.run(timeout=1.0, retries=8)
    finally:
        standin.faults = FaultPlan(retry_after="0")
    assert summary.success, summary.failures
    assert plan.pending() == 0, "every scripted fault was served"
    # The same work took more requests: the faulted ones were retried.
    assert standin.count() > clean_counts["total"]
    assert standin.count("*/data", "POST") > clean_counts["data"]
    assert_same_marts(faulted.store, clean.store, ["retrieved_at"])


def test_a_source_that_stays_down_fails_the_run_naming_it_and_publishes_nothing(clean_live, standin):
    warehouse, _, _ = clean_live
    before = {mart: warehouse.store.versions(mart) for mart in MARTS}
    latest = warehouse.latest_versions()
    standin.faults = FaultPlan(retry_after="0").set_down("fhi")
    try:
        summary = warehouse.run(retries=2)
    finally:
        standin.faults = FaultPlan(retry_after="0")
    assert not summary.success
    assert not summary.built
    message = "\n".join(summary.failures)
    assert "fhi table" in message
    assert f"http://127.0.0.1:{standin.port}/fhi/" in message
    assert "HTTP 503" in message
    assert summary.lines()[-1] == "the run failed; every published mart version is unchanged"
    assert warehouse.latest_versions() == latest
    assert {mart: warehouse.store.versions(mart) for mart in MARTS} == before
    for mart, version in latest.items():
        warehouse.store.verify(mart, version)


def test_a_rerun_without_changes_downloads_no_data_and_skips_the_build(clean_live, standin):
    warehouse, _, _ = clean_live
    latest = warehouse.latest_versions()
    versions = {mart: warehouse.store.versions(mart) for mart in MARTS}
    standin.reset_counts()
    summary = warehouse.run()
    assert summary.success, summary.failures
    assert not summary.built and summary.build_reason is None
    assert summary.sources_changed == [] and len(summary.sources_unchanged) == len(ENTRIES)
    assert standin.count("*/data", "POST") == 0
    # Oslo's bank has no update stamp: its data is requested, found unchanged, and the summary says so.
    assert standin.count("oslo/*", "POST") == len(OSLO_ENTRIES)
    assert sorted(summary.sources_fetched_unchanged) == OSLO_ENTRIES
    assert standin.count("ssb/tables/*") > 0  # the update stamps were asked for
    assert {mart: info["published"] for mart, info in summary.marts.items()} == dict.fromkeys(MARTS, False)
    assert warehouse.latest_versions() == latest
    assert {mart: warehouse.store.versions(mart) for mart in MARTS} == versions


def test_a_moved_updated_refreshes_exactly_that_table_and_what_depends_on_it(clean_live, standin):
    warehouse, _, _ = clean_live
    latest = warehouse.latest_versions()
    old_values = warehouse.store.read("indicator_values")
    standin.faults = FaultPlan(retry_after="0").move_updated("ssb", MOVED_TABLE, "2030-01-01T07:00:00Z")
    standin.reset_counts()
    try:
        summary = warehouse.run()
        data_posts = {
            "moved": standin.count(f"ssb/tables/{MOVED_TABLE}/data", "POST"),
            "all": standin.count("*/data", "POST"),
        }
    finally:
        standin.faults = FaultPlan(retry_after="0")
    assert summary.success, summary.failures
    assert summary.built
    assert f"staging/{MOVED_ENTRY} (has a new dependency data version: raw/{MOVED_ENTRY})" in summary.build_reason
    assert summary.sources_changed == [MOVED_ENTRY]
    assert MOVED_ENTRY not in summary.sources_unchanged and len(summary.sources_unchanged) == len(ENTRIES) - 1
    assert data_posts["moved"] > 0 and data_posts["all"] == data_posts["moved"]
    state = json.loads((warehouse.root / "warehouse" / "state" / "ssb" / f"{MOVED_ENTRY}.json").read_text())
    assert state["updated"] == "2030-01-01T07:00:00Z"

    assert summary.marts["indicator_values"]["published"]
    assert warehouse.store.latest_version("indicator_values") != latest["indicator_values"]
    for mart in NOT_FROM_MOVED_TABLE:
        assert not summary.marts[mart]["published"], mart
        assert warehouse.store.latest_version(mart) == latest[mart], mart
    # goal_progress is rebuilt from indicator_values, but no goal uses 08764 and it carries no retrieved_at:
    # its content is the same, so it is not published again.
    assert not summary.marts["goal_progress"]["published"]
    assert warehouse.store.latest_version("goal_progress") == latest["goal_progress"]
    # exclusion_costs likewise (it prices goal and indicator figures that do not come from 08764)
    assert not summary.marts["exclusion_costs"]["published"]

    # The new indicator_values differs from the old one only in when the moved table was fetched.
    new_values = warehouse.store.read("indicator_values")
    moved = old_values["table_id"] == MOVED_TABLE
    assert moved.any()
    assert (new_values["table_id"] == MOVED_TABLE).equals(moved)
    pd.testing.assert_frame_equal(new_values[~moved], old_values[~moved])
    pd.testing.assert_frame_equal(comparable(new_values[moved], ["retrieved_at"]),
                                  comparable(old_values[moved], ["retrieved_at"]))
    assert (new_values.loc[moved, "retrieved_at"] > old_values.loc[moved, "retrieved_at"]).all()


def test_a_moved_updated_in_an_oslo_answer_counts_as_a_change(clean_live, standin):
    warehouse, _, _ = clean_live
    latest = warehouse.latest_versions()
    standin.faults = FaultPlan(retry_after="0").move_updated("oslo", "OK-SOS001", "2030-01-01T07:00:00Z")
    try:
        summary = warehouse.run()
    finally:
        standin.faults = FaultPlan(retry_after="0")
    assert summary.success, summary.failures
    # SSB 08764's stamp, moved by the test before, is back to the snapshot's: it may count as changed too.
    assert "oslo_sos001" in summary.sources_changed and set(summary.sources_changed) <= {"oslo_sos001", MOVED_ENTRY}
    assert sorted(summary.sources_fetched_unchanged) == [n for n in OSLO_ENTRIES if n != "oslo_sos001"]
    state = json.loads((warehouse.root / "warehouse" / "state" / "oslo" / "oslo_sos001.json").read_text())
    assert state["updated"] == "2030-01-01T07:00:00Z"
    values = warehouse.store.read("indicator_values")
    assert warehouse.store.latest_version("indicator_values") != latest["indicator_values"]
    moved = values[(values["table_id"] == "OK-SOS001") | (values["table_id"] == "OK-SOS001/10826")]
    assert set(moved["source_updated"]) == {pd.Timestamp("2030-01-01T07:00:00Z")}
