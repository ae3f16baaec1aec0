"""Apportionment of a municipal count over its districts by the best available district signal.

Spreading a count by population alone assumes every district has the municipality's average prevalence,
which district data often contradict (FHI's persistent low income for children ranges 4.8-30.9 % across
Oslo's districts). Where a related district share exists (e.g. FHI 507, persistent low income, for
children in low-income households), each district's weight is its population x that share, and the
municipal count is spread in proportion to the weights, so the districts add up to it exactly:

    value_d = total x population_d x rate_d / sum over districts (population_k x rate_k)

method per district row:
- apportioned_by_rate: the district's own share was used;
- apportioned: the weaker estimate, population alone. Used for every district when no related share is
  given (or every given share is 0 while the total is not), and for a district whose share is missing:
  it gets the population-weighted mean share of the districts that have one, which is the
  population-only assumption for that district. Such rows are flagged (note), never dropped.

A missing (suppressed) municipal total gives missing district values, never numbers. Every value is an
estimate (is_estimate True in the marts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

APPORTIONED_BY_RATE = "apportioned_by_rate"
APPORTIONED = "apportioned"
APPORTIONMENT_COLUMNS = ["district", "population", "rate", "weight", "value", "method", "note"]


def _checked(values: Mapping[str, float], name: str, allow_missing: bool) -> pd.Series:
    series = pd.Series(dict(values), dtype="float64")
    if not allow_missing and series.isna().any():
        raise ValueError(f"{name} is missing for districts {series.index[series.isna()].tolist()}")
    bad = series[(series < 0) | np.isinf(series)]
    if len(bad):
        raise ValueError(f"{name} must be finite and non-negative; districts {bad.index.tolist()} have {bad.tolist()}")
    return series


def apportion_by_rate(total: float | None, population: Mapping[str, float],
                      rate: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Spread a municipal count over districts by population x a related district share (rules in the module
    docstring). population: district -> population (every district that shares the total, the unknown
    district included where it has one). rate: district -> related share (any scale; NaN or absent for a
    district without one), or None when no related share exists.

    Returns one row per district of `population`: district, population, rate (as used; imputed for a
    district without one), weight, value (sums to total), method, note."""
    people = _checked(population, "population", allow_missing=False)
    if people.empty:
        raise ValueError("no districts to apportion over")
    if total is not None and not math.isnan(total) and (total < 0 or math.isinf(total)):
        raise ValueError(f"the municipal total must be a non-negative count, got {total}")
    rates = np.full(len(people), np.nan)
    if rate is not None:
        shares = _checked(rate, "rate", allow_missing=True)
        unknown = sorted(set(shares.index) - set(people.index))
        if unknown:
            raise ValueError(f"rates are given for districts {unknown} that have no population")
        rates = shares.reindex(people.index).to_numpy(dtype="float64")
    spread = apportion_groups_by_rate(np.array([0]), np.array([np.nan if total is None else float(total)]),
                                      people.to_numpy(), rates)
    frame = pd.DataFrame({"district": people.index, "population": people.to_numpy(), "rate": spread.rate,
                          "weight": spread.weight, "value": spread.value,
                          "method": np.where(spread.by_rate, APPORTIONED_BY_RATE, APPORTIONED), "note": None})
    if rate is None:
        frame["note"] = "no related district share: apportioned by population alone"
    elif not spread.by_rate.any():
        frame["note"] = "no district has a usable related share (all missing or 0): apportioned by population alone"
    else:
        imputed = ~spread.by_rate
        frame.loc[imputed, "note"] = [f"no related share for this district: given the mean share of the others "
                                      f"({mean_rate:.4g}), i.e. apportioned by population alone"
                                      for mean_rate in spread.rate[imputed]]
    return frame[APPORTIONMENT_COLUMNS]


@dataclass(frozen=True)
class GroupedApportionment:
    """Per district row of apportion_groups_by_rate: the rate used (NaN where a group is spread by
    population alone), the weight, the value, and whether the district's own rate was used."""

    rate: np.ndarray
    weight: np.ndarray
    value: np.ndarray
    by_rate: np.ndarray


def apportion_groups_by_rate(starts: np.ndarray, total: np.ndarray, population: np.ndarray,
                             rate: np.ndarray) -> GroupedApportionment:
    """The rules of the module docstring for many municipal totals at once. The district rows of each
    total are contiguous and group g starts at row starts[g]; total: per group (NaN when suppressed);
    population and rate: per district row (rate NaN where the district has no related share).
    Raises ApportionmentError naming the groups (their positions) whose input cannot be apportioned."""
    _refuse_groups(starts, population, ~np.isfinite(population) | (population < 0),
                   "population must be finite, present and non-negative")
    _refuse_groups(starts, rate, np.isinf(rate) | (rate < 0), "rate must be finite and non-negative")
    bad_total = np.flatnonzero(np.isinf(total) | (total < 0))
    if len(bad_total):
        raise ApportionmentError(f"the municipal total must be a non-negative count; groups "
                                 f"{bad_total[:5].tolist()} have {total[bad_total[:5]].tolist()}", bad_total)
    everyone = np.ones(len(population), dtype=bool)
    empty = np.flatnonzero(_group_sums(population, starts, everyone) <= 0)
    if len(empty):
        raise ApportionmentError(f"the districts have no population to apportion by (groups {empty[:5].tolist()})",
                                 empty)
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(population))))
    known = ~np.isnan(rate)
    known_weight = _group_sums(population * np.where(known, rate, 0.0), starts, known)
    uses_rate = (known_weight != 0)[group]  # no known rate, or every known rate 0: population alone
    with np.errstate(invalid="ignore", divide="ignore"):  # a group without a known rate has no mean rate
        mean_rate = (known_weight / _group_sums(population, starts, known))[group]
    used_rate = np.where(uses_rate, np.where(known, rate, mean_rate), np.nan)
    weight = np.where(uses_rate, population * used_rate, population)
    value = total[group] * weight / _group_sums(weight, starts, everyone)[group]
    return GroupedApportionment(rate=used_rate, weight=weight, value=value, by_rate=uses_rate & known)


class ApportionmentError(ValueError):
    """Input apportion_groups_by_rate cannot spread; `groups`: the positions of the totals concerned."""

    def __init__(self, message: str, groups: np.ndarray):
        super().__init__(message)
        self.groups = groups


def _refuse_groups(starts: np.ndarray, values: np.ndarray, bad: np.ndarray, message: str) -> None:
    if bad.any():
        groups = np.unique(np.searchsorted(starts, np.flatnonzero(bad), side="right") - 1)
        raise ApportionmentError(f"{message}; groups {groups[:5].tolist()} have {values[bad][:5].tolist()}", groups)


def _group_sums(values: np.ndarray, starts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The sum of the chosen values of each group. Summed group by group with numpy's own (pairwise) sum,
    the one Series.sum uses, so that a figure does not move by a last digit with the way it is computed."""
    return np.array([part[mask].sum() for part, mask in zip(np.split(values, starts[1:]),
                                                               np.split(chosen, starts[1:]))], dtype="float64")
