"""The one place that reads goal_progress (and the series behind it) for the report.

Every other report module works on the view objects made here (`Entry`, `Figure`, `Verdict`, `Trend`,
`TargetLine`), so a new or renamed goal_progress column is handled in this file alone.

goal_progress columns read (`check_columns` names any that is missing):
    goal_id, indicator_id, indicator_name_nb, indicator_name_en, scope, measure ("value" | "gap"),
    region_code, region_name, region_level, headline, target_applies, unit, polarity, source, table_id,
    baseline_period, baseline_value, latest_period, latest_value, latest_status (a source status symbol),
    latest_ci_low, latest_ci_high, is_estimate, provenance (recorded | reconstructed | illustrative), alpha;
    the region's own target: target_value, target_year, target_form (absolute | relative | gap_closing |
        override) and target_reference (own_baseline | oslo | norway | best_district | null);
    status (on_track | off_track | target_met_at_baseline | target_no_longer_met | insufficient_data | no_target; any other value
        is shown as "not assessed", never as its id);
    the trend: trend_test (quasi_binomial | quasi_poisson | wls_known_se | ols), trend_status (tested |
        too_few_points | no_variation | unbounded_slope | not_converged | estimates_only), trend_direction
        (improving | worsening | no_change | null), trend_label (improving_significant |
        worsening_significant | not_significant | unconfirmed | not_tested | illustrative),
        trend_significant, trend_p_value, trend_q_value;
    the comparisons: comparison_oslo and comparison_norway (better | worse | not_significant | not_tested)
        with their _p_value and _q_value;
    gap rows: gap_best_region_code, gap_worst_region_code, gap_significant, gap_p_value, gap_q_value.
Significance honesty: a comparison, trend or gap is called better/worse or "statistically sure" only when
the mart calls it so, its Benjamini-Hochberg q-value is below the row's alpha, and the row's provenance
is not illustrative. A trend is worded "sure" only where the mart's trend_label says
improving_significant / worsening_significant (the label never says so beside a change since the baseline
that points the other way, and never on made-up figures).
Targets: an absolute target is the goal's one value: a region's line is drawn only where it points the
good way from the region's baseline (given the polarity), never the wrong way, and only for the area the
goal is set for. Any other form is the region's own target, drawn as it is, and the table names the form
and its reference in words. A supporting indicator (headline false in goals.yaml) is shown but never a
barometer column nor counted in the headline figures.

The observations behind the charts are read in series.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ci_pipeline.goals.config import NORWAY, OSLO, OSLO_DISTRICTS, Goal, GoalIndicator

ALPHA = 0.05
KNOWN_STATUSES = ("on_track", "off_track", "target_met_at_baseline", "target_no_longer_met", "insufficient_data",
                  "no_target")
OWN_TARGET_FORMS = ("relative", "gap_closing", "override")
TESTED_TRENDS = ("quasi_binomial", "quasi_poisson", "wls_known_se", "ols")
REQUIRED_COLUMNS = (
    "goal_id", "indicator_id", "indicator_name_nb", "indicator_name_en", "scope", "measure", "region_code",
    "region_name", "region_level", "headline", "target_applies", "unit", "polarity", "source", "table_id",
    "baseline_period", "baseline_value", "latest_period", "latest_value", "latest_status", "latest_ci_low",
    "latest_ci_high", "target_value", "target_year", "target_form", "target_reference", "status",
    "trend_test", "trend_status", "trend_direction", "trend_label", "trend_significant", "trend_p_value",
    "trend_q_value", "comparison_oslo", "comparison_oslo_p_value", "comparison_oslo_q_value", "comparison_norway",
    "comparison_norway_p_value", "comparison_norway_q_value", "gap_best_region_code", "gap_worst_region_code",
    "gap_significant", "gap_p_value", "gap_q_value", "is_estimate", "provenance", "alpha",
)
# Source status symbols (SSB and FHI) in words; any other symbol is "no figure".
MISSING_REASONS = {":": "missing.suppressed", "..": "missing.missing", ".": "missing.not_computable",
                   "...": "missing.not_yet"}
DISTRICTS = tuple(OSLO_DISTRICTS)


class ReportInputError(ValueError):
    """goal_progress lacks what the report reads; the message names the columns."""


def check_columns(goal_progress: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in goal_progress.columns]
    if missing:
        raise ReportInputError(f"goal_progress lacks the column(s) the report reads: {', '.join(missing)} "
                               "(ci_pipeline/report/adapter.py lists what it expects)")


def present(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _get(row: Mapping[str, Any], column: str) -> Any:
    return row[column] if column in row and present(row[column]) else None


@dataclass(frozen=True)
class Verdict:
    """A comparison as the partner view may show it: key is better, worse, no_difference, not_tested or
    illustrative (a test on made-up figures, which the report does not assess)."""

    key: str

    @property
    def significant(self) -> bool:
        return self.key in ("better", "worse")


@dataclass(frozen=True)
class Trend:
    """key is a texts key: trend.improving.sure / .unsure / .illustrative, the same for worsening,
    trend.unconfirmed, trend.no_change, trend.too_few_points, trend.estimates_only, trend.no_variation or
    trend.not_tested; test_key names the test that ran (trend_test.<test>), None when none did."""

    key: str
    direction: str | None = None
    test_key: str | None = None

    @property
    def significant(self) -> bool:
        return self.key.endswith(".sure")


@dataclass(frozen=True)
class TargetLine:
    """From the region's baseline (when known) to its target; own is True for a region's own target."""

    end_time: float
    end_value: float
    start_time: float | None = None
    start_value: float | None = None
    own: bool = False


@dataclass(frozen=True)
class Figure:
    """One goal_progress row (one region, or the gap) as the pages show it."""

    region_code: str
    region_name: str
    level: str
    latest_value: float | None
    latest_period: str | None
    missing_reason: str | None
    ci_low: float | None
    ci_high: float | None
    baseline_value: float | None
    baseline_period: str | None
    target_value: float | None
    target_year: int | None
    target_applies: bool
    own_target: bool
    status: str
    trend: Trend
    vs_oslo: Verdict | None
    vs_norway: Verdict | None
    provenance: str | None
    estimate: bool
    gap_best: str | None = None
    gap_worst: str | None = None
    gap_test: str | None = None  # the best against the worst district: sure, unsure, illustrative, not_tested
    target_form: str | None = None  # absolute, relative, gap_closing or override where the mart says
    target_reference: str | None = None  # own_baseline, oslo, norway or best_district where the mart says

    @property
    def target_form_key(self) -> str | None:
        """The texts key naming how this region's own target was set (None for the goal's one target)."""
        if self.target_form not in OWN_TARGET_FORMS:
            return None
        if self.target_form == "gap_closing" and self.target_reference:
            return f"target_form.gap_closing.{self.target_reference}"
        return f"target_form.{self.target_form}"

    @property
    def illustrative(self) -> bool:
        return self.provenance == "illustrative"


@dataclass
class Entry:
    """One goal x indicator x scope with its figures per region, and (gap scope) the gap figure."""

    goal: Goal
    item: GoalIndicator
    name_nb: str | None
    name_en: str | None
    unit: str | None
    polarity: str
    source: str | None
    table_id: str | None
    figures: dict[str, Figure] = field(default_factory=dict)
    gap: Figure | None = None

    @property
    def key(self) -> str:
        return f"{self.goal.id}-{self.item.indicator_id}-{self.item.scope}"

    @property
    def indicator_id(self) -> str:
        return self.item.indicator_id

    @property
    def scope(self) -> str:
        return self.item.scope

    @property
    def headline_level(self) -> str:
        """Where the goal's status is read: district (each bydel), municipality (Oslo) or gap."""
        return {"each_district": "district", "city": "municipality", "gap": "gap"}.get(self.scope, "unknown")

    @property
    def headline_figures(self) -> list[Figure]:
        if not self.item.headline:
            return []
        if self.headline_level == "gap":
            return [self.gap] if self.gap else []
        if self.headline_level == "municipality":
            return [self.figures[OSLO]] if OSLO in self.figures else []
        return [self.figures[d] for d in DISTRICTS if d in self.figures]

    @property
    def illustrative(self) -> bool:
        return any(f.illustrative for f in [*self.figures.values(), *([self.gap] if self.gap else [])])

    @property
    def own_targets(self) -> bool:
        return any(f.own_target for f in self.figures.values()) or bool(self.gap and self.gap.own_target)

    @property
    def estimate(self) -> bool:
        return any(f.estimate for code, f in self.figures.items() if code in DISTRICTS)


