"""Survey weights by raking (iterative proportional fitting) to population margins, with trimming.

Raking adjusts respondent weights until the weighted sample matches each margin of the population, e.g.
district x age band and sex from the latest population table, without needing the full cross-table
(Deming & Stephan 1940; the raking ratio estimator of Deville & Sarndal 1992, whose weights are the
closest to the base weights in the multiplicative (Kullback-Leibler) distance that meet every margin).
One cycle multiplies each respondent's weight, margin by margin, by (population of the level) /
(weighted sample of the level); cycles repeat until every level of every margin is met within
`tolerance` (relative).

Trimming: extreme weights inflate the variance more than they remove bias, so each weight is kept within
[low, high] x the mean weight (default 0.3-3; the mean weight is population / respondents). Within a
raking step, a level whose scaled weights would cross a bound gets the one factor that meets its
population with those weights held at the bound (the excess goes to the level's other respondents; the
re-raking of the trimmed weight), so every step keeps the bounds and the cycles go on until all margins
are met at once. Where the bounds make that impossible the iteration cap is reached and RakingError
names the margin and level furthest off.

Errors (RakingError, naming the margin and level): a respondent without a value or with a level the
margin does not know; a level with population but no respondents (it cannot be met: collapse it into a
neighbour); a level with respondents but no population (their weight would be 0); margins whose totals
disagree; no convergence within max_iterations.

Kish's effective n of the final weights goes into every interval (intervals.weighted_share_interval).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline.stats.intervals import kish_effective_n

DEFAULT_TRIM = (0.3, 3.0)


class RakingError(ValueError):
    """The weights cannot be raked to these margins; the message names the margin and level."""


@dataclass(frozen=True)
class Margin:
    """Population totals of one raking variable: `columns` of the respondent frame (one, or several for a
    joint margin such as district x age band) and the population of each level (a scalar key for one
    column, a tuple in column order for several)."""

    columns: tuple[str, ...]
    totals: Mapping[Any, float]

    @property
    def name(self) -> str:
        return " x ".join(self.columns)


@dataclass(frozen=True)
class RakingResult:
    """weights: one per respondent (the input frame's index), summing to the population. iterations: raking
    cycles run. max_margin_error: the largest relative difference left between a weighted level and its
    population. bounds: the absolute weight bounds used (None without trimming); n_trimmed: weights at a
    bound. effective_n: Kish's (sum w)^2 / sum w^2; design_effect: n / effective_n."""

    weights: pd.Series
    iterations: int
    max_margin_error: float
    bounds: tuple[float, float] | None
    n_trimmed: int
    effective_n: float
    design_effect: float


def _level_codes(respondents: pd.DataFrame, margin: Margin) -> tuple[np.ndarray, np.ndarray, list]:
    """Per respondent the position of its level in the margin, the population per level, the level keys."""
    missing = [column for column in margin.columns if column not in respondents.columns]
    if missing:
        raise RakingError(f"margin {margin.name}: the respondents have no column(s) {missing}")
    columns = [respondents[column].to_numpy(dtype=object) for column in margin.columns]
    empty = np.logical_or.reduce([pd.isna(column) for column in columns])
    if empty.any():
        raise RakingError(f"margin {margin.name}: respondents {respondents.index[empty][:5].tolist()} have no value")
    keys = list(margin.totals)
    position = {key: i for i, key in enumerate(keys)}
    own = columns[0] if len(columns) == 1 else list(zip(*columns))
    codes = np.fromiter((position.get(value, -1) for value in own), dtype=int, count=len(respondents))
    if (codes < 0).any():
        unknown = sorted(map(str, {own[i] for i in np.flatnonzero(codes < 0)}))
        raise RakingError(f"margin {margin.name}: level(s) {unknown[:5]} of the respondents have no population")
    totals = np.asarray([float(margin.totals[key]) for key in keys])
    if not np.isfinite(totals).all() or (totals < 0).any():
        raise RakingError(f"margin {margin.name}: populations must be finite and non-negative")
    return codes, totals, keys


def _margin_errors(weights: np.ndarray, codes: np.ndarray, totals: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Relative differences between the weighted levels that have respondents and their populations."""
    achieved = np.bincount(codes, weights=weights, minlength=len(totals))
    return np.abs(achieved[present] - totals[present]) / totals[present]


def _bounded_scaling(weights: np.ndarray, total: float, low: float, high: float) -> np.ndarray:
    """clip(f * weights, low, high) with the factor f that makes them sum to `total` (or all at a bound
    when even that cannot reach it). The sum is increasing and piecewise linear in f, with a corner
    where a weight meets a bound (f = low / w or high / w): find the two corners around `total` by halving
    over the sorted corners, interpolate between them, then solve exactly for the weights left between
    the bounds."""
    n = len(weights)
    if total <= low * n or total >= high * n:
        return np.full(n, low if total <= low * n else high)

    def summed(f: float) -> float:
        return float(np.clip(weights * f, low, high).sum())

    # At the first corner every weight is at the lower bound (sum n * low < total), at the last every
    # weight is at the upper one (n * high > total).
    corners = np.unique(np.concatenate((low / weights, high / weights)))
    below, above = 0, len(corners) - 1
    while above - below > 1:
        middle = (below + above) // 2
        if summed(corners[middle]) < total:
            below = middle
        else:
            above = middle
    f_low, f_high = corners[below], corners[above]
    sum_low, sum_high = summed(f_low), summed(f_high)
    factor = f_low + (total - sum_low) * (f_high - f_low) / (sum_high - sum_low)
    scaled = np.clip(weights * factor, low, high)
    free = (scaled > low) & (scaled < high)
    if free.any():
        fixed = scaled[~free].sum()
        scaled[free] = np.clip(weights[free] * (total - fixed) / weights[free].sum(), low, high)
    return scaled


def rake(respondents: pd.DataFrame, margins: Sequence[Margin], *, base_weights=None,
         trim: tuple[float, float] | None = DEFAULT_TRIM, tolerance: float = 1e-6,
         max_iterations: int = 1000) -> RakingResult:
    """Rake respondent weights to the margins (rules and errors in the module docstring).

    base_weights: positive design weights (default 1 each). trim: (low, high) multiples of the mean
    weight, low < 1 < high, or None for no trimming."""
    if respondents.empty:
        raise RakingError("no respondents to weight")
    if not margins:
        raise RakingError("no margins to rake to")
    n = len(respondents)
    weights = np.ones(n) if base_weights is None else np.asarray(base_weights, dtype="float64").copy()
    if weights.shape != (n,) or not np.isfinite(weights).all() or (weights <= 0).any():
        raise RakingError("base weights must be positive and finite, one per respondent")
    coded = []
    for margin in margins:
        codes, totals, keys = _level_codes(respondents, margin)
        counts = np.bincount(codes, minlength=len(totals))
        for key, count, total in zip(keys, counts, totals):
            if count == 0 and total > 0:
                raise RakingError(f"margin {margin.name}: level {key!r} has a population of {total:g} but no "
                                  "respondents, so it cannot be met; collapse it into a neighbouring level")
            if count > 0 and total == 0:
                raise RakingError(f"margin {margin.name}: level {key!r} has {count} respondents but no population")
        present = counts > 0
        coded.append((margin, codes, totals, keys, present))
    population = coded[0][2].sum()
    for margin, _, totals, _, _ in coded[1:]:
        if abs(totals.sum() - population) > tolerance * population:
            raise RakingError(f"margin {margin.name} totals {totals.sum():g} but margin {coded[0][0].name} "
                              f"totals {population:g}; every margin must describe the same population")
    bounds = None
    if trim is not None:
        low, high = trim
        if not 0 < low < 1 < high:
            raise RakingError(f"trimming bounds must satisfy 0 < low < 1 < high, got {trim}")
        bounds = (low * population / n, high * population / n)

    def cycle() -> list[np.ndarray]:
        """One raking cycle over every margin, in place; the margins' errors after it."""
        for _, codes, totals, _, present in coded:
            achieved = np.bincount(codes, weights=weights, minlength=len(totals))
            factors = np.divide(totals, achieved, out=np.ones_like(totals), where=present)
            np.multiply(weights, factors[codes], out=weights)
            if bounds is not None:
                for level in np.unique(codes[(weights < bounds[0]) | (weights > bounds[1])]):
                    members = codes == level
                    weights[members] = _bounded_scaling(weights[members], totals[level], *bounds)
        return [_margin_errors(weights, codes, totals, present) for _, codes, totals, _, present in coded]

    # A cycle's result depends on the weights it starts from alone. Weights that repeat, bit for bit, those
    # after an earlier cycle repeat from there on with the same period, and none of those met the margins:
    # the cap would be reached, with the weights the rest of the cycles modulo the period lead to. The
    # weights after cycles 1, 2, 4, 8, ... are kept to compare with (Brent's cycle detection).
    checkpoint, checkpoint_cycle = weights.copy(), 0
    for iteration in range(1, max_iterations + 1):
        errors = cycle()
        worst = max(float(error.max()) for error in errors)
        if worst <= tolerance:
            break
        if np.array_equal(weights, checkpoint):
            for _ in range((max_iterations - iteration) % (iteration - checkpoint_cycle)):
                errors = cycle()
            break
        if iteration & (iteration - 1) == 0:
            checkpoint, checkpoint_cycle = weights.copy(), iteration
    if worst > tolerance:
        position, error = max(enumerate(errors), key=lambda pair: pair[1].max())
        margin, _, _, keys, present = coded[position]
        level = [key for key, has_respondents in zip(keys, present) if has_respondents][int(error.argmax())]
        hint = (f"; the trimming bounds {trim} x the mean weight may not allow the margins to be met"
                if bounds is not None else "")
        raise RakingError(f"raking did not converge in {max_iterations} cycles: margin {margin.name}, level "
                          f"{level!r} is still {error.max():.2%} off its population{hint}")
    n_trimmed = 0 if bounds is None else int(np.isclose(weights, bounds[0]).sum() + np.isclose(weights, bounds[1]).sum())
    effective_n = kish_effective_n(weights)
    return RakingResult(pd.Series(weights, index=respondents.index, name="weight"), iteration, worst, bounds,
                        n_trimmed, effective_n, n / effective_n)
