"""District breakdown: apportioned counts, refused rates, suppression, not_available, district sums.

All figures here are illustrative (made up for the test), on today's Oslo district codes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ci_pipeline.breakdown import BreakdownError, aggregate_age_band, breakdown, check_district_sums
from ci_pipeline.indicators import Indicator

DISTRICTS = {"030101": ("Gamle Oslo", 3), "030102": ("Grünerløkka", 6), "030199": ("Uoppgitt", 1)}


def indicator(indicator_id: str, kind: str, district_method: str, apportion_by=None) -> Indicator:
    return Indicator(id=indicator_id, name_nb=indicator_id, name_en=indicator_id, definition="illustrative",
                     unit="persons" if kind == "count" else "percent", polarity="higher_is_worse", kind=kind,
                     sources=({"source": "ssb", "table_id": "t"},), test="none", pooling_years=1,
                     district_method=district_method, apportion_by=apportion_by)


ASSUMPTION = "every district has Oslo's average prevalence (illustrative)"
REGISTRY = {
    "population": indicator("population", "count", "observed"),
    "children_low_income_count": indicator("children_low_income_count", "count", "apportioned",
                                           {"indicator_id": "population", "age_group": "0-17",
                                            "assumption": ASSUMPTION}),
    "children_low_income_share": indicator("children_low_income_share", "share", "not_available"),
    "persistent_low_income_share": indicator("persistent_low_income_share", "share", "observed"),
}
# The same count, apportioned by population x the district share of persistent low income.
BY_RATE = {**REGISTRY, "children_low_income_count": indicator(
    "children_low_income_count", "count", "apportioned",
    {"indicator_id": "population", "age_group": "0-17", "assumption": ASSUMPTION,
     "share": {"indicator_id": "persistent_low_income_share", "age_group": "0-17"}})}


def tidy(region_code: str, level: str, indicator_id: str, period: str, value, *, status=None, age_group="total",
         sex="total", table_id="t", period_type="year") -> dict:
    return {"source": "ssb", "table_id": table_id, "indicator_id": indicator_id, "region_code": region_code,
            "region_level": level, "period": period, "period_type": period_type, "sex": sex,
            "age_group": age_group, "value": value, "status": status, "original_region_code": region_code,
            "region_name": DISTRICTS.get(region_code, ("Oslo",))[0], "harmonised": True,
            "provenance": "illustrative"}


def population(years=("2020", "2021")) -> pd.DataFrame:
    """Per district and single age 0-17: its weight (3, 6, 1) persons in 2020, doubled for Grünerløkka in 2021."""
    rows = []
    for year in years:
        for code, (_, weight) in DISTRICTS.items():
            scale = 2 if (year == "2021" and code == "030102") else 1
            rows += [tidy(code, "district", "population", year, float(weight * scale), age_group=str(age),
                          table_id="10826") for age in range(18)]
    return pd.DataFrame(rows)


def run(rows: list[dict], pop: pd.DataFrame | None = None) -> pd.DataFrame:
    return breakdown(pd.DataFrame(rows), REGISTRY, population() if pop is None else pop)


def test_count_is_apportioned_by_the_age_group_population_and_adds_up():
    result = run([tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0)])
    districts = result[(result["indicator_id"] == "children_low_income_count") & (result["region_level"] == "district")]
    assert set(districts["method"]) == {"apportioned"} and districts["is_estimate"].all()
    values = districts.set_index("region_code")["value"]
    assert values.to_dict() == pytest.approx({"030101": 300.0, "030102": 600.0, "030199": 100.0})
    assert values.sum() == pytest.approx(1000.0)
    municipal = result[(result["region_code"] == "0301") & (result["indicator_id"] == "children_low_income_count")]
    assert municipal[["method", "is_estimate", "value"]].values.tolist() == [["observed", False, 1000.0]]
    assert set(districts["weights_period"]) == {"2020"}


def test_apportionment_uses_the_same_year_else_the_nearest_earlier_and_says_so():
    result = run([tidy("0301", "municipality", "children_low_income_count", "2021", 1000.0),
                  tidy("0301", "municipality", "children_low_income_count", "2023", 500.0),
                  tidy("0301", "municipality", "children_low_income_count", "2019-2021", 900.0,
                       period_type="multi_year")])
    apportioned = result[result["method"] == "apportioned"].set_index(["period", "region_code"])
    assert apportioned.loc[("2021", "030102"), "value"] == pytest.approx(1000.0 * 12 / 16)
    assert apportioned.loc[("2023", "030102"), "weights_period"] == "2021"
    assert apportioned.loc[("2019-2021", "030101"), "value"] == pytest.approx(900.0 * 3 / 16)


def shares(period: str, rates: dict[str, float]) -> list[dict]:
    return [tidy(code, "district", "persistent_low_income_share", period, rate, age_group="0-17", table_id="507")
            for code, rate in rates.items()]


def test_count_is_apportioned_by_population_times_the_related_district_share():
    rows = [tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0),
            *shares("2020", {"030101": 30.0, "030102": 5.0})]  # no share for the unknown district
    result = breakdown(pd.DataFrame(rows), BY_RATE, population())
    districts = result[(result["indicator_id"] == "children_low_income_count")
                       & (result["region_level"] == "district")].set_index("region_code")
    # weights: population share x rate; the unknown district gets the population-weighted mean rate
    mean_rate = (3 * 30.0 + 6 * 5.0) / 9
    weights = {"030101": 3 * 30.0, "030102": 6 * 5.0, "030199": 1 * mean_rate}
    total = sum(weights.values())
    assert districts["value"].to_dict() == pytest.approx({code: 1000.0 * w / total for code, w in weights.items()})
    assert districts["value"].sum() == pytest.approx(1000.0)
    assert districts["method"].to_dict() == {"030101": "apportioned_by_rate", "030102": "apportioned_by_rate",
                                             "030199": "apportioned"}
    assert districts["is_estimate"].all()
    assert districts.loc["030101", "value"] > districts.loc["030102", "value"]  # fewer children, more low income


def test_the_share_of_the_nearest_earlier_period_is_used_and_none_before_its_first():
    rows = [tidy("0301", "municipality", "children_low_income_count", "2021", 1000.0),
            tidy("0301", "municipality", "children_low_income_count", "2019", 800.0),
            *shares("2020", {"030101": 20.0, "030102": 20.0, "030199": 20.0})]
    result = breakdown(pd.DataFrame(rows), BY_RATE, population(years=("2018", "2019", "2020", "2021")))
    districts = result[(result["indicator_id"] == "children_low_income_count") & (result["region_level"] == "district")]
    by_period = districts.groupby("period")["method"].agg(set).to_dict()
    assert by_period == {"2021": {"apportioned_by_rate"}, "2019": {"apportioned"}}
    # equal shares everywhere: the same split as population alone
    in_2021 = districts[districts["period"] == "2021"].set_index("region_code")["value"]
    assert in_2021.to_dict() == pytest.approx({"030101": 1000.0 * 3 / 16, "030102": 1000.0 * 12 / 16,
                                               "030199": 1000.0 * 1 / 16})


def test_many_counts_in_one_call_each_get_their_own_weights_shares_and_suppression():
    # Worked by hand. Children per single age: Gamle Oslo 3, Grünerløkka 6 (12 in 2021), Uoppgitt 1 and a
    # district with none (030103); shares of persistent low income from 2020 on: 30 / 5 / 10, none for
    # Uoppgitt, which gets the population-weighted mean of the others.
    pop = population(years=("2019", "2020", "2021"))
    pop = pd.concat([pop, pop[pop["region_code"] == "030101"].assign(region_code="030103", value=0.0)],
                    ignore_index=True)
    rows = [tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0),
            tidy("0301", "municipality", "children_low_income_count", "2021", 800.0),
            tidy("0301", "municipality", "children_low_income_count", "2019", 500.0),
            tidy("0301", "municipality", "children_low_income_count", "2022", None, status=":"),
            *shares("2020", {"030101": 30.0, "030102": 5.0, "030103": 10.0})]
    result = breakdown(pd.DataFrame(rows), BY_RATE, pop)
    districts = result[(result["indicator_id"] == "children_low_income_count") & (result["region_level"] == "district")]
    by_key = districts.set_index(["period", "region_code"])
    order = ["030101", "030102", "030199", "030103"]
    # 2020: mean share (0.3 x 30 + 0.6 x 5 + 0 x 10) / 0.9 = 13.33; weights 9, 3, 1.33, 0 of 13.33
    # 2021 (population of 2021, shares of 2020): mean (3 x 30 + 12 x 5) / 15 = 10; weights 90, 60, 10, 0 of 160
    # 2019 (before the shares' first period): population alone, 3 / 6 / 1 / 0 of 10
    expected = {"2020": [675.0, 225.0, 100.0, 0.0], "2021": [450.0, 300.0, 50.0, 0.0], "2019": [150.0, 300.0, 50.0, 0.0]}
    for period, values in expected.items():
        assert by_key.loc[period, "value"].reindex(order).tolist() == pytest.approx(values)
        assert set(by_key.loc[period, "weights_period"]) == {period}
    by_rate = ["apportioned_by_rate", "apportioned_by_rate", "apportioned", "apportioned_by_rate"]
    assert by_key.loc["2020", "method"].reindex(order).tolist() == by_rate
    assert by_key.loc["2021", "method"].reindex(order).tolist() == by_rate
    assert set(by_key.loc["2019", "method"]) == {"apportioned"}
    suppressed = by_key.loc["2022"]
    assert len(suppressed) == 4 and suppressed["value"].isna().all() and set(suppressed["status"]) == {":"}
    assert set(suppressed["weights_period"]) == {"2021"}
    assert districts["is_estimate"].all()
    assert by_key.loc[("2020", "030102"), "region_name"] == "Grünerløkka"


def test_a_count_without_population_in_its_year_or_earlier_is_refused():
    rows = [tidy("0301", "municipality", "children_low_income_count", "2019", 500.0)]
    with pytest.raises(BreakdownError, match=r"children_low_income_count: no 0-17 population for .*'2019'"):
        run(rows)


def test_a_negative_share_is_refused_naming_the_count():
    rows = [tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0),
            *shares("2020", {"030101": -3.0, "030102": 5.0})]
    with pytest.raises(BreakdownError, match=r"children_low_income_count: cannot apportion the municipal counts "
                                             r"\[\{'region_code': '0301', 'period': '2020', 'sex': 'total'\}\]: "
                                             r"rate must be finite and non-negative; groups \[0\] have \[-3.0\]"):
        breakdown(pd.DataFrame(rows), BY_RATE, population())


def test_suppressed_municipal_count_by_rate_stays_suppressed():
    rows = [tidy("0301", "municipality", "children_low_income_count", "2020", None, status=":"),
            *shares("2020", {"030101": 30.0, "030102": 5.0, "030199": 10.0})]
    result = breakdown(pd.DataFrame(rows), BY_RATE, population())
    districts = result[(result["indicator_id"] == "children_low_income_count") & (result["region_level"] == "district")]
    assert len(districts) == 3 and districts["value"].isna().all() and set(districts["status"]) == {":"}


def test_suppressed_municipal_count_gives_suppressed_districts_never_numbers():
    result = run([tidy("0301", "municipality", "children_low_income_count", "2020", None, status=":")])
    districts = result[result["method"] == "apportioned"]
    assert len(districts) == 3
    assert districts["value"].isna().all() and set(districts["status"]) == {":"}


def test_a_share_is_never_apportioned():
    # The registry refuses such an indicator; breakdown refuses it too, whoever built it.
    share = indicator("neet_share", "share", "not_available").model_copy(
        update={"district_method": "apportioned", "apportion_by": {"indicator_id": "population", "age_group": "15-29",
                                                                   "assumption": ASSUMPTION}})
    registry = {**REGISTRY, "neet_share": share}
    rows = pd.DataFrame([tidy("0301", "municipality", "neet_share", "2020", 12.5)])
    with pytest.raises(BreakdownError, match="neet_share is a share: a share is never apportioned over districts"):
        breakdown(rows, registry, population())


def test_not_available_keeps_the_municipal_row_and_invents_no_districts():
    result = run([tidy("0301", "municipality", "children_low_income_share", "2020", 17.1),
                  tidy("0", "country", "children_low_income_share", "2020", 11.0)])
    shares = result[result["indicator_id"] == "children_low_income_share"]
    assert len(shares) == 2 and set(shares["method"]) == {"not_available"}
    assert not (shares["region_level"] == "district").any()
    assert shares.set_index("region_code").loc["0301", "value"] == 17.1


def test_population_bands_used_for_apportionment_are_published_as_aggregated():
    result = run([tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0)])
    band = result[(result["indicator_id"] == "population") & (result["age_group"] == "0-17")]
    assert set(band["method"]) == {"aggregated"} and not band["is_estimate"].any()
    assert band[(band["region_code"] == "030101") & (band["period"] == "2020")]["value"].tolist() == [54.0]


def test_age_band_with_a_missing_age_is_refused():
    pop = population(("2020",))
    pop = pop[~((pop["region_code"] == "030101") & (pop["age_group"] == "7"))]
    with pytest.raises(BreakdownError, match=r"age band '0-17': single ages missing"):
        aggregate_age_band(pop, "0-17")


def test_district_sums_within_rounding_pass_and_differences_are_reported():
    rows = [tidy(code, "district", "population", year, value, table_id="10826")
            for year, values in {"2020": (30.0, 60.0, 10.0), "2021": (30.0, 60.0, 10.0)}.items()
            for code, value in zip(DISTRICTS, values)]
    rows += [tidy("0301", "municipality", "population", "2020", 101.0, table_id="10826"),
             tidy("0301", "municipality", "population", "2021", 95.0, table_id="10826")]
    frame = pd.DataFrame(rows).assign(method="observed", is_estimate=False)
    report = check_district_sums(frame, REGISTRY)
    assert report[["region_code", "period", "district_sum", "total", "difference", "n_districts"]].values.tolist() == [
        ["0301", "2021", 100.0, 95.0, 5.0, 3]]
    assert check_district_sums(frame, REGISTRY, decimals={"population": -1}).empty  # tolerance 0.5*10*3 = 15


def test_district_sums_report_is_in_key_order_and_skips_groups_with_a_missing_district():
    values = {"2022": (30.0, 60.0, 10.0), "2019": (30.0, 60.0, 10.0), "2021": (30.0, None, 10.0)}
    rows = [tidy(code, "district", "population", year, value, table_id="10826", status=None if value else ":")
            for year, by_district in values.items() for code, value in zip(DISTRICTS, by_district)]
    rows += [tidy("0301", "municipality", "population", year, 90.0, table_id="10826") for year in values]
    frame = pd.DataFrame(rows).assign(method="observed", is_estimate=False)
    report = check_district_sums(frame, REGISTRY)
    assert report[["region_code", "period", "district_sum", "total", "n_districts"]].values.tolist() == [
        ["0301", "2019", 100.0, 90.0, 3], ["0301", "2022", 100.0, 90.0, 3]]


def test_two_population_tables_for_the_same_districts_weigh_from_one_never_a_mix():
    """07459 and 10826 both give district populations: each municipality, year and sex is weighed by one
    table (the one with more districts, then the first by name), so no district is counted twice."""
    full = population(years=("2020",))
    # A second table with the same districts but other figures (1, 1, 8 per age), and in 2021 one without
    # Uoppgitt, beside the complete 10826.
    other = full.assign(table_id="07459", value=full["region_code"].map({"030101": 1.0, "030102": 1.0,
                                                                         "030199": 8.0}))
    partial = population(years=("2021",)).assign(table_id="07459")
    partial = partial[partial["region_code"] != "030199"].assign(value=5.0)
    pop = pd.concat([full, other, population(years=("2021",)), partial], ignore_index=True)
    result = run([tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0),
                  tidy("0301", "municipality", "children_low_income_count", "2021", 1000.0)], pop)
    districts = result[(result["indicator_id"] == "children_low_income_count") & (result["region_level"] == "district")]
    assert not districts.duplicated(["region_code", "period"]).any()
    by_period = {period: rows.set_index("region_code")["value"].to_dict() for period, rows in districts.groupby("period")}
    # 2020: equal coverage, "ssb/07459" comes first by name: 1, 1, 8 of 10.
    assert by_period["2020"] == pytest.approx({"030101": 100.0, "030102": 100.0, "030199": 800.0})
    # 2021: 10826 has all three districts (3, 12, 1 of 16), 07459 two.
    assert by_period["2021"] == pytest.approx({"030101": 187.5, "030102": 750.0, "030199": 62.5})


def test_a_table_giving_a_district_twice_for_one_year_is_refused():
    pop = population(years=("2020",))
    pop = pd.concat([pop, pop[pop["region_code"] == "030101"].assign(period="2018-2020",
                                                                      period_type="multi_year")])
    with pytest.raises(BreakdownError, match="more than once for a year and sex.*030101"):
        run([tidy("0301", "municipality", "children_low_income_count", "2020", 1000.0)], pop)
