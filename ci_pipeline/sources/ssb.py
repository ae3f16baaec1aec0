"""SSB PxWebApi v2 client: table info, metadata, codelists and data, within SSB's cell limit.

Requests are byte-for-byte stable (see docs/ARCHITECTURE.md) so snapshots recorded once replay forever.
A data call fetches the table's metadata (and any codelist the selection names), resolves the selection
expressions the way PxWebApi does (PxTools/PxWebApi SelectionExpressions/*.cs) to count cells, and
- sends the selection unchanged in one request when it is within `max_cells` (800,000 at SSB);
- otherwise splits the region variable's values (role geo, else "Region"), then time ("Tid"), into
  explicit-code chunks that each fit; if one region x one period is already too large it raises
  TooManyCellsError before sending anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ci_pipeline.archive import ArchivedResponse
from ci_pipeline.errors import (
    IllegalSelectionError,
    MissingSelectionError,
    NonExistentCodelistError,
    NonExistentValueError,
    NonExistentVariableError,
    NotFoundError,
    SourceError,
    TooManyCellsError,
)
from ci_pipeline.http import HttpClient, json_field
from ci_pipeline.jsonstat import JsonStatError, JsonStatTable, read_jsonstat_metadata

SOURCE = "ssb"
MAX_CELLS = 800_000
DEFAULT_REGION_VARIABLE = "Region"
DEFAULT_TIME_VARIABLE = "Tid"
DATA_FORMAT = "json-stat2"

_TOP_BOTTOM = re.compile(r"^(top|bottom)\(([1-9]\d*)(?:,(\d+))?\)$", re.IGNORECASE)
_FROM_TO = re.compile(r"^(from|to)\(([^,()]+)\)$", re.IGNORECASE)
_RANGE = re.compile(r"^range\(([^,()]+),([^,()]+)\)$", re.IGNORECASE)
_FUNCTION_NAMES = ("top(", "bottom(", "from(", "to(", "range(")


@dataclass(frozen=True)
class Selection:
    """The values wanted for one variable: codes and/or expressions, optionally through a codelist."""

    variable: str
    values: list[str]
    codelist: str | None = None

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"variableCode": self.variable, "valueCodes": list(self.values)}
        if self.codelist is not None:
            body["codelist"] = self.codelist
        return body


def _wildcard_matches(pattern: str, codes: Sequence[str]) -> list[str]:
    stars = pattern.count("*")
    if pattern == "*":
        return list(codes)
    inner = pattern.strip("*").lower()
    if stars == 2 and pattern.startswith("*") and pattern.endswith("*"):
        return [code for code in codes if inner in code.lower()]
    if stars == 1 and pattern.startswith("*"):
        return [code for code in codes if code.lower().endswith(inner)]
    if stars == 1 and pattern.endswith("*"):
        return [code for code in codes if code.lower().startswith(inner)]
    raise ValueError("'*' may only stand alone, at the start, at the end, or at both ends")


def _question_matches(pattern: str, codes: Sequence[str]) -> list[str]:
    regex = re.compile("^" + re.escape(pattern).replace(r"\?", ".") + "$", re.IGNORECASE)
    return [code for code in codes if regex.match(code)]


def resolve_values(
    expressions: Sequence[str],
    available_codes: Sequence[str],
    *,
    is_time: bool = False,
    variable: str = "?",
    table: str | None = None,
    url: str | None = None,
) -> list[str]:
    """The value codes a list of codes/expressions selects, as PxWebApi v2 resolves them.

    Codes match case-insensitively and come back spelled as in `available_codes`; the result has no
    duplicates and keeps the order in which the expressions select them. top(n[,offset]) takes the
    first n codes, except for time where it takes the newest n (bottom is the mirror image).
    An expression that selects nothing, an unknown code or a code listed twice is an error here,
    before anything is sent (SSB answers a duplicate code with a bare 500).
    """
    codes = list(available_codes)
    position = {}
    for index, code in enumerate(codes):
        position.setdefault(code.lower(), index)

    def fail(error_class: type[SourceError], message: str) -> SourceError:
        return error_class(SOURCE, table, url, f"variable {variable!r}: {message}")

    def index_of(code: str, expression: str) -> int:
        found = position.get(code.strip().lower())
        if found is None:
            raise fail(
                NonExistentValueError, f"{expression!r} names code {code!r}, which the variable does not have"
            )
        return found

    selected: dict[str, None] = {}
    explicit_seen: set[str] = set()
    for raw in expressions:
        expression = raw.strip()
        lowered = expression.lower()
        if "*" in expression:
            try:
                matches = _wildcard_matches(expression, codes)
            except ValueError as exc:
                raise fail(
                    IllegalSelectionError, f"illegal selection expression {expression!r}: {exc}"
                ) from None
        elif "?" in expression:
            matches = _question_matches(expression, codes)
        elif match := _TOP_BOTTOM.match(expression):
            count, offset = int(match[2]), int(match[3] or 0)
            # PxWebApi keeps time ascending, so "top" (the newest) counts from the end for time only.
            from_end = (match[1].lower() == "top") == is_time
            ordered = codes[::-1] if from_end else codes
            taken = ordered[offset : offset + count]
            matches = taken[::-1] if from_end else taken
        elif match := _FROM_TO.match(expression):
            index = index_of(match[2], expression)
            matches = codes[index:] if match[1].lower() == "from" else codes[: index + 1]
        elif match := _RANGE.match(expression):
            first, last = sorted((index_of(match[1], expression), index_of(match[2], expression)))
            matches = codes[first : last + 1]
        elif lowered.startswith(_FUNCTION_NAMES):
            raise fail(
                IllegalSelectionError,
                f"illegal selection expression {expression!r} (expected top(n[,offset]), bottom(n[,offset]), "
                f"from(code), to(code) or range(code,code))",
            )
        else:
            code = codes[index_of(expression, expression)]
            if code.lower() in explicit_seen:
                raise fail(
                    IllegalSelectionError,
                    f"code {code!r} is listed twice (SSB answers 500 with an empty body to duplicate codes); "
                    f"list each code once",
                )
            explicit_seen.add(code.lower())
            matches = [code]
        if not matches:
            raise fail(NonExistentValueError, f"{expression!r} selects no value code")
        for code in matches:
            selected.setdefault(code, None)
    return list(selected)


def _same_name(a: str | None, b: str | None) -> bool:
    # SSB variable codes are case-insensitive (codelist ids are not).
    return a is not None and b is not None and a.lower() == b.lower()


def _lookup_codes(codes_by_variable: dict[str, Sequence[str]], variable: str) -> Sequence[str] | None:
    for name, codes in codes_by_variable.items():
        if _same_name(name, variable):
            return codes
    return None


def _chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def plan_chunks(
    selection: Sequence[Selection],
    codes_by_variable: dict[str, Sequence[str]],
    max_cells: int = MAX_CELLS,
    *,
    region_variable: str | None = DEFAULT_REGION_VARIABLE,
    time_variable: str | None = DEFAULT_TIME_VARIABLE,
    table: str | None = None,
    url: str | None = None,
) -> list[list[Selection]]:
    """The selections to send so that none exceeds max_cells.

    codes_by_variable holds, per selected variable, the codes its values are resolved against (the
    table's codes, or the codelist's for a selection with a codelist). Within the limit the selection
    comes back unchanged as the only chunk. Otherwise the region variable's codes are cut into chunks
    with all periods each; when one region with all periods is still too large, each region gets
    its own chunks of periods. Unsplit variables keep their original expressions.
    """
    resolved: list[list[str]] = []
    for item in selection:
        codes = _lookup_codes(codes_by_variable, item.variable)
        if codes is None:
            raise NonExistentVariableError(
                SOURCE,
                table,
                url,
                f"variable {item.variable!r} is not in the table (has {sorted(codes_by_variable)})",
            )
        resolved.append(
            resolve_values(
                item.values,
                codes,
                is_time=_same_name(item.variable, time_variable),
                variable=item.variable,
                table=table,
                url=url,
            )
        )
    sizes = [len(codes) for codes in resolved]
    if math.prod(sizes) <= max_cells:
        return [list(selection)]

    region_index = next((i for i, s in enumerate(selection) if _same_name(s.variable, region_variable)), None)
    time_index = next((i for i, s in enumerate(selection) if _same_name(s.variable, time_variable)), None)
    rest = math.prod(size for i, size in enumerate(sizes) if i not in (region_index, time_index))
    periods = sizes[time_index] if time_index is not None else 1

    if region_index is not None and rest * periods <= max_cells:
        region_chunk, time_chunk = max_cells // (rest * periods), None
    elif time_index is not None and rest <= max_cells:
        region_chunk, time_chunk = 1, max_cells // rest
    else:
        shape = ", ".join(f"{s.variable}={n:,}" for s, n in zip(selection, sizes))
        raise TooManyCellsError(
            SOURCE,
            table,
            url,
            f"{math.prod(sizes):,} cells selected ({shape}) and even one region x one period is {rest:,} cells, "
            f"over the limit of {max_cells:,}; the client cannot split it further — narrow the selection "
            f"of the other variables",
        )

    region_groups: list[list[str] | None] = (
        _chunks(resolved[region_index], region_chunk) if region_index is not None else [None]
    )
    time_groups: list[list[str] | None] = (
        _chunks(resolved[time_index], time_chunk)
        if time_index is not None and time_chunk is not None
        else [None]
    )
    planned = []
    for regions in region_groups:
        for periods_chunk in time_groups:
            chunk = list(selection)
            if regions is not None:
                chunk[region_index] = Selection(
                    chunk[region_index].variable, regions, chunk[region_index].codelist
                )
            if periods_chunk is not None:
                chunk[time_index] = Selection(
                    chunk[time_index].variable, periods_chunk, chunk[time_index].codelist
                )
            planned.append(chunk)
    return planned


def _role(metadata: JsonStatTable, role: str) -> list[str]:
    """The variable codes (ids as SSB spells them) that have a role: time, metric or geo."""
    return [
        metadata.dimensions[name].source_id if name in metadata.dimensions else name
        for name in metadata.roles.get(role, [])
    ]


class SsbClient:
    """SSB PxWebApi v2 (https://data.ssb.no/api/pxwebapi/v2/) over one HttpClient."""

    def __init__(self, http: HttpClient, lang: str = "no", max_cells: int = MAX_CELLS):
        self.http = http
        self.lang = lang
        self.max_cells = max_cells
        self._codelists: dict[str, dict[str, Any]] = {}

    def _params(self, **extra: str) -> dict[str, str]:
        return {"lang": self.lang, **extra}

    def table_info(self, table_id: str) -> dict[str, Any]:
        """GET tables/{id}: label, `updated`, firstPeriod, lastPeriod, variableNames, ..."""
        return self.http.request(
            "GET",
            f"tables/{table_id}",
            resource=table_id,
            params=self._params(),
            source_updated_from=json_field("updated"),
        ).json()

    def updated(self, table_id: str) -> str:
        """The table's `updated` stamp (UTC ISO-8601): SSB's only change signal (no ETag)."""
        value = self.table_info(table_id).get("updated")
        if not isinstance(value, str) or not value:
            raise SourceError(
                SOURCE,
                table_id,
                self.http.url_for(f"tables/{table_id}", self._params()),
                f"the table info has no 'updated' field (got {value!r}); change detection needs it",
            )
        return value

    def metadata(self, table_id: str) -> JsonStatTable:
        """GET tables/{id}/metadata as JSON-stat2: the table's dimensions, read without cells.

        SSB answers without `value`; PxWebApi 2 elsewhere (Statistics Sweden) with `"value": []`
        under sizes whose product may be in the millions. Both read the same (read_jsonstat_metadata).
        """
        path = f"tables/{table_id}/metadata"
        answer = self.http.request(
            "GET",
            path,
            resource=table_id,
            params=self._params(outputFormat=DATA_FORMAT),
            source_updated_from=json_field("updated"),
        )
        try:
            return read_jsonstat_metadata(answer.body, origin=f"{SOURCE} {path}")
        except JsonStatError as exc:
            raise SourceError(SOURCE, table_id, answer.url, str(exc)) from exc

    def codelist(self, codelist_id: str) -> dict[str, Any]:
        """GET codeLists/{id}: {id, label, type, values: [{code, label, valueMap}], ...}."""
        if codelist_id not in self._codelists:
            try:
                answer = self.http.request(
                    "GET", f"codeLists/{codelist_id}", resource="codelists", params=self._params()
                )
            except NotFoundError as exc:
                raise NonExistentCodelistError(
                    SOURCE,
                    codelist_id,
                    exc.url,
                    f"codelist {codelist_id!r} does not exist (HTTP 404)",
                    status=404,
                ) from exc
            self._codelists[codelist_id] = answer.json()
        return self._codelists[codelist_id]

    def _codes_by_variable(
        self, table_id: str, metadata: JsonStatTable, selection: Sequence[Selection], url: str
    ) -> dict[str, list[str]]:
        variables = {dimension.source_id: dimension for dimension in metadata.dimensions.values()}
        codes: dict[str, list[str]] = {}
        for item in selection:
            name = next((v for v in variables if _same_name(v, item.variable)), None)
            if name is None:
                raise NonExistentVariableError(
                    SOURCE,
                    table_id,
                    url,
                    f"variable {item.variable!r} is not in the table (it has {list(variables)})",
                )
            if item.codelist is None:
                codes[item.variable] = variables[name].codes
            else:
                values = self.codelist(item.codelist).get("values") or []
                codes[item.variable] = [str(value["code"]) for value in values]
        return codes

    def _check_mandatory(
        self, table_id: str, metadata: JsonStatTable, selection: Sequence[Selection], url: str
    ) -> None:
        # Tid and ContentsCode (roles time and metric) can never be eliminated in v2; other variables
        # say so in extension.elimination. Missing one costs a request and a 400, so check first.
        never_eliminable = set(_role(metadata, "time")) | set(_role(metadata, "metric"))
        missing = []
        for dimension in metadata.dimensions.values():
            name = dimension.source_id
            mandatory = name in never_eliminable or dimension.extension.get("elimination") is False
            if mandatory and not any(_same_name(name, item.variable) for item in selection):
                missing.append(name)
        if missing:
            raise MissingSelectionError(
                SOURCE, table_id, url, f"no selection for mandatory variable(s) {missing}"
            )

    def data(self, table_id: str, selection: Sequence[Selection]) -> list[ArchivedResponse]:
        """POST tables/{id}/data as JSON-stat2; one answer per chunk (one when no split is needed)."""
        params = self._params(outputFormat=DATA_FORMAT)
        path = f"tables/{table_id}/data"
        url = self.http.url_for(path, params)
        metadata = self.metadata(table_id)
        codes = self._codes_by_variable(table_id, metadata, selection, url)
        self._check_mandatory(table_id, metadata, selection, url)
        geo = _role(metadata, "geo")
        time = _role(metadata, "time")
        chunks = plan_chunks(
            selection,
            codes,
            self.max_cells,
            region_variable=geo[0] if geo else DEFAULT_REGION_VARIABLE,
            time_variable=time[0] if time else DEFAULT_TIME_VARIABLE,
            table=table_id,
            url=url,
        )
        return [
            self.http.request(
                "POST",
                path,
                resource=table_id,
                params=params,
                json_body={"selection": [item.as_body() for item in chunk]},
                source_updated_from=json_field("updated"),
            )
            for chunk in chunks
        ]
