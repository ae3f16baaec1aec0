"""The KLASS requests the pipeline sends, and their answers parsed into one KlassGeography.

KLASS_REQUESTS is the one list: the pipeline sends exactly these, and tools/build_klass_snapshots.py
writes an answer for each into the snapshot archive. Each answer keeps its provenance and sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ci_pipeline.geography.parse import (
    GeographyError,
    KlassClassification,
    KlassCorrespondenceTable,
    KlassVersion,
    parse_changes,
    parse_classification,
    parse_codes,
    parse_correspondence_table,
    parse_version,
)
from ci_pipeline.sources.klass import KlassClient

MUNICIPALITIES = "131"
COUNTIES = "104"
DISTRICTS = "103"


@dataclass(frozen=True)
class KlassRequest:
    """One KLASS request the pipeline makes: `call` is the KlassClient method, `args` its arguments."""

    name: str
    call: str
    args: tuple[str, ...]
    purpose: str


# The one list of KLASS requests: the pipeline sends exactly these, and tools/build_klass_snapshots.py
# writes an answer for each into the snapshot archive.
KLASS_REQUESTS: tuple[KlassRequest, ...] = (
    KlassRequest("municipalities_2023", "codes_at", (MUNICIPALITIES, "2023-03-02"),
                 "municipalities valid on 2023-03-02: the base list today's codes are derived from"),
    KlassRequest("municipalities_2020", "codes_at", (MUNICIPALITIES, "2020-01-01"),
                 "municipalities valid on 2020-01-01: checks that the changes lead from it to the 2023 list"),
    KlassRequest("municipality_changes", "changes", (MUNICIPALITIES, "2000-01-01"),
                 "municipal code changes (2018, 2020 and 2024 reforms)"),
    KlassRequest("counties_2022", "codes", (COUNTIES, "2022-07-10"),
                 "counties valid from 2022-07-10: the base county list"),
    KlassRequest("county_changes", "changes", (COUNTIES, "2000-01-01"),
                 "county code changes (2018, 2020 and 2024 reforms)"),
    KlassRequest("district_classification", "classification", (DISTRICTS,),
                 "the district classification's versions and their validity"),
    KlassRequest("district_version_398", "version", ("398",), "Bydelsinndeling 2004 (2004-2018)"),
    KlassRequest("district_version_919", "version", ("919",), "Bydelsinndeling 2018 (2018-2020)"),
    KlassRequest("district_version_1168", "version", ("1168",), "Bydelsinndeling 2020 (from 2020)"),
    KlassRequest("district_change_table_742", "correspondence_table", ("742",),
                 "Bydelsinndeling 2020 - Bydelsinndeling 2018 change table: cross-checks the Bergen renumbering"),
)
DISTRICT_VERSION_REQUESTS = ("district_version_398", "district_version_919", "district_version_1168")


@dataclass(frozen=True)
class KlassAnswer:
    doc: Any
    provenance: str
    sha256: str


@dataclass(frozen=True)
class KlassGeography:
    """Every KLASS answer the regions dimension is built from, parsed."""

    municipalities: pd.DataFrame
    municipalities_date: str
    municipalities_2020: pd.DataFrame
    municipalities_2020_date: str
    municipality_changes: pd.DataFrame
    counties: pd.DataFrame
    counties_date: str
    county_changes: pd.DataFrame
    district_classification: KlassClassification
    district_versions: tuple[KlassVersion, ...]
    district_change_table: KlassCorrespondenceTable
    provenance: dict[str, str] = field(default_factory=dict)  # request name -> provenance


class _RecordingHttp:
    """Passes requests on to the real transport and keeps each answer, for its provenance and sha256."""

    def __init__(self, http: Any):
        self._http = http
        self.responses: list[Any] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = self._http.request(*args, **kwargs)
        self.responses.append(response)
        return response


def fetch_klass_answers(http: Any) -> dict[str, KlassAnswer]:
    """Send every request of KLASS_REQUESTS through `http` (an HttpClient for source klass)."""
    recorder = _RecordingHttp(http)
    client = KlassClient(recorder)
    answers = {}
    for request in KLASS_REQUESTS:
        doc = getattr(client, request.call)(*request.args)
        response = recorder.responses[-1]
        answers[request.name] = KlassAnswer(doc=doc, provenance=response.provenance, sha256=response.sha256)
    return answers


def _request(name: str) -> KlassRequest:
    return next(request for request in KLASS_REQUESTS if request.name == name)


def parse_klass_answers(answers: dict[str, KlassAnswer]) -> KlassGeography:
    """The answers of fetch_klass_answers() parsed into a KlassGeography."""
    missing = [request.name for request in KLASS_REQUESTS if request.name not in answers]
    if missing:
        raise GeographyError(f"KLASS answers missing for: {', '.join(missing)}")

    def origin(name: str) -> str:
        request = _request(name)
        return f"KLASS {request.call}{request.args}"

    return KlassGeography(
        municipalities=parse_codes(answers["municipalities_2023"].doc, origin=origin("municipalities_2023")),
        municipalities_date=_request("municipalities_2023").args[1],
        municipalities_2020=parse_codes(answers["municipalities_2020"].doc, origin=origin("municipalities_2020")),
        municipalities_2020_date=_request("municipalities_2020").args[1],
        municipality_changes=parse_changes(answers["municipality_changes"].doc, origin=origin("municipality_changes")),
        counties=parse_codes(answers["counties_2022"].doc, origin=origin("counties_2022")),
        counties_date=_request("counties_2022").args[1],
        county_changes=parse_changes(answers["county_changes"].doc, origin=origin("county_changes")),
        district_classification=parse_classification(
            answers["district_classification"].doc, origin=origin("district_classification")
        ),
        district_versions=tuple(
            parse_version(answers[name].doc, origin=origin(name)) for name in DISTRICT_VERSION_REQUESTS
        ),
        district_change_table=parse_correspondence_table(
            answers["district_change_table_742"].doc, origin=origin("district_change_table_742")
        ),
        provenance={name: answer.provenance for name, answer in answers.items()},
    )


def load_klass_geography(http: Any) -> KlassGeography:
    return parse_klass_answers(fetch_klass_answers(http))
