"""ci_pipeline.derived: shares whose numerator and denominator come from different tables, on small frames
whose expected figures are worked out by hand here (the real-data checks are in test_real_figures_e2e.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ci_pipeline.derived import DerivationError, DerivationReport, derive_indicator, derive_indicators
from ci_pipeline.indicators import Indicator

COLUMNS = ["source", "table_id", "indicator_id", "region_code", "region_level", "region_name", "original_region_code",
           "period", "period_type", "sex", "age_group", "value", "unit", "numerator", "denominator", "status",
           "method", "is_estimate", "weights_period", "harmonised", "harmonisation_rule", "harmonisation_outcome",
           "aggregate_of_districts", "source_updated", "retrieved_at", "snapshot_sha256", "provenance"]


def row(source, table_id, indicator_id, region, period, age, value, status=None, provenance="recorded", sha="n1"):
    return {"source": source, "table_id": table_id, "indicator_id": indicator_id, "region_code": region,
            "region_level": "municipality" if region == "0301" else "district", "region_name": region,
            "original_region_code": region, "period": period, "period_type": "year", "sex": "total",
            "age_group": age, "value": value, "unit": "persons", "numerator": math.nan, "denominator": math.nan,
            "status": status, "method": "observed", "is_estimate": False, "weights_period": None, "harmonised": True,
            "harmonisation_rule": "same", "harmonisation_outcome": "unchanged", "aggregate_of_districts": False,
            "source_updated": f"{period}-12-31T07:00:00Z", "retrieved_at": "2026-08-04T00:00:00.000000Z",
            "snapshot_sha256": sha, "provenance": provenance}


def population(region, year, per_age, ages=range(18, 30)):
    """Single years of age, `per_age(age)` residents each (SSB 10826's shape)."""
    return [row("ssb", "10826", "population", region, str(year), str(age), float(per_age(age)),
                provenance="reconstructed", sha="p1") for age in ages]


def indicator(numerator, denominator, offset=1, age_group="18-29", unit="percent"):
    return Indicator.model_validate({
        "id": "young_share", "name_nb": "x", "name_en": "x", "definition": "x", "unit": unit,
        "polarity": "higher_is_worse", "kind": "share", "test": "binomial", "pooling_years": 1,
        "district_method": "derived",
        "derived": {"numerator": numerator, "denominator": denominator, "denominator_period_offset": offset,
                    "alignment": "x", "age_group": age_group},
    })


RECIPIENTS = {"source": "oslo", "table_id": "OK-SOS006", "indicator_id": "recipients", "age_group": "18-29"}
RESIDENTS = {"source": "ssb", "table_id": "10826", "indicator_id": "population", "ages": "18-29"}


@pytest.fixture
def observations() -> pd.DataFrame:
    rows = [
        row("oslo", "OK-SOS006", "recipients", "0301", "2022", "18-29", 1700.0),
        row("oslo", "OK-SOS006", "recipients", "0301", "2023", "18-29", 1822.0),
        row("oslo", "OK-SOS006", "recipients", "030101", "2022", "18-29", 127.0),
        row("oslo", "OK-SOS006", "recipients", "030101", "2023", "18-29", math.nan, status=":"),
        row("oslo", "OK-SOS006", "recipients", "0301", "2024", "18-29", 1900.0),  # no population of 1.1.2025
        row("oslo", "OK-SOS006", "recipients", "0301", "2023", "total", 30000.0),  # another group: not used
        *population("0301", 2023, lambda age: 11000 + age),
        *population("0301", 2024, lambda age: 11400),
        *population("030101", 2023, lambda age: 1100),
        *population("030101", 2024, lambda age: 1113),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_recipients_per_31_december_over_residents_per_1_january_the_year_after(observations):
    report = DerivationReport()
    frame = derive_indicator(observations, indicator(RECIPIENTS, RESIDENTS), report).set_index(
        ["region_code", "period"])
    # 2022 recipients over the residents of 1.1.2023: sum(11000 + age for age 18..29) = 132,282.
    oslo_2022 = frame.loc[("0301", "2022")]
    assert oslo_2022["denominator"] == 132_282 and oslo_2022["numerator"] == 1700
    assert oslo_2022["value"] == pytest.approx(1700 / 132_282 * 100)
    oslo_2023 = frame.loc[("0301", "2023")]
    assert oslo_2023["denominator"] == 12 * 11_400
    assert oslo_2023["value"] == pytest.approx(1822 / 136_800 * 100)
    district = frame.loc[("030101", "2022")]
    assert district["denominator"] == 12 * 1_100 and district["value"] == pytest.approx(127 / 13_200 * 100)
    assert set(frame["method"]) == {"derived"} and set(frame["source"]) == {"derived"}
    assert set(frame["table_id"]) == {"OK-SOS006/10826"} and set(frame["age_group"]) == {"18-29"}
    assert set(frame["unit"]) == {"percent"} and not frame["is_estimate"].any()
    # Provenance is the worst of the rows used; every answer used is named.
    assert set(frame["provenance"]) == {"reconstructed"} and set(frame["snapshot_sha256"]) == {"n1,p1"}
    assert oslo_2022["source_updated"] == "2023-12-31T07:00:00Z"  # the later of the two rows' stamps
    assert report.rows == {"young_share": 4} and report.without_denominator == {"young_share": ["2024"]}


def test_a_suppressed_numerator_stays_suppressed_never_zero(observations):
    frame = derive_indicator(observations, indicator(RECIPIENTS, RESIDENTS)).set_index(["region_code", "period"])
    suppressed = frame.loc[("030101", "2023")]
    assert suppressed["status"] == ":" and math.isnan(suppressed["value"]) and math.isnan(suppressed["numerator"])
    assert suppressed["denominator"] == 12 * 1_113  # the base is public and reveals nothing


def test_published_groups_are_summed_before_dividing_never_averaged():
    counts = {("030101", "20-24"): 275.0, ("030101", "25-29"): 359.0, ("030102", "20-24"): 311.0,
              ("030102", "25-29"): math.nan, ("030103", "20-24"): 50.0}
    rows = [row("oslo", "OK-STØ020", "recipients", region, "2019", age, value, status=":" if math.isnan(value) else None)
            for (region, age), value in counts.items()]
    for region in ("030101", "030102", "030103"):
        rows += population(region, 2019, lambda age: 500 if age < 25 else 700, ages=range(20, 30))
    share = indicator({"source": "oslo", "table_id": "OK-STØ020", "indicator_id": "recipients",
                       "age_groups": ["20-24", "25-29"]},
                      {"source": "ssb", "table_id": "10826", "indicator_id": "population", "ages": "20-29"},
                      offset=0, age_group="20-29")
    frame = derive_indicator(pd.DataFrame(rows, columns=COLUMNS), share).set_index("region_code")
    # (275 + 359) / (5 x 500 + 5 x 700); the mean of the two band shares (11.0 % and 10.26 %) would be 10.63 %.
    assert frame.loc["030101", "value"] == pytest.approx(634 / 6000 * 100)
    assert frame.loc["030101", "numerator"] == 634
    # A suppressed part suppresses the sum (no partial sum); a group the table lacks makes it missing.
    assert frame.loc["030102", "status"] == ":" and math.isnan(frame.loc["030102", "value"])
    assert frame.loc["030103", "status"] == ".." and math.isnan(frame.loc["030103", "value"])


def test_a_zero_base_cannot_be_computed(observations):
    zero = observations.copy()
    zero.loc[(zero["indicator_id"] == "population") & (zero["region_code"] == "030101"), "value"] = 0.0
    frame = derive_indicator(zero, indicator(RECIPIENTS, RESIDENTS)).set_index(["region_code", "period"])
    assert frame.loc[("030101", "2022"), "status"] == "." and math.isnan(frame.loc[("030101", "2022"), "value"])


def test_only_observed_harmonised_rows_take_part(observations):
    apportioned = observations.assign(method="apportioned")
    with pytest.raises(DerivationError, match=r"numerator: no observed rows of recipients in oslo table OK-SOS006"):
        derive_indicator(apportioned, indicator(RECIPIENTS, RESIDENTS))


def test_mistakes_name_the_indicator_and_the_table(observations):
    with pytest.raises(DerivationError, match=r"young_share, numerator: oslo table OK-SOS006 has no age group \['20-24'\]"):
        derive_indicator(observations, indicator({**RECIPIENTS, "age_group": "20-24"}, RESIDENTS))
    with pytest.raises(DerivationError, match=r"young_share, denominator: no observed rows of population in ssb "
                                              r"table 07459"):
        derive_indicator(observations, indicator(RECIPIENTS, {**RESIDENTS, "table_id": "07459"}))
    quarterly = observations.assign(period_type="quarter")
    with pytest.raises(DerivationError, match=r"a derivation aligns years only"):
        derive_indicator(quarterly, indicator(RECIPIENTS, RESIDENTS))
    with pytest.raises(DerivationError, match=r"needs a unit of"):
        derive_indicator(observations, indicator(RECIPIENTS, RESIDENTS, unit="persons"))


def test_derive_indicators_gives_the_observation_columns_for_every_derived_indicator(observations):
    registry = {"young_share": indicator(RECIPIENTS, RESIDENTS)}
    frame = derive_indicators(observations, registry)
    assert list(frame.columns) == list(observations.columns) and len(frame) == 4
    assert derive_indicators(observations, {}).empty


def test_a_sum_of_groups_carries_the_worst_provenance_of_its_rows():
    provenance = {("030101", "20-24"): "recorded", ("030101", "25-29"): "illustrative",
                  ("030102", "20-24"): "recorded", ("030102", "25-29"): "recorded"}
    rows = [row("oslo", "OK-STØ020", "recipients", region, "2019", age, 100.0, provenance=value)
            for (region, age), value in provenance.items()]
    for region in ("030101", "030102"):
        rows += population(region, 2019, lambda age: 500, ages=range(20, 30))
    share = indicator({"source": "oslo", "table_id": "OK-STØ020", "indicator_id": "recipients",
                       "age_groups": ["20-24", "25-29"]},
                      {"source": "ssb", "table_id": "10826", "indicator_id": "population", "ages": "20-29"},
                      offset=0, age_group="20-29")
    frame = derive_indicator(pd.DataFrame(rows, columns=COLUMNS), share).set_index("region_code")
    # 030101: an illustrative group makes the sum illustrative; 030102: its population is the worst.
    assert frame["provenance"].to_dict() == {"030101": "illustrative", "030102": "reconstructed"}
    rows[0]["provenance"] = "guessed"
    with pytest.raises(ValueError, match=r"unknown provenance value\(s\) \['guessed'\]"):
        derive_indicator(pd.DataFrame(rows, columns=COLUMNS), share)
