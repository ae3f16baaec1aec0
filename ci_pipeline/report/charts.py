"""Turn-the-curve charts as inline SVG: small multiples that share one y-axis per indicator.

A chart is one or more panels (one per region) drawn on the same scale, so districts can be compared
at a glance. Each panel shows the region's series (blue line and dots, broken where a figure is
missing), its 95 % intervals where the mart has them (a light band, or a bar for a lone point), Oslo's
series for comparison (grey), the target line only where `adapter.target_line` says it means something
(green dashes from the baseline to a diamond at the target year), and a red × at every period whose
figure is suppressed or missing. A panel built on illustrative figures says so on the chart itself
("EKSEMPELTALL"). Regions without a single figure get no panel (the page lists them instead), so no
chart is ever empty. Every SVG has role="img", a title and a description listing its values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape

from ci_pipeline.report import formatting
from ci_pipeline.report.adapter import MISSING_REASONS, TargetLine
from ci_pipeline.report.series import Point
from ci_pipeline.report.texts import Texts

SMALL = (236, 150)
LARGE = (560, 230)
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 20, 22
_NOT_IN_ID = re.compile(r"[^\w-]")  # \w: what str.isalnum() calls alphanumeric, and "_"


@dataclass
class Panel:
    key: str
    title: str
    points: list[Point]
    reference: list[Point] = field(default_factory=list)
    target: TargetLine | None = None

    @property
    def illustrative(self) -> bool:
        return any(p.illustrative for p in self.points if p.value is not None)

    @property
    def has_figures(self) -> bool:
        return any(p.value is not None for p in self.points)


@dataclass(frozen=True)
class Scale:
    t_low: float
    t_high: float
    v_low: float
    v_high: float
    ticks: tuple[float, ...]
    digits: int


def _nice_step(span: float) -> float:
    raw = span / 4 if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def shared_scale(panels: list[Panel]) -> Scale:
    """One scale for all panels: every value, interval, reference and drawn target fits."""
    times, levels = [], []
    for panel in panels:
        for point in (*panel.points, *panel.reference):
            times.append(point.time)
            levels += [v for v in (point.value, point.ci_low, point.ci_high) if v is not None]
        if panel.target:
            times.append(panel.target.end_time)
            levels += [v for v in (panel.target.end_value, panel.target.start_value) if v is not None]
    if not times or not levels:
        raise ValueError("a chart needs at least one figure")
    t_low, t_high = min(times), max(times)
    if t_high - t_low < 1:
        t_low, t_high = t_low - 0.5, t_high + 0.5
    low, high = min(levels), max(levels)
    # Start shares and counts at zero when the values are far from it; otherwise zoom to them.
    if low >= 0 and low <= 0.4 * high:
        low = 0.0
    step = _nice_step(high - low or abs(high) or 1.0)
    v_low, v_high = math.floor(low / step) * step, math.ceil(high / step) * step
    if v_high == v_low:
        v_high = v_low + step
    ticks = tuple(v_low + i * step for i in range(round((v_high - v_low) / step) + 1))
    digits = 0 if step >= 1 else 1 if step >= 0.1 else 2
    return Scale(t_low, t_high, v_low, v_high, ticks, digits)


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _missing_text(texts: Texts, status: str | None) -> str:
    return texts(MISSING_REASONS.get(str(status), "missing.none"))


def describe(panel: Panel, unit: str | None, texts: Texts) -> str:
    """The panel's text alternative: its values, what is missing, the target and the comparison."""
    lang = texts.lang
    shown = [p for p in panel.points if p.value is not None]
    parts = []
    if shown:
        values = ", ".join(f"{formatting.period(p.period, lang)} {formatting.value(p.value, unit, lang)}"
                           for p in shown)
        parts.append(texts("chart.values", region=panel.title, values=values))
    missing = [p for p in panel.points if p.value is None]
    if missing:
        parts.append(texts("chart.missing", periods=", ".join(
            f"{formatting.period(p.period, lang)} ({_missing_text(texts, p.status)})" for p in missing)))
    if panel.target:
        parts.append(texts("chart.target", value=formatting.value(panel.target.end_value, unit, lang),
                           year=round(panel.target.end_time)))
    if panel.reference:
        parts.append(texts("chart.with_oslo"))
    if panel.illustrative:
        parts.append(texts("chart.illustrative"))
    return " ".join(parts)


@dataclass(frozen=True)
class Drawing:
    """A panel's marks as SVG markup without a word in them, the same in both languages (so drawn once
    per chart): the value ticks' grid lines and the y of their labels; the time axis, the intervals and
    Oslo's curve; the target's trajectory and its diamond up to the diamond's title; the series' lines;
    per point, its mark up to the mark's title."""

    ticks: tuple[tuple[str, str], ...]
    frame: str
    target: str
    series: str
    points: tuple[str, ...]


