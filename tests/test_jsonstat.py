"""The JSON-stat 2.0 reader and to_tidy(): on the real recorded responses and on synthetic edge cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from support import reference

from ci_pipeline.catalogue import TableSpec
from ci_pipeline.jsonstat import JsonStatError, parse_timestamp, read_jsonstat, read_jsonstat_metadata
from ci_pipeline.schema import TIDY_COLUMNS
from ci_pipeline.tidy import normalise_age, normalise_period, region_level, to_tidy

JSONSTAT2_FILES = [
    "ssb/ssb_v2_POST_03024_data_jsonstat2.json",
    "ssb/ssb_v2_data_11118_default_jsonstat2_from_beta-bruker-doc.json",
    "ssb/ssb_v2_metadata_11118_jsonstat2_from_beta-bruker-doc.json",
    "ssb/ssb_jsonstat2_KS_resultatTest.json",
    "fhi/fhi_nokkel_jsonstat2_example_from_official_README.json",
]
JSONSTAT1_FILES = [
    "ssb/ssb_v0_dataset_29843_jsonstat1.json",
    "ssb/ssb_v0_jsonstat1_fishfarming_earnings_ssb-api.json",
]
TIDY_ARGS = {"provenance": "recorded", "snapshot_sha256": "ab" * 32,
             "retrieved_at": "2025-12-04T10:00:00.000000Z", "source_updated": "2025-12-03T07:00:00Z"}


def read_reference(relative: str, reader=read_jsonstat):
    path = reference(relative)
    return reader(path.read_bytes(), origin=path.name)


def dataset(dimensions: dict[str, list[str]], value=None, **extra) -> dict:
    """A JSON-stat 2.0 dataset with the given dimensions (id -> codes) in order."""
    document = {
        "version": "2.0", "class": "dataset", "label": "test", "source": "test",
        "updated": "2025-01-01T00:00:00Z",
        "id": list(dimensions), "size": [len(codes) for codes in dimensions.values()],
        "dimension": {dim_id: {"label": dim_id, "category": {"index": {c: i for i, c in enumerate(codes)},
                                                             "label": {c: c for c in codes}}}
                      for dim_id, codes in dimensions.items()},
    }
    if value is not None:
        document["value"] = value
    document.update(extra)
    return document


def spec(**overrides) -> TableSpec:
    fields = {
        "source": "ssb", "name": "ssb_99999", "table_id": "99999",
        "title": "test", "description": "test", "group": "test",
        "dimensions": {"region": "Region", "period": "Tid", "indicator": "ContentsCode"},
        "indicators": {"Personer": {"indicator_id": "population", "unit": "persons"}},
        "path": Path("sources/ssb/test.yaml"),
    }
    fields.update(overrides)
    return TableSpec(**fields)


# ------------------------------------------------------------------------------------ real responses


@pytest.mark.reference
@pytest.mark.parametrize("relative", JSONSTAT2_FILES)
def test_every_recorded_jsonstat2_response_reads(relative):
    document = orjson.loads(reference(relative).read_bytes())
    table = read_reference(relative, read_jsonstat if "value" in document else read_jsonstat_metadata)
    assert table.ids == document["id"]
    assert table.sizes == document["size"]
    assert list(table.frame.columns) == document["id"] + ["value", "status"]
    expected_rows = math.prod(document["size"]) if "value" in document else 0
    assert len(table.frame) == expected_rows
    assert table.frame["value"].dtype == np.float64
    for dim_id in table.ids:
        assert list(table.frame[dim_id].cat.categories) == table.dimensions[dim_id].codes
    if "value" in document:
        raw = np.array(document["value"], dtype=np.float64)
        np.testing.assert_array_equal(table.frame["value"].to_numpy(), raw)


@pytest.mark.reference
def test_ssb_v2_post_03024():
    table = read_reference("ssb/ssb_v2_POST_03024_data_jsonstat2.json")
    assert table.table_id == "03024"
    assert table.updated == "2025-12-03T07:00:00Z"
    assert table.sizes == [2, 2, 48]
    assert table.roles == {"time": ["Tid"], "metric": ["ContentsCode"]}
    assert table.dimensions["ContentsCode"].units["Kilopris"] == {"base": "kr", "decimals": 2}
    assert table.dimensions["VareGrupper2"].labels["02"] == "Frosen oppalen laks"
    frame = table.frame
    first, kilopris, last = frame.iloc[0], frame.iloc[48], frame.iloc[-1]
    assert (first["VareGrupper2"], first["ContentsCode"], first["Tid"], first["value"]) == \
        ("01", "Vekt", "2025U01", 11364.0)
    assert (kilopris["ContentsCode"], kilopris["Tid"], kilopris["value"]) == ("Kilopris", "2025U01", 125.36)
    assert (last["VareGrupper2"], last["ContentsCode"], last["Tid"], last["value"]) == \
        ("02", "Kilopris", "2025U48", 77.24)
    assert frame["status"].isna().all()


@pytest.mark.reference
def test_ssb_03024_weekly_periods_are_refused_by_to_tidy():
    table = read_reference("ssb/ssb_v2_POST_03024_data_jsonstat2.json")
    weekly = spec(table_id="03024", dimensions={"region": "VareGrupper2", "period": "Tid",  # 01, 02: counties
                                                "indicator": "ContentsCode"},
                  indicators={"Vekt": {"indicator_id": "w", "unit": "tonnes"},
                              "Kilopris": {"indicator_id": "p", "unit": "nok"}})
    with pytest.raises(JsonStatError, match=r"table 03024 .*: time code '2025U01' has no known shape"):
        to_tidy(table, weekly, **TIDY_ARGS)


@pytest.mark.reference
def test_ssb_v2_11118_default_selection_keeps_negative_values():
    table = read_reference("ssb/ssb_v2_data_11118_default_jsonstat2_from_beta-bruker-doc.json")
    assert table.sizes == [14, 1, 2]
    rows = table.frame.set_index(["Leveringssektor", "ContentsCode"])["value"]
    assert rows[("B1", "LevIndAar")] == 133.3
    assert rows[("B1", "Aarsendring")] == 5.8
    assert rows[("B112", "Aarsendring")] == -7.0
    assert table.dimensions["ContentsCode"].units["Aarsendring"] == {"base": "prosent", "decimals": 1}


@pytest.mark.reference
def test_ssb_v2_metadata_has_dimensions_and_no_rows():
    table = read_reference("ssb/ssb_v2_metadata_11118_jsonstat2_from_beta-bruker-doc.json", read_jsonstat_metadata)
    assert table.sizes == [14, 2, 9]
    assert table.dimensions["Tid"].codes == [str(year) for year in range(2015, 2024)]
    assert table.dimensions["ContentsCode"].codes == ["LevIndAar", "Aarsendring"]
    assert table.frame.empty
    assert list(table.frame.columns) == ["Leveringssektor", "ContentsCode", "Tid", "value", "status"]


def test_metadata_only_table_gives_no_tidy_rows():
    table = read_jsonstat_metadata(dataset({"Region": ["0301", "030101"], "ContentsCode": ["Personer"],
                                            "Tid": ["2023"]}))
    assert table.frame.empty and table.sizes == [2, 1, 1]
    tidy = to_tidy(table, spec(), **TIDY_ARGS)
    assert tidy.empty and list(tidy.columns) == TIDY_COLUMNS


@pytest.mark.reference
def test_ssb_kostra_status_symbols_are_kept_and_never_zero():
    table = read_reference("ssb/ssb_jsonstat2_KS_resultatTest.json")
    frame = table.frame
    assert table.table_id == "12367"
    assert table.sizes == [5, 2, 5, 5, 1, 5]
    assert frame["status"].value_counts().to_dict() == {".": 400, ":": 85}
    assert frame.loc[frame["status"].notna(), "value"].isna().all()
    assert frame["value"].isna().sum() == 485
    assert frame["value"].iloc[0] == 1943974.0
    # cell 519 = region 3001, regnskapsomfang A, funksjon 100, art AGD56, year 2020
    cell = frame.iloc[519]
    assert [cell[dim_id] for dim_id in table.ids] == ["3001", "A", "100", "AGD56", "KOSbelop0000", "2020"]
    assert cell["status"] == ":" and math.isnan(cell["value"])


@pytest.mark.reference
def test_ssb_kostra_pseudo_regions_and_unfixed_dimensions_are_errors():
    table = read_reference("ssb/ssb_jsonstat2_KS_resultatTest.json")
    kostra = spec(table_id="12367",
                  dimensions={"region": "KOKkommuneregion0000", "period": "Tid", "indicator": "ContentsCode"},
                  fixed={"KOKregnskapsomfa0000": "A", "KOKfunksjon0000": "100", "KOKart0000": "AGD4"},
                  indicators={"KOSbelop0000": {"indicator_id": "spend", "unit": "nok_1000"}})
    with pytest.raises(JsonStatError, match=r"table 12367 .*fixed dimension 'KOKregnskapsomfa0000' must hold "
                                            r"exactly 'A', but holds \['A', 'B'\]"):
        to_tidy(table, kostra, **TIDY_ARGS)


@pytest.mark.reference
def test_fhi_readme_example_reads_and_becomes_tidy():
    table = read_reference("fhi/fhi_nokkel_jsonstat2_example_from_official_README.json")
    assert table.updated == "2022-12-20T11:44:58.770632Z"
    assert table.source is None and table.table_id is None
    assert table.roles == {"time": [], "geo": [], "metric": ["MEASURE_TYPE"]}
    assert table.dimensions["GEO"].codes == ["03", "30"]
    assert table.dimensions["MEASURE_TYPE"].units["BEFVEKST_ANT"]["label"] == "antall"
    assert table.frame["value"].tolist() == [3516.0, 2817.0, 11219.0, 16846.0]
    assert table.frame["status"].isna().all()

    fhi = spec(source="fhi", name="fhi_999", table_id="999",
               dimensions={"region": "GEO", "period": "AAR", "sex": "KJONN", "age": "ALDER",
                           "indicator": "MEASURE_TYPE"},
               age_codes={"0": "total"},
               indicators={"BEFVEKST_ANT": {"indicator_id": "population_growth", "unit": "persons"}})
    tidy = to_tidy(table, fhi, **TIDY_ARGS)
    assert list(tidy.columns) == TIDY_COLUMNS
    assert tidy[["region_code", "region_level", "period", "period_type", "sex", "age_group", "value"]] \
        .values.tolist() == [
        ["03", "county", "2020", "year", "total", "total", 3516.0],
        ["03", "county", "2021", "year", "total", "total", 2817.0],
        ["30", "county", "2020", "year", "total", "total", 11219.0],
        ["30", "county", "2021", "year", "total", "total", 16846.0],
    ]
    assert set(tidy["source"]) == {"fhi"} and set(tidy["unit"]) == {"persons"}
    assert tidy["numerator"].isna().all() and tidy["status"].isna().all()


@pytest.mark.reference
@pytest.mark.parametrize("relative", JSONSTAT1_FILES)
def test_jsonstat1_bundles_are_rejected_clearly(relative):
    path = reference(relative)
    with pytest.raises(JsonStatError, match=rf"{path.name}: this is a JSON-stat 1\.x bundle"):
        read_jsonstat(path.read_bytes(), origin=path.name)


# -------------------------------------------------------------------------------------- reader shapes


def test_rows_are_row_major_with_the_last_dimension_fastest():
    table = read_jsonstat(dataset({"A": ["a1", "a2"], "B": ["b1", "b2", "b3"]}, [0, 1, 2, 3, 4, 5]))
    assert table.frame["A"].tolist() == ["a1"] * 3 + ["a2"] * 3
    assert table.frame["B"].tolist() == ["b1", "b2", "b3"] * 2
    assert table.frame["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_text_and_dict_input_read_the_same():
    document = dataset({"A": ["x", "y"]}, [1, None])
    from_text = read_jsonstat(orjson.dumps(document).decode())
    from_dict = read_jsonstat(document)
    pd.testing.assert_frame_equal(from_text.frame, from_dict.frame)
    assert math.isnan(from_dict.frame["value"].iloc[1])


def test_sparse_value_object():
    table = read_jsonstat(dataset({"A": ["a", "b"], "B": ["c", "d"]}, {"0": 1, "3": 2.5}))
    values = table.frame["value"].tolist()
    assert values[0] == 1.0 and values[3] == 2.5 and math.isnan(values[1]) and math.isnan(values[2])


def test_sparse_value_outside_the_cube_is_an_error():
    with pytest.raises(JsonStatError, match="'value' refers to cell 4, outside 0..3"):
        read_jsonstat(dataset({"A": ["a", "b"], "B": ["c", "d"]}, {"4": 1}))


@pytest.mark.parametrize("status, expected", [
    (None, [None, None, None]),
    ("", [None, None, None]),
    ("*", ["*", "*", "*"]),
    (["", None, ".."], [None, None, ".."]),
    ({"1": ":", "2": "."}, [None, ":", "."]),
])
def test_status_forms(status, expected):
    document = dataset({"A": ["a", "b", "c"]}, [1, None, None])
    if status is not None:
        document["status"] = status
    table = read_jsonstat(document)
    assert [None if pd.isna(symbol) else symbol for symbol in table.frame["status"]] == expected


def test_value_and_status_on_the_same_cell_are_both_kept():
    table = read_jsonstat(dataset({"A": ["a", "b"]}, [10, 20], status={"1": "*"}))
    assert table.frame["value"].tolist() == [10.0, 20.0]
    assert table.frame["status"].iloc[1] == "*"


def test_status_list_of_wrong_length_is_an_error():
    with pytest.raises(JsonStatError, match="'status' has 3 cells but the product of 'size' is 2"):
        read_jsonstat(dataset({"A": ["a", "b"]}, [1, 2], status=[":", ":", ":"]))


def test_array_index_and_missing_index():
    document = dataset({"GEO": ["03", "30"], "KJONN": ["0"]}, [1, 2])
    document["dimension"]["GEO"]["category"]["index"] = ["03", "30"]
    del document["dimension"]["KJONN"]["category"]["index"]
    table = read_jsonstat(document)
    assert table.frame["GEO"].tolist() == ["03", "30"]
    assert table.frame["KJONN"].tolist() == ["0", "0"]


def test_missing_index_with_several_labels_is_an_error():
    document = dataset({"A": ["a", "b"]}, [1, 2])
    del document["dimension"]["A"]["category"]["index"]
    with pytest.raises(JsonStatError, match="dimension 'A' has no category.index and 2 labels"):
        read_jsonstat(document)


def test_mixed_string_values_become_status():
    table = read_jsonstat(dataset({"A": ["a", "b", "c", "d", "e"]}, [1.5, ":", "3", None, ""]))
    values = table.frame["value"].tolist()
    assert values[0] == 1.5 and all(math.isnan(value) for value in values[1:])
    assert [None if pd.isna(symbol) else symbol for symbol in table.frame["status"]] == \
        [None, ":", "3", None, None]


def test_string_value_conflicting_with_status_is_an_error():
    with pytest.raises(JsonStatError, match="cell 0 has the string ':' as value and a different status '..'"):
        read_jsonstat(dataset({"A": ["a"]}, [":"], status={"0": ".."}))


def test_boolean_value_is_an_error():
    with pytest.raises(JsonStatError, match="'value' cell 1 is True"):
        read_jsonstat(dataset({"A": ["a", "b"]}, [1, True]))


# Cells read from JSON text go through Arrow in one pass; a parsed document's are type-checked one by one.
@pytest.mark.parametrize("value", [
    [1, None, 3], [1.5, None, 0], [None, None, None], [0, 1, 2**62 + 1], [2**63, 0, 1], [1.5, ":", None],
    ["..", 1, 2], [0.5, "", 1], {"0": 1.5, "2": 0}, {"1": 2, "2": ".."},
])
def test_json_text_and_a_parsed_document_read_the_same_cells(value):
    document = dataset({"A": ["a", "b", "c"]}, value)
    pd.testing.assert_frame_equal(read_jsonstat(orjson.dumps(document)).frame, read_jsonstat(document).frame)


@pytest.mark.parametrize("value", [
    [1, 0.5, True], [0.5, False, 1], [True, 1, 2], [None, 1.5, True], [1, [2], 3], [1, {"a": 2}, 3],
    {"0": 1.5, "2": True}, {"0": 1, "1": False},
])
def test_json_text_and_a_parsed_document_reject_the_same_cell(value):
    document = dataset({"A": ["a", "b", "c"]}, value)
    with pytest.raises(JsonStatError, match="cells must be numbers, null or status strings") as from_dict:
        read_jsonstat(document)
    with pytest.raises(JsonStatError) as from_text:
        read_jsonstat(orjson.dumps(document))
    assert str(from_text.value) == str(from_dict.value)


def test_units_and_table_id_are_carried():
    document = dataset({"ContentsCode": ["Personer"]}, [5], extension={"px": {"tableid": "07459"}})
    unit = {"Personer": {"base": "personer", "decimals": 0}}
    document["dimension"]["ContentsCode"]["category"]["unit"] = unit
    table = read_jsonstat(document)
    assert table.table_id == "07459"
    assert table.dimensions["ContentsCode"].units == unit


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(value=[1, 2, 3]), r"'value' has 3 cells but the product of 'size' is 4"),
    (lambda d: d["dimension"].pop("B"), r"dimension\(s\) \['B'\] are listed in 'id' but missing"),
    (lambda d: d.update(size=[2, 3]), r"dimension 'B' has 2 categories but 'size' says 3"),
    (lambda d: d.update(size=[2]), r"'id' has 2 dimensions but 'size' has 1"),
    (lambda d: d["dimension"]["A"]["category"].update(index={"a": 0, "b": 5}),
     r"dimension 'A': category.index gives 'b' position 5"),
    (lambda d: d.update({"class": "collection"}), r"JSON-stat class is 'collection'"),
])
def test_shape_errors_name_what_is_wrong(mutate, message):
    document = dataset({"A": ["a", "b"], "B": ["c", "d"]}, [1, 2, 3, 4])
    mutate(document)
    with pytest.raises(JsonStatError, match=rf"^https://example/x: {message}"):
        read_jsonstat(document, origin="https://example/x")


def test_jsonstat1_single_dataset_is_rejected():
    document = {"label": "x", "dimension": {"id": ["A"], "size": [1], "A": {}}, "value": [1]}
    with pytest.raises(JsonStatError, match=r"t\.json: this is a JSON-stat 1\.x dataset"):
        read_jsonstat(document, origin="t.json")


def test_invalid_json_names_the_origin():
    with pytest.raises(JsonStatError, match="^body.json: not valid JSON"):
        read_jsonstat(b"{not json", origin="body.json")


@pytest.mark.parametrize("text, expected", [
    ("2022-12-20T11:44:58.7706326+00:00", "2022-12-20T11:44:58.770632Z"),
    ("2025-12-03T07:00:00Z", "2025-12-03T07:00:00Z"),
    ("2025-12-03T08:00:00+01:00", "2025-12-03T07:00:00Z"),
    ("2025-12-03T07:00:00", "2025-12-03T07:00:00Z"),
    (None, None),
])
def test_timestamps(text, expected):
    assert parse_timestamp(text) == expected


def test_unreadable_timestamp_is_an_error():
    with pytest.raises(JsonStatError, match="'updated' is not an ISO-8601 timestamp: 'yesterday'"):
        parse_timestamp("yesterday")


# ---------------------------------------------------------------------------------- code conventions


@pytest.mark.parametrize("code, expected", [
    ("999", "total"), ("999D", "total"), ("0_120", "total"), ("000-120", "total"),
    ("007", "7"), ("0", "0"), ("015-029", "15-29"), ("15-29", "15-29"), ("16_25", "16-25"),
    ("105+", "105+"), ("090+", "90+"),
])
def test_normalise_age(code, expected):
    assert normalise_age(code) == expected


def test_unknown_age_shape_is_an_error():
    with pytest.raises(JsonStatError, match="age code 'F00-05' has no known shape"):
        normalise_age("F00-05")


@pytest.mark.parametrize("code, range_type, expected", [
    ("2021", "multi_year", ("2021", "year")),
    ("2021K1", "multi_year", ("2021K1", "quarter")),
    ("2021M03", "multi_year", ("2021M03", "month")),
    ("2018-2020", "multi_year", ("2018-2020", "multi_year")),
    ("2020_2020", "multi_year", ("2020", "year")),
    ("2018_2020", "multi_year", ("2018-2020", "multi_year")),
    ("2019-2020", "school_year", ("2019-2020", "school_year")),
])
def test_normalise_period(code, range_type, expected):
    assert normalise_period(code, range_type) == expected


@pytest.mark.parametrize("code, expected", [
    ("0", ("0", "country")), ("00", ("00", "country")), ("EAK", ("EAK", "country")),
    ("03", ("03", "county")), ("F-03", ("03", "county")),
    ("0301", ("0301", "municipality")), ("K-4601", ("4601", "municipality")),
    ("030101", ("030101", "district")), ("030101a", ("030101a", "district")),
    ("030100aa", ("030100aa", "district")), ("0301010101", ("0301010101", "sub_district")),
])
def test_region_level(code, expected):
    assert region_level(code) == expected


def test_pseudo_region_is_an_error():
    with pytest.raises(JsonStatError, match="region code 'EKG16' has no known shape"):
        region_level("EKG16")


# ------------------------------------------------------------------------------------------ to_tidy


ALL_ROLES = {"region": "Region", "period": "Tid", "sex": "Kjonn", "age": "Alder", "indicator": "ContentsCode"}
AGE_ROLES = {"region": "Region", "period": "Tid", "age": "Alder", "indicator": "ContentsCode"}


def population_table(**extra):
    return read_jsonstat(dataset(
        {"Region": ["0301", "030101a"], "Kjonn": ["1", "2"], "Alder": ["999D", "007"],
         "ContentsCode": ["Personer"], "Tid": ["2023"]},
        [100, 50, 60, 30, 10, None, 12, 7], **extra))


def test_to_tidy_ssb_population():
    table = population_table(status={"5": ":", "6": "*"})
    tidy = to_tidy(table, spec(dimensions=ALL_ROLES), **TIDY_ARGS)
    assert list(tidy.columns) == TIDY_COLUMNS
    assert len(tidy) == 8
    for column in ("source", "region_code", "sex", "age_group", "status", "provenance"):
        # compact text: a categorical of str categories, sorted so that sorting by it sorts as text
        assert isinstance(tidy[column].dtype, pd.CategoricalDtype)
        assert tidy[column].cat.categories.dtype == pd.Series(["x"]).dtype
        assert tidy[column].cat.categories.is_monotonic_increasing
    for column in ("value", "numerator", "denominator"):
        assert tidy[column].dtype == np.float64
    row = tidy.iloc[5]
    assert (row["region_code"], row["region_level"], row["sex"], row["age_group"], row["status"]) == \
        ("030101a", "district", "male", "7", ":")
    assert math.isnan(row["value"])
    provisional = tidy.iloc[6]
    assert (provisional["sex"], provisional["age_group"], provisional["value"], provisional["status"]) == \
        ("female", "total", 12.0, "*")
    assert tidy.iloc[0][["source", "table_id", "indicator_id", "unit", "period", "period_type"]].tolist() == \
        ["ssb", "99999", "population", "persons", "2023", "year"]
    assert tidy.iloc[0][["source_updated", "retrieved_at", "snapshot_sha256", "provenance"]].tolist() == \
        [TIDY_ARGS["source_updated"], TIDY_ARGS["retrieved_at"], TIDY_ARGS["snapshot_sha256"], "recorded"]
    assert tidy["status"].isna().sum() == 6


def test_to_tidy_without_sex_and_age_dimensions_means_total():
    table = read_jsonstat(dataset({"Region": ["0301"], "ContentsCode": ["Personer"], "Tid": ["2023"]}, [5]))
    tidy = to_tidy(table, spec(), **TIDY_ARGS)
    assert tidy[["sex", "age_group"]].values.tolist() == [["total", "total"]]


def fhi_table(value, status=None, measure_first=False):
    dimensions = {"GEO": ["030101", "030102"], "AAR": ["2018_2020", "2019_2021"],
                  "MEASURE_TYPE": ["RATE", "TELLER", "NEVNER"]}
    if measure_first:
        dimensions = {"MEASURE_TYPE": dimensions.pop("MEASURE_TYPE"), **dimensions}
    document = dataset(dimensions, value)
    for dimension in document["dimension"].values():
        dimension["category"]["index"] = list(dimension["category"]["index"])
    if status is not None:
        document["status"] = status
    return read_jsonstat(document)


FHI_SPEC = {
    "source": "fhi", "name": "fhi_123", "table_id": "123",
    "dimensions": {"region": "GEO", "period": "AAR", "indicator": "MEASURE_TYPE"},
    "indicators": {"RATE": {"indicator_id": "low_income_share", "unit": "percent"},
                   "TELLER": {"numerator_of": "low_income_share"},
                   "NEVNER": {"denominator_of": "low_income_share"}},
}


@pytest.mark.parametrize("measure_first", [False, True])
def test_numerator_and_denominator_align_on_the_other_dimensions(measure_first):
    # cells GEO x AAR, each RATE, TELLER, NEVNER
    cells = {("030101", 0): (10.0, 5, 50), ("030101", 1): (12.0, 6, 50),
             ("030102", 0): (20.0, 20, 100), ("030102", 1): (None, None, 90)}
    if measure_first:
        value = [cells[key][measure] for measure in range(3) for key in cells]
    else:
        value = [number for key in cells for number in cells[key]]
    tidy = to_tidy(fhi_table(value, measure_first=measure_first), spec(**FHI_SPEC), **TIDY_ARGS)
    assert tidy[["region_code", "period", "period_type", "indicator_id"]].values.tolist() == [
        ["030101", "2018-2020", "multi_year", "low_income_share"],
        ["030101", "2019-2021", "multi_year", "low_income_share"],
        ["030102", "2018-2020", "multi_year", "low_income_share"],
        ["030102", "2019-2021", "multi_year", "low_income_share"],
    ]
    assert tidy["value"].fillna(-1).tolist() == [10.0, 12.0, 20.0, -1]
    assert tidy["numerator"].fillna(-1).tolist() == [5.0, 6.0, 20.0, -1]
    assert tidy["denominator"].tolist() == [50.0, 50.0, 100.0, 90.0]
    assert (tidy["unit"] == "percent").all()


def test_fhi_flags_become_ssb_symbols():
    value = [1.0, 1, 10] * 4
    status = ["0", "", "", "1", "", "", "2", "", "", "3", "", ""]
    tidy = to_tidy(fhi_table(value, status), spec(**FHI_SPEC), **TIDY_ARGS)
    assert [None if pd.isna(symbol) else symbol for symbol in tidy["status"]] == [None, "..", ".", ":"]


def test_fhi_flag_strings_in_value_become_status():
    value = [1.0, 1, 10, "3", "3", 10, "2", None, None, 4.0, 1, 10]
    tidy = to_tidy(fhi_table(value), spec(**FHI_SPEC), **TIDY_ARGS)
    assert [None if pd.isna(symbol) else symbol for symbol in tidy["status"]] == [None, ":", ".", None]
    assert tidy["value"].isna().tolist() == [False, True, True, False]
    assert tidy["numerator"].isna().tolist() == [False, True, True, False]


def test_unknown_status_symbol_is_an_error():
    with pytest.raises(JsonStatError, match=r"status symbol\(s\) \['9'\] are not known"):
        to_tidy(fhi_table([1, 1, 1] * 4, status={"0": "9"}), spec(**FHI_SPEC), **TIDY_ARGS)


def test_numerator_without_its_value_code_is_an_error():
    document = dataset({"GEO": ["03"], "AAR": ["2020"], "MEASURE_TYPE": ["TELLER"]}, [5])
    with pytest.raises(JsonStatError, match="code 'TELLER' is numerator_of 'low_income_share', but the table "
                                            "has no code for that indicator"):
        to_tidy(read_jsonstat(document), spec(**FHI_SPEC), **TIDY_ARGS)


def test_fixed_dimension_is_checked_and_dropped():
    document = dataset({"Region": ["0301"], "HusholdType": ["0000"], "ContentsCode": ["Personer"],
                        "Tid": ["2023"]}, [7])
    tidy = to_tidy(read_jsonstat(document), spec(fixed={"HusholdType": "0000"}), **TIDY_ARGS)
    assert tidy["value"].tolist() == [7.0] and "HusholdType" not in tidy.columns
    with pytest.raises(JsonStatError, match=r"table 99999 \(ssb_99999, sources/ssb/test.yaml\): fixed "
                                            r"dimension 'HusholdType' must hold exactly '0001'"):
        to_tidy(read_jsonstat(document), spec(fixed={"HusholdType": "0001"}), **TIDY_ARGS)


def test_unmapped_dimension_is_an_error():
    document = dataset({"Region": ["0301"], "HusholdType": ["0000"], "ContentsCode": ["Personer"],
                        "Tid": ["2023"]}, [7])
    with pytest.raises(JsonStatError, match=r"\['HusholdType'\] are neither mapped"):
        to_tidy(read_jsonstat(document), spec(), **TIDY_ARGS)


def test_mapped_dimension_missing_from_the_table_is_an_error():
    document = dataset({"Region": ["0301"], "ContentsCode": ["Personer"], "Tid": ["2023"]}, [7])
    mapped = spec(dimensions={"region": "Region", "period": "Tid", "sex": "Kjonn",
                              "indicator": "ContentsCode"})
    with pytest.raises(JsonStatError, match="maps sex to dimension 'Kjonn', which the table does not have"):
        to_tidy(read_jsonstat(document), mapped, **TIDY_ARGS)


def test_unknown_indicator_code_is_an_error():
    document = dataset({"Region": ["0301"], "ContentsCode": ["Personer", "Husholdninger"], "Tid": ["2023"]},
                       [7, 3])
    with pytest.raises(JsonStatError, match=r"ContentsCode codes \['Husholdninger'\] are not in the spec"):
        to_tidy(read_jsonstat(document), spec(), **TIDY_ARGS)


def test_unknown_sex_code_is_an_error():
    with pytest.raises(JsonStatError, match="sex code '2' is not in sex_codes"):
        to_tidy(population_table(), spec(dimensions=ALL_ROLES, sex_codes={"1": "male"}), **TIDY_ARGS)


def test_two_codes_becoming_the_same_key_is_an_error():
    document = dataset({"Region": ["0301"], "Alder": ["999", "999D"], "ContentsCode": ["Personer"],
                        "Tid": ["2023"]}, [7, 7])
    mapped = spec(dimensions=AGE_ROLES)
    with pytest.raises(JsonStatError, match="dimension 'Alder' has two categories .* both become 'total'"):
        to_tidy(read_jsonstat(document), mapped, **TIDY_ARGS)


def test_age_codes_override():
    document = dataset({"Region": ["0301"], "Alder": ["F00-05"], "ContentsCode": ["Personer"],
                        "Tid": ["2023"]}, [7])
    mapped = spec(dimensions=AGE_ROLES,
                  age_codes={"F00-05": "0-5"})
    assert to_tidy(read_jsonstat(document), mapped, **TIDY_ARGS)["age_group"].tolist() == ["0-5"]


def test_school_year_period_type():
    document = dataset({"Region": ["0301"], "ContentsCode": ["Personer"], "Tid": ["2019-2020"]}, [7])
    tidy = to_tidy(read_jsonstat(document), spec(period_type="school_year"), **TIDY_ARGS)
    assert tidy[["period", "period_type"]].values.tolist() == [["2019-2020", "school_year"]]
