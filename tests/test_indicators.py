"""The indicator registry: the real assets/indicators load; bad files give errors naming file and key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ci_pipeline.config import ConfigError
from ci_pipeline.indicators import load_registry, registry_frame

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
id: {id}
name_nb: Barn i lavinntekt
name_en: Children in low income
definition: Illustrative test indicator.
unit: percent
polarity: higher_is_worse
kind: share
sources:
  - {{source: ssb, table_id: "08764", code: AndelBarnLavinnt}}
test: binomial
pooling_years: 3
district_method: not_available
"""


def test_project_registry_loads():
    registry = load_registry(REPO)
    assert len(registry) == 31 and registry["population_sex_age"].unit == "persons"
    by = registry["children_low_income_count"].apportion_by
    assert (by["indicator_id"], by["age_group"]) == ("population", "0-17")
    assert by["share"] == {"indicator_id": "low_income_children_persistent_share", "age_group": "0-17"}
    assert "persistent low income" in by["assumption"]
    assert registry["children_low_income_share"].district_method == "not_available"
    assert registry["school_wellbeing_share"].pooling_years == 5
    assert registry["population"].test == "poisson" and registry["median_household_income"].test == "none"
    frame = registry_frame(registry)
    assert frame["indicator_id"].is_unique and len(frame) == 31
    sources = json.loads(frame.set_index("indicator_id").loc["upper_secondary_dropout_share", "sources"])
    assert sources == [{"measure_type": "RATE", "source": "fhi", "table_id": "360"}]


def write(folder: Path, name: str, text: str) -> Path:
    (folder / "indicators").mkdir(exist_ok=True)
    path = folder / "indicators" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name, text, message", [
    ("x_share", GOOD.format(id="x_share").replace("pooling_years: 3\n", ""), r"x_share.yaml: pooling_years: required key is missing"),
    ("x_share", GOOD.format(id="other_id"), r"x_share.yaml: id: must equal the file name 'x_share'"),
    ("x_share", GOOD.format(id="x_share").replace("kind: share", "kind: ratio"), r"x_share.yaml: kind: Input should be 'share', 'count', 'rate' or 'amount' \(got 'ratio'\)"),
    ("x_share", GOOD.format(id="x_share").replace("not_available", "apportioned")
     + 'apportion_by: {indicator_id: population, age_group: "0-17", assumption: average prevalence}\n',
     r"x_share.yaml: district_method: apportioned is only for counts; a share is never spread over districts"),
    ("x_share", GOOD.format(id="x_share").replace('"08764"', "8764"), r"x_share.yaml: sources\[0\].table_id: must be a quoted string, got 8764"),
    ("x_share", GOOD.format(id="x_share") + "colour: red\n", r"x_share.yaml: colour: unknown key"),
    ("x_share", GOOD.format(id="x_share") + "goals: [a\n", r"x_share.yaml: not valid YAML"),
])
def test_bad_files_give_clear_errors(tmp_path, name, text, message):
    write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=message):
        load_registry(tmp_path)


def test_apportion_by_must_name_a_registered_indicator(tmp_path):
    count = (GOOD.format(id="x_count").replace("kind: share", "kind: count").replace("not_available", "apportioned")
             + 'apportion_by: {indicator_id: population, age_group: "0-17", assumption: average prevalence,\n'
             + '               share: {indicator_id: x_rate, age_group: "0-17"}}\n')
    write(tmp_path, "x_count", count)
    problems = problems_of(tmp_path)
    assert any(re.search(r"x_count.yaml: apportion_by.indicator_id: 'population' is not in the registry", p)
               for p in problems)
    assert any(re.search(r"x_count.yaml: apportion_by.share.indicator_id: 'x_rate' is not in the registry", p)
               for p in problems)


def test_apportionment_states_its_assumption_and_its_share_is_a_share(tmp_path):
    count = (GOOD.format(id="x_count").replace("kind: share", "kind: count").replace("not_available", "apportioned")
             + 'apportion_by: {indicator_id: x_count, age_group: "0-17"}\n')
    write(tmp_path, "x_count", count)
    assert any(p.endswith("apportion_by.assumption: required key is missing") for p in problems_of(tmp_path))
    write(tmp_path, "x_count", count.replace('"0-17"}', '"0-17", assumption: average prevalence,\n'
                                             '               share: {indicator_id: x_count, age_group: "0-17"}}'))
    assert problems_of(tmp_path) == [f"{tmp_path / 'indicators' / 'x_count.yaml'}: apportion_by.share.indicator_id: "
                                     "'x_count' is a count, not a share or rate"]


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no indicator files"):
        load_registry(tmp_path)


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_registry(root)
    return raised.value.problems


