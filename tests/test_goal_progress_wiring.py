"""goal_progress wired to ci_pipeline.stats (issues 12 and 19), on small made-up series: each region's own
target by form, the trend test per kind of series, q-values within their family, estimates kept out of
every test, too_few_points, p-values never 0, supporting indicators. All figures are made up here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from ci_pipeline import stats
from ci_pipeline.goals.config import NORWAY, OSLO, OSLO_DISTRICTS, load_goals
from ci_pipeline.goals.progress import build_goal_progress

YEARS = [str(year) for year in range(2015, 2024)]  # nine yearly periods
DISTRICTS = list(OSLO_DISTRICTS)
# District i (0-14) starts at 6 + 2i % and falls 0.2 points a year; district 030104 is the best at baseline.
BEST = "030104"


def district_share(position: int) -> float:
    return 0.06 + 0.02 * position if DISTRICTS[position] != BEST else 0.045


def registry_entry(unit="percent", kind="share", test="binomial", polarity="higher_is_worse"):
    return SimpleNamespace(name_en="x", name_nb="x", unit=unit, kind=kind, test=test, pooling_years=1,
                           polarity=polarity)


REGISTRY = {
    "outside_share": registry_entry(),
    "visits_rate": registry_entry(unit="per_1000", kind="rate", test="poisson"),
    "cases_count": registry_entry(unit="persons", kind="count", test="poisson"),
    "score_value": registry_entry(unit="points", kind="amount", test="none", polarity="higher_is_better"),
}


def observation(indicator, region, period, value, numerator=np.nan, denominator=np.nan, *, status=None,
                provenance="recorded", is_estimate=False, method="observed"):
    return {"source": "fhi", "table_id": "t", "indicator_id": indicator, "region_code": region,
            "region_name": f"Region {region}", "period": period, "sex": "total", "age_group": "total",
            "value": value, "numerator": numerator, "denominator": denominator, "status": status,
            "provenance": provenance, "method": method, "is_estimate": is_estimate}


def share_rows(indicator="outside_share", years=YEARS, provenance="recorded") -> list[dict]:
    rows = []
    for step, year in enumerate(years):
        oslo_x = oslo_n = 0
        for position, code in enumerate(DISTRICTS):
            n = 20_000
            x = round(n * (district_share(position) - 0.002 * step))
            oslo_x, oslo_n = oslo_x + x, oslo_n + n
            rows.append(observation(indicator, code, year, 100 * x / n, x, n, provenance=provenance))
        rows.append(observation(indicator, OSLO, year, 100 * oslo_x / oslo_n, oslo_x, oslo_n, provenance=provenance))
        norway_x, norway_n = round(1_000_000 * (0.10 - 0.001 * step)), 1_000_000
        rows.append(observation(indicator, NORWAY, year, 100 * norway_x / norway_n, norway_x, norway_n,
                                provenance=provenance))
    return rows


def frame(rows: list[dict]) -> pd.DataFrame:
    result = pd.DataFrame(rows)
    result["status"] = result["status"].astype(object).where(result["status"].notna(), None)
    return result


def goals_from(tmp_path: Path, *entries: dict):
    document = {"goals": [{"id": "g", "name_nb": "G", "name_en": "G", "indicators": list(entries)}]}
    path = tmp_path / "goals.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_goals(path)


def entry(indicator="outside_share", scope="each_district", polarity="higher_is_worse", baseline="2017", **target):
    return {"indicator_id": indicator, "baseline_period": baseline, "target_year": 2030, "polarity": polarity,
            "scope": scope, **target}


def build(tmp_path, rows, *entries) -> pd.DataFrame:
    return build_goal_progress(frame(rows), pd.DataFrame(), goals_from(tmp_path, *entries), REGISTRY, {})


def row_of(progress, region, indicator="outside_share", scope="each_district", measure="value") -> pd.Series:
    rows = progress[(progress["region_code"] == region) & (progress["indicator_id"] == indicator)
                    & (progress["scope"] == scope) & (progress["measure"] == measure)]
    assert len(rows) == 1
    return rows.iloc[0]


# --- each region's own target ---------------------------------------------------------------------------


def test_a_relative_target_is_each_regions_own_baseline_changed(tmp_path):
    progress = build(tmp_path, share_rows(), entry(target_change_pct=-20))
    for region in (OSLO, *DISTRICTS):
        row = row_of(progress, region)
        assert row["target_form"] == "relative" and row["target_reference"] == "own_baseline"
        assert row["target_value"] == pytest.approx(row["baseline_value"] * 0.8)
        assert row["target_reference_value"] == row["baseline_value"]
        assert row["target_value"] < row["baseline_value"]  # lower is better: the target lies below
    norway = row_of(progress, NORWAY)
    assert not norway["target_applies"] and pd.isna(norway["target_value"]) and norway["status"] == "no_target"
    # every district improves a little each year toward its own target, none already meets it
    assert "target_met_at_baseline" not in set(progress["status"])


def test_a_gap_closing_target_closes_a_share_of_the_distance_or_holds(tmp_path):
    progress = build(tmp_path, share_rows(), entry(target_close_pct=50, target_reference="norway"))
    norway_baseline = row_of(progress, NORWAY)["baseline_value"]
    behind = row_of(progress, "030115")  # 33.6 % at the start, Norway 9.8 %
    assert behind["target_form"] == "gap_closing" and behind["target_reference"] == "norway"
    assert behind["target_reference_value"] == pytest.approx(norway_baseline)
    assert behind["target_value"] == pytest.approx(behind["baseline_value"] + 0.5 * (norway_baseline
                                                                                     - behind["baseline_value"]))
    ahead = row_of(progress, BEST)  # 4.1 % at the start: already better than Norway, it holds its baseline
    assert ahead["target_value"] == ahead["baseline_value"] and ahead["status"] == "target_met_at_baseline"
    assert "hold the baseline" in ahead["target_note"] and pd.isna(ahead["progress_pct"])


def test_a_gap_closing_target_to_the_best_district(tmp_path):
    progress = build(tmp_path, share_rows(), entry(target_close_pct=25, target_reference="best_district"))
    best = row_of(progress, BEST)["baseline_value"]
    for region in DISTRICTS:
        row = row_of(progress, region)
        assert row["target_reference_value"] == pytest.approx(best)
        assert row["target_value"] == pytest.approx(row["baseline_value"] + 0.25 * (best - row["baseline_value"]))
    assert f"best district ({BEST})" in row_of(progress, "030101")["target_note"]


def test_an_override_replaces_the_form_for_its_region_and_says_why(tmp_path):
    progress = build(tmp_path, share_rows(), entry(target_change_pct=-20, overrides={
        "030101": {"target_value": 6.5, "reason": "a youth job scheme starts here"},
        "0301": {"target_close_pct": 50, "target_reference": "best_district", "reason": "the city as a whole"}}))
    overridden = row_of(progress, "030101")
    assert overridden["target_form"] == "override" and overridden["target_value"] == 6.5
    assert pd.isna(overridden["target_reference"])
    assert overridden["target_note"].startswith("override (a youth job scheme starts here)")
    oslo = row_of(progress, OSLO)
    assert oslo["target_form"] == "override" and oslo["target_reference"] == "best_district"
    assert row_of(progress, "030102")["target_form"] == "relative"


def test_a_city_goal_is_oslos_and_a_gap_goal_the_gaps(tmp_path):
    progress = build(tmp_path, share_rows(), entry(scope="city", target_value=9.0),
                     entry(scope="gap", target_change_pct=-30))
    city = progress[(progress["scope"] == "city") & progress["target_applies"]]
    assert city["region_code"].tolist() == [OSLO] and city["target_form"].tolist() == ["absolute"]
    gap = row_of(progress, OSLO, scope="gap", measure="gap")
    assert gap["target_form"] == "relative" and gap["target_value"] == pytest.approx(gap["baseline_value"] * 0.7)
    assert not progress[(progress["scope"] == "gap") & (progress["measure"] == "value")]["target_applies"].any()


def test_a_relative_target_without_a_baseline_cannot_be_set(tmp_path):
    rows = [r for r in share_rows() if not (r["region_code"] == "030102" and r["period"] == "2017")]
    progress = build(tmp_path, rows, entry(target_change_pct=-20))
    row = row_of(progress, "030102")
    assert row["target_applies"] and pd.isna(row["target_value"]) and row["target_form"] == "relative"
    assert row["status"] == "insufficient_data" and row["status_reason"] == "baseline period 2017 has no value"
    assert row["target_note"].startswith("no baseline value: the target (-20 % from it) cannot be set")


def test_a_supporting_indicator_is_computed_and_shown_not_judged(tmp_path):
    progress = build(tmp_path, share_rows(), entry(headline=False))
    assert not progress["headline"].any() and not progress["target_applies"].any()
    assert set(progress["status"]) == {"no_target"}
    assert set(progress["status_reason"]) == {"a supporting indicator without a target"}
    assert progress["trend_p_value"].notna().all()  # still computed
    with_target = build(tmp_path, share_rows(), entry(headline=False, target_change_pct=-20))
    assert not with_target["headline"].any() and with_target["target_applies"].sum() == 16


# --- the trend test per kind of series -------------------------------------------------------------------


def test_shares_with_counts_get_a_quasi_binomial_trend(tmp_path):
    progress = build(tmp_path, share_rows(), entry(target_change_pct=-20))
    row = row_of(progress, "030115")
    series = [r for r in share_rows() if r["region_code"] == "030115"]
    times = [float(r["period"]) for r in series]
    expected = stats.quasi_binomial_trend(times, [r["numerator"] for r in series], [r["denominator"] for r in series],
                                          is_estimate=[False] * len(series))
    assert (row["trend_test"], row["trend_status"], row["trend_slope_scale"]) == ("quasi_binomial", "tested", "log_odds")
    assert row["trend_p_value"] == pytest.approx(expected.p_value) and row["trend_df"] == 7
    assert row["trend_dispersion"] == pytest.approx(expected.dispersion)
    assert row["trend_direction"] == "improving" and row["trend_significant"]
    assert row["trend_label"] == "improving_significant" and row["change_direction"] == "improved"


def test_rates_and_counts_get_a_quasi_poisson_trend(tmp_path):
    rng = np.random.default_rng(7)
    rows = []
    for year in YEARS:
        for region in (OSLO, *DISTRICTS):
            exposure = 5000.0
            visits = float(rng.poisson(200 + 5 * (int(year) - 2015)))
            rows.append(observation("visits_rate", region, year, 1000 * visits / exposure, visits, exposure))
            rows.append(observation("cases_count", region, year, visits))
    progress = build(tmp_path, rows, entry("visits_rate", polarity="higher_is_worse", target_change_pct=-10),
                     entry("cases_count", polarity="higher_is_worse", target_change_pct=-10))
    visits = [r for r in rows if r["region_code"] == "030103" and r["indicator_id"] == "visits_rate"]
    times = [float(r["period"]) for r in visits]
    flags = [False] * len(visits)
    rate = row_of(progress, "030103", "visits_rate")
    expected = stats.quasi_poisson_trend(times, [r["numerator"] for r in visits], [r["denominator"] for r in visits],
                                         is_estimate=flags)
    assert (rate["trend_test"], rate["trend_slope_scale"]) == ("quasi_poisson", "log_rate")
    assert rate["trend_p_value"] == pytest.approx(expected.p_value)
    count = row_of(progress, "030103", "cases_count")
    expected = stats.quasi_poisson_trend(times, [r["numerator"] for r in visits], is_estimate=flags)
    assert count["trend_test"] == "quasi_poisson" and count["trend_p_value"] == pytest.approx(expected.p_value)


def test_values_without_counts_get_ordinary_least_squares(tmp_path):
    rows = [observation("score_value", region, year, 50 + 0.8 * (int(year) - 2015) + (0.5 if int(year) % 2 else -0.3))
            for year in YEARS for region in (OSLO, *DISTRICTS)]
    progress = build(tmp_path, rows, entry("score_value", polarity="higher_is_better", target_change_pct=10))
    row = row_of(progress, OSLO, "score_value")
    reference = scipy_stats.linregress([float(y) for y in YEARS],
                                       [r["value"] for r in rows if r["region_code"] == OSLO])
    assert (row["trend_test"], row["trend_slope_scale"]) == ("ols", "value")
    assert row["trend_slope"] == pytest.approx(reference.slope)
    assert row["trend_p_value"] == pytest.approx(reference.pvalue, rel=1e-6)
    assert pd.isna(row["trend_dispersion"])


def test_fewer_than_five_points_say_too_few_points(tmp_path):
    progress = build(tmp_path, share_rows(years=YEARS[-4:]), entry(baseline="2020", target_change_pct=-20))
    assert set(progress["trend_status"]) == {"too_few_points"}
    assert progress["trend_p_value"].isna().all() and progress["trend_q_value"].isna().all()
    assert (progress["trend_n_points"] == 4).all() and not progress["trend_significant"].any()
    assert set(progress["trend_label"]) == {"not_tested"}


def test_estimates_never_enter_a_test(tmp_path):
    rows = share_rows()
    for row in rows:
        if row["region_code"] == "030105":
            row.update(is_estimate=True, method="apportioned", numerator=np.nan, denominator=np.nan)
    progress = build(tmp_path, rows, entry(target_change_pct=-20))
    estimate = row_of(progress, "030105")
    assert estimate["is_estimate"] is True or estimate["is_estimate"] == True  # noqa: E712 (object column)
    assert estimate["trend_status"] == "estimates_only" and estimate["trend_n_estimates_excluded"] == len(YEARS)
    assert pd.isna(estimate["trend_p_value"])
    assert estimate["comparison_norway"] == "not_tested" and pd.isna(estimate["comparison_norway_p_value"])
    assert "never enters a test" in estimate["comparison_note"]
    # the status still reads the figures against the target
    assert estimate["status"] in ("on_track", "off_track")


# --- q-values within their family, p never 0 ---------------------------------------------------------------


def test_q_values_are_benjamini_hochberg_within_each_family(tmp_path):
    rows = share_rows() + [dict(r, indicator_id="score_value", value=r["value"] + (0.3 if int(r["period"]) % 2 else 0))
                           for r in share_rows()]
    progress = build(tmp_path, rows, entry(target_change_pct=-20),
                     entry("score_value", polarity="higher_is_worse", target_change_pct=-20),
                     entry(scope="gap", target_change_pct=-30))
    families = progress.groupby(["goal_id", "indicator_id", "scope", "measure"])
    assert families.ngroups == 4
    for name in ("trend", "comparison_oslo", "comparison_norway"):
        for key, family in families:
            tested = family[family[f"{name}_p_value"].notna()]
            if tested.empty:
                continue
            expected = multipletests(tested[f"{name}_p_value"], method="fdr_bh")[1]
            assert tested[f"{name}_q_value"].to_numpy() == pytest.approx(expected, rel=1e-12), (name, key)
    # the q-values are not those of all the tests together
    pooled = progress[progress["trend_p_value"].notna()]
    together = multipletests(pooled["trend_p_value"], method="fdr_bh")[1]
    assert not np.allclose(pooled["trend_q_value"], together)
    # significance is the q-value's
    called = progress[progress["comparison_oslo"].isin(["better", "worse"])]
    assert len(called) > 0 and (called["comparison_oslo_q_value"] < 0.05).all()
    quiet = progress[progress["comparison_oslo"] == "not_significant"]
    assert (quiet["comparison_oslo_q_value"] >= 0.05).all()


def test_a_p_value_that_underflows_is_stored_above_zero(tmp_path):
    rows = share_rows()
    for row in rows:
        if row["region_code"] == NORWAY:
            row.update(value=0.5, numerator=5000, denominator=1_000_000)
        if row["region_code"] == "030115":
            row.update(value=50.0, numerator=10_000, denominator=20_000)
    progress = build(tmp_path, rows, entry(target_change_pct=-20))
    row = row_of(progress, "030115")
    assert row["comparison_norway_p_value"] == stats.P_FLOOR and row["comparison_norway"] == "worse"
    for column in ("trend_p_value", "comparison_oslo_p_value", "comparison_norway_p_value"):
        assert (progress[column].dropna() > 0).all()


def test_illustrative_inputs_keep_their_numbers_but_are_never_worded_significant(tmp_path):
    progress = build(tmp_path, share_rows(provenance="illustrative"), entry(target_change_pct=-20))
    row = row_of(progress, "030115")
    assert row["trend_significant"] and row["trend_q_value"] < 0.05  # the mart keeps the test's numbers
    assert row["trend_label"] == "illustrative" and "never called significant" in row["trend_reason"]
    assert not progress["trend_label"].isin(["improving_significant", "worsening_significant"]).any()


def test_the_oslo_comparison_stores_the_rest_of_oslo(tmp_path):
    progress = build(tmp_path, share_rows(), entry(target_change_pct=-20))
    oslo, district = row_of(progress, OSLO), row_of(progress, "030101")
    rest = (oslo["latest_numerator"] - district["latest_numerator"]) / (
        oslo["latest_denominator"] - district["latest_denominator"]) * 100
    assert district["comparison_oslo_reference_area"] == "rest_of_oslo"
    assert district["comparison_oslo_reference_value"] == pytest.approx(rest)
    assert pd.isna(oslo["comparison_oslo_reference_value"]) and oslo["comparison_oslo"] == "not_tested"
