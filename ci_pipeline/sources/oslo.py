"""Oslo kommune statistikkbank (Oslostatistikken) client: a PxWeb v1 API, as SOURCES.md 1.4 describes it.

Base https://statistikkbanken.oslo.kommune.no/statbank/api/v1/no/db1/; a table is addressed by its path
under the database (e.g. "Trygd, sosiale tjenester og barnevern/Trygd/OK-SOS006.px"; the path keeps
spaces, commas and Norwegian letters, which the transport percent-encodes on the wire):

- GET <path>: the table's variables {"title", "variables": [{"code", "text", "values", "valueTexts",
  "elimination"?, "time"?}]} (`elimination` and `time` only present when true);
- POST <path> with {"query": [{"code", "selection": {"filter", "values"}}], "response": {"format":
  "json-stat2"}}: the data as JSON-stat 2.0. A non-eliminable variable left out of the query is
  selected in full by the server.

Errors of v1: too many values → 403 {"error": "Too many values selected"} (TooManyCellsError); rate limit
→ 429 in plain text with Retry-After (retried by the transport after the wait the server asks for);
unknown table → 404 (NotFoundError). Before anything is sent, the client resolves the query against
the metadata (filters item, all with `*` patterns, top), names unknown variables and values, counts
the cells and, above `max_values`, splits the time variable into explicit chunks; if one period alone
is still too large it raises TooManyCellsError without sending a data request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ci_pipeline.archive import ArchivedResponse
from ci_pipeline.errors import (
    HttpStatusError,
    IllegalSelectionError,
    NonExistentVariableError,
    SourceError,
    TooManyCellsError,
)
from ci_pipeline.http import HttpClient, json_field
from ci_pipeline.settings import OSLO_MAX_VALUES as MAX_VALUES
from ci_pipeline.sources.ssb import resolve_values

SOURCE = "oslo"
DATA_FORMAT = "json-stat2"
FILTERS = ("item", "all", "top")


@dataclass(frozen=True)
class Query:
    """The values wanted for one variable: filter item (codes), all (`*` patterns) or top (newest n)."""

    code: str
    filter: str
    values: list[str]

    def as_body(self) -> dict[str, Any]:
        return {"code": self.code, "selection": {"filter": self.filter, "values": list(self.values)}}


def data_request_body(query: Sequence[Query]) -> dict[str, Any]:
    """The POST body for a query, in query order (byte-for-byte stable, so snapshots replay)."""
    return {"query": [item.as_body() for item in query], "response": {"format": DATA_FORMAT}}


def _variables(metadata: Any, table_id: str, url: str) -> list[dict[str, Any]]:
    variables = metadata.get("variables") if isinstance(metadata, dict) else None
    if not isinstance(variables, list) or not all(isinstance(v, dict) and "code" in v for v in variables):
        raise SourceError(SOURCE, table_id, url, "the table metadata has no list of variables with codes")
    return variables


def resolve_query_values(item: Query, variable: dict[str, Any], *, table_id: str, url: str) -> list[str]:
    """The codes a query item selects from a metadata variable, as PxWeb v1 resolves its filters."""
    codes = [str(code) for code in variable.get("values") or []]
    is_time = bool(variable.get("time"))
    if item.filter not in FILTERS:
        raise IllegalSelectionError(
            SOURCE, table_id, url,
            f"variable {item.code!r}: filter {item.filter!r} is not one this client can check before sending "
            f"(use {', '.join(FILTERS)})",
        )
    if item.filter == "top":
        if len(item.values) != 1 or not str(item.values[0]).isdigit() or int(item.values[0]) < 1:
            raise IllegalSelectionError(
                SOURCE, table_id, url, f"variable {item.code!r}: filter top takes one count, got {item.values}"
            )
        expressions = [f"top({item.values[0]})"]
    elif item.filter == "all":
        if not item.values or not all("*" in value for value in item.values):
            raise IllegalSelectionError(
                SOURCE, table_id, url,
                f"variable {item.code!r}: filter all takes patterns with '*' (e.g. ['*']), got {item.values}",
            )
        expressions = list(item.values)
    else:
        wildcards = [value for value in item.values if any(sign in value for sign in "*?(")]
        if wildcards:
            raise IllegalSelectionError(
                SOURCE, table_id, url,
                f"variable {item.code!r}: filter item takes codes, not patterns {wildcards}; use filter all",
            )
        expressions = list(item.values)
    try:
        return resolve_values(expressions, codes, is_time=is_time, variable=item.code, table=table_id, url=url)
    except HttpStatusError as exc:
        # The resolver speaks for SSB; the same problem here is Oslo's.
        raise type(exc)(SOURCE, table_id, url, exc.message) from None


def plan_queries(query: Sequence[Query], metadata: dict[str, Any], max_values: int = MAX_VALUES, *,
                 table_id: str, url: str) -> list[list[Query]]:
    """The queries to send so that none selects more than max_values cells.

    Within the limit the query comes back unchanged as the only one. Otherwise the time variable is
    split into explicit-code chunks (filter item) that each fit; when one period is still too large,
    or the table has no time variable, TooManyCellsError is raised before anything is sent.
    """
    variables = {variable["code"]: variable for variable in _variables(metadata, table_id, url)}
    sizes: dict[str, int] = {}
    resolved: dict[str, list[str]] = {}
    for item in query:
        if item.code not in variables:
            raise NonExistentVariableError(
                SOURCE, table_id, url, f"variable {item.code!r} is not in the table (it has {list(variables)})"
            )
        if item.code in resolved:
            raise IllegalSelectionError(SOURCE, table_id, url, f"variable {item.code!r} is queried twice")
        resolved[item.code] = resolve_query_values(item, variables[item.code], table_id=table_id, url=url)
        sizes[item.code] = len(resolved[item.code])
    for code, variable in variables.items():
        # PxWeb v1 selects every value of a non-eliminable variable the query leaves out.
        if code not in sizes and not variable.get("elimination"):
            sizes[code] = len(variable.get("values") or [])
            resolved[code] = [str(value) for value in variable.get("values") or []]
    cells = math.prod(sizes.values())
    if cells <= max_values:
        return [list(query)]

    time = next((code for code, variable in variables.items() if variable.get("time")), None)
    shape = ", ".join(f"{code}={size:,}" for code, size in sizes.items())
    rest = cells // sizes[time] if time is not None and sizes[time] else cells
    if time is None or rest > max_values:
        raise TooManyCellsError(
            SOURCE, table_id, url,
            f"{cells:,} cells selected ({shape}), over the limit of {max_values:,}"
            + (f", and one period alone is {rest:,} cells" if time is not None else " and the table has no time "
               "variable to split by")
            + "; narrow the selection of the other variables",
        )
    step = max_values // rest
    periods = resolved[time]
    planned = []
    for start in range(0, len(periods), step):
        chunk = Query(time, "item", periods[start : start + step])
        if any(item.code == time for item in query):
            planned.append([chunk if item.code == time else item for item in query])
        else:
            planned.append([*query, chunk])
    return planned


class OsloStatbankClient:
    """Oslo kommune statistikkbank (PxWeb v1) over one HttpClient; tables are (table_id, path) pairs."""

    def __init__(self, http: HttpClient, max_values: int = MAX_VALUES):
        if max_values < 1:
            raise ValueError(f"max_values must be at least 1, got {max_values}")
        self.http = http
        self.max_values = max_values

    def metadata(self, table_id: str, path: str) -> dict[str, Any]:
        """GET <path>: {"title", "variables": [...]} of the table."""
        answer = self.http.request("GET", path, resource=table_id).json()
        _variables(answer, table_id, self.http.url_for(path))
        return answer

    def data(self, table_id: str, path: str, query: Sequence[Query]) -> list[ArchivedResponse]:
        """POST <path> as JSON-stat2; one answer per planned query (one when no split is needed)."""
        url = self.http.url_for(path)
        metadata = self.metadata(table_id, path)
        planned = plan_queries(query, metadata, self.max_values, table_id=table_id, url=url)
        return [
            self.http.request(
                "POST",
                path,
                resource=table_id,
                json_body=data_request_body(chunk),
                source_updated_from=json_field("updated"),
            )
            for chunk in planned
        ]


def query_of(selection: Sequence[dict[str, Any]]) -> list[Query]:
    """The v1 query of a catalogue entry's selection ({"variable", "filter", "values"}), in its order."""
    return [Query(item["variable"], item["filter"], list(item["values"])) for item in selection]
