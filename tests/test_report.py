"""ci_pipeline.report: the partners' report written from a small goal_progress, read back as HTML and CSV."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixture import VERSION, report_inputs, write

from ci_pipeline.report import adapter
from ci_pipeline.report.adapter import ReportInputError
from ci_pipeline.report.formatting import THIN_SPACE

HIGH, LOW, SUPPRESSED, ABSENT = "030101", "030107", "030105", "030103"
DISTRICTS = [f"0301{n:02d}" for n in range(1, 16)]
# What the partner view never shows: the mart's ids and raw test output.
INTERNAL = ["on_track", "off_track", "insufficient_data", "no_target", "each_district", "not_significant",
            "not_tested", "higher_is_worse", "higher_is_better", "p =", "p=", "e-0", "e-1", "e-2",
            "nan", "None", "cochran", "fisher", "binomial"]


class _Text(HTMLParser):
    """The text a reader sees (titles of SVG elements included), without scripts and styles."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return report_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def report(inputs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    logged = []
    result = write(folder, inputs, log=logged.append)
    return result, logged


def page(report, name: str) -> str:
    return (report[0].index.parent / name).read_text(encoding="utf-8")


def test_both_languages_are_written_for_the_version_and_latest(report, inputs):
    result, _ = report
    root = result.index.parent
    assert root.name == VERSION and result.latest.parent.name == "latest"
    for folder, lang in (("", "nb"), ("en/", "en")):
        names = ["index.html", "about.html", *(f"goal-{g.id}.html" for g in inputs["goals"]),
                 *(f"district-{code}.html" for code in [*DISTRICTS, "0301"])]
        for name in names:
            text = (root / folder / name).read_text(encoding="utf-8")
            assert f'<html lang="{lang}">' in text
            assert text == (result.latest.parent / folder / name).read_text(encoding="utf-8")
            switch = re.search(r'<p class="lang-switch"><a href="([^"]+)"', text)[1]
            assert (root / folder / switch).resolve() == (root / ("en/" if lang == "nb" else "") / name).resolve()
    assert not [p for p in result.index.parent.parent.iterdir() if p.name.startswith(".")]


def test_every_link_and_resource_resolves_offline(report):
    root = report[0].index.parent
    for path in root.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r'<(?:script|img|link|iframe)[^>]+(?:src|href)="', text), path
        for href in re.findall(r'href="([^"#]+)', text):
            if href.startswith("https://"):
                assert href == "https://www.oslo.kommune.no/", f"{path}: only a story may link out, got {href}"
                continue
            assert (path.parent / href).exists(), f"{path.relative_to(root)} links to missing {href}"


def test_barometer_has_the_districts_as_rows_and_headline_indicators_as_columns(report, inputs):
    index = page(report, "index.html")
    table = re.search(r'<table class="barometer".*?</table>', index, re.DOTALL)[0]
    districts = re.search(r'<tbody class="districts">(.*?)</tbody>', table, re.DOTALL)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", districts, re.DOTALL)
    assert len(rows) == 15
    assert [re.search(r'href="district-(\d+)\.html"', r)[1] for r in rows] == DISTRICTS
    reference = re.search(r'<tbody class="reference">(.*?)</tbody>', table, re.DOTALL)[1]
    assert len(re.findall(r"<tr>", reference)) == 1 and "district-0301.html" in reference
    columns = adapter.barometer_columns(adapter.entries(inputs["goal_progress"], inputs["goals"]))
    assert [c.indicator_id for c in columns] == ["dropout_share", "survey_support"]
    header = re.search(r'<tr class="columns">(.*?)</tr>', table, re.DOTALL)[1]
    assert len(re.findall(r"<th ", header)) == 1 + len(columns)
    assert all(len(re.findall(r"<td ", row)) == len(columns) for row in rows)
    # every cell carries a symbol for its status and its meaning in words
    assert len(re.findall(r'class="sym status-', districts)) == 15 * len(columns)
    assert "Får støtte på skolen" in header and "Frafall" in header
    assert "<script>" in index and "legend" in index


