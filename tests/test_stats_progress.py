"""ci_pipeline.stats.progress: the review's counter-examples, each rule, and property-based tests (hypothesis)
showing that status, progress and trend wording never contradict each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ci_pipeline import stats
from ci_pipeline.stats import progress as rules
from ci_pipeline.stats.trends import TREND_STATUSES, TrendFit

# Derandomized: the same examples on every machine, no test that passes by luck; no example database.
PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=1500)
SERIES_PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=80)


def _assess(polarity="higher_is_better", baseline=50.0, latest=55.0, target=60.0, baseline_time=2020.0,
            latest_time=2025.0, target_time=2030.0, **keywords):
    return stats.assess_progress(polarity=polarity, baseline=baseline, latest=latest, target=target,
                                 baseline_time=baseline_time, latest_time=latest_time, target_time=target_time,
                                 **keywords)


def _fit(slope: float, p: float, status: str = "tested") -> TrendFit:
    return TrendFit("quasi_binomial", status, 6, 0, slope, "log_odds", 0.1, 4, 1.3, 1.3, p)


# --- the review's counter-examples ---------------------------------------------------------------------------


def test_a_baseline_that_meets_the_target_gives_no_percentage():
    # "a district that worsened 85.7 -> 77.8 shows +1111 %": its baseline already met the target.
    # It no longer meets the target, and its status says so instead of reading as a success.
    worsened = _assess(baseline=85.7, latest=77.8, target=85.0)
    assert worsened.status == "target_no_longer_met" and worsened.progress is None
    assert worsened.direction == "worsened" and worsened.meets_target is False
    assert "no longer meets" in worsened.reason
    # "NEET 16-25 that improved 3.8 -> 2.9 shows -75 %" against a 5.0 target (lower is better)
    improved = _assess(polarity="higher_is_worse", baseline=3.8, latest=2.9, target=5.0)
    assert improved.status == "target_met_at_baseline" and improved.progress is None
    assert improved.direction == "improved" and improved.meets_target is True


def test_a_significant_improving_slope_beside_a_worse_latest_value_is_not_called_improving():
    # "improving (significant) for 7.0 -> 7.2" where lower is better
    reading = _assess(polarity="higher_is_worse", baseline=7.0, latest=7.2, target=5.0, trend=_fit(-0.08, 0.01))
    assert reading.direction == "worsened" and reading.trend == "unconfirmed"
    assert reading.status == "off_track" and reading.progress == pytest.approx(-10.0)


def test_on_track_never_beside_negative_progress():
    # "on track beside -56 %": a latest value worse than the baseline is off track, whatever the line
    reading = _assess(baseline=50.0, latest=44.4, target=60.0)
    assert reading.progress == pytest.approx(-56.0) and reading.status == "off_track"


# --- the rules ------------------------------------------------------------------------------------------------


def test_progress_and_the_straight_line_to_the_target():
    on_line = _assess(baseline=50.0, latest=55.0, target=60.0)  # half the time, half the distance
    assert on_line.status == "on_track" and on_line.progress == pytest.approx(50.0)
    assert on_line.expected_progress == pytest.approx(50.0) and on_line.progress_flag is None
    behind = _assess(baseline=50.0, latest=54.0, target=60.0)
    assert behind.status == "off_track" and behind.direction == "improved"
    lower_is_better = _assess(polarity="higher_is_worse", baseline=10.0, latest=12.0, target=5.0)
    assert lower_is_better.progress == pytest.approx(-40.0) and lower_is_better.direction == "worsened"
    late = _assess(baseline=50.0, latest=59.0, target=60.0, latest_time=2031.0)  # past the target year
    assert late.expected_progress == 100.0 and late.status == "off_track"


def test_progress_is_capped_for_display_and_flagged():
    beyond = _assess(baseline=10.0, latest=20.0, target=12.0)
    assert beyond.progress == pytest.approx(500.0) and beyond.progress_display == 100.0
    assert beyond.progress_flag == "above_100" and beyond.status == "on_track" and beyond.meets_target
    far_back = _assess(baseline=10.0, latest=2.0, target=12.0)
    assert far_back.progress == pytest.approx(-400.0) and far_back.progress_display == -100.0
    assert far_back.progress_flag == "below_minus_100"


def test_no_target_and_insufficient_data():
    assert _assess(target=None).status == "no_target"
    assert _assess(target=float("nan")).status == "no_target"
    assert _assess(target=None).direction == "improved"  # the change is still told
    missing_latest = _assess(latest=None)
    assert missing_latest.status == "insufficient_data" and missing_latest.direction is None
    assert _assess(baseline=float("nan")).status == "insufficient_data"
    assert _assess(latest_time=2020.0).reason == "nothing newer than the baseline"
    changed = _assess(unusable="the question set changed since the baseline wave")
    assert changed.status == "insufficient_data" and changed.progress is None and "question set" in changed.reason


def test_trend_wording():
    assert _assess(trend=_fit(0.05, 0.001)).trend == "improving_significant"
    assert _assess(latest=45.0, trend=_fit(-0.05, 0.001)).trend == "worsening_significant"
    assert _assess(trend=_fit(0.05, 0.2)).trend == "not_significant"
    # a q-value, when given, decides: p = 0.01 but q = 0.09 within the family
    assert _assess(trend=_fit(0.05, 0.01), trend_q_value=0.09).trend == "not_significant"
    assert _assess(trend=_fit(0.05, 0.01), trend_q_value=0.02).trend == "improving_significant"
    too_few = _assess(trend=TrendFit("quasi_poisson", "too_few_points", 3, 0, note="3 points; a p-value needs at least 5"))
    assert too_few.trend == "not_tested" and "too_few_points" in too_few.trend_reason
    made_up = _assess(trend=_fit(0.05, 1e-9), illustrative=True)
    assert made_up.trend == "illustrative" and made_up.status == "on_track"  # the reading stays, the word goes
    no_baseline = _assess(baseline=None, trend=_fit(0.05, 0.001))
    assert no_baseline.trend == "unconfirmed" and "no baseline" in no_baseline.trend_reason


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="polarity"):
        _assess(polarity="up")
    with pytest.raises(ValueError, match="target year"):
        _assess(target_time=2019.0)
    with pytest.raises(ValueError, match="infinite"):
        _assess(latest=math.inf)


def test_progress_pct_is_the_one_definition():
    assert stats.progress_pct(50.0, 55.0, 60.0, "higher_is_better") == pytest.approx(50.0)
    assert stats.progress_pct(10.0, 8.0, 5.0, "higher_is_worse") == pytest.approx(40.0)
    assert stats.progress_pct(3.8, 2.9, 5.0, "higher_is_worse") is None


# --- properties -----------------------------------------------------------------------------------------------

values = st.one_of(st.none(), st.floats(-1e3, 1e3), st.floats(-1e6, 1e6, allow_nan=False),
                   st.sampled_from([0.0, 5.0, 7.0, 7.2]))
p_values = st.one_of(st.floats(0, 0.05), st.floats(0, 1))
_fit_strategy = st.builds(
    lambda status, slope, p: TrendFit("quasi_poisson", status, 6, 0, slope if status == "tested" else None,
                                      "log_rate", 0.1, 4, 2.0, 2.0, p if status == "tested" else None),
    st.sampled_from(["tested"] * 6 + list(TREND_STATUSES)), st.floats(-3, 3), p_values)
fits = st.one_of(st.none(), _fit_strategy, _fit_strategy, _fit_strategy)


def _check(reading: rules.ProgressReading, polarity, baseline, latest, target, trend, q_value, illustrative) -> None:
    assert reading.status in rules.STATUSES and reading.trend in rules.TREND_LABELS
    without_progress = {"target_met_at_baseline", "target_no_longer_met", "insufficient_data", "no_target"}
    assert (reading.progress is None) == (reading.status in without_progress)
    if reading.progress is not None:
        sign = np.sign(reading.progress)
        assert reading.direction == {1: "improved", -1: "worsened", 0: "unchanged"}[sign]
        assert -100 <= reading.progress_display <= 100
        assert (reading.progress_flag is not None) == (abs(reading.progress) > 100)
        if reading.progress_flag is None:
            assert reading.progress_display == reading.progress
    if reading.status == "on_track":
        assert reading.progress > 0 and reading.direction == "improved"
    if reading.status == "off_track":
        assert reading.progress < reading.expected_progress <= 100 and not reading.meets_target
    if reading.status == "target_met_at_baseline":
        assert stats.meets(baseline, target, polarity) and stats.meets(latest, target, polarity)
    if reading.status == "target_no_longer_met":
        assert stats.meets(baseline, target, polarity) and not stats.meets(latest, target, polarity)
    if baseline is None or latest is None:
        assert reading.direction is None
    significant = reading.trend in ("improving_significant", "worsening_significant")
    if significant:
        assert not illustrative and trend is not None and trend.status == "tested"
        assert (q_value if q_value is not None else trend.p_value) < stats.ALPHA
        good_slope = (trend.slope > 0) == (polarity == "higher_is_better")
        assert good_slope == (reading.trend == "improving_significant")
        assert reading.direction == ("improved" if good_slope else "worsened")
    if reading.status == "on_track":
        assert reading.trend != "worsening_significant"
    if illustrative:
        assert reading.trend == "illustrative"
    if trend is None or trend.status != "tested":
        assert reading.trend in ("not_tested", "illustrative")


@PROPERTY
@given(polarity=st.sampled_from(rules.POLARITIES), baseline=values, latest=values, target=values,
       baseline_time=st.floats(2000, 2030), elapsed=st.floats(-5, 20), planned=st.floats(0.25, 30),
       trend=fits, q_value=st.one_of(st.none(), st.none(), p_values), illustrative=st.sampled_from([False] * 3 + [True]))
def test_status_progress_and_trend_never_contradict(polarity, baseline, latest, target, baseline_time, elapsed,
                                                    planned, trend, q_value, illustrative):
    reading = stats.assess_progress(polarity=polarity, baseline=baseline, latest=latest, target=target,
                                    baseline_time=baseline_time, latest_time=baseline_time + elapsed,
                                    target_time=baseline_time + planned, trend=trend, trend_q_value=q_value,
                                    illustrative=illustrative)
    _check(reading, polarity, baseline, latest, target, trend, q_value, illustrative)


@PROPERTY
@given(polarity=st.sampled_from(rules.POLARITIES), baseline=st.floats(0, 100), latest=st.floats(0, 100),
       target=st.floats(0, 100), elapsed=st.floats(0.5, 12), slope=st.floats(-0.5, 0.5), p=p_values)
def test_complete_rows_with_a_tested_trend_never_contradict(polarity, baseline, latest, target, elapsed, slope, p):
    # every figure present and a trend tested: the rows the report colours
    trend = TrendFit("quasi_binomial", "tested", 8, 0, slope, "log_odds", 0.05, 6, 1.5, 1.5, p)
    reading = stats.assess_progress(polarity=polarity, baseline=baseline, latest=latest, target=target,
                                    baseline_time=2018.0, latest_time=2018.0 + elapsed, target_time=2030.0,
                                    trend=trend)
    assert reading.status != "insufficient_data" and reading.status != "no_target"
    _check(reading, polarity, baseline, latest, target, trend, None, False)


@SERIES_PROPERTY
@given(polarity=st.sampled_from(rules.POLARITIES), start=st.integers(0, 300), ratio=st.floats(0.6, 1.4),
       noise=st.lists(st.integers(-25, 25), min_size=2, max_size=9), target_factor=st.floats(0.2, 2.0),
       estimates=st.lists(st.sampled_from([False] * 4 + [True]), min_size=9, max_size=9),
       illustrative=st.sampled_from([False] * 3 + [True]))
def test_on_generated_series_the_trend_never_contradicts_the_change(polarity, start, ratio, noise, target_factor,
                                                                    estimates, illustrative):
    counts = [max(0, round(start * ratio**i) + jitter) for i, jitter in enumerate(noise)]
    years = np.arange(2014, 2014 + len(counts), dtype=float)
    exposure = np.full(len(counts), 10_000.0)
    flags = estimates[: len(counts)]
    trend = stats.quasi_poisson_trend(years, counts, exposure, is_estimate=flags)
    assert trend.n_points + trend.n_estimates_excluded == len(counts)
    if trend.status == "tested":
        assert 0 <= trend.p_value <= 1 and trend.scale >= 1 and trend.df == trend.n_points - 2
    else:
        assert trend.p_value is None and not trend.significant
    if trend.n_points < 5:
        assert trend.status in ("too_few_points", "estimates_only")
    rates = np.asarray(counts) / exposure * 1000
    baseline, latest = float(rates[0]), float(rates[-1])
    reading = stats.assess_progress(polarity=polarity, baseline=baseline, latest=latest,
                                    target=baseline * target_factor, baseline_time=years[0], latest_time=years[-1],
                                    target_time=2030.0, trend=trend, illustrative=illustrative)
    _check(reading, polarity, baseline, latest, baseline * target_factor, trend, None, illustrative)
