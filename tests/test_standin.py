"""The local stand-in API server: routing, request keys, faults, rate limit, moved `updated`, counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from standin import Fault, FaultPlan, StandinServer, store_answer
from support import reference

from ci_pipeline.archive import Archive

TABLE_BODY = json.dumps(
    {"id": "99999", "label": "illustrative table", "updated": "2024-01-01T07:00:00Z"}
).encode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def snapshots(tmp_path: Path) -> Archive:
    archive = Archive(tmp_path / "snapshots")
    store_answer(
        archive,
        "ssb",
        "99999",
        "GET",
        "tables/99999",
        params={"lang": "no"},
        body=TABLE_BODY,
        provenance="illustrative",
    )
    return archive


def get_table(server: StandinServer, **kwargs) -> requests.Response:
    return requests.get(server.base_urls["ssb"] + "tables/99999", params={"lang": "no"}, timeout=5, **kwargs)


def test_serves_the_archived_answer_for_the_same_request(snapshots: Archive) -> None:
    with StandinServer(snapshots.root) as server:
        response = get_table(server)
        assert response.status_code == 200
        assert response.content == TABLE_BODY
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert server.count("ssb/tables/99999") == 1
        assert server.count("ssb/*", method="POST") == 0


def test_base_urls_route_each_source_under_its_prefix(snapshots: Archive) -> None:
    with StandinServer(snapshots.root) as server:
        assert server.base_urls == {
            source: f"http://127.0.0.1:{server.port}/{source}/" for source in ("ssb", "fhi", "klass", "oslo")
        }


def test_unknown_request_gets_a_404_problem_naming_the_request_key(snapshots: Archive) -> None:
    with StandinServer(snapshots.root) as server:
        other_params = requests.get(
            server.base_urls["ssb"] + "tables/99999", params={"lang": "en"}, timeout=5
        )
        unknown_prefix = requests.get(f"http://127.0.0.1:{server.port}/nowhere/x", timeout=5)
    assert other_params.status_code == 404
    assert other_params.headers["Content-Type"] == "application/problem+json"
    assert "request_key" in other_params.json()["detail"]
    assert unknown_prefix.status_code == 404


def test_post_bodies_are_part_of_the_request_key(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "snapshots")
    selection = {"selection": [{"variableCode": "Tid", "valueCodes": ["2024"]}]}
    store_answer(
        archive,
        "ssb",
        "99999",
        "POST",
        "tables/99999/data",
        params={"lang": "no"},
        request_body=selection,
        body=b'{"value": [1]}',
        provenance="illustrative",
    )
    with StandinServer(archive.root) as server:
        url = server.base_urls["ssb"] + "tables/99999/data"
        hit = requests.post(url, params={"lang": "no"}, json=selection, timeout=5)
        miss = requests.post(url, params={"lang": "no"}, json={"selection": []}, timeout=5)
    assert (hit.status_code, hit.content) == (200, b'{"value": [1]}')
    assert miss.status_code == 404


def test_archived_error_answers_are_replayed_with_their_status(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "snapshots")
    problem = json.dumps(
        {"type": "Parameter error", "title": "Too many cells selected", "status": 400}
    ).encode()
    store_answer(
        archive,
        "ssb",
        "99999",
        "GET",
        "tables/99999",
        params={"lang": "no"},
        body=problem,
        status=400,
        content_type="application/problem+json",
        provenance="illustrative",
    )
    with StandinServer(archive.root) as server:
        response = get_table(server)
    assert response.status_code == 400
    assert response.json()["title"] == "Too many cells selected"
    assert response.headers["Content-Type"] == "application/problem+json"


def test_scripted_status_faults_come_in_order_then_the_real_answer(snapshots: Archive) -> None:
    plan = FaultPlan().add(
        "ssb/tables/*", Fault("429", retry_after="7"), "500", Fault("503", retry_after="2")
    )
    with StandinServer(snapshots.root, faults=plan) as server:
        first, second, third, fourth = (get_table(server) for _ in range(4))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert (second.status_code, second.content) == (500, b"")
    assert (third.status_code, third.headers["Retry-After"]) == (503, "2")
    assert (fourth.status_code, fourth.content) == (200, TABLE_BODY)
    assert plan.pending() == 0
    assert server.count("ssb/tables/99999") == 4


def test_fault_patterns_only_hit_matching_paths(snapshots: Archive) -> None:
    plan = FaultPlan().add("ssb/tables/*/data", "503")
    with StandinServer(snapshots.root, faults=plan) as server:
        assert get_table(server).status_code == 200
    assert plan.pending() == 1


def test_reset_closes_the_connection_without_an_answer(snapshots: Archive) -> None:
    with StandinServer(snapshots.root, faults=FaultPlan().add("ssb/*", "reset")) as server:
        with pytest.raises(requests.ConnectionError):
            get_table(server)
        assert get_table(server).status_code == 200


def test_truncate_declares_more_bytes_than_it_sends(snapshots: Archive) -> None:
    with StandinServer(snapshots.root, faults=FaultPlan().add("ssb/*", "truncate")) as server:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            get_table(server)
        assert get_table(server).content == TABLE_BODY


def test_garbled_sends_a_cut_body_with_a_matching_length(snapshots: Archive) -> None:
    with StandinServer(snapshots.root, faults=FaultPlan().add("ssb/*", "garbled")) as server:
        response = get_table(server)
    assert response.status_code == 200
    assert response.content == TABLE_BODY[: len(TABLE_BODY) // 2]
    with pytest.raises(ValueError):
        response.json()


def test_slow_answers_outlast_a_short_client_timeout(snapshots: Archive) -> None:
    plan = FaultPlan(slow_seconds=0.6).add("ssb/*", "slow")
    with StandinServer(snapshots.root, faults=plan) as server:
        with pytest.raises(requests.Timeout):
            requests.get(server.base_urls["ssb"] + "tables/99999", params={"lang": "no"}, timeout=0.2)
        assert get_table(server).status_code == 200


def test_a_source_that_is_down_answers_503_until_it_is_up(snapshots: Archive) -> None:
    plan = FaultPlan().set_down("ssb")
    with StandinServer(snapshots.root, faults=plan) as server:
        assert [get_table(server).status_code for _ in range(3)] == [503, 503, 503]
        plan.set_down("ssb", False)
        assert get_table(server).status_code == 200


def test_random_faults_are_reproducible_from_the_seed() -> None:
    def kinds(seed: int) -> list[str | None]:
        plan = FaultPlan(random_rate=0.5, seed=seed)
        return [getattr(plan.next_fault("ssb", "tables/1"), "kind", None) for _ in range(40)]

    first = kinds(7)
    assert first == kinds(7)
    assert 5 < sum(kind is not None for kind in first) < 35
    assert {kind for kind in first if kind} <= {"429", "500", "503", "reset", "truncate"}


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault 'teapot'"):
        FaultPlan().add("ssb/*", "teapot")


def test_server_side_rate_limit_sends_headers_and_429_until_the_window_passes(snapshots: Archive) -> None:
    clock = FakeClock()
    plan = FaultPlan(rate_limit=2, rate_window=60.0, clock=clock)
    with StandinServer(snapshots.root, faults=plan) as server:
        first, second, third = (get_table(server) for _ in range(3))
        clock.now += 60.0
        fourth = get_table(server)
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert second.headers["x-ratelimit-policy"] == "2;w=60s"
    assert (third.status_code, third.headers["Retry-After"]) == (429, "60")
    assert fourth.status_code == 200


def test_moved_updated_patches_ssb_table_info(snapshots: Archive) -> None:
    plan = FaultPlan()
    with StandinServer(snapshots.root, faults=plan) as server:
        before = get_table(server).json()["updated"]
        plan.move_updated("ssb", "99999", "2025-06-01T06:00:00Z")
        after = get_table(server).json()
    assert before == "2024-01-01T07:00:00Z"
    assert after["updated"] == "2025-06-01T06:00:00Z"
    assert after["label"] == "illustrative table"


def test_moved_updated_patches_fhi_modified_at_in_list_and_info(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "snapshots")
    listing = [
        {"tableId": 175, "title": "A", "modifiedAt": "2024-01-01T00:00:00"},
        {"tableId": 360, "title": "B", "modifiedAt": "2024-01-01T00:00:00"},
    ]
    store_answer(
        archive,
        "fhi",
        "catalogue",
        "GET",
        "nokkel/table",
        body=json.dumps(listing).encode(),
        provenance="illustrative",
    )
    store_answer(
        archive,
        "fhi",
        "175",
        "GET",
        "nokkel/table/175",
        body=json.dumps(listing[0]).encode(),
        provenance="illustrative",
    )
    plan = FaultPlan().move_updated("fhi", "175", "2025-02-03T04:05:06.1234567+00:00")
    with StandinServer(archive.root, faults=plan) as server:
        tables = requests.get(server.base_urls["fhi"] + "nokkel/table", timeout=5).json()
        info = requests.get(server.base_urls["fhi"] + "nokkel/table/175", timeout=5).json()
    assert [t["modifiedAt"] for t in tables] == ["2025-02-03T04:05:06.1234567+00:00", "2024-01-01T00:00:00"]
    assert info["modifiedAt"] == "2025-02-03T04:05:06.1234567+00:00"


def test_request_log_keeps_headers_and_counts_can_be_reset(snapshots: Archive) -> None:
    with StandinServer(snapshots.root) as server:
        get_table(server, headers={"Accept": "application/json"})
        assert server.requests[0].target == "ssb/tables/99999"
        assert server.requests[0].headers["Accept"] == "application/json"
        server.reset_counts()
        assert server.count() == 0
        assert server.requests == []


@pytest.mark.reference
def test_serves_a_real_ssb_table_info_byte_for_byte(tmp_path: Path) -> None:
    source_file = reference("ssb", "ssb_v2_table_03013_from_beta-bruker-doc.json")
    archive = Archive(tmp_path / "snapshots")
    store_answer(
        archive, "ssb", "03013", "GET", "tables/03013", params={"lang": "no"}, body=source_file.read_bytes()
    )
    with StandinServer(archive.root) as server:
        response = requests.get(server.base_urls["ssb"] + "tables/03013", params={"lang": "no"}, timeout=5)
    assert response.content == source_file.read_bytes()
    assert response.json()["updated"] == "2024-11-11T07:00:00Z"
