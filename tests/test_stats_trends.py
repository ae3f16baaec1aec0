"""ci_pipeline.stats.trends against R's printed output for published data and against an independent
Newton-Raphson fit written here with numpy (production fits with statsmodels), edge cases included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ci_pipeline import stats
from ci_pipeline.stats import trends

# The Analysis Factor, "Generalized Linear Models in R, Part 6/7" (D. Lillis): students diagnosed with an
# infectious disease by days since the outbreak; R prints for glm(Students ~ Days, family = quasipoisson):
# Days -0.017463 (SE 0.001539, t -11.35, Pr(>|t|) < 2e-16), dispersion 0.7939441, residual df 107.
DAYS = [1, 2, 3, 3, 4, 4, 4, 6, 7, 8, 8, 8, 8, 12, 14, 15, 17, 17, 17, 18, 19, 19, 20, 23, 23, 23, 24, 24, 25, 26,
        27, 28, 29, 34, 36, 36, 42, 42, 43, 43, 44, 44, 44, 44, 45, 46, 48, 48, 49, 49, 53, 53, 53, 54, 55, 56, 56,
        58, 60, 63, 65, 67, 67, 68, 71, 71, 72, 72, 72, 73, 74, 74, 74, 75, 75, 80, 81, 81, 81, 81, 88, 88, 90, 93,
        93, 94, 95, 95, 95, 96, 96, 97, 98, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113,
        114, 115]
STUDENTS = [6, 8, 12, 9, 3, 3, 11, 5, 7, 3, 8, 4, 6, 8, 3, 6, 3, 2, 2, 6, 3, 7, 7, 2, 2, 8, 3, 6, 5, 7, 6, 4, 4, 3,
            3, 5, 3, 3, 3, 5, 3, 5, 6, 3, 3, 3, 3, 2, 3, 1, 3, 3, 5, 4, 4, 3, 5, 4, 3, 5, 3, 4, 2, 3, 3, 1, 3, 2, 5,
            4, 3, 0, 3, 3, 4, 0, 3, 3, 4, 0, 2, 2, 1, 1, 2, 0, 2, 1, 1, 0, 0, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 1, 1,
            0, 0, 0, 0, 0]

# Bliss (1935) beetle mortality, as analysed by Dobson, An Introduction to Generalized Linear Models
# (logit link): intercept -60.717 (SE 5.181), dose 34.270 (SE 2.912), deviance 11.23 on 6 df; the same
# figures as printed by glmlab (Dunn, USQ): -60.717455 (5.180701), 34.270326 (2.912134), 11.232231.
DOSE = [1.6907, 1.7242, 1.7552, 1.7842, 1.8113, 1.8369, 1.8610, 1.8839]
BEETLES = [59, 60, 62, 56, 63, 59, 62, 60]
KILLED = [6, 13, 18, 28, 52, 53, 61, 60]


def _no_estimates(values) -> list[bool]:
    return [False] * len(values)


def _newton_fit(times, y, family: str, trials=None, exposure=None):
    """Maximum-likelihood slope of a Poisson (log) or binomial (logit) model by Newton-Raphson, with
    Pearson's chi-squared: (intercept, slope, slope variance at scale 1, pearson chi2, df)."""
    t = np.asarray(times, dtype=float)
    y = np.asarray(y, dtype=float)
    design = np.column_stack([np.ones_like(t), t])
    offset = np.zeros_like(t) if exposure is None else np.log(np.asarray(exposure, dtype=float))
    if family == "poisson":
        beta = np.array([math.log(y.sum() / np.exp(offset).sum()), 0.0])
    else:
        n = np.asarray(trials, dtype=float)
        beta = np.array([math.log(y.sum() / (n - y).sum()), 0.0])
    for _ in range(200):
        eta = design @ beta + offset
        if family == "poisson":
            mean = np.exp(eta)
            weight = mean
        else:
            share = 1 / (1 + np.exp(-eta))
            mean = n * share
            weight = n * share * (1 - share)
        information = design.T @ (weight[:, None] * design)
        step = np.linalg.solve(information, design.T @ (y - mean))
        beta = beta + step
        if np.abs(step).max() < 1e-13:
            break
    covariance = np.linalg.inv(information)
    pearson = float(((y - mean) ** 2 / weight).sum())
    return beta[0], beta[1], covariance[1, 1], pearson, len(t) - 2


