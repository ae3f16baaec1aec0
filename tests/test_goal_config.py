"""goals.yaml as pydantic models (issue 19): the three target forms, per-district overrides, `headline`,
and every validation error naming the file and the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from ci_pipeline.config import ConfigError
from ci_pipeline.goals.config import goals_frame, load_goals

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "goals": [{
        "id": "work", "name_nb": "Arbeid", "name_en": "Work", "description": "Fewer young people outside.",
        "indicators": [
            {"indicator_id": "outside_share", "source": "fhi", "baseline_period": "2019", "target_year": 2030,
             "polarity": "higher_is_worse", "scope": "each_district", "target_change_pct": -20},
            {"indicator_id": "leisure_share", "baseline_period": "2017-2019", "target_year": 2030,
             "polarity": "higher_is_better", "scope": "each_district", "target_close_pct": 50,
             "target_reference": "best_district"},
            {"indicator_id": "neet_share", "baseline_period": "2019", "target_year": 2030,
             "polarity": "higher_is_worse", "scope": "city", "target_value": 7.0},
            {"indicator_id": "outside_share", "baseline_period": "2019", "target_year": 2030,
             "polarity": "higher_is_worse", "scope": "gap", "target_change_pct": -30},
            {"indicator_id": "survey_support", "baseline_period": "2024-spring", "target_year": 2028,
             "polarity": "higher_is_better", "scope": "each_district", "target_close_pct": 50,
             "target_reference": "oslo",
             "overrides": {"0301": {"target_change_pct": 5, "reason": "Oslo as a whole"},
                           "030101": {"target_value": 70.0, "reason": "a new youth club opens"}}},
        ],
    }],
}


def load(tmp_path: Path, document: dict):
    path = tmp_path / "goals.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return load_goals(path)


def problems(tmp_path: Path, change) -> list[str]:
    document = copy.deepcopy(BASE)
    change(document)
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, document)
    shown = f"{tmp_path / 'goals.yaml'}: "
    assert all(line.startswith(shown) for line in raised.value.problems), raised.value.problems
    return [line.removeprefix(shown) for line in raised.value.problems]


def entry(document: dict, position: int) -> dict:
    return document["goals"][0]["indicators"][position]


def test_each_target_form_loads_and_is_named(tmp_path):
    relative, closing, absolute, gap, survey = load(tmp_path, BASE)[0].indicators
    assert (relative.target_form, relative.target_change_pct) == ("relative", -20)
    assert (closing.target_form, closing.target_close_pct, closing.target_reference) == ("gap_closing", 50,
                                                                                         "best_district")
    assert (absolute.target_form, absolute.target_value) == ("absolute", 7.0)
    assert gap.target_form == "relative" and gap.scope == "gap"
    assert survey.overrides["030101"].target_form == "absolute" and survey.overrides["0301"].target_form == "relative"
    assert all(item.headline for item in (relative, closing, absolute, gap, survey))


def test_the_goals_mart_states_each_form_and_its_overrides(tmp_path):
    frame = goals_frame(load(tmp_path, BASE)).set_index(["indicator_id", "scope"])
    assert frame.loc[("outside_share", "each_district"), "target_form"] == "relative"
    assert frame.loc[("outside_share", "each_district"), "target_change_pct"] == -20
    assert frame.loc[("leisure_share", "each_district"), "target_reference"] == "best_district"
    assert frame.loc[("neet_share", "city"), "target_value"] == 7.0
    overrides = json.loads(frame.loc[("survey_support", "each_district"), "target_overrides"])
    assert overrides["030101"] == {"target_value": 70.0, "reason": "a new youth club opens"}


def test_a_supporting_indicator_needs_no_target(tmp_path):
    document = copy.deepcopy(BASE)
    item = entry(document, 2)
    del item["target_value"]
    item["headline"] = False
    supporting = load(tmp_path, document)[0].indicators[2]
    assert not supporting.headline and supporting.target_form is None
    assert problems(tmp_path, lambda d: entry(d, 2).pop("target_value")) == [
        "goals[0].indicators[2].target_value: required key is missing: give target_value, target_change_pct or "
        "target_close_pct"]
    assert problems(tmp_path, lambda d: entry(d, 2).update(headline="no")) == [
        "goals[0].indicators[2].headline: Input should be a valid boolean (got 'no')"]


@pytest.mark.parametrize("change, expected", [
    # an unknown district in the overrides
    (lambda d: entry(d, 4)["overrides"].update({"030199": {"target_value": 60.0, "reason": "x"}}),
     "goals[0].indicators[4].overrides.030199: not an Oslo district: use a code 030101-030115 or 0301 (Oslo)"),
    (lambda d: entry(d, 4)["overrides"].update({"Gamle Oslo": {"target_value": 60.0, "reason": "x"}}),
     "goals[0].indicators[4].overrides.Gamle Oslo: not an Oslo district: use a code 030101-030115 or 0301 (Oslo)"),
    # a target in the wrong direction for the polarity
    (lambda d: entry(d, 0).update(target_change_pct=10),
     "goals[0].indicators[0].target_change_pct: points the wrong way for higher_is_worse: must be below 0 and "
     "above -100 (lower is better), got 10"),
    (lambda d: entry(d, 4).update(target_close_pct=None, target_reference=None, target_change_pct=-5),
     "goals[0].indicators[4].target_change_pct: points the wrong way for higher_is_better: must be above 0 "
     "(higher is better), got -5"),
    (lambda d: entry(d, 3).update(target_change_pct=15),
     "goals[0].indicators[3].target_change_pct: points the wrong way for a gap: must be below 0 and above -100 "
     "(the gap is to shrink), got 15"),
    (lambda d: entry(d, 4)["overrides"]["0301"].update(target_change_pct=-5),
     "goals[0].indicators[4].overrides.0301.target_change_pct: points the wrong way for higher_is_better: must be "
     "above 0 (higher is better), got -5"),
    (lambda d: entry(d, 1).update(target_close_pct=-50),
     "goals[0].indicators[1].target_close_pct: the share of the distance to close must be above 0 and at most "
     "100, got -50"),
    # a target year before the baseline
    (lambda d: entry(d, 0).update(target_year=2018),
     "goals[0].indicators[0].target_year: 2018 is before the baseline 2019"),
    (lambda d: entry(d, 4).update(target_year=2023),
     "goals[0].indicators[4].target_year: 2023 is before the baseline 2024-spring"),
    (lambda d: entry(d, 1).update(target_year=2019),
     "goals[0].indicators[1].target_year: the baseline 2017-2019 already ends in 2019"),
    # forms that do not fit
    (lambda d: entry(d, 0).update(target_value=5.0),
     "goals[0].indicators[0].target_change_pct: give one target form, not target_value and target_change_pct"),
    (lambda d: entry(d, 1).pop("target_reference"),
     "goals[0].indicators[1].target_close_pct: target_reference goes with target_close_pct (a gap-closing "
     "target), and target_close_pct needs it"),
    (lambda d: entry(d, 1).update(target_reference="bergen"),
     "goals[0].indicators[1].target_reference: Input should be 'oslo', 'norway' or 'best_district' (got 'bergen')"),
    (lambda d: entry(d, 3).update(target_change_pct=None, target_close_pct=50, target_reference="oslo"),
     "goals[0].indicators[3].target_close_pct: a gap goal is one figure for Oslo; give target_value or "
     "target_change_pct"),
    (lambda d: entry(d, 4).update(target_reference="norway"),
     "goals[0].indicators[4].target_reference: survey indicators have no figure for Norway"),
    (lambda d: entry(d, 2).update(overrides={"030101": {"target_value": 6.0, "reason": "x"}}),
     "goals[0].indicators[2].overrides.030101: overrides are for each_district goals; a city goal has one target"),
    (lambda d: entry(d, 4)["overrides"]["030101"].pop("reason"),
     "goals[0].indicators[4].overrides.030101.reason: required key is missing"),
    (lambda d: entry(d, 2).update(target_value=True), "goals[0].indicators[2].target_value: must be a number, "
     "got True"),
    (lambda d: entry(d, 2).update(target_value=float("nan")), "goals[0].indicators[2].target_value: must be a "
     "finite number, got nan"),
    (lambda d: entry(d, 0).update(target_years=2030), "goals[0].indicators[0].target_years: unknown key (check its "
     "spelling against the schema)"),
    (lambda d: d["goals"][0]["indicators"].append(dict(entry(d, 0))),
     "goals[0].indicators[5].indicator_id: outside_share is listed twice with scope each_district"),
])
def test_validation_errors_name_the_file_and_key(tmp_path, change, expected):
    assert problems(tmp_path, change) == [expected]


def test_every_problem_of_the_file_is_reported_at_once(tmp_path):
    def two_problems(document):
        entry(document, 0).update(target_change_pct=10)
        entry(document, 4)["overrides"]["030199"] = {"target_value": 60.0, "reason": "x"}

    assert len(problems(tmp_path, two_problems)) == 2


def test_the_shipped_goals_use_the_form_that_fits():
    goals = load_goals(REPO / "assets" / "goals.yaml")
    items = [item for goal in goals for item in goal.indicators]
    assert {item.target_form for item in items if item.scope == "each_district"} <= {"relative", "gap_closing"}
    assert {item.target_form for item in items if item.scope in ("city", "gap")} == {"absolute"}
    text = (REPO / "assets" / "goals.yaml").read_text(encoding="utf-8")
    for form in ("Relative:", "Absolute:", "Gap-closing"):
        assert form in text  # the choice is explained beside each goal
