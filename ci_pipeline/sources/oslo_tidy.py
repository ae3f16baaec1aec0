"""Oslo kommune statistikkbank answers as tidy observations (docs/ARCHITECTURE.md, "Tidy observation").

A table of the bank is described by a catalogue entry (`OsloTableSpec` in ci_pipeline/catalogue.py,
assets/sources/oslo/*.yaml) and its JSON-stat2 answer is read with `ci_pipeline.jsonstat.read_jsonstat`.
`oslo_to_tidy()` then maps it, handling the bank's quirks explicitly (SOURCES.md 5, "Oslo kommune
statistikkbank"):

- geography: `301` is Oslo (KLASS 0301); `30101`-`30117` the districts 030101-030117 (15 bydeler,
  Sentrum, Marka); `30199` "Uten registrert adresse" is Oslo's own code 99 = no district, KLASS 030199
  (Uoppgitt). Tables coded by ordinals ("0", "1", ...) are mapped by label: "Oslo i alt", "Bydel Gamle
  Oslo", "Bydel St.Hanshaugen" (the bank's spelling). Every district label is checked against KLASS 103's
  name, also where the code decides. Not used, and listed in the result with the reason: "Sum bydeler"
  (a sum over districts that counts a person once per district, so it differs from "Oslo i alt" and has
  no KLASS code) and `30118195` "Ukjent bydel" (outside Oslo's code scheme; KLASS has one Uoppgitt code,
  which 30199 already holds);
- time: the codes are ordinals, the year is the label ("0" -> "2004");
- variables are lower-case Norwegian (`år`, `bosted`, `geografi`, `bydel`, `kjønn`, `aldersgruppe`,
  `statistikkvariabel`), mapped by the entry's `dimensions`; sex by label ("I alt"/"Begge kjønn",
  "Kvinner", "Menn": the code order differs between tables); age groups by label unless `age_codes`
  says otherwise;
- status: symbols are kept with a null value (`-` included: a symbol never becomes a number);
- contents: codes of the indicator dimension the entry lists in `not_used` are left out, with its reason;
- small groups: where the table's note says groups under N are published as 0 or left out
  (`small_groups`), a published 0 or an empty cell is not a zero: it becomes status ":" (suppressed)
  with a null value, so it never enters a sum, a rate or a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ci_pipeline.catalogue import OsloTableSpec
from ci_pipeline.geography.oslo import OSLO_CODE, OSLO_DISTRICT_NAMES, UNKNOWN_DISTRICT
from ci_pipeline.jsonstat import JsonStatTable
from ci_pipeline.schema import TIDY_COLUMNS
from ci_pipeline.sources.oslo import SOURCE
from ci_pipeline.tidy import SUPPRESSED, check_dimensions, check_distinct, check_status_symbols

# Other spellings of district names in Oslo's and IMDi's tables.
DISTRICT_ALIASES = {"St.Hanshaugen": "St. Hanshaugen", "Veste Aker": "Vestre Aker"}
OSLO_LABELS = frozenset({"Oslo i alt", "Oslo", "Oslo kommune"})
UNKNOWN_DISTRICT_LABELS = frozenset({"Uten registrert adresse", "Uoppgitt", "Uoppgitt bydel"})
NOT_USED_REGIONS = {
    "Sum bydeler": (
        "a sum over the districts that counts a person once in every district they were counted in, so it "
        "differs from 'Oslo i alt' (e.g. OK-STØ013 2007: 18,127 against 17,020) and has no KLASS code"
    ),
    "Ukjent bydel": (
        "code 30118195 lies outside Oslo's district code scheme and KLASS 103 has one code for an unknown "
        "district (030199), which the table's 'Uten registrert adresse' (30199) holds; the cells are part "
        "of 'Oslo i alt'"
    ),
}
SEX_LABELS = {"I alt": "total", "Begge kjønn": "total", "Kvinner": "female", "Menn": "male"}
AGE_TOTAL_LABELS = frozenset({"I alt", "Alder i alt", "Alle aldre"})

_OSLO_REGION_CODE = re.compile(r"^301(\d\d)?$")
_YEAR = re.compile(r"^\d{4}$")
_AGE_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)(?: år)?$")
_AGE_UNDER = re.compile(r"^Under (\d+)(?: år)?$")
_AGE_OPEN = re.compile(r"^(\d+)(?:\+| år og over| år og eldre)$")


class OsloMappingError(ValueError):
    """A category of an Oslo statbank answer that the mapping cannot place (named with table and code)."""


# --------------------------------------------------------------------------------------- the codes


def district_code_for_name(name: str) -> str | None:
    """The KLASS code of an Oslo district name ("Gamle Oslo", "Bydel Gamle Oslo", "St.Hanshaugen")."""
    plain = name.strip().removeprefix("Bydel ").strip()
    plain = DISTRICT_ALIASES.get(plain, plain)
    return next((OSLO_CODE + number for number, known in OSLO_DISTRICT_NAMES.items() if known == plain), None)


@dataclass(frozen=True)
class RegionMapping:
    """Where one geography category of the bank goes: a KLASS code and level, or not used (reason)."""

    region_code: str | None
    region_level: str | None
    reason: str | None = None


def oslo_region(code: str, label: str) -> RegionMapping:
    """The KLASS code of one geography category, by its code where it follows Oslo's scheme (301,
    301NN), else by its label; the label is checked against KLASS's name either way."""
    label = label.strip()
    if label in NOT_USED_REGIONS:
        return RegionMapping(None, None, NOT_USED_REGIONS[label])
    match = _OSLO_REGION_CODE.match(code)
    if (match and match[1] is None) or (not match and label in OSLO_LABELS):
        if label not in OSLO_LABELS:
            raise OsloMappingError(f"code {code!r} is Oslo, but its label is {label!r}")
        return RegionMapping(OSLO_CODE, "municipality")
    if match and match[1] == UNKNOWN_DISTRICT:
        if label not in UNKNOWN_DISTRICT_LABELS:
            raise OsloMappingError(f"code {code!r} is Oslo's 'no district', but its label is {label!r}")
        return RegionMapping(OSLO_CODE + UNKNOWN_DISTRICT, "district")
    by_label = district_code_for_name(label)
    if match:
        expected = OSLO_CODE + match[1]
        if match[1] not in OSLO_DISTRICT_NAMES:
            raise OsloMappingError(f"code {code!r} ({label!r}) is not a district of Oslo's 2004 division")
        if by_label != expected:
            raise OsloMappingError(
                f"code {code!r} is KLASS {expected} {OSLO_DISTRICT_NAMES[match[1]]!r}, but its label is {label!r}")
        return RegionMapping(expected, "district")
    if by_label is None:
        raise OsloMappingError(
            f"geography {code!r} {label!r} is neither Oslo's code scheme (301, 301NN) nor a known label; "
            "map it explicitly")
    return RegionMapping(by_label, "district")


