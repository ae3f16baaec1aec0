"""Dagster assets for the goals: marts/goals, marts/goal_progress and reports/goal_report.

Thin layer over ci_pipeline.goals (config, progress) and ci_pipeline.report. The goal report is written
after releases/goal_progress has published, from the published marts, so every publish refreshes it.
"""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetKey, MaterializeResult, MetadataValue, asset

from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.goals.config import Goal, check_goals_against, goals_frame, load_goals, survey_polarity
from ci_pipeline.goals.progress import build_goal_progress
from ci_pipeline.indicators import load_registry
from ci_pipeline.marts import MartStore
from ci_pipeline.report import write_report
from ci_pipeline.settings import Settings
from ci_pipeline.surveys.codebook import load_codebook

GOALS_FILE = "goals.yaml"
REPORT_MARTS = ("goal_progress", "goals", "indicator_values", "survey_results")


def _load(settings: Settings) -> tuple[list[Goal], dict, dict[str, str]]:
    """Goals, registry and survey indicator names from the catalogue, the goals checked against the
    registry and the survey codebook."""
    catalogue = settings.catalogue_root
    goals = load_goals(catalogue / GOALS_FILE)
    registry = load_registry(catalogue)
    codebook = load_codebook(catalogue / "surveys")
    survey_polarities = {indicator.id: survey_polarity(indicator.polarity) for indicator in codebook.indicators}
    check_goals_against(goals, registry, survey_polarities, catalogue / GOALS_FILE)
    survey_names = {indicator.id: indicator.name for indicator in codebook.indicators}
    return goals, registry, survey_names


@asset(
    key=["marts", "goals"],
    group_name="marts",
    kinds={"pandas"},
    description="The initiative's goals from assets/goals.yaml: one row per goal x indicator, with baseline, "
    "target value and year, polarity and scope (city, each district, or the gap between districts).",
)
def goals_mart(context: AssetExecutionContext, pipeline: PipelineResource) -> pd.DataFrame:
    goals, _, _ = _load(pipeline.settings)
    frame = goals_frame(goals)
    context.add_output_metadata({"goals": len(goals), "rows": len(frame)})
    return frame


@asset(
    key=["marts", "goal_progress"],
    group_name="marts",
    kinds={"pandas"},
    ins={
        "indicator_values": AssetIn(key=["marts", "indicator_values"]),
        "survey_results": AssetIn(key=["marts", "survey_results"]),
    },
    description="Progress per goal x indicator x region (Oslo, each bydel, Norway where it has the figure) "
    "and the gap between districts: baseline, latest, target, progress %, status, trend test, and "
    "significance-tested comparisons with Oslo and Norway (ci_pipeline/goals/rules.py has the rules).",
)
def goal_progress_mart(
    context: AssetExecutionContext,
    indicator_values: pd.DataFrame,
    survey_results: pd.DataFrame,
    pipeline: PipelineResource,
) -> pd.DataFrame:
    goals, registry, survey_names = _load(pipeline.settings)
    frame = build_goal_progress(indicator_values, survey_results, goals, registry, survey_names)
    headline = frame[frame["headline"]]
    context.add_output_metadata({
        "rows": len(frame),
        "on_track": int((headline["status"] == "on_track").sum()),
        "off_track": int((headline["status"] == "off_track").sum()),
        "insufficient_data": int((headline["status"] == "insufficient_data").sum()),
        "illustrative_rows": int((frame["provenance"] == "illustrative").sum()),
    })
    return frame


@asset(
    key=["reports", "goal_report"],
    group_name="reports",
    kinds={"html"},
    deps=[AssetKey(["releases", mart]) for mart in REPORT_MARTS],
    description="The HTML goal report (static files, no server needed), written from the published marts "
    "after every publish: <warehouse>/reports/goal_report/<goal_progress version>/index.html and latest/.",
)
def goal_report(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    settings = pipeline.settings
    goals, registry, _ = _load(settings)
    store = MartStore(settings.warehouse_root)
    version = store.latest_version("goal_progress")
    if version is None:
        raise RuntimeError("goal_progress has no published version yet; run releases/goal_progress first")
    index = write_report(
        store.read("goal_progress", version),
        store.read("indicator_values"),
        store.read("survey_results"),
        goals,
        registry,
        settings.warehouse_root / "reports" / "goal_report",
        version,
    )
    latest = index.parent.parent / "latest" / "index.html"
    context.log.info(f"goal report written to {index}")
    return MaterializeResult(metadata={
        "index": MetadataValue.url(index.as_uri()),
        "path": MetadataValue.path(str(index)),
        "latest": MetadataValue.path(str(latest)),
        "version": version,
    })


GOAL_ASSETS = [goals_mart, goal_progress_mart, goal_report]