def test_a_typo_in_a_key_is_never_ignored(tmp_path):
    path = write(tmp_path, "x_share", GOOD.format(id="x_share").replace("unit: percent", "untis: percent"))
    assert problems_of(tmp_path) == [
        f"{path}: unit: required key is missing",
        f"{path}: untis: unknown key (check its spelling against the schema)",
    ]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    text = (GOOD.format(id="x_share").replace("kind: share", "kind: ratio").replace('"08764"', "8764")
            .replace("pooling_years: 3", 'pooling_years: "3"').replace("source: ssb", "source: eurostat")
            + "suppression: {min_numerator: -1, min_count: 3}\n")
    path = write(tmp_path, "x_share", text)
    assert problems_of(tmp_path) == [
        f"{path}: kind: Input should be 'share', 'count', 'rate' or 'amount' (got 'ratio')",
        f"{path}: sources[0].source: Input should be 'ssb', 'fhi', 'oslo' or 'reference' (got 'eurostat')",
        (f"{path}: sources[0].table_id: must be a quoted string, got 8764 (YAML reads an unquoted 0301 as the "
        "number 193 and yes as true)"),
        f"{path}: pooling_years: Input should be a valid integer (got '3')",
        f"{path}: suppression.min_numerator: Input should be greater than or equal to 0 (got -1)",
        f"{path}: suppression.min_count: unknown key (check its spelling against the schema)",
    ]


def test_problems_of_every_file_are_reported_together(tmp_path):
    first = write(tmp_path, "a_share", GOOD.format(id="a_share").replace("polarity: higher_is_worse\n", ""))
    write(tmp_path, "b_share", GOOD.format(id="b_share"))
    third = write(tmp_path, "c_share", GOOD.format(id="c-share"))
    assert problems_of(tmp_path) == [
        f"{first}: polarity: required key is missing",
        f"{third}: id: must be snake_case, got 'c-share'",
    ]


DERIVED = """\
id: young_share
name_nb: Unge
name_en: Young people
definition: Recipients 18-29 over residents 18-29.
unit: percent
polarity: higher_is_worse
kind: share
derived:
  numerator: {source: oslo, table_id: OK-SOS006, indicator_id: recipients, age_group: "18-29"}
  denominator: {source: ssb, table_id: "10826", indicator_id: population, ages: "18-29"}
  denominator_period_offset: 1
  alignment: per 31.12 of year t over per 1.1 of year t+1
  age_group: "18-29"
test: binomial
pooling_years: 1
district_method: derived
"""


def test_a_derived_indicator_takes_its_sources_from_its_numerator_and_denominator(tmp_path):
    write(tmp_path, "young_share", DERIVED)
    indicator = load_registry(tmp_path)["young_share"]
    assert indicator.sources == [{"source": "oslo", "table_id": "OK-SOS006"}, {"source": "ssb", "table_id": "10826"}]
    assert indicator.derived["denominator_period_offset"] == 1
    row = registry_frame({"young_share": indicator}).iloc[0]
    assert row["numerator"] == "recipients 18-29 (oslo table OK-SOS006)"
    assert row["denominator"] == "population ages 18-29 (ssb table 10826)"
    assert row["district_method"] == "derived"


@pytest.mark.parametrize("change, message", [
    (("district_method: derived", "district_method: observed"), r"district_method: must be derived for an indicator"),
    (("kind: share", "kind: count"), r"kind: a derived indicator is a count over a count: share or rate"),
    (('age_group: "18-29"}', 'age_group: "18-29", age_groups: ["18-24", "25-29"]}'),
     r"derived.numerator: give exactly one of age_group, age_groups, ages"),
    (("denominator_period_offset: 1", "denominator_period_offset: 2"),
     r"derived.denominator_period_offset: Input should be less than or equal to 1"),
    (("  alignment: per 31.12 of year t over per 1.1 of year t+1\n", ""), r"derived.alignment: required key is missing"),
    (('ages: "18-29"', 'ages: "18 to 29"'), r"derived.denominator.ages: must be a band of single years"),
    (("derived:\n", "sources: [{source: ssb, table_id: \"10826\"}]\nderived:\n"),
     r"sources: must be the numerator's and denominator's tables"),
])
def test_derivation_mistakes_name_the_file_and_key(tmp_path, change, message):
    write(tmp_path, "young_share", DERIVED.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_registry(tmp_path)


def test_district_method_derived_needs_a_derivation(tmp_path):
    text = GOOD.format(id="x_share").replace("not_available", "derived")
    write(tmp_path, "x_share", text)
    with pytest.raises(ConfigError, match=r"x_share.yaml: district_method: derived needs a `derived:` block"):
        load_registry(tmp_path)
