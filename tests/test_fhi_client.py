"""FHI Statistikk client: timestamps, table listing/change detection, mandatory dimensions, data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standin import FaultPlan, StandinServer, live_http, store_answer
from support import reference

from ci_pipeline.archive import Archive
from ci_pipeline.errors import MissingDimensionsError
from ci_pipeline.sources.fhi import FhiClient, parse_fhi_timestamp

QUERY = {
    "dimensions": [
        {"code": "GEO", "filter": "all", "values": ["*"]},
        {"code": "AAR", "filter": "top", "values": ["1"]},
        {"code": "KJONN", "filter": "item", "values": ["0"]},
        {"code": "ALDER", "filter": "item", "values": ["0_120"]},
        {"code": "MEASURE_TYPE", "filter": "item", "values": ["RATE"]},
    ],
    "response": {"format": "json-stat2", "maxRowCount": 50000},
}
LISTING = [
    {
        "tableId": 175,
        "title": "Befolkningsvekst",
        "publishedAt": "2024-03-01T00:00:00",
        "modifiedAt": "2024-03-01T08:15:00.1234567+00:00",
    },
    {
        "tableId": 360,
        "title": "Lavinntekt",
        "publishedAt": "2024-03-01T00:00:00",
        "modifiedAt": "2024-02-01T08:15:00Z",
    },
]


def test_parse_fhi_timestamp_with_seven_fraction_digits() -> None:
    assert parse_fhi_timestamp("2022-12-20T11:44:58.7706326+00:00") == datetime(
        2022, 12, 20, 11, 44, 58, 770632, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T08:15:00Z", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
        ("2024-03-01T09:15:00.5+01:00", datetime(2024, 3, 1, 8, 15, 0, 500000, tzinfo=UTC)),
        ("2024-03-01T08:15:00", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
        ("2024-03-01T03:15:00-0500", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
    ],
)
def test_parse_fhi_timestamp_variants(text: str, expected: datetime) -> None:
    assert parse_fhi_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2024-03-01", "yesterday", "2024-13-01T00:00:00Z", ""])
def test_parse_fhi_timestamp_rejects_non_timestamps(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fhi_timestamp(text)


@pytest.fixture
def snapshots(tmp_path: Path) -> Archive:
    archive = Archive(tmp_path / "snapshots")
    store_answer(
        archive,
        "fhi",
        "catalogue",
        "GET",
        "nokkel/table",
        body=json.dumps(LISTING).encode(),
        provenance="illustrative",
    )
    store_answer(
        archive,
        "fhi",
        "catalogue",
        "GET",
        "nokkel/table",
        params={"modifiedAfter": "2024-02-15"},
        body=json.dumps(LISTING[:1]).encode(),
        provenance="illustrative",
    )
    store_answer(
        archive,
        "fhi",
        "175",
        "GET",
        "nokkel/table/175",
        body=json.dumps(LISTING[0]).encode(),
        provenance="illustrative",
    )
    store_answer(
        archive,
        "fhi",
        "175",
        "GET",
        "nokkel/table/175/query",
        body=json.dumps(QUERY).encode(),
        provenance="illustrative",
    )
    store_answer(
        archive,
        "fhi",
        "175",
        "GET",
        "nokkel/table/175/flag",
        body=json.dumps([{"title": ":", "text": "Anonymisert"}]).encode(),
        provenance="illustrative",
    )
    return archive


def live_client(server: StandinServer, tmp_path: Path) -> FhiClient:
    return FhiClient(live_http(server, "fhi", tmp_path))


def test_tables_sends_modified_after_only_when_given(snapshots: Archive, tmp_path: Path) -> None:
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path)
        assert [t["tableId"] for t in client.tables()] == [175, 360]
        assert [t["tableId"] for t in client.tables(modified_after="2024-02-15")] == [175]
        assert client.flags(175) == [{"title": ":", "text": "Anonymisert"}]


def test_modified_at_follows_a_moved_table(snapshots: Archive, tmp_path: Path) -> None:
    plan = FaultPlan()
    with StandinServer(snapshots.root, faults=plan) as server:
        client = live_client(server, tmp_path)
        before = client.modified_at(175)
        plan.move_updated("fhi", "175", "2025-01-02T03:04:05.9999999+00:00")
        after = client.modified_at(175)
    assert before == datetime(2024, 3, 1, 8, 15, 0, 123456, tzinfo=UTC)
    assert after == datetime(2025, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)
    archived = sorted(a.source_updated for a in Archive(tmp_path / "warehouse").entries("fhi"))
    assert archived == ["2024-03-01T08:15:00.1234567+00:00", "2025-01-02T03:04:05.9999999+00:00"]


def test_missing_dimensions_are_named_before_sending(snapshots: Archive, tmp_path: Path) -> None:
    dimensions = [d for d in QUERY["dimensions"] if d["code"] not in ("ALDER", "KJONN")]
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path)
        with pytest.raises(MissingDimensionsError) as caught:
            client.data(175, dimensions + [{"code": "UTDANN", "filter": "all", "values": ["*"]}])
        assert server.count("fhi/nokkel/table/175/data") == 0
    message = str(caught.value)
    assert "missing ['KJONN', 'ALDER']" in message
    assert "not in the table ['UTDANN']" in message
    assert "table 175" in message
    assert "nokkel/table/175/data" in message


@pytest.mark.reference
def test_data_returns_the_archived_json_stat_with_its_updated(snapshots: Archive, tmp_path: Path) -> None:
    example = reference("fhi", "fhi_nokkel_jsonstat2_example_from_official_README.json")
    body = {"dimensions": QUERY["dimensions"], "response": {"format": "json-stat2", "maxRowCount": 50000}}
    store_answer(
        snapshots, "fhi", "175", "POST", "nokkel/table/175/data", request_body=body, body=example.read_bytes()
    )
    with StandinServer(snapshots.root) as server:
        answer = live_client(server, tmp_path).data(175, QUERY["dimensions"])
    assert answer.body == example.read_bytes()
    assert answer.source_updated == "2022-12-20T11:44:58.7706326+00:00"
    assert parse_fhi_timestamp(answer.json()["updated"]) == datetime(
        2022, 12, 20, 11, 44, 58, 770632, tzinfo=UTC
    )
