"""The report's parts on their own: Norwegian formatting, the word list, assets/report.yaml, chart scales,
target lines and the CSV writer."""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

import pytest

from ci_pipeline.config import ConfigError
from ci_pipeline.goals.config import load_goals
from ci_pipeline.indicators import load_registry
from ci_pipeline.report import charts, formatting
from ci_pipeline.report.adapter import (
    KNOWN_STATUSES,
    Figure,
    TargetLine,
    Trend,
    beaten_at_baseline,
    target_line,
)
from ci_pipeline.report.downloads import Download, csv_bytes
from ci_pipeline.report.labels import load_labels
from ci_pipeline.report.layout import STATUS_SYMBOLS, VERDICT_SYMBOLS
from ci_pipeline.report.series import Point
from ci_pipeline.report.texts import TEXTS, Texts
from ci_pipeline.surveys.codebook import load_codebook

REPO = Path(__file__).resolve().parents[1]
NNBSP, NBSP = "\u202f", "\u00a0"


@pytest.mark.parametrize("value, digits, nb, en", [
    (1234567.891, 2, f"1{NNBSP}234{NNBSP}567,89", "1,234,567.89"),
    (40.85, 1, "40,9", "40.9"),
    (-12.34, 1, "\u221212,3", "\u221212.3"),
    (-0.04, 1, "0,0", "0.0"),
    (717710, 0, f"717{NNBSP}710", "717,710"),
    (None, 1, "\u2013", "\u2013"),
    (float("nan"), 1, "\u2013", "\u2013"),
])
def test_numbers(value, digits, nb, en):
    assert formatting.number(value, "nb", digits) == nb and formatting.number(value, "en", digits) == en


@pytest.mark.parametrize("unit, nb, en", [
    ("percent", f"40,8{NBSP}%", "40.8%"),
    ("per_1000", f"40,8 per{NBSP}1{NNBSP}000", f"40.8 per{NBSP}1,000"),
    ("nok", f"41{NBSP}kr", f"NOK{NBSP}41"),
    ("persons", f"41{NBSP}personer", f"41{NBSP}people"),
    ("percentage_points", f"40,8{NBSP}prosentpoeng", f"40.8{NBSP}percentage points"),
    ("something_new", "40,8", "40.8"),
])
def test_units(unit, nb, en):
    assert formatting.value(40.8, unit, "nb") == nb and formatting.value(40.8, unit, "en") == en


def test_dates_and_periods():
    assert formatting.day("2024-12-05T08:44:01.9027715+00:00", "nb") == "5. desember 2024"
    assert formatting.day("2024-12-05", "en") == "5 December 2024"
    assert formatting.day("not a date", "nb") == formatting.day(None, "nb") == "\u2013"
    assert formatting.period("2017-2019", "nb") == "2017\u20132019"
    assert formatting.period("2024-spring", "nb") == "våren 2024" and formatting.period("2024-autumn", "en") == "autumn 2024"
    assert formatting.period("2024K3", "nb") == "3. kvartal 2024" and formatting.period("2024K3", "en") == "Q3 2024"
    with pytest.raises(ValueError, match="unknown language"):
        formatting.number(1, "sv")


def test_every_text_exists_in_both_languages_with_the_same_placeholders():
    for key, (nb, en) in TEXTS.items():
        assert en.strip(), key
        assert nb.strip() or key == "story.in_norwegian", key
        fields = [{name for _, name, _, _ in Formatter().parse(text) if name} for text in (nb, en)]
        assert fields[0] == fields[1] or not nb, key
    texts = Texts("nb")
    for status in (*KNOWN_STATUSES, "unknown"):
        assert texts(f"status.{status}") and texts(f"status_help.{status}") and status in STATUS_SYMBOLS
    for verdict in VERDICT_SYMBOLS:
        assert texts(f"cmp.{verdict}", reference="Oslo") and texts(f"cmp_help.{verdict}")
    with pytest.raises(KeyError, match="the report has no text 'status.on_trak'"):
        texts("status.on_trak")


def test_shipped_labels_give_every_goal_indicator_norwegian_words():
    catalogue = REPO / "assets"
    goals = load_goals(catalogue / "goals.yaml")
    registry = load_registry(catalogue)
    codebook = load_codebook(catalogue / "surveys")
    labels = load_labels(catalogue / "report.yaml", root=REPO, goals={g.id for g in goals},
                         indicators=set(registry) | {i.id for i in codebook.indicators})
    for goal in goals:
        assert labels.goal_description(goal.id, "nb", goal.description).lang == "nb", goal.id
        for item in goal.indicators:
            entry = registry.get(item.indicator_id)
            name = labels.indicator_name(item.indicator_id, "nb", getattr(entry, "name_nb", None), None)
            definition = labels.definition(item.indicator_id, "nb", getattr(entry, "definition", None))
            assert name.lang == "nb" and definition.lang == "nb", item.indicator_id
            assert labels.definition(item.indicator_id, "en", getattr(entry, "definition", None)).lang == "en"
    assert labels.source_line("fhi", "360", "nb") == "FHI Statistikk, tabell 360"
    assert labels.source_line("oslo", "OK-SOS006", "nb") == "Oslo kommune, statistikkbanken OK-SOS006"
    assert labels.source_line("newsource", "42", "en") == "NEWSOURCE 42"


