"""Each region's own target: the goal's target form (goals/config.py) turned into a number for one region.

- absolute: the stated value, the same for every region it applies to;
- relative: the region's own baseline x (1 + target_change_pct / 100);
- gap_closing: the region's baseline moved target_close_pct % of the way to the reference's figure at
  baseline (Oslo, Norway, or the best of the 15 bydeler at baseline by polarity). A region already at
  least as good as the reference has no distance to close: its target is to hold its baseline (the
  status then says target_met_at_baseline), never a target worse than where it started;
- override: a per-region override replaces the goal's form for that region (any of the three forms);
  the row says `override`, and its note gives the override's reason.

A relative or gap-closing target needs the baselines it is computed from; without them there is no target
(value None) and the note says why, so the status reads insufficient_data, not no_target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ci_pipeline.goals.config import (
    ABSOLUTE,
    GAP_CLOSING,
    NORWAY,
    OSLO,
    OSLO_DISTRICTS,
    OVERRIDE,
    RELATIVE,
    GoalIndicator,
    TargetSpec,
)
from ci_pipeline.stats import meets

OWN_BASELINE = "own_baseline"
REFERENCE_NAMES = {"oslo": "Oslo", "norway": "Norway", "best_district": "the best district"}


@dataclass(frozen=True)
class ResolvedTarget:
    """One region's target: value None when it cannot be set (note says why).

    form: absolute, relative, gap_closing or override; reference: own_baseline (relative), oslo, norway
    or best_district (gap_closing), None (absolute); reference_value: that reference's figure at baseline."""

    value: float | None
    form: str
    reference: str | None
    reference_value: float | None
    note: str


def _best_district(baselines: Mapping[str, float | None], polarity: str) -> tuple[str, float] | None:
    known = [(code, value) for code in OSLO_DISTRICTS if (value := baselines.get(code)) is not None]
    if not known:
        return None
    pick = min if polarity == "higher_is_worse" else max
    return pick(known, key=lambda pair: pair[1])


def _resolve(spec: TargetSpec, baseline: float | None, baselines: Mapping[str, float | None],
             polarity: str) -> ResolvedTarget:
    form = spec.target_form
    if form == ABSOLUTE:
        return ResolvedTarget(spec.target_value, ABSOLUTE, None, None, f"the stated target {spec.target_value:g}")
    if form == RELATIVE:
        change = spec.target_change_pct
        if baseline is None:
            return ResolvedTarget(None, RELATIVE, OWN_BASELINE, None,
                                  f"no baseline value: the target ({change:+g} % from it) cannot be set")
        return ResolvedTarget(baseline * (1 + change / 100), RELATIVE, OWN_BASELINE, baseline,
                              f"{change:+g} % from the own baseline {baseline:.4g}")
    reference, share = spec.target_reference, spec.target_close_pct
    name = REFERENCE_NAMES[reference]
    if reference == "best_district":
        best = _best_district(baselines, polarity)
        reference_value = None if best is None else best[1]
        if best is not None:
            name = f"the best district ({best[0]})"
    else:
        reference_value = baselines.get(OSLO if reference == "oslo" else NORWAY)
    if baseline is None or reference_value is None:
        missing = "no baseline value" if baseline is None else f"{name} has no figure at baseline"
        return ResolvedTarget(None, GAP_CLOSING, reference, reference_value,
                              f"{missing}: the target (closing {share:g} % of the distance to {name}) cannot be set")
    if meets(baseline, reference_value, polarity):
        return ResolvedTarget(baseline, GAP_CLOSING, reference, reference_value,
                              f"already at least as good as {name} ({reference_value:.4g}) at baseline: the target "
                              f"is to hold the baseline {baseline:.4g}")
    return ResolvedTarget(baseline + share / 100 * (reference_value - baseline), GAP_CLOSING, reference,
                          reference_value, f"closes {share:g} % of the distance from the baseline {baseline:.4g} "
                                           f"to {name}'s {reference_value:.4g}")


def region_target(item: GoalIndicator, region: str, baselines: Mapping[str, float | None],
                  polarity: str | None = None) -> ResolvedTarget | None:
    """The target of `region` (a region code, with its baseline in `baselines`), or None where the goal
    sets no target (a supporting indicator without one). `baselines` holds every region's baseline value
    (None where missing): the references of gap-closing targets are read from it. `polarity` defaults to
    the goal's (a gap row passes higher_is_worse)."""
    polarity = polarity or item.polarity
    override = item.overrides.get(region)
    spec = override if override is not None else item
    if spec.target_form is None:
        return None
    target = _resolve(spec, baselines.get(region), baselines, polarity)
    if override is None:
        return target
    return replace(target, form=OVERRIDE, note=f"override ({override.reason}): {target.note}")