def year_of(code: str, label: str) -> str:
    """The year of a time category: the label holds it (codes are ordinals), or the code itself does."""
    for candidate in (label.strip(), code):
        if _YEAR.match(candidate):
            return candidate
    raise OsloMappingError(f"time category {code!r} has label {label!r}, which is not a year")


def sex_of(label: str) -> str:
    try:
        return SEX_LABELS[label.strip()]
    except KeyError:
        raise OsloMappingError(f"sex label {label!r} is not one of {sorted(SEX_LABELS)}") from None


def age_group_of(label: str) -> str:
    """An age label as an age group: "I alt" total, "18-29", "Under 20 år" 0-19, "67 år og over" 67+."""
    text = label.strip()
    if text in AGE_TOTAL_LABELS:
        return "total"
    if match := _AGE_RANGE.match(text):
        return f"{int(match[1])}-{int(match[2])}"
    if match := _AGE_UNDER.match(text):
        return f"0-{int(match[1]) - 1}"
    if match := _AGE_OPEN.match(text):
        return f"{int(match[1])}+"
    raise OsloMappingError(f"age label {label!r} has no known shape; map its code in age_codes")


# --------------------------------------------------------------------------------------- the mapping


@dataclass(frozen=True)
class ExcludedCategory:
    """A category left out of the tidy rows, and why."""

    dimension: str
    code: str
    label: str
    reason: str
    cells: int


@dataclass
class OsloTidy:
    """The tidy rows of one answer and what the mapping did besides mapping."""

    frame: pd.DataFrame
    excluded: list[ExcludedCategory]
    suppressed_zeros: int  # published 0 of a small group -> ':'
    suppressed_blanks: int  # empty cell of a small group -> ':'

    def report(self) -> dict[str, object]:
        """What the mapping left out or suppressed, for the staging asset's metadata."""
        return {
            "small_group_zeros_suppressed": self.suppressed_zeros,
            "small_group_blanks_suppressed": self.suppressed_blanks,
            "not_used": [f"{item.dimension} {item.code} {item.label!r}: {item.cells} cells ({item.reason})"
                         for item in self.excluded],
        }


def _category_map(table: JsonStatTable, dim_id: str, function, name: str) -> dict[str, object]:
    dimension = table.dimensions[dim_id]
    mapped = {}
    for code in dimension.codes:
        try:
            mapped[code] = function(code, dimension.labels.get(code, code))
        except OsloMappingError as exc:
            raise OsloMappingError(f"{name}: dimension {dim_id!r}: {exc}") from None
    return mapped