def _significant(row: Mapping[str, Any], q_column: str) -> bool:
    """Below alpha by the Benjamini-Hochberg q-value; never on made-up figures."""
    if row.get("provenance") == "illustrative":
        return False
    alpha = float(row["alpha"]) if present(row["alpha"]) else ALPHA
    return present(row[q_column]) and float(row[q_column]) < alpha


def _verdict(row: Mapping[str, Any], name: str) -> Verdict:
    outcome = _get(row, f"comparison_{name}")
    if outcome not in ("better", "worse", "not_significant"):
        return Verdict("not_tested")
    if row.get("provenance") == "illustrative":
        return Verdict("illustrative")
    if outcome in ("better", "worse") and _significant(row, f"comparison_{name}_q_value"):
        return Verdict(outcome)
    return Verdict("no_difference")


# Why no test ran, in the report's words (the other statuses read as "not assessed").
_UNTESTED_TRENDS = {"too_few_points": "trend.too_few_points", "estimates_only": "trend.estimates_only",
                    "no_variation": "trend.no_variation"}


def _trend(row: Mapping[str, Any]) -> Trend:
    test_status = _get(row, "trend_status")
    if test_status != "tested":
        return Trend(_UNTESTED_TRENDS.get(test_status, "trend.not_tested"))
    test = _get(row, "trend_test")
    test_key = f"trend_test.{test}" if test in TESTED_TRENDS else None
    direction = _get(row, "trend_direction")
    if direction == "no_change":
        return Trend("trend.no_change", direction, test_key)
    if direction not in ("improving", "worsening"):
        return Trend("trend.not_tested", test_key=test_key)
    if row.get("provenance") == "illustrative":
        return Trend(f"trend.{direction}.illustrative", direction, test_key)
    label = _get(row, "trend_label")
    if label == "unconfirmed":
        return Trend("trend.unconfirmed", direction, test_key)
    sure = (label == f"{direction}_significant" and bool(_get(row, "trend_significant"))
            and _significant(row, "trend_q_value"))
    return Trend(f"trend.{direction}.{'sure' if sure else 'unsure'}", direction, test_key)


