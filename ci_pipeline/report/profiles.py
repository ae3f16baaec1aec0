"""One profile page per bydel, and one for Oslo as a whole: every goal's indicators for that area, the
trend, the comparison (with the rest of Oslo for a bydel, with Norway for Oslo), the target where it
means something, the area's place among the districts for the goal of smaller gaps, and the partners'
stories about the area. The page prints to A4 (pdf.py makes a PDF of it in the build).
"""

from __future__ import annotations

from typing import Any

from ci_pipeline.report import charts
from ci_pipeline.report.adapter import DISTRICTS, OSLO, Entry, Figure
from ci_pipeline.report.content import ReportData, chart_view, figure_columns, figure_row, gap_unit
from ci_pipeline.report.downloads import Download
from ci_pipeline.report.layout import Site, Words, render

PROFILE_REGIONS = (*DISTRICTS, OSLO)


def profile_filename(code: str) -> str:
    return f"district-{code}.html"


def pdf_filename(code: str) -> str:
    return f"pdf/district-{code}.pdf"


def _rank(entry: Entry, code: str) -> tuple[int, int] | None:
    """The district's place among the districts with a latest figure (1 = best by the polarity)."""
    values = {d: entry.figures[d].latest_value for d in DISTRICTS
              if d in entry.figures and entry.figures[d].latest_value is not None}
    if code not in values:
        return None
    ordered = sorted(values, key=values.get, reverse=entry.polarity != "higher_is_worse")
    return ordered.index(code) + 1, len(ordered)


def _indicator_view(data: ReportData, entry: Entry, figure: Figure, code: str, site: Site) -> dict[str, Any]:
    return {
        "anchor": f"{entry.key}",
        "name": data.indicator_name(entry, site.lang),
        "figure": figure,
        "unit": entry.unit,
        "city_target": entry.scope == "city" and code != OSLO,
        "chart": chart_view(data, entry, [code], site.lang, key=f"{entry.key}-{code}", size=charts.LARGE),
        "stories": data.stories_for(entry=entry, region=code),
        "goal_href": f"goal-{entry.goal.id}.html#{entry.key}",
        "target_applies": figure.target_applies,
        "comparison": ("oslo", figure.vs_oslo) if code != OSLO else ("norway", figure.vs_norway),
    }


def _goal_view(data: ReportData, goal, code: str, site: Site) -> dict[str, Any]:
    words = Words(site.lang)
    indicators, gaps, absent = [], [], []
    for entry in (e for e in data.entries if e.goal is goal):
        name = data.indicator_name(entry, site.lang)
        if entry.scope == "gap":
            if code == OSLO and entry.gap is not None:
                gaps.append({"name": name, "value": words.latest(entry.gap, gap_unit(entry)),
                             "rank": None, "figure": entry.gap})
            elif code != OSLO:
                rank = _rank(entry, code)
                figure = entry.figures.get(code)
                gaps.append({"name": name, "value": words.latest(figure, entry.unit) if figure else "\u2013",
                             "rank": words.t("district.rank", rank=rank[0], count=rank[1]) if rank else "\u2013",
                             "figure": entry.gap})
            continue
        figure = entry.figures.get(code)
        if figure is None or not any(p.value is not None for p in data.series.points(entry).get(code, [])):
            absent.append(name.text)
            continue
        indicators.append(_indicator_view(data, entry, figure, code, site))
    return {"id": goal.id, "name": data.goal_name(goal, site.lang), "indicators": indicators, "gaps": gaps,
            "absent": absent, "stories": data.stories_for(goal_id=goal.id, region=code, goal_level=True)}


def profile_page(data: ReportData, code: str, site: Site) -> tuple[str, list[Download]]:
    words = Words(site.lang)
    name = data.region_name(code)
    title = words.t("district.title_oslo") if code == OSLO else words.t("district.title", name=name)
    goals = [_goal_view(data, goal, code, site) for goal in data.goals()]
    rows = [(entry, entry.figures[code]) for entry in data.entries
            if entry.scope != "gap" and code in entry.figures and entry.figures[code].latest_period is not None]
    download = Download(f"district-{code}.csv", figure_columns(words), [
        figure_row(words, entry, figure, data.indicator_name(entry, site.lang).text, name, site.version)
        for entry, figure in rows])
    summary = [{"goal": data.goal_name(entry.goal, site.lang), "name": data.indicator_name(entry, site.lang),
                "figure": figure, "unit": entry.unit, "href": f"#{entry.key}",
                "comparison": ("oslo", figure.vs_oslo) if code != OSLO else ("norway", figure.vs_norway)}
               for entry, figure in rows]
    illustrative = any(figure.illustrative for _, figure in rows)
    html = render("district.html.j2", site, filename=profile_filename(code), title=title, illustrative=illustrative,
                  code=code, name=name, is_oslo=code == OSLO, goals=goals, summary=summary, download=download,
                  pdf=data.pdf, pdf_href=pdf_filename(code), district_count=len(DISTRICTS))
    return html, [download]