# --- quasi-Poisson ------------------------------------------------------------------------------------------


def test_quasi_poisson_reproduces_r_printed_output():
    fit = stats.quasi_poisson_trend(DAYS, STUDENTS, is_estimate=_no_estimates(DAYS), dispersion_floor=0)
    assert fit.test == "quasi_poisson" and fit.status == "tested" and fit.slope_scale == "log_rate"
    assert fit.slope == pytest.approx(-0.017463, abs=5e-7)
    assert fit.se == pytest.approx(0.001539, abs=5e-7)
    assert fit.dispersion == pytest.approx(0.7939441, abs=1e-7)
    assert fit.df == 107 and fit.n_points == 109
    assert fit.t_value == pytest.approx(-11.35, abs=5e-3)
    assert fit.p_value < 2e-16 and fit.significant


def test_quasi_poisson_never_narrows_below_sampling_variation():
    # The same data with the default floor: dispersion 0.79 is reported, but the scale used is 1, so the
    # standard error is the Poisson one (R's 0.001539 / sqrt(0.7939441)).
    fit = stats.quasi_poisson_trend(DAYS, STUDENTS, is_estimate=_no_estimates(DAYS))
    assert fit.dispersion == pytest.approx(0.7939441, abs=1e-7) and fit.scale == 1.0
    assert fit.se == pytest.approx(0.001539 / math.sqrt(0.7939441), rel=5e-4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quasi_poisson_matches_an_independent_fit_with_exposure_and_gaps(seed):
    rng = np.random.default_rng(seed)
    times = np.array([2011, 2012, 2014, 2015, 2016, 2019, 2020, 2023], dtype=float)  # missing periods
    exposure = rng.integers(8_000, 12_000, len(times)).astype(float)
    # over-dispersed counts: a gamma-mixed Poisson around a falling rate
    rate = 0.05 * np.exp(-0.03 * (times - 2011)) * rng.gamma(20, 1 / 20, len(times))
    counts = rng.poisson(rate * exposure).astype(float)
    fit = stats.quasi_poisson_trend(times, counts, exposure, is_estimate=_no_estimates(times))
    _, slope, variance, pearson, df = _newton_fit(times, counts, "poisson", exposure=exposure)
    dispersion = pearson / df
    se = math.sqrt(variance * max(1.0, dispersion))
    assert fit.slope == pytest.approx(slope, rel=1e-7, abs=1e-10)
    assert fit.dispersion == pytest.approx(dispersion, rel=1e-7)
    assert fit.se == pytest.approx(se, rel=1e-6)
    assert fit.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(slope / se), df), rel=1e-5)


def test_over_dispersion_takes_away_a_significance_the_plain_poisson_model_claims():
    times = [2015, 2016, 2017, 2018, 2019, 2020, 2021]
    counts = [420, 510, 380, 560, 470, 620, 540]
    exposure = [10_000] * 7
    _, slope, variance, _, _ = _newton_fit(times, counts, "poisson", exposure=exposure)
    naive_p = 2 * scipy_stats.norm.sf(abs(slope) / math.sqrt(variance))  # Wald test, pure Poisson variation
    fit = stats.quasi_poisson_trend(times, counts, exposure, is_estimate=_no_estimates(times))
    assert naive_p < stats.ALPHA
    assert fit.dispersion > 10 and not fit.significant


