"""Codebook, pseudonymisation, aggregation (Wilson, weights), disclosure control and change per person."""

import hashlib
import hmac
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from survey_support import generator

from ci_pipeline.config import ConfigError
from ci_pipeline.stats import wilson_intervals
from ci_pipeline.surveys.aggregate import aggregate_responses, respondent_cells
from ci_pipeline.surveys.attack import Attacker, Judge, subtraction_attack
from ci_pipeline.surveys.change import aggregate_change
from ci_pipeline.surveys.codebook import load_codebook
from ci_pipeline.surveys.disclosure import protect
from ci_pipeline.surveys.disclosure_table import DisclosureRules, Table
from ci_pipeline.surveys.ingest import ingest_wave
from ci_pipeline.surveys.pseudonymise import (
    ILLUSTRATIVE_KEY,
    SECRET_ENV_VAR,
    PseudonymisationError,
    pseudonym_secret,
    pseudonymise,
)
from ci_pipeline.surveys.publish import build_survey_change, build_survey_marts, change_lines, results_lines
from ci_pipeline.surveys.weighting import WeightingError, rake_waves

synthetic_responses = generator.synthetic_responses

REPO = Path(__file__).resolve().parents[1]
SECRET = "a-long-enough-test-secret-0123456789"


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(REPO / "assets" / "surveys")


def respondents(codebook, wave, rows):
    """Stored-shape responses from (respondent_key, district, sex, age_band, answer) tuples; every question
    of the wave gets `answer` (None = not answered)."""
    frame = pd.DataFrame(rows, columns=["respondent_key", "district_code", "sex", "age_band", "answer"])
    out = frame.drop(columns="answer").assign(wave=wave, provenance="illustrative")
    for question in codebook.questions_in_wave(wave):
        out[question.id] = pd.array(frame["answer"], dtype="Int16")
    return out


# --- codebook ---------------------------------------------------------------------------------------


def test_codebook_has_five_focus_areas_with_three_indicators_each(codebook):
    assert set(codebook.focus_areas) == {"work", "housing", "democracy", "health", "education"}
    for area in codebook.focus_areas:
        assert sum(1 for i in codebook.indicators if i.focus_area == area) >= 3
    assert all(i.id.startswith("survey_") for i in codebook.indicators)
    assert {q.scale.id for q in codebook.questions} == {"likert5", "yes_no", "scale0_10"}


def test_question_set_version_changes_with_a_reworded_question(codebook):
    sleep = next(i for i in codebook.indicators if i.id == "survey_health_sleep_activity")
    versions = [codebook.question_set_version(sleep, w.id) for w in codebook.waves]
    assert versions == ["2024-spring", "2024-spring", "2025-spring"]


