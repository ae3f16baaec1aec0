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
    if people.sum() <= 0:
        raise ValueError("the districts have no population to apportion by")
    if total is not None and not math.isnan(total) and (total < 0 or math.isinf(total)):
        raise ValueError(f"the municipal total must be a non-negative count, got {total}")
    frame = pd.DataFrame({"district": people.index, "population": people.to_numpy()})
    frame["method"], frame["note"] = APPORTIONED, None
    if rate is None:
        frame["rate"] = np.nan
        frame["note"] = "no related district share: apportioned by population alone"
        frame["weight"] = frame["population"]
    else:
        shares = _checked(rate, "rate", allow_missing=True)
        unknown = sorted(set(shares.index) - set(people.index))
        if unknown:
            raise ValueError(f"rates are given for districts {unknown} that have no population")
        frame["rate"] = frame["district"].map(shares).astype("float64")
        known = frame["rate"].notna()
        if not known.any() or (frame.loc[known, "population"] * frame.loc[known, "rate"]).sum() == 0:
            frame["rate"] = np.nan
            frame["weight"] = frame["population"]
            frame["note"] = ("no district has a usable related share (all missing or 0): apportioned by "
                             "population alone")
        else:
            mean_rate = (frame.loc[known, "population"] * frame.loc[known, "rate"]).sum() / \
                frame.loc[known, "population"].sum()
            frame.loc[known, "method"] = APPORTIONED_BY_RATE
            frame.loc[~known, "note"] = (f"no related share for this district: given the mean share of the others "
                                         f"({mean_rate:.4g}), i.e. apportioned by population alone")
            frame["rate"] = frame["rate"].fillna(mean_rate)
            frame["weight"] = frame["population"] * frame["rate"]
    if total is None or math.isnan(total):
        frame["value"] = np.nan
    else:
        frame["value"] = total * frame["weight"] / frame["weight"].sum()
    return frame[APPORTIONMENT_COLUMNS]
