"""The built goal_progress mart of the shipped data (the session run of tests/conftest.py): no contradicting
row, no district target on the wrong side of its baseline, each target form as goals.yaml states it, no
p-value of 0, and significance only by q-values."""

from __future__ import annotations

import pandas as pd
import pytest
from goal_checks import contradictions, wrong_way_targets

from ci_pipeline import stats
from ci_pipeline.goals.config import load_goals
from ci_pipeline.marts import MartStore


@pytest.fixture(scope="module")
def progress(pipeline_run) -> pd.DataFrame:
    return MartStore(pipeline_run.settings.warehouse_root).read("goal_progress")


@pytest.fixture(scope="module")
def goals(pipeline_run):
    return load_goals(pipeline_run.settings.catalogue_root / "goals.yaml")


def test_no_row_contradicts_itself(progress):
    found = contradictions(progress)
    assert found.empty, found[["goal_id", "indicator_id", "region_code", "status", "progress_pct", "trend_label",
                               "problem"]].to_string()
    assert set(progress["status"]) >= {"on_track", "off_track", "target_met_at_baseline"}


def test_no_district_target_points_the_wrong_way(progress):
    wrong = wrong_way_targets(progress)
    assert wrong.empty, wrong[["goal_id", "indicator_id", "region_code", "baseline_value", "target_value",
                               "target_form"]].to_string()
    assert (progress["target_applies"] & (progress["region_level"] == "district")).sum() >= 60


def test_every_row_carries_the_target_form_goals_yaml_states(progress, goals):
    for goal in goals:
        for item in goal.indicators:
            rows = progress[(progress["goal_id"] == goal.id) & (progress["indicator_id"] == item.indicator_id)
                            & (progress["scope"] == item.scope) & progress["target_applies"]]
            assert len(rows) > 0, (goal.id, item.indicator_id)
            forms = rows.set_index("region_code")["target_form"]
            for region, form in forms.items():
                assert form == ("override" if region in item.overrides else item.target_form), (goal.id, region)
    # district goals are measured from each district's own starting point; city-wide figures by one value
    district_goals = progress[(progress["scope"] == "each_district") & (progress["region_level"] == "district")]
    assert set(district_goals["target_form"]) <= {"relative", "gap_closing", "override"}
    city = progress[progress["scope"].isin(["city", "gap"]) & progress["target_applies"]]
    assert set(city["target_form"]) == {"absolute"}


def test_relative_targets_are_each_regions_own(progress, goals):
    relative = progress[progress["target_form"] == "relative"]
    assert len(relative) > 0 and (relative["target_reference"] == "own_baseline").all()
    for _, row in relative.iterrows():
        item = next(i for g in goals if g.id == row["goal_id"] for i in g.indicators
                    if i.indicator_id == row["indicator_id"] and i.scope == row["scope"])
        assert row["target_value"] == pytest.approx(row["baseline_value"] * (1 + item.target_change_pct / 100))


def test_no_p_value_is_zero_and_calls_follow_the_q_values(progress):
    for column in ("trend_p_value", "comparison_oslo_p_value", "comparison_norway_p_value", "gap_p_value"):
        values = progress[column].dropna()
        assert (values > 0).all() and (values <= 1).all(), column
    for name in ("oslo", "norway"):
        claimed = progress[f"comparison_{name}"].isin(["better", "worse"])
        assert (progress.loc[claimed, f"comparison_{name}_q_value"] < stats.ALPHA).all()
        quiet = progress[f"comparison_{name}"] == "not_significant"
        assert (progress.loc[quiet, f"comparison_{name}_q_value"] >= stats.ALPHA).all()
    assert (progress.loc[progress["trend_significant"], "trend_q_value"] < stats.ALPHA).all()
    assert (progress.loc[progress["trend_status"] != "tested", "trend_p_value"].isna()).all()


def test_made_up_figures_are_never_worded_significant(progress):
    illustrative = progress[progress["provenance"] == "illustrative"]
    assert len(illustrative) > 0
    assert not illustrative["trend_label"].isin(["improving_significant", "worsening_significant"]).any()
    text = " ".join(illustrative[["status_reason", "trend_reason", "target_note"]].fillna("").to_numpy().ravel())
    assert "significant" not in text.replace("never called significant", "")