def test_codebook_rejects_positive_answers_at_the_bottom_of_a_mean_scale(tmp_path):
    shutil.copytree(REPO / "assets" / "surveys", tmp_path / "surveys")
    path = tmp_path / "surveys" / "codebook.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "{id: q_work_future_job, scale: likert5, positive: [4, 5]", "{id: q_work_future_job, scale: likert5, "
        "positive: [1, 2]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"codebook.yaml: focus_areas\[0\].indicators\[0\].questions\[0\]: "
                       "on a scale with a mean, the positive answers must be the top values"):
        load_codebook(tmp_path / "surveys")


# --- pseudonymisation -----------------------------------------------------------------------------------


def test_pseudonym_is_hmac_sha256_of_the_id():
    expected = hmac.new(SECRET.encode(), b"R-17", hashlib.sha256).hexdigest()
    assert pseudonymise(" R-17 ", SECRET.encode()) == expected
    assert pseudonymise("R-17", b"another secret, also long") != expected


def test_real_wave_is_refused_without_the_secret():
    with pytest.raises(PseudonymisationError, match="not marked illustrative"):
        pseudonym_secret("2026-spring", illustrative=False, env={})
    assert pseudonym_secret("2026-spring", illustrative=False, env={SECRET_ENV_VAR: SECRET}) == SECRET.encode()
    assert pseudonym_secret("2024-spring", illustrative=True, env={}) == ILLUSTRATIVE_KEY
    with pytest.raises(PseudonymisationError, match="shorter"):
        pseudonym_secret("2026-spring", illustrative=False, env={SECRET_ENV_VAR: "short"})


def test_ingest_of_a_real_wave_needs_the_secret(tmp_path):
    shutil.copytree(REPO / "assets" / "surveys", tmp_path / "surveys")
    waves = tmp_path / "surveys" / "waves.yaml"
    waves.write_text(waves.read_text(encoding="utf-8") + '  - {id: 2025-autumn, date: "2025-10-15"}\n',
                     encoding="utf-8")
    codebook = load_codebook(tmp_path / "surveys")
    frame = pd.DataFrame({"respondent_id": ["R1"], "district": ["030101"], "sex": ["female"], "age": [14]})
    for question in codebook.questions_in_wave("2025-autumn"):
        frame[question.id] = 1
    path = tmp_path / "2025-autumn.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(PseudonymisationError):
        ingest_wave(path, codebook, "2025-autumn", env={})
    validated = ingest_wave(path, codebook, "2025-autumn", env={SECRET_ENV_VAR: SECRET})
    # the codebook says ids are case-insensitive: "R1" is keyed as "r1"
    assert validated.responses["respondent_key"].iloc[0] == pseudonymise("r1", SECRET.encode())
    assert validated.responses["provenance"].iloc[0] == "recorded"


# --- Wilson interval and aggregation ---------------------------------------------------------------------


def test_wilson_intervals_match_published_values():
    # Wilson (1927) 95 % intervals as tabulated by Newcombe (1998), Statistics in Medicine 17:857, table I
    low, high = wilson_intervals([81, 15, 0, 1, 5, 10], [263, 148, 20, 29, 10, 10])
    expected = [(0.2553, 0.3662), (0.0624, 0.1605), (0.0, 0.1611), (0.0061, 0.1718), (0.2366, 0.7634),
                (0.7225, 1.0)]
    assert np.allclose(np.column_stack([low, high]), expected, atol=5e-5)
    low, high = wilson_intervals([0], [0])
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_aggregation_counts_shares_and_means(codebook):
    wave = "2024-spring"
    rows = [(f"k{i}", "030101", "female" if i % 2 else "male", "13-15", 5 if i < 6 else 1) for i in range(10)]
    rows += [(f"m{i}", "030102", "female", "16-18", None if i == 0 else 4) for i in range(5)]
    cells = aggregate_responses(respondents(codebook, wave, rows), codebook)
    lonely = cells[cells["indicator_id"] == "survey_health_loneliness"].set_index(
        ["district_code", "group_type", "group_value"])
    gamle = lonely.loc[("030101", "total", "total")]
    assert gamle["n"] == 10 and gamle["share_positive"] == pytest.approx(0.6)
    assert gamle["mean"] == pytest.approx((6 * 5 + 4 * 1) / 10)
    low, high = wilson_intervals([6], [10])
    assert (gamle["ci_low"], gamle["ci_high"]) == pytest.approx((low[0], high[0]))
    # the one respondent who answered nothing does not count
    assert lonely.loc[("030102", "total", "total"), "n"] == 4
    oslo = lonely.loc[("0301", "total", "total")]
    assert oslo["n"] == 14 and oslo["share_positive"] == pytest.approx(10 / 14)
    assert lonely.loc[("0301", "age_band", "13-15"), "n"] == 10
    bullied = cells[(cells["indicator_id"] == "survey_education_bullied") & (cells["district_code"] == "030101")]
    assert bullied["mean"].isna().all()  # yes/no has no mean


def test_weights_calibrate_to_population_and_degrade_without_sex(codebook):
    wave = "2024-spring"
    rows = [(f"a{i}", "030101", "female", "13-15", 5) for i in range(30)]
    rows += [(f"b{i}", "030101", "male", "13-15", 1) for i in range(10)]
    responses = respondents(codebook, wave, rows)
    cells = respondent_cells(responses, codebook)
    by_sex = pd.DataFrame({
        "indicator_id": "population", "region_code": "030101a", "period": "2024", "age_group": "14",
        "sex": ["female", "male", "total"], "value": [100.0, 100.0, 200.0]})
    weighting = rake_waves(cells, by_sex, codebook)
    assert weighting.notes == []  # bands without residents or respondents need no collapsing
    assert weighting.waves[wave].margins.startswith("district x age band")
    results = aggregate_responses(responses, codebook, weighting.weights)
    safe = results[(results["indicator_id"] == "survey_housing_safe_neighbourhood")
                   & (results["district_code"] == "030101") & (results["group_type"] == "total")].iloc[0]
    assert bool(safe["weighted"]) and safe["share_positive"] == pytest.approx(0.5)
    unweighted = results[(results["indicator_id"] == "survey_health_loneliness")
                         & (results["district_code"] == "030101") & (results["group_type"] == "total")].iloc[0]
    assert not unweighted["weighted"] and unweighted["share_positive"] == pytest.approx(0.75)

    no_sex = by_sex[by_sex["sex"] == "total"]
    weighting = rake_waves(cells, no_sex, codebook)
    assert any("no population table with a split by sex" in note for note in weighting.notes)
    assert rake_waves(cells, None, codebook).weights is None


def test_ssb_unsuffixed_codes_of_the_old_division_are_not_joined(codebook):
    cells = pd.DataFrame({"wave": ["2024-spring"], "district_code": ["030101"], "sex": ["female"],
                          "age_band": ["13-15"], "n": [5]})
    population = pd.DataFrame({"indicator_id": "population", "region_code": ["030101", "030102a"],
                               "period": "2024", "age_group": "14", "sex": "total", "value": [999.0, 50.0]})
    # 030101 of the old division is another area: the wave's district has no residents, said by name
    with pytest.raises(WeightingError, match="wave 2024-spring, district .*no residents"):
        rake_waves(cells, population, codebook)


# --- disclosure control -----------------------------------------------------------------------------------


def test_attack_recovers_a_lone_suppressed_cell():
    table = pd.DataFrame({"n": [30.0, 12.0, np.nan, 10.0], "share": [0.5, 0.5, np.nan, 0.2]})
    recovered = subtraction_attack(table, [(0, np.array([1, 2, 3]))], "n", "share")
    assert recovered[["position", "recovered_count", "recovered_positives"]].values.tolist() == [[2, 8, 7]]


def toy_table(n, positives, lines):
    """A one-block table of counts with positive / not positive categories."""
    n, positives = np.asarray(n, dtype=float), np.asarray(positives, dtype=float)
    cells = pd.DataFrame({"n": n, "size": n, "positive": positives, "not_positive": n - positives,
                          "size_is_n": True})
    return Table(cells, ["positive", "not_positive"], ["positive", "not_positive"],
                 np.zeros(len(n), dtype=int), np.arange(len(n)), lines)


def brute_force_interval(n, hidden, lines, cell):
    """Every integer completion of the hidden n that satisfies the lines: the independent check of the LP."""
    import itertools

    n = np.asarray(n)
    hidden = list(np.flatnonzero(hidden))
    values = []
    for guess in itertools.product(range(int(n[0]) + 1), repeat=len(hidden)):
        trial = n.astype(float).copy()
        trial[hidden] = guess
        if all(trial[total] == trial[parts].sum() for total, parts in lines):
            values.append(trial[cell])
    return min(values), max(values)


def test_the_interval_attack_agrees_with_brute_force():
    # a 2 x 2 table with margins: rows (0: total, 1, 2), columns by line; cells 3..6 the inner cells
    n = [20, 8, 12, 3, 5, 7, 5, 10, 10]
    lines = [(0, np.array([1, 2])), (1, np.array([3, 4])), (2, np.array([5, 6])), (0, np.array([7, 8])),
             (7, np.array([3, 5])), (8, np.array([4, 6]))]
    table = toy_table(n, np.minimum(n, 3), lines)
    hidden = np.zeros(len(n), dtype=bool)
    hidden[[3, 4, 5, 6]] = True
    attacker = Attacker(table, np.where(hidden, np.nan, table.n), table.values * np.nan)
    for cell in (3, 4, 5, 6):
        expected = brute_force_interval(n, hidden, lines, cell)
        found = (attacker.bound("n", cell, 0, maximise=False), attacker.bound("n", cell, 0, maximise=True))
        assert found == pytest.approx(expected)
    # the primary cell (3 respondents) lies in [0, 8]: narrower than 10, so the attack recovers it
    primary = np.zeros(len(n), dtype=bool)
    primary[3] = True
    findings = Judge(table, DisclosureRules())(hidden, hidden, primary)
    assert [f.position for f in findings if f.kind == "size"] == [3]


def test_protect_widens_a_narrow_interval_and_hides_attribute_cells():
    # Oslo (0) = districts 1..4; district 1 has 4 respondents, district 2 has 9: together 13 < 10 + 4,
    # so the attack would pin district 1 to [0, 13]: wide enough; but 2 and 1 alone sum to 13 and the
    # zero-sized district 4 must not be the partner that makes the union small.
    n = [100, 4, 9, 87, 0]
    positives = [50, 4, 2, 44, 0]
    lines = [(0, np.array([1, 2, 3, 4]))]
    table = toy_table(n, positives, lines)
    primary = np.array(n) < 10
    size_hidden, value_hidden = protect(table, primary, DisclosureRules())
    assert size_hidden.tolist() == [False, True, True, False, True]
    assert Judge(table, DisclosureRules())(size_hidden, value_hidden, primary) == []
    # a 100 % share in a small published cell is hidden, with a partner so it cannot be subtracted
    n, positives = [100, 20, 30, 50], [60, 20, 15, 25]
    table = toy_table(n, positives, [(0, np.array([1, 2, 3]))])
    size_hidden, value_hidden = protect(table, np.zeros(4, dtype=bool), DisclosureRules())
    assert not size_hidden.any() and value_hidden[1] and value_hidden.sum() == 2


def test_the_survey_sql_runs_where_the_caller_says_and_each_connection_is_closed(codebook, survey_panel):
    # The Dagster layer passes its DuckDBResource's get_connection; any factory of closing connections works.
    opened = []

    @contextmanager
    def connect():
        connection = duckdb.connect()
        opened.append(connection)
        try:
            yield connection
        finally:
            connection.close()

    results, change = build_survey_marts(survey_panel.responses, codebook, connect=connect)
    assert len(opened) == 3  # change per person, the weighting cells, the cells
    for connection in opened:
        with pytest.raises(duckdb.ConnectionException):
            connection.execute("SELECT 1")
    pd.testing.assert_frame_equal(results.frame, survey_panel.results)
    pd.testing.assert_frame_equal(change.frame, survey_panel.change)


def test_published_results_follow_the_thresholds_and_resist_the_attack(codebook, survey_panel):
    mart = survey_panel.results
    suppressed = mart["status"] == ":"
    assert suppressed.any() and (~suppressed).any()
    assert mart.loc[suppressed, ["share_positive", "mean", "ci_low", "ci_high"]].isna().all().all()
    assert mart.loc[~suppressed, "share_positive"].notna().all()
    assert (mart["n"].dropna() >= 10).all()
    # n is hidden in every indicator of a wave or in none (the indicators describe the same respondents)
    hidden_n = mart.assign(hidden=mart["n"].isna()).groupby(
        ["wave", "district_code", "group_type", "group_value"])["hidden"].nunique()
    assert (hidden_n == 1).all()
    # sex splits only where total >= 40 and each sex >= 15
    sex = mart[(mart["group_type"] == "sex") & mart["n"].notna()]
    totals = mart[mart["group_type"] == "total"].set_index(["wave", "indicator_id", "district_code"])["n"]
    for (wave, indicator, district), group in sex.groupby(["wave", "indicator_id", "district_code"]):
        assert totals.loc[(wave, indicator, district)] >= 40
        assert len(group) == len(codebook.sexes) and (group["n"] >= 15).all()
    # every line: Oslo vs districts, "total" vs sex, "total" vs age bands
    assert subtraction_attack(mart, results_lines(mart, codebook), "n", "share_positive").empty


def test_published_change_follows_the_thresholds_and_resists_the_attack(codebook, survey_panel):
    mart = survey_panel.change
    suppressed = mart["status"] == ":"
    assert suppressed.any() and (~suppressed).any()
    assert (mart["n_pairs"].dropna() >= 10).all()
    assert mart.loc[suppressed, ["share_improved", "mean_change"]].isna().all().all()
    assert subtraction_attack(mart, change_lines(mart, codebook), "n_pairs", "share_improved").empty
    # changed question sets are never compared
    pairs = set(zip(mart["from_wave"], mart["to_wave"], mart["indicator_id"]))
    assert ("2024-autumn", "2025-spring", "survey_health_sleep_activity") not in pairs
    assert ("2024-spring", "2024-autumn", "survey_health_sleep_activity") in pairs


def test_change_per_person_follows_polarity(codebook):
    before = respondents(codebook, "2024-spring", [(f"p{i}", "030101", "female", "13-15", 2) for i in range(12)])
    after = respondents(codebook, "2024-autumn",
                        [(f"p{i}", "030101", "female", "13-15", 4 if i < 6 else (2 if i < 9 else 1))
                         for i in range(12)])
    change = aggregate_change(pd.concat([before, after], ignore_index=True), codebook).set_index(
        ["indicator_id", "district_code"])
    thriving = change.loc[("survey_education_thriving", "030101")]  # higher is better
    assert thriving["n_pairs"] == 12
    assert (thriving["share_improved"], thriving["share_unchanged"], thriving["share_worsened"]) == \
        pytest.approx((0.5, 0.25, 0.25))
    assert thriving["mean_change"] == pytest.approx((6 * 2 + 3 * 0 + 3 * -1) / 12)
    lonely = change.loc[("survey_health_loneliness", "030101")]  # lower is better: more agreement is worse
    assert (lonely["share_improved"], lonely["share_worsened"]) == pytest.approx((0.25, 0.5))


def test_change_cells_below_ten_pairs_are_suppressed_with_their_neighbour(codebook):
    # 9 pairs in Gamle Oslo (030101), 12 in each other district
    districts = ["030101"] * 9 + [code for code in list(codebook.districts)[1:] for _ in range(12)]
    rows_before = [(f"p{i}", district, "female", "13-15", 2) for i, district in enumerate(districts)]
    rows_after = [(f"p{i}", district, "female", "13-15", 3) for i, district in enumerate(districts)]
    panel = pd.concat([respondents(codebook, "2024-spring", rows_before),
                       respondents(codebook, "2024-autumn", rows_after)], ignore_index=True)
    mart = build_survey_change(panel, codebook, DisclosureRules()).frame
    thriving = mart[mart["indicator_id"] == "survey_education_thriving"].set_index("district_code")
    assert pd.isna(thriving.loc["030101", "n_pairs"])  # 9 pairs
    # Oslo minus the published districts would give 030101 away, so exactly one more district goes
    assert thriving["n_pairs"].isna().sum() == 2
    # everybody improved: a 100 % share in cells under 50 is attribute disclosure, so no share is shown
    assert thriving["share_improved"].isna().all() and (thriving["status"] == ":").all()
    assert thriving.loc["0301", "n_pairs"] == 9 + 14 * 12
