"""The Oslo statbank tidy mapping: one test per quirk of the bank's answers (SOURCES.md 5)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ci_pipeline.archive import Archive
from ci_pipeline.catalogue import OsloTableSpec
from ci_pipeline.config import ConfigError, validate
from ci_pipeline.geography.oslo import OSLO_DISTRICT_NAMES
from ci_pipeline.jsonstat import read_jsonstat
from ci_pipeline.sources.oslo import Query, query_of
from ci_pipeline.sources.oslo_tidy import (
    TIDY_COLUMNS,
    OsloMappingError,
    RegionMapping,
    age_group_of,
    district_code_for_name,
    oslo_region,
    oslo_to_tidy,
    year_of,
)

REPO = Path(__file__).resolve().parents[1]
YEARS = {"0": "2022", "1": "2023"}


def dataset(dimensions: dict[str, dict[str, str]], values: list[Any], status: dict[str, str] | None = None,
            time: str = "år") -> bytes:
    """A JSON-stat2 answer in the bank's shape: eliminated contents first, then `dimensions`."""
    dims = {"ContentsCode": {"label": "EliminatedContents",
                             "category": {"index": {"EliminatedValue": 0}, "label": {"EliminatedValue": "ok-x"}}}}
    for dim_id, categories in dimensions.items():
        dims[dim_id] = {"label": dim_id, "category": {"index": {c: i for i, c in enumerate(categories)},
                                                       "label": categories}}
    document = {"version": "2.0", "class": "dataset", "label": "ok-x", "updated": "2025-12-19T07:00:00Z",
                "role": {"time": [time], "metric": ["ContentsCode"]}, "id": list(dims),
                "size": [len(d["category"]["index"]) for d in dims.values()], "dimension": dims, "value": values}
    if status:
        document["status"] = status
    return json.dumps(document, ensure_ascii=False).encode()


def spec(**changes: Any) -> OsloTableSpec:
    entry = {
        "source": "oslo", "name": "oslo_x", "table_id": "OK-X", "table_path": "Test/OK-X.px", "title": "x",
        "description": "x", "group": "work",
        "selection": [{"variable": v, "filter": "all", "values": ["*"]}
                      for v in ("år", "bosted", "kjønn", "aldersgruppe", "statistikkvariabel")],
        "dimensions": {"region": "bosted", "period": "år", "sex": "kjønn", "age": "aldersgruppe",
                       "indicator": "statistikkvariabel"},
        "fixed": {"ContentsCode": "EliminatedValue"},
        "indicators": {"0": {"indicator_id": "recipients", "unit": "persons"}},
        "small_groups": {"below": 5, "note": "figures under 5 are set to 0"},
        "reference_time": "end_of_year", "snapshot_provenance": "recorded",
    }
    entry.update(changes)
    return validate(OsloTableSpec, entry, shown_as="test entry")


def tidy(document: bytes, entry: OsloTableSpec):
    return oslo_to_tidy(read_jsonstat(document), entry, provenance="recorded", snapshot_sha256="abc",
                        retrieved_at="2026-08-04T00:00:00.000000Z", source_updated="2025-12-19T07:00:00Z")


def sos_like(values: list[Any], status: dict[str, str] | None = None,
             sexes: dict[str, str] | None = None) -> bytes:
    return dataset({"år": YEARS, "bosted": {"301": "Oslo i alt", "30101": "Gamle Oslo"},
                    "kjønn": sexes or {"0": "I alt", "1": "Kvinner", "2": "Menn"},
                    "aldersgruppe": {"0": "I alt", "1": "18-29"}, "statistikkvariabel": {"0": "antall personer"}},
                   values, status)


def cells(frame: pd.DataFrame) -> dict[tuple[str, ...], tuple[float, str | None]]:
    return {(r.region_code, r.period, r.sex, r.age_group): (r.value, None if pd.isna(r.status) else r.status)
            for r in frame.itertuples()}


# --------------------------------------------------------------------------- geography


