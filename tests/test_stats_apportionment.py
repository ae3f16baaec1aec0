"""Apportionment by rate: examples worked by hand, the population-only fallback, zeros, missing shares and
a suppressed total, and properties (the districts add up to the total; no district is ever dropped)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ci_pipeline import stats

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=300)


def _by_district(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("district")


def test_apportionment_by_rate_worked_by_hand():
    # populations 100 / 300 / 600 with persistent low income 30 / 10 / 5 %: weights 3000 each, so a
    # municipal count of 1000 splits evenly, where population alone would give 100 / 300 / 600
    frame = _by_district(stats.apportion_by_rate(1000, {"A": 100, "B": 300, "C": 600}, {"A": 30, "B": 10, "C": 5}))
    assert frame["value"].tolist() == pytest.approx([1000 / 3] * 3)
    assert set(frame["method"]) == {"apportioned_by_rate"} and frame["note"].isna().all()
    by_population = _by_district(stats.apportion_by_rate(1000, {"A": 100, "B": 300, "C": 600}))
    assert by_population["value"].tolist() == pytest.approx([100, 300, 600])
    assert set(by_population["method"]) == {"apportioned"}
    assert by_population["note"].str.contains("population alone").all()


def test_the_scale_of_the_rate_does_not_matter():
    percent = stats.apportion_by_rate(520, {"A": 1200, "B": 800}, {"A": 12.5, "B": 4.8})
    share = stats.apportion_by_rate(520, {"A": 1200, "B": 800}, {"A": 0.125, "B": 0.048})
    assert percent["value"].tolist() == pytest.approx(share["value"].tolist())


def test_a_district_without_a_share_falls_back_to_population_and_says_so():
    frame = _by_district(stats.apportion_by_rate(1000, {"A": 100, "B": 300, "C": 600},
                                                 {"A": 30, "B": float("nan"), "C": 5}))
    mean_rate = (100 * 30 + 600 * 5) / 700  # B is given the others' population-weighted mean share
    weights = {"A": 3000, "B": 300 * mean_rate, "C": 3000}
    total_weight = sum(weights.values())
    assert frame["value"].to_dict() == pytest.approx({d: 1000 * w / total_weight for d, w in weights.items()})
    assert frame.loc["B", "method"] == "apportioned" and "no related share for this district" in frame.loc["B", "note"]
    assert frame.loc["B", "rate"] == pytest.approx(mean_rate)
    assert frame.loc["A", "method"] == frame.loc["C", "method"] == "apportioned_by_rate"
    absent = _by_district(stats.apportion_by_rate(1000, {"A": 100, "B": 300, "C": 600}, {"A": 30, "C": 5}))
    assert absent["value"].tolist() == pytest.approx(frame["value"].tolist())


def test_zeros():
    zero_rate = _by_district(stats.apportion_by_rate(90, {"A": 100, "B": 200}, {"A": 0.0, "B": 10.0}))
    assert zero_rate.loc["A", "value"] == 0 and zero_rate.loc["B", "value"] == pytest.approx(90)
    zero_population = _by_district(stats.apportion_by_rate(90, {"A": 0, "B": 200}, {"A": 20.0, "B": 10.0}))
    assert zero_population.loc["A", "value"] == 0
    assert stats.apportion_by_rate(0, {"A": 100, "B": 200}, {"A": 5.0, "B": 10.0})["value"].tolist() == [0, 0]
    # every share 0 while the count is not: the shares cannot be right, so population alone, flagged
    all_zero = stats.apportion_by_rate(90, {"A": 100, "B": 200}, {"A": 0.0, "B": 0.0})
    assert all_zero["value"].tolist() == pytest.approx([30, 60]) and set(all_zero["method"]) == {"apportioned"}
    assert all_zero["note"].str.contains("no district has a usable related share").all()


def test_a_suppressed_total_gives_no_numbers():
    for total in (None, float("nan")):
        frame = stats.apportion_by_rate(total, {"A": 100, "B": 200}, {"A": 5.0, "B": 10.0})
        assert frame["value"].isna().all() and len(frame) == 2


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="population must be finite and non-negative"):
        stats.apportion_by_rate(10, {"A": -1, "B": 5})
    with pytest.raises(ValueError, match=r"population is missing for districts \['B'\]"):
        stats.apportion_by_rate(10, {"A": 1, "B": float("nan")})
    with pytest.raises(ValueError, match=r"rates are given for districts \['Z'\]"):
        stats.apportion_by_rate(10, {"A": 1}, {"A": 2.0, "Z": 3.0})
    with pytest.raises(ValueError, match="rate must be finite and non-negative"):
        stats.apportion_by_rate(10, {"A": 1, "B": 1}, {"A": -2.0, "B": 3.0})
    with pytest.raises(ValueError, match="non-negative count"):
        stats.apportion_by_rate(-5, {"A": 1})
    with pytest.raises(ValueError, match="no population"):
        stats.apportion_by_rate(5, {"A": 0, "B": 0})


@PROPERTY
@given(total=st.one_of(st.floats(0, 1e6), st.integers(0, 10_000)),
       districts=st.lists(st.tuples(st.floats(0, 50_000), st.one_of(st.none(), st.floats(0, 100))),
                          min_size=1, max_size=16))
def test_districts_add_up_to_the_total_and_none_is_dropped(total, districts):
    population = {f"0301{i:02d}": people for i, (people, _) in enumerate(districts, start=1)}
    rates = {f"0301{i:02d}": (math.nan if rate is None else rate) for i, (_, rate) in enumerate(districts, start=1)}
    if sum(population.values()) <= 0:
        with pytest.raises(ValueError):
            stats.apportion_by_rate(total, population, rates)
        return
    frame = stats.apportion_by_rate(total, population, rates)
    assert frame["district"].tolist() == list(population)
    assert frame["value"].sum() == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert (frame["value"] >= 0).all()
    assert set(frame["method"]) <= {"apportioned", "apportioned_by_rate"}
    without_rate = frame["district"].map(lambda d: math.isnan(rates[d]))
    assert (frame.loc[without_rate, "method"] == "apportioned").all()
    assert frame.loc[frame["method"] == "apportioned", "note"].notna().all()
