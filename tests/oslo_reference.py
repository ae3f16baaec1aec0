"""Test support: the cells of a real Oslo statbank answer (../shared/reference/oslo_statbank) as the
published rows should hold them, read independently of ci_pipeline/sources/oslo_tidy.py (its own label
table, age reading and sex reading), so tests can compare the mapping and the whole pipeline with it."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pandas as pd
from support import reference

REFERENCE_FILES = {
    "OK-SOS006": "oslo_sos006_uforetrygd_bydel.json",
    "OK-SOS001": "oslo_sos001_aap_bydel.json",
    "OK-STØ013": "oslo_sto013_sosialhjelp_bydel.json",
    "OK-STØ020": "oslo_sto020_sosialhjelp_andel_bydel.json",
}
# Written out here, independently of the mapping: Oslo's geography labels -> KLASS 103 codes; None = not used.
KLASS_BY_LABEL = {
    "Oslo i alt": "0301", "Gamle Oslo": "030101", "Grünerløkka": "030102", "Sagene": "030103",
    "St. Hanshaugen": "030104", "St.Hanshaugen": "030104", "Frogner": "030105", "Ullern": "030106",
    "Vestre Aker": "030107", "Nordre Aker": "030108", "Bjerke": "030109", "Grorud": "030110",
    "Stovner": "030111", "Alna": "030112", "Østensjø": "030113", "Nordstrand": "030114",
    "Søndre Nordstrand": "030115", "Sentrum": "030116", "Marka": "030117", "Uten registrert adresse": "030199",
    "Ukjent bydel": None, "Sum bydeler": None,
}
SEXES = {"I alt": "total", "Begge kjønn": "total", "Kvinner": "female", "Menn": "male"}


def reference_answer(table_id: str) -> Path:
    return reference("oslo_statbank", REFERENCE_FILES[table_id])


def age_group(label: str) -> str:
    """The bank's age labels as they appear, read here independently of the mapping."""
    text = label.replace(" år", "").strip()
    if text in ("I alt", "Alder i alt"):
        return "total"
    if text.startswith("Under "):
        return f"0-{int(text[6:]) - 1}"
    if text.endswith(" og over"):
        return f"{text.split()[0]}+"
    return text


def reference_cells(spec: Any, reference: dict) -> tuple[dict[tuple, tuple[Any, str | None]], int]:
    """(indicator_id, region_code, period, sex, age_group) -> (published value, status symbol) for every
    cell of a used region and indicator code, and the number of cells published as 0 among them."""
    roles = spec.dimensions
    dims = reference["id"]
    categories = [list(reference["dimension"][d]["category"]["index"]) for d in dims]
    labels = {d: reference["dimension"][d]["category"]["label"] for d in dims}
    status = reference.get("status") or {}
    cells, zeros = {}, 0
    for position, codes in enumerate(itertools.product(*categories)):
        cell = dict(zip(dims, codes))
        region = KLASS_BY_LABEL[labels[roles["region"]][cell[roles["region"]]].removeprefix("Bydel ")]
        code = cell[roles["indicator"]]
        if region is None or code in spec.not_used:
            continue
        sex = SEXES[labels[roles["sex"]][cell[roles["sex"]]]] if "sex" in roles else "total"
        age = ((spec.age_codes or {}).get(cell[roles["age"]]) or age_group(labels[roles["age"]][cell[roles["age"]]])
               if "age" in roles else "total")
        key = (spec.indicators[code]["indicator_id"], region, labels[roles["period"]][cell[roles["period"]]], sex, age)
        value, symbol = reference["value"][position], status.get(str(position))
        zeros += symbol is None and value == 0
        cells[key] = (value, symbol)
    return cells, zeros


def assert_published_as_the_reference(published: dict[tuple, tuple[float, Any]],
                                      expected: dict[tuple, tuple[Any, str | None]]) -> None:
    """Every cell published as the answer has it: a symbol stays a symbol with no value, a 0 of a small
    group is suppressed (":"), every other value is the answer's own."""
    assert set(published) == set(expected)
    for key, (value, symbol) in expected.items():
        got_value, got_status = published[key]
        if symbol is not None:
            assert math.isnan(got_value) and got_status == symbol, key
        elif value == 0:
            assert math.isnan(got_value) and got_status == ":", f"{key}: published as 0, a suppressed small group"
        else:
            assert got_value == value and pd.isna(got_status), key