@pytest.mark.parametrize(
    ("code", "label", "expected"),
    [
        ("301", "Oslo i alt", RegionMapping("0301", "municipality")),
        ("30101", "Gamle Oslo", RegionMapping("030101", "district")),
        ("30115", "Søndre Nordstrand", RegionMapping("030115", "district")),
        ("30116", "Sentrum", RegionMapping("030116", "district")),
        ("30117", "Marka", RegionMapping("030117", "district")),
        ("30199", "Uten registrert adresse", RegionMapping("030199", "district")),
        # tables coded by ordinals are mapped by their labels
        ("0", "Oslo i alt", RegionMapping("0301", "municipality")),
        ("2", "Bydel Gamle Oslo", RegionMapping("030101", "district")),
        ("5", "Bydel St.Hanshaugen", RegionMapping("030104", "district")),
        ("16", "Bydel Søndre Nordstrand", RegionMapping("030115", "district")),
    ],
)
def test_geography_codes_and_labels_map_onto_klass_codes(code, label, expected):
    assert oslo_region(code, label) == expected


@pytest.mark.parametrize(("code", "label"), [("30118195", "Ukjent bydel"), ("1", "Sum bydeler")])
def test_unknown_district_and_sum_of_districts_are_not_used_and_say_why(code, label):
    mapping = oslo_region(code, label)
    assert mapping.region_code is None and mapping.region_level is None
    assert len(mapping.reason) > 40


@pytest.mark.parametrize(
    ("code", "label", "fragment"),
    [
        ("30101", "Grünerløkka", "is KLASS 030101 'Gamle Oslo', but its label is 'Grünerløkka'"),
        ("301", "Gamle Oslo", "is Oslo, but its label"),
        ("30118", "Bydel X", "not a district of Oslo's 2004 division"),
        ("30199", "Gamle Oslo", "'no district'"),
        ("7", "Bydel Atlantis", "neither Oslo's code scheme"),
    ],
)
def test_a_geography_the_mapping_does_not_know_is_an_error(code, label, fragment):
    with pytest.raises(OsloMappingError, match=fragment):
        oslo_region(code, label)


def test_district_names_are_klass_103_names():
    version = next(a for a in Archive(REPO / "data" / "snapshots").entries("klass") if a.path == "versions/1168")
    klass = {item["code"]: item["name"] for item in version.json()["classificationItems"]}
    assert {f"0301{number}": name for number, name in OSLO_DISTRICT_NAMES.items()} == {
        code: name for code, name in klass.items() if code.startswith("0301") and code != "030199"}
    assert district_code_for_name("Bydel Vestre Aker") == district_code_for_name("Veste Aker") == "030107"


# --------------------------------------------------------------------------- time, names, labels


def test_year_codes_are_ordinals_with_the_year_in_the_label():
    assert year_of("0", "2004") == "2004"
    assert year_of("2024", "2024") == "2024"
    with pytest.raises(OsloMappingError, match="not a year"):
        year_of("3", "2007-2009")
    frame = tidy(sos_like(list(range(24))), spec()).frame
    assert sorted(frame["period"].unique()) == ["2022", "2023"]
    assert set(frame["period_type"]) == {"year"}


def test_lower_case_norwegian_variable_names_map_through_the_entry():
    document = dataset({"år": YEARS, "geografi": {"0": "Oslo i alt", "1": "Sum bydeler", "2": "Bydel Gamle Oslo"},
                        "alder": {"0": "I alt", "1": "Under 20 år", "2": "67 år og over"},
                        "statistikkvariabel": {"0": "Andel", "1": "Antall"}},
                       [1.5, 10] * 18)
    entry = spec(
        selection=[{"variable": v, "filter": "all", "values": ["*"]} for v in ("år", "geografi", "alder",
                                                                              "statistikkvariabel")],
        dimensions={"region": "geografi", "period": "år", "age": "alder", "indicator": "statistikkvariabel"},
        indicators={"0": {"indicator_id": "share", "unit": "percent"},
                    "1": {"indicator_id": "recipients", "unit": "persons"}},
        small_groups=None)
    result = tidy(document, entry)
    frame = result.frame
    assert list(frame.columns) == TIDY_COLUMNS
    assert len(frame) == 2 * 2 * 3 * 2  # "Sum bydeler" left out
    assert set(frame["age_group"]) == {"total", "0-19", "67+"} and set(frame["sex"]) == {"total"}
    assert set(zip(frame["indicator_id"], frame["unit"])) == {("share", "percent"), ("recipients", "persons")}
    assert [(e.dimension, e.code, e.label, e.cells) for e in result.excluded] == [("geografi", "1", "Sum bydeler", 12)]


