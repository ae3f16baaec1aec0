"""Reference series (data/reference_series): the project's copies equal what the recipes read from the
original files, the figures are the published ones (a test per file), and the readers' rules hold."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from support import REFERENCE, load_tool, reference

from ci_pipeline.config import validate
from ci_pipeline.sources.oslo_tidy import TIDY_COLUMNS
from ci_pipeline.sources.reference_series import (
    ReferenceSeriesError,
    ReferenceSeriesSpec,
    build_series,
    load_reference_series,
    load_spec,
    parse_value,
    series_csv,
)

REPO = Path(__file__).resolve().parents[1]
SERIES = REPO / "data" / "reference_series"
YAMLS = sorted(SERIES.glob("*.yaml"))
KEY = ["indicator_id", "region_code", "period", "sex", "age_group"]

# Per file: the number of rows, and figures read off the original file by hand:
# (indicator_id, region_code, period, sex, age_group) -> value, or the status symbol.
PUBLISHED: dict[str, tuple[int, dict[tuple[str, ...], Any]]] = {
    "imdi_persistent_low_income_2012": (19, {
        ("persistent_low_income_share", "0301", "2010-2012", "total", "total"): 12.9,
        ("persistent_low_income_share", "030101", "2010-2012", "total", "total"): 19.9,
        ("persistent_low_income_share", "030102", "2010-2012", "total", "total"): 17.3,
    }),
    "imdi_persistent_low_income_2013": (19, {
        ("persistent_low_income_share", "0301", "2011-2013", "total", "total"): 13.7,
        ("persistent_low_income_share", "030101", "2011-2013", "total", "total"): 20.5,
    }),
    "imdi_persistent_low_income_2014": (18, {
        ("persistent_low_income_share", "030101", "2012-2014", "total", "total"): 20.6,
        ("persistent_low_income_share", "030104", "2012-2014", "total", "total"): 17.4,
    }),
    "imdi_outside_work_education_2006_2014": (2916, {
        ("outside_work_education_count", "030101", "2014", "male", "16-25"): 619,
        ("outside_work_education_count", "030101", "2014", "female", "16-25"): 625,
        ("outside_work_education_count", "030101", "2014", "total", "16-25"): 1244,
        ("outside_work_education_share", "030101", "2014", "total", "16-25"): 14,
        ("outside_work_education_share", "030101", "2013", "total", "16-25"): 12,
        ("outside_work_education_count", "030101", "2013", "total", "16-66"): 9233,
    }),
    "imdi_outside_work_education_2013": (114, {
        ("outside_work_education_count", "0301", "2013", "total", "16-66"): 88461,
        ("outside_work_education_count", "0301", "2013", "total", "16-25"): 11211,
        ("outside_work_education_share", "0301", "2013", "total", "16-25"): 13.6,
        ("outside_work_education_count", "030101", "2013", "total", "16-25"): 1019,
        ("outside_work_education_share", "030101", "2013", "total", "16-25"): 16.8,
        ("outside_work_education_share", "030107", "2013", "total", "16-25"): 13.1,
        ("outside_work_education_count", "030116", "2013", "total", "16-25"): ":",
        ("outside_work_education_count", "030116", "2013", "total", "16-66"): 14,
    }),
    "imdi_upper_secondary_completed_2011_2013": (57, {
        ("upper_secondary_completed_share", "0301", "2011-2013", "total", "total"): 74.7,
        ("upper_secondary_completed_share", "0301", "2011-2013", "male", "total"): 69.3,
        ("upper_secondary_completed_share", "0301", "2011-2013", "female", "total"): 80.3,
        ("upper_secondary_completed_share", "030101", "2011-2013", "total", "total"): 67.3,
    }),
    "imdi_employed_2006_2014": (324, {
        ("employed_count", "030101", "2014", "total", "total"): 40060,
        ("employed_share", "030101", "2014", "total", "total"): 72,
    }),
    "imdi_registered_unemployed_2006_2014": (324, {
        ("registered_unemployed_count", "030101", "2014", "total", "total"): 1533,
        ("registered_unemployed_share", "030101", "2014", "total", "total"): 3,
    }),
    "ssb_children_persistent_low_income_1996_2004": (68, {
        ("children_persistent_low_income_share", "0", "1996-1998", "total", "0-15"): 4.5,
        ("children_persistent_low_income_count", "0", "1996-1998", "total", "0-15"): 33955,
        ("children_persistent_low_income_share", "0301", "2002-2004", "total", "0-15"): 10.8,
        ("children_persistent_low_income_share", "030101", "2002-2004", "total", "0-15"): 25.1,
        ("children_persistent_low_income_count", "030101", "2002-2004", "total", "0-15"): 1063,
        ("children_persistent_low_income_share", "030115", "2002-2004", "total", "0-15"): 15.0,
    }),
    "oslo_population_sex_age_2024": (3417, {
        ("population_sex_age", "030101", "2024", "male", "0"): 500,
        ("population_sex_age", "030101", "2024", "female", "0"): 460,
        ("population_sex_age", "030101", "2024", "male", "15"): 232,
        ("population_sex_age", "030101", "2024", "female", "20"): 255,
        ("population_sex_age", "030115", "2024", "female", "17"): 285,
        ("population_sex_age", "030199", "2024", "female", "0"): 4,
    }),
    "nav_outside_work_education_2024": (5, {
        ("nav_outside_work_education_share", "0301", "2024", "total", "20-29"): 13.9,
        ("nav_outside_work_education_share", "030111", "2024", "total", "20-29"): 21.5,
        ("nav_outside_work_education_share", "030110", "2024", "total", "20-29"): 19.3,
        ("nav_outside_work_education_share", "030112", "2024", "total", "20-29"): 17.2,
        ("nav_outside_work_education_share", "030109", "2024", "total", "20-29"): 16.3,
    }),
    "oslo_upper_secondary_not_completed_2012_2013": (12, {
        ("upper_secondary_not_completed_share", "030101", "2012", "total", "total"): 33.8,
        ("upper_secondary_not_completed_share", "030101", "2013", "total", "total"): 34.9,
        ("upper_secondary_not_completed_share", "030107", "2013", "total", "total"): 11.3,
        ("upper_secondary_completed_share", "0301", "2012", "total", "total"): 79,
        ("upper_secondary_start_cohort", "0301", "2013", "total", "total"): 5395,
    }),
    "osloskolen_upper_secondary_completed_passed_2012": (2, {
        ("upper_secondary_completed_passed_share", "0301", "2012", "total", "total"): 78.8,
        ("upper_secondary_completed_passed_share", "0", "2012", "total", "total"): 74.4,
    }),
}


def series_id(path: Path) -> str:
    return path.stem


# --------------------------------------------------------------------------- the project's copies


def test_every_series_has_figures_checked_by_hand():
    assert sorted(path.stem for path in YAMLS) == sorted(PUBLISHED)


@pytest.mark.parametrize("path", YAMLS, ids=series_id)
def test_project_copy_is_checksummed_and_loads_as_reconstructed_tidy_rows(path):
    series = load_reference_series(path)
    frame = series.frame
    assert list(frame.columns) == TIDY_COLUMNS
    assert hashlib.sha256(path.with_suffix(".csv").read_bytes()).hexdigest() == series.spec.sha256
    assert set(frame["provenance"]) == {"reconstructed"} and set(frame["source"]) == {"reference"}
    assert set(frame["table_id"]) == {path.stem}
    assert not frame.duplicated(KEY).any()
    assert frame.loc[frame["status"].notna(), "value"].isna().all()
    assert frame.loc[frame["status"].isna(), "value"].notna().all()
    assert set(frame["region_level"]) <= {"country", "county", "municipality", "district"}
    assert series.spec.meaning and series.spec.origin.url.startswith("https://")


@pytest.mark.reference
@pytest.mark.parametrize("path", YAMLS, ids=series_id)
def test_published_figures_equal_the_original_file(path):
    reference()
    spec = load_spec(path)
    built = build_series(spec, REFERENCE)
    assert series_csv(built.frame) == path.with_suffix(".csv").read_bytes(), (
        "the project copy is stale: run tools/build_reference_series.py")
    rows, figures = PUBLISHED[path.stem]
    frame = load_reference_series(path).frame.set_index(KEY)
    assert len(frame) == rows
    for key, expected in figures.items():
        value, status = frame.loc[key, ["value", "status"]]
        if isinstance(expected, str):
            assert status == expected and math.isnan(value), key
        else:
            assert (value, pd.isna(status)) == (expected, True), key


def test_project_copy_that_does_not_match_its_checksum_is_refused(tmp_path):
    source = YAMLS[0]
    (tmp_path / source.name).write_bytes(source.read_bytes())
    (tmp_path / source.with_suffix(".csv").name).write_bytes(source.with_suffix(".csv").read_bytes() + b"\n")
    with pytest.raises(ReferenceSeriesError, match=r"has sha256 .* the YAML says"):
        load_reference_series(tmp_path / source.name)


def test_the_tool_rebuilds_the_copies_deterministically(tmp_path):
    reference()
    tool = load_tool("build_reference_series")
    for path in YAMLS:
        (tmp_path / path.name).write_text(
            path.read_text(encoding="utf-8").replace(load_spec(path).sha256, "0" * 64), encoding="utf-8")
    assert tool.main(["--reference", str(REFERENCE), "--series", str(tmp_path)]) == 0
    for path in YAMLS:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()
        assert (tmp_path / path.with_suffix(".csv").name).read_bytes() == path.with_suffix(".csv").read_bytes()


# --------------------------------------------------------------------------- the readers' rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [("74,7", ("74.7", None)), ("341 500", ("341500", None)), ("12", ("12", None)), ("12.9", ("12.9", None)),
     (":", (None, ":")), (" : ", (None, ":")), (".", (None, "."))],
)
def test_values_stay_as_published(text, expected):
    assert parse_value(text) == expected


def test_a_value_that_is_neither_a_number_nor_a_symbol_is_an_error():
    with pytest.raises(ValueError, match="neither a number nor a status symbol"):
        parse_value("n/a")


def spec_for(reference: Path, name: str, data: bytes, read: dict[str, Any]) -> ReferenceSeriesSpec:
    (reference / "imdi").mkdir(parents=True, exist_ok=True)
    (reference / "imdi" / name).write_bytes(data)
    return validate(ReferenceSeriesSpec, {
        "name": "test_series", "title": "t", "title_en": "t",
        "origin": {"publisher": "p", "url": "https://example.org", "reference_file": f"imdi/{name}",
                   "source_sha256": hashlib.sha256(data).hexdigest(), "retrieved": "2026-12-02", "fidelity": "f"},
        "meaning": "m", "period": "2013", "unit": "percent", "read": read, "provenance": "reconstructed",
        "sha256": "0" * 64,
    }, shown_as="test series")


CROSSED = (
    "bydel;bydel_nr;bydel_navn;innvkat_3.alle;innvkat_3.alle;innvkat_3.innvandrere\n"
    "Nedbrytninger;;;kjonn.1;kjonn.0;kjonn.alle\n"
    ";;;enhet.prosent;enhet.prosent;enhet.prosent\n"
    "0301 Oslo;301;Oslo;13,7;12,1; : \n"
    "030107 Vestre Aker;30107;Veste Aker;4,5;5;7\n"
    "030199 Uoppgitt bydel Oslo;30199;Uoppgitt bydel Oslo;:;.;1\n"
).encode("latin1")
CROSSED_READ = {
    "format": "imdi_crossed", "keep": {"innvkat_3": "alle"},
    "region": {"key": "region_code", "label_key": "region_label", "codes": {"301": "0301"}},
    "period": {"value": "2013"}, "sex": {"key": "kjonn", "codes": {"1": "male", "0": "female", "alle": "total"}},
    "measure": {"key": "enhet", "codes": {"prosent": {"indicator_id": "share", "unit": "percent"}}},
}


def text(cell: Any) -> str | None:
    return None if pd.isna(cell) else cell


def test_crossed_export_reads_header_keys_decimal_commas_misspelt_names_and_symbols(tmp_path):
    built = build_series(spec_for(tmp_path, "x.csv", CROSSED, CROSSED_READ), tmp_path)
    got = {(r.region_code, r.sex): (text(r.value), text(r.status)) for r in built.frame.itertuples()}
    assert got == {("0301", "male"): ("13.7", None), ("0301", "female"): ("12.1", None),
                   ("030107", "male"): ("4.5", None), ("030107", "female"): ("5", None),
                   ("030199", "male"): (None, ":"), ("030199", "female"): (None, ".")}
    assert built.not_used == {"keep {'innvkat_3': 'alle'}": 3}


def test_a_district_whose_name_disagrees_with_its_code_is_refused(tmp_path):
    data = CROSSED.replace(b"30107;Veste Aker", b"30107;Gamle Oslo")
    with pytest.raises(ReferenceSeriesError, match=r"x.csv line 5 column 4: region '30107' is 030107, but its name"):
        build_series(spec_for(tmp_path, "x.csv", data, CROSSED_READ), tmp_path)


FLAT = (
    '"aar","bydel_nr","innvkat_3","tabellvariabel","tabell_navn","enhet"\n'
    '"2014","00","alle","2388660","t","personer"\n'
    '"2014","030101","alle","40060","t","personer"\n'
    '"2014","030101","alle","72","t","prosent"\n'
).encode("ascii")
FLAT_READ = {
    "format": "imdi_flat", "keep": {"innvkat_3": "alle"},
    "region": {"key": "bydel_nr", "not_used": {"00": "undocumented aggregate"}}, "period": {"key": "aar"},
    "measure": {"key": "enhet", "codes": {"prosent": {"indicator_id": "share", "unit": "percent"},
                                          "personer": {"indicator_id": "count", "unit": "persons"}}},
    "value_key": "tabellvariabel", "ignore_keys": {"tabell_navn": "the table's name"},
}


def test_flat_export_leaves_the_undocumented_aggregate_out_and_counts_it(tmp_path):
    built = build_series(spec_for(tmp_path, "f.csv", FLAT, FLAT_READ), tmp_path)
    assert sorted(zip(built.frame["indicator_id"], built.frame["value"])) == [("count", "40060"), ("share", "72")]
    assert built.not_used == {"region 00": 1}


def test_a_key_the_recipe_does_not_account_for_is_an_error(tmp_path):
    read = {**FLAT_READ, "ignore_keys": {}}
    with pytest.raises(ReferenceSeriesError, match=r"key\(s\) \['tabell_navn'\] are neither read by the recipe"):
        build_series(spec_for(tmp_path, "f.csv", FLAT, read), tmp_path)


def test_an_unknown_measure_or_region_is_an_error(tmp_path):
    read = {**FLAT_READ, "region": {"key": "bydel_nr"}}
    with pytest.raises(ReferenceSeriesError, match=r"f.csv line 2: region '00' is not mapped"):
        build_series(spec_for(tmp_path, "f.csv", FLAT, read), tmp_path)
    read = {**FLAT_READ, "measure": {"key": "enhet", "codes": {"prosent": {"indicator_id": "s", "unit": "percent"}}}}
    with pytest.raises(ReferenceSeriesError, match=r"line 2: measure 'personer' \(key enhet\) is not in the recipe"):
        build_series(spec_for(tmp_path, "f.csv", FLAT, read), tmp_path)


def test_a_changed_original_file_is_refused(tmp_path):
    spec = spec_for(tmp_path, "f.csv", FLAT, FLAT_READ)
    (tmp_path / "imdi" / "f.csv").write_bytes(FLAT.replace(b"40060", b"40061"))
    with pytest.raises(ReferenceSeriesError, match=r"the file changed"):
        build_series(spec, tmp_path)


def test_two_figures_for_one_key_are_refused(tmp_path):
    data = FLAT + b'"2014","030101","alle","73","t","prosent"\n'
    with pytest.raises(ReferenceSeriesError, match="two figures for"):
        build_series(spec_for(tmp_path, "f.csv", data, FLAT_READ), tmp_path)


def test_transcribed_table_makes_no_row_for_an_empty_cell_and_names_every_column(tmp_path):
    data = ("geography,start_cohort,share_a,share_b,source_page\n"
            "Oslo,2012,,79,p1\nGamle Oslo,2012,33.8,,p1\n").encode()
    read = {"format": "table_csv", "region": {"key": "geography", "codes": {"Oslo": "0301"}},
            "period": {"key": "start_cohort"},
            "measure": {"key": "measure", "codes": {"share_a": {"indicator_id": "a", "unit": "percent"},
                                                    "share_b": {"indicator_id": "b", "unit": "percent"}}},
            "ignore_keys": {"source_page": "which page"}}
    built = build_series(spec_for(tmp_path, "t.csv", data, read), tmp_path)
    assert sorted(zip(built.frame["indicator_id"], built.frame["region_code"], built.frame["value"])) == [
        ("a", "030101", "33.8"), ("b", "0301", "79")]
    with pytest.raises(ReferenceSeriesError, match=r"column\(s\) \['source_page'\] are neither measures"):
        build_series(spec_for(tmp_path, "t.csv", data, {**read, "ignore_keys": {}}), tmp_path)


def test_a_yaml_must_be_named_after_its_series(tmp_path):
    source = YAMLS[0]
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    (tmp_path / "other_name.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ReferenceSeriesError, match="must be the file's name"):
        load_spec(tmp_path / "other_name.yaml")
