"""One skipping mechanism (ci_pipeline/defs/automation.py): what a build materialises is what Dagster counts
as out of sync (its stale status: missing, a new code version, an input with a new data version), plus an
asset whose stored file is gone and the staged mart of a release. `make run` (run.py) and the
build_after_refresh sensor of the nightly refresh both ask build_selection.

Here each kind of change is made on its own on a small graph of the pipeline's shape (raw -> staging ->
marts -> releases); the whole pipeline's behaviour (an unchanged rerun builds nothing; a moved `updated`
rebuilds what depends on that table) is tested in test_pipeline_e2e.py and test_live_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from ci_pipeline.defs.automation import (
    AFTER_RUN_TAG,
    BUILD,
    MAKE_RUN,
    NIGHTLY,
    STEP_TAG,
    TRIGGER_TAG,
    build_after_refresh_sensor,
    build_selection,
)
from ci_pipeline.defs.versions import source_data_version
from ci_pipeline.settings import Settings

RAW, OTHER_RAW = dg.AssetKey(["raw", "src"]), dg.AssetKey(["raw", "other"])
STAGING, OTHER_STAGING = dg.AssetKey(["staging", "src"]), dg.AssetKey(["staging", "other"])
MART, RELEASE = dg.AssetKey(["marts", "m"]), dg.AssetKey(["releases", "m"])


class Graph:
    """raw/src -> staging/src -> marts/m -> releases/m, and raw/other -> staging/other; the sources'
    versions and the assets' code versions can be changed between runs."""

    def __init__(self, tmp_path: Path):
        self.instance = dg.DagsterInstance.ephemeral()
        self.source = {"src": "2024-01-01 aaa", "other": "2024-01-01 bbb"}
        self.code = {STAGING: "1", OTHER_STAGING: "1", MART: "1", RELEASE: "1"}
        self.mart_file = tmp_path / "m.parquet"

    def assets(self) -> list:
        def raw(name):
            @dg.asset(key=["raw", name], code_version="1")
            def _raw():
                return dg.Output(None, data_version=dg.DataVersion(self.source[name]))
            return _raw

        def derived(key, parents, body=None):
            @dg.asset(key=key, deps=parents, code_version=self.code[key])
            def _derived():
                return body() if body else None
            return _derived

        def write_mart():
            self.mart_file.write_text("rows")
            return dg.MaterializeResult(metadata={"path": str(self.mart_file)})

        return [raw("src"), raw("other"), derived(STAGING, [RAW]), derived(OTHER_STAGING, [OTHER_RAW]),
                derived(MART, [STAGING], write_mart), derived(RELEASE, [MART])]

    def defs(self) -> dg.Definitions:
        return dg.Definitions(assets=self.assets())

    def run(self, *keys: dg.AssetKey) -> None:
        assets = self.assets()
        selection = list(keys) or [k for a in assets for k in a.keys]
        assert dg.materialize(assets, instance=self.instance, selection=selection).success

    def selection(self):
        graph = self.defs().resolve_asset_graph()
        return build_selection(self.instance, graph, graph.get_all_asset_keys())


@pytest.fixture
def graph(tmp_path) -> Graph:
    built = Graph(tmp_path)
    built.run()
    return built


def test_nothing_is_out_of_sync_after_a_build_or_an_unchanged_refresh(graph):
    assert not graph.selection()
    graph.run(RAW, OTHER_RAW)
    assert not graph.selection()


def test_a_source_with_a_new_version_rebuilds_what_depends_on_it_and_nothing_else(graph):
    graph.source["src"] = "2025-01-01 ccc"
    graph.run(RAW, OTHER_RAW)
    selection = graph.selection()
    assert selection.keys == [MART, RELEASE, STAGING]
    assert selection.reasons[STAGING] == "has a new dependency data version: raw/src"
    graph.run(*selection.keys)
    assert not graph.selection()


def test_a_new_code_version_rebuilds_that_asset_and_what_depends_on_it(graph):
    graph.code[OTHER_STAGING] = "2"
    selection = graph.selection()
    assert selection.keys == [OTHER_STAGING] and "new code version" in selection.reasons[OTHER_STAGING]


def test_a_stored_file_that_is_gone_is_built_again(graph):
    graph.mart_file.unlink()
    selection = graph.selection()
    assert selection.keys == [MART, RELEASE]
    assert selection.reasons == {MART: f"its stored value {graph.mart_file} is missing"}


def test_a_release_is_built_with_its_staged_mart(tmp_path):
    """A run killed between a mart's build and its release: the release is missing, and the mart is built
    and audited again with it (a release publishes only what its suites passed in the same build)."""
    graph = Graph(tmp_path)
    graph.run(RAW, OTHER_RAW, STAGING, OTHER_STAGING, MART)
    selection = graph.selection()
    assert selection.reasons == {RELEASE: "never materialised"}
    assert selection.keys == [MART, RELEASE]


def test_the_source_data_version_is_its_stamp_and_content_not_when_it_was_fetched():
    summary = {"updated": "2024-06-20T08:00:00Z", "changed": True, "fetched_at": "2026-01-01",
               "responses": [{"sha256": "a" * 64, "url": "u1"}, {"sha256": "b" * 64, "url": "u2"}]}
    version = source_data_version(summary)
    assert version.startswith("2024-06-20T08:00:00Z ")
    assert source_data_version({**summary, "changed": False, "fetched_at": "2026-02-02"}) == version
    assert source_data_version({**summary, "responses": summary["responses"][::-1]}) == version
    assert source_data_version({**summary, "responses": [{"sha256": "c" * 64}]}) != version
    assert source_data_version({**summary, "updated": "2025-01-01T00:00:00Z"}) != version
    files = {"files": [{"path": "x.yaml", "sha256": "d" * 64}]}
    assert source_data_version(files) != source_data_version({"files": [{"path": "x.yaml", "sha256": "e" * 64}]})