def test_sex_is_mapped_by_label_because_tables_order_the_codes_differently():
    values = list(range(24))
    women_first = cells(tidy(sos_like(values), spec()).frame)
    men_first = cells(tidy(sos_like(values, sexes={"0": "Begge kjønn", "1": "Menn", "2": "Kvinner"}), spec()).frame)
    assert women_first[("030101", "2022", "female", "total")] == men_first[("030101", "2022", "male", "total")]
    assert {key[2] for key in women_first} == {"total", "female", "male"}


@pytest.mark.parametrize(
    ("label", "group"),
    [("I alt", "total"), ("Alder i alt", "total"), ("18-29", "18-29"), ("20-24 år", "20-24"),
     ("Under 30", "0-29"), ("Under 20 år", "0-19"), ("60+", "60+"), ("67 år og over", "67+")],
)
def test_age_labels(label, group):
    assert age_group_of(label) == group


def test_age_codes_of_the_entry_win_over_the_label():
    document = dataset({"år": YEARS, "geografi": {"301": "Oslo i alt"},
                        "aldersgruppe": {"0": "Alder i alt", "1": "Under 30"}, "statistikkvariabel": {"0": "Antall"}},
                       [9, 8, 7, 6])
    entry = spec(
        selection=[{"variable": v, "filter": "all", "values": ["*"]} for v in ("år", "geografi", "aldersgruppe",
                                                                              "statistikkvariabel")],
        dimensions={"region": "geografi", "period": "år", "age": "aldersgruppe", "indicator": "statistikkvariabel"},
        age_codes={"1": "18-29"})
    assert set(tidy(document, entry).frame["age_group"]) == {"total", "18-29"}


# --------------------------------------------------------------------------- status and small groups


def test_status_dash_keeps_a_null_value_and_never_becomes_a_number():
    result = tidy(sos_like([None] + list(range(1, 24)), status={"0": "-"}), spec())
    row = result.frame.iloc[0]
    assert row["status"] == "-" and math.isnan(row["value"])
    assert result.suppressed_zeros == result.suppressed_blanks == 0


def test_a_published_zero_of_a_small_group_becomes_suppressed_never_a_value():
    values = list(range(1, 25))
    values[5] = values[17] = 0
    result = tidy(sos_like(values), spec())
    frame = result.frame
    assert result.suppressed_zeros == 2
    suppressed = frame[frame["status"] == ":"]
    assert list(suppressed.index) == [5, 17] and suppressed["value"].isna().all()
    assert (frame["value"] == 0).sum() == 0
    published = frame[frame["status"].isna()]
    assert sorted(published["value"]) == sorted(v for v in values if v != 0)


def test_without_a_small_group_rule_a_zero_is_a_zero_and_an_empty_cell_is_an_error():
    values = [0] + list(range(1, 24))
    frame = tidy(sos_like(values), spec(small_groups=None)).frame
    assert frame.iloc[0]["value"] == 0 and pd.isna(frame.iloc[0]["status"])
    with pytest.raises(OsloMappingError, match="1 cell\\(s\\) have neither a value nor a status"):
        tidy(sos_like([None] + values[1:]), spec(small_groups=None))


def test_an_empty_cell_of_a_table_with_a_small_group_rule_is_suppressed():
    result = tidy(sos_like([None] + list(range(1, 24))), spec())
    assert result.suppressed_blanks == 1 and result.frame.iloc[0]["status"] == ":"


def test_unknown_status_symbols_are_refused():
    with pytest.raises(OsloMappingError, match=r"status symbol\(s\) \['x'\]"):
        tidy(sos_like(list(range(24)), status={"3": "x"}), spec())


# --------------------------------------------------------------------------- the entry