def test_quasi_poisson_edge_cases():
    years = [2016, 2017, 2018, 2019, 2020, 2021]
    flags = _no_estimates(years)
    zero = stats.quasi_poisson_trend(years, [0] * 6, is_estimate=flags)
    assert zero.status == "no_variation" and zero.p_value is None and not zero.significant
    last_only = stats.quasi_poisson_trend(years, [0, 0, 0, 0, 0, 7], is_estimate=flags)
    assert last_only.status == "unbounded_slope" and last_only.p_value is None
    first_only = stats.quasi_poisson_trend(years, [4, 0, 0, 0, 0, 0], is_estimate=flags)
    assert first_only.status == "unbounded_slope"
    middle = stats.quasi_poisson_trend(years, [0, 0, 5, 0, 0, 0], is_estimate=flags)
    assert middle.status == "tested"  # a finite (zero) slope: events on both sides are absent
    constant = stats.quasi_poisson_trend(years, [7] * 6, is_estimate=flags)
    assert constant.status == "tested" and constant.slope == pytest.approx(0, abs=1e-9)
    assert constant.dispersion == pytest.approx(0, abs=1e-12) and constant.scale == 1.0
    assert constant.p_value == pytest.approx(1.0, abs=1e-6)
    fractional = stats.quasi_poisson_trend(years, [4.5, 5.0, 6.25, 5.5, 7.0, 8.0], is_estimate=flags)
    assert fractional.status == "tested"
    with pytest.raises(ValueError, match=r"missing values at positions \[2\]"):
        stats.quasi_poisson_trend(years, [1, 2, float("nan"), 4, 5, 6], is_estimate=flags)
    with pytest.raises(ValueError, match="negative"):
        stats.quasi_poisson_trend(years, [1, 2, -3, 4, 5, 6], is_estimate=flags)
    with pytest.raises(ValueError, match="exposures must be positive"):
        stats.quasi_poisson_trend(years, [1, 2, 3, 4, 5, 6], [10, 10, 0, 10, 10, 10], is_estimate=flags)


# --- quasi-binomial -----------------------------------------------------------------------------------------


def test_quasi_binomial_reproduces_the_published_beetle_fit():
    fit = stats.quasi_binomial_trend(DOSE, KILLED, BEETLES, is_estimate=_no_estimates(DOSE), dispersion_floor=0)
    assert fit.test == "quasi_binomial" and fit.slope_scale == "log_odds" and fit.df == 6
    assert fit.slope == pytest.approx(34.270326, abs=5e-6)
    # the binomial standard error (scale 1) as published, times sqrt(dispersion) for the quasi family
    assert fit.se / math.sqrt(fit.dispersion) == pytest.approx(2.912134, abs=1e-5)
    _, _, _, pearson, _ = _newton_fit(DOSE, KILLED, "binomial", trials=BEETLES)
    assert fit.dispersion == pytest.approx(pearson / 6, rel=1e-8)
    assert fit.dispersion == pytest.approx(10.027 / 6, abs=1e-3)  # Pearson X^2 = 10.03 on 6 df


@pytest.mark.parametrize("seed", [4, 5])
def test_quasi_binomial_matches_an_independent_fit(seed):
    rng = np.random.default_rng(seed)
    times = np.arange(2012, 2024, dtype=float)
    trials = rng.integers(300, 900, len(times)).astype(float)
    share = 1 / (1 + np.exp(-(-2.5 + 0.04 * (times - 2012) + rng.normal(0, 0.15, len(times)))))
    successes = rng.binomial(trials.astype(int), share).astype(float)
    fit = stats.quasi_binomial_trend(times, successes, trials, is_estimate=_no_estimates(times))
    _, slope, variance, pearson, df = _newton_fit(times, successes, "binomial", trials=trials)
    dispersion = pearson / df
    se = math.sqrt(variance * max(1.0, dispersion))
    assert fit.slope == pytest.approx(slope, rel=1e-7)
    assert fit.dispersion == pytest.approx(dispersion, rel=1e-7)
    assert fit.se == pytest.approx(se, rel=1e-6)
    assert fit.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(slope / se), df), rel=1e-5)


