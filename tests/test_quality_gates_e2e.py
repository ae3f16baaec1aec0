"""Quality gates end to end: a corrupted source answer stops publication, and says why.

The clean replay run of conftest.py (pipeline_run) publishes every mart into a temporary warehouse.
Each case takes its own copy of that published state and of the embedded snapshots, archives a
corrupted answer for one table (a new archived answer with its own sha256 and a later retrieved_at,
plus a table-info answer with a newer `updated`, so change detection downloads the table again) and
reruns the pipeline. The corruptions are illustrative: made up for this test, written only into the
temporary copies.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
)
from support import dagster_home

from ci_pipeline.archive import Archive, ArchivedResponse, sha256_bytes
from ci_pipeline.definitions import build_definitions
from ci_pipeline.marts import MartStore
from ci_pipeline.run import RunSummary, run_pipeline
from ci_pipeline.settings import Settings

pytestmark = pytest.mark.slow  # whole-pipeline runs on corrupted snapshots

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "data" / "snapshots"
MARTS = {"indicator_values", "regions", "indicators", "goals", "goal_progress", "survey_results", "survey_change",
         "stories", "exclusion_costs"}
# Later than every embedded answer, so the corrupted answers are what replay serves from now on.
CORRUPTED_AT = "2026-09-01T06:00:00.000000Z"
CORRUPTED_UPDATED = "2026-09-01T06:00:00Z"
NOTE = "ILLUSTRATIVE corruption written by tests/test_quality_gates_e2e.py; not an official figure."


@dataclass(frozen=True)
class Published:
    warehouse: Path
    latest: dict[str, str]  # mart -> version named by LATEST after the clean run
    dagster_home: Path
    instance: DagsterInstance  # for the corrupted runs only; the shared clean run's history stays clean


def _latest(warehouse: Path) -> dict[str, str]:
    store = MartStore(warehouse)
    return {mart: store.latest_version(mart) for mart in store.marts()}


@pytest.fixture(scope="module")
def published(pipeline_run, tmp_path_factory) -> Published:
    """The clean replay run of conftest.py: every mart published, the state each case starts from."""
    assert pipeline_run.first.success, pipeline_run.first.failures
    latest = _latest(pipeline_run.settings.warehouse_root)
    assert set(latest) == MARTS and all(latest.values())
    home = dagster_home(tmp_path_factory.mktemp("quality_gates_dagster_home"))
    instance = DagsterInstance.from_config(str(home))
    try:
        yield Published(pipeline_run.settings.warehouse_root, latest, home, instance)
    finally:
        instance.dispose()


def _fresh_copy(published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A copy of the published warehouse and of the embedded snapshots, for one case to corrupt."""
    shutil.copytree(published.warehouse, tmp_path / "warehouse")
    shutil.copytree(SNAPSHOTS, tmp_path / "snapshots")
    settings = Settings.from_env().with_(snapshot_root=tmp_path / "snapshots", warehouse_root=tmp_path / "warehouse",
                                         mode="replay")
    monkeypatch.setenv("DAGSTER_HOME", str(published.dagster_home))
    return settings


def _answer(archive: Archive, source: str, method: str, path: str) -> ArchivedResponse:
    (answer,) = {a.request_key: a for a in archive.entries(source) if (a.method, a.path) == (method, path)}.values()
    return archive.latest(answer.source, answer.resource, answer.request_key)


def _rearchive(archive: Archive, answer: ArchivedResponse, document: dict) -> None:
    assert answer.retrieved_at < CORRUPTED_AT
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    archive.write(replace(answer, body=body, sha256=sha256_bytes(body), retrieved_at=CORRUPTED_AT,
                          source_updated=CORRUPTED_UPDATED, provenance="illustrative", note=NOTE))


def corrupt_ssb_table(settings: Settings, table_id: str, edit: Callable[[dict, dict], None]) -> None:
    """Archive an edited answer to every data request of an SSB table, and a newer `updated`."""
    archive = Archive(settings.snapshot_root)
    data = [a for a in archive.entries("ssb") if a.path == f"tables/{table_id}/data"]
    assert data, f"no archived data answers for SSB table {table_id}"
    for answer in {a.request_key: a for a in data}.values():
        latest = archive.latest(answer.source, answer.resource, answer.request_key)
        document = latest.json()
        edit(document, latest.request_body)
        document["updated"] = CORRUPTED_UPDATED
        _rearchive(archive, latest, document)
    info = _answer(archive, "ssb", "GET", f"tables/{table_id}")
    _rearchive(archive, info, {**info.json(), "updated": CORRUPTED_UPDATED})


def _rename_category(document: dict, dimension: str, old: str, new: str) -> None:
    category = document["dimension"][dimension]["category"]
    category["index"] = {(new if code == old else code): position for code, position in category["index"].items()}
    category["label"] = {(new if code == old else code): label for code, label in category["label"].items()}


@dataclass(frozen=True)
class CorruptedRun:
    summary: RunSummary
    materialised: set[AssetKey]  # in any Dagster run of this pipeline run
    graph: object  # the asset graph of the definitions that ran


def _run(published: Published, settings: Settings) -> CorruptedRun:
    definitions = build_definitions(settings)
    summary = run_pipeline(settings, published.instance, definitions)
    assert summary.run_ids
    materialised = {record.dagster_event.asset_key for run_id in summary.run_ids
                    for record in published.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)}
    return CorruptedRun(summary, materialised, definitions.resolve_asset_graph())


