"""Partners' stories (assets/stories/*.md): validation, personal-data refusal, safe Markdown, the stories mart."""

from __future__ import annotations

import random
import re
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from report_fixture import regions
from stdnum.no import fodselsnummer

from ci_pipeline.config import ConfigError
from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.defs.stories import read_stories, stories_mart
from ci_pipeline.quality.runner import run_suite
from ci_pipeline.quality.suites import load_suite
from ci_pipeline.report.stories import (
    identity_number_is_valid,
    load_stories,
    personal_data,
    render_markdown,
)
from ci_pipeline.schema import STORY_COLUMNS
from ci_pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
GOALS = {"completion": {"dropout_share", "survey_support"}, "work": {"neet_share"}}
TODAY = date(2025, 6, 1)
GOOD = {
    "title": "Leksehjelp", "kind": "story", "goal": "completion", "indicator": "dropout_share",
    "district": "Gamle Oslo", "period": "2021-2023", "partner": "Ungdomstjenesten", "date": "2025-03-14",
}


def story_file(folder: Path, name: str = "story.md", body: str = "Teksten.", **front) -> Path:
    fields = {**GOOD, **front}
    lines = [f"{key}: {value}" for key, value in fields.items() if value is not None]
    path = folder / name
    path.write_text("---\n" + "\n".join(lines) + "\n---\n" + body + "\n", encoding="utf-8")
    return path


def load(folder: Path):
    return load_stories(folder, goals=GOALS, regions=regions(), today=TODAY, root=folder)


