"""The exclusion_costs mart (ci_pipeline/costs.py): unit costs moved to the price year by the CPI, worked by
hand; people x cost per area and year; the value of reaching a goal; labels and citations on every row;
and the cost file's rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ci_pipeline.config import ConfigError
from ci_pipeline.costs import build_exclusion_costs, load_cost_book
from ci_pipeline.schema import contract

REPO = Path(__file__).resolve().parents[1]
COSTS = REPO / "assets" / "exclusion_costs.yaml"


@pytest.fixture(scope="module")
def book():
    return load_cost_book(COSTS)


def test_the_price_index_agrees_with_ssbs_published_yearly_changes(book):
    # SSB's yearly CPI changes in percent (03014, "Årsendring"), each within the rounding of the index
    published = {(2010, 2012): (1.2, 0.8), (2012, 2015): (2.1, 2.0, 2.1), (2020, 2021): (3.5,), (2021, 2022): (5.8,),
                 (2022, 2023): (5.5,), (2023, 2024): (3.1,)}
    index = book.cpi.index
    for (start, end), changes in published.items():
        assert index[end] / index[start] == pytest.approx(np.prod([1 + c / 100 for c in changes]), abs=0.002)


def test_unit_costs_are_moved_to_the_price_year_worked_by_hand(book):
    falch = next(cost for cost in book.unit_costs if cost.id == "falch_2012_lifetime")
    # NOK 7.1 million of 2012 x CPI 2024 / CPI 2012 = 7.1e6 x 133.6 / 94.0 = 10,091,064
    assert book.price_year == 2024
    assert book.cpi_factor(falch) == pytest.approx(133.6 / 94.0)
    assert falch.amount_nok * book.cpi_factor(falch) == pytest.approx(10_091_064, abs=1)
    assert falch.source.year == 2012 and falch.source.url.startswith("https://")


def indicator_values(provenance: str = "reconstructed") -> pd.DataFrame:
    return pd.DataFrame({
        "indicator_id": "disability_benefit_share_18_29", "region_code": ["0301", "030101", "030101", "030199"],
        "region_name": ["Oslo", "Gamle Oslo", "Gamle Oslo", "Uten registrert adresse"],
        "region_level": ["municipality", "district", "district", "district"],
        "period": ["2023", "2022", "2023", "2023"], "numerator": [1822.0, 120.0, np.nan, 5.0],
        "is_estimate": False, "method": "observed", "provenance": provenance})


def goal_progress(provenance: str = "reconstructed") -> pd.DataFrame:
    return pd.DataFrame({
        "goal_id": ["work_attachment", "work_attachment", "smaller_district_gaps"],
        "indicator_id": "disability_benefit_share_18_29", "measure": "value", "target_applies": True,
        "region_code": ["0301", "030101", "0301"], "region_name": ["Oslo", "Gamle Oslo", "Oslo"],
        "region_level": ["municipality", "district", "municipality"], "unit": "percent",
        "latest_period": "2023", "target_value": [1.0, 2.0, 0.5], "latest_numerator": [1822.0, 133.0, 1822.0],
        "latest_denominator": [136806.0, 13363.0, 136806.0], "is_estimate": False, "method": "observed",
        "provenance": provenance})


def test_people_times_the_unit_cost_per_area_and_year_and_the_value_of_the_goal(book):
    frame = build_exclusion_costs(indicator_values(), goal_progress(), book)
    assert list(frame.columns) == contract("exclusion_costs").names
    cost = frame[frame["measure"] == "cost_of_exclusion"].set_index(["region_code", "period"])
    # a year without a count and an area outside the 15 bydeler and Oslo have no row
    assert sorted(cost.index) == [("0301", "2023"), ("030101", "2022")]
    unit = round(11_000_000 * 133.6 / 92.1, -3)
    oslo = cost.loc[("0301", "2023")]
    assert oslo["unit_cost_nok"] == unit and oslo["cost_nok"] == pytest.approx(1822 * unit)
    assert (oslo["cost_low_nok"], oslo["cost_high_nok"]) == pytest.approx((1822 * unit / 2, 1822 * unit * 1.5), rel=1e-3)
    assert oslo["price_year"] == 2024 and oslo["unit_cost_price_base_year"] == 2010
    assert "Vista Analyse (2010)" in oslo["citation"] and "03014" in oslo["cpi_citation"]
    assert oslo["certainty"] == "low" and oslo["range_basis"] == "assumed"

    goal = frame[frame["measure"] == "value_of_reaching_goal"].set_index("region_code")
    assert set(goal["goal_id"]) == {"work_attachment"}  # the gap goal is not a work-attachment target
    # Oslo: 1822 now, 1 % of 136,806 = 1368.06 at the target: 453.9 fewer
    assert goal.loc["0301", "target_persons"] == pytest.approx(1368.1)
    assert goal.loc["0301", "persons"] == pytest.approx(453.9)
    assert goal.loc["0301", "cost_nok"] == pytest.approx(453.9 * unit)
    # Gamle Oslo meets its target (133 < 267): nothing to gain, never a negative value
    assert goal.loc["030101", "persons"] == 0 and goal.loc["030101", "cost_nok"] == 0
    assert not frame["illustrative"].any() and set(frame["provenance"]) == {"reconstructed"}
    # the version manifest gets every unit cost's citation and the price index
    cited = {entry.get("unit_cost_id"): entry for entry in frame.attrs["inputs"]}
    assert cited["vista_2010_disability_lifetime"]["citation"].startswith("Vista Analyse (2010)")
    assert cited[None]["index"]["2024"] == 133.6 and cited[None]["price_year"] == 2024


def test_illustrative_counts_stay_labelled_and_every_figure_carries_its_citation(book):
    frame = build_exclusion_costs(indicator_values("illustrative"), goal_progress("illustrative"), book)
    assert frame["illustrative"].all() and set(frame["provenance"]) == {"illustrative"}
    priced = frame[frame["cost_nok"].notna()]
    assert priced["citation"].str.contains("https://").all() and priced["assumption_nb"].str.len().gt(0).all()


@pytest.mark.parametrize("change, message", [
    (lambda data: data["unit_costs"][0].update(low_nok=99_000_000), "low_nok <= amount_nok"),
    (lambda data: data["cpi"]["index"].pop(2010), r"cpi.index has no value for \[2010\]"),
    (lambda data: data["unit_costs"][1]["source"].pop("url"), r"unit_costs\[1\].source.url: required key is missing"),
])
def test_a_cost_file_that_breaks_a_rule_is_refused_with_the_rule(tmp_path, change, message):
    data = yaml.safe_load(COSTS.read_text(encoding="utf-8"))
    change(data)
    broken = tmp_path / "exclusion_costs.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_cost_book(broken)
