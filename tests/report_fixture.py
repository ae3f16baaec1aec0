"""The goal report built from the small hand-made goal_progress of test_goals, with stories and labels.

Shared by test_report.py, test_report_browser.py and test_report_pdf.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from test_goals import REPO, make_inputs

from ci_pipeline.goals.progress import build_goal_progress
from ci_pipeline.report import write_report
from ci_pipeline.report.labels import ReportLabels
from ci_pipeline.report.stories import load_stories
from ci_pipeline.surveys.codebook import load_codebook

VERSION = "20250101T000000Z"
STORIES = {
    "dropout-gamle-oslo.md": """---
title: Leksehjelp i nærmiljøet
kind: story
goal: completion
indicator: dropout_share
district: Gamle Oslo
period: 2021-2023
partner: Ungdomstjenesten
date: 2025-03-14
example: true
---
Frafallet gikk *ned* etter at vi startet leksehjelp. <script>alert("x")</script>

- faste kontaktpersoner
- [samarbeid med skolene](https://www.oslo.kommune.no/)
""",
    "completion-oslo.md": """---
title: Felles innsats for fullføring
kind: strategy
goal: completion
district: "0301"
period: 2024
partner: Samarbeidet
date: 2025-02-01
---
Hele byen jobber med **fullføring**.
""",
    "support-grunerlokka.md": """---
title: Skolestøtte på Grünerløkka
kind: partner_action
indicator: survey_support
district: Grünerløkka
period: 2025-spring
partner: Frivilligsentralen
date: 2025-06-01
example: true
---
Vi startet et tilbud om hjelp med lekser.
""",
}
LABELS = ReportLabels.model_validate({
    "sources": {"fhi": {"nb": "FHI Statistikk, tabell {table}", "en": "FHI Statistikk table {table}"},
                "ssb": {"nb": "SSB, tabell {table}", "en": "Statistics Norway, table {table}"},
                "survey": {"nb": "Läget Oslo", "en": "Läget Oslo survey"}},
    "indicators": {"survey_support": {"name_nb": "Får støtte på skolen", "definition_nb": "Andel som får støtte.",
                                      "definition_en": "Share who get support."},
                   "dropout_share": {"definition_nb": "Andel som ikke fullførte."}},
})


def regions() -> dict[str, str]:
    codebook = load_codebook(REPO / "assets" / "surveys")
    return {codebook.oslo_code: codebook.oslo_name, **codebook.districts}


def report_inputs(tmp_path: Path) -> dict:
    """Everything write_report takes, for the test goals, with three stories (two of them examples)."""
    indicator_values, survey_results, goals, registry, survey_names = make_inputs(tmp_path)
    progress = build_goal_progress(indicator_values, survey_results, goals, registry, survey_names)
    folder = tmp_path / "stories"
    folder.mkdir(exist_ok=True)
    for name, text in STORIES.items():
        (folder / name).write_text(text, encoding="utf-8")
    stories = load_stories(folder, goals={g.id: {i.indicator_id for i in g.indicators} for g in goals},
                           regions=regions(), today=date(2025, 12, 1))
    return {"goal_progress": progress, "indicator_values": indicator_values, "survey_results": survey_results,
            "goals": goals, "registry": registry, "stories": stories, "labels": LABELS}


def write(tmp_path: Path, inputs: dict, chromium=None, version: str = VERSION, **changes):
    args = {**inputs, **changes}
    return write_report(args["goal_progress"], args["indicator_values"], args["survey_results"], args["goals"],
                        args["registry"], tmp_path / "report", version, stories=args["stories"],
                        labels=args["labels"], stories_version="20250101T000001Z", chromium=chromium,
                        log=args.get("log"))
