"""The overview page (with the barometer) and the page about the figures.

The barometer has the 15 bydeler as rows and, as columns, each goal's headline indicators that are read
per district (adapter.barometer_columns), grouped under their goal. Each cell shows the latest figure,
a symbol for the status against the target and a symbol for the comparison with the rest of Oslo; the
cell's colour repeats the comparison (green better, red worse, yellow no clear difference, white not
assessed) and a hidden text says it all in words. Oslo is a separate reference row below the districts.
Goals read for Oslo as a whole and goals about the gaps between districts get their own tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ci_pipeline.report import adapter, formatting
from ci_pipeline.report.adapter import DISTRICTS, OSLO, Entry, Figure
from ci_pipeline.report.content import ReportData, figure_columns, figure_row, gap_unit
from ci_pipeline.report.downloads import Download
from ci_pipeline.report.layout import STATUS_ORDER, VERDICT_SYMBOLS, Site, Words, render


@dataclass
class BarometerCell:
    value: str
    sort: str
    status: str
    cmp: str
    cmp_symbol: str | None
    title: str


def _cell(words: Words, entry: Entry, figure: Figure | None, reference: bool) -> BarometerCell:
    if figure is None:
        return BarometerCell(formatting.MISSING, "", "unknown", "not_tested", None, words.t("missing.none"))
    parts = [words.latest(figure, entry.unit), words.status(figure)]
    verdict = None if reference else figure.vs_oslo
    if verdict is not None:
        parts.append(words.verdict(verdict, "oslo"))
    if figure.illustrative:
        parts.append(words.t("badge.illustrative"))
    return BarometerCell(
        value=words.latest(figure, entry.unit) if figure.latest_value is not None else formatting.MISSING,
        sort="" if figure.latest_value is None else f"{figure.latest_value:.6g}",
        status=figure.status,
        cmp=verdict.key if verdict else "not_tested",
        cmp_symbol=None if verdict is None else VERDICT_SYMBOLS[verdict.key],
        title=". ".join(parts),
    )


def barometer(data: ReportData, words: Words) -> dict[str, Any]:
    columns = adapter.barometer_columns(data.entries)
    groups: list[dict[str, Any]] = []
    for entry in columns:
        if groups and groups[-1]["goal_id"] == entry.goal.id:
            groups[-1]["span"] += 1
        else:
            groups.append({"goal_id": entry.goal.id, "name": data.goal_name(entry.goal, words.lang), "span": 1})
    rows = [{"code": code, "name": data.region_name(code),
             "cells": [_cell(words, e, e.figures.get(code), False) for e in columns]} for code in DISTRICTS]
    return {
        "columns": [{"name": data.indicator_name(e, words.lang), "illustrative": e.illustrative} for e in columns],
        "groups": groups,
        "rows": rows,
        "oslo": {"code": OSLO, "cells": [_cell(words, e, e.figures.get(OSLO), True) for e in columns]},
        "entries": columns,
    }


def _headline_counts(data: ReportData, goal) -> dict[str, int]:
    figures = [f for e in data.entries if e.goal is goal for f in e.headline_figures]
    on, off = (sum(f.status == s for f in figures) for s in ("on_track", "off_track"))
    return {"on_track": on, "off_track": off, "other": len(figures) - on - off}


def _region_downloads(data: ReportData, words: Words, site: Site, filename: str,
                      pairs: list[tuple[Entry, Figure]], unit_of=lambda e: e.unit) -> Download:
    return Download(filename, figure_columns(words), [
        figure_row(words, entry, figure, data.indicator_name(entry, words.lang).text,
                   words.region(figure.region_code, data.region_name(figure.region_code))
                   if figure.level != "gap" else words.t("goal.gap_chart"), site.version, unit_of(entry))
        for entry, figure in pairs
    ])


def index_page(data: ReportData, site: Site) -> tuple[str, list[Download]]:
    words = Words(site.lang)
    board = barometer(data, words)
    city = [{"goal_id": e.goal.id, "anchor": e.key, "name": data.indicator_name(e, site.lang),
             "goal": data.goal_name(e.goal, site.lang), "figure": e.figures[OSLO], "unit": e.unit}
            for e in data.entries if e.headline_level == "municipality" and OSLO in e.figures]
    gaps = [{"goal_id": e.goal.id, "anchor": e.key, "name": data.indicator_name(e, site.lang), "figure": e.gap,
             "unit": gap_unit(e), "best": data.region_name(e.gap.gap_best) if e.gap.gap_best else formatting.MISSING,
             "worst": data.region_name(e.gap.gap_worst) if e.gap.gap_worst else formatting.MISSING}
            for e in data.entries if e.headline_level == "gap" and e.gap is not None]
    downloads = {
        "barometer": _region_downloads(data, words, site, "barometer.csv", [
            (e, e.figures[code]) for code in (*DISTRICTS, OSLO) for e in board["entries"] if code in e.figures]),
        "city": _region_downloads(data, words, site, "oslo.csv", [(e, e.figures[OSLO]) for e in data.entries
                                                                  if e.headline_level == "municipality"
                                                                  and OSLO in e.figures]),
        "gaps": _region_downloads(data, words, site, "gaps.csv", [(e, e.gap) for e in data.entries
                                                                  if e.headline_level == "gap" and e.gap],
                                  unit_of=gap_unit),
    }
    goals = [{"id": g.id, "name": data.goal_name(g, site.lang), "description": data.goal_description(g, site.lang),
              "counts": _headline_counts(data, g)} for g in data.goals()]
    districts = [{"code": code, "name": data.region_name(code)} for code in DISTRICTS]
    districts.append({"code": OSLO, "name": words.t("districts.oslo")})
    html = render("index.html.j2", site, filename="index.html", title=words.t("index.title"),
                  illustrative=any(e.illustrative for e in data.entries), barometer=board, city=city, gaps=gaps,
                  goals=goals, districts=districts, downloads=downloads,
                  legend_statuses=[s for s in STATUS_ORDER if s != "unknown"])
    return html, list(downloads.values())


def about_page(data: ReportData, site: Site) -> tuple[str, list[Download]]:
    """Where every goal indicator's figures come from and whether they are real, and how to read them."""
    words = Words(site.lang)
    rows = []
    seen = set()
    for entry in data.entries:
        if entry.indicator_id in seen:
            continue
        seen.add(entry.indicator_id)
        origin = data.series.origin(entry)
        provenances = origin.provenances if origin else ()
        rows.append({
            "name": data.indicator_name(entry, site.lang),
            "source": data.source_line(entry, site.lang),
            "provenance": [words.provenance(p) for p in provenances] or [words.provenance(None)],
            "illustrative": "illustrative" in provenances,
            "periods": (f"{words.period(origin.first)} {formatting.EN_DASH} {words.period(origin.last)}"
                        if origin else formatting.MISSING),
            "updated": words.day(origin.updated) if origin else formatting.MISSING,
        })
    download = Download("indicators.csv",
                        [words.t(c) for c in ("col.indicator", "col.source", "col.provenance", "col.periods",
                                              "col.updated", "col.version")],
                        [[r["name"].text, r["source"], "; ".join(r["provenance"]), r["periods"], r["updated"],
                          site.version] for r in rows])
    html = render("about.html.j2", site, filename="about.html", title=words.t("about.title"),
                  illustrative=any(r["illustrative"] for r in rows), rows=rows, download=download,
                  statuses=[s for s in STATUS_ORDER if s != "unknown"])
    return html, [download]

