"""The gap between the best and the worst bydel of a goal indicator, per period (gap goals and the report).

Per period with values for at least two bydeler, the gap is |best - worst| by the indicator's polarity;
its provenance is the worst of the bydeler's rows that period, and it is an estimate when the best or the
worst figure is.
"""

from __future__ import annotations

import pandas as pd

from ci_pipeline.archive import worst_provenance
from ci_pipeline.goals.rules import is_estimate
from ci_pipeline.goals.series import Series

# What a gap and the best-against-worst test read of a bydel's row (the other columns are not copied).
OBSERVATION_COLUMNS = ["period", "time", "start", "end", "value", "numerator", "denominator", "provenance",
                       "is_estimate"]


def district_gaps(districts: dict[str, Series], polarity: str) -> tuple[dict[str, list], list[dict]]:
    """Per period, the best and worst bydel with a value and the gap between them, oldest first; each
    bydel's observation holds the OBSERVATION_COLUMNS of its row."""
    higher_is_better = polarity == "higher_is_better"
    by_period: dict[str, list[tuple[str, dict]]] = {}
    for code, series in districts.items():
        for values in zip(*(series.columns[column].tolist() for column in OBSERVATION_COLUMNS)):
            observation = dict(zip(OBSERVATION_COLUMNS, values))
            by_period.setdefault(observation["period"], []).append((code, observation))
    gaps = []
    for period, observations in by_period.items():
        with_values = [(code, row) for code, row in observations if not pd.isna(row["value"])]
        if len(with_values) < 2:
            continue
        ranked = sorted(with_values, key=lambda pair: float(pair[1]["value"]), reverse=higher_is_better)
        (best_code, best), (worst_code, worst) = ranked[0], ranked[-1]
        gaps.append({
            "period": period, "time": best["time"], "start": best["start"], "end": best["end"],
            "value": abs(float(best["value"]) - float(worst["value"])), "status": None,
            "best": (best_code, best), "worst": (worst_code, worst), "n": len(with_values),
            "provenance": worst_provenance([row["provenance"] for _, row in observations]),
            "is_estimate": is_estimate(best["is_estimate"]) or is_estimate(worst["is_estimate"]),
        })
    gaps.sort(key=lambda gap: gap["time"])
    return by_period, gaps


def gap_series(districts: dict[str, Series], polarity: str) -> pd.DataFrame:
    """The gap between the best and the worst bydel per period: period, time, value, best, worst, n."""
    _, gaps = district_gaps(districts, polarity)
    return pd.DataFrame(
        [{"period": g["period"], "time": g["time"], "value": g["value"], "best_region_code": g["best"][0],
          "worst_region_code": g["worst"][0], "n_districts": g["n"], "provenance": g["provenance"]} for g in gaps],
        columns=["period", "time", "value", "best_region_code", "worst_region_code", "n_districts", "provenance"],
    )
