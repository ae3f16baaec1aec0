"""One page per goal: per indicator, its target in words, small multiples of Oslo and the 15 bydeler on one
y-axis, the partners' stories beside the curves, and a table of every area (downloadable as CSV).

A gap indicator (the goal of smaller differences) shows the gap between the best and the weakest
district over time, with the districts' own curves folded away below it.
"""

from __future__ import annotations

from typing import Any

from ci_pipeline.report import formatting
from ci_pipeline.report.adapter import DISTRICTS, NORWAY, OSLO, Entry, beaten_at_baseline
from ci_pipeline.report.content import (
    ReportData,
    chart_view,
    figure_columns,
    figure_row,
    gap_chart_view,
    gap_unit,
    region_order,
)
from ci_pipeline.report.downloads import Download
from ci_pipeline.report.layout import Site, Words, render


def target_sentence(entry: Entry, words: Words) -> str:
    """The goal's target in words, or that each area has its own."""
    item = entry.item
    if item.target_form is None and not entry.own_targets:
        return words.t("target.none")
    if entry.own_targets:
        return words.t("target.own", year=item.target_year)
    unit = gap_unit(entry) if entry.scope == "gap" else entry.unit
    lower = entry.scope == "gap" or entry.polarity == "higher_is_worse"
    return words.t("target.lower" if lower else "target.higher",
                   value=formatting.value(item.target_value, unit, words.lang), year=item.target_year,
                   baseline=words.period(item.baseline_period))


def _table_rows(data: ReportData, entry: Entry, words: Words) -> list[dict[str, Any]]:
    rows = []
    if entry.gap is not None:
        rows.append({"name": words.t("goal.gap_chart"), "figure": entry.gap, "unit": gap_unit(entry), "href": None})
    for code in region_order(entry.figures):
        figure = entry.figures[code]
        href = f"district-{code}.html" if code in (OSLO, *DISTRICTS) else None
        rows.append({"name": words.region(code, data.region_name(code)), "figure": figure, "unit": entry.unit,
                     "href": href})
    return rows


def entry_view(data: ReportData, entry: Entry, site: Site) -> dict[str, Any]:
    words = Words(site.lang)
    regions = [OSLO, *DISTRICTS]
    view = {
        "anchor": entry.key,
        "name": data.indicator_name(entry, site.lang),
        "illustrative": entry.illustrative,
        "estimate": entry.estimate,
        "scope": words.t(f"scope.{entry.scope}" if entry.scope in ("city", "each_district", "gap") else "scope.unknown"),
        "target": target_sentence(entry, words),
        "wrong_way": any(beaten_at_baseline(entry, f) for f in [*entry.figures.values(), entry.gap] if f),
        "gap_chart": None,
        "chart": chart_view(data, entry, regions, site.lang, key=entry.key),
        "stories": data.stories_for(entry=entry),
        "rows": _table_rows(data, entry, words),
        "gap_between": None,
    }
    if entry.scope == "gap":
        view["gap_chart"] = gap_chart_view(data, entry, site.lang, key=f"{entry.key}-gap")
        if entry.gap is not None and entry.gap.gap_best and entry.gap.gap_worst:
            view["gap_between"] = words.t("goal.gap_between", best=data.region_name(entry.gap.gap_best),
                                          worst=data.region_name(entry.gap.gap_worst))
    return view


def goal_page(data: ReportData, goal, site: Site) -> tuple[str, list[Download]]:
    words = Words(site.lang)
    goal_entries = [e for e in data.entries if e.goal is goal]
    views = [entry_view(data, e, site) for e in goal_entries]
    download = Download(f"goal-{goal.id}.csv", figure_columns(words), [
        figure_row(words, e, row["figure"], data.indicator_name(e, site.lang).text, row["name"], site.version,
                   row["unit"])
        for e, view in zip(goal_entries, views) for row in view["rows"]
        if row["figure"].region_code != NORWAY or row["figure"].latest_value is not None
    ])
    html = render("goal.html.j2", site, filename=f"goal-{goal.id}.html", title=data.goal_name(goal, site.lang).text,
                  illustrative=any(e.illustrative for e in goal_entries),
                  description=data.goal_description(goal, site.lang),
                  goal_stories=data.stories_for(goal_id=goal.id, goal_level=True), entries=views, download=download)
    return html, [download]
