"""The source catalogue loader: good files load into TableSpecs, each kind of mistake names file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci_pipeline.catalogue import CatalogueError, TableSpec, load_catalogue

SSB_FILE = """\
source: ssb
table_id: "10826"
title: "Personer, etter region, kjønn og alder"
title_en: "Persons, by region, sex and age"
description: "Population by district: the denominator for per-capita indicators."
group: population
selection:
  - {variable: Region, values: ["030101a", "030102a"], codelist: vs_Bydeler4StoreByerNye2}
  - {variable: Kjonn, values: ["1", "2"]}
  - {variable: Alder, values: ["*"]}
  - {variable: HusholdType, values: ["0000"]}
  - {variable: ContentsCode, values: [Personer1]}
  - {variable: Tid, values: ["top(5)"]}
dimensions: {region: Region, period: Tid, sex: Kjonn, age: Alder, indicator: ContentsCode}
fixed: {HusholdType: "0000"}
indicators:
  Personer1: {indicator_id: population, unit: persons}
sex_codes: {"1": male, "2": female}
snapshot_provenance: reconstructed
"""

FHI_FILE = """\
source: fhi
table_id: "360"
title: "Vedvarende lavinntekt (B)"
description: "Children in persistent low-income households."
group: work_and_livelihood
dimensions_filter:
  - {code: GEO, filter: item, values: ["030101", "030102"]}
  - {code: AAR, filter: top, values: ["3"]}
  - {code: ALDER, filter: item, values: ["0_17"]}
  - {code: MEASURE_TYPE, filter: all, values: ["*"]}
dimensions: {region: GEO, period: AAR, age: ALDER, measure: MEASURE_TYPE}
indicators:
  RATE: {indicator_id: persistent_low_income_children, unit: percent}
  TELLER: {numerator_of: persistent_low_income_children}
  NEVNER: {denominator_of: persistent_low_income_children}
