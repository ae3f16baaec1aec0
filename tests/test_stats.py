"""ci_pipeline.stats against scipy and against published worked examples, small and zero counts included."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ci_pipeline import stats

# --- binomial -------------------------------------------------------------------------------------


@pytest.mark.parametrize("x, n, p", [(0, 10, 0.1), (1, 10, 0.1), (7, 20, 0.2), (120, 1000, 0.1), (10, 10, 0.5)])
def test_binomial_test_matches_scipy(x, n, p):
    result = stats.binomial_test(x, n, p)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(x, n, p).pvalue, rel=1e-12)
    assert result.estimate == x / n and result.reference == p


def test_binomial_zero_denominator_is_not_tested():
    result = stats.binomial_test(0, 0, 0.3)
    assert result.p_value is None and not result.significant and "denominator is 0" in result.note


def test_binomial_rejects_bad_counts():
    with pytest.raises(ValueError, match="larger than the denominator"):
        stats.binomial_test(11, 10, 0.5)
    with pytest.raises(ValueError, match="whole count"):
        stats.binomial_test(2.5, 10, 0.5)
    with pytest.raises(ValueError, match="negative"):
        stats.binomial_test(-1, 10, 0.5)


# --- Poisson ---------------------------------------------------------------------------------------


def _poisson_two_sided_by_enumeration(x: int, mean: float) -> float:
    counts = np.arange(0, int(mean * 6 + 60))
    probabilities = scipy_stats.poisson.pmf(counts, mean)
    return float(probabilities[probabilities <= scipy_stats.poisson.pmf(x, mean) * (1 + 1e-7)].sum())


@pytest.mark.parametrize("x, mean", [(0, 2.5), (1, 3.2), (7, 3.2), (5, 12.7), (40, 12.7), (980, 1000.0),
                                     (1040, 1000.0), (0, 0.1), (3, 3.0)])
def test_poisson_test_matches_enumeration_with_scipy(x, mean):
    assert stats.poisson_test(x, mean).p_value == pytest.approx(_poisson_two_sided_by_enumeration(x, mean),
                                                                rel=1e-9, abs=1e-15)


def test_poisson_test_published_example():
    # R documentation of poisson.test: 137 cases over 24.19893 person-time units, p < 2.2e-16,
    # 95 % interval of the rate 4.753125 to 6.692709.
    assert stats.poisson_test(137, 24.19893).p_value < 2.2e-16
    low, high = stats.garwood_interval(137)
    assert low / 24.19893 == pytest.approx(4.753125, abs=1e-6)
    assert high / 24.19893 == pytest.approx(6.692709, abs=1e-6)


def test_poisson_zero_counts():
    assert stats.poisson_test(0, 0.5).p_value == pytest.approx(1.0)
    assert stats.poisson_test(0, 5.0).p_value == pytest.approx(_poisson_two_sided_by_enumeration(0, 5.0))
    result = stats.poisson_test(3, 0.0)
    assert result.p_value is None and "expected count is 0" in result.note


def test_two_rates_published_example():
    # R documentation of poisson.test: c(11, 6+8+7) over c(800, 1083+1050+878): p-value = 0.07967.
    result = stats.compare_two_rates(11, 800, 21, 3011)
    assert result.p_value == pytest.approx(0.07967, abs=5e-6)
    assert not result.significant


def test_two_rates_without_events():
    result = stats.compare_two_rates(0, 100, 0, 300)
    assert result.p_value == 1.0 and not result.significant
    assert stats.compare_two_rates(1, 0, 1, 10).p_value is None


# --- two shares -------------------------------------------------------------------------------------


def test_two_shares_fisher_tea_tasting():
    # Fisher (1935), the lady tasting tea: 3 of 4 right each way, two-sided p = 0.4857.
    assert stats.compare_two_shares(3, 4, 1, 4).p_value == pytest.approx(0.4857, abs=1e-4)


@pytest.mark.parametrize("table", [(12, 40, 30, 50), (0, 15, 6, 20), (150, 600, 2100, 9000)])
def test_two_shares_match_scipy_fisher(table):
    x1, n1, x2, n2 = table
    expected = scipy_stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
    assert stats.compare_two_shares(*table).p_value == pytest.approx(expected, rel=1e-12)


def test_two_shares_zero_and_empty():
    assert stats.compare_two_shares(0, 10, 0, 20).p_value == 1.0
    assert stats.compare_two_shares(10, 10, 20, 20).p_value == 1.0
    assert stats.compare_two_shares(0, 0, 3, 20).p_value is None


# --- intervals: Newcombe (1998), Stat Med 17:857-872, table I examples -------------------------------

NEWCOMBE = [
    # x, n, Wilson (method 3), Clopper-Pearson (method 5)
    (81, 263, (0.2553, 0.3662), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
    (0, 20, (0.0000, 0.1611), (0.0000, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize("x, n, wilson, exact", NEWCOMBE)
def test_intervals_match_newcombe(x, n, wilson, exact):
    assert stats.wilson_interval(x, n) == pytest.approx(wilson, abs=5e-5)
    assert stats.clopper_pearson_interval(x, n) == pytest.approx(exact, abs=5e-5)
    result = scipy_stats.binomtest(x, n)
    assert stats.wilson_interval(x, n) == pytest.approx(tuple(result.proportion_ci(method="wilson")), abs=1e-12)
    assert stats.clopper_pearson_interval(x, n) == pytest.approx(tuple(result.proportion_ci(method="exact")),
                                                                 abs=1e-12)


def test_intervals_at_the_edges():
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.clopper_pearson_interval(5, 5)[1] == 1.0
    assert stats.clopper_pearson_interval(0, 5)[0] == 0.0


@pytest.mark.parametrize("x, interval", [(0, (0.0, 3.6889)), (1, (0.0253, 5.5716)), (2, (0.2422, 7.2247)),
                                         (10, (4.7954, 18.3904))])
def test_garwood_interval_published_values(x, interval):
    # Exact Poisson limits as tabulated (e.g. Ulm 1990, Am J Epidemiol 131:373): 0 -> (0, 3.689) ...
    assert stats.garwood_interval(x) == pytest.approx(interval, abs=1e-4)


# --- pooling --------------------------------------------------------------------------------------------


def test_pooling_sums_numerators_and_denominators():
    yearly = pd.DataFrame({"year": [2018, 2019, 2020], "numerator": [1.0, 9.0, 20.0],
                           "denominator": [10.0, 30.0, 60.0], "status": [None, None, None]})
    pooled = stats.pool_years(yearly, 3)
    assert len(pooled) == 1
    row = pooled.iloc[0]
    assert row["period"] == "2018-2020" and row["n_years"] == 3
    assert row["value"] == pytest.approx(30 / 100 * 100)  # not the mean of 10 %, 30 %, 33 %


def test_pooling_drops_a_period_with_a_fifth_of_its_years_suppressed():
    yearly = pd.DataFrame({
        "year": list(range(2011, 2021)),
        "numerator": [5.0] * 8 + [None, 5.0],
        "denominator": [50.0] * 8 + [None, 50.0],
        "status": [None] * 8 + [":", None],
    })
    pooled = stats.pool_years(yearly, 5).set_index("period")
    assert pooled.loc["2011-2015", "status"] is None and pooled.loc["2011-2015", "n_years"] == 5
    # one suppressed year of five is 20 %: the period is suppressed, never filled with zero
    assert pooled.loc["2016-2020", "status"] == ":" and pd.isna(pooled.loc["2016-2020", "value"])
    ten = stats.pool_years(yearly, 10).iloc[0]
    assert ten["status"] is None and ten["n_years"] == 9 and ten["n_suppressed"] == 1


def test_pooling_marks_missing_years_and_handles_zero_counts():
    yearly = pd.DataFrame({"year": [2018, 2020, 2021], "numerator": [0.0, 0.0, 0.0],
                           "denominator": [40.0, 40.0, 40.0], "status": [None, None, None]})
    pooled = stats.pool_years(yearly, 3).set_index("period")
    assert pooled.loc["2018-2020", "status"] == ".."
    assert pooled.loc["2019-2021", "status"] == ".."
    single = stats.pool_years(yearly, 1).set_index("period")
    assert single.loc["2018", "value"] == 0.0 and single.loc["2019", "status"] == ".."


def test_pooling_rejects_rows_without_counts_or_status():
    yearly = pd.DataFrame({"year": [2019, 2020], "numerator": [1.0, None], "denominator": [10.0, 10.0],
                           "status": [None, None]})
    with pytest.raises(ValueError, match=r"years \[2020\]"):
        stats.pool_years(yearly, 2)
