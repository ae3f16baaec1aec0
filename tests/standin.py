"""A local stand-in for the SSB, FHI, KLASS and Oslo statistics bank APIs, serving a snapshot archive
over real HTTP.

The live clients can then be exercised end to end without the internet: the server routes
/ssb/..., /fhi/..., /klass/... and /oslo/..., recomputes the request_key from method, path (relative to the source
prefix), query parameters and JSON body, and answers with the archived status, body and content type.
A FaultPlan scripts the failures the real services show (429 with Retry-After, 500, 503, answers slower
than the client's timeout, reset connections, truncated or garbled bodies, a whole source down, a server-side rate
limit with x-ratelimit-* headers) and can move a table's `updated`/`modifiedAt` (Oslo: the `updated` of
its data answers) so change detection can be tested. The server counts requests per path, so a test can assert that nothing was downloaded.

Test support, not part of the shipped package: the tests import it as `standin` (pytest puts tests/ on
sys.path), benchmarks/pipeline_build.py by adding tests/ to sys.path.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from ci_pipeline.archive import (
    Archive,
    ArchivedResponse,
    format_timestamp,
    request_key,
    sha256_bytes,
    utc_now,
)
from ci_pipeline.http import HttpClient

SOURCES = ("ssb", "fhi", "klass", "oslo")
# truncate: Content-Length larger than the body sent, then close (the client can tell).
# garbled: half the body with a matching Content-Length (a proxy cut it; only parsing can tell).
FAULT_KINDS = ("429", "500", "503", "slow", "reset", "truncate", "garbled")
DEFAULT_CONTENT_TYPE = "application/json; charset=utf-8"

_SSB_TABLE_INFO = re.compile(r"^tables/(?P<table>[^/]+)$")
_FHI_TABLE_LIST = re.compile(r"^[^/]+/table$", re.IGNORECASE)
_FHI_TABLE_INFO = re.compile(r"^[^/]+/table/(?P<table>[^/]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Fault:
    """One scripted failure. retry_after (seconds or HTTP-date) is sent with 429 and 503."""

    kind: str
    retry_after: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")


class FaultPlan:
    """What goes wrong, and when, in a StandinServer. Safe to change while the server runs.

    - add(pattern, *faults): a queue of faults for requests whose "source/path" matches the fnmatch
      pattern (e.g. "ssb/tables/*/data"); each matching request takes the next fault from the queue.
    - random_rate / seed / random_kinds: besides the queues, a seeded share of requests fails.
    - set_down(source): every request to that source is answered 503 until set_down(source, False).
    - move_updated(source, table_id, updated): SSB tables/{id} answers get this `updated`; FHI table
      listings and table info get this `modifiedAt`; Oslo data answers (POST) get this `updated`.
    - rate_limit / rate_window: a server-side sliding-window limit per source with x-ratelimit-*
      headers and 429 + Retry-After when exceeded; `clock` is injectable so tests need not wait.
    """

    def __init__(
        self,
        *,
        random_rate: float = 0.0,
        seed: int = 0,
        random_kinds: tuple[str, ...] = ("429", "500", "503", "reset", "truncate"),
        slow_seconds: float = 0.5,
        retry_after: str = "1",
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        for kind in random_kinds:
            Fault(kind)
        self.random_rate = random_rate
        self.random_kinds = random_kinds
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._queues: list[tuple[str, deque[Fault]]] = []
        self._down: set[str] = set()
        self._updated: dict[tuple[str, str], str] = {}
        self._calls: dict[str, deque[float]] = {}

    def add(self, pattern: str, *faults: str | Fault) -> FaultPlan:
        queue = deque(fault if isinstance(fault, Fault) else Fault(fault) for fault in faults)
        with self._lock:
            self._queues.append((pattern, queue))
        return self

    def set_down(self, source: str, down: bool = True) -> FaultPlan:
        with self._lock:
            if down:
                self._down.add(source)
            else:
                self._down.discard(source)
        return self

    def move_updated(self, source: str, table_id: str, updated: str) -> FaultPlan:
        with self._lock:
            self._updated[(source, str(table_id))] = updated
        return self

    def updated_for(self, source: str, table_id: str) -> str | None:
        with self._lock:
            return self._updated.get((source, str(table_id)))

    def pending(self) -> int:
        """Scripted faults not yet served (a test can assert the script ran out)."""
        with self._lock:
            return sum(len(queue) for _, queue in self._queues)

    def next_fault(self, source: str, path: str) -> Fault | None:
        target = f"{source}/{path}"
        with self._lock:
            if source in self._down:
                return Fault("503")
            for pattern, queue in self._queues:
                if queue and fnmatch.fnmatchcase(target, pattern):
                    return queue.popleft()
            if self.random_rate and self._rng.random() < self.random_rate:
                return Fault(self._rng.choice(self.random_kinds), retry_after=self.retry_after)
        return None

    def rate_limit_headers(self, source: str) -> tuple[dict[str, str], float | None]:
        """x-ratelimit-* headers for one more request, and the wait in seconds when it is over the limit."""
        if self.rate_limit is None:
            return {}, None
        with self._lock:
            now = self._clock()
            calls = self._calls.setdefault(source, deque())
            while calls and now - calls[0] >= self.rate_window:
                calls.popleft()
            headers = {
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-policy": f"{self.rate_limit};w={self.rate_window:g}s",
            }
            if len(calls) >= self.rate_limit:
                headers["x-ratelimit-remaining"] = "0"
                return headers, calls[0] + self.rate_window - now
            calls.append(now)
            headers["x-ratelimit-remaining"] = str(self.rate_limit - len(calls))
            return headers, None


@dataclass(frozen=True)
class SeenRequest:
    """A request as the stand-in received it: method, "source/path", the request headers and when it
    arrived (wall-clock seconds, so a test can check every sliding window of a rate limit)."""

    method: str
    target: str
    headers: dict[str, str]
    received_at: float


def store_answer(
    archive: Archive,
    source: str,
    resource: str,
    method: str,
    path: str,
    *,
    body: bytes,
    params: dict[str, Any] | None = None,
    request_body: Any = None,
    status: int = 200,
    content_type: str = DEFAULT_CONTENT_TYPE,
    provenance: str = "recorded",
    source_updated: str | None = None,
    url: str | None = None,
    note: str | None = None,
) -> ArchivedResponse:
    """Put one answer into a snapshot archive, laid out exactly as record mode writes it.

    For answers that were not recorded by this pipeline (a reconstructed or illustrative body, or a
    test fixture); `url` defaults to the path, since no host was involved.
    """
    answer = ArchivedResponse(
        source=source,
        resource=str(resource),
        method=method.upper(),
        url=url or path,
        path=path.lstrip("/"),
        params=dict(params or {}),
        request_body=request_body,
        status=status,
        headers={"content-type": content_type},
        retrieved_at=format_timestamp(utc_now()),
        sha256=sha256_bytes(body),
        provenance=provenance,
        source_updated=source_updated,
        note=note,
        body=body,
    )
    archive.write(answer)
    return answer


def _query_params(query: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in params:
            existing = params[name]
            params[name] = (existing if isinstance(existing, list) else [existing]) + [value]
        else:
            params[name] = value
    return params


def _problem(status: int, title: str, detail: str) -> bytes:
    return json.dumps({"type": "Stand-in", "title": title, "status": status, "detail": detail}).encode(
        "utf-8"
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment; otherwise Nagle plus delayed ACKs add ~40 ms per request.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server: _StandinHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read counts from the server, not the console

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(
        self, status: int, body: bytes, headers: dict[str, str], *, declared_length: int | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN: a real "connection reset".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _handle(self, method: str) -> None:
        standin = self.server.standin
        plan = standin.faults
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        source, _, rel_path = url.path.lstrip("/").partition("/")
        rel_path = unquote(rel_path)
        standin.note_request(method, source, rel_path, dict(self.headers.items()))

        if source not in SOURCES:
            self._send(
                404,
                _problem(404, "Not found", f"unknown source prefix {source!r}; use {SOURCES}"),
                {"Content-Type": "application/problem+json"},
            )
            return

        fault = plan.next_fault(source, rel_path)
        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        if fault is not None and fault.kind in ("429", "500", "503"):
            status = int(fault.kind)
            headers = {"Content-Type": "application/problem+json"}
            body = _problem(status, "Scripted fault", f"stand-in fault {fault.kind}")
            if status == 500:
                body, headers = b"", {}  # SSB's duplicate-code answer: 500 with an empty body
            retry_after = fault.retry_after or (plan.retry_after if status == 429 else None)
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            self._send(status, body, headers)
            return

        limit_headers, wait = plan.rate_limit_headers(source)
        if wait is not None:
            self._send(
                429,
                _problem(429, "Too Many Requests", "stand-in rate limit"),
                {
                    "Content-Type": "application/problem+json",
                    "Retry-After": str(max(1, round(wait))),
                    **limit_headers,
                },
            )
            return

        status, body, headers = standin.answer(method, source, rel_path, _query_params(url.query), raw_body)
        headers.update(limit_headers)
        if fault is not None and fault.kind == "slow":
            time.sleep(plan.slow_seconds)
        if fault is not None and fault.kind == "garbled":
            body = body[: len(body) // 2]
        if fault is not None and fault.kind == "truncate":
            self.close_connection = True
            self._send(status, body[: len(body) // 2], headers, declared_length=len(body) + 1)
            return
        self._send(status, body, headers)


class _StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    standin: StandinServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or was reset by a scripted fault is expected; anything else is a bug.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class StandinServer:
    """Serves a snapshot archive as the three APIs on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        snapshot_root: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ):
        self.archive = Archive(snapshot_root)
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else FaultPlan()
        self.requests: list[SeenRequest] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._httpd: _StandinHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("the stand-in server is already running")
        self._httpd = _StandinHTTPServer((self.host, self.port), _Handler)
        self._httpd.standin = self
        self.port = self._httpd.server_address[1]
        # A short poll interval keeps stop() quick (serve_forever only notices shutdown between polls).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="standin-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_urls(self) -> dict[str, str]:
        return {source: f"http://{self.host}:{self.port}/{source}/" for source in SOURCES}

    def note_request(self, method: str, source: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(SeenRequest(method, f"{source}/{path}", headers, time.time()))
            self._counts[(method, f"{source}/{path}")] += 1

    def count(self, pattern: str = "*", method: str | None = None) -> int:
        """Requests received whose "source/path" matches the fnmatch pattern (faulted ones included)."""
        with self._lock:
            return sum(
                n
                for (seen_method, target), n in self._counts.items()
                if fnmatch.fnmatchcase(target, pattern) and (method is None or seen_method == method.upper())
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self._counts.clear()

    def _lookup(self, source: str, key: str) -> ArchivedResponse | None:
        # The resource folder is not part of the URL, so find the request_key under any resource.
        for folder in sorted((self.archive.root / source).glob(f"*/{key}")):
            found = self.archive.latest(source, folder.parent.name, key)
            if found is not None:
                return found
        return None

    def answer(
        self, method: str, source: str, path: str, params: dict[str, Any], raw_body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """The archived answer to one request as (status, body, headers), or a 404 problem."""
        try:
            request_body = json.loads(raw_body) if raw_body else None
        except ValueError:
            return (
                400,
                _problem(400, "Bad request", "the request body is not JSON"),
                {"Content-Type": "application/problem+json"},
            )
        key = request_key(method, path, params, request_body)
        archived = self._lookup(source, key)
        if archived is None:
            detail = (
                f"no snapshot for {method} {source}/{path} params={params} (request_key {key}) "
                f"under {self.archive.root}"
            )
            return 404, _problem(404, "Not found", detail), {"Content-Type": "application/problem+json"}
        content_type = archived.headers.get("content-type", DEFAULT_CONTENT_TYPE)
        body = archived.body
        if archived.status == 200:
            body = self._with_moved_updated(source, path, body, archived)
        return archived.status, body, {"Content-Type": content_type}

    def _with_moved_updated(self, source: str, path: str, body: bytes, archived: ArchivedResponse) -> bytes:
        if source == "oslo" and archived.method == "POST":
            return _with_field(body, "updated", self.faults.updated_for("oslo", archived.resource))
        if source == "ssb" and (match := _SSB_TABLE_INFO.match(path)):
            return _with_field(body, "updated", self.faults.updated_for("ssb", match["table"]))
        if source == "fhi" and (match := _FHI_TABLE_INFO.match(path)):
            return _with_field(body, "modifiedAt", self.faults.updated_for("fhi", match["table"]))
        if source == "fhi" and _FHI_TABLE_LIST.match(path):
            tables = json.loads(body)
            changed = False
            for table in tables:
                updated = self.faults.updated_for("fhi", str(table.get("tableId")))
                if updated is not None:
                    table["modifiedAt"] = updated
                    changed = True
            return json.dumps(tables, ensure_ascii=False).encode("utf-8") if changed else body
        return body


def live_http(server: StandinServer, source: str, tmp_path: Path) -> HttpClient:
    """A live-mode HttpClient for `source` pointed at the stand-in: answers are archived under
    tmp_path/warehouse, and retries do not wait."""
    return HttpClient(source, server.base_urls[source], mode="live", snapshot_archive=Archive(tmp_path / "unused"),
                      warehouse_archive=Archive(tmp_path / "warehouse"), sleep=lambda seconds: None)


def _with_field(body: bytes, name: str, value: str | None) -> bytes:
    """A JSON object answer with one top-level field replaced (unchanged when value is None)."""
    if value is None:
        return body
    document = json.loads(body)
    document[name] = value
    return json.dumps(document, ensure_ascii=False).encode("utf-8")