def test_labels_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text("sources:\n  ssb: {nb: 'SSB {tabell}', en: 'SSB {table}'}\n"
                    "indicators:\n  nope: {name_nb: Nei}\ngoals:\n  gone: {description_nb: Borte}\n  x: {colour: red}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_labels(path, root=tmp_path, indicators={"a"}, goals={"x"})
    text = str(error.value)
    assert "report.yaml: sources.ssb.nb: the only placeholder a source line may use is {table}" in text
    assert "report.yaml: goals.x.colour: unknown key" in text


def _point(time, value, low=None, high=None, period=None):
    return Point(time, period or str(int(time)), value, None if value is not None else ":", low, high, False, False)


def test_scale_is_shared_and_holds_intervals_references_and_targets():
    one = charts.Panel("a", "A", [_point(2018, 20.0, 15.0, 26.0), _point(2019, 22.0)])
    two = charts.Panel("b", "B", [_point(2018, 41.0)], reference=[_point(2018, 30.0)],
                       target=TargetLine(2030.0, 55.0, 2018.0, 41.0))
    scale = charts.shared_scale([one, two])
    assert scale.v_low == 0 and scale.v_high >= 55 and scale.t_low == 2018 and scale.t_high == 2030
    assert scale.ticks[0] == 0 and scale.ticks[-1] == scale.v_high
    zoomed = charts.shared_scale([charts.Panel("c", "C", [_point(2018, 80.0), _point(2019, 86.0)])])
    assert zoomed.v_low > 70  # far from zero: the axis zooms in
    with pytest.raises(ValueError, match="at least one figure"):
        charts.shared_scale([charts.Panel("d", "D", [_point(2018, None)])])


def test_panel_breaks_at_missing_points_and_marks_lone_intervals():
    panel = charts.Panel("p", "Gamle Oslo", [_point(2016, 30.0, 28.0, 32.0), _point(2017, None), _point(2018, 31.0),
                                             _point(2019, 32.0)])
    svg = charts.panel_svg(panel, charts.shared_scale([panel]), "percent", Texts("nb"), "Frafall")
    assert len(re.findall(r'<polyline class="series"', svg)) == 1  # 2018-2019; 2016 stands alone
    assert len(re.findall(r'<circle class="point"', svg)) == 3 and 'class="interval"' in svg
    assert "2017: skjult av personvernhensyn" in svg and "Uten tall: 2017 (skjult av personvernhensyn)." in svg
    assert '<title id="c-p-t">Frafall, Gamle Oslo</title>' in svg


def _figure(baseline, target=10.0, level="district", own=False, code="030101", applies=True):
    return Figure(code, "X", level, 12.0, "2023", None, None, None, baseline, "2019", target, 2030, applies, own,
                  "on_track", Trend("trend.not_tested"), None, None, "recorded", False)


class _Entry:
    def __init__(self, polarity, level="district"):
        self.polarity, self.headline_level = polarity, level


@pytest.mark.parametrize("polarity, baseline, drawn", [
    ("higher_is_worse", 15.0, True), ("higher_is_worse", 8.0, False), ("higher_is_worse", 10.0, False),
    ("higher_is_better", 8.0, True), ("higher_is_better", 15.0, False),
])
def test_the_goal_target_is_drawn_only_the_right_way(polarity, baseline, drawn):
    line = target_line(_Entry(polarity), _figure(baseline), 2019.0)
    assert (line is not None) == drawn
    assert beaten_at_baseline(_Entry(polarity), _figure(baseline)) == (not drawn)
    if line:
        assert (line.start_time, line.start_value, line.end_time, line.end_value) == (2019.0, baseline, 2030.0, 10.0)


def test_own_targets_city_goals_and_gaps():
    own = target_line(_Entry("higher_is_worse"), _figure(8.0, target=9.0, own=True), 2019.0)
    assert own is not None and own.own and own.end_value == 9.0  # a region's own target is drawn as it is
    assert target_line(_Entry("higher_is_worse"), _figure(15.0, own=True), None).start_time is None
    city = _Entry("higher_is_worse", level="municipality")
    assert target_line(city, _figure(15.0), 2019.0) is None  # a city goal is Oslo's
    assert target_line(city, _figure(15.0, code="0301", level="municipality"), 2019.0) is not None
    # a gap shrinks whatever the indicator's polarity
    assert target_line(_Entry("higher_is_better", "gap"), _figure(20.0, level="gap"), 2019.0) is not None
    assert target_line(_Entry("higher_is_worse"), _figure(15.0, applies=False), 2019.0) is None
    assert target_line(_Entry("higher_is_worse"), _figure(15.0), None) is None


def test_csv_rows_must_fit_the_header():
    assert csv_bytes(Download("x.csv", ["a", "b"], [["1,5", None]])) == "\ufeffa;b\r\n1,5;\r\n".encode()
    assert csv_bytes(Download("x.csv", ["a"], [[-2.25]])).decode("utf-8-sig") == "a\r\n-2,2\r\n"
    with pytest.raises(ValueError, match="x.csv: a row has 1 cells for 2 columns"):
        csv_bytes(Download("x.csv", ["a", "b"], [["1"]]))
