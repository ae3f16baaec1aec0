"""ci_pipeline.report: the static HTML goal report written from goal_progress and its inputs."""

from __future__ import annotations

import re

import pytest
from test_goals import make_inputs

from ci_pipeline.goals.progress import build_goal_progress
from ci_pipeline.report import PROVENANCE_NOTICE, write_report


@pytest.fixture
def written(tmp_path):
    indicator_values, survey_results, goals, registry, survey_names = make_inputs(tmp_path)
    progress = build_goal_progress(indicator_values, survey_results, goals, registry, survey_names)
    out = tmp_path / "reports" / "goal_report"
    index = write_report(progress, indicator_values, survey_results, goals, registry, out, "20250101T000000Z")
    return index, progress, goals, (indicator_values, survey_results, registry, out)


def test_files_are_written_for_the_version_and_latest(written):
    index, _, goals, _ = written
    assert index.name == "index.html" and index.parent.name == "20250101T000000Z"
    latest = index.parent.parent / "latest"
    for goal in goals:
        assert (index.parent / f"goal-{goal.id}.html").is_file()
        assert (latest / f"goal-{goal.id}.html").read_text() == (index.parent / f"goal-{goal.id}.html").read_text()
    text = index.read_text(encoding="utf-8")
    for goal in goals:
        assert f'href="goal-{goal.id}.html"' in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in text and "https://" not in text


def test_rewriting_replaces_latest(written):
    _, progress, goals, (indicator_values, survey_results, registry, out) = written
    second = write_report(progress, indicator_values, survey_results, goals, registry, out, "20250202T000000Z")
    assert (out / "20250101T000000Z" / "index.html").is_file()
    assert "20250202T000000Z" in (out / "latest" / "index.html").read_text(encoding="utf-8")
    assert second.parent.name == "20250202T000000Z"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_goal_page_has_a_chart_per_region_with_points_baseline_and_target(written):
    index, _, _, _ = written
    page = (index.parent / "goal-completion.html").read_text(encoding="utf-8")
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", page, flags=re.DOTALL)
    # two indicators x (Oslo + 15 districts)
    assert len(charts) == 2 * 16
    assert all('role="img"' in chart and "<title" in chart and "<desc" in chart for chart in charts)
    oslo_chart = next(c for c in charts if "t-completion-dropout-share-0301\"" in c)
    assert len(re.findall(r'class="point"', oslo_chart)) == 7
    assert 'class="baseline"' in oslo_chart and 'class="target"' in oslo_chart
    suppressed_chart = next(c for c in charts if "t-completion-dropout-share-030105\"" in c)
    assert 'class="suppressed"' in suppressed_chart and "2021-2023: :" in suppressed_chart


def test_table_colours_follow_significance(written):
    index, progress, _, _ = written
    page = (index.parent / "goal-completion.html").read_text(encoding="utf-8")
    cells = re.findall(r'<td class="cmp-(\w+)">([^<]*)</td>', page)
    classes = {c for c, _ in cells}
    assert {"better", "worse", "not_significant", "not_tested"} <= classes
    for css_class, text in cells:
        expected = {"better": "Better", "worse": "Worse", "not_significant": "No significant difference",
                    "not_tested": "Not tested"}[css_class]
        assert text.startswith(expected)
    rows = progress[progress["goal_id"] == "completion"]
    called = int(rows["comparison_norway"].isin(["better", "worse"]).sum()
                 + rows["comparison_oslo"].isin(["better", "worse"]).sum())
    assert sum(1 for c, _ in cells if c in ("better", "worse")) == called


def test_provenance_notice_only_where_illustrative(written):
    index, _, _, _ = written
    completion = (index.parent / "goal-completion.html").read_text(encoding="utf-8")
    activity = (index.parent / "goal-activity.html").read_text(encoding="utf-8")
    assert PROVENANCE_NOTICE[:40] in completion
    assert PROVENANCE_NOTICE[:40] not in activity
    assert PROVENANCE_NOTICE[:40] in index.read_text(encoding="utf-8")


def test_gap_goal_has_a_gap_chart(written):
    index, _, _, _ = written
    page = (index.parent / "goal-gaps.html").read_text(encoding="utf-8")
    gap_chart = re.search(r'<svg class="chart"[^>]*>(?:(?!</svg>).)*Gap between best and worst district.*?</svg>',
                          page, flags=re.DOTALL).group(0)
    assert len(re.findall(r'class="point"', gap_chart)) == 7 and 'class="target"' in gap_chart


def test_headings_and_index_show_the_indicator_name_with_its_id(written):
    index, _, _, _ = written
    page = (index.parent / "goal-completion.html").read_text(encoding="utf-8")
    assert "<h2>Dropout <small>dropout_share</small> (each_district)</h2>" in page
    assert "<h2>Gets support at school <small>survey_support</small> (each_district)</h2>" in page
    assert "<td>Leisure activity <small>leisure_share</small></td>" in index.read_text(encoding="utf-8")
