"""The HTML goal report: static files that open in any browser, with no server and no network.

index.html gives an overview of every goal; goal-<id>.html shows, per indicator of the goal, a
turn-the-curve chart per region (the series over time, the baseline, the target and the straight
line from one to the other) and a table of the regions with their status and their comparison with
Oslo and Norway. Charts are inline SVG drawn here; each has a title and a description for screen
readers. Comparison cells are green (better) or red (worse) only when the test was significant,
neutral when it was not, and white when no test was possible; the word is always written out too.
Wherever an illustrative input is involved, the page says so at the top.

write_report() writes <out_dir>/<version>/ and then replaces <out_dir>/latest/ with a copy, each
through a temporary folder and a rename so a reader never sees half a report.
"""

from __future__ import annotations

import html
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ci_pipeline.goals.config import NORWAY, OSLO, OSLO_DISTRICTS, Goal, GoalIndicator
from ci_pipeline.goals.gaps import gap_series
from ci_pipeline.goals.series import region_series

STATUS_LABELS = {
    "on_track": "On track",
    "off_track": "Off track",
    "insufficient_data": "Insufficient data",
    "no_target": "No target here",
}
COMPARISON_LABELS = {
    "better": "Better",
    "worse": "Worse",
    "not_significant": "No significant difference",
    "not_tested": "Not tested",
}
PROVENANCE_NOTICE = (
    "Illustrative data: some figures on this page are made up for demonstration (provenance "
    "\u201cillustrative\u201d). They are not official statistics and must not be used as such."
)

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; max-width: 1200px; }
h1, h2, h3 { line-height: 1.2; }
.notice { border: 2px solid #b26a00; background: #fff4e0; padding: .75rem 1rem; margin: 1rem 0; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { border: 1px solid #bbb; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cmp-better { background: #b9e4c0; }
.cmp-worse { background: #f6b8b8; }
.cmp-not_significant { background: #fff2b3; }
.cmp-not_tested { background: #ffffff; }
.status-on_track { font-weight: 600; color: #1b5e20; }
.status-off_track { font-weight: 600; color: #b71c1c; }
.status-insufficient_data { color: #555; font-style: italic; }
.charts { display: flex; flex-wrap: wrap; gap: .75rem; }
figure { margin: 0; width: 280px; }
figcaption { font-size: .85rem; }
svg.chart { width: 280px; height: 170px; background: #fff; border: 1px solid #ddd; }
svg .series { fill: none; stroke: #1f5fa8; stroke-width: 2; }
svg .point { fill: #1f5fa8; }
svg .baseline { stroke: #666; stroke-dasharray: 4 3; }
svg .trajectory { stroke: #2e7d32; stroke-dasharray: 2 3; }
svg .target { fill: #2e7d32; }
svg .suppressed { fill: #b71c1c; font-size: 11px; }
svg .axis { stroke: #999; }
svg text { font-size: 10px; fill: #333; }
.legend { font-size: .85rem; }
"""

WIDTH, HEIGHT = 280, 170
LEFT, RIGHT, TOP, BOTTOM = 36, 10, 10, 22


def write_report(
    goal_progress: pd.DataFrame,
    indicator_values: pd.DataFrame,
    survey_results: pd.DataFrame,
    goals: list[Goal],
    registry: Mapping[str, Any],
    out_dir: Path,
    version: str,
) -> Path:
    """Write the report into <out_dir>/<version>/ and <out_dir>/latest/; return the version's index.html."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = _pages(goal_progress, indicator_values, survey_results, goals, registry, version)
    target = out_dir / version
    _replace_dir(out_dir, target, pages)
    _replace_dir(out_dir, out_dir / "latest", pages)
    return target / "index.html"


def _replace_dir(parent: Path, target: Path, pages: dict[str, str]) -> None:
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".staging-"))
    staging.chmod(0o755)  # mkdtemp makes it private; the report is for every reader of the warehouse
    for name, text in pages.items():
        (staging / name).write_text(text, encoding="utf-8")
    if target.exists():
        retired = Path(tempfile.mkdtemp(dir=parent, prefix=".retired-"))
        os.replace(target, retired / target.name)
        os.replace(staging, target)
        shutil.rmtree(retired)
    else:
        os.replace(staging, target)


def _pages(goal_progress, indicator_values, survey_results, goals, registry, version) -> dict[str, str]:
    pages = {"index.html": _index_page(goal_progress, goals, version)}
    for goal in goals:
        pages[f"goal-{goal.id}.html"] = _goal_page(
            goal, goal_progress[goal_progress["goal_id"] == goal.id], indicator_values, survey_results,
            registry, version,
        )
    return pages


def _e(value: Any) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value))


def _number(value: Any, digits: int = 1) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{float(value):.{digits}f}"


def _page(title: str, body: str, illustrative: bool) -> str:
    notice = f'<p class="notice" role="note">{_e(PROVENANCE_NOTICE)}</p>' if illustrative else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n{notice}\n{body}\n</main>\n</body>\n</html>\n"
    )


def _is_illustrative(frame: pd.DataFrame) -> bool:
    return bool((frame["provenance"] == "illustrative").any())


def _index_page(goal_progress: pd.DataFrame, goals: list[Goal], version: str) -> str:
    parts = [
        (f"<p>Report version {_e(version)}. Each goal links to its page with a chart and a table per "
         "indicator. The status counts are for the regions each target is set for (Oslo for city "
         "targets, the 15 districts for district targets, the gap between districts for gap targets).</p>"),
        "<h2>Status rule</h2>",
        ("<p>On track: the latest value meets the target, or is at least as good as the straight line "
         "from the baseline to the target at the latest period. Off track: behind that line. Insufficient "
         "data: the latest or the baseline value is missing or suppressed, nothing is newer than the "
         "baseline, or the survey questions changed since the baseline.</p>"),
        "<h2>Goals</h2>",
        ("<table><caption>Goals and the status of their headline regions</caption><thead><tr>"
         "<th scope=col>Goal</th><th scope=col>Indicator</th><th scope=col>Scope</th>"
         "<th scope=col>Baseline</th><th scope=col>Target</th><th scope=col>On track</th>"
         "<th scope=col>Off track</th><th scope=col>Insufficient data</th></tr></thead><tbody>"),
    ]
    for goal in goals:
        for position, item in enumerate(goal.indicators):
            rows = _entry_rows(goal_progress, goal, item)
            headline = rows[rows["headline"]]
            counts = headline["status"].value_counts()
            goal_cell = (f'<td rowspan="{len(goal.indicators)}"><a href="goal-{_e(goal.id)}.html">'
                         f"{_e(goal.name_en)}</a><br><small>{_e(goal.name_nb)}</small></td>") if position == 0 else ""
            parts.append(
                f"<tr>{goal_cell}<td>{_indicator_label(rows, item)}</td><td>{_e(item.scope)}</td>"
                f"<td>{_e(item.baseline_period)}</td><td class=num>{_number(item.target_value)} by "
                f"{item.target_year}</td><td class=num>{counts.get('on_track', 0)}</td>"
                f"<td class=num>{counts.get('off_track', 0)}</td>"
                f"<td class=num>{counts.get('insufficient_data', 0)}</td></tr>"
            )
    parts.append("</tbody></table>")
    return _page("Goals and progress", "\n".join(parts), _is_illustrative(goal_progress))


def _indicator_label(rows: pd.DataFrame, item: GoalIndicator) -> str:
    """The indicator's English name with its id in small print; the id alone when no row names it."""
    names = rows["indicator_name_en"].dropna()
    if names.empty:
        return _e(item.indicator_id)
    return f"{_e(names.iloc[0])} <small>{_e(item.indicator_id)}</small>"


def _entry_rows(goal_progress: pd.DataFrame, goal: Goal, item: GoalIndicator) -> pd.DataFrame:
    return goal_progress[(goal_progress["goal_id"] == goal.id)
                         & (goal_progress["indicator_id"] == item.indicator_id)
                         & (goal_progress["scope"] == item.scope)]


def _goal_page(goal, rows: pd.DataFrame, indicator_values, survey_results, registry, version) -> str:
    parts = [f'<p><a href="index.html">All goals</a> &middot; version {_e(version)}</p>',
             f"<p>{_e(goal.name_nb)}</p><p>{_e(goal.description)}</p>",
             ('<p class="legend">Charts: blue line and dots = the indicator; grey dashed line = baseline; '
              "green square = target; green dotted line = the straight path from baseline to target; "
              "red \u00d7 = suppressed or missing figure. Table colours: green = significantly better, "
              "red = significantly worse, yellow = no significant difference, white = not tested "
              "(comparisons with Oslo and with Norway, two-sided, alpha 0.05).</p>")]
    for item in goal.indicators:
        entry = _entry_rows(rows, goal, item)
        series, _ = region_series(indicator_values, survey_results, goal, item, registry)
        parts.append(f"<section><h2>{_indicator_label(entry, item)} ({_e(item.scope)})</h2>")
        parts.append(f"<p>Baseline {_e(item.baseline_period)}; target {_number(item.target_value)} by "
                     f"{item.target_year}; {_e(item.polarity.replace('_', ' '))}.</p>")
        if _is_illustrative(entry):
            parts.append(f'<p class="notice" role="note">{_e(PROVENANCE_NOTICE)}</p>')
        charts = []
        # The target of a gap goal is a gap size, so it is drawn on the gap chart, not on the districts'.
        target = (float(item.target_year), item.target_value)
        if item.scope == "gap":
            gap = gap_series({d: series[d] for d in OSLO_DISTRICTS}, item.polarity)
            gap_row = entry[entry["measure"] == "gap"]
            baseline = gap_row["baseline_value"].iloc[0] if not gap_row.empty else None
            charts.append(_chart(
                f"{goal.id}-{item.indicator_id}-gap", "Gap between best and worst district",
                list(zip(gap["time"], gap["value"], gap["period"], [None] * len(gap))),
                _baseline_point(gap, item, baseline), target,
            ))
        for region in (OSLO, *OSLO_DISTRICTS):
            region_row = entry[(entry["region_code"] == region) & (entry["measure"] == "value")]
            name = region_row["region_name"].iloc[0] if not region_row.empty else region
            frame = series[region].frame
            baseline = region_row["baseline_value"].iloc[0] if not region_row.empty else None
            points = list(zip(frame["time"], frame["value"], frame["period"], frame["status"]))
            charts.append(_chart(f"{goal.id}-{item.indicator_id}-{region}", f"{name} ({region})", points,
                                 _baseline_point(frame, item, baseline), None if item.scope == "gap" else target))
        parts.append('<div class="charts">' + "\n".join(charts) + "</div>")
        parts.append(_table(entry, item))
        parts.append("</section>")
    return _page(goal.name_en, "\n".join(parts), _is_illustrative(rows))


def _baseline_point(frame: pd.DataFrame, item: GoalIndicator, value: Any) -> tuple[float, float] | None:
    at = frame[frame["period"] == item.baseline_period]
    if at.empty or value is None or pd.isna(value):
        return None
    return float(at["time"].iloc[0]), float(value)


def _chart(chart_id: str, title: str, points: list, baseline: tuple[float, float] | None,
           target: tuple[float, float] | None) -> str:
    """One turn-the-curve chart as inline SVG (values, baseline, target and the path between them)."""
    values = [(float(t), float(v), p) for t, v, p, _ in points if v is not None and not pd.isna(v)]
    missing = [(float(t), p, s) for t, v, p, s in points if v is None or pd.isna(v)]
    times = [t for t, _, _ in values] + [t for t, _, _ in missing] + ([target[0]] if target else [])
    levels = [v for _, v, _ in values] + ([target[1]] if target else []) + ([baseline[1]] if baseline else [])
    description = _describe(values, missing, baseline, target)
    if not times or not levels:
        body = f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">No figures</text>'
        return _figure(chart_id, title, description, body)
    t_low, t_high = min(times), max(times)
    if t_high - t_low < 1:
        t_low, t_high = t_low - 0.5, t_high + 0.5
    v_low, v_high = min(levels), max(levels)
    padding = max((v_high - v_low) * 0.1, 1.0)
    v_low, v_high = max(0.0, v_low - padding), v_high + padding

    def x(t: float) -> float:
        return LEFT + (t - t_low) / (t_high - t_low) * (WIDTH - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (v_high - v) / (v_high - v_low) * (HEIGHT - TOP - BOTTOM)

    body = [
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>',
        f'<text x="{LEFT - 3}" y="{y(v_high) + 4:.1f}" text-anchor="end">{v_high:.0f}</text>',
        f'<text x="{LEFT - 3}" y="{y(v_low) + 4:.1f}" text-anchor="end">{v_low:.0f}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 6}" text-anchor="start">{t_low:.0f}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">{t_high:.0f}</text>',
    ]
    if baseline:
        body.append(f'<line class="baseline" x1="{LEFT}" y1="{y(baseline[1]):.1f}" x2="{WIDTH - RIGHT}" '
                    f'y2="{y(baseline[1]):.1f}"><title>Baseline {baseline[1]:.1f}</title></line>')
    if baseline and target:
        body.append(f'<line class="trajectory" x1="{x(baseline[0]):.1f}" y1="{y(baseline[1]):.1f}" '
                    f'x2="{x(target[0]):.1f}" y2="{y(target[1]):.1f}"/>')
    if target:
        body.append(f'<rect class="target" x="{x(target[0]) - 4:.1f}" y="{y(target[1]) - 4:.1f}" width="8" '
                    f'height="8"><title>Target {target[1]:.1f} by {target[0]:.0f}</title></rect>')
    # The line breaks at a missing period, so a suppressed figure is never bridged over.
    segments, current = [], []
    for t, v, p, _ in points:
        if v is None or pd.isna(v):
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{x(float(t)):.1f},{y(float(v)):.1f}")
    if current:
        segments.append(current)
    body.extend(f'<polyline class="series" points="{" ".join(segment)}"/>' for segment in segments)
    body.extend(
        f'<circle class="point" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" data-period="{_e(p)}" data-value="{v:.2f}">'
        f"<title>{_e(p)}: {v:.1f}</title></circle>"
        for t, v, p in values
    )
    body.extend(
        f'<text class="suppressed" x="{x(t):.1f}" y="{HEIGHT - BOTTOM - 3}" text-anchor="middle">\u00d7'
        f"<title>{_e(p)}: {_e(s or 'no figure')}</title></text>"
        for t, p, s in missing
    )
    return _figure(chart_id, title, description, "\n".join(body))


def _describe(values, missing, baseline, target) -> str:
    parts = []
    if values:
        parts.append("Values: " + ", ".join(f"{p} {v:.1f}" for _, v, p in values) + ".")
    if missing:
        parts.append("No figure (suppressed or missing): " + ", ".join(f"{p} ({s or 'none'})"
                                                                        for _, p, s in missing) + ".")
    if baseline:
        parts.append(f"Baseline {baseline[1]:.1f}.")
    if target:
        parts.append(f"Target {target[1]:.1f} by {target[0]:.0f}.")
    return " ".join(parts) or "No figures."


def _figure(chart_id: str, title: str, description: str, body: str) -> str:
    safe_id = "".join(c if c.isalnum() or c == "-" else "-" for c in chart_id)
    return (
        f'<figure><svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="t-{safe_id} d-{safe_id}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="t-{safe_id}">{_e(title)}</title><desc id="d-{safe_id}">{_e(description)}</desc>'
        f"{body}</svg><figcaption>{_e(title)}</figcaption></figure>"
    )


def _table(entry: pd.DataFrame, item: GoalIndicator) -> str:
    order = {code: position for position, code in enumerate((OSLO, *OSLO_DISTRICTS, NORWAY))}
    rows = entry.assign(_order=entry["region_code"].map(order).fillna(99), _gap=entry["measure"] == "gap")
    rows = rows.sort_values(["_gap", "_order"], ascending=[False, True])
    head = ("<table><caption>Regions: latest value, status and comparisons</caption><thead><tr>"
            "<th scope=col>Region</th><th scope=col>Latest period</th><th scope=col>Latest value</th>"
            "<th scope=col>95 % interval</th><th scope=col>Baseline</th><th scope=col>Progress %</th>"
            "<th scope=col>Status</th><th scope=col>Trend</th><th scope=col>vs Oslo</th>"
            "<th scope=col>vs Norway</th><th scope=col>Provenance</th></tr></thead><tbody>")
    lines = [head]
    for _, row in rows.iterrows():
        name = ("Gap between best and worst district" if row["measure"] == "gap"
                else f"{row['region_name']} ({row['region_code']})")
        latest = _number(row["latest_value"]) or f"{_e(row['latest_status']) or 'no figure'}"
        interval = (f"{_number(row['latest_ci_low'])}\u2013{_number(row['latest_ci_high'])}"
                    if not pd.isna(row["latest_ci_low"]) else "")
        trend = _e(row["trend_direction"]) or "not tested"
        if row["trend_direction"] is not None and not pd.isna(row["trend_direction"]):
            trend += " (significant)" if row["trend_significant"] else " (not significant)"
        lines.append(
            f"<tr><th scope=row>{_e(name)}</th><td>{_e(row['latest_period'])}</td><td class=num>{latest}</td>"
            f"<td class=num>{interval}</td><td class=num>{_number(row['baseline_value'])}</td>"
            f"<td class=num>{_number(row['progress_pct'], 0)}</td>"
            f'<td class="status-{_e(row["status"])}" title="{_e(row["status_reason"])}">'
            f"{_e(STATUS_LABELS.get(row['status'], row['status']))}</td><td>{trend}</td>"
            f"{_comparison_cell(row, 'oslo')}{_comparison_cell(row, 'norway')}<td>{_e(row['provenance'])}</td></tr>"
        )
    lines.append("</tbody></table>")
    return "".join(lines)


def _comparison_cell(row: pd.Series, name: str) -> str:
    outcome = row[f"comparison_{name}"]
    p_value = row[f"comparison_{name}_p_value"]
    detail = f" (p = {p_value:.3g})" if not pd.isna(p_value) else ""
    return f'<td class="cmp-{_e(outcome)}">{_e(COMPARISON_LABELS.get(outcome, outcome))}{detail}</td>'
