"""Trend tests that allow for variation beyond sampling (over-dispersion), for counts, shares and values.

Counts and shares vary more from year to year than binomial or Poisson sampling explains (Norway's NEET
series 105x, Oslo's NEET counts 14x), so a test that assumes pure sampling variation calls noise
significant. These tests use quasi-likelihood, as R's glm does with family = quasipoisson/quasibinomial:

- quasi_poisson_trend: counts (optionally over an exposure, e.g. a population: log(exposure) is the
  offset, so the slope is that of the rate) on time, log link;
- quasi_binomial_trend: successes out of trials (a share) on time, logit link;
- least_squares_trend: values with known standard errors (weighted least squares, weights 1/se^2), or
  values alone (ordinary least squares).

The slope is fitted by maximum (quasi-)likelihood (statsmodels' GLM, IRLS). The dispersion is Pearson's
chi-squared over the residual degrees of freedom (n - 2); the scale used is max(dispersion_floor,
dispersion), floor 1 by default: extra variation widens the standard error, but a series that varies
*less* than sampling would (dispersion < 1, often a sign of smoothed or rounded source figures) never
makes the test more confident than sampling alone allows. The slope's standard error is the model's
times sqrt(scale), and the p-value is two-sided from Student's t with the residual degrees of freedom,
as R's summary.glm does for the quasi families. (dispersion_floor=0 reproduces R exactly.)

The slope is per unit of `times` (years) on the test's own scale (TrendFit.slope_scale): log rate ratio
(quasi-Poisson; exp(slope) is the yearly rate ratio), log odds ratio (quasi-binomial) or value units
(least squares). Its sign is the direction of the trend on every scale.

When there is no p-value (TrendFit.status):
- too_few_points: fewer than MIN_POINTS (5) points, or fewer than MIN_POINTS_KNOWN_SE (3) for values
  with known standard errors, or fewer than two distinct times. Two degrees of freedom go to the line,
  and a dispersion estimated from one or two residuals says nothing;
- no_variation: no events at all (or every trial an event), or least-squares values on an exact line;
- unbounded_slope: the events sit at one end of the series (e.g. all in the last period, or every share
  0 before some time and 1 after), so the fitted slope runs off to infinity (separation);
- not_converged: the fit did not converge;
- estimates_only: every row was an estimate (see below).

Estimates never enter a test. Every function takes the rows' is_estimate flags as a required keyword
(no default, no missing values): flagged rows are left out and counted in n_estimates_excluded, so a
caller cannot test apportioned figures by forgetting them. Missing values (suppressed periods) are
refused with the positions named: drop them before testing; gaps in time are fine.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr

from ci_pipeline.stats.common import ALPHA, as_array

# scipy.stats (and statsmodels) take seconds to import: they are imported where a figure is computed, so
# loading the definitions (every `make run`, the UI's code server) does not pay for them.

MIN_POINTS = 5
MIN_POINTS_KNOWN_SE = 3
DISPERSION_FLOOR = 1.0

TESTED = "tested"
TOO_FEW_POINTS = "too_few_points"
NO_VARIATION = "no_variation"
UNBOUNDED_SLOPE = "unbounded_slope"
NOT_CONVERGED = "not_converged"
ESTIMATES_ONLY = "estimates_only"
TREND_STATUSES = (TESTED, TOO_FEW_POINTS, NO_VARIATION, UNBOUNDED_SLOPE, NOT_CONVERGED, ESTIMATES_ONLY)

QUASI_POISSON = "quasi_poisson"
QUASI_BINOMIAL = "quasi_binomial"
WLS_KNOWN_SE = "wls_known_se"
OLS = "ols"


@dataclass(frozen=True)
class TrendFit:
    """One trend test. p_value, se and df are None unless status is `tested`; note says why not.

    test: quasi_poisson, quasi_binomial, wls_known_se or ols. n_points: the points that entered the
    test (estimates left out). slope: per unit of time on slope_scale (log_rate, log_odds or value).
    dispersion: Pearson chi-squared / df as estimated (None for ols); scale: the dispersion the
    standard error used (max(floor, dispersion); the residual variance for ols)."""

    test: str
    status: str
    n_points: int
    n_estimates_excluded: int
    slope: float | None = None
    slope_scale: str = "value"
    se: float | None = None
    df: int | None = None
    dispersion: float | None = None
    scale: float | None = None
    p_value: float | None = None
    note: str = ""

    @property
    def t_value(self) -> float | None:
        return None if self.se is None or self.slope is None else self.slope / self.se

    @property
    def significant(self) -> bool:
        return self.status == TESTED and self.p_value is not None and self.p_value < ALPHA


def _estimate_flags(is_estimate, length: int) -> np.ndarray:
    flags = np.asarray(is_estimate, dtype=object)
    if flags.ndim != 1 or len(flags) != length:
        raise ValueError(f"is_estimate must give one flag per row ({length}), got {np.shape(flags)}")
    bad = [i for i, flag in enumerate(flags) if not isinstance(flag, (bool, np.bool_))]
    if bad:
        raise ValueError(f"is_estimate must be True or False on every row; rows {bad[:5]} have "
                         f"{[flags[i] for i in bad[:5]]}")
    return flags.astype(bool)


def _testable(times, columns: dict[str, object], is_estimate) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Checked arrays without the estimate rows, and how many rows were estimates."""
    t = as_array(times, "times")
    arrays = {name: as_array(values, name, len(t)) for name, values in columns.items()}
    estimates = _estimate_flags(is_estimate, len(t))
    keep = ~estimates
    return t[keep], {name: array[keep] for name, array in arrays.items()}, int(estimates.sum())


