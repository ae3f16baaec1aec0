"""Oslo kommune statistikkbank client (PxWeb v1) against a PxWeb v1 server on 127.0.0.1 that the tests start.

The server below speaks v1 as SOURCES.md 1.4 describes it: GET <path>.px gives the variables, POST with
a query gives the table cut to the query as JSON-stat2, a query over its value limit gets 403 with
{"error": "Too many values selected"}, and scripted faults include v1's plain-text 429 with Retry-After.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from standin import store_answer

from ci_pipeline.archive import Archive
from ci_pipeline.errors import (
    IllegalSelectionError,
    NonExistentValueError,
    NonExistentVariableError,
    NotFoundError,
    TooManyCellsError,
    error_for_status,
)
from ci_pipeline.http import HttpClient
from ci_pipeline.jsonstat import read_jsonstat
from ci_pipeline.sources.oslo import OsloStatbankClient, Query, data_request_body, plan_queries

DB_PREFIX = "/statbank/api/v1/no/db1/"
PATH = "Trygd, sosiale tjenester og barnevern/Sosialtjenesten/OK-TEST.px"
TABLE = "OK-TEST"
UPDATED = "2024-03-10T19:11:00Z"
YEARS = {"0": "2022", "1": "2023", "2": "2024"}
PLACES = {"301": "Oslo i alt", "30101": "Gamle Oslo", "30102": "Grünerløkka"}
SEXES = {"0": "I alt", "1": "Kvinner", "2": "Menn"}
ALL_QUERY = [
    Query("år", "all", ["*"]),
    Query("bydel", "all", ["*"]),
    Query("kjønn", "all", ["*"]),
    Query("statistikkvariabel", "all", ["*"]),
]
PLAIN_429 = b"429 - Too many requests in too short timeframe. Please try again later."


def dimension(label: str, categories: dict[str, str], **extension: Any) -> dict[str, Any]:
    return {
        "label": label,
        "category": {"index": {code: i for i, code in enumerate(categories)}, "label": dict(categories)},
        "extension": extension,
    }


# A small table in the shape of the bank's real answers: eliminated contents, ordinal year codes with
# the year in the label, lower-case Norwegian variable codes, five-digit district codes.
DIMENSIONS = {
    "ContentsCode": {
        "label": "EliminatedContents",
        "category": {"index": {"EliminatedValue": 0}, "label": {"EliminatedValue": "ok-test"},
                     "unit": {"EliminatedValue": {"base": "antall", "decimals": 0}}},
        "extension": {"elimination": True},
    },
    "år": dimension("år", YEARS, elimination=False, show="value"),
    "bydel": dimension("bydel", PLACES, elimination=True, eliminationValueCode="301", show="value"),
    "kjønn": dimension("kjønn", SEXES, elimination=True, eliminationValueCode="0", show="value"),
    "statistikkvariabel": dimension("statistikkvariabel", {"0": "Antall"}, elimination=True, show="value"),
}
IDS = list(DIMENSIONS)
FULL_VALUES = {
    cell: 100 * int(year) + 10 * position + int(sex)
    for cell in itertools.product(["EliminatedValue"], YEARS, PLACES, SEXES, ["0"])
    for year, position, sex in [(cell[1], list(PLACES).index(cell[2]), cell[3])]
}
METADATA = {
    "title": "ok-test etter år, bydel, kjønn og statistikkvariabel",
    "variables": [
        {"code": "år", "text": "år", "values": list(YEARS), "valueTexts": list(YEARS.values()), "time": True},
        {"code": "bydel", "text": "bydel", "values": list(PLACES), "valueTexts": list(PLACES.values()),
         "elimination": True},
        {"code": "kjønn", "text": "kjønn", "values": list(SEXES), "valueTexts": list(SEXES.values()),
         "elimination": True},
        {"code": "statistikkvariabel", "text": "statistikkvariabel", "values": ["0"], "valueTexts": ["Antall"],
         "elimination": True},
    ],
}


def cut(query: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-stat2 answer to a v1 query on the table (categories in table order)."""
    chosen: dict[str, list[str]] = {"ContentsCode": ["EliminatedValue"]}
    by_code = {item["code"]: item["selection"] for item in query}
    for dim_id in IDS[1:]:
        codes = list(DIMENSIONS[dim_id]["category"]["index"])
        selection = by_code.get(dim_id, {"filter": "all", "values": ["*"]})
        if selection["filter"] == "all":
            chosen[dim_id] = codes
        elif selection["filter"] == "top":
            chosen[dim_id] = codes[-int(selection["values"][0]):]
        else:
            chosen[dim_id] = [code for code in codes if code in selection["values"]]
    dimensions = {}
    for dim_id, codes in chosen.items():
        dimensions[dim_id] = json.loads(json.dumps(DIMENSIONS[dim_id]))
        category = dimensions[dim_id]["category"]
        category["index"] = {code: i for i, code in enumerate(codes)}
        category["label"] = {code: category["label"][code] for code in codes}
    return {
        "version": "2.0", "class": "dataset", "label": METADATA["title"], "source": "Testkilde",
        "updated": UPDATED, "role": {"time": ["år"], "metric": ["ContentsCode"]}, "id": IDS,
        "size": [len(chosen[dim_id]) for dim_id in IDS], "dimension": dimensions,
        "value": [FULL_VALUES[cell] for cell in itertools.product(*(chosen[dim_id] for dim_id in IDS))],
    }


