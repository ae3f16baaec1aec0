"""Multiple comparisons: Benjamini-Hochberg q-values within a family of tests.

With 15 districts x several indicators x two references, some comparisons come out "significant" by
chance alone (of 77 survey comparisons 5 were, about the 3.9 expected). A q-value controls the false
discovery rate within its family: among the tests called significant at q < 0.05, at most 5 % are
expected to be false. The family is what the report colours together: one indicator x one kind of
comparison (e.g. every district against Norway for NEET, or every district's trend for NEET).

q_i = min over j with p_(j) >= p_i of  m * p_(j) / rank(j),  capped at 1 (Benjamini & Hochberg 1995,
the step-up adjusted p-values of R's p.adjust(method = "BH")). Ties get the same q. A missing p-value
(NaN: no test) is not part of the family: it does not count in m and its q stays NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def bh_q_values(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values of one family, in the input's order; NaN where p is NaN."""
    p = np.asarray(p_values, dtype="float64")
    if p.ndim != 1:
        raise ValueError("p-values must be one-dimensional (one family)")
    tested = ~np.isnan(p)
    if ((p[tested] < 0) | (p[tested] > 1)).any():
        raise ValueError(f"p-values must lie within 0-1, got {p[tested][(p[tested] < 0) | (p[tested] > 1)][:5]}")
    q = np.full_like(p, np.nan)
    m = int(tested.sum())
    if m == 0:
        return q
    order = np.argsort(p[tested], kind="stable")
    ranked = p[tested][order] * m / np.arange(1, m + 1)
    # step-up: each q is the smallest adjusted value at its rank or above
    adjusted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    family = np.empty(m)
    family[order] = adjusted
    q[tested] = family
    return q


def q_values_within(frame: pd.DataFrame, p_column: str, family: list[str]) -> pd.Series:
    """Benjamini-Hochberg q-values of frame[p_column] within each family (groups of the `family` columns),
    aligned with the frame's index; NaN where p is NaN."""
    missing = [column for column in (p_column, *family) if column not in frame.columns]
    if missing:
        raise ValueError(f"q-values need the columns {missing}")
    if frame.empty:
        return pd.Series(dtype="float64", index=frame.index)
    p = frame[p_column].astype("float64").to_numpy()
    q = np.full(len(p), np.nan)
    # Each family's rows by position, in the frame's order: a Python call per family on numpy arrays, where
    # a groupby transform builds a pandas Series for every family.
    families = frame.groupby([frame[column] for column in family], dropna=False, sort=False).indices
    for positions in families.values():
        q[positions] = bh_q_values(p[positions])
    return pd.Series(q, index=frame.index)