def _figure(row: Mapping[str, Any]) -> Figure:
    status = row["status"] if row["status"] in KNOWN_STATUSES else "unknown"
    code = str(row["region_code"])
    gap = row["measure"] == "gap"
    symbol = _get(row, "latest_status")
    missing = MISSING_REASONS.get(str(symbol), "missing.none") if not present(row["latest_value"]) else None
    in_oslo = not gap and code in DISTRICTS
    return Figure(
        region_code=code,
        region_name=str(_get(row, "region_name") or code),
        level="gap" if gap else str(row["region_level"]),
        latest_value=_get(row, "latest_value"),
        latest_period=_get(row, "latest_period"),
        missing_reason=missing,
        ci_low=_get(row, "latest_ci_low"),
        ci_high=_get(row, "latest_ci_high"),
        baseline_value=_get(row, "baseline_value"),
        baseline_period=_get(row, "baseline_period"),
        target_value=_get(row, "target_value"),
        target_year=int(row["target_year"]) if present(_get(row, "target_year")) else None,
        target_applies=bool(row["target_applies"]),
        own_target=_get(row, "target_form") in OWN_TARGET_FORMS,
        target_form=_get(row, "target_form"),
        target_reference=_get(row, "target_reference"),
        status=status,
        trend=_trend(row),
        vs_oslo=_verdict(row, "oslo") if in_oslo else None,
        vs_norway=_verdict(row, "norway") if not gap and code != NORWAY else None,
        provenance=_get(row, "provenance"),
        estimate=bool(_get(row, "is_estimate")),
        gap_best=_get(row, "gap_best_region_code") if gap else None,
        gap_worst=_get(row, "gap_worst_region_code") if gap else None,
        gap_test=_gap_test(row) if gap else None,
    )


