"""The source catalogue loader: good files load into TableSpecs, each kind of mistake names file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci_pipeline.catalogue import (
    FhiTableSpec,
    OsloTableSpec,
    ReferenceSpec,
    SsbTableSpec,
    TableSpec,
    load_catalogue,
)
from ci_pipeline.config import ConfigError

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

OSLO_FILE = """\
source: oslo
name: oslo_sos006
table_id: OK-SOS006
table_path: "Trygd, sosiale tjenester og barnevern/Trygd/OK-SOS006.px"
title: "Mottakere av uføretrygd etter alder og kjønn (B)"
description: "Disability benefit recipients by district."
group: work
selection:
  - {variable: år, filter: all, values: ["*"]}
  - {variable: bosted, filter: item, values: ["301", "30101"]}
  - {variable: statistikkvariabel, filter: all, values: ["*"]}
dimensions: {region: bosted, period: år, indicator: statistikkvariabel}
fixed: {ContentsCode: EliminatedValue}
indicators:
  "0": {indicator_id: recipients, unit: persons}
not_used:
  "1": "no goal follows it"
small_groups: {below: 5, note: "figures under 5 are set to 0"}
reference_time: end_of_year
snapshot_provenance: recorded
"""

REFERENCE_FILE = """\
source: reference
table_id: imdi_low_income
title: "Vedvarende lavinntekt"
description: "Persistent low income by district."
group: income
series: [imdi_persistent_low_income_2012, imdi_persistent_low_income_2013]
indicators: [persistent_low_income_share]
not_used: {persistent_low_income_count: "no goal follows it"}
not_used_rows: [{period: "2010-2012", region_level: district, reason: "why"}]
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
    assert isinstance(ssb, SsbTableSpec) and ssb.request == ssb.selection
    assert not hasattr(ssb, "fhi_source") and not hasattr(ssb, "dimensions_filter")
    assert ssb.snapshot_provenance == "reconstructed"

    assert (fhi.source, fhi.name, fhi.fhi_source, fhi.path) == ("fhi", "fhi_360", "nokkel", fhi_path)
    assert fhi.dimensions == {"region": "GEO", "period": "AAR", "age": "ALDER", "indicator": "MEASURE_TYPE"}
    assert fhi.indicators["TELLER"] == {"numerator_of": "persistent_low_income_children"}
    assert fhi.dimensions_filter[1] == {"code": "AAR", "filter": "top", "values": ["3"]}
    assert isinstance(fhi, FhiTableSpec) and not hasattr(fhi, "selection")
    assert fhi.age_codes is None and fhi.period_type is None


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


def test_oslo_and_reference_entries_load_into_their_family_models(tmp_path):
    oslo_path = write(tmp_path, "oslo/sos006.yaml", OSLO_FILE)
    write(tmp_path, "reference/low_income.yaml", REFERENCE_FILE)
    oslo, reference = load_catalogue(tmp_path)

    assert isinstance(oslo, OsloTableSpec) and isinstance(oslo, TableSpec)
    assert (oslo.name, oslo.path, oslo.table_path) == ("oslo_sos006", oslo_path,
                                                       "Trygd, sosiale tjenester og barnevern/Trygd/OK-SOS006.px")
    assert oslo.request == oslo.selection and oslo.selection[1] == {"variable": "bosted", "filter": "item",
                                                                    "values": ["301", "30101"]}
    assert oslo.small_groups == {"below": 5, "note": "figures under 5 are set to 0"}
    assert oslo.not_used == {"1": "no goal follows it"} and oslo.reference_time == "end_of_year"

    assert isinstance(reference, ReferenceSpec) and not isinstance(reference, TableSpec)
    assert reference.name == "reference_imdi_low_income" and reference.snapshot_provenance == "reconstructed"
    assert reference.request == ["imdi_persistent_low_income_2012", "imdi_persistent_low_income_2013"]
    assert reference.not_used_rows == [{"period": "2010-2012", "region_level": "district", "reason": "why"}]


