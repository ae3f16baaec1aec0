"""The regions dimension: country "0", 2-digit counties, 4-digit municipalities, 6-digit districts.

`build_regions()` makes one row per code, current and historical, with valid_from/valid_to (valid_to
exclusive, null = current), from the KLASS code lists and their changes (131 municipalities, 104
counties) and the district versions (103). SSB's older Oslo and Trondheim divisions, which KLASS does
not have here, come from SSB_OLD_DIVISIONS under codes such as "030101@1988", because the same digits
mean another district today.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ci_pipeline.archive import worst_provenance
from ci_pipeline.geography.load import (
    COUNTIES,
    DISTRICT_VERSION_REQUESTS,
    DISTRICTS,
    MUNICIPALITIES,
    KlassGeography,
)
from ci_pipeline.geography.parse import GeographyError
from ci_pipeline.schema import REGION_COLUMNS

COUNTRY_CODE = "0"
COUNTRY_NAME_NB = "Norge"
COUNTRY_NAME_EN = "Norway"

LEVELS = ("country", "county", "municipality", "district")


@dataclass(frozen=True)
class SsbOldDivision:
    """A district division SSB keeps in its (B) tables under unsuffixed codes, next to today's `a` codes.

    From the region labels of SSB table 10826 (e.g. "030101 Bygdøy-Frogner (1988-2003)",
    "160101 Sentrum (2001-2004)"; real export in shared/reference/ssb). KLASS has no such version here.
    """

    municipality: str
    valid_from: str
    valid_to: str  # also the start of the division SSB writes with the `a` suffix
    districts: dict[str, str]  # two-digit district number -> name
    old_rule: str
    suffix_rule: str

    def historical_code(self, code: str) -> str:
        return f"{code}@{self.valid_from[:4]}"


SSB_OLD_DIVISIONS: dict[str, SsbOldDivision] = {
    division.municipality: division
    for division in (
        SsbOldDivision(
            municipality="0301", valid_from="1988-01-01", valid_to="2004-01-01",
            districts={
                "01": "Bygdøy-Frogner", "02": "Uranienborg -Majorstuen", "03": "St.Hanshaugen-Ullevål",
                "04": "Sagene-Torshov", "05": "Grünerløkka-Sofienberg", "06": "Gamle Oslo",
                "07": "Ekeberg-Bekkelaget", "08": "Nordstrand", "09": "Søndre Nordstrand", "10": "Lambertseter",
                "11": "Bøler", "12": "Manglerud", "13": "Østensjø", "14": "Helsfyr-Sinsen", "15": "Hellerud",
                "16": "Furuset", "17": "Stovner", "18": "Romsås", "19": "Grorud", "20": "Bjerke",
                "21": "Grefsen-Kjelsås", "22": "Sogn", "23": "Vinderen", "24": "Røa", "25": "Ullern",
                "26": "Sentrum", "27": "Marka", "99": "Uoppgitt",
            },
            old_rule="pre_2004_oslo_division", suffix_rule="ssb_suffix_2004_division",
        ),
        SsbOldDivision(
            municipality="1601", valid_from="2001-01-01", valid_to="2005-01-01",
            districts={"01": "Sentrum", "02": "Strinda", "03": "Nardo", "04": "Byåsen", "05": "Saupstad",
                       "06": "Heimdal", "99": "Uoppgitt"},
            old_rule="trondheim_2018", suffix_rule="trondheim_2018",
        ),
    )
}

# District code changes that carry a name of their own: (municipality, date of the change) -> rule.
DISTRICT_RULES = {
    ("1201", "2020-01-01"): "bergen_2020",
    ("1601", "2018-01-01"): "trondheim_2018",
    ("1103", "2020-01-01"): "stavanger_2020",
}


@dataclass
class _Lineage:
    """What the changes say about one flat classification (municipalities or counties)."""

    current: dict[str, str]  # code -> name, today
    historical: dict[str, str]  # code -> name, ended
    valid_from: dict[str, str]
    valid_to: dict[str, str]


def _apply_changes(base: pd.DataFrame, base_date: str, changes: pd.DataFrame, origin: str) -> _Lineage:
    """Today's codes: the base list with every later change applied; earlier changes give history."""
    names = dict(zip(base["code"], base["name"]))
    current = dict(names)
    historical: dict[str, str] = {}
    valid_from: dict[str, str] = {}
    valid_to: dict[str, str] = {}
    for changed_on, group in changes.groupby("changed_on", sort=True):
        olds = {code for code in group["old_code"] if code is not None}
        news = {code for code in group["new_code"] if code is not None}
        ended = olds - news
        started = news - olds
        old_names = {row.old_code: row.old_name for row in group.itertuples() if row.old_code is not None}
        new_names = {row.new_code: row.new_name for row in group.itertuples() if row.new_code is not None}
        for code in sorted(ended):
            valid_to[code] = changed_on
            historical[code] = old_names[code] or historical.get(code) or names.get(code) or code
        for code in sorted(started):
            valid_from[code] = changed_on
        if changed_on > base_date:
            for code in ended:
                current.pop(code, None)
            for code in started:
                current[code] = new_names[code] or code
        else:
            stale = sorted(code for code in ended if code in names)
            if stale:
                raise GeographyError(
                    f"{origin}: codes {stale} ended on {changed_on} but are in the list valid on {base_date}"
                )
    for code in current:
        historical.pop(code, None)
        valid_to.pop(code, None)
    unexplained = sorted(code for code, start in valid_from.items()
                         if start <= base_date and code not in current and code not in valid_to)
    if unexplained:
        raise GeographyError(f"{origin}: codes {unexplained} were created by changes up to {base_date} "
                             f"but are neither in the list valid on {base_date} nor ended later")
    return _Lineage(current=current, historical=historical, valid_from=valid_from, valid_to=valid_to)