def test_every_indicator_code_and_dimension_must_be_mapped():
    with pytest.raises(OsloMappingError, match=r"statistikkvariabel codes \['0'\] .* are neither in the entry's "
                                               "indicators nor in its not_used"):
        tidy(sos_like(list(range(24))), spec(indicators={"9": {"indicator_id": "x", "unit": "persons"}}))
    with pytest.raises(OsloMappingError, match=r"fixed dimension 'ContentsCode' must hold exactly 'Other'"):
        tidy(sos_like(list(range(24))), spec(fixed={"ContentsCode": "Other"}))
    with pytest.raises(OsloMappingError, match=r"\['ContentsCode'\] are neither mapped nor fixed"):
        # An entry without `fixed` (the catalogue refuses an empty one): the answer's ContentsCode is unmapped.
        tidy(sos_like(list(range(24))), spec().model_copy(update={"fixed": {}}))


def test_entry_problems_are_config_errors_naming_the_key():
    with pytest.raises(ConfigError, match=r"test entry: selection: selects \['bydel'\], which are neither mapped"):
        spec(selection=[*spec().model_dump()["selection"], {"variable": "bydel", "filter": "all", "values": ["*"]}])
    with pytest.raises(ConfigError, match=r"test entry: table_path: must be the table's path in the bank"):
        spec(table_path="Test/OK-X")
    with pytest.raises(ConfigError, match=r"test entry: not_used.0: is also mapped in 'indicators'"):
        spec(not_used={"0": "why"})
    with pytest.raises(ConfigError, match=r"test entry: indicators.1: an Oslo table publishes values only"):
        spec(indicators={"0": {"indicator_id": "recipients", "unit": "persons"}, "1": {"numerator_of": "recipients"}})
    with pytest.raises(ConfigError, match=r"test entry: reference_time: "):
        spec(reference_time="1 January")
    with pytest.raises(ConfigError, match=r"test entry: selection\[0\].filter: "):
        spec(selection=[{"variable": "år", "filter": "vs:Bydeler", "values": ["*"]}])
    with pytest.raises(ConfigError, match=r"test entry: untis: unknown key"):
        spec(untis="persons")


def test_the_entry_gives_the_query_the_client_sends():
    assert query_of(spec().selection)[:2] == [Query("år", "all", ["*"]), Query("bosted", "all", ["*"])]


def test_contents_codes_the_entry_does_not_use_are_left_out_with_the_reason():
    document = dataset({"år": YEARS, "bosted": {"301": "Oslo i alt", "30101": "Gamle Oslo", "1": "Sum bydeler"},
                        "statistikkvariabel": {"0": "Mottakere", "1": "Berørte"}}, list(range(1, 13)))
    entry = spec(selection=[{"variable": v, "filter": "all", "values": ["*"]} for v in ("år", "bosted", "statistikkvariabel")],
                 dimensions={"region": "bosted", "period": "år", "indicator": "statistikkvariabel"},
                 not_used={"1": "no goal follows it"})
    result = tidy(document, entry)
    assert set(result.frame["indicator_id"]) == {"recipients"} and len(result.frame) == 4
    left_out = {(e.dimension, e.code): (e.cells, e.reason) for e in result.excluded}
    # The contents code is counted within the regions used, so no cell is counted twice.
    assert left_out == {("bosted", "1"): (4, left_out[("bosted", "1")][1]),
                        ("statistikkvariabel", "1"): (4, "no goal follows it")}
    assert any("no goal follows it" in line for line in result.report()["not_used"])


def test_tidy_rows_carry_provenance_and_stamps():
    frame = tidy(sos_like(list(range(1, 25))), spec()).frame
    assert set(frame["source"]) == {"oslo"} and set(frame["table_id"]) == {"OK-X"}
    assert set(frame["provenance"]) == {"recorded"} and set(frame["snapshot_sha256"]) == {"abc"}
    assert set(frame["source_updated"]) == {"2025-12-19T07:00:00Z"}
    assert frame["numerator"].isna().all() and frame["denominator"].isna().all()
    assert frame["value"].dtype == "float64"
    expected = itertools.product(["0301", "030101"], ["total", "female", "male"], ["total", "18-29"])
    assert set(zip(frame["region_code"], frame["sex"], frame["age_group"])) == set(expected)