@pytest.mark.parametrize("relative, text, key, message", [
    ("oslo/x.yaml", OSLO_FILE.replace("reference_time: end_of_year\n", ""), "reference_time", "required key is missing"),
    ("oslo/x.yaml", OSLO_FILE.replace("OK-SOS006.px", "OK-SOS006"), "table_path", "must be the table's path in the bank"),
    ("oslo/x.yaml", OSLO_FILE.replace("filter: all", "filter: vs:Bydeler", 1), "selection[0].filter", "Input should be"),
    ("oslo/x.yaml", OSLO_FILE.replace('  - {variable: år, filter: all, values: ["*"]}\n', ""), "selection",
     "does not select ['år']"),
    ("oslo/x.yaml", OSLO_FILE.replace('{variable: bosted, filter: item, values: ["301", "30101"]}',
                                      '{variable: bosted, filter: item, values: [301]}'),
     "selection[1].values[0]", "must be a quoted string, got 301"),
    ("oslo/x.yaml", OSLO_FILE.replace('"1": "no goal follows it"', '"0": "no goal follows it"'), "not_used.0",
     "is also mapped in 'indicators'"),
    ("oslo/x.yaml", OSLO_FILE.replace("below: 5", "below: 0"), "small_groups.below", "greater than or equal to 1"),
    ("reference/x.yaml", REFERENCE_FILE.replace("series: [imdi_persistent_low_income_2012,", "series: [Bad-Name,"),
     "series[0]", "must be a series' file name"),
    ("reference/x.yaml", REFERENCE_FILE.replace("imdi_persistent_low_income_2013]", "imdi_persistent_low_income_2012]"),
     "series", "lists 'imdi_persistent_low_income_2012' twice"),
    ("reference/x.yaml", REFERENCE_FILE.replace("persistent_low_income_count:", "persistent_low_income_share:"),
     "not_used.persistent_low_income_share", "is also in 'indicators'"),
    ("reference/x.yaml", REFERENCE_FILE.replace("region_level: district", "region_level: bydel"),
     "not_used_rows[0].region_level", "Input should be"),
    ("reference/x.yaml", REFERENCE_FILE + "snapshot_provenance: recorded\n", "snapshot_provenance", "Input should be"),
])
def test_bad_oslo_and_reference_entries_name_the_file_and_key(tmp_path, relative, text, key, message):
    path = write(tmp_path, relative, text)
    expected = rf"(?m)^{re.escape(str(path))}: {re.escape(key)}: .*{re.escape(message)}"
    with pytest.raises(ConfigError, match=expected):
        load_catalogue(tmp_path)


def test_no_sources_folder_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no sources/ssb or sources/fhi or sources/oslo or sources/reference folder"):
        load_catalogue(tmp_path)


def test_duplicate_names_name_both_files(tmp_path):
    first = write(tmp_path, "ssb/a.yaml", SSB_FILE)
    second = write(tmp_path, "ssb/b.yaml", SSB_FILE)
    with pytest.raises(ConfigError) as raised:
        load_catalogue(tmp_path)
    assert str(second) in str(raised.value) and str(first) in str(raised.value)
    assert "'ssb_10826' is already used" in str(raised.value)