def oslo_to_tidy(table: JsonStatTable, spec: OsloTableSpec, *, provenance: str, snapshot_sha256: str,
                 retrieved_at: str, source_updated: str | None) -> OsloTidy:
    """The answer as tidy observations (columns TIDY_COLUMNS), one row per cell of a used category."""
    name = f"oslo table {spec.table_id} ({spec.name})"
    roles = dict(spec.dimensions)
    check_dimensions(table, roles, spec.fixed, name, OsloMappingError)
    frame = table.frame

    regions = _category_map(table, roles["region"], oslo_region, name)
    check_distinct(name, roles["region"], {c: m.region_code for c, m in regions.items()}, OsloMappingError)
    periods = _category_map(table, roles["period"], year_of, name)
    check_distinct(name, roles["period"], periods, OsloMappingError)
    indicator_dim = roles["indicator"]
    indicator_labels = table.dimensions[indicator_dim].labels
    missing = [code for code in table.dimensions[indicator_dim].codes
               if code not in spec.indicators and code not in spec.not_used]
    if missing:
        labels = [indicator_labels.get(code) for code in missing]
        raise OsloMappingError(f"{name}: {indicator_dim} codes {missing} ({labels}) are neither in the entry's "
                               "indicators nor in its not_used")

    region_codes = frame[roles["region"]].astype(str)
    cell_indicators = frame[indicator_dim].astype(str)
    excluded = []
    for code, mapping in regions.items():
        if mapping.region_code is None:
            excluded.append(ExcludedCategory(roles["region"], code, table.dimensions[roles["region"]].labels[code],
                                             mapping.reason or "", int((region_codes == code).sum())))
    region_used = region_codes.map(lambda code: regions[code].region_code is not None).to_numpy(dtype=bool)
    for code, reason in spec.not_used.items():
        if code in indicator_labels:
            # Counted within the regions used, so no cell is left out twice.
            excluded.append(ExcludedCategory(indicator_dim, code, indicator_labels[code], reason,
                                             int(((cell_indicators == code).to_numpy() & region_used).sum())))
    kept = region_used & ~cell_indicators.isin(list(spec.not_used)).to_numpy(dtype=bool)
    rows = frame[kept]

    def column(role: str, mapping: dict[str, object]) -> pd.Series:
        return rows[roles[role]].astype(str).map(mapping)

    if "sex" in roles:
        sexes = _category_map(table, roles["sex"], lambda code, label: sex_of(label), name)
        check_distinct(name, roles["sex"], sexes, OsloMappingError)
        sex = column("sex", sexes)
    else:
        sex = pd.Series("total", index=rows.index)
    if "age" in roles:
        ages = _category_map(table, roles["age"],
                             lambda code, label: (spec.age_codes or {}).get(code) or age_group_of(label), name)
        check_distinct(name, roles["age"], ages, OsloMappingError)
        age = column("age", ages)
    else:
        age = pd.Series("total", index=rows.index)

    values = rows["value"].to_numpy(dtype=float).copy()
    status = np.array([None if pd.isna(symbol) else symbol for symbol in rows["status"]], dtype=object)
    check_status_symbols(name, status, OsloMappingError)
    no_status = np.array([symbol is None for symbol in status])
    zeros = no_status & (values == 0)
    blanks = no_status & np.isnan(values)
    if spec.small_groups is None:
        if blanks.any():
            raise OsloMappingError(f"{name}: {int(blanks.sum())} cell(s) have neither a value nor a status")
        zeros = np.zeros_like(zeros)
        blanks = np.zeros_like(blanks)
    suppressed = zeros | blanks
    values[suppressed] = np.nan
    status[suppressed] = SUPPRESSED

    indicator_codes = rows[indicator_dim].astype(str)
    out = pd.DataFrame({
        "source": SOURCE,
        "table_id": spec.table_id,
        "indicator_id": indicator_codes.map(lambda code: spec.indicators[code]["indicator_id"]),
        "region_code": column("region", {c: m.region_code for c, m in regions.items()}),
        "region_level": column("region", {c: m.region_level for c, m in regions.items()}),
        "period": column("period", periods),
        "period_type": "year",
        "sex": sex,
        "age_group": age,
        "value": pd.Series(values, index=rows.index),
        "unit": indicator_codes.map(lambda code: spec.indicators[code]["unit"]),
        "numerator": pd.Series(np.nan, index=rows.index, dtype=float),
        "denominator": pd.Series(np.nan, index=rows.index, dtype=float),
        "status": pd.Series(status, index=rows.index, dtype=object),
        "source_updated": source_updated,
        "retrieved_at": retrieved_at,
        "snapshot_sha256": snapshot_sha256,
        "provenance": provenance,
    }, columns=TIDY_COLUMNS).reset_index(drop=True)
    for text_column in (c for c in TIDY_COLUMNS if c not in ("value", "numerator", "denominator")):
        out[text_column] = pd.array(out[text_column].astype(object), dtype="str")
    return OsloTidy(out, excluded, int(zeros.sum()), int(blanks.sum()))
