"""One source's transport: replay answers from the snapshot archive, or call the live API politely.

The mode decides where answers come from:
- replay: the snapshot archive only; a request that was never recorded raises ReplayMissingError.
- live: the real API, throttled (sliding window over every attempt, plus the server's x-ratelimit-*
  headers), retried with exponential backoff and full jitter on 429/5xx/timeouts/broken connections/
  truncated bodies, honouring Retry-After. Every successful answer is archived in the warehouse archive.
- record: live, and every answer is also written into the snapshot archive for later replay.

Clock and sleep are injectable so tests exercise the waiting arithmetic without waiting.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import requests

from ci_pipeline.archive import (
    Archive,
    ArchivedResponse,
    format_timestamp,
    request_key,
    sha256_bytes,
    utc_now,
)
from ci_pipeline.errors import ReplayMissingError, RetriesExhaustedError, error_for_status

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses whose Retry-After header tells when to come back (RFC 9110 section 10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})
RATE_WINDOW_SECONDS = 60.0
# Headers that describe the bytes on the wire, not the decoded body the archive keeps.
BODY_FRAMING_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
)
USER_AGENT = "ci_pipeline/0.1 (shared-measurement pipeline; polite client, <=30 requests/min)"


def json_field(name: str) -> Callable[[Any], str | None]:
    """A `source_updated_from` reader: the top-level field `name` of a JSON object answer (SSB's and
    PxWeb's `updated`, FHI's `modifiedAt`), None for any other answer."""

    def read(parsed: Any) -> str | None:
        return parsed.get(name) if isinstance(parsed, dict) else None

    return read


class SharedWindow(Protocol):
    """Where a host's window is kept so that throttles in other processes, and later runs, count the same
    requests (the pipeline keeps it in the Dagster instance, see ci_pipeline/defs/resources.py).

    load() returns what save() last stored (None before the first save). Sharers must use one clock
    (wall time across processes) and must take turns, one request at a time: the pipeline's concurrency
    pools let one step per host run at once.
    """

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...


class SlidingWindowThrottle:
    """At most `max_calls` attempts in any `window` seconds.

    Every attempt counts, rejected ones included, because SSB's limiter counts them too
    (RequestLimiter.cs): hammering after a 429 only extends the ban. With a `shared` window the attempts
    of every throttle sharing it count, whichever process made them.
    """

    def __init__(
        self,
        max_calls: int,
        window: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        shared: SharedWindow | None = None,
    ):
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        self.max_calls = max_calls
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._blocked_until = float("-inf")
        self._shared = shared

    def share(self, shared: SharedWindow) -> None:
        """From now on, keep the window in `shared` (the attempts counted so far go with it)."""
        self._shared = shared
        if self._calls or self._blocked_until != float("-inf"):
            self._merge_shared()
            self._save_shared()

    def _merge_shared(self) -> None:
        if self._shared is None:
            return
        state = self._shared.load() or {}
        self._calls = deque(sorted(set(self._calls).union(state.get("calls", []))))
        self._blocked_until = max(self._blocked_until, state.get("blocked_until", float("-inf")))

    def _save_shared(self) -> None:
        if self._shared is None:
            return
        state: dict[str, Any] = {"calls": list(self._calls)}
        if self._blocked_until != float("-inf"):
            state["blocked_until"] = self._blocked_until
        self._shared.save(state)

    def _forget_expired(self, now: float) -> None:
        while self._calls and now - self._calls[0] >= self.window:
            self._calls.popleft()

    def _wait(self, now: float) -> float:
        self._merge_shared()
        self._forget_expired(now)
        wait = self._blocked_until - now
        if len(self._calls) >= self.max_calls:
            wait = max(wait, self._calls[-self.max_calls] + self.window - now)
        return wait

    def acquire(self) -> None:
        """Wait until one more attempt fits in the window, then count it."""
        now = self._clock()
        wait = self._wait(now)
        while wait > 0:
            self._sleep(wait)
            now = self._clock()
            wait = self._wait(now)
            if self._shared is None:
                # Alone, the wait was exact; only a sharer in another process can fill the window meanwhile.
                break
        self._calls.append(now)
        self._save_shared()

    def block_for(self, seconds: float) -> None:
        """No attempt before `seconds` from now (the server said its quota is spent)."""
        self._merge_shared()
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
        self._save_shared()


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None when absent/unreadable."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def _policy_window(policy: str | None) -> float | None:
    """The window in seconds from an x-ratelimit-policy header such as "40;w=60s"."""
    if not policy:
        return None
    match = re.search(r"w=(\d+(?:\.\d+)?)", policy)
    return float(match.group(1)) if match else None


def _check_params(params: dict[str, Any] | None, where: str) -> dict[str, Any]:
    # Query values must be strings: the request_key (and so the snapshot) is computed from them, and
    # the stand-in server recomputes it from the query string, where everything is a string.
    checked: dict[str, Any] = {}
    for name, value in (params or {}).items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in values):
            raise TypeError(
                f"query parameter {name!r} for {where} must be a string (or list of strings), got {value!r}"
            )
        checked[name] = value
    return checked


@dataclass(frozen=True)
class _Outgoing:
    """One request as the caller described it (path relative to the base URL)."""

    method: str
    path: str
    resource: str
    params: dict[str, Any]
    json_body: Any
    headers: dict[str, str]
    provenance: str
    source_updated_from: Callable[[Any], str | None] | None


class HttpClient:
    """Transport for one source (ssb, fhi or klass)."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        mode: str,
        snapshot_archive: Archive,
        warehouse_archive: Archive,
        max_requests_per_minute: int = 30,
        max_retries: int = 6,
        timeout: float | tuple[float, float] = (10, 120),
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = utc_now,
        throttle: SlidingWindowThrottle | None = None,
    ):
        """throttle: a SlidingWindowThrottle shared with other clients of the same host (a rate limit
        counts every request from this machine); by default the client has its own."""
        if mode not in ("replay", "live", "record"):
            raise ValueError(f"mode must be replay, live or record, got {mode!r}")
        self.source = source
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.mode = mode
        self.snapshot_archive = snapshot_archive
        self.warehouse_archive = warehouse_archive
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._session = requests.Session()
        self._default_headers = {"User-Agent": USER_AGENT}
        self._now = now
        self.throttle = throttle or SlidingWindowThrottle(
            max_requests_per_minute, RATE_WINDOW_SECONDS, clock=clock, sleep=sleep
        )

    def url_for(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = self.base_url + path.lstrip("/")
        if not params:
            return url
        return requests.Request("GET", url, params=params).prepare().url

    def request(
        self,
        method: str,
        path: str,
        *,
        resource: str,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        provenance: str = "recorded",
        source_updated_from: Callable[[Any], str | None] | None = None,
    ) -> ArchivedResponse:
        """One request, answered from the snapshot archive (replay) or the API (live/record)."""
        path = path.lstrip("/")
        outgoing = _Outgoing(
            method=method.upper(),
            path=path,
            resource=str(resource),
            params=_check_params(params, f"{self.source} {method} {path}"),
            json_body=json_body,
            headers={**self._default_headers, **(headers or {})},
            provenance=provenance,
            source_updated_from=source_updated_from,
        )
        if self.mode == "replay":
            return self._replay(outgoing)
        return self._fetch(outgoing)

    def _replay(self, outgoing: _Outgoing) -> ArchivedResponse:
        key = request_key(outgoing.method, outgoing.path, outgoing.params, outgoing.json_body)
        answer = self.snapshot_archive.latest(self.source, outgoing.resource, key)
        if answer is None:
            raise ReplayMissingError(
                self.source,
                outgoing.resource,
                self.url_for(outgoing.path, outgoing.params),
                method=outgoing.method,
                path=outgoing.path,
                request_key=key,
                snapshot_root=str(self.snapshot_archive.root),
            )
        if answer.status >= 400:
            raise error_for_status(self.source, outgoing.resource, answer.url, answer.status, answer.body)
        return answer

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): spreads retries of
        # many clients instead of having them return in lockstep.
        return self._rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def _respect_rate_limit_headers(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is None:
            return
        try:
            left = float(remaining)
        except ValueError:
            return
        if left <= 0:
            self.throttle.block_for(_policy_window(headers.get("x-ratelimit-policy")) or RATE_WINDOW_SECONDS)

    @staticmethod
    def _truncation(response: requests.Response, body: bytes) -> str | None:
        """Why a 2xx body looks cut off, or None when it is whole."""
        declared = response.headers.get("Content-Length", "")
        # With Content-Encoding the header counts compressed bytes, so it says nothing about `body`.
        if "Content-Encoding" in response.headers or not declared.isdigit() or int(declared) == len(body):
            return None
        return f"truncated body: Content-Length {declared} but {len(body)} bytes received"

    def _fetch(self, outgoing: _Outgoing) -> ArchivedResponse:
        attempts = self.max_retries + 1
        last_error = "no attempt made"
        for attempt in range(1, attempts + 1):
            self.throttle.acquire()
            outcome = self._attempt(outgoing)
            if isinstance(outcome, ArchivedResponse):
                return outcome
            last_error, delay = outcome
            if attempt < attempts:
                self._sleep(delay if delay is not None else self._backoff(attempt))
        raise RetriesExhaustedError(
            self.source,
            outgoing.resource,
            self.url_for(outgoing.path, outgoing.params),
            attempts=attempts,
            last_error=last_error,
        )

    def _attempt(self, outgoing: _Outgoing) -> ArchivedResponse | tuple[str, float | None]:
        """One try: the archived answer, or (what went wrong, how long the server asked us to wait)."""
        try:
            response = self._session.request(
                outgoing.method,
                self.base_url + outgoing.path,
                params=outgoing.params or None,
                json=outgoing.json_body,
                headers=outgoing.headers,
                timeout=self.timeout,
            )
            body = response.content
        except requests.Timeout as exc:
            return f"timeout after {self.timeout} s ({type(exc).__name__})", None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            return f"truncated body ({type(exc).__name__}: {exc})", None
        except requests.ConnectionError as exc:
            return f"connection error ({type(exc).__name__}: {exc})", None

        self._respect_rate_limit_headers(response.headers)
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            problem = f"HTTP {status}"
            if status == 500 and not body:
                problem += (
                    " with an empty body (SSB answers so when a value code is listed twice in a selection:"
                    " check the selection for duplicate codes)"
                )
            delay = None
            if status in RETRY_AFTER_STATUSES:
                delay = parse_retry_after(response.headers.get("Retry-After"), self._now())
            return problem, delay
        if status >= 400:
            if self.mode == "record":
                # Recorded so that replay raises the same typed error as live did.
                self.snapshot_archive.write(self._archived(outgoing, response, body, None))
            raise error_for_status(
                self.source, outgoing.resource, self.url_for(outgoing.path, outgoing.params), status, body
            )

        problem = self._truncation(response, body)
        parsed = None
        if problem is None and "json" in response.headers.get("Content-Type", ""):
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                problem = f"truncated body: JSON does not parse ({exc})"
        if problem is not None:
            return problem, None
        updated = None
        if outgoing.source_updated_from is not None and parsed is not None:
            updated = outgoing.source_updated_from(parsed)
        answer = self._archived(outgoing, response, body, updated)
        self.warehouse_archive.write(answer)
        if self.mode == "record":
            self.snapshot_archive.write(answer)
        return answer

    def _archived(
        self, outgoing: _Outgoing, response: requests.Response, body: bytes, source_updated: str | None
    ) -> ArchivedResponse:
        return ArchivedResponse(
            source=self.source,
            resource=outgoing.resource,
            method=outgoing.method,
            url=self.url_for(outgoing.path, outgoing.params),
            path=outgoing.path,
            params=outgoing.params,
            request_body=outgoing.json_body,
            status=response.status_code,
            headers={
                name.lower(): value
                for name, value in response.headers.items()
                if name.lower() not in BODY_FRAMING_HEADERS
            },
            retrieved_at=format_timestamp(self._now()),
            sha256=sha256_bytes(body),
            provenance=outgoing.provenance,
            source_updated=source_updated,
            body=body,
        )