@pytest.mark.parametrize("relative, text, key, message", [
    ("ssb/x.yaml", SSB_FILE.replace('table_id: "10826"\n', ""), "table_id", "required key is missing"),
    ("ssb/x.yaml", SSB_FILE.replace('table_id: "10826"', "table_id: 10826"), "table_id",
     "must be a quoted string, got 10826 (YAML reads an unquoted 0301 as the number 193"),
    ("ssb/x.yaml", SSB_FILE + "colour: red\n", "colour", "unknown key"),
    ("ssb/x.yaml", SSB_FILE + "fhi_source: nokkel\n", "fhi_source", "unknown key"),
    ("fhi/x.yaml", SSB_FILE, "source", "is 'ssb' but the file is in the sources/fhi folder"),
    ("ssb/x.yaml", SSB_FILE.replace("source: ssb", "source: eurostat"), "source", "must be one of 'ssb', 'fhi', 'oslo', 'reference' (got 'eurostat')"),
    ("ssb/x.yaml", SSB_FILE.replace('values: ["1", "2"]', "values: [1, 2]"), "selection[1].values[0]",
     "must be a quoted string, got 1"),
    ("ssb/x.yaml", SSB_FILE.replace("{variable: Kjonn,", "{variabel: Kjonn,"), "selection[1].variabel",
     "unknown key"),
    ("ssb/x.yaml", SSB_FILE.replace("  - {variable: Kjonn, values: [\"1\", \"2\"]}\n", ""), "selection",
     "does not select ['Kjonn']"),
    ("ssb/x.yaml", SSB_FILE.replace("dimensions: {region: Region, period: Tid, sex: Kjonn, age: Alder,",
                                    "dimensions: {region: Region, period: Tid, sex: Kjonn,"), "selection",
     "selects ['Alder'], which are neither mapped"),
    ("ssb/x.yaml", SSB_FILE.replace('{variable: HusholdType, values: ["0000"]}',
                                    '{variable: HusholdType, values: ["0000", "0001"]}'), "selection",
     "fixed dimension 'HusholdType' must select only '0000'"),
    ("ssb/x.yaml", SSB_FILE.replace("region: Region, ", ""), "dimensions.region", "required key is missing"),
    ("ssb/x.yaml", SSB_FILE.replace("age: Alder", "alder: Alder"), "dimensions.alder", "unknown key"),
    ("ssb/x.yaml", SSB_FILE.replace("{indicator_id: population, unit: persons}",
                                    "{indicator_id: population}"),
     "indicators.Personer1.unit", "required key is missing"),
    ("ssb/x.yaml", SSB_FILE.replace("unit: persons", "unit: ''"), "indicators.Personer1.unit",
     "must not be empty"),
    ("ssb/x.yaml", SSB_FILE.replace('{"1": male, "2": female}', '{"1": man, "2": female}'), "sex_codes.1",
     "should be 'total', 'male' or 'female' (got 'man')"),
    ("ssb/x.yaml", SSB_FILE.replace('{"1": male', '{1: male'), "sex_codes.1", "the key must be a quoted string"),
    ("ssb/x.yaml", SSB_FILE + "period_type: week\n", "period_type", "should be 'multi_year' or 'school_year' (got 'week')"),
    ("ssb/x.yaml", SSB_FILE.replace("reconstructed", "real"), "snapshot_provenance",
     "should be 'recorded', 'reconstructed' or 'illustrative' (got 'real')"),
    ("ssb/x.yaml", SSB_FILE.replace("source: ssb\n", "source: ssb\nname: ssb-10826\n"), "name",
     "may only hold letters, digits and _"),
    ("ssb/x.yaml", SSB_FILE.replace('fixed: {HusholdType: "0000"}', 'fixed: {Region: "0301"}'),
     "fixed.Region", "is also mapped in 'dimensions'"),
    ("fhi/x.yaml", FHI_FILE.replace("filter: top", "filter: bottom"), "dimensions_filter[1].filter",
     "should be 'item', 'all' or 'top' (got 'bottom')"),
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
    ("fhi/x.yaml", FHI_FILE.replace("{numerator_of: persistent_low_income_children}",
                                    "{numerator_of: persistent_low_income_children, unit: persons}"),
     "indicators.TELLER.unit", "unknown key"),
    ("fhi/x.yaml", FHI_FILE.replace("measure: MEASURE_TYPE", "measure: MEASURE_TYPE, indicator: X"),
     "dimensions", "give either indicator or measure, not both"),
])
def test_bad_files_name_the_file_and_key(tmp_path, relative, text, key, message):
    path = write(tmp_path, relative, text)
    expected = rf"(?m)^{re.escape(str(path))}: {re.escape(key)}: .*{re.escape(message)}"
    with pytest.raises(ConfigError, match=expected):
        load_catalogue(tmp_path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "ssb/x.yaml", "source: [ssb\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid YAML"):
        load_catalogue(tmp_path)