def _gap_test(row: Mapping[str, Any]) -> str:
    """Whether the best and the worst district differ for sure (by the gap's q-value)."""
    if _get(row, "gap_p_value") is None:
        return "not_tested"
    if row.get("provenance") == "illustrative":
        return "illustrative"
    sure = bool(_get(row, "gap_significant")) and _significant(row, "gap_q_value")
    return "sure" if sure else "unsure"


def entries(goal_progress: pd.DataFrame, goals: list[Goal]) -> list[Entry]:
    """Every goal x indicator entry of goals.yaml, in its order, with its goal_progress rows."""
    check_columns(goal_progress)
    # each row as a dict of plain values, and the rows of each goal x indicator x scope, found once
    records = goal_progress.to_dict("records")
    keys = zip(goal_progress["goal_id"], goal_progress["indicator_id"], goal_progress["scope"])
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for key, record in zip(keys, records):
        by_key.setdefault(key, []).append(record)
    found = []
    for goal in goals:
        for item in goal.indicators:
            rows = by_key.get((goal.id, item.indicator_id, item.scope), [])
            first = rows[0] if rows else None
            entry = Entry(
                goal=goal, item=item,
                name_nb=_get(first, "indicator_name_nb") if first is not None else None,
                name_en=_get(first, "indicator_name_en") if first is not None else None,
                unit=_get(first, "unit") if first is not None else None,
                polarity=item.polarity,
                source=_get(first, "source") if first is not None else item.source,
                table_id=_get(first, "table_id") if first is not None else None,
            )
            for row in rows:
                if row["measure"] == "gap":
                    entry.gap = _figure(row)
                else:
                    entry.figures[str(row["region_code"])] = _figure(row)
            found.append(entry)
    return found


def barometer_columns(all_entries: list[Entry]) -> list[Entry]:
    """The barometer's columns: each goal's headline indicators that are read per district (a supporting
    indicator is never one)."""
    return [e for e in all_entries if e.headline_level == "district" and e.item.headline]


def _better(polarity: str, a: float, b: float) -> bool:
    return a < b if polarity == "higher_is_worse" else a > b


def _goal_target_is_for(entry: Entry, figure: Figure) -> bool:
    """Whether the goal's one target is meant for this area (a city goal is Oslo's, not each bydel's)."""
    return (figure.target_applies and figure.target_value is not None and figure.target_year is not None
            and (entry.headline_level != "municipality" or figure.region_code == OSLO))


def beaten_at_baseline(entry: Entry, figure: Figure) -> bool:
    """Whether the area was already better than the goal's one target at the baseline (so a line from
    its baseline to the target would point the wrong way)."""
    if figure.own_target or figure.baseline_value is None or not _goal_target_is_for(entry, figure):
        return False
    polarity = "higher_is_worse" if figure.level == "gap" else entry.polarity
    return not _better(polarity, float(figure.target_value), float(figure.baseline_value))


def target_line(entry: Entry, figure: Figure, baseline_time: float | None) -> TargetLine | None:
    """The area's target line, or None where a target means nothing for it.

    A region's own target (target_form set) is drawn as it is. The goal's one target is drawn only for
    the areas it is set for, from a known baseline, and only when it lies on the good side of that
    baseline."""
    start = (baseline_time, figure.baseline_value) if (baseline_time is not None
                                                       and figure.baseline_value is not None) else (None, None)
    if figure.own_target and figure.target_value is not None and figure.target_year is not None:
        return TargetLine(float(figure.target_year), float(figure.target_value), *start, own=True)
    if start[0] is None or not _goal_target_is_for(entry, figure) or beaten_at_baseline(entry, figure):
        return None
    return TargetLine(float(figure.target_year), float(figure.target_value), *start)