def check_code_lists_agree(earlier: pd.DataFrame, earlier_date: str, later: pd.DataFrame, later_date: str,
                           changes: pd.DataFrame, *, what: str) -> None:
    """The changes between two dates must turn the earlier code list into the later one."""
    codes = set(earlier["code"])
    between = changes[(changes["changed_on"] > earlier_date) & (changes["changed_on"] <= later_date)]
    for _, group in between.groupby("changed_on", sort=True):
        olds = {code for code in group["old_code"] if code is not None}
        news = {code for code in group["new_code"] if code is not None}
        codes = (codes - (olds - news)) | news
    expected = set(later["code"])
    if codes != expected:
        raise GeographyError(
            f"{what}: the changes between {earlier_date} and {later_date} do not lead from one list to the other: "
            f"missing {sorted(expected - codes)}, unexpected {sorted(codes - expected)}"
        )


def _flat_rows(lineage: _Lineage, level: str, classification_id: str, version: str, provenance: str,
               parent: Callable[[str], str]) -> list[dict[str, Any]]:
    rows = []
    for code, name in [*lineage.current.items(), *lineage.historical.items()]:
        is_current = code in lineage.current
        rows.append({
            "code": code, "name_nb": name, "name_en": None, "level": level, "parent_code": parent(code),
            "valid_from": lineage.valid_from.get(code), "valid_to": None if is_current else lineage.valid_to.get(code),
            "is_current": is_current, "is_unknown_district": False, "source": "klass",
            "classification_id": classification_id, "classification_versions": version, "provenance": provenance,
        })
    return rows


