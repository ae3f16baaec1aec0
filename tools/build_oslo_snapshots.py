"""Build the snapshot archive of Oslo kommune statistikkbank (data/snapshots/oslo) for the replay run.

For every catalogue entry in assets/sources/oslo/*.yaml this writes, in exactly the layout
record mode writes (ci_pipeline.archive), the answers to the two requests OsloStatbankClient.data sends:

- POST <path> with the entry's query: `recorded`. The body is the real answer kept in the reference
  folder (oslo_statbank/*.json), byte for byte. Whoever saved it re-serialised it (json.dump: non-ASCII
  written as \\u escapes); keys, order and values are the API's. That answer is the reply to the query
  "filter all, values *" for every variable of the table, in the table's order, so the builder refuses
  an entry that asks for anything else.
- GET <path> (the table's variables): `reconstructed`. No metadata answer was recorded; it is derived
  from the data answer (variables in the table's stub + heading order, codes and labels of each
  dimension, `time` from role.time, `elimination` from each dimension's extension, the answer's label
  as title).

The output is deterministic (fixed retrieval timestamp: the day the answers were saved).

    .venv/bin/python tools/build_oslo_snapshots.py [--reference ../shared/reference] [--out data/snapshots]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ci_pipeline.archive import Archive, ArchivedResponse, sha256_bytes
from ci_pipeline.catalogue import OsloTableSpec, load_catalogue
from ci_pipeline.config import ConfigError
from ci_pipeline.jsonstat import JsonStatError, read_jsonstat
from ci_pipeline.settings import OSLO_STATBANK_BASE_URL
from ci_pipeline.sources.oslo import SOURCE, Query, data_request_body, query_of
from ci_pipeline.sources.oslo_tidy import OsloMappingError, oslo_to_tidy

CATALOGUE = REPO_ROOT / "assets"
# The author of Torcode/bostotte-oslo fetched the answers on this day (time of day unknown).
RETRIEVED_AT = "2026-08-04T00:00:00.000000Z"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
ORIGIN = "Torcode/bostotte-oslo, data/raw/{file} (commit d0d1a406), fetched 2026-08-04 by the repository's author"


@dataclass(frozen=True)
class RecordedAnswer:
    table_id: str
    file: str  # under <reference>/oslo_statbank/


RECORDED = {
    answer.table_id: answer
    for answer in (
        RecordedAnswer("OK-SOS006", "oslo_sos006_uforetrygd_bydel.json"),
        RecordedAnswer("OK-SOS001", "oslo_sos001_aap_bydel.json"),
        RecordedAnswer("OK-STØ013", "oslo_sto013_sosialhjelp_bydel.json"),
        RecordedAnswer("OK-STØ020", "oslo_sto020_sosialhjelp_andel_bydel.json"),
    )
}


class BuildError(Exception):
    """The catalogue or the reference folder does not fit what the builder can answer."""


def table_variables(answer: dict[str, Any]) -> list[str]:
    """The table's variables in its own order (stub, then heading), as the v1 metadata lists them;
    ContentsCode is left out: the answer adds it for the eliminated contents, the table has no such variable."""
    px = (answer.get("extension") or {}).get("px") or {}
    order = [*(px.get("stub") or []), *(px.get("heading") or [])]
    variables = [dim for dim in answer["id"] if dim != "ContentsCode"]
    if sorted(order) != sorted(variables):
        raise BuildError(f"the answer's stub+heading {order} do not list its dimensions {variables}")
    return order


def recorded_query(answer: dict[str, Any]) -> list[Query]:
    """The query the recorded answer replies to: every variable, filter all, values *."""
    return [Query(variable, "all", ["*"]) for variable in table_variables(answer)]


def v1_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    """GET <path>: {"title", "variables"} derived from a data answer (SOURCES.md 1.4: `elimination` and
    `time` are only present when true)."""
    time = set((answer.get("role") or {}).get("time") or [])
    variables = []
    for code in table_variables(answer):
        dimension = answer["dimension"][code]
        category = dimension["category"]
        codes = sorted(category["index"], key=category["index"].__getitem__)
        variable: dict[str, Any] = {
            "code": code,
            "text": dimension.get("label") or code,
            "values": codes,
            "valueTexts": [category["label"][value] for value in codes],
        }
        if (dimension.get("extension") or {}).get("elimination"):
            variable["elimination"] = True
        if code in time:
            variable["time"] = True
        variables.append(variable)
    return {"title": answer["label"], "variables": variables}


def url_of(path: str) -> str:
    # As HttpClient.url_for writes it: the path percent-encoded the way requests sends it.
    return requests.Request("GET", OSLO_STATBANK_BASE_URL + path).prepare().url


def archived(spec: OsloTableSpec, method: str, body: bytes, *, request_body: Any, provenance: str,
             source_updated: str | None, note: str) -> ArchivedResponse:
    return ArchivedResponse(
        source=SOURCE,
        resource=spec.table_id,
        method=method,
        url=url_of(spec.table_path),
        path=spec.table_path,
        params={},
        request_body=request_body,
        status=200,
        headers={"content-type": JSON_CONTENT_TYPE},
        retrieved_at=RETRIEVED_AT,
        sha256=sha256_bytes(body),
        provenance=provenance,
        source_updated=source_updated,
        note=note,
        body=body,
    )


def answers_for(spec: OsloTableSpec, reference: Path) -> list[ArchivedResponse]:
    where = f"catalogue entry {spec.name} ({spec.table_id})"
    recorded = RECORDED.get(spec.table_id)
    if recorded is None:
        raise BuildError(f"{where}: no recorded answer of {spec.table_id} in the reference folder")
    path = reference / "oslo_statbank" / recorded.file
    if not path.is_file():
        raise BuildError(f"{where}: the recorded answer {path} is missing")
    body = path.read_bytes()
    answer = json.loads(body)
    if spec.snapshot_provenance != "recorded":
        raise BuildError(f"{where}: snapshot_provenance must be recorded (the data answer is a recorded one)")
    expected = recorded_query(answer)
    query = query_of(spec.selection)
    if query != expected:
        raise BuildError(
            f"{where}: the recorded answer replies to the query {data_request_body(expected)['query']}; "
            f"the entry asks for {data_request_body(query)['query']}"
        )
    try:
        oslo_to_tidy(read_jsonstat(body, origin=path.name), spec, provenance="recorded",
                     snapshot_sha256=sha256_bytes(body), retrieved_at=RETRIEVED_AT, source_updated=answer.get("updated"))
    except (JsonStatError, OsloMappingError) as exc:
        raise BuildError(f"{where}: {exc}") from None
    metadata = json.dumps(v1_metadata(answer), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    origin = ORIGIN.format(file=recorded.file)
    return [
        archived(
            spec, "GET", metadata, request_body=None, provenance="reconstructed", source_updated=None,
            note=(
                f"Reconstructed: no metadata answer of {spec.table_id} was recorded. Derived from the recorded "
                "data answer: variables in the table's stub + heading order, codes and labels of each dimension, "
                "time from role.time, elimination from each dimension's extension, title = the answer's label "
                f"(the real title may be worded differently). Data answer: {origin}."
            ),
        ),
        archived(
            spec, "POST", body, request_body=data_request_body(query), provenance="recorded",
            source_updated=answer.get("updated"),
            note=(
                f"Recorded answer of Oslo kommune statistikkbank ({origin}), byte for byte as saved: the saver "
                "re-serialised the JSON (json.dump, non-ASCII as \\u escapes); keys, order and values are the "
                "API's."
            ),
        ),
    ]


def build(reference: Path, out: Path, catalogue: Path) -> int:
    """(Re)create out/oslo from the catalogue; returns the number of answers written."""
    if not reference.is_dir():
        raise BuildError(f"reference folder {reference} does not exist")
    try:
        specs = [spec for spec in load_catalogue(catalogue) if isinstance(spec, OsloTableSpec)]
    except ConfigError as exc:
        raise BuildError(str(exc)) from None
    answers = [answer for spec in specs for answer in answers_for(spec, reference)]
    shutil.rmtree(out / SOURCE, ignore_errors=True)
    archive = Archive(out)
    for answer in answers:
        archive.write(answer)
    return len(answers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, default=REPO_ROOT.parent / "shared" / "reference",
                        help="folder of real recorded responses and exports (default: ../shared/reference)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data" / "snapshots",
                        help="snapshot archive root; its oslo/ folder is replaced (default: data/snapshots)")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE,
                        help="catalogue root whose sources/oslo/ holds the Oslo statbank entries (default: assets)")
    args = parser.parse_args(argv)
    try:
        written = build(args.reference.resolve(), args.out.resolve(), args.catalogue.resolve())
    except BuildError as exc:
        print(f"build_oslo_snapshots: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {written} answers under {args.out / SOURCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