def test_partner_view_has_no_ids_or_raw_p_values(report):
    root = report[0].index.parent
    for path in root.rglob("*.html"):
        text = visible_text(path.read_text(encoding="utf-8"))
        # "illustrative" is an English word, but no word of a bokmål page
        words = INTERNAL + ([] if path.parent.name == "en" else ["illustrative", "recorded", "reconstructed"])
        found = [word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)]
        assert found == [], f"{path.relative_to(root)} shows {found}"


def test_norwegian_numbers_units_and_dates(report):
    goal = page(report, "goal-completion.html")
    assert "Mål: 10,0\u00a0% eller lavere innen 2030" in goal
    assert re.search(r"\d+,\d\u00a0%", goal) and not re.search(r"\d+\.\d\u00a0?%", visible_text(goal))
    assert "Oppdatert hos kilden 1. januar 2024" in goal
    english = page(report, "en/goal-completion.html")
    assert "Target: 10.0% or lower by 2030" in english and "Updated at the source 1 January 2024" in english
    assert "2015\u20132017" in goal  # periods with an en dash


def _cells(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<td class="cmp-(\w+)" data-sort="[^"]*" title="([^"]*)"', html)


def test_illustrative_inputs_never_look_significant(report, inputs):
    rows = inputs["goal_progress"]
    assert rows.loc[rows["region_code"] == HIGH, "comparison_oslo"].eq("worse").any()  # the test did say so
    for name in ("index.html", "goal-completion.html", f"district-{HIGH}.html", "en/index.html"):
        html = page(report, name)
        assert 'class="cmp-better"' not in html and 'class="cmp-worse"' not in html
    # every figure on the completion page rests on an illustrative input somewhere
    assert not re.search(r"(Bedring|Forverring), statistisk sikker", page(report, "goal-completion.html"))
    assert not re.search(r"(Improving|Worsening), statistically sure", page(report, "en/goal-completion.html"))
    assert "Bedring i eksempeltallene (ikke vurdert)" in page(report, "goal-completion.html")
    cells = _cells(page(report, "index.html"))
    assert len(cells) == 30 and {css for css, _ in cells} == {"illustrative", "not_tested"}
    assert "Ikke vurdert mot Oslo (eksempeltall)" in page(report, "index.html")


def _recorded(progress: pd.DataFrame) -> pd.DataFrame:
    return progress.assign(provenance=progress["provenance"].where(progress["provenance"].isna(), "recorded"))


def _significant_trend(progress: pd.DataFrame) -> pd.DataFrame:
    """The fixture's series are too short for a trend test: give the HIGH district's dropout one, improving."""
    progress = progress.copy()
    row = (progress["region_code"] == HIGH) & (progress["indicator_id"] == "dropout_share")
    progress.loc[row, ["trend_status", "trend_test", "trend_direction", "trend_label", "trend_significant",
                       "trend_p_value", "trend_q_value"]] = [
        "tested", "quasi_binomial", "improving", "improving_significant", True, 0.0004, 0.003]
    return progress


def test_real_figures_are_coloured_by_their_test(inputs, tmp_path):
    result = write(tmp_path, inputs, goal_progress=_significant_trend(_recorded(inputs["goal_progress"])))
    index = (result.index.parent / "index.html").read_text(encoding="utf-8")
    cells = _cells(index)
    worse = [title for css, title in cells if css == "worse"]
    better = [title for css, title in cells if css == "better"]
    assert len(worse) == 1 and "Dårligere enn Oslo" in worse[0]
    assert len(better) == 1 and "Bedre enn Oslo" in better[0]
    goal = (result.index.parent / "goal-completion.html").read_text(encoding="utf-8")
    assert "Bedring, statistisk sikker" in goal
    assert "testet som andel over tid, med rom for ekstra variasjon mellom årene" in goal  # the test, in words
    assert "Forskjellen er statistisk sikker" in index  # the best against the worst district


def test_q_values_decide(inputs, tmp_path):
    progress = _significant_trend(_recorded(inputs["goal_progress"]))
    progress["comparison_oslo_q_value"] = np.where(progress["region_code"] == HIGH, 0.2, progress[
        "comparison_oslo_p_value"])
    progress["trend_q_value"] = 0.5
    progress["gap_q_value"] = 0.07
    result = write(tmp_path, inputs, goal_progress=progress)
    index = (result.index.parent / "index.html").read_text(encoding="utf-8")
    assert "Forskjellen kan skyldes tilfeldigheter" in index
    cells = _cells(index)
    assert [css for css, _ in cells].count("worse") == 0 and [css for css, _ in cells].count("better") == 1
    goal = (result.index.parent / "goal-completion.html").read_text(encoding="utf-8")
    assert "Bedring, statistisk sikker" not in goal and "Bedring, men ikke statistisk sikker" in goal


def test_unknown_status_reads_in_plain_language(inputs, tmp_path):
    progress = inputs["goal_progress"].copy()
    progress.loc[progress["region_code"] == HIGH, "status"] = "target_met_at_baseline"
    progress.loc[progress["region_code"] == LOW, "status"] = "some_future_status"
    progress.loc[progress["region_code"] == "030102", "trend_status"] = "too_few_points"
    progress.loc[progress["region_code"] == "030104", "trend_status"] = "estimates_only"
    result = write(tmp_path, inputs, goal_progress=progress)
    profile = (result.index.parent / f"district-{LOW}.html").read_text(encoding="utf-8")
    assert "some_future_status" not in visible_text(profile) and "Ikke vurdert" in profile
    assert "Målet var nådd ved start" in (result.index.parent / f"district-{HIGH}.html").read_text(encoding="utf-8")
    assert "For få målinger til å si noe sikkert om utviklingen" in (
        result.index.parent / "district-030102.html").read_text(encoding="utf-8")
    assert "Anslag: utviklingen testes ikke" in (result.index.parent / "district-030104.html").read_text(encoding="utf-8")


def test_an_unconfirmed_trend_is_never_called_sure(inputs, tmp_path):
    progress = _significant_trend(_recorded(inputs["goal_progress"]))
    row = (progress["region_code"] == HIGH) & (progress["indicator_id"] == "dropout_share")
    progress.loc[row, "trend_label"] = "unconfirmed"
    result = write(tmp_path, inputs, goal_progress=progress)
    goal = (result.index.parent / "goal-completion.html").read_text(encoding="utf-8")
    assert "Bedring, statistisk sikker" not in goal and "Uklar utvikling" in goal


def _charts(html: str) -> list[str]:
    return re.findall(r'<figure class="chart".*?</figure>', html, re.DOTALL)


def _panel(html: str, key: str) -> str:
    return re.search(rf'<svg class="chart-svg"[^>]*aria-labelledby="c-{key}-t[^>]*>.*?</svg>', html, re.DOTALL)[0]


def test_small_multiples_share_one_axis_and_leave_out_empty_regions(report):
    goal = page(report, "goal-completion.html")
    figure = next(c for c in _charts(goal) if 'id="chart-completion-dropout_share-each_district"' in c)
    panels = re.findall(r"<svg.*?</svg>", figure, re.DOTALL)
    assert len(panels) == 15  # Oslo and 14 bydeler; the bydel without any figure has no chart
    assert f"c-completion-dropout_share-each_district-{ABSENT}-t" not in figure
    assert "Ingen tall for: Region 030103." in figure
    ticks = {tuple(re.findall(r'<text class="tick"[^>]*text-anchor="end">([^<]+)</text>', p)) for p in panels}
    assert len(ticks) == 1 and len(next(iter(ticks))) >= 3


def test_intervals_suppressed_points_and_provenance_on_the_chart(report):
    goal = page(report, "goal-completion.html")
    suppressed = _panel(goal, f"completion-dropout_share-each_district-{SUPPRESSED}")
    assert 'class="suppressed"' in suppressed and "2021\u20132023: skjult av personvernhensyn" in suppressed
    survey = _panel(goal, "completion-survey_support-each_district-030101")
    assert 'class="band"' in survey and "EKSEMPELTALL" in survey
    dropout = _panel(goal, f"completion-dropout_share-each_district-{HIGH}")
    assert "EKSEMPELTALL" not in dropout and 'class="band"' in dropout  # recorded figures, Wilson intervals
    english = page(report, "en/goal-completion.html")
    assert "ILLUSTRATIVE" in _panel(english, "completion-survey_support-each_district-030101")


def test_target_line_only_where_it_points_the_right_way(report, inputs, tmp_path):
    goal = page(report, "goal-completion.html")
    assert 'class="trajectory"' in _panel(goal, f"completion-dropout_share-each_district-{HIGH}")
    # 5 % at the start is already below the 10 % target: a line up to it would point the wrong way
    assert 'class="target"' not in _panel(goal, f"completion-dropout_share-each_district-{LOW}")
    assert "Områder som allerede var bedre enn målet ved start, får ingen mållinje." in goal
    # a city goal's target is Oslo's: no line on the districts' charts
    activity = page(report, "goal-activity.html")
    assert 'class="target"' in _panel(activity, "activity-leisure_share-city-0301")
    assert 'class="target"' not in _panel(activity, "activity-leisure_share-city-030101")
    # a region's own target (issue 19 columns) is drawn as it is
    progress = inputs["goal_progress"].copy()
    progress["target_form"] = None
    progress["target_reference"] = None
    own = (progress["region_code"] == LOW) & (progress["indicator_id"] == "dropout_share") & (
        progress["scope"] == "each_district")
    progress.loc[own, ["target_value", "target_form"]] = [3.0, "override"]
    result = write(tmp_path, inputs, goal_progress=progress)
    goal = (result.index.parent / "goal-completion.html").read_text(encoding="utf-8")
    panel = _panel(goal, f"completion-dropout_share-each_district-{LOW}")
    assert 'class="trajectory"' in panel and "Mål 3,0\u00a0% innen 2030." in panel
    assert "Hvert område har sitt eget mål" in goal and "<small>eget mål for området</small>" in goal


def test_own_targets_name_their_form_and_reference(inputs, tmp_path):
    progress = inputs["goal_progress"].copy()
    survey = (progress["indicator_id"] == "survey_support") & progress["target_applies"]
    progress.loc[survey, ["target_form", "target_reference"]] = ["gap_closing", "oslo"]
    progress.loc[survey & (progress["region_code"] == "0301"), ["target_form", "target_reference"]] = [
        "relative", "own_baseline"]
    result = write(tmp_path, inputs, goal_progress=progress)
    goal = (result.index.parent / "goal-completion.html").read_text(encoding="utf-8")
    assert "<small>lukke en del av avstanden til Oslo</small>" in goal
    assert "<small>endring fra eget utgangspunkt</small>" in goal
    english = (result.index.parent / "en" / "goal-completion.html").read_text(encoding="utf-8")
    assert "<small>closing part of the gap to Oslo</small>" in english
    # the goal's one absolute target is not an own target: no form is named beside it
    assert "samme mål for alle" not in goal


def test_a_supporting_indicator_is_shown_but_not_a_barometer_column(inputs, tmp_path):
    goals = [goal.model_copy(update={"indicators": tuple(
        item.model_copy(update={"headline": False}) if item.indicator_id == "survey_support" else item
        for item in goal.indicators)}) for goal in inputs["goals"]]
    all_entries = adapter.entries(inputs["goal_progress"], goals)
    assert [c.indicator_id for c in adapter.barometer_columns(all_entries)] == ["dropout_share"]
    supporting = next(e for e in all_entries if e.indicator_id == "survey_support")
    assert supporting.figures and supporting.headline_figures == []


def test_every_chart_has_source_date_and_definition(report):
    root = report[0].index.parent
    for path in [*root.glob("*.html"), *root.glob("en/*.html")]:
        html = path.read_text(encoding="utf-8")
        lang = "en" if path.parent.name == "en" else "nb"
        svgs = re.findall(r"<svg class=\"chart-svg\"", html)
        charts = _charts(html)
        assert sum(c.count('<svg class="chart-svg"') for c in charts) == len(svgs)
        for chart in charts:
            source = re.search(r'<p class="chart-source">([^<]+)</p>', chart)[1]
            assert source.startswith("Kilde: " if lang == "nb" else "Source: "), (path, source)
            assert '<p class="chart-date">' in chart
            assert 'role="img"' in chart and "<desc" in chart
    goal = (root / "goal-completion.html").read_text(encoding="utf-8")
    assert "Kilde: FHI Statistikk, tabell 360." in goal and "Definisjon: Andel som ikke fullførte." in goal


def test_stories_are_shown_beside_their_curve_and_in_the_profile(report):
    goal = page(report, "goal-completion.html")
    assert "Leksehjelp i nærmiljøet" in goal and "Felles innsats for fullføring" in goal
    assert "Skolestøtte på Grünerløkka" in goal
    assert "&lt;script&gt;" in goal and "<script>alert" not in goal  # the story's HTML is escaped
    assert "<em>ned</em>" in goal and '<a href="https://www.oslo.kommune.no/">' in goal
    profile = page(report, f"district-{HIGH}.html")
    assert "Leksehjelp i nærmiljøet" in profile and "Skolestøtte på Grünerløkka" not in profile
    assert profile.count('<span class="badge example">Eksempel</span>') == 1
    assert "Felles innsats for fullføring" in page(report, "district-0301.html")
    assert '<span class="badge example">Example</span>' in page(report, "en/goal-completion.html")


def test_downloads_open_in_norwegian_excel(report):
    root = report[0].index.parent
    raw = (root / "downloads" / "goal-completion.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert header[0] == "Område" and "Versjon" in header and "Opphav" in header
    body = [dict(zip(header, row)) for row in rows[1:]]
    high = next(r for r in body if r["Kode"] == HIGH and r["Indikator"] == "Frafall")
    assert re.fullmatch(r"\d+,\d", high["Siste tall"]) and THIN_SPACE not in high["Siste tall"]
    assert high["Enhet"] == "%" and high["Versjon"] == VERSION
    assert high["Opphav"] == "Eksempeltall, ikke ekte tall"
    assert all(len(row) == len(header) for row in rows)
    english = (root / "en" / "downloads" / "barometer.csv").read_bytes().decode("utf-8-sig").splitlines()[0]
    assert english.startswith("Area;Code;Indicator")
    index = page(report, "index.html")
    for name in re.findall(r'href="downloads/([^"]+)"', index):
        assert (root / "downloads" / name).is_file()


def test_without_chromium_the_profiles_say_there_is_no_pdf(report):
    _, logged = report
    assert report[0].pdfs == [] and logged and "Chromium was not found" in logged[0]
    profile = page(report, f"district-{HIGH}.html")
    assert "PDF-utgaven er ikke laget i denne versjonen: nettleseren Chromium fantes ikke" in profile
    assert not (report[0].index.parent / "pdf").exists()


def test_a_broken_browser_is_a_clear_log_line_not_a_failed_build(inputs, tmp_path):
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    logged = []
    result = write(tmp_path, inputs, chromium=broken, log=logged.append)
    assert result.pdfs == [] and "printing the district profiles to PDF failed" in logged[0]
    profile = (result.index.parent / f"district-{HIGH}.html").read_text(encoding="utf-8")
    assert "utskriften til PDF feilet" in profile


def test_rewriting_replaces_latest_and_keeps_the_old_version(inputs, tmp_path):
    first = write(tmp_path, inputs)
    second = write(tmp_path, inputs, version="20250202T000000Z")
    assert first.index.is_file() and second.index.parent.name == "20250202T000000Z"
    assert "20250202T000000Z" in second.latest.read_text(encoding="utf-8")
    assert not [p for p in second.index.parent.parent.iterdir() if p.name.startswith(".")]


def test_a_missing_column_is_named(inputs, tmp_path):
    with pytest.raises(ReportInputError, match="comparison_oslo_p_value"):
        write(tmp_path, inputs, goal_progress=inputs["goal_progress"].drop(columns="comparison_oslo_p_value"))
    assert not list(Path(tmp_path / "report").glob(".staging-*"))
