"""FHI Statistikk open API client (https://statistikk-data.fhi.no/api/open/v1/), source `nokkel` by default.

Change detection uses the tables' `modifiedAt` (GET {source}/table?modifiedAfter=...). A data request
must name every dimension of the table — FHI answers 400 "List of supplied dimensions does not match
the required dimensions" otherwise — so the client compares the dimensions with the table's ready-made
query (GET {source}/table/{id}/query) and names the missing ones before sending anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ci_pipeline.archive import ArchivedResponse, read_source_timestamp
from ci_pipeline.errors import MissingDimensionsError, SourceError
from ci_pipeline.http import HttpClient, json_field

SOURCE = "fhi"
MAX_ROW_COUNT = 50_000

def parse_fhi_timestamp(text: str) -> datetime:
    """FHI's stamps (e.g. "2022-12-20T11:44:58.7706326+00:00", seven fractional-second digits) as an
    aware UTC datetime, by archive.read_source_timestamp; a date without a time is refused."""
    return read_source_timestamp(text, time_required=True)


class FhiClient:
    """One FHI source (e.g. `nokkel`, Folkehelsestatistikk) over one HttpClient."""

    def __init__(self, http: HttpClient, source_id: str = "nokkel"):
        self.http = http
        self.source_id = source_id

    def _get(
        self,
        path: str,
        resource: str,
        params: dict[str, str] | None = None,
        updated_from: Callable[[Any], str | None] | None = None,
    ) -> Any:
        return self.http.request(
            "GET", path, resource=resource, params=params, source_updated_from=updated_from
        ).json()

    def sources(self) -> list[dict[str, Any]]:
        """GET Common/source: [{id, title, description, aboutUrl, ...}]."""
        return self._get("Common/source", "catalogue")

    def tables(self, modified_after: str | None = None) -> list[dict[str, Any]]:
        """GET {source}/table: [{tableId, title, publishedAt, modifiedAt}], only tables changed since when given."""
        params = {"modifiedAfter": modified_after} if modified_after is not None else None
        return self._get(f"{self.source_id}/table", "catalogue", params)

    def table(self, table_id: str | int) -> dict[str, Any]:
        return self._get(f"{self.source_id}/table/{table_id}", str(table_id), updated_from=json_field("modifiedAt"))

    def query(self, table_id: str | int) -> dict[str, Any]:
        """The ready-made data request body: every dimension with its default filter."""
        return self._get(f"{self.source_id}/table/{table_id}/query", str(table_id))

    def dimensions(self, table_id: str | int) -> dict[str, Any]:
        """{dimensions: [{code, label, categories: [{label, value, children}]}]} (GEO is a tree)."""
        return self._get(f"{self.source_id}/table/{table_id}/dimension", str(table_id))

    def flags(self, table_id: str | int) -> list[dict[str, Any]]:
        """The legend of the flag symbols used in the table: [{title, text}]."""
        return self._get(f"{self.source_id}/table/{table_id}/flag", str(table_id))

    def modified_at(self, table_id: str | int) -> datetime:
        """When FHI last changed the table (UTC), from the table info's `modifiedAt`."""
        info = self.table(table_id)
        value = info.get("modifiedAt")
        if not isinstance(value, str) or not value:
            raise SourceError(
                SOURCE,
                str(table_id),
                self.http.url_for(f"{self.source_id}/table/{table_id}"),
                f"the table info has no 'modifiedAt' (got {value!r}); change detection needs it",
            )
        return parse_fhi_timestamp(value)

    def data(self, table_id: str | int, dimensions: Sequence[dict[str, Any]]) -> ArchivedResponse:
        """POST {source}/table/{id}/data as JSON-stat2 with every dimension of the table supplied."""
        path = f"{self.source_id}/table/{table_id}/data"
        url = self.http.url_for(path)
        required = [str(d["code"]) for d in self.query(table_id).get("dimensions") or []]
        supplied = [str(d.get("code")) for d in dimensions]
        # Compared without case: the dimension codes are upper case by convention (GEO, AAR, ...).
        missing = [code for code in required if code.upper() not in {s.upper() for s in supplied}]
        unexpected = [code for code in supplied if code.upper() not in {r.upper() for r in required}]
        if missing or unexpected:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unexpected:
                problems.append(f"not in the table {unexpected}")
            raise MissingDimensionsError(
                SOURCE,
                str(table_id),
                url,
                f"the data request must list exactly the table's dimensions {required}: {'; '.join(problems)}",
            )
        body = {
            "dimensions": [dict(d) for d in dimensions],
            "response": {"format": "json-stat2", "maxRowCount": MAX_ROW_COUNT},
        }
        return self.http.request(
            "POST", path, resource=str(table_id), json_body=body, source_updated_from=json_field("updated")
        )
