"""What the pages are made of: the report's inputs gathered once, and the pieces several pages show.

`ReportData` holds the entries (adapter), the series behind them, the words of assets/report.yaml and
the published stories. The builders here make the views the templates render: a chart (panels on one
scale with their source, data date and definition), the stories that belong beside a curve, the table
row of a region, and the CSV rows that go with each table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from markupsafe import Markup

from ci_pipeline.report import charts, formatting
from ci_pipeline.report.adapter import DISTRICTS, OSLO, Entry, Figure, present, target_line
from ci_pipeline.report.downloads import cell
from ci_pipeline.report.labels import Phrase, ReportLabels
from ci_pipeline.report.layout import Words
from ci_pipeline.report.series import SeriesSource
from ci_pipeline.report.stories import render_markdown


@dataclass
class PdfState:
    """Whether the district profiles have a PDF edition, and if not, why (a texts key)."""

    made: bool
    reason: str | None = None


@dataclass
class ReportData:
    entries: list[Entry]
    series: SeriesSource
    labels: ReportLabels
    stories: pd.DataFrame
    region_names: dict[str, str]
    pdf: PdfState = field(default_factory=lambda: PdfState(False, "pdf.no_chromium"))
    costs: pd.DataFrame | None = None  # the exclusion_costs mart (None: the report has no cost page)

    def region_name(self, code: str) -> str:
        return self.region_names.get(code, code)

    def indicator_name(self, entry: Entry, lang: str) -> Phrase:
        return self.labels.indicator_name(entry.indicator_id, lang, entry.name_nb, entry.name_en)

    def goal_name(self, goal, lang: str) -> Phrase:
        return Phrase(goal.name_nb if lang == "nb" else goal.name_en, lang)

    def goal_description(self, goal, lang: str) -> Phrase | None:
        return self.labels.goal_description(goal.id, lang, goal.description)

    def source_line(self, entry: Entry, lang: str) -> str:
        return self.labels.source_line(entry.source, entry.table_id, lang)

    def goals(self) -> list:
        return list(dict.fromkeys(entry.goal for entry in self.entries))

    def __post_init__(self) -> None:
        records = [] if self.stories.empty else self.stories.to_dict("records")
        for record in records:
            for key in ("goal_id", "indicator_id"):
                record[key] = record[key] if present(record[key]) else None
            record["html"] = Markup(render_markdown(record["body_markdown"]))
        self._stories = sorted(records, key=lambda r: r["story_id"])
        self._stories.sort(key=lambda r: r["written_on"], reverse=True)
        self._drawings: dict[tuple, tuple[charts.Scale, list[charts.Drawing]]] = {}

    def drawn(self, key: str, panels: list[charts.Panel],
              size: tuple[int, int]) -> tuple[charts.Scale, list[charts.Drawing]]:
        """A chart's scale and its panels' drawings: made for the first edition that shows the chart, and
        reused by the other, whose chart differs only in its words."""
        found = (key, size, tuple(panel.key for panel in panels))
        if found not in self._drawings:
            scale = charts.shared_scale(panels)
            self._drawings[found] = scale, [charts.drawing(panel, scale, size) for panel in panels]
        return self._drawings[found]

    def stories_for(self, *, goal_id: str | None = None, entry: Entry | None = None,
                    region: str | None = None, goal_level: bool = False) -> list[dict[str, Any]]:
        """Stories about an entry's curve (its indicator, in its goal or in none), or with goal_level
        those about a goal as a whole; optionally only those about one region. Newest first."""
        found = []
        for story in self._stories:
            if entry is not None and not (story["indicator_id"] == entry.indicator_id
                                          and story["goal_id"] in (None, entry.goal.id)):
                continue
            if entry is None and goal_id is not None and (story["goal_id"] != goal_id
                                                          or (goal_level and story["indicator_id"] is not None)):
                continue
            if region is not None and story["region_code"] != region:
                continue
            found.append(story)
        return found


@dataclass
class PanelView:
    title: str
    svg: Markup


@dataclass
class ChartView:
    key: str
    title: Phrase
    panels: list[PanelView]
    source: str
    updated: str | None
    latest_period: str | None
    definition: Phrase | None
    illustrative: bool
    estimate: bool
    without: list[str]


def _baseline_time(points, period: str | None) -> float | None:
    return next((p.time for p in points if p.period == period), None)


def chart_view(data: ReportData, entry: Entry, regions: list[str], lang: str, *, key: str,
               size: tuple[int, int] = charts.SMALL) -> ChartView | None:
    """The small multiples of `entry` for `regions` on one scale; None when no region has a figure."""
    words = Words(lang)
    points = data.series.points(entry)
    panels, without = [], []
    for code in regions:
        figure = entry.figures.get(code)
        series = points.get(code, [])
        panel = charts.Panel(
            key=f"{key}-{code}", title=words.region(code, data.region_name(code)), points=series,
            reference=points.get(OSLO, []) if code != OSLO else [],
            target=target_line(entry, figure, _baseline_time(series, figure.baseline_period)) if figure else None,
        )
        (panels if panel.has_figures else without).append(panel)
    if not panels:
        return None
    return _chart(data, entry, lang, key, panels, [p.title for p in without], size)


def gap_chart_view(data: ReportData, entry: Entry, lang: str, *, key: str) -> ChartView | None:
    """The gap between the best and the worst district over time, with the gap target where it means something."""
    gap = data.series.gap_points(entry)
    if entry.gap is None or not any(p.value is not None for p in gap):
        return None
    panel = charts.Panel(key=f"{key}-gap", title=Words(lang).t("goal.gap_chart"), points=gap,
                         target=target_line(entry, entry.gap, _baseline_time(gap, entry.gap.baseline_period)))
    return _chart(data, entry, lang, key, [panel], [], charts.LARGE, unit=gap_unit(entry))


def gap_unit(entry: Entry) -> str | None:
    return "percentage_points" if entry.unit == "percent" else entry.unit


def _chart(data: ReportData, entry: Entry, lang: str, key: str, panels: list[charts.Panel], without: list[str],
           size: tuple[int, int], unit: str | None = None) -> ChartView:
    texts = Words(lang).t
    unit = unit or entry.unit
    scale, drawings = data.drawn(key, panels, size)
    name = data.indicator_name(entry, lang)
    shown = [p for panel in panels for p in panel.points if p.value is not None]
    latest = max(shown, key=lambda p: p.time).period if shown else None
    return ChartView(
        key=key, title=name,
        panels=[PanelView(panel.title, Markup(charts.panel_svg(panel, scale, unit, texts, name.text, size, drawn)))
                for panel, drawn in zip(panels, drawings)],
        source=data.source_line(entry, lang),
        updated=data.series.data_date(entry),
        latest_period=latest,
        definition=data.labels.definition(entry.indicator_id, lang, data.series.definition(entry.indicator_id)),
        illustrative=any(panel.illustrative for panel in panels),
        estimate=any(p.estimate for p in shown),
        without=without,
    )


def region_order(codes) -> list[str]:
    """Oslo, the bydeler in number order, then anything else (Norway)."""
    order = {code: i for i, code in enumerate((OSLO, *DISTRICTS))}
    return sorted(codes, key=lambda c: (order.get(c, 99), c))


def number_cell(amount: Any, unit: str | None) -> str:
    return cell(amount if amount is None else float(amount), formatting.digits_for(unit))


def figure_columns(words: Words) -> list[str]:
    t = words.t
    return [t("col.area"), t("col.code"), t("col.indicator"), t("col.period"), t("col.latest"), t("col.unit"),
            t("col.interval"), t("col.baseline"), t("col.target"), t("col.status"), t("col.trend"),
            t("col.vs_oslo"), t("col.vs_norway"), t("col.provenance"), t("col.version")]


def figure_row(words: Words, entry: Entry, figure: Figure, indicator: str, region: str, version: str,
               unit: str | None = None) -> list[Any]:
    """One region's figures for a CSV download, in the order of figure_columns."""
    unit = unit or entry.unit
    return [
        region, figure.region_code if figure.level != "gap" else "", indicator,
        formatting.period(figure.latest_period, words.lang) if figure.latest_period else "",
        number_cell(figure.latest_value, unit) if figure.latest_value is not None else words.latest(figure, unit),
        unit_label(words, unit),
        "" if figure.ci_low is None else f"{number_cell(figure.ci_low, unit)}\u2013{number_cell(figure.ci_high, unit)}",
        number_cell(figure.baseline_value, unit),
        number_cell(figure.target_value, unit) if figure.target_applies else "",
        words.status(figure), words.trend(figure.trend),
        words.verdict(figure.vs_oslo, "oslo") if figure.vs_oslo else "",
        words.verdict(figure.vs_norway, "norway") if figure.vs_norway else "",
        words.provenance(figure.provenance), version,
    ]


def unit_label(words: Words, unit: str | None) -> str:
    """The unit as a column value: "%", "per 1 000", "kr", "personer"; empty when unknown."""
    key = f"unit.{unit}"
    return words.t(key) if unit and words.t.has(key) else ""
