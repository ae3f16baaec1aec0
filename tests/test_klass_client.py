"""KLASS client: JSON Accept header, request parameters, archive resources, real recorded answers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from standin import StandinServer, live_http, store_answer
from support import reference

from ci_pipeline.archive import Archive
from ci_pipeline.http import HttpClient
from ci_pipeline.sources.klass import KlassClient

CHANGES = {
    "codeChanges": [
        {
            "oldCode": "1103",
            "oldName": "Stavanger",
            "newCode": "1103",
            "newName": "Stavanger",
            "changeOccurred": "2020-01-01",
        }
    ]
}


def live_client(server: StandinServer, tmp_path: Path) -> KlassClient:
    return KlassClient(live_http(server, "klass", tmp_path))


@pytest.fixture
def snapshots(tmp_path: Path) -> Archive:
    archive = Archive(tmp_path / "snapshots")
    store_answer(
        archive,
        "klass",
        "131",
        "GET",
        "classifications/131/changes",
        params={"from": "2019-01-01", "to": "2021-01-01"},
        body=json.dumps(CHANGES).encode(),
        provenance="illustrative",
    )
    store_answer(
        archive,
        "klass",
        "correspondencetables",
        "GET",
        "correspondencetables/742",
        body=b'{"name": "illustrative", "correspondenceMaps": []}',
        provenance="illustrative",
    )
    return archive


def test_every_request_asks_for_json_and_uses_the_documented_parameters(
    snapshots: Archive, tmp_path: Path
) -> None:
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path)
        assert client.changes(131, "2019-01-01", date(2021, 1, 1)) == CHANGES
        assert client.correspondence_table(742)["name"] == "illustrative"
        assert [seen.headers["Accept"] for seen in server.requests] == [
            "application/json",
            "application/json",
        ]
    resources = sorted(a.resource for a in Archive(tmp_path / "warehouse").entries("klass"))
    assert resources == ["131", "correspondencetables"]


@pytest.mark.parametrize("bad", ["2020-1-1", "01.01.2020", "2020-02-30"])
def test_dates_must_be_iso(bad: str, tmp_path: Path) -> None:
    client = KlassClient(
        HttpClient(
            "klass",
            "http://127.0.0.1:9/",
            mode="replay",
            snapshot_archive=Archive(tmp_path / "s"),
            warehouse_archive=Archive(tmp_path / "w"),
        )
    )
    with pytest.raises(ValueError):
        client.codes(131, bad)


@pytest.mark.reference
def test_real_klass_answers_through_the_client(tmp_path: Path) -> None:
    files = {
        "classification": reference("klass", "klass_103_classification_bydelsinndeling.json"),
        "version": reference("klass", "klass_103_version_1168_bydelsinndeling_2020.json"),
        "codes_at": reference("klass", "klass_131_codesAt_2023-03-02_municipalities.json"),
        "codes": reference("klass", "klass_104_codes_from_2022-07-10_counties.json"),
    }
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(
        snapshots, "klass", "103", "GET", "classifications/103", body=files["classification"].read_bytes()
    )
    store_answer(snapshots, "klass", "versions", "GET", "versions/1168", body=files["version"].read_bytes())
    store_answer(
        snapshots,
        "klass",
        "131",
        "GET",
        "classifications/131/codesAt",
        params={"date": "2023-03-02", "language": "nb"},
        body=files["codes_at"].read_bytes(),
    )
    store_answer(
        snapshots,
        "klass",
        "104",
        "GET",
        "classifications/104/codes",
        params={"from": "2022-07-10", "language": "nb"},
        body=files["codes"].read_bytes(),
    )
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path)
        versions = client.classification(103)["versions"]
        version = client.version(1168)
        municipalities = client.codes_at(131, "2023-03-02")["codes"]
        counties = client.codes(104, "2022-07-10")["codes"]
        assert {seen.headers["Accept"] for seen in server.requests} == {"application/json"}
    assert {v["id"] for v in versions} >= {398, 399, 919, 1168}
    assert any(item["code"] == "030101" for item in version["classificationItems"])
    assert any(code["code"] == "0301" and code["name"] == "Oslo" for code in municipalities)
    assert any(code["code"] == "03" for code in counties)
