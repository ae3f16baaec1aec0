"""Typed errors raised by the source transport and the API clients.

Every error names the source, the table (or classification), the URL and what to change, so a failed
nightly run can be fixed from its log line alone. Callers catch the class they can act on (for example
NotFoundError when a table was renumbered) and let the rest surface.
"""

from __future__ import annotations

import json
from typing import Any


class SourceError(Exception):
    """Base class: something went wrong talking to one source about one table."""

    hint = ""

    def __init__(self, source: str, table: str | None, url: str | None, message: str):
        self.source = source
        self.table = table
        self.url = url
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.source} table {self.table or '(none)'}: {self.message}"
        if self.hint and self.hint not in self.message:
            text += f" — {self.hint}"
        if self.url:
            text += f" [URL: {self.url}]"
        return text


class HttpStatusError(SourceError):
    """The source answered with an HTTP status the client does not retry."""

    hint = "check the request against the source's API documentation (SOURCES.md)"

    def __init__(
        self,
        source: str,
        table: str | None,
        url: str | None,
        message: str,
        *,
        status: int | None = None,
        body: bytes = b"",
    ):
        self.status = status
        self.body = body
        super().__init__(source, table, url, message)


class TooManyCellsError(HttpStatusError):
    hint = (
        "narrow the selection or let the client split it (SsbClient.data splits by region, then time; "
        "OsloStatbankClient.data by time)"
    )


class NonExistentValueError(HttpStatusError):
    hint = "a value code is not in the table's metadata (or in the codelist); fix the value codes in the catalogue"


class NonExistentVariableError(HttpStatusError):
    hint = "a variable code is not in the table; compare the catalogue selection with the table's metadata (GET tables/<id>/metadata)"


class NonExistentCodelistError(HttpStatusError):
    hint = "the codelist id is unknown (codelist ids are case-sensitive); see extension.codelists in the metadata"


class MissingSelectionError(HttpStatusError):
    hint = "add a selection for every variable that cannot be eliminated (Tid and ContentsCode always)"


class IllegalSelectionError(HttpStatusError):
    hint = "fix the selection expression (*, ?, top(n[,o]), bottom(n[,o]), from(x), to(x), range(x,y))"


class NotFoundError(HttpStatusError):
    hint = "the table or resource does not exist (tables can be deleted or renumbered); check the id in the catalogue"


class MissingDimensionsError(HttpStatusError):
    hint = "supply every dimension listed by the table's ready-made query (GET <source>/table/<id>/query)"


class RetriesExhaustedError(SourceError):
    hint = "the source kept failing; try again later or check the source's status page"

    def __init__(self, source: str, table: str | None, url: str | None, *, attempts: int, last_error: str):
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(source, table, url, f"gave up after {attempts} attempts; last error: {last_error}")


class ReplayMissingError(SourceError):
    hint = (
        "run once in record mode (CI_PIPELINE_MODE=record) to capture this request into the snapshot archive"
    )

    def __init__(
        self,
        source: str,
        table: str | None,
        url: str | None,
        *,
        method: str,
        path: str,
        request_key: str,
        snapshot_root: str,
    ):
        self.method = method
        self.path = path
        self.request_key = request_key
        self.snapshot_root = snapshot_root
        message = (
            f"replay mode has no snapshot for {method} {path} (resource {table}, request_key {request_key}) "
            f"under {snapshot_root}"
        )
        super().__init__(source, table, url, message)


# The `title` of SSB PxWebApi v2 400 answers (application/problem+json), as written by PxWebApi's
# ProblemUtility.cs — "mandantory" is SSB's spelling.
SSB_PROBLEM_TITLES: dict[str, type[HttpStatusError]] = {
    "too many cells selected": TooManyCellsError,
    "non-existent value": NonExistentValueError,
    "non-existent variable": NonExistentVariableError,
    "non-existent codelist": NonExistentCodelistError,
    "missing selection for mandantory variable": MissingSelectionError,
    "illegal selection expression": IllegalSelectionError,
}


# PxWeb v1 (SSB api/v0, Oslo kommune statistikkbank) answers a query over its value limit with 403 and
# {"error": "Too many values selected"} (statisticsnorway/PxWeb SSDHandler.cs).
PXWEB_V1_TOO_MANY_VALUES = "too many values selected"

# FHI's 400 answer when a data request does not list exactly the table's dimensions.
FHI_DIMENSIONS_MISMATCH = "does not match the required dimensions"


def _problem_fields(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _body_excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def error_for_status(source: str, table: str | None, url: str, status: int, body: bytes) -> HttpStatusError:
    """The typed error for a non-retryable HTTP answer (4xx other than 429, or a replayed error)."""
    problem = _problem_fields(body)
    title = str(problem.get("title") or "")
    detail = str(problem.get("detail") or "")
    described = f"HTTP {status}"
    if title:
        described += f" {title!r}"
    if detail:
        described += f": {detail}"
    if not title and not detail and body:
        described += f": {_body_excerpt(body)}"
    if status == 404:
        return NotFoundError(source, table, url, described, status=status, body=body)
    if status == 403 and str(problem.get("error") or "").strip().lower() == PXWEB_V1_TOO_MANY_VALUES:
        return TooManyCellsError(source, table, url, f"HTTP 403: {problem['error']}", status=status, body=body)
    if status == 400 and FHI_DIMENSIONS_MISMATCH in body.decode("utf-8", errors="replace"):
        return MissingDimensionsError(source, table, url, described, status=status, body=body)
    error_class = (
        SSB_PROBLEM_TITLES.get(title.strip().lower(), HttpStatusError) if status == 400 else HttpStatusError
    )
    return error_class(source, table, url, described, status=status, body=body)
