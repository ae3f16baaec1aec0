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


def test_core_observations_depends_on_every_staged_table_and_the_geography(graph):
    # The staged tables are deps it reads itself, not inputs: still its parents, so lineage and staleness hold.
    expected = {f"staging/{name}" for name in catalogue_names()} | {"geography/regions", "geography/region_history"}
    assert user_keys(graph.get(AssetKey(["core", "observations"])).parent_keys) == expected


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
    suite_checks = {key for key in graph.asset_check_keys if key.name != "freshness"}
    assert suite_checks == expected


def test_every_raw_asset_has_a_non_blocking_freshness_check(graph):
    freshness = {key for key in graph.asset_check_keys if key.name == "freshness"}
    assert {key.asset_key for key in freshness} == {AssetKey(["raw", name]) for name in catalogue_names()}
    assert not any(graph.get(key).blocking for key in freshness)


def test_suites_with_error_entries_are_blocking_checks(graph):
    for check_key in graph.asset_check_keys:
        if check_key.name == "freshness":
            continue
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
    assert schedule.job_name == "refresh_job"

    minute, hour, *_ = schedule.cron_schedule.split()
    start = int(hour) * 60 + int(minute)
    for busy_from, busy_to in SSB_BUSY:
        too_close = busy_from - MARGIN_MINUTES <= start <= busy_to + MARGIN_MINUTES
        assert not too_close, f"minute {start} is within {MARGIN_MINUTES} min of {busy_from}-{busy_to}"


def test_survey_wave_sensor_requests_the_ingest_job():
    sensor = defs.resolve_sensor_def("survey_wave_sensor")
    assert sensor.job_name == "survey_ingest_job"


# --- what the UI shows about every asset (issue 15) ----------------------------------------------------


def test_every_asset_has_a_code_version_owners_kinds_and_code_references(graph):
    from ci_pipeline.defs.annotations import CODE_REFERENCES

    lacking = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        missing = [name for name, present in (
            ("code_version", bool(node.code_version)), ("owners", bool(node.owners)),
            ("kinds", bool(node.kinds)), ("code references", CODE_REFERENCES in node.metadata)) if not present]
        if missing:
            lacking[key.to_user_string()] = missing
    assert lacking == {}


def test_code_versions_say_what_they_are_made_of(graph):
    node = graph.get(AssetKey(["marts", "goal_progress"]))
    parts = node.metadata["code_version_inputs"].value
    assert {"code (ci_pipeline/)", "libraries", "assets/goals.yaml", "checks/goal_progress.yaml"} <= set(parts)
    raw = graph.get(AssetKey(["raw", "ssb_10826"])).metadata["code_version_inputs"].value
    assert "assets/sources/ssb/ssb_10826.yaml" in raw and "assets/goals.yaml" not in raw


def test_every_mart_and_release_carries_its_contract_as_a_column_schema(graph):
    from ci_pipeline.schema import contract

    for mart in MARTS:
        expected = [(c.name, c.description) for c in contract(mart).columns]
        for layer in ("marts", "releases"):
            value = graph.get(AssetKey([layer, mart])).metadata["dagster/column_schema"]
            schema = getattr(value, "schema", value)  # a TableSchema, or its metadata value once serialised
            assert [(c.name, c.description) for c in schema.columns] == expected, f"{layer}/{mart}"
            assert all(c.description and c.type for c in schema.columns)


def test_owners_follow_owners_yaml_by_group(graph):
    owners = yaml.safe_load((REPO / "assets" / "owners.yaml").read_text(encoding="utf-8"))
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert list(node.owners) == owners["groups"].get(node.group_name, owners["default"]), key


def test_an_owners_group_no_asset_belongs_to_is_refused(tmp_path):
    import shutil

    from ci_pipeline.config import ConfigError
    from ci_pipeline.definitions import build_definitions
    from ci_pipeline.settings import Settings

    catalogue = tmp_path / "assets"
    shutil.copytree(REPO / "assets", catalogue)
    owners = catalogue / "owners.yaml"
    owners.write_text(owners.read_text(encoding="utf-8").replace("  marts:", "  mart:"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"owners.yaml: groups.mart: no asset is in group 'mart'"):
        build_definitions(Settings.from_env({}).with_(catalogue_root=catalogue))


def test_the_code_location_is_named_ci_pipeline():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))
    assert workspace["load_from"][0]["python_module"]["location_name"] == "ci_pipeline"
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'code_location_name = "ci_pipeline"' in pyproject


def test_dg_check_defs_loads_the_code_location(tmp_path):
    """What CI runs (`make check-defs`): Dagster's own loader accepts every definition."""
    import os
    import subprocess
    import sys

    from support import dagster_home

    venv = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home(tmp_path / "home")), "VIRTUAL_ENV": str(venv.parent),
           "PATH": f"{venv}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(venv / "dg"), "check", "defs", "--use-active-venv"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_make_dev_runs_dg_dev_on_an_overridable_port():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "PORT ?= 3000" in makefile
    dev = makefile.split("\ndev:", 1)[1].split("\n\n", 1)[0]
    assert "dg dev" in dev and "--port $(PORT)" in dev and "dagster dev" not in dev


def test_the_catalogue_is_one_read_only_duckdb_resource(tmp_path):
    """dagster-duckdb's DuckDBResource, configured in one place (defs/resources.py), reads the analysts'
    views as they do: a release reads its view through it after publishing."""
    import duckdb
    import pandas as pd
    from dagster_duckdb import DuckDBResource

    from ci_pipeline.defs.releases import view_rows
    from ci_pipeline.defs.resources import catalogue_resource
    from ci_pipeline.marts import MartStore
    from ci_pipeline.settings import Settings

    resource = defs.resources["catalogue"]
    assert isinstance(resource, DuckDBResource) and resource.connection_config["access_mode"] == "READ_ONLY"

    settings = Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse")
    MartStore(settings.warehouse_root).publish("regions", pd.DataFrame({"code": ["0301", "030101"]}))
    catalogue = catalogue_resource(settings)
    assert view_rows(catalogue, "regions") == 2
    with catalogue.get_connection() as connection, pytest.raises(duckdb.Error, match="read-only"):
        connection.execute("CREATE TABLE scratch (a INTEGER)")