def _failed_check(published: Published, run: CorruptedRun, key: AssetKey, suite: str):
    """The evaluation of a blocking suite that failed in this pipeline run (from the Dagster instance)."""
    check = AssetCheckKey(key, suite)
    record = published.instance.event_log_storage.get_latest_asset_check_execution_by_key([check])[check]
    assert record.run_id in run.summary.run_ids, f"check {suite} on {key.to_user_string()} did not run"
    evaluation = record.evaluation
    assert evaluation is not None and evaluation.passed is False
    assert evaluation.severity == AssetCheckSeverity.ERROR
    return evaluation


def _failed_entries(evaluation) -> dict[str, dict]:
    """Failed expectations by label (file, entry number, expectation), as the check reports them."""
    return {name.removeprefix("failed: "): entry.value for name, entry in evaluation.metadata.items()
            if name.startswith("failed: ")}


def _assert_gate_held(published: Published, settings: Settings, run: CorruptedRun, failing: AssetKey) -> None:
    """Nothing downstream of the failing asset ran, and every mart's LATEST names the previous version."""
    downstream = set(AssetSelection.assets(failing).downstream(include_self=False).resolve(run.graph))
    assert {AssetKey(["releases", "indicator_values"]), AssetKey(["reports", "goal_report"])} <= downstream
    ran = downstream & run.materialised
    assert not ran, f"downstream of {failing.to_user_string()}: {sorted(k.to_user_string() for k in ran)}"
    assert _latest(settings.warehouse_root) == published.latest
    assert "the run failed; every published mart version is unchanged" in run.summary.lines()


def test_negative_count_fails_the_staging_suite_and_blocks_everything_downstream(published, tmp_path, monkeypatch):
    settings = _fresh_copy(published, tmp_path, monkeypatch)

    def first_count_negative(document: dict, request_body: dict) -> None:
        first = next(i for i, v in enumerate(document["value"]) if v)
        document["value"][first] = -document["value"][first]

    corrupt_ssb_table(settings, "07459", first_count_negative)
    run = _run(published, settings)

    assert not run.summary.success
    key = AssetKey(["staging", "ssb_07459"])
    evaluation = _failed_check(published, run, key, "ssb_07459")
    (negative,) = [entry for entry in _failed_entries(evaluation).values()
                   if entry["description"] == "counts are never negative"]
    assert negative["expectation"] == "expect_column_values_to_be_between" and negative["severity"] == "error"
    assert negative["unexpected_count"] == 1 and negative["sample_unexpected_values"][0] < 0
    assert "counts are never negative" in evaluation.description
    assert key in run.materialised  # the staged build exists: it was audited, and stopped there
    assert AssetKey(["releases", "regions"]) in run.materialised  # not downstream, so it still ran
    _assert_gate_held(published, settings, run, key)


def test_duplicated_key_row_fails_the_mart_suite(published, tmp_path, monkeypatch):
    """The district entry of 06944 starts to deliver Oslo's total (0301) as well, which the municipal
    entry of the same table already delivers: the same (table, indicator, region, period) twice.

    The reader refuses two categories that map to one key inside one answer; across two catalogue entries
    the duplicate reaches the indicator_values build, whose unique-key expectation blocks the release."""
    settings = _fresh_copy(published, tmp_path, monkeypatch)

    def district_becomes_oslo(document: dict, request_body: dict) -> None:
        region = next(s for s in request_body["selection"] if s["variableCode"] == "Region")
        if region.get("codelist"):  # the district entry's request, not the municipal one
            _rename_category(document, "Region", "030117a", "0301")

    corrupt_ssb_table(settings, "06944", district_becomes_oslo)
    run = _run(published, settings)

    assert not run.summary.success
    key = AssetKey(["marts", "indicator_values"])
    evaluation = _failed_check(published, run, key, "marts_indicator_values")
    (duplicated,) = [entry for entry in _failed_entries(evaluation).values()
                     if entry["expectation"] == "expect_compound_columns_to_be_unique"]
    assert duplicated["severity"] == "error"
    # one key, twice: every year of the district entry's series that Marka's cells now claim for Oslo
    assert duplicated["unexpected_count"] >= 2
    assert key in run.materialised  # the staged build exists: it was audited and not released
    _assert_gate_held(published, settings, run, key)


def test_region_not_valid_in_its_period_fails_the_mart_suite(published, tmp_path, monkeypatch):
    """13563 publishes Halden's code 3001 (valid 2020-2023) instead of Oslo's 0301 for 2015-2024."""
    settings = _fresh_copy(published, tmp_path, monkeypatch)
    corrupt_ssb_table(settings, "13563", lambda document, body: _rename_category(document, "Region", "0301", "3001"))
    run = _run(published, settings)

    assert not run.summary.success
    key = AssetKey(["marts", "indicator_values"])
    evaluation = _failed_check(published, run, key, "marts_indicator_values")
    (invalid,) = [entry for label, entry in _failed_entries(evaluation).items()
                  if label.startswith("checks/marts_indicator_values.yaml")
                  and "valid for the observation's period" in (entry["description"] or "")]
    assert invalid["expectation"] == "expect_column_values_to_be_in_set" and invalid["severity"] == "error"
    assert set(invalid["sample_unexpected_values"]) == {"invalid_for_period"}
    # 2 indicators (share, count) x the 6 years Halden's 3001 did not exist (2015-2019, 2024)
    assert invalid["unexpected_count"] == 12
    assert key in run.materialised  # the staged build exists: it was audited and not released
    _assert_gate_held(published, settings, run, key)