def test_quasi_binomial_edge_cases():
    years = [2016, 2017, 2018, 2019, 2020]
    flags = _no_estimates(years)
    trials = [40, 40, 40, 40, 40]
    assert stats.quasi_binomial_trend(years, [0] * 5, trials, is_estimate=flags).status == "no_variation"
    assert stats.quasi_binomial_trend(years, trials, trials, is_estimate=flags).status == "no_variation"
    # shares of 0 then of 1 (complete separation) and 0 / partial / 1 (quasi-complete): no finite slope
    assert stats.quasi_binomial_trend(years, [0, 0, 0, 40, 40], trials, is_estimate=flags).status == "unbounded_slope"
    assert stats.quasi_binomial_trend(years, [0, 0, 13, 40, 40], trials, is_estimate=flags).status == \
        "unbounded_slope"
    # a share at 0 or 1 in some periods only is an ordinary series
    some_zero = stats.quasi_binomial_trend(years, [0, 3, 1, 4, 6], trials, is_estimate=flags)
    assert some_zero.status == "tested"
    _, slope, _, _, _ = _newton_fit(years, [0, 3, 1, 4, 6], "binomial", trials=trials)
    assert some_zero.slope == pytest.approx(slope, rel=1e-6)
    some_one = stats.quasi_binomial_trend(years, [40, 38, 40, 36, 37], trials, is_estimate=flags)
    assert some_one.status == "tested" and some_one.slope < 0
    with pytest.raises(ValueError, match="exceed the trials"):
        stats.quasi_binomial_trend(years, [1, 2, 50, 4, 5], trials, is_estimate=flags)
    with pytest.raises(ValueError, match="no trials"):
        stats.quasi_binomial_trend(years, [0, 2, 3, 4, 5], [0, 40, 40, 40, 40], is_estimate=flags)


# --- how few points, and estimates ---------------------------------------------------------------------------


def test_fewer_than_five_points_give_no_p_value():
    # The review's case: a least-squares slope on 3 points was reported as "worsening (significant)".
    fit = stats.quasi_binomial_trend([2019, 2020, 2021, 2022], [50, 60, 70, 80], [1000] * 4,
                                     is_estimate=[False] * 4)
    assert fit.status == "too_few_points" and fit.p_value is None and not fit.significant
    assert fit.n_points == 4 and "at least 5" in fit.note
    ols = stats.least_squares_trend([2019, 2020, 2021, 2022], [1.0, 2.0, 2.5, 4.0], is_estimate=[False] * 4)
    assert ols.status == "too_few_points"
    same_time = stats.quasi_poisson_trend([2020] * 5, [1, 2, 3, 4, 5], is_estimate=[False] * 5)
    assert same_time.status == "too_few_points" and "same time" in same_time.note


def test_estimates_never_enter_a_test():
    years = [2015, 2016, 2017, 2018, 2019, 2020, 2021]
    counts = [10, 12, 15, 13, 18, 20, 23]
    flags = [True, True, False, False, False, False, False]
    fit = stats.quasi_poisson_trend(years, counts, is_estimate=flags)
    assert fit.n_points == 5 and fit.n_estimates_excluded == 2
    reference = stats.quasi_poisson_trend(years[2:], counts[2:], is_estimate=[False] * 5)
    assert fit.slope == pytest.approx(reference.slope) and fit.p_value == pytest.approx(reference.p_value)
    only = stats.quasi_poisson_trend(years, counts, is_estimate=[True] * 7)
    assert only.status == "estimates_only" and only.p_value is None and only.n_estimates_excluded == 7
    short = stats.quasi_poisson_trend(years, counts, is_estimate=[True, True, True, False, False, False, False])
    assert short.status == "too_few_points" and "3 estimates left out" in short.note


def test_estimate_flags_must_be_stated():
    years, counts = [2015, 2016, 2017, 2018, 2019], [1, 2, 3, 4, 5]
    with pytest.raises(TypeError):
        stats.quasi_poisson_trend(years, counts)  # no default: the caller must say which rows are estimates
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        stats.quasi_poisson_trend(years, counts, is_estimate=[False, None, False, False, False])
    with pytest.raises(ValueError, match=r"rows \[0\]"):
        stats.quasi_poisson_trend(years, counts, is_estimate=[float("nan"), False, False, False, False])
    with pytest.raises(ValueError, match="one flag per row"):
        stats.quasi_poisson_trend(years, counts, is_estimate=[False] * 4)


