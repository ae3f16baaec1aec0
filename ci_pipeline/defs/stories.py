"""Dagster asset for the partners' stories: marts/stories, from assets/stories/*.md.

Thin layer over ci_pipeline.report.stories: the stories are checked against goals.yaml (goal and
indicator ids) and the survey codebook's list of Oslo and its bydeler, then published like every mart
(checks/stories.yaml audits it, releases/stories versions it). The goal report reads the published version.
"""


import pandas as pd
from dagster import AssetExecutionContext, asset

from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.goals.config import load_goals
from ci_pipeline.report.stories import load_stories
from ci_pipeline.settings import Settings
from ci_pipeline.surveys.codebook import load_codebook

STORIES_FOLDER = "stories"


def read_stories(settings: Settings) -> pd.DataFrame:
    catalogue = settings.catalogue_root
    goals = load_goals(catalogue / "goals.yaml")
    codebook = load_codebook(catalogue / "surveys")
    return load_stories(
        catalogue / STORIES_FOLDER,
        goals={goal.id: {item.indicator_id for item in goal.indicators} for goal in goals},
        regions={codebook.oslo_code: codebook.oslo_name, **codebook.districts},
        root=settings.repo_root,
    )


@asset(
    key=["marts", "stories"],
    group_name="marts",
    kinds={"pandas"},
    description="The story behind the curve: partners' short accounts (story, strategy or partner action) "
    "from assets/stories/*.md, one row per file with its goal or indicator, district or Oslo, period, "
    "partner, date and Markdown text. Validated on read (unknown goal, indicator or district, missing field, "
    "future date, text that looks like personal data: an error naming the file); shipped examples have "
    "is_example true and the report labels them \"Eksempel\".",
)
def stories_mart(context: AssetExecutionContext, pipeline: PipelineResource) -> pd.DataFrame:
    frame = read_stories(pipeline.settings)
    context.add_output_metadata({
        "stories": len(frame),
        "examples": int(frame["is_example"].sum()),
        **{f"kind_{kind}": int((frame["kind"] == kind).sum()) for kind in ("story", "strategy", "partner_action")},
    })
    return frame


STORY_ASSETS = [stories_mart]
