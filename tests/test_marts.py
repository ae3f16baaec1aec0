"""MartStore: versioned Parquet marts, manifests, _LATEST, retention and the DuckDB catalogue.

Crash safety: tests/test_publish_boundaries.py (a kill at every write boundary) and tests/test_crash.py
(kills at random points, and of the whole pipeline).
"""

import hashlib
import json
from datetime import UTC, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ci_pipeline import catalog
from ci_pipeline.marts import MartError, MartStore, content_sha256

MART = "demo"
T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 2, 1, tzinfo=UTC)
T3 = datetime(2024, 3, 1, tzinfo=UTC)


def frame(values: list[float], label: str = "a") -> pd.DataFrame:
    return pd.DataFrame({
        "region_code": [f"0301{i + 1:02d}" for i in range(len(values))],
        "label": label,
        "value": pd.Series(values, dtype="float64"),
    })


def catalog_query(store: MartStore, sql: str) -> list[tuple]:
    con = catalog.connect(store.root)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_publish_writes_version_folder_manifest_and_latest(tmp_path):
    store = MartStore(tmp_path)
    inputs = [{"source": "ssb", "table_id": "10826", "snapshot_sha256": "ab" * 32}]
    checks = [{"check": "marts_demo", "passed": True, "severity": "ERROR"}]
    first = store.publish(MART, frame([1.0, 2.0, 3.0]), inputs=inputs, checks=checks, now=T1)

    assert first.published and first.previous_version is None and first.row_count == 3
    folder = tmp_path / "marts" / MART / f"version={first.version}"
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "part-0.parquet"]
    assert (tmp_path / "marts" / MART / "_LATEST").read_text().strip() == first.version

    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["row_count"] == 3
    parquet_schema = pq.read_schema(folder / "part-0.parquet")
    assert [(c["name"], c["type"]) for c in manifest["schema"]] == [
        (f.name, str(f.type)) for f in parquet_schema]
    assert [c["name"] for c in manifest["schema"]] == ["region_code", "label", "value"]
    assert manifest["file_sha256"] == hashlib.sha256((folder / "part-0.parquet").read_bytes()).hexdigest()
    assert manifest["content_sha256"] == content_sha256(pd.read_parquet(folder / "part-0.parquet"))
    assert manifest["inputs"] == inputs and manifest["checks"] == checks
    assert isinstance(manifest["code_version"], str) and manifest["code_version"]
    assert manifest["previous_version"] is None

    second = store.publish(MART, frame([1.0, 2.0, 4.0]), now=T2)
    assert second.published and second.version != first.version
    assert store.manifest(MART, second.version)["previous_version"] == first.version
    assert store.latest_version(MART) == second.version
    assert store.read(MART)["value"].tolist() == [1.0, 2.0, 4.0]
    assert store.read(MART, first.version)["value"].tolist() == [1.0, 2.0, 3.0]


def test_identical_content_is_not_published_again(tmp_path):
    store = MartStore(tmp_path)
    first = store.publish(MART, frame([1.0, 2.0]), now=T1)
    again = store.publish(MART, frame([1.0, 2.0]), now=T2)

    assert not again.published and again.version == first.version
    assert store.versions(MART) == [first.version]
    assert store.latest_version(MART) == first.version


def test_verify_detects_a_tampered_part_file(tmp_path):
    store = MartStore(tmp_path)
    version = store.publish(MART, frame([1.0, 2.0]), now=T1).version
    store.verify(MART, version)

    part = store.version_dir(MART, version) / "part-0.parquet"
    frame([1.0, 999.0]).to_parquet(part, index=False)
    with pytest.raises(MartError, match="file_sha256"):
        store.verify(MART, version)

    part.unlink()
    with pytest.raises(MartError, match="missing"):
        store.verify(MART, version)


def test_prune_keeps_the_version_latest_names(tmp_path):
    store = MartStore(tmp_path)
    v1 = store.publish(MART, frame([1.0]), now=T1).version
    v2 = store.publish(MART, frame([2.0]), now=T2).version
    v3 = store.publish(MART, frame([3.0]), now=T3).version
    # a rollback: LATEST names the oldest version
    (tmp_path / "marts" / MART / "_LATEST").write_text(v1 + "\n")

    assert store.prune(MART, keep=1) == [v2]
    assert store.versions(MART) == [v1, v3]
    assert store.latest_version(MART) == v1
    assert store.read(MART)["value"].tolist() == [1.0]
    assert catalog_query(store, f"SELECT value FROM {MART}") == [(1.0,)]
    with pytest.raises(MartError):
        store.prune(MART, keep=0)


def test_catalog_has_a_latest_view_and_a_versions_view(tmp_path):
    store = MartStore(tmp_path)
    v1 = store.publish(MART, frame([1.0, 2.0, 3.0]), now=T1).version
    v2 = store.publish(MART, frame([1.0, 2.0, 3.0, 4.0, 5.0]), now=T2).version
    store.publish("other", frame([7.0]), now=T1)

    assert catalog_query(store, f"SELECT count(*) FROM {MART}") == [(5,)]
    per_version = catalog_query(store, f"SELECT version, count(*) FROM {MART}_versions GROUP BY 1 ORDER BY 1")
    assert [(str(v), n) for v, n in per_version] == [(v1, 3), (v2, 5)]
    assert catalog_query(store, "SELECT sum(value) FROM other") == [(7.0,)]
