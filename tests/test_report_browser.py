"""The partners' report in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

For both languages the test opens the overview, a goal page and a district profile from file://, checks
the barometer (15 district rows, an Oslo reference row, one column per headline indicator, sortable from
the keyboard), the stories' text, a source line under every chart, that no page logs an error, runs
axe-core (tests/browser/node_modules, installed by `npm ci`) for serious or critical accessibility
violations and saves screenshots and the axe results to test-artifacts/. It skips only when chromium or
axe-core is missing and CI is not set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from report_fixture import report_inputs, write

from ci_pipeline.report import adapter
from ci_pipeline.report.browser import Browser

pytestmark = pytest.mark.slow  # headless Chromium and axe-core

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ("index.html", "goal-completion.html", "district-030101.html")
STORY_TEXT = {"goal-completion.html": ["Leksehjelp i nærmiljøet", "Frafallet gikk", "Skolestøtte på Grünerløkka"],
              "district-030101.html": ["Leksehjelp i nærmiljøet", "faste kontaktpersoner"]}


def _missing(what: str, fix: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: {fix}")
    pytest.skip(f"{what} is not installed and CI is not set ({fix})")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    inputs = report_inputs(folder)
    result = write(folder, inputs)
    columns = adapter.barometer_columns(adapter.entries(inputs["goal_progress"], inputs["goals"]))
    return result.index.parent, len(columns)


@pytest.fixture(scope="module")
def browser(chromium):
    if chromium is None:
        _missing("chromium", ".ci/run installs Debian's chromium (apt-get install -y chromium)")
    with Browser(chromium, window=(1280, 1000)) as session:
        yield session


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        _missing("axe-core", "run `npm ci` in tests/browser (.ci/run does)")
    return AXE.read_text(encoding="utf-8")


def _open(browser: Browser, path: Path) -> None:
    browser.open(path.as_uri())
    # Folded tables and curves are part of the page: open them so every chart is drawn and checked.
    browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")


CHART_FACTS = """(() => {
  const figures = Array.from(document.querySelectorAll('figure.chart'));
  const svgs = Array.from(document.querySelectorAll('svg.chart-svg'));
  return {
    figures: figures.length,
    svgs: svgs.length,
    outside: svgs.filter(s => !s.closest('figure.chart')).length,
    sources: figures.map(f => (f.querySelector('.chart-source') || {}).textContent || ''),
    dates: figures.filter(f => f.querySelector('.chart-date')).length,
    drawn: svgs.filter(s => s.getBoundingClientRect().width > 50 && s.getBoundingClientRect().height > 50).length,
    points: svgs.filter(s => s.querySelectorAll('circle.point').length > 0).length,
  };
})()"""


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_pages_render_with_charts_sources_and_stories(built, browser, lang):
    root, _ = built
    folder = root if lang == "nb" else root / "en"
    ARTIFACTS.mkdir(exist_ok=True)
    for name in PAGES:
        _open(browser, folder / name)
        assert browser.errors() == [], (lang, name)
        assert browser.evaluate("document.documentElement.lang") == lang
        facts = browser.evaluate(CHART_FACTS)
        assert facts["outside"] == 0 and facts["drawn"] == facts["svgs"] == facts["points"], (name, facts)
        source = "Kilde: " if lang == "nb" else "Source: "
        assert all(s.startswith(source) for s in facts["sources"]), (name, facts["sources"])
        assert facts["dates"] == facts["figures"]
        if name != "index.html":
            assert facts["figures"] >= 2
        text = browser.evaluate("document.body.innerText")
        for snippet in STORY_TEXT.get(name, []):
            assert snippet in text, (lang, name, snippet)
        (ARTIFACTS / f"report-{lang}-{name.removesuffix('.html')}.png").write_bytes(browser.screenshot())
    assert (ARTIFACTS / f"report-{lang}-index.png").stat().st_size > 20_000


BAROMETER = """(() => {
  const table = document.querySelector('table.barometer');
  const rows = Array.from(table.querySelectorAll('tbody.districts tr'));
  return {
    rows: rows.length,
    reference: table.querySelectorAll('tbody.reference tr').length,
    headers: table.querySelectorAll('thead tr.columns th').length,
    buttons: table.querySelectorAll('thead tr.columns th button').length,
    cells: rows.map(r => r.querySelectorAll('td').length),
    names: rows.map(r => r.querySelector('th').textContent.trim()),
  };
})()"""
COLUMN = "Array.from(document.querySelectorAll('table.barometer tbody.districts tr')).map(r => r.cells[1].dataset.sort)"


def _press_enter(browser: Browser) -> None:
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                     text="\r" if kind == "keyDown" else "")


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_barometer_has_fifteen_districts_and_sorts_from_the_keyboard(built, browser, lang):
    root, columns = built
    _open(browser, (root if lang == "nb" else root / "en") / "index.html")
    table = browser.evaluate(BAROMETER)
    assert table["rows"] == 15 and table["reference"] == 1
    assert table["headers"] == 1 + columns and table["buttons"] == 1 + columns
    assert set(table["cells"]) == {columns}
    before = browser.evaluate(COLUMN)
    browser.evaluate("document.querySelectorAll('table.barometer thead tr.columns th button')[1].focus()")
    assert browser.evaluate("document.activeElement.tagName") == "BUTTON"
    _press_enter(browser)
    ascending = browser.evaluate(COLUMN)
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and ascending[-len(before) + len(numbers):] == [""] * (len(before) - len(numbers))
    assert browser.evaluate("document.querySelectorAll('table.barometer thead tr.columns th')[1]"
                            ".getAttribute('aria-sort')") == "ascending"
    _press_enter(browser)
    descending = [float(v) for v in browser.evaluate(COLUMN) if v]
    assert descending == sorted(numbers, reverse=True)
    assert sorted(before, key=str) == sorted(browser.evaluate(COLUMN), key=str)  # same rows, another order


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_axe_finds_no_serious_or_critical_violations(built, browser, axe_source, lang):
    root, _ = built
    folder = root if lang == "nb" else root / "en"
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {}
    for name in PAGES:
        _open(browser, folder / name)
        browser.evaluate(axe_source)
        result = browser.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => ({"
            "version: axe.version, passes: r.passes.length, violations: r.violations.map(v => ({"
            "id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,"
            "targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))}))",
            await_promise=True)
        summary[name] = result
        serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], (lang, name, serious)
    (ARTIFACTS / f"axe-{lang}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
