"""When run_pipeline may skip its build step: the inputs it compares and the reasons it gives.

The end-to-end behaviour (a no-change rerun publishes nothing and downloads no data; a moved `updated`
rebuilds) is tested in test_live_e2e.py and test_pipeline_e2e.py; here each kind of input is changed
on its own, on copies of the catalogue and checks, without running the pipeline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey

from ci_pipeline.marts import MartStore
from ci_pipeline.run import _record_build, _why_build, build_inputs
from ci_pipeline.settings import Settings

RAW = AssetKey(["raw", "ssb_10826"])
REGIONS = AssetKey(["geography", "regions"])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = Settings.from_env({})
    shutil.copytree(base.checks_root, tmp_path / "checks")
    shutil.copytree(base.catalogue_root / "indicators", tmp_path / "assets" / "indicators")
    settings = base.with_(warehouse_root=tmp_path / "warehouse", checks_root=tmp_path / "checks",
                          catalogue_root=tmp_path / "assets")
    raw = settings.warehouse_root / "assets" / "raw" / "ssb_10826.json"
    raw.parent.mkdir(parents=True)
    raw.write_text(json.dumps({"name": "ssb_10826", "changed": True, "responses": [{"sha256": "a" * 64}]}))
    regions = settings.warehouse_root / "assets" / "geography" / "regions.parquet"
    regions.parent.mkdir(parents=True)
    pd.DataFrame({"code": ["0301"], "name_nb": ["Oslo"]}).to_parquet(regions, index=False)
    return settings


def changed_parts(settings: Settings, before: dict[str, str]) -> list[str]:
    after = build_inputs(settings, [RAW, REGIONS])
    return [name for name in before if before[name] != after[name]]


def test_each_input_is_compared_on_its_own(settings: Settings):
    before = build_inputs(settings, [RAW, REGIONS])
    assert changed_parts(settings, before) == []

    raw = settings.warehouse_root / "assets" / "raw" / "ssb_10826.json"
    document = json.loads(raw.read_text())
    raw.write_text(json.dumps({**document, "changed": False}))
    assert changed_parts(settings, before) == [], "whether this run downloaded is not an input"
    raw.write_text(json.dumps({**document, "responses": [{"sha256": "b" * 64}]}))
    assert changed_parts(settings, before) == ["source answers and geography"]
    raw.write_text(json.dumps(document))

    check = min(settings.checks_root.glob("*.yaml"))
    check.write_text(check.read_text() + "\n# edited\n")
    assert changed_parts(settings, before) == ["checks"]
    before = build_inputs(settings, [RAW, REGIONS])

    indicator = min((settings.catalogue_root / "indicators").glob("*.yaml"))
    indicator.write_text(indicator.read_text() + "\n# edited\n")
    assert changed_parts(settings, before) == ["catalogue"]
    before = build_inputs(settings, [RAW, REGIONS])

    survey = settings.warehouse_root / "survey" / "responses" / "2024-spring.parquet"
    survey.parent.mkdir(parents=True)
    survey.write_bytes(b"stored responses")
    assert changed_parts(settings, before) == ["survey responses"]
    assert build_inputs(settings.with_(http_max_retries=2), [RAW, REGIONS])["settings"] != before["settings"]


def test_the_build_runs_unless_the_recorded_build_is_still_current(settings: Settings):
    inputs = build_inputs(settings, [RAW, REGIONS])
    assert _why_build(settings, inputs) == "no complete build recorded in this warehouse"

    store = MartStore(settings.warehouse_root)
    store.publish("regions", pd.DataFrame({"code": ["0301"]}))
    report = settings.warehouse_root / "reports" / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    _record_build(settings, inputs, [str(report)])
    assert _why_build(settings, inputs) is None

    assert _why_build(settings, {**inputs, "checks": "other"}) == "changed since the last complete build: checks"
    report.unlink()
    assert _why_build(settings, inputs) == f"outputs of the last build are missing: {report}"
    report.write_text("<html></html>")
    store.publish("regions", pd.DataFrame({"code": ["0301", "4601"]}))
    assert _why_build(settings, inputs) == "LATEST no longer names the last build's version: regions"


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