def test_shipped_stories_are_valid_examples():
    frame = read_stories(Settings.from_env())
    assert list(frame.columns) == STORY_COLUMNS
    assert len(frame) >= 3 and frame["is_example"].all()
    assert set(frame["kind"]) == {"story", "strategy", "partner_action"}
    assert frame["file"].str.startswith("assets/stories/").all()
    assert frame["region_code"].isin(["0301", *(f"0301{n:02d}" for n in range(1, 16))]).all()
    assert (frame["title"].str.len() > 0).all() and frame["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()


def test_a_good_story_becomes_a_row(tmp_path):
    story_file(tmp_path, district='"030101"', period=2023)
    story_file(tmp_path, "oslo.md", indicator=None, district="Oslo", kind="partner_action", period="2025-spring")
    frame = load(tmp_path).set_index("story_id")
    assert frame.loc["story", "region_code"] == "030101" and frame.loc["story", "region_name"] == "Gamle Oslo"
    assert frame.loc["story", "period"] == "2023" and frame.loc["story", "written_on"] == "2025-03-14"
    assert frame.loc["oslo", "region_code"] == "0301" and pd.isna(frame.loc["oslo", "indicator_id"])
    assert not frame["is_example"].any()


@pytest.mark.parametrize("front, body, message", [
    ({"goal": "nope"}, "Tekst.", r"goal: unknown goal 'nope'"),
    ({"indicator": "nope"}, "Tekst.", r"indicator: unknown indicator 'nope'"),
    ({"indicator": "neet_share"}, "Tekst.", r"indicator 'neet_share' is not one of goal 'completion'"),
    ({"goal": None, "indicator": None}, "Tekst.", r"give `goal`, `indicator` or both"),
    ({"district": "Bergenhus"}, "Tekst.", r"district: unknown district 'Bergenhus'"),
    ({"district": "030101"}, "Tekst.", r"district: write a district code in quotes"),
    ({"partner": None}, "Tekst.", r"partner: required key is missing"),
    ({"date": "2025-07-01"}, "Tekst.", r"date: 2025-07-01 is in the future \(today is 2025-06-01\)"),
    ({"kind": "anecdote"}, "Tekst.", r"kind: Input should be 'story', 'strategy' or 'partner_action'"),
    ({"period": "2023-2021"}, "Tekst.", r"period: period '2023-2021' is not a year"),
    ({"colour": "red"}, "Tekst.", r"colour: unknown key"),
    ({}, "", r"body: must not be empty"),
])
def test_a_bad_story_is_an_error_naming_the_file_and_key(tmp_path, front, body, message):
    story_file(tmp_path, "bad.md", body=body, **front)
    with pytest.raises(ConfigError, match=message) as error:
        load(tmp_path)
    assert all(line.startswith("bad.md: ") for line in error.value.problems)


def test_every_problem_of_every_file_at_once(tmp_path):
    story_file(tmp_path, "a.md", goal="nope", date="2030-01-01")
    story_file(tmp_path, "b.md", district="Narnia")
    (tmp_path / "c.md").write_text("Ingen front matter her.\n", encoding="utf-8")
    (tmp_path / "d.md").write_text("---\ntitle: [unclosed\n---\nTekst\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load(tmp_path)
    problems = error.value.problems
    assert [p.split(":")[0] for p in problems] == ["a.md", "a.md", "b.md", "c.md", "d.md"]
    assert "no front matter" in problems[3] and "not valid YAML (line 2)" in problems[4]


@pytest.mark.parametrize("text, what", [
    ("Kontakt meg på per.hansen@example.no.", "an e-mail address (line 1)"),
    ("Ring 22 33 44 55 i dag.", "a phone number (line 1)"),
    ("Ring +47 912 34 567.", "a phone number (line 1)"),
    ("Mobil: 91234567", "a phone number (line 1)"),
    ("Eleven har fødselsnummer\n151086 95088 i papirene.", "a national identity number (line 2)"),
    ("Eleven: 15108695088.", "a national identity number (line 1)"),
])
def test_personal_data_is_refused_without_repeating_it(tmp_path, text, what):
    assert what in personal_data(text)
    story_file(tmp_path, body=text)
    with pytest.raises(ConfigError, match="body: looks like personal data") as error:
        load(tmp_path)
    assert what in str(error.value)
    for digits in re.findall(r"\d{4,}", text):
        assert digits not in str(error.value)


@pytest.mark.parametrize("text", [
    "Frafallet for 2021-2023 var 23,1 % i 2022.", "Bydelen har 63 712 innbyggere (1.1.2024).",
    "Organisasjonsnummer 974 778 742.", "Tallet 15108695089 har feil kontrollsiffer.", "Tabell 10826 og 13563.",
    "Kl. 18.00-20.00 hver tirsdag.",
])
def test_ordinary_numbers_are_not_personal_data(text):
    assert personal_data(text) == []


def test_identity_number_check_digits_agree_with_python_stdnum():
    rng = random.Random(13)
    for _ in range(20000):
        digits = "".join(rng.choice("0123456789") for _ in range(9))
        first = fodselsnummer.calc_check_digit1(digits)
        candidate = digits + (first if len(first) == 1 else "0")
        second = fodselsnummer.calc_check_digit2(candidate)
        tail = second if len(second) == 1 and rng.random() < 0.7 else rng.choice("0123456789")
        number = candidate + tail
        expected = number[9] == fodselsnummer.calc_check_digit1(number) and \
            number[10] == fodselsnummer.calc_check_digit2(number)
        assert identity_number_is_valid(number) == expected, number
    assert identity_number_is_valid("15108695088") and not identity_number_is_valid("15108695089")


def test_markdown_is_a_small_safe_subset():
    html = render_markdown("Hei *du* og **deg**. <b>fet</b> <script>x()</script>\n\n- en\n- to\n\n"
                           "[lenke](https://oslo.kommune.no) [farlig](javascript:alert(1))\n\n# Overskrift")
    assert "<em>du</em>" in html and "<strong>deg</strong>" in html and "<ul>\n<li>en</li>" in html
    assert "&lt;b&gt;fet&lt;/b&gt;" in html and "&lt;script&gt;" in html and "<script" not in html
    assert '<a href="https://oslo.kommune.no">lenke</a>' in html and "javascript:" not in html.split("[farlig]")[0]
    assert 'href="javascript' not in html and "<h1>" not in html


def test_stories_mart_materialises_and_passes_its_suite(tmp_path):
    settings = Settings.from_env()
    result = dg.materialize([stories_mart], resources={"pipeline": PipelineResource(settings=settings)},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    frame = result.output_for_node("marts__stories")
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["stories"].value == len(frame) and metadata["examples"].value == len(frame)
    suite = run_suite(load_suite(REPO / "checks" / "stories.yaml"), frame)
    assert suite.success, suite.message()
    broken = frame.assign(kind="anecdote")
    broken.loc[0, "goal_id"] = None
    broken.loc[0, "indicator_id"] = None
    failed = run_suite(load_suite(REPO / "checks" / "stories.yaml"), broken)
    assert {entry.expectation for entry in failed.failed} == {"expect_column_values_to_be_in_set",
                                                              "expect_column_values_to_not_be_null"}
