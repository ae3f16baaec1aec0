"""Survey weights per wave and district (surveys/weighting.py): raked to age band and sex margins, compared
with classic iterative proportional fitting on the district's sex x age band table written out here;
sparse cells collapsed or left out with a note; clear errors; and the effective n the marts publish."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from survey_support import generator

from ci_pipeline.stats import kish_effective_n, wilson_intervals
from ci_pipeline.surveys.aggregate import aggregate_responses, respondent_cells
from ci_pipeline.surveys.codebook import load_codebook
from ci_pipeline.surveys.publish import build_survey_marts
from ci_pipeline.surveys.weighting import TRIM_BOUNDS, WeightingError, rake_waves

REPO = Path(__file__).resolve().parents[1]
WAVE = "2024-spring"
BANDS = ["10-12", "13-15", "16-18", "19-25"]
AGE_OF_BAND = {"10-12": "11", "13-15": "14", "16-18": "17", "19-25": "20"}


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(REPO / "assets" / "surveys")


def counts(table: dict[tuple[str, str], int], district: str = "030101") -> pd.DataFrame:
    """Respondent cells from {(sex, age band): n}."""
    return pd.DataFrame([{"wave": WAVE, "district_code": district, "sex": sex, "age_band": band, "n": n}
                         for (sex, band), n in table.items()])


def population(by_band: dict[str, float], by_sex: dict[str, float] | None, district: str = "030101"):
    """Tidy rows of the two population tables: residents per band (SSB spelling, sex summed) and the split
    by sex (the reference series' spelling)."""
    rows = [{"source": "ssb", "table_id": "10826", "indicator_id": "population", "region_code": f"{district}a",
             "period": "2024", "sex": "total", "age_group": AGE_OF_BAND[band], "value": value}
            for band, value in by_band.items()]
    rows += [{"source": "reference", "table_id": "oslo_population_sex_age", "indicator_id": "population_sex_age",
              "region_code": district, "period": "2024", "sex": sex, "age_group": "15", "value": value}
             for sex, value in (by_sex or {}).items()]
    return pd.DataFrame(rows)


def ipf(sample: np.ndarray, rows: np.ndarray, columns: np.ndarray, cycles: int = 2000) -> np.ndarray:
    """Deming and Stephan's iterative proportional fitting of a sex x age band table of counts to its row
    and column totals: the fitted table over the sample is each cell's weight."""
    fitted = sample.astype(float)
    for _ in range(cycles):
        fitted *= (rows / fitted.sum(axis=1))[:, None]
        fitted *= columns / fitted.sum(axis=0)
    return fitted / sample


def codebook_indicator(codebook, indicator_id: str):
    return next(i for i in codebook.indicators if i.id == indicator_id)


def weights_table(weights: pd.DataFrame) -> np.ndarray:
    table = weights.set_index(["sex", "age_band"])["weight"]
    return np.array([[table[(sex, band)] for band in BANDS] for sex in ("female", "male")])


def test_a_district_is_raked_like_classic_ipf_of_its_table(codebook):
    sample = np.array([[30, 25, 20, 12], [20, 22, 18, 9]])
    by_band = {"10-12": 900.0, "13-15": 1000.0, "16-18": 950.0, "19-25": 1650.0}
    by_sex = {"female": 2300.0, "male": 2100.0}  # another table: its split by sex, not its total, is used
    cells = counts({(sex, band): int(sample[i, j]) for i, sex in enumerate(("female", "male"))
                    for j, band in enumerate(BANDS)})
    weighting = rake_waves(cells, population(by_band, by_sex), codebook)
    assert weighting.notes == []
    total = sum(by_band.values())
    sex_totals = np.array([by_sex["female"], by_sex["male"]]) / sum(by_sex.values()) * total
    expected = ipf(sample, sex_totals, np.array([by_band[b] for b in BANDS]))
    assert weights_table(weighting.weights) == pytest.approx(expected, rel=1e-5)
    # the bounds did not bind here, so nothing was trimmed and the margins are met
    wave = weighting.waves[WAVE]
    assert wave.trimmed == 0 and wave.max_margin_error < 1e-6
    assert wave.population_period == "2024" and wave.sex_period == "2024"
    assert "SSB 10826" in wave.margins and "oslo_population_sex_age" in wave.margins
    per_person = np.repeat(expected.ravel(), sample.ravel())
    assert wave.design_effect == pytest.approx(sample.sum() / kish_effective_n(per_person), rel=1e-5)
    used = {(entry["source"], entry["table_id"]): entry["periods"] for entry in weighting.inputs}
    assert used == {("ssb", "10826"): ["2024"], ("reference", "oslo_population_sex_age"): ["2024"]}


def test_a_sparse_age_band_is_collapsed_into_its_neighbour_and_noted(codebook):
    # one respondent would stand for 3000 residents: 16 x the mean weight, beyond the bounds
    sample = {("female", "10-12"): 20, ("male", "10-12"): 20, ("female", "13-15"): 20, ("male", "13-15"): 20,
              ("female", "16-18"): 15, ("male", "16-18"): 15, ("female", "19-25"): 1}
    by_band = {"10-12": 1000.0, "13-15": 1000.0, "16-18": 1000.0, "19-25": 3000.0}
    weighting = rake_waves(counts(sample), population(by_band, {"female": 3000.0, "male": 3000.0}), codebook)
    assert weighting.notes == ["wave 2024-spring, district Gamle Oslo: age bands collapsed into 16-18+19-25 "
                               "(too few respondents for the trimming bounds)"]
    weights = weighting.weights.set_index(["sex", "age_band"])["weight"]
    n = pd.Series(sample).rename_axis(["sex", "age_band"])
    # the collapsed level is met as a whole; the others band by band; and every weight keeps the bounds
    assert (weights * n).loc[[("female", "16-18"), ("male", "16-18"), ("female", "19-25")]].sum() == \
        pytest.approx(4000.0)
    assert (weights * n).loc[[("female", "10-12"), ("male", "10-12")]].sum() == pytest.approx(1000.0)
    mean = 6000.0 / n.sum()
    assert weights.min() >= TRIM_BOUNDS[0] * mean * (1 - 1e-9) and weights.max() <= TRIM_BOUNDS[1] * mean * (1 + 1e-9)


def test_respondents_of_one_sex_are_raked_to_age_bands_alone(codebook):
    sample = {("female", band): 10 for band in BANDS}
    weighting = rake_waves(counts(sample), population(dict.fromkeys(BANDS, 500.0), {"female": 990.0, "male": 1010.0}),
                           codebook)
    assert weighting.notes == ["wave 2024-spring, district Gamle Oslo: too few respondents of one sex for the "
                               "trimming bounds; raked to age bands alone"]
    assert weighting.weights["weight"].tolist() == pytest.approx([50.0] * 4)


def test_margins_that_cannot_both_be_met_within_the_bounds_fall_back_to_age_bands(codebook):
    # each margin alone can be met, but the younger are nearly all girls and the older nearly all boys,
    # while the population is 80 % female: the older band's one girl would need a weight beyond the bound
    sample = {("female", "13-15"): 10, ("male", "13-15"): 1, ("female", "16-18"): 1, ("male", "16-18"): 10}
    by_band = {"13-15": 50.0, "16-18": 50.0}
    weighting = rake_waves(counts(sample), population(by_band, {"female": 80.0, "male": 20.0}), codebook)
    assert weighting.notes == ["wave 2024-spring, district Gamle Oslo: age bands and sex cannot both be met "
                               "within the trimming bounds; raked to age bands alone"]
    assert weighting.weights["weight"].tolist() == pytest.approx([50 / 11] * 4)


def test_waves_that_cannot_be_weighted_name_wave_and_district(codebook):
    no_residents = population({"13-15": 500.0}, None, district="030102")
    with pytest.raises(WeightingError, match=r"^wave 2024-spring, district Gamle Oslo: the population table has "
                                             r"no residents for it$"):
        rake_waves(counts({("female", "13-15"): 10}), no_residents, codebook)
    assert rake_waves(counts({("female", "13-15"): 10}), None, codebook).weights is None


def test_published_effective_n_is_n_over_a_design_effect_shared_by_the_level(codebook):
    responses = generator.synthetic_responses(codebook, WAVE, respondents=900, seed=11)
    by_band = {"10-12": 9000.0, "13-15": 8500.0, "16-18": 8000.0, "19-25": 21000.0}
    people = pd.concat([population(by_band, {"female": 23000.0, "male": 23500.0}, district=code)
                        for code in codebook.districts], ignore_index=True)
    weighting = rake_waves(respondent_cells(responses, codebook), people, codebook)
    cells = aggregate_responses(responses, codebook, weighting.weights)
    weighted = cells[cells["weighted"]]
    assert len(weighted) and not cells["weighted"].all()
    # an independent weighted share and Kish design effect from the respondents themselves
    indicator = codebook_indicator(codebook, "survey_health_wellbeing")
    assert indicator.weighting == "population"
    answers = responses[[q.id for q in indicator.questions]]
    answered = (answers >= 0).sum(axis=1)
    positives = sum(answers[q.id].isin(q.positive).astype(int) for q in indicator.questions)
    scored = responses.assign(positive=(2 * positives >= answered))[answered > 0].merge(
        weighting.weights, on=["wave", "district_code", "sex", "age_band"])
    oslo = weighted[(weighted["indicator_id"] == indicator.id) & (weighted["district_code"] == codebook.oslo_code)
                    & (weighted["group_type"] == "total")].iloc[0]
    assert oslo["share_positive"] == pytest.approx(np.average(scored["positive"], weights=scored["weight"]))
    deff = round(len(scored) / kish_effective_n(scored["weight"].to_numpy()), 2)
    assert oslo["effective_n"] == pytest.approx(oslo["n"] / deff)
    low, high = wilson_intervals([oslo["share_positive"] * oslo["effective_n"]], [oslo["effective_n"]])
    assert (oslo["ci_low"], oslo["ci_high"]) == pytest.approx((low[0], high[0]))
    # a district cell's effective n says nothing beyond its n: one ratio per wave x indicator
    districts = weighted[weighted["district_code"] != codebook.oslo_code]
    ratios = (districts["n"] / districts["effective_n"]).round(9).groupby(districts["indicator_id"]).nunique()
    assert (ratios == 1).all()

    results = build_survey_marts(responses, codebook, people)[0].frame
    shown = results[results["weighted"] & results["n"].notna()]
    assert set(shown["weighting"]) == {"raking"} and set(shown["population_period"]) == {"2024"}
    assert results.loc[results["n"].isna(), "effective_n"].isna().all()
    assert set(results.loc[~results["weighted"], "weighting"]) == {"unweighted"}
    assert results.loc[~results["weighted"], "weighting_margins"].isna().all()
    # the questions behind each figure, as asked in the wave, in both languages from the codebook
    wellbeing = results[results["indicator_id"] == "survey_health_wellbeing"].iloc[0]
    assert wellbeing["question_text_nb"] == ("Alt i alt, hvor fornøyd er du med livet ditt for tiden? (0-10) / "
                                             "Hvor godt har du hatt det den siste uka? (0-10)")
    assert wellbeing["question_text_en"].startswith("Overall, how satisfied are you with your life")