def _too_few(test: str, t: np.ndarray, n_excluded: int, minimum: int, slope_scale: str) -> TrendFit | None:
    """The TrendFit for a series too short to test, or None when it is long enough."""
    if len(t) == 0 and n_excluded:
        return TrendFit(test, ESTIMATES_ONLY, 0, n_excluded, slope_scale=slope_scale,
                        note=f"all {n_excluded} rows are estimates; estimates never enter a test")
    if len(t) < minimum:
        left_out = f" ({n_excluded} estimates left out)" if n_excluded else ""
        return TrendFit(test, TOO_FEW_POINTS, len(t), n_excluded, slope_scale=slope_scale,
                        note=f"{len(t)} points{left_out}; a p-value needs at least {minimum}")
    if len(np.unique(t)) < 2:
        return TrendFit(test, TOO_FEW_POINTS, len(t), n_excluded, slope_scale=slope_scale,
                        note="all points have the same time")
    return None


def _t_p_value(slope: float, se: float, df: int) -> float:
    """Two-sided p of slope / se from Student's t: stdtr(df, -|t|) is the function scipy.stats.t.sf
    evaluates, called without the distribution's per-call argument handling (a trend test per region of
    every goal indicator)."""
    return float(2 * stdtr(df, -abs(slope / se)))


def _quasi_fit(test: str, endog: np.ndarray, t: np.ndarray, offset: np.ndarray | None, n_excluded: int,
               slope_scale: str, dispersion_floor: float) -> TrendFit:
    from statsmodels.genmod.families import Binomial, Poisson
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    family = Poisson() if test == QUASI_POISSON else Binomial()
    design = np.column_stack([np.ones_like(t), t - t.mean()])  # centred: the slope is unchanged, the fit steadier
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Converged when the coefficients stop moving: with counts in the millions the deviance itself
        # carries rounding noise above 1e-10, and statsmodels 0.15 (deviance criterion) never settles there.
        result = GLM(endog, design, family=family, offset=offset).fit(method="IRLS", maxiter=100, tol=1e-10,
                                                                      tol_criterion="params")
    # Separation is ruled out before fitting (exactly, from where the events lie); statsmodels' own
    # PerfectSeparationWarning also fires on a perfect fit (a constant series), which is testable.
    trouble = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    if not result.converged or trouble or not np.isfinite(result.params).all():
        detail = f": {trouble[0].message}" if trouble else ""
        return TrendFit(test, NOT_CONVERGED, len(t), n_excluded, slope_scale=slope_scale,
                        note=f"the fit did not converge{detail}")
    df = len(t) - 2
    dispersion = float(result.pearson_chi2 / df)
    scale = max(dispersion_floor, dispersion)
    slope = float(result.params[1])
    se = float(result.bse[1]) * math.sqrt(scale)  # bse assumes scale 1 for the Poisson and binomial families
    return TrendFit(test, TESTED, len(t), n_excluded, slope, slope_scale, se, df, dispersion, scale,
                    _t_p_value(slope, se, df))


def quasi_poisson_trend(times, counts, exposures=None, *, is_estimate,
                        dispersion_floor: float = DISPERSION_FLOOR) -> TrendFit:
    """Quasi-Poisson log-linear trend of counts (per exposure, when given) over times.

    counts: non-negative (fractional counts, e.g. yearly averages of a pooled period, are allowed);
    exposures: positive (the population at risk), or None for plain counts. See the module docstring
    for the dispersion, the p-value and when there is none."""
    columns = {"counts": counts} if exposures is None else {"counts": counts, "exposures": exposures}
    t, arrays, n_excluded = _testable(times, columns, is_estimate)
    x = arrays["counts"]
    if (x < 0).any():
        raise ValueError(f"counts must not be negative, got {x[x < 0][:5].tolist()}")
    exposure = arrays.get("exposures")
    if exposure is not None and (exposure <= 0).any():
        raise ValueError(f"exposures must be positive, got {exposure[exposure <= 0][:5].tolist()}")
    short = _too_few(QUASI_POISSON, t, n_excluded, MIN_POINTS, "log_rate")
    if short is not None:
        return short
    with_events = np.unique(t[x > 0])
    if len(with_events) == 0:
        return TrendFit(QUASI_POISSON, NO_VARIATION, len(t), n_excluded, slope_scale="log_rate",
                        note="no events in any period")
    if len(with_events) == 1 and with_events[0] in (t.min(), t.max()):
        return TrendFit(QUASI_POISSON, UNBOUNDED_SLOPE, len(t), n_excluded, slope_scale="log_rate",
                        note="all events fall in the first or the last period: the slope has no finite estimate")
    offset = None if exposure is None else np.log(exposure)
    return _quasi_fit(QUASI_POISSON, x, t, offset, n_excluded, "log_rate", dispersion_floor)