def test_file_that_is_not_a_mapping_is_an_error(tmp_path):
    path = write(tmp_path, "ssb/x.yaml", "- ssb\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: \(top level\): must be a mapping of keys to values"):
        load_catalogue(tmp_path)


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_catalogue(root)
    return raised.value.problems


def test_a_typo_in_a_key_is_never_ignored(tmp_path):
    path = write(tmp_path, "ssb/x.yaml", SSB_FILE.replace("unit: persons", "untis: persons"))
    assert problems_of(tmp_path) == [
        f"{path}: indicators.Personer1.unit: required key is missing",
        f"{path}: indicators.Personer1.untis: unknown key (check its spelling against the schema)",
    ]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    text = (SSB_FILE.replace('table_id: "10826"', "table_id: 10826")
            .replace("reconstructed", "real")
            .replace("{variable: Tid,", "{variabel: Tid,")
            + "colour: red\n")
    path = write(tmp_path, "ssb/x.yaml", text)
    assert problems_of(tmp_path) == [
        (f"{path}: table_id: must be a quoted string, got 10826 (YAML reads an unquoted 0301 as the number 193 "
        "and yes as true)"),
        f"{path}: snapshot_provenance: Input should be 'recorded', 'reconstructed' or 'illustrative' (got 'real')",
        f"{path}: selection[5].variable: required key is missing",
        f"{path}: selection[5].variabel: unknown key (check its spelling against the schema)",
        f"{path}: colour: unknown key (check its spelling against the schema)",
    ]


def test_cross_field_problems_are_reported_together(tmp_path):
    text = (SSB_FILE.replace("  - {variable: Kjonn, values: [\"1\", \"2\"]}\n", "")
            .replace('{variable: HusholdType, values: ["0000"]}', '{variable: Husholdning, values: ["0000"]}'))
    path = write(tmp_path, "ssb/x.yaml", text)
    assert problems_of(tmp_path) == [
        f"{path}: selection: selects ['Husholdning'], which are neither mapped in 'dimensions' nor in 'fixed'",
        f"{path}: selection: does not select ['HusholdType', 'Kjonn'], which 'dimensions'/'fixed' name",
    ]


def test_problems_of_every_file_are_reported_together(tmp_path):
    ssb = write(tmp_path, "ssb/a.yaml", SSB_FILE.replace("period: Tid, ", ""))
    fhi = write(tmp_path, "fhi/b.yaml", FHI_FILE.replace('values: ["0_17"]', "values: [0]"))
    good = write(tmp_path, "fhi/c.yaml", FHI_FILE.replace('table_id: "360"', 'table_id: "361"'))
    problems = problems_of(tmp_path)
    assert problems == [
        f"{ssb}: dimensions.period: required key is missing",
        (f"{fhi}: dimensions_filter[2].values[0]: must be a quoted string, got 0 (YAML reads an unquoted 0301 as "
        "the number 193 and yes as true)"),
    ]
    assert not any(str(good) in problem for problem in problems)


def test_the_loader_sets_path_and_a_file_cannot(tmp_path):
    path = write(tmp_path, "ssb/x.yaml", SSB_FILE + "path: /elsewhere.yaml\n")
    assert problems_of(tmp_path) == [f"{path}: path: unknown key (check its spelling against the schema)"]


def test_a_folder_that_is_no_source_is_reported(tmp_path):
    write(tmp_path, "ssb/x.yaml", SSB_FILE)
    (tmp_path / "sources" / "fhl").mkdir()
    assert problems_of(tmp_path) == [f"{tmp_path / 'sources' / 'fhl'}: not a source folder (the sources are ssb, fhi, oslo, reference)"]


def test_the_indicator_role_is_required(tmp_path):
    path = write(tmp_path, "fhi/x.yaml", FHI_FILE.replace(", measure: MEASURE_TYPE", ""))
    assert problems_of(tmp_path) == [f"{path}: dimensions.indicator: required key is missing (or write measure:)"]
