"""The districts of a municipality added up against its total, for the two places that judge them: the
core's district-sum report (ci_pipeline.breakdown.check_district_sums, within the source's rounding) and
the quality check derivation district_sums_match_municipal (within its configured tolerance). Each caller
says which rows are districts, which are totals and which municipality a row belongs to; the sums are
worked out here once, on integer group numbers, so a table of millions of rows is never copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ci_pipeline.tidy import group_numbers


@dataclass(frozen=True)
class DistrictSums:
    """The total rows whose districts all have a value, in row order, with what their districts add up to."""

    totals: np.ndarray  # row positions of the totals
    total: np.ndarray  # each total's value
    district_sum: np.ndarray
    districts: np.ndarray  # how many district rows were added up


def municipality_numbers(code_of_row: np.ndarray, as_district: pd.Series, as_total: pd.Series,
                         is_district: np.ndarray) -> np.ndarray:
    """A number per row for its municipality, from two readings of each distinct code (`code_of_row`
    indexes them): `as_district`, the municipality a district code belongs to, on the `is_district`
    rows; `as_total`, the municipality the code itself names, on the others. Equal names get equal
    numbers, null one of its own."""
    named, _ = pd.factorize(pd.concat([as_district, as_total], ignore_index=True), use_na_sentinel=False)
    return np.where(is_district, named[:len(as_district)][code_of_row], named[len(as_district):][code_of_row])


def district_sums_against_totals(frame: pd.DataFrame, key: list[str], municipality: np.ndarray,
                                 districts: np.ndarray, totals: np.ndarray) -> DistrictSums:
    """Rows equal in `key` and in `municipality` (municipality_numbers: the same number for a
    municipality's total and for its districts) form a group. The group's `districts` rows (a mask) are
    added up and set against each of its `totals` rows (a mask) that has a value. A group with a district
    whose value is missing (suppressed, say) has no known sum, and a total without districts nothing to
    compare: neither is returned.
    """
    values = frame["value"].to_numpy(dtype=float, na_value=np.nan)
    group = group_numbers(frame, key) * (int(municipality.max(initial=-1)) + 1) + municipality
    groups, group_of_district = np.unique(group[districts], return_inverse=True)
    known = ~np.isnan(values[districts])
    sums = np.bincount(group_of_district, weights=np.where(known, values[districts], 0.0), minlength=len(groups))
    counts = np.bincount(group_of_district, minlength=len(groups))
    complete = np.bincount(group_of_district, weights=known, minlength=len(groups)) == counts
    rows = np.flatnonzero(totals & ~np.isnan(values))
    position = np.searchsorted(groups, group[rows]).clip(max=max(len(groups) - 1, 0))
    matched = (groups[position] == group[rows]) & complete[position] if len(groups) else np.zeros(len(rows), bool)
    rows, position = rows[matched], position[matched]
    return DistrictSums(totals=rows, total=values[rows], district_sum=sums[position], districts=counts[position])