def sensor_tick(graph: Graph, tags: dict[str, str]):
    """The build_after_refresh sensor's answer to a successful refresh run tagged `tags`."""
    refresh = dg.define_asset_job("refresh_job", selection=[RAW, OTHER_RAW], tags={STEP_TAG: "refresh"})
    build = dg.define_asset_job("pipeline_job", selection=dg.AssetSelection.all())
    sensor = build_after_refresh_sensor(build, [refresh])
    defs = dg.Definitions(assets=graph.assets(), jobs=[refresh, build], sensors=[sensor])
    result = defs.resolve_job_def("refresh_job").execute_in_process(instance=graph.instance, tags=tags)
    context = dg.build_run_status_sensor_context(
        sensor_name="build_after_refresh", dagster_instance=graph.instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(), repository_def=defs.get_repository_def())
    return sensor(context), result.run_id


def test_the_nightly_sensor_builds_what_the_refresh_left_out_of_sync(graph):
    skipped, _ = sensor_tick(graph, {TRIGGER_TAG: NIGHTLY})
    assert isinstance(skipped, dg.SkipReason) and "nothing to build" in skipped.skip_message

    graph.source["other"] = "2025-01-01 ddd"
    request, run_id = sensor_tick(graph, {TRIGGER_TAG: NIGHTLY})
    assert isinstance(request, dg.RunRequest)
    assert request.asset_selection == [OTHER_STAGING]
    assert request.tags == {STEP_TAG: BUILD, TRIGGER_TAG: NIGHTLY, AFTER_RUN_TAG: run_id}


def test_the_sensor_leaves_make_run_to_build_in_its_own_process(graph):
    graph.source["other"] = "2025-01-01 ddd"
    skipped, _ = sensor_tick(graph, {TRIGGER_TAG: MAKE_RUN})
    assert isinstance(skipped, dg.SkipReason) and "make run" in skipped.skip_message


def test_http_settings_come_from_the_environment():
    from ci_pipeline.ingest import HostThrottles, make_clients

    settings = Settings.from_env({"CI_PIPELINE_HTTP_TIMEOUT": "2.5", "CI_PIPELINE_HTTP_MAX_RETRIES": "0",
                                  "CI_PIPELINE_HTTP_BACKOFF_BASE": "0.01", "CI_PIPELINE_REQUESTS_PER_MINUTE": "600"})
    http = make_clients(settings, HostThrottles()).ssb.http
    assert (http.timeout, http.max_retries, http.backoff_base, http.throttle.max_calls) == ((2.5, 2.5), 0, 0.01, 600)
    defaults = make_clients(Settings.from_env({}), HostThrottles()).fhi.http
    assert (defaults.timeout, defaults.max_retries, defaults.throttle.max_calls) == ((10.0, 120.0), 6, 30)
    with pytest.raises(ValueError, match=r"^environment: CI_PIPELINE_HTTP_MAX_RETRIES: Input should be a valid "
                                         r"integer.*\(got 'many'\)$"):
        Settings.from_env({"CI_PIPELINE_HTTP_MAX_RETRIES": "many"})
    with pytest.raises(ValueError, match=r"^environment: CI_PIPELINE_REQUESTS_PER_MINUTE: Input should be greater "
                                         r"than or equal to 1 \(got '0'\)$"):
        Settings.from_env({"CI_PIPELINE_REQUESTS_PER_MINUTE": "0"})



def test_an_unchanged_klass_geography_is_not_materialised_again(tmp_path):
    """An unchanged refresh leaves the geography (and its expectation suites) alone; a stored file that is
    gone, or a new code version (here: an edited suite that audits the regions), builds it again."""
    import shutil

    from ci_pipeline.definitions import build_definitions

    regions = dg.AssetKey(["geography", "regions"])
    geography = [regions, dg.AssetKey(["geography", "region_history"])]
    instance = dg.DagsterInstance.ephemeral()
    settings = Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse", mode="replay")

    jobs = {}

    def refresh(settings: Settings) -> tuple[set, list]:
        if settings not in jobs:
            jobs[settings] = build_definitions(settings).resolve_implicit_global_asset_job_def()
        result = jobs[settings].execute_in_process(instance=instance, asset_selection=geography)
        assert result.success
        return ({event.asset_key for event in result.get_asset_materialization_events()},
                [(e.asset_key, e.passed) for e in result.get_asset_check_evaluations()])

    built, checked = refresh(settings)
    assert built == set(geography) and checked == [(regions, True)]
    assert refresh(settings) == (set(), [])

    (tmp_path / "warehouse" / "assets" / "geography" / "regions.parquet").unlink()
    assert refresh(settings)[0] == set(geography)
    assert refresh(settings) == (set(), [])

    checks = tmp_path / "checks"
    shutil.copytree(settings.checks_root, checks)
    suite = checks / "geography_regions.yaml"
    suite.write_text(suite.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = settings.with_(checks_root=checks)
    assert refresh(edited) == (set(geography), [(regions, True)])
    assert refresh(edited) == (set(), [])
