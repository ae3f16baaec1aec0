"""The Dagster code location loads with every asset, check, job, schedule and sensor the design names.

Expected assets and checks are read from the YAML files themselves (assets/sources, checks/), not from the
loaders the definitions use, so a loader that skips a file is caught here. That importing the definitions
does not import Great Expectations is tested in tests/test_quality.py.
"""

from pathlib import Path

import pytest
import yaml
from dagster import AssetCheckKey, AssetKey, DefaultScheduleStatus, DynamicPartitionsDefinition

from ci_pipeline.definitions import defs

REPO = Path(__file__).resolve().parents[1]
MARTS = ["indicator_values", "regions", "indicators", "goals", "goal_progress", "survey_results",
         "survey_change", "stories", "exclusion_costs"]
SURVEY_ASSETS = ["survey/responses", "survey/quarantine"]
# SSB's quiet hours to stay away from: metadata runs at 05:00 and 11:30, publishing at 07:55-08:15
# (minutes after midnight, Oslo time), and how far from them a nightly run is to start.
SSB_BUSY = [(5 * 60, 5 * 60), (7 * 60 + 55, 8 * 60 + 15), (11 * 60 + 30, 11 * 60 + 30)]
MARGIN_MINUTES = 60


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def user_keys(keys) -> set[str]:
    return {key.to_user_string() for key in keys}


def catalogue_names() -> list[str]:
    names = []
    for path in sorted((REPO / "assets" / "sources").glob("*/*.yaml")):
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))
        names.append(entry.get("name") or f"{entry['source']}_{entry['table_id']}")
    return names


def suite_assets() -> dict[str, list[str]]:
    """Suite name (file stem) -> the asset keys it names, for every checks/*.yaml that is not a base."""
    suites = {}
    for path in sorted((REPO / "checks").glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        asset = yaml.safe_load(path.read_text(encoding="utf-8"))["asset"]
        suites[path.stem] = [asset] if isinstance(asset, str) else list(asset)
    return suites


def suite_has_error_entry(path: Path) -> bool:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if any(entry.get("severity") == "error" for entry in document.get("expectations") or []):
        return True
    return bool(document.get("extends")) and suite_has_error_entry(path.parent / document["extends"])


def test_every_catalogue_entry_has_raw_and_staging_assets(graph):
    names = catalogue_names()
    assert len(names) >= 12
    keys = user_keys(graph.get_all_asset_keys())
    missing = [f"{layer}/{name}" for name in names for layer in ("raw", "staging")
               if f"{layer}/{name}" not in keys]
    assert missing == []


def test_the_backbone_assets_exist(graph):
    expected = {
        "geography/regions", "geography/region_history", "core/observations", "reports/goal_report",
        *SURVEY_ASSETS,
        *(f"marts/{mart}" for mart in MARTS),
        *(f"releases/{mart}" for mart in MARTS),
        *(f"{layer}/{name}" for name in catalogue_names() for layer in ("raw", "staging")),
    }
    assert user_keys(graph.get_all_asset_keys()) == expected


def test_every_release_promotes_its_staged_mart(graph):
    for mart in MARTS:
        node = graph.get(AssetKey(["releases", mart]))
        assert AssetKey(["marts", mart]) in node.parent_keys


def test_survey_assets_are_partitioned_by_wave(graph):
    for key in SURVEY_ASSETS:
        partitions = graph.get(AssetKey.from_user_string(key)).partitions_def
        assert isinstance(partitions, DynamicPartitionsDefinition) and partitions.name == "survey_waves"
    unpartitioned = [k for k in user_keys(graph.get_all_asset_keys()) - set(SURVEY_ASSETS)
                     if graph.get(AssetKey.from_user_string(k)).is_partitioned]
    assert unpartitioned == []


def test_every_asset_has_a_description_and_a_group(graph):
    lacking = [
        key.to_user_string() for key in graph.get_all_asset_keys()
        if not (graph.get(key).description or "").strip() or not graph.get(key).group_name
        or graph.get(key).group_name == "default"
    ]
    assert lacking == []


def test_every_suite_is_attached_as_a_check_to_its_asset(graph):
    suites = suite_assets()
    expected = {AssetCheckKey(AssetKey.from_user_string(asset), name)
                for name, assets in suites.items() for asset in assets}
    assert len(expected) == sum(len(assets) for assets in suites.values()) >= 20
    assert set(graph.asset_check_keys) == expected


def test_suites_with_error_entries_are_blocking_checks(graph):
    for check_key in graph.asset_check_keys:
        blocking = suite_has_error_entry(REPO / "checks" / f"{check_key.name}.yaml")
        assert graph.get(check_key).blocking == blocking, check_key
    # write-audit-publish: every staged mart has a blocking audit before its release
    for mart in MARTS:
        checks = [graph.get(k) for k in graph.asset_check_keys if k.asset_key == AssetKey(["marts", mart])]
        assert any(check.blocking for check in checks), mart


def test_jobs(graph):
    pipeline_job = defs.resolve_job_def("pipeline_job")
    assert pipeline_job.executor_def.name == "in_process"
    everything_but_surveys = user_keys(graph.get_all_asset_keys()) - set(SURVEY_ASSETS)
    assert user_keys(pipeline_job.asset_layer.selected_asset_keys) == everything_but_surveys

    ingest = defs.resolve_job_def("survey_ingest_job")
    assert user_keys(ingest.asset_layer.selected_asset_keys) == set(SURVEY_ASSETS)
    assert isinstance(ingest.partitions_def, DynamicPartitionsDefinition)
    assert ingest.partitions_def.name == "survey_waves"

    survey_marts = defs.resolve_job_def("survey_marts_job")
    assert user_keys(survey_marts.asset_layer.selected_asset_keys) == {
        "marts/survey_results", "marts/survey_change"}


def test_nightly_schedule_runs_outside_ssb_busy_hours():
    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.execution_timezone == "Europe/Oslo"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "pipeline_job"

    minute, hour, *_ = schedule.cron_schedule.split()
    start = int(hour) * 60 + int(minute)
    for busy_from, busy_to in SSB_BUSY:
        too_close = busy_from - MARGIN_MINUTES <= start <= busy_to + MARGIN_MINUTES
        assert not too_close, f"minute {start} is within {MARGIN_MINUTES} min of {busy_from}-{busy_to}"


def test_survey_wave_sensor_requests_the_ingest_job():
    sensor = defs.resolve_sensor_def("survey_wave_sensor")
    assert sensor.job_name == "survey_ingest_job"
