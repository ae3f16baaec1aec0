"""HttpClient against a real HTTP server on 127.0.0.1: modes, retries, faults, throttle, typed errors."""

from __future__ import annotations

import email.utils
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standin import Fault, FaultPlan, StandinServer, store_answer

from ci_pipeline.archive import Archive, request_key
from ci_pipeline.errors import (
    HttpStatusError,
    MissingDimensionsError,
    NotFoundError,
    ReplayMissingError,
    RetriesExhaustedError,
    TooManyCellsError,
    error_for_status,
)
from ci_pipeline.http import HttpClient, SlidingWindowThrottle, parse_retry_after

TABLE_BODY = json.dumps(
    {"id": "99999", "label": "illustrative table", "updated": "2024-01-01T07:00:00Z"}
).encode()
PARAMS = {"lang": "no"}


class FakeTime:
    """A monotonic clock that only moves when something sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def snapshots(tmp_path: Path) -> Archive:
    archive = Archive(tmp_path / "snapshots")
    store_answer(
        archive,
        "ssb",
        "99999",
        "GET",
        "tables/99999",
        params=PARAMS,
        body=TABLE_BODY,
        provenance="illustrative",
    )
    return archive


def make_client(
    base_url: str,
    tmp_path: Path,
    *,
    mode: str = "live",
    snapshots: Archive | None = None,
    fake: FakeTime | None = None,
    **kwargs,
) -> HttpClient:
    fake = fake or FakeTime()
    return HttpClient(
        "ssb",
        base_url,
        mode=mode,
        snapshot_archive=snapshots or Archive(tmp_path / "snapshots"),
        warehouse_archive=Archive(tmp_path / "warehouse"),
        backoff_base=0.01,
        backoff_cap=0.05,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(1),
        **kwargs,
    )


def get_table(client: HttpClient):
    return client.request(
        "GET",
        "tables/99999",
        resource="99999",
        params=PARAMS,
        source_updated_from=lambda parsed: parsed["updated"],
    )


def test_429_with_retry_after_is_honoured(snapshots: Archive, tmp_path: Path) -> None:
    fake = FakeTime()
    plan = FaultPlan().add("ssb/*", Fault("429", retry_after="7"))
    with StandinServer(snapshots.root, faults=plan) as server:
        answer = get_table(make_client(server.base_urls["ssb"], tmp_path, fake=fake))
        assert server.count("ssb/tables/99999") == 2
    assert answer.body == TABLE_BODY
    assert fake.sleeps == [7.0]


def test_retry_after_as_http_date_is_honoured(snapshots: Archive, tmp_path: Path) -> None:
    fake = FakeTime()
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    plan = FaultPlan().add(
        "ssb/*",
        Fault("503", retry_after=email.utils.format_datetime(now + timedelta(seconds=42), usegmt=True)),
    )
    with StandinServer(snapshots.root, faults=plan) as server:
        get_table(make_client(server.base_urls["ssb"], tmp_path, fake=fake, now=lambda: now))
    assert fake.sleeps == [42.0]


@pytest.mark.parametrize("fault", ["503", "500", "reset", "truncate", "garbled"])
def test_transient_fault_then_success(fault: str, snapshots: Archive, tmp_path: Path) -> None:
    fake = FakeTime()
    with StandinServer(snapshots.root, faults=FaultPlan().add("ssb/*", fault)) as server:
        answer = get_table(make_client(server.base_urls["ssb"], tmp_path, fake=fake))
        assert server.count("ssb/tables/99999") == 2
    assert answer.body == TABLE_BODY
    assert answer.status == 200
    assert len(fake.sleeps) == 1
    assert 0 <= fake.sleeps[0] <= 0.01  # full jitter within backoff_base * 2**0


def test_slow_answer_times_out_then_success(snapshots: Archive, tmp_path: Path) -> None:
    plan = FaultPlan(slow_seconds=0.6).add("ssb/*", "slow")
    with StandinServer(snapshots.root, faults=plan) as server:
        answer = get_table(make_client(server.base_urls["ssb"], tmp_path, timeout=0.2))
    assert answer.body == TABLE_BODY


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("503", "HTTP 503"),
        ("reset", "connection error"),
        ("truncate", "truncated body"),
        ("garbled", "JSON does not parse"),
        ("500", "duplicate codes"),
    ],
)
def test_retries_exhausted_names_table_url_attempts_and_last_error(
    fault: str, expected: str, snapshots: Archive, tmp_path: Path
) -> None:
    plan = FaultPlan().add("ssb/*", *[fault] * 3)
    with StandinServer(snapshots.root, faults=plan) as server:
        client = make_client(server.base_urls["ssb"], tmp_path, max_retries=2)
        with pytest.raises(RetriesExhaustedError) as caught:
            get_table(client)
        assert server.count("ssb/tables/99999") == 3
    message = str(caught.value)
    assert "table 99999" in message
    assert f"{server.base_urls['ssb']}tables/99999?lang=no" in message
    assert "3 attempts" in message
    assert expected in message
    assert caught.value.attempts == 3


def test_source_down_exhausts_retries_with_backoff_bounded_by_the_cap(
    snapshots: Archive, tmp_path: Path
) -> None:
    fake = FakeTime()
    with StandinServer(snapshots.root, faults=FaultPlan().set_down("ssb")) as server:
        with pytest.raises(RetriesExhaustedError, match="gave up after 7 attempts; last error: HTTP 503"):
            get_table(make_client(server.base_urls["ssb"], tmp_path, fake=fake))
        assert server.count() == 7
    assert len(fake.sleeps) == 6
    assert all(0 <= s <= min(0.05, 0.01 * 2**i) for i, s in enumerate(fake.sleeps))


def test_400_too_many_cells_is_typed_and_not_retried(tmp_path: Path) -> None:
    snapshots = Archive(tmp_path / "snapshots")
    body = {"selection": [{"variableCode": "Region", "valueCodes": ["*"]}]}
    problem = json.dumps(
        {"type": "Parameter error", "title": "Too many cells selected", "status": 400}
    ).encode()
    store_answer(
        snapshots,
        "ssb",
        "10826",
        "POST",
        "tables/10826/data",
        params=PARAMS,
        request_body=body,
        body=problem,
        status=400,
        content_type="application/problem+json",
        provenance="illustrative",
    )
    with StandinServer(snapshots.root) as server:
        client = make_client(server.base_urls["ssb"], tmp_path)
        with pytest.raises(TooManyCellsError) as caught:
            client.request("POST", "tables/10826/data", resource="10826", params=PARAMS, json_body=body)
        assert server.count() == 1
    message = str(caught.value)
    assert "table 10826" in message
    assert f"{server.base_urls['ssb']}tables/10826/data?lang=no" in message
    assert "narrow the selection or let the client split it" in message
    assert caught.value.status == 400


def test_404_is_not_found_and_not_retried(snapshots: Archive, tmp_path: Path) -> None:
    with StandinServer(snapshots.root) as server:
        client = make_client(server.base_urls["ssb"], tmp_path)
        with pytest.raises(NotFoundError) as caught:
            client.request("GET", "tables/00000", resource="00000", params=PARAMS)
        assert server.count() == 1
    assert "table 00000" in str(caught.value)
    assert "tables/00000?lang=no" in str(caught.value)
    assert isinstance(caught.value, HttpStatusError)


def test_fhi_dimension_mismatch_answer_is_typed() -> None:
    body = b"List of supplied dimensions does not match the required dimensions"
    error = error_for_status("fhi", "175", "https://x/nokkel/table/175/data", 400, body)
    assert isinstance(error, MissingDimensionsError)
    assert "fhi table 175" in str(error) and "https://x/nokkel/table/175/data" in str(error)
    assert "GET <source>/table/<id>/query" in str(error)


def test_live_archives_every_answer_in_the_warehouse_only(snapshots: Archive, tmp_path: Path) -> None:
    with StandinServer(snapshots.root) as server:
        client = make_client(server.base_urls["ssb"], tmp_path, snapshots=Archive(tmp_path / "untouched"))
        answer = get_table(client)
    stored = Archive(tmp_path / "warehouse").latest("ssb", "99999", answer.request_key)
    assert stored == answer
    assert stored.body == TABLE_BODY
    assert stored.source_updated == "2024-01-01T07:00:00Z"
    assert stored.provenance == "recorded"
    assert not (tmp_path / "untouched").exists()


def test_record_writes_the_snapshot_layout_and_replay_reads_it_back_identically(
    snapshots: Archive, tmp_path: Path
) -> None:
    recorded_root = tmp_path / "recorded"
    with StandinServer(snapshots.root) as server:
        recorder = make_client(
            server.base_urls["ssb"], tmp_path, mode="record", snapshots=Archive(recorded_root)
        )
        recorded = get_table(recorder)

    key = request_key("GET", "tables/99999", PARAMS, None)
    folder = recorded_root / "ssb" / "99999" / key
    envelopes = list(folder.glob("*.json"))
    assert len(envelopes) == 1
    assert (folder / f"{recorded.sha256}.body").read_bytes() == TABLE_BODY
    envelope = json.loads(envelopes[0].read_text())
    assert envelope["request_key"] == key
    assert envelope["url"].endswith("/ssb/tables/99999?lang=no")
    assert envelope["source_updated"] == "2024-01-01T07:00:00Z"

    # Replay needs no server: the base URL points nowhere.
    player = make_client("http://127.0.0.1:9/ssb/", tmp_path, mode="replay", snapshots=Archive(recorded_root))
    replayed = get_table(player)
    assert replayed == recorded
    assert replayed.body == recorded.body


def test_record_mode_keeps_error_answers_so_replay_raises_the_same_error(tmp_path: Path) -> None:
    recorded_root = tmp_path / "recorded"
    with StandinServer(tmp_path / "empty") as server:
        recorder = make_client(
            server.base_urls["ssb"], tmp_path, mode="record", snapshots=Archive(recorded_root)
        )
        with pytest.raises(NotFoundError):
            recorder.request("GET", "tables/00000", resource="00000", params=PARAMS)
    player = make_client("http://127.0.0.1:9/ssb/", tmp_path, mode="replay", snapshots=Archive(recorded_root))
    with pytest.raises(NotFoundError, match="table 00000"):
        player.request("GET", "tables/00000", resource="00000", params=PARAMS)


def test_replay_missing_names_everything_needed_to_fix_it(tmp_path: Path) -> None:
    player = make_client("https://data.ssb.no/api/pxwebapi/v2/", tmp_path, mode="replay")
    with pytest.raises(ReplayMissingError) as caught:
        player.request(
            "GET",
            "tables/12345/metadata",
            resource="12345",
            params={"lang": "no", "outputFormat": "json-stat2"},
        )
    message = str(caught.value)
    key = request_key("GET", "tables/12345/metadata", {"lang": "no", "outputFormat": "json-stat2"}, None)
    for expected in (
        "ssb",
        "12345",
        "GET",
        "tables/12345/metadata",
        key,
        str(tmp_path / "snapshots"),
        "record mode",
    ):
        assert expected in message
    assert caught.value.request_key == key


def test_throttle_lets_30_through_in_a_minute_and_makes_the_31st_wait() -> None:
    fake = FakeTime()
    throttle = SlidingWindowThrottle(30, 60.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(30):
        throttle.acquire()
        fake.now += 1.0  # 30 calls over 30 seconds
    assert fake.sleeps == []
    throttle.acquire()
    assert fake.sleeps == [30.0]  # the first call (t=0) leaves the window at t=60
    throttle.acquire()
    assert fake.sleeps == [30.0, 1.0]


def test_throttle_counts_rejected_attempts_over_real_http(snapshots: Archive, tmp_path: Path) -> None:
    fake = FakeTime()
    plan = FaultPlan().add("ssb/*", Fault("429", retry_after="0"))
    with StandinServer(snapshots.root, faults=plan) as server:
        client = make_client(server.base_urls["ssb"], tmp_path, fake=fake, max_requests_per_minute=30)
        for _ in range(29):  # 1 rejected + 29 answered = 30 attempts, all at fake time 0
            get_table(client)
        assert fake.sleeps == [0.0]
        get_table(client)
        assert server.count() == 31
    assert fake.sleeps == [0.0, 60.0]


def test_server_ratelimit_headers_make_the_client_wait_for_the_window(
    snapshots: Archive, tmp_path: Path
) -> None:
    fake = FakeTime()
    plan = FaultPlan(rate_limit=3, rate_window=45.0, clock=fake.clock)
    with StandinServer(snapshots.root, faults=plan) as server:
        client = make_client(server.base_urls["ssb"], tmp_path, fake=fake)
        for _ in range(4):
            get_table(client)
        assert server.count() == 4  # no 429 was needed: the client waited when remaining hit 0
    assert fake.sleeps == [45.0]


def test_query_parameters_must_be_strings(tmp_path: Path) -> None:
    client = make_client("http://127.0.0.1:9/ssb/", tmp_path, mode="replay")
    with pytest.raises(TypeError, match="'pastDays'"):
        client.request("GET", "tables", resource="catalogue", params={"pastDays": 3})


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("inf", now) is None


def test_clients_of_one_host_share_one_throttle(tmp_path):
    # SSB's limit counts every request from the machine: every client for data.ssb.no (SSB and KLASS
    # alike) made with one HostThrottles draws on one budget (the pipeline resource keeps one for the
    # process; tests/test_resources.py).
    from ci_pipeline.ingest import HostThrottles, make_clients
    from ci_pipeline.settings import Settings

    settings = Settings.from_env().with_(warehouse_root=tmp_path)
    throttles = HostThrottles()
    first, second = make_clients(settings, throttles), make_clients(settings, throttles)
    assert first.ssb.http.throttle is second.ssb.http.throttle
    assert first.ssb.http.throttle is first.klass.http.throttle  # both on data.ssb.no
    assert first.fhi.http.throttle is not first.ssb.http.throttle