def quasi_binomial_trend(times, successes, trials, *, is_estimate,
                         dispersion_floor: float = DISPERSION_FLOOR) -> TrendFit:
    """Quasi-binomial logistic trend of successes out of trials (a share) over times.

    successes and trials: non-negative, successes <= trials, trials > 0 (fractional values are allowed).
    See the module docstring for the dispersion, the p-value and when there is none."""
    t, arrays, n_excluded = _testable(times, {"successes": successes, "trials": trials}, is_estimate)
    x, n = arrays["successes"], arrays["trials"]
    if (x < 0).any() or (n <= 0).any():
        raise ValueError("successes must not be negative and trials must be positive "
                         "(a period with no trials has no share: drop it)")
    if (x > n).any():
        position = int(np.flatnonzero(x > n)[0])
        raise ValueError(f"successes {x[position]} exceed the trials {n[position]} at time {t[position]}")
    short = _too_few(QUASI_BINOMIAL, t, n_excluded, MIN_POINTS, "log_odds")
    if short is not None:
        return short
    with_events, with_non_events = t[x > 0], t[x < n]
    if len(with_events) == 0 or len(with_non_events) == 0:
        what = "no events in any period" if len(with_events) == 0 else "every trial is an event in every period"
        return TrendFit(QUASI_BINOMIAL, NO_VARIATION, len(t), n_excluded, slope_scale="log_odds", note=what)
    if with_non_events.max() <= with_events.min() or with_events.max() <= with_non_events.min():
        return TrendFit(QUASI_BINOMIAL, UNBOUNDED_SLOPE, len(t), n_excluded, slope_scale="log_odds",
                        note="the shares are 0 up to some time and 1 after it (or the reverse): "
                             "the slope has no finite estimate")
    endog = np.column_stack([x, n - x])
    return _quasi_fit(QUASI_BINOMIAL, endog, t, None, n_excluded, "log_odds", dispersion_floor)


def weighted_line(t: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float]:
    """The weighted least-squares line of y on t: (slope, sum w (t - t_bar)^2, sum w residual^2,
    sum w (y - y_bar)^2)."""
    t_bar, y_bar = (w * t).sum() / w.sum(), (w * y).sum() / w.sum()
    spread = float((w * (t - t_bar) ** 2).sum())
    slope = float((w * (t - t_bar) * (y - y_bar)).sum() / spread)
    residuals = y - (y_bar + slope * (t - t_bar))
    return slope, spread, float((w * residuals**2).sum()), float((w * (y - y_bar) ** 2).sum())


def least_squares_trend(times, values, standard_errors=None, *, is_estimate,
                        dispersion_floor: float = DISPERSION_FLOOR) -> TrendFit:
    """Least-squares slope of values over times, with a t-test on n - 2 degrees of freedom.

    With standard_errors (positive): weighted least squares, weights 1/se^2 (test wls_known_se); the
    known errors fix the scale at 1 and residual variation beyond them widens it (scale =
    max(floor, chi-squared / df)), from MIN_POINTS_KNOWN_SE points. Without: ordinary least squares
    (test ols), the scale is the residual variance, from MIN_POINTS points."""
    columns = {"values": values}
    if standard_errors is not None:
        columns["standard errors"] = standard_errors
    t, arrays, n_excluded = _testable(times, columns, is_estimate)
    y = arrays["values"]
    known = standard_errors is not None
    test, minimum = (WLS_KNOWN_SE, MIN_POINTS_KNOWN_SE) if known else (OLS, MIN_POINTS)
    if known and (arrays["standard errors"] <= 0).any():
        raise ValueError("standard errors must be positive")
    short = _too_few(test, t, n_excluded, minimum, "value")
    if short is not None:
        return short
    w = 1 / arrays["standard errors"] ** 2 if known else np.ones_like(t)
    slope, spread, chi2, spread_of_values = weighted_line(t, y, w)
    df = len(t) - 2
    if known:
        dispersion = chi2 / df
        scale = max(dispersion_floor, dispersion)
    else:
        dispersion, scale = None, chi2 / df
        if chi2 <= 1e-20 * spread_of_values:  # rounding noise on an exact line, or no spread at all
            return TrendFit(test, NO_VARIATION, len(t), n_excluded, slope, "value",
                            note="the values lie exactly on a line: no residual variation to test against")
    se = math.sqrt(scale / spread)
    return TrendFit(test, TESTED, len(t), n_excluded, slope, "value", se, df, dispersion, scale,
                    _t_p_value(slope, se, df))