# --- least squares ------------------------------------------------------------------------------------------


def test_ols_matches_scipy_linregress():
    times = [2015, 2016, 2017, 2018, 2019, 2020]
    values = [10.2, 10.9, 11.1, 12.4, 12.2, 13.0]
    fit = stats.least_squares_trend(times, values, is_estimate=_no_estimates(times))
    reference = scipy_stats.linregress(times, values)
    assert fit.test == "ols" and fit.dispersion is None
    assert fit.slope == pytest.approx(reference.slope, rel=1e-12)
    assert fit.se == pytest.approx(reference.stderr, rel=1e-9)
    assert fit.p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_wls_with_known_errors_scales_by_extra_variation_only():
    times = np.array([2015.0, 2017.0, 2019.0, 2021.0])
    values = np.array([20.0, 18.5, 18.9, 16.0])
    errors = np.array([1.0, 0.5, 2.0, 1.0])
    fit = stats.least_squares_trend(times, values, errors, is_estimate=_no_estimates(times))
    design = np.column_stack([np.ones_like(times), times]) / errors[:, None]
    coefficients, residual, *_ = np.linalg.lstsq(design, values / errors, rcond=None)
    dispersion = residual[0] / 2
    variance = max(1.0, dispersion) * np.linalg.inv(design.T @ design)[1, 1]
    assert fit.test == "wls_known_se" and fit.n_points == 4 and fit.df == 2
    assert fit.slope == pytest.approx(coefficients[1], rel=1e-9)
    assert fit.dispersion == pytest.approx(dispersion, rel=1e-9)
    assert fit.se == pytest.approx(math.sqrt(variance), rel=1e-9)
    assert fit.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(coefficients[1]) / math.sqrt(variance), 2),
                                        rel=1e-7)
    # points exactly on a line: no extra variation, the known errors alone set the standard error
    exact = stats.least_squares_trend([1, 2, 3], [1.0, 2.0, 3.0], [0.5, 0.5, 0.5], is_estimate=[False] * 3)
    assert exact.dispersion == pytest.approx(0, abs=1e-20) and exact.scale == 1.0
    assert exact.se == pytest.approx(0.5 / math.sqrt(2)) and 0 < exact.p_value < 1
    assert stats.least_squares_trend([1, 2], [1.0, 2.0], [0.5, 0.5], is_estimate=[False] * 2).status == \
        "too_few_points"


def test_ols_on_an_exact_line_has_nothing_to_test_against():
    exact = stats.least_squares_trend([1, 2, 3, 4, 5], [2.0, 4.0, 6.0, 8.0, 10.0], is_estimate=[False] * 5)
    assert exact.status == "no_variation" and exact.p_value is None and exact.slope == pytest.approx(2.0)
    flat = stats.least_squares_trend([1, 2, 3, 4, 5], [3.0] * 5, is_estimate=[False] * 5)
    assert flat.status == "no_variation"


def test_statuses_are_the_documented_ones():
    assert set(trends.TREND_STATUSES) == {"tested", "too_few_points", "no_variation", "unbounded_slope",
                                          "not_converged", "estimates_only"}


@pytest.mark.parametrize("slope, se, df", [
    (0.0, 1.0, 3), (0.5, 0.2, 1), (-0.5, 0.2, 1), (1.0, 3.0, 3), (-2.5, 0.01, 5), (40.0, 1.0, 3),
    (1e3, 1e-3, 8), (0.031, 0.0147, 13), (-0.02, 0.004, 200), (1e-300, 1.0, 4), (math.inf, 1.0, 3),
])
def test_t_p_value_is_scipy_t_sf_to_the_last_bit(slope, se, df):
    """The trend p-value calls scipy.special.stdtr directly; it must be exactly scipy.stats.t.sf's number."""
    expected = float(2 * scipy_stats.t.sf(abs(slope / se), df))
    assert trends._t_p_value(slope, se, df) == expected
