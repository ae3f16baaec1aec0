"""ci_pipeline.goals: goals.yaml loading and the goal_progress rules, on small hand-made frames."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from ci_pipeline import stats
from ci_pipeline.config import ConfigError
from ci_pipeline.goals.config import (
    GOALS_COLUMNS,
    OSLO_DISTRICTS,
    Goal,
    GoalsError,
    check_goals_against,
    goals_frame,
    load_goals,
    survey_polarity,
)
from ci_pipeline.goals.progress import build_goal_progress
from ci_pipeline.periods import parse_period

REPO = Path(__file__).resolve().parents[1]
DISTRICTS = list(OSLO_DISTRICTS)
MOVING_PERIODS = [f"{first}-{first + 2}" for first in range(2015, 2022)]  # 2015-2017 ... 2021-2023

# Districts with a clearly high (worse) and a clearly low (better) dropout share; the rest sit near Oslo.
HIGH, LOW, SUPPRESSED, ABSENT = "030101", "030107", "030105", "030103"

REGISTRY = {
    "dropout_share": SimpleNamespace(name_en="Dropout", name_nb="Frafall", unit="percent", polarity="higher_is_worse", kind="share", test="binomial",
                                     pooling_years=1),
    "leisure_share": SimpleNamespace(name_en="Leisure activity", name_nb="Fritidsaktivitet", unit="percent", polarity="higher_is_better", kind="share", test="binomial",
                                     pooling_years=1),
    "neet_share": SimpleNamespace(name_en="Not in work or education", name_nb="Utenfor arbeid og utdanning",
                                  unit="percent", polarity="higher_is_worse", kind="share", test="binomial",
                                  pooling_years=3),
}
SURVEY_NAMES = {"survey_support": "Gets support at school"}

GOALS_YAML = {
    "goals": [
        {"id": "completion", "name_nb": "Fullføring", "name_en": "Completion", "description": "Fewer drop out.",
         "indicators": [
             {"indicator_id": "dropout_share", "baseline_period": "2015-2017", "target_value": 10.0,
              "target_year": 2030, "polarity": "higher_is_worse", "scope": "each_district"},
             {"indicator_id": "survey_support", "baseline_period": "2024-spring", "target_value": 80.0,
              "target_year": 2028, "polarity": "higher_is_better", "scope": "each_district"},
         ]},
        {"id": "activity", "name_nb": "Aktivitet", "name_en": "Activity",
         "indicators": [
             {"indicator_id": "leisure_share", "baseline_period": "2015-2017", "target_value": 70.0,
              "target_year": 2030, "polarity": "higher_is_better", "scope": "city"},
         ]},
        {"id": "work", "name_nb": "Arbeid", "name_en": "Work",
         "indicators": [
             {"indicator_id": "neet_share", "source": "ssb", "baseline_period": "2015-2017", "target_value": 5.0,
              "target_year": 2030, "polarity": "higher_is_worse", "scope": "city"},
         ]},
        {"id": "gaps", "name_nb": "Forskjeller", "name_en": "Gaps",
         "indicators": [
             {"indicator_id": "dropout_share", "baseline_period": "2015-2017", "target_value": 8.0,
              "target_year": 2030, "polarity": "higher_is_worse", "scope": "gap"},
         ]},
    ]
}


def _observation(indicator, table, region, period, value, numerator=np.nan, denominator=np.nan, status=None,
                 provenance="recorded", source="fhi", age_group="total"):
    return {
        "source": source, "table_id": table, "indicator_id": indicator, "region_code": region,
        "region_level": "country" if region == "0" else "municipality" if region == "0301" else "district",
        "period": period, "period_type": "multi_year" if "-" in period else "year", "sex": "total",
        "age_group": age_group, "value": value, "unit": "percent", "numerator": numerator,
        "denominator": denominator, "status": status, "source_updated": "2024-01-01T00:00:00Z",
        "retrieved_at": "2024-01-02T00:00:00Z", "snapshot_sha256": "0" * 64, "provenance": provenance,
        "original_region_code": region, "region_name": f"Region {region}", "method": "observed",
        "is_estimate": False,
    }


def make_indicator_values() -> pd.DataFrame:
    rows = []
    for step, period in enumerate(MOVING_PERIODS):
        oslo_x = oslo_n = 0
        for district in DISTRICTS:
            n = 600
            share = {HIGH: 0.30, LOW: 0.05}.get(district, 0.16) - 0.005 * step
            x = round(n * share)
            oslo_x, oslo_n = oslo_x + x, oslo_n + n
            if district == ABSENT:
                continue
            if district == SUPPRESSED and period == MOVING_PERIODS[-1]:
                rows.append(_observation("dropout_share", "360", district, period, np.nan, status=":"))
                continue
            rows.append(_observation("dropout_share", "360", district, period, 100 * x / n, x, n))
        rows.append(_observation("dropout_share", "360", "0301", period, 100 * oslo_x / oslo_n, oslo_x, oslo_n))
        norway_x, norway_n = round(200000 * (0.17 - 0.004 * step)), 200000
        rows.append(_observation("dropout_share", "360", "0", period, 100 * norway_x / norway_n, norway_x,
                                 norway_n, provenance="illustrative" if step == len(MOVING_PERIODS) - 1 else "recorded"))
        for region in ["0301", *DISTRICTS]:
            rows.append(_observation("leisure_share", "401", region, period, 60.0 + step))
    for year in range(2015, 2024):
        for region, n in (("0301", 150000), ("0", 1000000)):
            x = round(n * (0.08 - 0.001 * (year - 2015)))
            status = ":" if (region == "0301" and year == 2019) else None
            rows.append(_observation("neet_share", "13563", region, str(year), np.nan if status else 100 * x / n,
                                     np.nan if status else x, np.nan if status else n, status=status, source="ssb",
                                     age_group="15-29"))
    frame = pd.DataFrame(rows)
    frame["status"] = frame["status"].astype(object).where(frame["status"].notna(), None)
    return frame


def make_survey_results() -> pd.DataFrame:
    rows = []
    waves = [("2024-spring", "2024-04-15", "a"), ("2024-autumn", "2024-10-15", "a"), ("2025-spring", "2025-04-15", "a"),
             ("2025-autumn", "2025-10-15", "b")]
    for position, (wave, wave_date, version) in enumerate(waves):
        for region in ["0301", *DISTRICTS]:
            n = 600 if region == "0301" else 40
            positives = round(n * (0.5 + 0.02 * position))
            suppressed = region == "030115" and position == 3
            rows.append({
                "wave": wave, "wave_date": wave_date, "district_code": region, "focus_area": "education",
                "indicator_id": "survey_support",
                "question_set_version": "b" if region == "030102" and position == 3 else "a",
                "group_type": "total", "group_value": "total", "n": np.nan if suppressed else n,
                "share_positive": np.nan if suppressed else positives / n, "mean": np.nan,
                "ci_low": np.nan if suppressed else positives / n - 0.1,
                "ci_high": np.nan if suppressed else positives / n + 0.1, "weighted": False,
                "status": ":" if suppressed else None, "provenance": "illustrative",
            })
            rows.append({**rows[-1], "group_type": "sex", "group_value": "female"})
    return pd.DataFrame(rows)


def make_goals(tmp_path: Path, document: dict = GOALS_YAML) -> list[Goal]:
    path = tmp_path / "goals.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return load_goals(path)


def make_inputs(tmp_path: Path):
    """Everything build_goal_progress and write_report take: frames, goals, registry, survey names."""
    return make_indicator_values(), make_survey_results(), make_goals(tmp_path), REGISTRY, SURVEY_NAMES


@pytest.fixture(scope="module")
def progress(tmp_path_factory) -> pd.DataFrame:
    indicator_values, survey_results, goals, registry, survey_names = make_inputs(tmp_path_factory.mktemp("goals"))
    return build_goal_progress(indicator_values, survey_results, goals, registry, survey_names)


def _row(progress, goal, indicator, region, measure="value") -> pd.Series:
    rows = progress[(progress["goal_id"] == goal) & (progress["indicator_id"] == indicator)
                    & (progress["region_code"] == region) & (progress["measure"] == measure)]
    assert len(rows) == 1
    return rows.iloc[0]


# --- goals.yaml ----------------------------------------------------------------------------------


def test_project_goals_load_and_match_the_survey_codebook():
    goals = load_goals(REPO / "assets" / "goals.yaml")
    assert {g.id for g in goals} == {"play_and_activity", "upper_secondary_completion", "work_attachment",
                                     "smaller_district_gaps"}
    scopes = {item.scope for goal in goals for item in goal.indicators}
    assert scopes == {"city", "each_district", "gap"}
    codebook = yaml.safe_load((REPO / "assets" / "surveys" / "codebook.yaml").read_text(encoding="utf-8"))
    survey = {indicator["id"]: survey_polarity(indicator["polarity"])
              for area in codebook["focus_areas"] for indicator in area["indicators"]}
    survey_items = [item for goal in goals for item in goal.indicators if item.is_survey]
    assert survey_items, "every goal should have a survey indicator"
    for item in survey_items:
        assert survey[item.indicator_id] == item.polarity


@pytest.mark.parametrize("change, message", [
    (lambda d: d["goals"][0].pop("name_en"), r"goals\[0\]\.name_en: required key is missing"),
    (lambda d: d["goals"][0]["indicators"][0].update(scope="town"),
     r"goals\[0\]\.indicators\[0\]\.scope: Input should be 'city', 'each_district' or 'gap' \(got 'town'\)"),
    (lambda d: d["goals"][0]["indicators"][0].update(colour="red"), r"goals\[0\]\.indicators\[0\]\.colour: unknown key"),
    (lambda d: d["goals"][1].update(id="completion"), r"goals\[1\]\.id: completion is used by more than one goal"),
    (lambda d: d["goals"][0]["indicators"][0].update(target_year="2030"), r"\.target_year: Input should be a valid integer"),
    (lambda d: d["goals"][0]["indicators"][0].update(target_value="ten"), r"\.target_value: must be a number, got .ten."),
    (lambda d: d["goals"][0]["indicators"][0].update(baseline_period="2031-2033"),
     r"goals\[0\]\.indicators\[0\]\.target_year: 2030 is before the baseline 2031-2033"),
    (lambda d: d["goals"][0]["indicators"][0].update(baseline_period="spring"),
     r"goals\[0\]\.indicators\[0\]\.baseline_period: period"),
    (lambda d: d["goals"][0]["indicators"][0].update(baseline_period=2015), r"\.baseline_period: must be a quoted string"),
    (lambda d: d["goals"][0]["indicators"][0].update(headline="no"), r"\.headline: Input should be a valid boolean"),
])
def test_load_goals_errors_name_file_and_key(tmp_path, change, message):
    document = yaml.safe_load(yaml.safe_dump(GOALS_YAML))
    change(document)
    with pytest.raises(ConfigError, match=message) as error:
        make_goals(tmp_path, document)
    assert all(line.startswith(f"{tmp_path / 'goals.yaml'}: ") for line in error.value.problems)


def test_load_goals_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="the file does not exist"):
        load_goals(tmp_path / "nope.yaml")


def test_goals_checked_against_registry_and_codebook(tmp_path):
    goals = make_goals(tmp_path)
    check_goals_against(goals, REGISTRY, {"survey_support": "higher_is_better"})
    with pytest.raises(ConfigError, match=r"goals\[0\]\.indicators\[1\]\.indicator_id: survey_support is not an "
                                          "indicator of the survey codebook"):
        check_goals_against(goals, REGISTRY, {})
    wrong = {**REGISTRY, "leisure_share": SimpleNamespace(**{**vars(REGISTRY["leisure_share"]),
                                                             "polarity": "higher_is_worse"})}
    with pytest.raises(ConfigError, match=r"goals\[1\]\.indicators\[0\]\.polarity: higher_is_better disagrees"):
        check_goals_against(goals, wrong, {"survey_support": "higher_is_better"})


def test_goals_frame(tmp_path):
    frame = goals_frame(make_goals(tmp_path))
    assert list(frame.columns) == GOALS_COLUMNS
    assert len(frame) == 5
    assert set(frame["data_source"]) == {"statistics", "survey"}


@pytest.mark.parametrize("period, time", [("2021", 2021.0), ("2018-2020", 2020.0), ("2024K3", 2024.5)])
def test_period_time(period, time):
    assert parse_period(period).time == time


def test_period_errors():
    with pytest.raises(ValueError, match="is not a year"):
        parse_period("last year")
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_period("2020-2018")


# --- goal_progress ---------------------------------------------------------------------------------


def test_a_row_for_every_goal_indicator_and_bydel(progress, tmp_path):
    for goal in make_goals(tmp_path):
        for item in goal.indicators:
            rows = progress[(progress["goal_id"] == goal.id) & (progress["indicator_id"] == item.indicator_id)
                            & (progress["measure"] == "value")]
            assert set(DISTRICTS) | {"0301"} <= set(rows["region_code"])
            assert rows["region_code"].is_unique
    # Norway only where the indicator has a Norway figure
    assert "0" in set(progress.loc[progress["indicator_id"] == "dropout_share", "region_code"])
    assert "0" not in set(progress.loc[progress["indicator_id"] == "leisure_share", "region_code"])
    assert "0" not in set(progress.loc[progress["indicator_id"] == "survey_support", "region_code"])


def test_suppressed_latest_value_is_insufficient_data_with_its_symbol(progress):
    row = _row(progress, "completion", "dropout_share", SUPPRESSED)
    assert row["status"] == "insufficient_data"
    assert row["latest_status"] == ":" and pd.isna(row["latest_value"])
    assert row["latest_period"] == MOVING_PERIODS[-1]
    assert row["comparison_norway"] == "not_tested" and pd.isna(row["comparison_norway_p_value"])


def test_a_district_without_figures_keeps_its_row(progress):
    row = _row(progress, "completion", "dropout_share", ABSENT)
    assert row["status"] == "insufficient_data" and "no figures" in row["status_reason"]
    assert pd.isna(row["latest_value"]) and row["trend_n_points"] == 0


def test_comparisons_use_the_registry_test_and_claim_significance_only_when_q_below_alpha(progress):
    high = _row(progress, "completion", "dropout_share", HIGH)
    low = _row(progress, "completion", "dropout_share", LOW)
    assert high["comparison_norway"] == "worse" and low["comparison_norway"] == "better"
    assert high["comparison_norway_test"] == "binomial"
    norway = _row(progress, "completion", "dropout_share", "0")
    expected = stats.binomial_test(high["latest_numerator"], high["latest_denominator"],
                                   norway["latest_value"] / 100)
    assert high["comparison_norway_p_value"] == pytest.approx(expected.p_value)
    assert high["comparison_norway_reference_value"] == pytest.approx(norway["latest_value"])
    # Against Oslo: the rest of Oslo (Oslo minus the district) is the second sample, and the mart stores it
    oslo = _row(progress, "completion", "dropout_share", "0301")
    rest_x = oslo["latest_numerator"] - high["latest_numerator"]
    rest_n = oslo["latest_denominator"] - high["latest_denominator"]
    rest = stats.compare_two_shares(high["latest_numerator"], high["latest_denominator"], rest_x, rest_n)
    assert high["comparison_oslo_test"] == "fisher_exact"
    assert high["comparison_oslo_p_value"] == pytest.approx(rest.p_value)
    assert high["comparison_oslo_reference_area"] == "rest_of_oslo"
    assert high["comparison_oslo_reference_value"] == pytest.approx(100 * rest_x / rest_n)
    assert high["comparison_oslo_reference_value"] != pytest.approx(oslo["latest_value"])
    for name in ("oslo", "norway"):
        called = progress[progress[f"comparison_{name}"].isin(["better", "worse"])]
        assert (called[f"comparison_{name}_q_value"] < stats.ALPHA).all()
        quiet = progress[progress[f"comparison_{name}"] == "not_significant"]
        assert (quiet[f"comparison_{name}_q_value"] >= stats.ALPHA).all()
        tested = progress[progress[f"comparison_{name}_q_value"].notna()]
        assert (tested[f"comparison_{name}_q_value"] >= tested[f"comparison_{name}_p_value"] * (1 - 1e-12)).all()
    ordinary = _row(progress, "completion", "dropout_share", "030110")
    assert ordinary["comparison_oslo"] == "not_significant"


def test_no_counts_means_not_tested(progress):
    row = _row(progress, "activity", "leisure_share", "030110")
    assert row["comparison_oslo"] == "not_tested" and pd.isna(row["comparison_oslo_p_value"])
    assert "no numerator and denominator" in row["comparison_note"]
    assert pd.isna(row["comparison_oslo_reference_value"]) and pd.isna(row["comparison_oslo_reference_area"])
    assert row["trend_test"] == "ols" and row["trend_status"] == "too_few_points"


def test_provenance_is_illustrative_when_any_input_is(progress):
    # the Norway figure of the latest period is illustrative in the fixture
    assert _row(progress, "completion", "dropout_share", HIGH)["provenance"] == "illustrative"
    assert _row(progress, "activity", "leisure_share", HIGH)["provenance"] == "recorded"


def test_status_rule(progress):
    high = _row(progress, "completion", "dropout_share", HIGH)
    # baseline 30 % (2017), target 10 % by 2030: 6 of 13 years gone, so 46 % of the way is expected by 2023
    assert high["baseline_value"] == pytest.approx(30.0) and high["latest_value"] == pytest.approx(27.0)
    assert high["target_form"] == "absolute" and high["target_value"] == 10.0
    assert high["progress_pct"] == pytest.approx((27.0 - 30.0) / (10.0 - 30.0) * 100)
    assert high["expected_progress_pct"] == pytest.approx(6 / 13 * 100)
    assert high["status"] == "off_track" and "behind the 46 %" in high["status_reason"]
    assert high["change_direction"] == "improved" and not high["meets_target"]
    low = _row(progress, "completion", "dropout_share", LOW)
    # 5 % at baseline already meets 10 %: no progress percentage, never "on track"
    assert low["status"] == "target_met_at_baseline" and pd.isna(low["progress_pct"])
    leisure = _row(progress, "activity", "leisure_share", "0301")
    # 60 -> 66 over 2017-2023 toward 70 by 2030: 60 % of the way where 46 % is expected
    assert leisure["status"] == "on_track" and leisure["headline"] and leisure["progress_pct"] == pytest.approx(60.0)
    # a city goal's target is Oslo's: the bydeler are shown, not judged
    district = _row(progress, "activity", "leisure_share", "030101")
    assert district["status"] == "no_target" and not district["target_applies"] and pd.isna(district["target_value"])
    assert district["status_reason"] == "the target is for Oslo as a whole"
    assert _row(progress, "completion", "dropout_share", "0")["status"] == "no_target"


def test_trend_uses_non_overlapping_periods(progress):
    row = _row(progress, "completion", "dropout_share", "0301")
    assert row["trend_test"] == "quasi_binomial" and row["trend_slope_scale"] == "log_odds"
    assert row["trend_n_points"] == 3  # 2015-2017, 2018-2020, 2021-2023 of seven moving periods
    assert row["trend_status"] == "too_few_points" and pd.isna(row["trend_p_value"])
    assert row["trend_direction"] is None or pd.isna(row["trend_direction"])
    assert not row["trend_significant"] and row["trend_label"] == "illustrative"


def test_pooling_sums_counts_where_the_registry_asks(progress, tmp_path):
    indicator_values = make_indicator_values()
    oslo = _row(progress, "work", "neet_share", "0301")
    assert oslo["latest_period"] == "2021-2023" and oslo["n_years"] == 3
    years = indicator_values[(indicator_values["indicator_id"] == "neet_share")
                             & (indicator_values["region_code"] == "0301")
                             & indicator_values["period"].isin(["2021", "2022", "2023"])]
    assert oslo["latest_value"] == pytest.approx(100 * years["numerator"].sum() / years["denominator"].sum())
    # 2019 is suppressed in Oslo: every 3-year period containing it is suppressed, the baseline is not
    assert oslo["baseline_period"] == "2015-2017" and not pd.isna(oslo["baseline_value"])
    norway = _row(progress, "work", "neet_share", "0")
    assert oslo["comparison_norway"] in ("better", "worse", "not_significant")
    assert norway["latest_period"] == "2021-2023"


def test_survey_rows_and_question_set_change(progress):
    changed = _row(progress, "completion", "survey_support", "030102")
    assert changed["status"] == "insufficient_data" and "question set changed" in changed["status_reason"]
    assert changed["trend_n_points"] == 1 and pd.isna(changed["trend_p_value"])
    steady = _row(progress, "completion", "survey_support", "030104")
    assert steady["latest_value"] == pytest.approx(55.0)  # percent, from the proportion 22 / 40
    # survey waves: weighted least squares with the waves' known standard errors, from 3 waves on
    assert steady["trend_n_points"] == 4 and steady["trend_test"] == "wls_known_se"
    assert steady["trend_status"] == "tested" and steady["trend_df"] == 2
    assert steady["comparison_norway"] == "not_tested"
    assert steady["comparison_oslo_test"] == "fisher_exact"
    suppressed = _row(progress, "completion", "survey_support", "030115")
    assert suppressed["latest_status"] == ":" and suppressed["status"] == "insufficient_data"
    assert steady["provenance"] == "illustrative"
    assert steady["trend_label"] == "illustrative"  # made-up inputs are never worded significant


def test_gap_row(progress):
    gap = _row(progress, "gaps", "dropout_share", "0301", measure="gap")
    assert gap["gap_best_region_code"] == LOW and gap["gap_worst_region_code"] == HIGH
    high = _row(progress, "gaps", "dropout_share", HIGH)
    low = _row(progress, "gaps", "dropout_share", LOW)
    assert gap["latest_value"] == pytest.approx(high["latest_value"] - low["latest_value"])
    assert gap["gap_n_districts"] == 13  # one district suppressed, one without figures
    assert gap["gap_significant"] and gap["gap_p_value"] < stats.ALPHA and gap["gap_test"] == "fisher_exact"
    assert gap["gap_q_value"] == gap["gap_p_value"]  # a family of one test
    # the gap stays 25 points (30 - 5 falls to 27 - 2): no progress toward 8 points
    assert gap["status"] == "off_track" and gap["target_applies"] and gap["progress_pct"] == pytest.approx(0.0)
    assert high["status"] == "no_target"


def test_several_age_groups_need_a_choice(tmp_path):
    indicator_values = make_indicator_values()
    extra = indicator_values[indicator_values["indicator_id"] == "leisure_share"].assign(age_group="13-15")
    indicator_values = pd.concat([indicator_values, extra], ignore_index=True)
    with pytest.raises(GoalsError, match="goal 'activity', indicator 'leisure_share'.*set `age_group`"):
        build_goal_progress(indicator_values, make_survey_results(), make_goals(tmp_path), REGISTRY,
                              SURVEY_NAMES)
    # rows without an age group besides two named ones: the message lists the named ones
    unnamed = extra.assign(age_group=None, period=extra["period"] + "x")
    with pytest.raises(GoalsError, match=r"has age groups \['13-15', 'total'\]"):
        build_goal_progress(pd.concat([indicator_values, unnamed], ignore_index=True), make_survey_results(),
                            make_goals(tmp_path), REGISTRY, SURVEY_NAMES)


def test_rows_name_their_indicator(progress, tmp_path):
    dropout = _row(progress, "completion", "dropout_share", "030101")
    assert (dropout["indicator_name_en"], dropout["indicator_name_nb"]) == ("Dropout", "Frafall")
    survey = _row(progress, "completion", "survey_support", "030101")
    assert survey["indicator_name_en"] == "Gets support at school" and pd.isna(survey["indicator_name_nb"])
    assert progress["indicator_name_en"].notna().all()
    with pytest.raises(GoalsError, match="goal 'completion': indicator 'survey_support' has no name"):
        build_goal_progress(make_indicator_values(), make_survey_results(), make_goals(tmp_path), REGISTRY, {})


def test_a_supporting_indicator_is_computed_and_shown_but_not_a_headline(tmp_path):
    document = yaml.safe_load(yaml.safe_dump(GOALS_YAML))
    document["goals"][0]["indicators"][0]["headline"] = False  # dropout_share, each district
    document["goals"][3]["indicators"][0]["headline"] = False  # dropout_share, gap
    goals = make_goals(tmp_path, document)
    assert [item.headline for item in goals[0].indicators] == [False, True]
    frame = build_goal_progress(make_indicator_values(), make_survey_results(), goals, REGISTRY, SURVEY_NAMES)
    supporting = frame[frame["indicator_id"] == "dropout_share"]
    assert len(supporting) == 2 * 17 + 1 and not supporting["headline"].any()
    # Still computed: statuses, targets and the gap row are there, only not judged as the goal's headline.
    districts = supporting[(supporting["scope"] == "each_district") & (supporting["region_level"] == "district")]
    assert districts["target_applies"].all() and set(districts["status"]) >= {"on_track", "off_track"}
    assert len(supporting[supporting["measure"] == "gap"]) == 1
    headline = frame[frame["indicator_id"] == "survey_support"]
    assert headline.loc[headline["region_level"] == "district", "headline"].all()