class PxWebV1Server:
    """One PxWeb v1 database with one table; `faults` are (status, headers, body) served first."""

    def __init__(self, max_values: int = 1000):
        self.max_values = max_values
        self.faults: deque[tuple[int, dict[str, str], bytes]] = deque()
        self.seen: list[tuple[str, str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self, "GET")

            def do_POST(self) -> None:
                server.handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{DB_PREFIX}"

    def __enter__(self) -> PxWebV1Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def count(self, method: str) -> int:
        return sum(1 for seen_method, _, _ in self.seen if seen_method == method)

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        path = unquote(urlsplit(handler.path).path).removeprefix(DB_PREFIX)
        self.seen.append((method, path, body))
        status, headers, payload = self.answer(method, path, body)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
        if self.faults:
            return self.faults.popleft()
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        if path != PATH:
            return 404, {"Content-Type": "text/html"}, b"<html>404 - File or directory not found.</html>"
        if method == "GET":
            return 200, json_type, json.dumps(METADATA, ensure_ascii=False).encode()
        dataset = cut(body["query"])
        if len(dataset["value"]) > self.max_values:
            return 403, json_type, b'{"error":"Too many values selected"}'
        return 200, json_type, json.dumps(dataset, ensure_ascii=False).encode()


@pytest.fixture
def server():
    with PxWebV1Server() as running:
        yield running


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(server: PxWebV1Server, tmp_path: Path, sleeps: Sleeps | None = None, **kwargs: Any) -> OsloStatbankClient:
    http = HttpClient(
        "oslo",
        server.base_url,
        mode="live",
        snapshot_archive=Archive(tmp_path / "unused"),
        warehouse_archive=Archive(tmp_path / "warehouse"),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    return OsloStatbankClient(http, **kwargs)


# --------------------------------------------------------------------------- requests and answers


def test_metadata_is_a_get_on_the_table_path_with_its_spaces_and_letters(server, tmp_path):
    metadata = client(server, tmp_path).metadata(TABLE, PATH)
    assert [variable["code"] for variable in metadata["variables"]] == ["år", "bydel", "kjønn", "statistikkvariabel"]
    assert server.seen == [("GET", PATH, None)]


def test_data_is_one_post_with_the_v1_query_and_json_stat2(server, tmp_path):
    answers = client(server, tmp_path).data(TABLE, PATH, ALL_QUERY)
    assert [method for method, _, _ in server.seen] == ["GET", "POST"]
    assert server.seen[1][2] == {
        "query": [
            {"code": "år", "selection": {"filter": "all", "values": ["*"]}},
            {"code": "bydel", "selection": {"filter": "all", "values": ["*"]}},
            {"code": "kjønn", "selection": {"filter": "all", "values": ["*"]}},
            {"code": "statistikkvariabel", "selection": {"filter": "all", "values": ["*"]}},
        ],
        "response": {"format": "json-stat2"},
    }
    (answer,) = answers
    assert answer.json() == cut(server.seen[1][2]["query"])
    assert (answer.source, answer.resource, answer.source_updated) == ("oslo", TABLE, UPDATED)
    assert answer.request_body == data_request_body(ALL_QUERY)
    table = read_jsonstat(answer.body, origin=answer.url)
    assert table.ids == IDS and len(table.frame) == 27
    archived = list(Archive(tmp_path / "warehouse").entries("oslo"))
    assert sorted(a.method for a in archived) == ["GET", "POST"]


def test_v1_rate_limit_in_plain_text_is_waited_out_as_the_server_asks(server, tmp_path):
    server.faults.extend([
        (429, {"Content-Type": "text/plain", "Retry-After": "7"}, PLAIN_429),
        (503, {"Content-Type": "text/html", "Retry-After": "3"}, b"<html>Service Unavailable</html>"),
    ])
    sleeps = Sleeps()
    (answer,) = client(server, tmp_path, sleeps).data(TABLE, PATH, ALL_QUERY)
    assert 7.0 in sleeps and 3.0 in sleeps
    assert [method for method, _, _ in server.seen] == ["GET", "GET", "GET", "POST"]
    assert answer.status == 200


def test_too_many_values_is_a_typed_error_naming_table_and_url_and_is_not_retried(tmp_path):
    with PxWebV1Server(max_values=10) as server:
        with pytest.raises(TooManyCellsError) as caught:
            client(server, tmp_path).data(TABLE, PATH, ALL_QUERY)
        assert server.count("POST") == 1
    message = str(caught.value)
    assert "oslo table OK-TEST" in message and "Too many values selected" in message
    assert "[URL: http://127.0.0.1:" in message
    assert caught.value.url.endswith("/OK-TEST.px") and caught.value.status == 403


def test_pxweb_v1_403_body_maps_to_too_many_cells():
    error = error_for_status("oslo", "OK-SOS006", "https://x/OK-SOS006.px", 403,
                             b'{"error":"Too many values selected"}')
    assert isinstance(error, TooManyCellsError)
    other = error_for_status("oslo", "OK-SOS006", "https://x/OK-SOS006.px", 403, b"Forbidden")
    assert not isinstance(other, TooManyCellsError)


def test_unknown_table_is_not_found(server, tmp_path):
    with pytest.raises(NotFoundError, match=r"oslo table OK-NONE"):
        client(server, tmp_path).metadata("OK-NONE", "Befolkning/OK-NONE.px")


# --------------------------------------------------------------------------- checks before sending


def test_large_query_is_split_by_time_into_explicit_years(server, tmp_path):
    # 3 districts x 3 sexes = 9 cells per year; a limit of 9 gives one year per request.
    answers = client(server, tmp_path, max_values=9).data(TABLE, PATH, ALL_QUERY)
    posts = [body for method, _, body in server.seen if method == "POST"]
    assert [body["query"][0] for body in posts] == [
        {"code": "år", "selection": {"filter": "item", "values": [year]}} for year in YEARS
    ]
    assert [body["query"][1:] for body in posts] == [data_request_body(ALL_QUERY)["query"][1:]] * 3
    fetched = {}
    for answer in answers:
        data = answer.json()
        year = next(iter(data["dimension"]["år"]["category"]["index"]))
        for position, cell in enumerate(itertools.product(["EliminatedValue"], [year], PLACES, SEXES, ["0"])):
            fetched[cell] = data["value"][position]
    assert fetched == FULL_VALUES


def test_split_adds_the_time_variable_when_the_query_leaves_it_out():
    planned = plan_queries(ALL_QUERY[1:], METADATA, 18, table_id=TABLE, url="https://x")
    assert [chunk[-1] for chunk in planned] == [Query("år", "item", ["0", "1"]), Query("år", "item", ["2"])]
    assert all(chunk[:-1] == ALL_QUERY[1:] for chunk in planned)


def test_query_too_large_for_one_period_raises_before_any_data_request(server, tmp_path):
    with pytest.raises(TooManyCellsError, match=r"27 cells selected .* one period alone is 9 cells") as caught:
        client(server, tmp_path, max_values=8).data(TABLE, PATH, ALL_QUERY)
    assert server.count("POST") == 0
    assert "OK-TEST.px" in caught.value.url


@pytest.mark.parametrize(
    ("query", "error", "fragment"),
    [
        ([Query("kommune", "all", ["*"])], NonExistentVariableError, r"variable 'kommune' is not in the table"),
        ([Query("bydel", "item", ["301", "30199"])], NonExistentValueError, r"'30199'"),
        ([Query("bydel", "item", ["301", "301"])], IllegalSelectionError, r"listed twice"),
        ([Query("bydel", "vs:Bydeler", ["*"])], IllegalSelectionError, r"filter 'vs:Bydeler'"),
        ([Query("bydel", "item", ["301*"])], IllegalSelectionError, r"use filter all"),
        ([Query("bydel", "all", ["301"])], IllegalSelectionError, r"patterns with '\*'"),
        ([Query("år", "top", ["two"])], IllegalSelectionError, r"top takes one count"),
        ([Query("år", "top", ["1"]), Query("år", "top", ["2"])], IllegalSelectionError, r"queried twice"),
    ],
)
def test_bad_queries_are_named_before_any_data_request(server, tmp_path, query, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        client(server, tmp_path).data(TABLE, PATH, query)
    assert server.count("POST") == 0
    assert str(caught.value).startswith("oslo table OK-TEST:")


def test_filters_resolve_like_pxweb_v1():
    planned = plan_queries([Query("år", "top", ["2"]), Query("bydel", "all", ["301*"])], METADATA, 1000,
                           table_id=TABLE, url="https://x")
    assert planned == [[Query("år", "top", ["2"]), Query("bydel", "all", ["301*"])]]
    # top 2 of time = the two newest years; 301* = Oslo and both districts; kjønn eliminated: 2 x 3 cells,
    # so a limit of 5 sends one year at a time, the newest two.
    planned = plan_queries([Query("år", "top", ["2"]), Query("bydel", "all", ["301*"])], METADATA, 5,
                           table_id=TABLE, url="https://x")
    assert [chunk[0] for chunk in planned] == [Query("år", "item", ["1"]), Query("år", "item", ["2"])]
    with pytest.raises(TooManyCellsError, match=r"6 cells selected \(år=2, bydel=3\), over the limit of 2"):
        plan_queries([Query("år", "top", ["2"]), Query("bydel", "all", ["301*"])], METADATA, 2,
                     table_id=TABLE, url="https://x")


def test_replay_answers_the_same_request_from_the_snapshot_archive(tmp_path):
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(snapshots, "oslo", TABLE, "GET", PATH, body=json.dumps(METADATA).encode(),
                 provenance="reconstructed")
    body = json.dumps(cut(data_request_body(ALL_QUERY)["query"])).encode()
    store_answer(snapshots, "oslo", TABLE, "POST", PATH, request_body=data_request_body(ALL_QUERY), body=body,
                 source_updated=UPDATED)
    http = HttpClient("oslo", "http://127.0.0.1:9/statbank/api/v1/no/db1/", mode="replay",
                      snapshot_archive=snapshots, warehouse_archive=Archive(tmp_path / "warehouse"))
    (answer,) = OsloStatbankClient(http).data(TABLE, PATH, ALL_QUERY)
    assert answer.body == body and answer.provenance == "recorded"