"""


def write(root: Path, relative: str, text: str) -> Path:
    path = root / "sources" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_files_load(tmp_path):
    ssb_path = write(tmp_path, "ssb/10826.yaml", SSB_FILE)
    fhi_path = write(tmp_path, "fhi/360.yaml", FHI_FILE)
    ssb, fhi = load_catalogue(tmp_path)

    assert isinstance(ssb, TableSpec)
    assert (ssb.source, ssb.name, ssb.table_id, ssb.path) == ("ssb", "ssb_10826", "10826", ssb_path)
    assert ssb.title_en == "Persons, by region, sex and age"
    assert ssb.selection[0] == {"variable": "Region", "values": ["030101a", "030102a"],
                                "codelist": "vs_Bydeler4StoreByerNye2"}
    assert ssb.selection[1]["codelist"] is None
    assert ssb.fixed == {"HusholdType": "0000"}
    assert ssb.sex_codes == {"1": "male", "2": "female"}
    assert ssb.fhi_source is None and ssb.dimensions_filter == ()
    assert ssb.snapshot_provenance == "reconstructed"

    assert (fhi.source, fhi.name, fhi.fhi_source, fhi.path) == ("fhi", "fhi_360", "nokkel", fhi_path)
    assert fhi.dimensions == {"region": "GEO", "period": "AAR", "age": "ALDER", "indicator": "MEASURE_TYPE"}
    assert fhi.indicators["TELLER"] == {"numerator_of": "persistent_low_income_children"}
    assert fhi.dimensions_filter[1] == {"code": "AAR", "filter": "top", "values": ["3"]}
    assert fhi.selection == () and fhi.age_codes is None and fhi.period_type is None


def test_explicit_name_and_overrides(tmp_path):
    text = SSB_FILE.replace('source: ssb\n', 'source: ssb\nname: population_by_district\n') \
        + 'age_codes: {"999D": total}\nperiod_type: school_year\n'
    write(tmp_path, "ssb/10826.yaml", text)
    (loaded,) = load_catalogue(tmp_path)
    assert loaded.name == "population_by_district"
    assert loaded.age_codes == {"999D": "total"} and loaded.period_type == "school_year"


def test_only_one_source_folder_is_enough(tmp_path):
    write(tmp_path, "fhi/360.yaml", FHI_FILE)
    assert [spec.name for spec in load_catalogue(tmp_path)] == ["fhi_360"]


def test_no_sources_folder_is_an_error(tmp_path):
    with pytest.raises(CatalogueError, match="no sources/ssb or sources/fhi folder"):
        load_catalogue(tmp_path)


def test_duplicate_names_name_both_files(tmp_path):
    first = write(tmp_path, "ssb/a.yaml", SSB_FILE)
    second = write(tmp_path, "ssb/b.yaml", SSB_FILE)
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(tmp_path)
    assert str(second) in str(raised.value) and str(first) in str(raised.value)
    assert "'ssb_10826' is already used" in str(raised.value)


@pytest.mark.parametrize("relative, text, key, message", [
    ("ssb/x.yaml", SSB_FILE.replace('table_id: "10826"\n', ""), "table_id", "is required"),
    ("ssb/x.yaml", SSB_FILE.replace('table_id: "10826"', "table_id: 10826"), "table_id",
     "must be a non-empty string, got 10826 (quote codes"),
    ("ssb/x.yaml", SSB_FILE + "colour: red\n", "colour", "is not a ssb catalogue key"),
    ("ssb/x.yaml", SSB_FILE + "fhi_source: nokkel\n", "fhi_source", "is not a ssb catalogue key"),
    ("fhi/x.yaml", SSB_FILE, "source", "is 'ssb' but the file is in the sources/fhi folder"),
    ("ssb/x.yaml", SSB_FILE.replace("source: ssb", "source: eurostat"), "source", "must be one of ssb, fhi"),
    ("ssb/x.yaml", SSB_FILE.replace('values: ["1", "2"]', "values: [1, 2]"), "selection[1].values[0]",
     "must be a string, got 1 (quote codes"),
    ("ssb/x.yaml", SSB_FILE.replace("{variable: Kjonn,", "{variabel: Kjonn,"), "selection[1].variabel",
     "is not a selection key"),
    ("ssb/x.yaml", SSB_FILE.replace("  - {variable: Kjonn, values: [\"1\", \"2\"]}\n", ""), "selection",
     "does not select ['Kjonn']"),
    ("ssb/x.yaml", SSB_FILE.replace("dimensions: {region: Region, period: Tid, sex: Kjonn, age: Alder,",
                                    "dimensions: {region: Region, period: Tid, sex: Kjonn,"), "selection",
     "selects ['Alder'], which are neither mapped"),
    ("ssb/x.yaml", SSB_FILE.replace('{variable: HusholdType, values: ["0000"]}',
                                    '{variable: HusholdType, values: ["0000", "0001"]}'), "selection",
     "fixed dimension 'HusholdType' must select only '0000'"),
    ("ssb/x.yaml", SSB_FILE.replace("region: Region, ", ""), "dimensions.region", "is required"),
    ("ssb/x.yaml", SSB_FILE.replace("age: Alder", "alder: Alder"), "dimensions.alder", "is not a role"),
    ("ssb/x.yaml", SSB_FILE.replace("{indicator_id: population, unit: persons}",
                                    "{indicator_id: population}"),
     "indicators.Personer1", "must be {indicator_id, unit}"),
    ("ssb/x.yaml", SSB_FILE.replace("unit: persons", "unit: ''"), "indicators.Personer1.unit",
     "must be a non-empty string"),
    ("ssb/x.yaml", SSB_FILE.replace('{"1": male, "2": female}', '{"1": man, "2": female}'), "sex_codes.1",
     "is 'man'; must be one of total, male, female"),
    ("ssb/x.yaml", SSB_FILE.replace('{"1": male', '{1: male'), "sex_codes.1", "the key must be a string"),
    ("ssb/x.yaml", SSB_FILE + "period_type: week\n", "period_type", "must be one of multi_year, school_year"),
    ("ssb/x.yaml", SSB_FILE.replace("reconstructed", "real"), "snapshot_provenance",
     "must be one of recorded, reconstructed, illustrative"),
    ("ssb/x.yaml", SSB_FILE.replace("source: ssb\n", "source: ssb\nname: ssb-10826\n"), "name",
     "may only hold letters, digits and _"),
    ("ssb/x.yaml", SSB_FILE.replace('fixed: {HusholdType: "0000"}', 'fixed: {Region: "0301"}'),
     "fixed.Region", "is also mapped in 'dimensions'"),
    ("fhi/x.yaml", FHI_FILE.replace("filter: top", "filter: bottom"), "dimensions_filter[1].filter",
     "is 'bottom'; must be one of item, all, top"),
    ("fhi/x.yaml", FHI_FILE.replace("  - {code: ALDER, filter: item, values: [\"0_17\"]}\n", ""),
     "dimensions_filter", "does not select ['ALDER']"),
    ("fhi/x.yaml", FHI_FILE.replace("{numerator_of: persistent_low_income_children}",
                                    "{numerator_of: low_income}"),
     "indicators.TELLER.numerator_of", "'low_income' is not the indicator_id of any value entry"),
    ("fhi/x.yaml", FHI_FILE.replace("{denominator_of: persistent_low_income_children}",
                                    "{numerator_of: persistent_low_income_children}"),
     "indicators.NEVNER.numerator_of", "already has numerator 'TELLER'"),
    ("fhi/x.yaml", FHI_FILE.replace("{denominator_of: persistent_low_income_children}",
                                    "{indicator_id: persistent_low_income_children, unit: persons}"),
     "indicators.NEVNER", "indicator_id 'persistent_low_income_children' is also given by 'RATE'"),
    ("fhi/x.yaml", FHI_FILE.replace("measure: MEASURE_TYPE", "measure: MEASURE_TYPE, indicator: X"),
     "dimensions", "give either indicator or measure, not both"),
])
def test_bad_files_name_the_file_and_key(tmp_path, relative, text, key, message):
    path = write(tmp_path, relative, text)
    expected = rf"^{re.escape(str(path))}: {re.escape(key)}: .*{re.escape(message)}"
    with pytest.raises(CatalogueError, match=expected):
        load_catalogue(tmp_path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "ssb/x.yaml", "source: [ssb\n")
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}: not valid YAML"):
        load_catalogue(tmp_path)


def test_file_that_is_not_a_mapping_is_an_error(tmp_path):
    path = write(tmp_path, "ssb/x.yaml", "- ssb\n")
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}: the file must hold a mapping"):
        load_catalogue(tmp_path)
