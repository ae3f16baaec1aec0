"""The `pipeline` resource: one per definitions, clients built once per run, one throttle per host for
the process, and the IO manager's paths taken from it (not from the environment)."""

import dagster as dg
import pandas as pd
import pytest

from ci_pipeline.definitions import build_definitions
from ci_pipeline.defs.io import WarehouseIOManager, read_stored_tables
from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.settings import Settings


def test_clients_are_built_once_per_run_and_every_run_shares_the_host_throttles(tmp_path):
    settings = Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse")
    pipeline = build_definitions(settings, include_checks=False).resources["pipeline"]
    assert isinstance(pipeline, PipelineResource) and pipeline.settings is settings
    seen = []

    @dg.asset
    def first(pipeline: PipelineResource) -> None:
        seen.append(pipeline.clients)

    @dg.asset(deps=[first])
    def second(pipeline: PipelineResource) -> None:
        seen.append(pipeline.clients)

    for _ in range(2):
        assert dg.materialize([first, second], resources={"pipeline": pipeline}).success
    run1, run2 = seen[:2], seen[2:]
    assert run1[0] is run1[1] and run2[0] is run2[1], "one set of clients per run, shared by its assets"
    ssb_throttle = run1[0].ssb.http.throttle
    assert ssb_throttle is run2[0].ssb.http.throttle, "the throttle outlives a run"
    assert ssb_throttle is run2[0].klass.http.throttle, "SSB and KLASS share data.ssb.no"
    assert ssb_throttle is not run1[0].fhi.http.throttle
    assert run1[0].warehouse_archive.root == settings.archive_root
    assert run1[0].snapshot_archive.root == settings.snapshot_root


def test_the_io_manager_writes_under_the_resource_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CI_PIPELINE_WAREHOUSE", str(tmp_path / "not_here"))
    pipeline = PipelineResource(settings=Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse"))

    @dg.asset(key=["staging", "example"])
    def example() -> pd.DataFrame:
        return pd.DataFrame({"value": [1, 2]})

    result = dg.materialize([example], resources={"pipeline": pipeline, "io_manager": WarehouseIOManager(pipeline=pipeline)})
    assert result.success
    assert pd.read_parquet(tmp_path / "warehouse" / "assets" / "staging" / "example.parquet")["value"].tolist() == [1, 2]
    assert not (tmp_path / "not_here").exists()


def test_stored_tables_are_read_where_the_io_manager_wrote_them_and_a_missing_one_is_named(tmp_path):
    pipeline = PipelineResource(settings=Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse"))

    @dg.asset(key=["staging", "example"])
    def example() -> pd.DataFrame:
        return pd.DataFrame({"value": [1, 2]})

    assert dg.materialize([example], resources={"pipeline": pipeline,
                                                "io_manager": WarehouseIOManager(pipeline=pipeline)}).success
    (table,) = read_stored_tables(tmp_path / "warehouse", [dg.AssetKey(["staging", "example"])])
    assert table.column("value").to_pylist() == [1, 2]
    with pytest.raises(FileNotFoundError, match=r"asset staging/other has not been materialised under .*other\.parquet"):
        read_stored_tables(tmp_path / "warehouse", [dg.AssetKey(["staging", "example"]), dg.AssetKey(["staging", "other"])])