def _district_rows(geo: KlassGeography, provenance: str) -> list[dict[str, Any]]:
    validity = geo.district_classification.versions.set_index("version_id")
    merged: dict[str, dict[str, Any]] = {}
    for version in sorted(geo.district_versions, key=lambda v: validity.loc[v.id, "valid_from"]):
        if version.id not in validity.index:
            raise GeographyError(f"KLASS 103 version {version.id} is not listed by the classification")
        valid_from, valid_to = validity.loc[version.id, "valid_from"], validity.loc[version.id, "valid_to"]
        for item in version.items.itertuples():
            row = merged.get(item.code)
            if row is None:
                merged[item.code] = {
                    "code": item.code, "name_nb": item.name, "name_en": None, "level": "district",
                    "parent_code": item.code[:4], "valid_from": valid_from, "valid_to": valid_to,
                    "is_current": valid_to is None, "is_unknown_district": item.code.endswith("99"),
                    "source": "klass", "classification_id": DISTRICTS, "classification_versions": version.id,
                    "provenance": provenance,
                }
                continue
            if row["valid_to"] != valid_from:
                raise GeographyError(
                    f"KLASS 103: district {item.code} reappears in version {version.id} from {valid_from} "
                    f"after ending {row['valid_to']}; a gap in a district's life is not supported"
                )
            row.update(name_nb=item.name, valid_to=valid_to, is_current=valid_to is None,
                       classification_versions=f"{row['classification_versions']},{version.id}")
    for code, row in merged.items():
        if len(code) != 6 or not code.isdigit():
            raise GeographyError(f"KLASS 103: district code {code!r} is not six digits")
    return list(merged.values())


def _old_division_rows() -> list[dict[str, Any]]:
    rows = []
    for division in SSB_OLD_DIVISIONS.values():
        for number, name in division.districts.items():
            code = division.municipality + number
            rows.append({
                "code": division.historical_code(code), "name_nb": name, "name_en": None, "level": "district",
                "parent_code": division.municipality, "valid_from": division.valid_from,
                "valid_to": division.valid_to, "is_current": False, "is_unknown_district": number == "99",
                "source": "ssb", "classification_id": None,
                "classification_versions": "table 10826 region labels", "provenance": "reconstructed",
            })
    return rows


def build_regions(geo: KlassGeography) -> pd.DataFrame:
    """The regions dimension (REGION_COLUMNS), one row per code, current and historical."""
    check_code_lists_agree(geo.municipalities_2020, geo.municipalities_2020_date, geo.municipalities,
                           geo.municipalities_date, geo.municipality_changes, what="KLASS 131")
    prov = geo.provenance
    municipalities = _apply_changes(geo.municipalities, geo.municipalities_date, geo.municipality_changes,
                                    "KLASS 131")
    counties = _apply_changes(geo.counties, geo.counties_date, geo.county_changes, "KLASS 104")
    rows = [{
        "code": COUNTRY_CODE, "name_nb": COUNTRY_NAME_NB, "name_en": COUNTRY_NAME_EN, "level": "country",
        "parent_code": None, "valid_from": None, "valid_to": None, "is_current": True,
        "is_unknown_district": False, "source": "constant", "classification_id": None,
        "classification_versions": None, "provenance": "reconstructed",
    }]
    rows += _flat_rows(counties, "county", COUNTIES, f"codes from {geo.counties_date} + changes",
                       worst_provenance([prov.get("counties_2022", "recorded"),
                                         prov.get("county_changes", "recorded")]),
                       lambda code: COUNTRY_CODE)
    rows += _flat_rows(municipalities, "municipality", MUNICIPALITIES,
                       f"codesAt {geo.municipalities_date} + changes",
                       worst_provenance([prov.get("municipalities_2023", "recorded"),
                                         prov.get("municipality_changes", "recorded")]),
                       lambda code: code[:2])
    rows += _district_rows(geo, worst_provenance([prov.get(name, "recorded")
                                                  for name in DISTRICT_VERSION_REQUESTS]))
    rows += _old_division_rows()
    regions = pd.DataFrame.from_records(rows, columns=REGION_COLUMNS)
    duplicated = regions.loc[regions["code"].duplicated(), "code"].tolist()
    if duplicated:
        raise GeographyError(f"regions: codes defined twice: {sorted(set(duplicated))}")
    orphans = regions.loc[regions["parent_code"].notna() & ~regions["parent_code"].isin(regions["code"]),
                          ["code", "parent_code"]]
    if len(orphans):
        raise GeographyError(f"regions: parents missing for {orphans.to_dict('records')}")
    level_order = {level: index for index, level in enumerate(LEVELS)}
    regions = regions.sort_values(["level", "code"], key=lambda s: s.map(level_order) if s.name == "level" else s)
    for column in ("is_current", "is_unknown_district"):
        regions[column] = regions[column].astype(bool)
    return regions.reset_index(drop=True)
