"""SSB KLASS client (https://data.ssb.no/api/klass/v1/): region classifications and their history.

KLASS answers XML unless asked otherwise, so every request sends Accept: application/json. Dates are
YYYY-MM-DD; `to` is exclusive. Classification ids used here: 131 kommuner, 104 fylker, 103 bydeler,
1 grunnkretser, 745 levekårssoner. Archive resources: the classification id, or "versions" /
"correspondencetables" for those endpoints.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ci_pipeline.http import HttpClient

JSON_ACCEPT = {"Accept": "application/json"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_text(value: str | dt.date, name: str) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"KLASS {name} must be a date or 'YYYY-MM-DD', got {value!r}")
    dt.date.fromisoformat(value)
    return value


class KlassClient:
    """KLASS over one HttpClient."""

    def __init__(self, http: HttpClient):
        self.http = http

    def _get(self, path: str, resource: str, params: dict[str, str] | None = None) -> Any:
        return self.http.request("GET", path, resource=resource, params=params, headers=JSON_ACCEPT).json()

    def codes(
        self,
        classification_id: str | int,
        from_date: str | dt.date,
        to_date: str | dt.date | None = None,
        language: str = "nb",
    ) -> dict[str, Any]:
        """GET classifications/{id}/codes: {"codes": [{code, parentCode, level, name, validFrom, ...}]}.

        Without to_date KLASS answers with the codes valid from from_date onward.
        """
        params = {"from": _date_text(from_date, "from")}
        if to_date is not None:
            params["to"] = _date_text(to_date, "to")
        params["language"] = language
        return self._get(f"classifications/{classification_id}/codes", str(classification_id), params)

    def codes_at(
        self, classification_id: str | int, date: str | dt.date, language: str = "nb"
    ) -> dict[str, Any]:
        """GET classifications/{id}/codesAt: the codes valid on one date."""
        params = {"date": _date_text(date, "date"), "language": language}
        return self._get(f"classifications/{classification_id}/codesAt", str(classification_id), params)

    def classification(self, classification_id: str | int) -> dict[str, Any]:
        """GET classifications/{id}: name, description and the list of versions with validFrom/validTo."""
        return self._get(f"classifications/{classification_id}", str(classification_id))

    def version(self, version_id: str | int) -> dict[str, Any]:
        """GET versions/{id}: classificationItems, correspondenceTables, changelogs (`changeOccured`, sic)."""
        return self._get(f"versions/{version_id}", "versions")

    def changes(
        self, classification_id: str | int, from_date: str | dt.date, to_date: str | dt.date | None = None
    ) -> dict[str, Any]:
        """GET classifications/{id}/changes: {"codeChanges": [{oldCode, newCode, changeOccurred, ...}]}."""
        params = {"from": _date_text(from_date, "from")}
        if to_date is not None:
            params["to"] = _date_text(to_date, "to")
        return self._get(f"classifications/{classification_id}/changes", str(classification_id), params)

    def correspondence_table(self, table_id: str | int) -> dict[str, Any]:
        """GET correspondencetables/{id}: source/target versions and correspondenceMaps."""
        return self._get(f"correspondencetables/{table_id}", "correspondencetables")
