"""Regions, code history and harmonisation: one test per named rule, KLASS readers on every real file.

The KLASS answers come from tools/build_klass_snapshots.py (built from shared/reference/klass into a
temporary snapshot archive) and are read back through the real KlassClient + HttpClient in replay mode.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from support import REFERENCE, load_tool, reference

from ci_pipeline.archive import Archive
from ci_pipeline.geography.harmonise import harmonise, period_reference_date
from ci_pipeline.geography.history import build_code_history
from ci_pipeline.geography.load import KLASS_REQUESTS, KlassGeography, load_klass_geography
from ci_pipeline.geography.parse import (
    GeographyError,
    parse_changes,
    parse_classification,
    parse_codes,
    parse_correspondence_table,
    parse_klass_csv,
    parse_version,
)
from ci_pipeline.geography.regions import build_regions, check_code_lists_agree

REPO = Path(__file__).resolve().parents[1]
KLASS_REFERENCE = REFERENCE / "klass"


def _reference(name: str) -> Path:
    return reference("klass", name)


def _builder():
    return load_tool("build_klass_snapshots")


@pytest.fixture(scope="module")
def snapshot_root(tmp_path_factory) -> Path:
    reference("klass")
    root = tmp_path_factory.mktemp("snapshots")
    _builder().build(KLASS_REFERENCE, root)
    return root


@pytest.fixture(scope="module")
def geo(snapshot_root, tmp_path_factory) -> KlassGeography:
    from ci_pipeline.http import HttpClient

    http = HttpClient("klass", "https://data.ssb.no/api/klass/v1/", mode="replay",
                      snapshot_archive=Archive(snapshot_root),
                      warehouse_archive=Archive(tmp_path_factory.mktemp("warehouse")))
    return load_klass_geography(http)


@pytest.fixture(scope="module")
def regions(geo) -> pd.DataFrame:
    return build_regions(geo)


@pytest.fixture(scope="module")
def history(geo, regions) -> pd.DataFrame:
    return build_code_history(geo, regions)


def observations(codes_periods: list[tuple[str, str]], table_id: str = "10826", source: str = "ssb",
                 period_type: str = "year") -> pd.DataFrame:
    """Illustrative tidy rows: one per (region code, period), value 100."""
    return pd.DataFrame({
        "source": source, "table_id": table_id, "indicator_id": "population",
        "region_code": [code for code, _ in codes_periods], "region_level": "district",
        "period": [period for _, period in codes_periods], "period_type": period_type,
        "sex": "total", "age_group": "total", "value": 100.0, "status": None, "provenance": "illustrative",
    })


def row(frame: pd.DataFrame, original: str, period: str) -> pd.Series:
    match = frame[(frame["original_region_code"] == original) & (frame["period"] == period)]
    assert len(match) == 1, (original, period, match)
    return match.iloc[0]


# --------------------------------------------------------------------------------------------- readers


def test_codes_at_131_2023_real_answer():
    frame = parse_codes(json.loads(_reference("klass_131_codesAt_2023-03-02_municipalities.json").read_text("utf-8")))
    assert len(frame) == 357
    assert frame.set_index("code").loc["5001", "name"] == "Trondheim - Tråanten"
    assert frame["valid_from"].isna().all()  # codesAt leaves validFrom null


def test_codes_104_from_range_real_answer():
    frame = parse_codes(json.loads(_reference("klass_104_codes_from_2022-07-10_counties.json").read_text("utf-8")))
    assert list(frame["code"]) == ["03", "11", "15", "18", "30", "34", "38", "42", "46", "50", "54", "99"]
    assert (frame["valid_from_in_range"] == "2022-07-10").all()


def test_classification_103_real_answer():
    parsed = parse_classification(json.loads(_reference("klass_103_classification_bydelsinndeling.json").read_text("utf-8")))
    assert parsed.id == "103"
    versions = parsed.versions.set_index("version_id")
    assert list(parsed.versions["version_id"]) == ["399", "398", "919", "1168"]  # sorted by validFrom
    assert versions.loc["919", "valid_to"] == "2020-01-01"
    assert pd.isna(versions.loc["1168", "valid_to"])


def test_version_1168_real_answer_with_misspelled_changelog_key():
    doc = json.loads(_reference("klass_103_version_1168_bydelsinndeling_2020.json").read_text("utf-8"))
    assert "changeOccured" in doc["changelogs"][0]  # the real spelling
    version = parse_version(doc)
    assert len(version.items) == 42
    assert version.changelogs["changed_at"].iloc[1].startswith("2019-10-03")
    tables = version.correspondence_tables.set_index("table_id")
    assert len(tables) == 35 and bool(tables.loc["742", "change_table"])
    assert version.items["parent_code"].isna().all()  # KLASS writes "" for bydeler


@pytest.mark.parametrize("name, rows, first, last", [
    ("klass_103_version_398_bydeler_jan04_jan18_csv_latin1.csv", 40, "030101", "160199"),
    ("klass_103_version_919_bydeler_jan18_jan20_csv_latin1.csv", 40, "030101", "500199"),
    ("klass_103_version_1168_bydeler_jan20_csv_latin1.csv", 42, "030101", "500199"),
    ("klass_131_codes_2020_semicolon_latin1_export.csv", 357, "0301", "9999"),
])
def test_klass_csv_exports_with_ragged_rows(name, rows, first, last):
    data = _reference(name).read_bytes()
    header_fields = data.splitlines()[0].count(b";") + 1
    assert header_fields == 8 and data.splitlines()[1].count(b";") + 1 == 6  # the ragged shape itself
    frame = parse_klass_csv(data, origin=name)
    assert len(frame) == rows and frame["code"].iloc[0] == first and frame["code"].iloc[-1] == last
    assert frame["valid_from"].isna().all() and frame["valid_to"].isna().all()
    assert frame["name"].str.len().gt(0).all()


def test_klass_csv_latin1_names_decoded():
    frame = parse_klass_csv(_reference("klass_103_version_398_bydeler_jan04_jan18_csv_latin1.csv").read_bytes(),
                              origin="398")
    assert frame.set_index("code").loc["030113", "name"] == "Østensjø"


def test_klass_csv_row_longer_than_header_is_refused():
    data = '"code";"name"\n"0301";"Oslo";"extra"\n'.encode("latin-1")
    with pytest.raises(GeographyError, match="line 2 has 3 fields but the header has 2"):
        parse_klass_csv(data, origin="bad.csv")


def test_changes_and_correspondence_shapes():
    changes = parse_changes({"codeChanges": [
        {"oldCode": "1201", "oldName": "Bergen", "newCode": "4601", "newName": "Bergen",
         "changeOccurred": "2020-01-01"},
        {"oldCode": None, "newCode": "1580", "newName": "Haram", "changeOccurred": "2024-01-01"},
    ]})
    assert changes.to_dict("records")[0]["changed_on"] == "2020-01-01"
    assert changes["old_code"].iloc[1] is None
    with pytest.raises(GeographyError, match="neither 'changeOccurred' nor 'changeOccured'"):
        parse_changes({"codeChanges": [{"oldCode": "1", "newCode": "2"}]})
    table = parse_correspondence_table({"id": 742, "name": "x", "changeTable": True, "correspondenceMaps": [
        {"sourceCode": "460101", "sourceName": "Arna", "targetCode": "120101", "targetName": "Arna"}]})
    assert table.change_table and table.maps["target_code"].iloc[0] == "120101"
    with pytest.raises(GeographyError, match="expected a JSON object with 'codes'"):
        parse_codes({"items": []}, origin="GET x")


# --------------------------------------------------------------------------------------------- regions


def test_regions_hold_the_four_cities_districts_with_history(regions):
    by_code = regions.set_index("code")
    oslo = [f"0301{n:02d}" for n in range(1, 18)] + ["030199"]
    assert by_code.loc[oslo, "is_current"].all() and (by_code.loc[oslo, "valid_from"] == "2004-01-01").all()
    assert by_code.loc["030199", "is_unknown_district"]
    old_oslo = by_code.loc["030101@1988"]
    assert (old_oslo["name_nb"], old_oslo["valid_to"], old_oslo["is_current"]) == ("Bygdøy-Frogner", "2004-01-01", False)
    assert (by_code.loc[[f"1201{n:02d}" for n in range(1, 9)], "valid_to"] == "2020-01-01").all()
    assert (by_code.loc[[f"4601{n:02d}" for n in range(1, 9)], "valid_from"] == "2020-01-01").all()
    assert (by_code.loc[[f"1601{n:02d}" for n in range(1, 5)], "valid_to"] == "2018-01-01").all()
    assert by_code.loc[[f"5001{n:02d}" for n in range(1, 5)], "is_current"].all()
    assert by_code.loc["110308", "valid_from"] == "2020-01-01" and by_code.loc["110309", "name_nb"] == "Rennesøy"
    assert by_code.loc[[f"1103{n:02d}" for n in range(1, 8)], "is_current"].all()
    assert by_code.loc["460101", "parent_code"] == "4601" and by_code.loc["4601", "parent_code"] == "46"
    assert by_code.loc["46", "parent_code"] == "0" and by_code.loc["0", "level"] == "country"
    assert by_code.loc["120101", "parent_code"] == "1201" and not by_code.loc["1201", "is_current"]


def test_regions_today_follow_the_2024_reform(regions):
    current = regions[regions["is_current"]]
    municipalities = current[current["level"] == "municipality"]
    assert len(municipalities) == 358  # 357 municipalities and 9999 Uoppgitt
    assert {"3103", "1508", "1580"} <= set(municipalities["code"])
    assert not {"3002", "1507"} & set(municipalities["code"])
    counties = set(current.loc[current["level"] == "county", "code"])
    assert {"31", "32", "33", "39", "40", "55", "56"} <= counties and "30" not in counties
    assert set(regions.loc[regions["code"].isin(["3103", "30"]), "provenance"]) == {"illustrative"}


def test_code_lists_must_agree_with_the_changes(geo):
    broken = geo.municipalities[geo.municipalities["code"] != "0301"]
    with pytest.raises(GeographyError, match=r"unexpected \['0301'\]"):
        check_code_lists_agree(geo.municipalities_2020, "2020-01-01", broken, "2023-03-02",
                                 geo.municipality_changes, what="test")


# --------------------------------------------------------------------------------------------- rules


def test_rule_ssb_suffix_2004_division(history, regions):
    frame, report = harmonise(observations([("030101a", "2021"), ("030100aa", "2021"), ("030199a", "2021"),
                                              ("030116a", "2021"), ("030117a", "2021")]), history, regions)
    gamle_oslo = row(frame, "030101a", "2021")
    assert (gamle_oslo["region_code"], gamle_oslo["region_name"], gamle_oslo["harmonised"]) == ("030101", "Gamle Oslo", True)
    total = row(frame, "030100aa", "2021")
    assert (total["region_code"], total["region_level"], total["aggregate_of_districts"]) == ("0301", "municipality", True)
    assert row(frame, "030199a", "2021")["region_code"] == "030199"
    assert row(frame, "030116a", "2021")["region_name"] == "Sentrum"
    assert row(frame, "030117a", "2021")["region_name"] == "Marka"
    assert set(frame["harmonisation_rule"]) == {"ssb_suffix_2004_division"}
    assert set(report["outcome"]) == {"respelled"} and len(report) == 5


def test_district_total_gives_way_to_the_published_municipality(history, regions):
    frame, report = harmonise(observations([("0301", "2021"), ("030100aa", "2021")]), history, regions)
    assert row(frame, "0301", "2021")["harmonised"]
    total = row(frame, "030100aa", "2021")
    assert (total["region_code"], total["harmonised"]) == ("030100aa", False)
    assert report.set_index("original_region_code").loc["030100aa", "outcome"] == "collision"


def test_rule_pre_2004_oslo_division(history, regions):
    suffix_table = observations([("030101", "2002"), ("030101a", "2004"), ("030100a", "2002"), ("030127", "2003")])
    frame, report = harmonise(suffix_table, history, regions)
    old = row(frame, "030101", "2002")
    assert (old["region_code"], old["region_name"], old["harmonised"]) == ("030101@1988", "Bygdøy-Frogner", False)
    assert row(frame, "030127", "2003")["region_code"] == "030127@1988"
    assert row(frame, "030100a", "2002")["region_code"] == "0301"  # the Oslo total is Oslo whatever the division
    reported = report.set_index("original_region_code")
    assert reported.loc["030101", "rule"] == "pre_2004_oslo_division" and reported.loc["030101", "outcome"] == "not_mapped"
    assert pd.isna(reported.loc["030101", "current_code"])
    # The same digits in a table without the suffix convention (FHI, KLASS, KOSTRA) are today's Gamle Oslo.
    plain, _ = harmonise(observations([("030101", "2021")], table_id="507", source="fhi"), history, regions)
    assert (row(plain, "030101", "2021")["region_code"], row(plain, "030101", "2021")["harmonised"]) == ("030101", True)


def test_rule_bergen_2020(history, regions):
    frame, report = harmonise(observations([("120101", "2019"), ("120100a", "2019"), ("460101", "2020")]),
                                history, regions)
    assert (row(frame, "120101", "2019")["region_code"], row(frame, "120101", "2019")["region_name"]) == ("460101", "Arna")
    assert row(frame, "120100a", "2019")["region_code"] == "4601"
    municipal, _ = harmonise(observations([("1201", "2019")], table_id="07459"), history, regions)
    assert row(municipal, "1201", "2019")["region_code"] == "4601"
    assert set(report.loc[report["original_region_code"].str.startswith("1201"), "rule"]) == {"bergen_2020"}
    assert set(report.loc[report["original_region_code"] == "120101", "outcome"]) == {"renumbered"}


def test_rule_trondheim_2018(history, regions):
    frame, _ = harmonise(observations([("160101a", "2010"), ("160101", "2002"), ("160100aa", "2010")]),
                           history, regions)
    assert row(frame, "160101a", "2010")["region_code"] == "500101"
    assert row(frame, "160100aa", "2010")["region_code"] == "5001"
    old = row(frame, "160101", "2002")  # 2001-2004 "Sentrum": a different division, no 1:1 successor
    assert (old["region_code"], old["region_name"], old["harmonised"]) == ("160101@2001", "Sentrum", False)
    plain, _ = harmonise(observations([("160101", "2010")], table_id="12604"), history, regions)
    assert row(plain, "160101", "2010")["region_code"] == "500101"
    assert row(plain, "160101", "2010")["harmonisation_rule"] == "trondheim_2018"


def test_report_counts_each_spelling_over_its_periods_and_a_collision_apart(history, regions):
    rows = observations([("0301", "2021"), ("030100aa", "2021"), ("030100aa", "2021"), ("030100aa", "2022"),
                         ("030100aa", "2023")])
    rows.loc[2, "sex"] = "male"  # no municipal row for men: this one keeps today's code
    _, report = harmonise(rows, history, regions)
    assert report[["original_region_code", "region_code", "outcome", "rows", "first_period", "last_period"]
                  ].values.tolist() == [["030100aa", "0301", "respelled", 3, "2021", "2023"],
                                        ["030100aa", "030100aa", "collision", 1, "2021", "2021"]]


def test_rule_stavanger_2020(history, regions):
    frame, report = harmonise(observations([("110308", "2019"), ("110308", "2020"), ("110309", "2021")]),
                                history, regions)
    before = row(frame, "110308", "2019")
    assert (before["region_code"], before["harmonised"]) == ("110308", False)
    assert row(frame, "110308", "2020")["harmonised"] and row(frame, "110309", "2021")["harmonised"]
    invalid = report[report["outcome"] == "invalid_for_period"]
    assert invalid[["original_region_code", "rule", "rows", "first_period"]].values.tolist() == [
        ["110308", "stavanger_2020", 1, "2019"]]


def test_rule_municipal_reforms_2020_and_2024(history, regions):
    moss = history[history["original_code"] == "0104"].iloc[0]
    assert (moss["current_code"], moss["relation"], moss["rule"]) == ("3103", "merged", "municipal_reform_2020")
    frame, report = harmonise(observations([("0104", "2019"), ("3002", "2022"), ("3001", "2022"), ("3103", "2024")],
                                             table_id="07459"), history, regions)
    merged = row(frame, "0104", "2019")  # part of today's Moss: not relabelled 3103
    assert (merged["region_code"], merged["region_name"], merged["harmonised"]) == ("0104", "Moss", False)
    assert (row(frame, "3002", "2022")["region_code"], row(frame, "3002", "2022")["harmonised"]) == ("3103", True)
    assert row(frame, "3001", "2022")["region_code"] == "3101"
    reported = report.set_index("original_region_code")
    assert (reported.loc["0104", "rule"], reported.loc["0104", "current_code"]) == ("municipal_reform_2020", "3103")
    assert reported.loc["3002", "rule"] == "municipal_reform_2024" and "3103" not in reported.index


def test_rule_split_municipality(history, regions):
    frame, report = harmonise(observations([("1850", "2019"), ("5012", "2019")], table_id="07459"),
                                history, regions)
    for code in ("1850", "5012"):
        kept = row(frame, code, "2019")
        assert (kept["region_code"], kept["harmonised"], kept["harmonisation_rule"]) == (code, False, "split_municipality")
    assert set(report["relation"]) == {"split"} and report["current_code"].isna().all()
    assert set(history.loc[history["original_code"] == "1850", "relation"]) == {"split"}


def test_rule_unknown_district(history, regions):
    frame, _ = harmonise(observations([("460199", "2021"), ("120199", "2015")]), history, regions)
    unknown = row(frame, "460199", "2021")
    assert (unknown["region_code"], unknown["region_level"], unknown["harmonisation_rule"]) == (
        "460199", "district", "unknown_district")
    assert regions.set_index("code").loc["460199", "is_unknown_district"]
    assert row(frame, "120199", "2015")["region_code"] == "460199"


def test_unknown_codes_are_kept_and_reported(history, regions):
    frame, report = harmonise(observations([("EAK", "2021")], table_id="12367"), history, regions)
    kept = row(frame, "EAK", "2021")
    assert (kept["region_code"], kept["harmonised"], kept["value"]) == ("EAK", False, 100.0)
    assert report["outcome"].tolist() == ["unknown_code"]


def test_period_reference_dates():
    assert period_reference_date("2018-2020", "multi_year") == "2020-01-01"
    assert period_reference_date("2024K3", "quarter") == "2024-07-01"
    assert period_reference_date("2023-2024", "school_year") == "2023-08-01"
    with pytest.raises(GeographyError, match="cannot read period '2021' of period_type 'quarter'"):
        period_reference_date("2021", "quarter")


def _read_10826_export(path: Path) -> pd.DataFrame:
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines()[3:]:
        fields = line.split(";")
        if len(fields) < 3 or fields[1].strip('"') != "0 years":
            continue
        code = fields[0].strip('"').split(" ")[0]
        rows += [(code, str(2001 + i), float(v)) for i, v in enumerate(fields[2:])]
    frame = observations([(code, period) for code, period, _ in rows])
    frame["value"] = [value for _, _, value in rows]
    return frame


def test_real_10826_export_harmonises_without_losing_or_inventing_figures(history, regions):
    path = REFERENCE / "ssb" / "ssb_10826_bydel_population_Personerward2001-2020.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    frame, _ = harmonise(_read_10826_export(path), history, regions)
    assert len(frame) == len(_read_10826_export(path))
    assert not frame[frame["harmonised"]].duplicated(["region_code", "period"]).any()
    # SSB exports every code for every year, with 0 outside its life: such zeros are never harmonised
    # (the only harmonised zeros are true zeros: no newborn of unknown district).
    zeros = frame[frame["harmonised"] & (frame["value"] == 0)]
    assert regions.set_index("code").loc[sorted(set(zeros["region_code"])), "is_unknown_district"].all()
    # and every real figure left unmapped belongs to the older Oslo/Trondheim divisions
    unmapped = frame[~frame["harmonised"] & (frame["value"] != 0)]
    assert set(unmapped["harmonisation_rule"]) == {"pre_2004_oslo_division", "trondheim_2018"}
    assert unmapped["region_code"].str.contains("@").all()
    bergen = frame[(frame["region_code"] == "460101") & frame["harmonised"]].set_index("period")["value"]
    assert len(bergen) == 20 and bergen["2001"] == 144 and bergen["2020"] == 164


def test_snapshot_builder_is_deterministic_and_labels_provenance(snapshot_root, tmp_path):
    again = tmp_path / "again"
    written = _builder().build(KLASS_REFERENCE, again)
    assert len(written) == len(KLASS_REQUESTS)
    first = sorted(p.relative_to(snapshot_root) for p in snapshot_root.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    assert all((snapshot_root / p).read_bytes() == (again / p).read_bytes() for p in first)
    provenances = {e.resource + ":" + e.path: e.provenance for e in Archive(again).entries("klass")}
    assert provenances["131:classifications/131/changes"] == "illustrative"
    assert provenances["131:classifications/131/codesAt"] == "reconstructed"
    assert provenances["correspondencetables:correspondencetables/742"] == "illustrative"


def test_republished_on_todays_code(history, regions):
    # FHI republishes Bergen's series on today's codes: 460101 for 2015 is Arna (then 120101).
    fhi, _ = harmonise(observations([("460101", "2015"), ("460101", "2021")], table_id="932", source="fhi"),
                         history, regions)
    assert row(fhi, "460101", "2015")["harmonised"]
    assert row(fhi, "460101", "2015")["harmonisation_rule"] == "republished_on_todays_code"
    assert row(fhi, "460101", "2021")["harmonisation_rule"] == "same"
    # A table that publishes the predecessor itself (SSB 10826) fills 460101 with zeros before 2020:
    # there 460101 for 2015 is a placeholder, not a figure for Arna.
    ssb, _ = harmonise(observations([("120101", "2015"), ("460101", "2015")]), history, regions)
    assert row(ssb, "120101", "2015")["region_code"] == "460101"
    assert not row(ssb, "460101", "2015")["harmonised"]
    assert row(ssb, "460101", "2015")["harmonisation_outcome"] == "invalid_for_period"
