"""What a goal_progress row must never say, written from the issues' words (independent of stats.progress).

Shared by the property tests over generated series (test_goal_progress_properties.py) and the test of the
built mart of the shipped data (test_goal_progress_mart.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALPHA = 0.05


def _better(polarity: pd.Series, a: pd.Series, b: pd.Series) -> pd.Series:
    """a is strictly better than b by polarity (NaN compares as False)."""
    return np.where(polarity == "higher_is_better", a > b, a < b)


def contradictions(progress: pd.DataFrame) -> pd.DataFrame:
    """The rows where status, progress, the change since the baseline and the trend contradict each other,
    with a column `problem` naming the first contradiction found."""
    frame = progress.reset_index(drop=True)
    polarity, status = frame["polarity"], frame["status"]
    baseline, latest, target = frame["baseline_value"], frame["latest_value"], frame["target_value"]
    progress_pct, label = frame["progress_pct"], frame["trend_label"]
    improved = pd.Series(_better(polarity, latest, baseline), index=frame.index)
    worsened = pd.Series(_better(polarity, baseline, latest), index=frame.index)
    meets_latest = ~pd.Series(_better(polarity, target, latest), index=frame.index) & target.notna() & latest.notna()
    meets_baseline = ~pd.Series(_better(polarity, target, baseline), index=frame.index) & target.notna() \
        & baseline.notna()
    checks = {
        "on track but worse than the baseline": (status == "on_track") & worsened,
        "on track without progress": (status == "on_track") & ~(progress_pct > 0),
        "off track although the target is met": (status == "off_track") & meets_latest,
        "a percentage although the baseline met the target": status.isin(["target_met_at_baseline",
                                                                           "target_no_longer_met"])
        & progress_pct.notna(),
        "target met at baseline, but it was not": status.isin(["target_met_at_baseline", "target_no_longer_met"])
        & ~meets_baseline,
        "target met at baseline and now, but it is not met now": (status == "target_met_at_baseline") & ~meets_latest,
        "target no longer met, but it is met now": (status == "target_no_longer_met") & meets_latest,
        "on or off track although the baseline met the target": status.isin(["on_track", "off_track"])
        & meets_baseline,
        "progress in the good direction beside a worse value": (progress_pct > 0) & worsened,
        "progress in the bad direction beside a better value": (progress_pct < 0) & improved,
        "improving (significant) beside a worse value": (label == "improving_significant") & ~improved,
        "worsening (significant) beside a better value": (label == "worsening_significant") & ~worsened,
        "on track beside worsening (significant)": (status == "on_track") & (label == "worsening_significant"),
        "significant wording on illustrative figures": label.isin(["improving_significant", "worsening_significant"])
        & (frame["provenance"] == "illustrative"),
        "significant trend without q < alpha": frame["trend_significant"].astype(bool)
        & ~(frame["trend_q_value"] < ALPHA),
        "significant wording without a significant trend": label.isin(["improving_significant",
                                                                       "worsening_significant", "unconfirmed"])
        & ~frame["trend_significant"].astype(bool),
        "a p-value without a test": frame["trend_p_value"].notna() & (frame["trend_status"] != "tested"),
        "progress shown beyond 100 %": frame["progress_display_pct"].abs() > 100,
        "progress capped without a flag": (frame["progress_display_pct"] != progress_pct) & progress_pct.notna()
        & frame["progress_flag"].isna(),
    }
    problem = pd.Series(None, index=frame.index, dtype=object)
    for name, mask in checks.items():
        problem = problem.where(problem.notna() | ~mask.fillna(False).astype(bool), name)
    found = frame[problem.notna()].assign(problem=problem[problem.notna()])
    return found


def wrong_way_targets(progress: pd.DataFrame) -> pd.DataFrame:
    """District rows whose own target lies on the wrong side of their baseline for the polarity, unless an
    override set it (and the row says so)."""
    rows = progress[(progress["region_level"] == "district") & progress["target_applies"]
                    & progress["target_value"].notna() & progress["baseline_value"].notna()]
    wrong = pd.Series(_better(rows["polarity"], rows["baseline_value"], rows["target_value"]), index=rows.index)
    return rows[wrong & (rows["target_form"] != "override")]