def drawing(panel: Panel, scale: Scale, size: tuple[int, int] = SMALL) -> Drawing:
    width, height = size

    def x(t: float) -> float:
        return LEFT + (t - scale.t_low) / (scale.t_high - scale.t_low) * (width - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (scale.v_high - v) / (scale.v_high - scale.v_low) * (height - TOP - BOTTOM)

    ticks = tuple((f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>',
                   f"{y(tick) + 3.5:.1f}") for tick in scale.ticks)
    frame = [f'<line class="axis" x1="{LEFT}" x2="{width - RIGHT}" y1="{height - BOTTOM}" y2="{height - BOTTOM}"/>']
    for anchor, t in (("start", scale.t_low), ("end", scale.t_high)):
        frame.append(f'<text class="tick" x="{x(t):.1f}" y="{height - 7}" text-anchor="{anchor}">{round(t)}</text>')
    frame += _band(panel.points, x, y)
    if panel.reference:
        frame += [f'<polyline class="reference" points="{seg}"/>' for seg in _segments(panel.reference, x, y)]
    marks = []
    for point in panel.points:
        if point.value is None:
            marks.append(f'<text class="suppressed" x="{x(point.time):.1f}" y="{height - BOTTOM - 4}" '
                         f'text-anchor="middle">\u00d7')
        else:
            hollow = " estimate" if point.estimate else ""
            marks.append(f'<circle class="point{hollow}" cx="{x(point.time):.1f}" cy="{y(point.value):.1f}" r="2.8" '
                         f'data-period="{_attr(point.period)}" data-value="{point.value:.4g}">')
    return Drawing(
        ticks=ticks, frame="".join(frame), target=_target(panel.target, x, y) if panel.target else "",
        series="".join(f'<polyline class="series" points="{seg}"/>' for seg in _segments(panel.points, x, y)),
        points=tuple(marks),
    )


def panel_svg(panel: Panel, scale: Scale, unit: str | None, texts: Texts, indicator: str,
              size: tuple[int, int] = SMALL, drawn: Drawing | None = None) -> str:
    """One panel as an <svg> element (a string of trusted markup; every text in it is escaped).
    drawn: the panel's `drawing` where the chart was already drawn in the other language."""
    width, height = size
    lang = texts.lang
    drawn = drawn or drawing(panel, scale, size)
    body = []
    for tick, (grid, label_y) in zip(scale.ticks, drawn.ticks):
        body.append(grid)
        label = formatting.axis_value(tick, unit, lang, scale.digits)
        body.append(f'<text class="tick" x="{LEFT - 4}" y="{label_y}" text-anchor="end">{escape(label)}</text>')
    body.append(drawn.frame)
    if panel.target:
        label = escape(texts("chart.target", value=formatting.value(panel.target.end_value, unit, lang),
                             year=round(panel.target.end_time)))
        body.append(f"{drawn.target}<title>{label}</title></path>")
    body.append(drawn.series)
    for point, mark in zip(panel.points, drawn.points):
        label = escape(formatting.period(point.period, lang))
        if point.value is None:
            body.append(f"{mark}<title>{label}: {escape(_missing_text(texts, point.status))}</title></text>")
        else:
            body.append(f"{mark}<title>{label}: {escape(formatting.value(point.value, unit, lang))}</title></circle>")
    if panel.illustrative:
        mark = escape(texts("chart.mark"))
        body.append(f'<rect class="mark-bg" x="{width - RIGHT - 92}" y="2" width="92" height="14" rx="2"/>'
                    f'<text class="mark" x="{width - RIGHT - 46}" y="12.5" text-anchor="middle">{mark}</text>')
    chart_id = "c-" + _NOT_IN_ID.sub("-", panel.key)
    title = escape(texts("chart.title", indicator=indicator, region=panel.title))
    return (
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{title}</title><desc id="{chart_id}-d">{escape(describe(panel, unit, texts))}</desc>'
        + "".join(body) + "</svg>"
    )


def _segments(points: list[Point], x, y) -> list[str]:
    """Polyline point lists, broken at every missing figure so a gap is never bridged."""
    segments, current = [], []
    for point in points:
        if point.value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{x(point.time):.1f},{y(point.value):.1f}")
    if current:
        segments.append(current)
    return [" ".join(segment) for segment in segments if len(segment) > 1]


def _band(points: list[Point], x, y) -> list[str]:
    """95 % intervals: a band over consecutive points that have them, a bar for a lone one."""
    shapes, run = [], []
    for point in [*points, None]:
        if point is not None and point.value is not None and point.ci_low is not None and point.ci_high is not None:
            run.append(point)
            continue
        if len(run) == 1:
            p = run[0]
            shapes.append(f'<line class="interval" x1="{x(p.time):.1f}" x2="{x(p.time):.1f}" '
                          f'y1="{y(p.ci_low):.1f}" y2="{y(p.ci_high):.1f}"/>')
        elif run:
            upper = [f"{x(p.time):.1f},{y(p.ci_high):.1f}" for p in run]
            lower = [f"{x(p.time):.1f},{y(p.ci_low):.1f}" for p in reversed(run)]
            shapes.append(f'<polygon class="band" points="{" ".join(upper + lower)}"/>')
        run = []
    return shapes


def _target(target: TargetLine, x, y) -> str:
    """The trajectory (from a known baseline) and the diamond at the target, open for the diamond's title."""
    shapes = ""
    if target.start_time is not None and target.start_value is not None:
        shapes = (f'<line class="trajectory" x1="{x(target.start_time):.1f}" y1="{y(target.start_value):.1f}" '
                  f'x2="{x(target.end_time):.1f}" y2="{y(target.end_value):.1f}"/>')
    cx, cy = x(target.end_time), y(target.end_value)
    return (shapes + f'<path class="target" d="M{cx:.1f},{cy - 5:.1f} L{cx + 5:.1f},{cy:.1f} L{cx:.1f},{cy + 5:.1f} '
                     f'L{cx - 5:.1f},{cy:.1f} Z">')
