"""Property tests: over generated series (hypothesis), the goal_progress rows built from them never let
status, progress and the trend contradict each other, and no relative or gap-closing target points the
wrong way. The series are made up: a seed drawn by hypothesis drives numpy, so shrinking stays cheap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from goal_checks import contradictions, wrong_way_targets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_pipeline.config import validate
from ci_pipeline.goals.config import NORWAY, OSLO, OSLO_DISTRICTS, GoalsFile
from ci_pipeline.goals.progress import build_goal_progress
from test_goal_progress_wiring import REGISTRY, observation, registry_entry

REGIONS = (NORWAY, OSLO, *OSLO_DISTRICTS)


def series_rows(seed: int, years: list[int], shape: str, provenance: str) -> list[dict]:
    """A share series with counts for every region: trending, flat, or noisy, some periods suppressed."""
    rng = np.random.default_rng(seed)
    rows = []
    for region in REGIONS:
        n = int(rng.integers(50, 5000)) * (200 if region == NORWAY else 15 if region == OSLO else 1)
        start = rng.uniform(0.02, 0.6)
        step = 0.0 if shape == "flat" else rng.uniform(-0.03, 0.03)
        for position, year in enumerate(years):
            noise = rng.uniform(-0.03, 0.03) if shape == "noisy" else 0.0
            share = float(np.clip(start + step * position + noise, 0.001, 0.999))
            if rng.random() < 0.05:
                rows.append(observation("outside_share", region, str(year), np.nan, status=":", provenance=provenance))
                continue
            x = round(n * share)
            rows.append(observation("outside_share", region, str(year), 100 * x / n, x, n, provenance=provenance))
    result = pd.DataFrame(rows)
    result["status"] = result["status"].astype(object).where(result["status"].notna(), None)
    return result


targets = st.one_of(
    st.builds(lambda v: {"target_value": v}, st.floats(0.5, 60, allow_nan=False)),
    st.builds(lambda v: {"target_change_pct": v}, st.floats(1, 60, allow_nan=False)),  # sign set by polarity below
    st.builds(lambda v, r: {"target_close_pct": v, "target_reference": r}, st.floats(1, 100, allow_nan=False),
              st.sampled_from(["oslo", "norway", "best_district"])),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_years=st.integers(2, 9), baseline_at=st.integers(0, 8),
       shape=st.sampled_from(["trend", "flat", "noisy"]), polarity=st.sampled_from(["higher_is_better", "higher_is_worse"]),
       target=targets, override=st.none() | targets, provenance=st.sampled_from(["recorded", "illustrative"]),
       gap_change=st.floats(1, 90, allow_nan=False))
def test_status_progress_and_trend_never_contradict(seed, n_years, baseline_at, shape, polarity, target, override,
                                                    provenance, gap_change):
    years = list(range(2014, 2014 + n_years))
    baseline = years[min(baseline_at, n_years - 1)]

    def pointed(spec: dict) -> dict:
        if "target_change_pct" in spec:
            change = abs(spec["target_change_pct"])
            return {"target_change_pct": -min(change, 99.0) if polarity == "higher_is_worse" else change}
        return spec

    item = {"indicator_id": "outside_share", "baseline_period": str(baseline), "target_year": 2030,
            "polarity": polarity, "scope": "each_district", **pointed(target)}
    if override is not None:
        item["overrides"] = {"030107": {**pointed(override), "reason": "generated"}}
    gap = {"indicator_id": "outside_share", "baseline_period": str(baseline), "target_year": 2030,
           "polarity": polarity, "scope": "gap", "target_change_pct": -min(gap_change, 99.0)}
    goals = validate(GoalsFile, {"goals": [{"id": "g", "name_nb": "G", "name_en": "G", "indicators": [item, gap]}]},
                     shown_as="generated").goals
    registry = {**REGISTRY, "outside_share": registry_entry(polarity=polarity)}
    progress = build_goal_progress(series_rows(seed, years, shape, provenance), pd.DataFrame(), list(goals),
                                   registry, {})

    found = contradictions(progress)
    assert found.empty, found[["region_code", "measure", "baseline_value", "latest_value", "target_value", "status",
                               "progress_pct", "trend_label", "problem"]].to_string()
    # only the goal's one absolute value (or an override) may lie on the wrong side of a district's baseline
    assert set(wrong_way_targets(progress)["target_form"]) <= {"absolute"}
    if provenance == "illustrative":
        assert not progress["trend_label"].isin(["improving_significant", "worsening_significant"]).any()
    on_track = progress[progress["status"] == "on_track"]
    assert (on_track["progress_pct"] > 0).all()
