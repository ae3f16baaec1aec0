"""Dagster assets for the goals: marts/goals, marts/goal_progress and reports/goal_report.

Thin layer over ci_pipeline.goals (config, progress) and ci_pipeline.report. The goal report is written
after releases/goal_progress and releases/stories have published, from the published marts, so every
publish refreshes it.
"""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetKey, MaterializeResult, MetadataValue, asset

from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.goals.config import Goal, check_goals_against, goals_frame, load_goals, survey_polarity
from ci_pipeline.goals.progress import build_goal_progress
from ci_pipeline.indicators import load_registry
from ci_pipeline.marts import MartStore
from ci_pipeline.report import write_report
from ci_pipeline.report.labels import load_labels
from ci_pipeline.settings import Settings
from ci_pipeline.surveys.codebook import load_codebook

GOALS_FILE = "goals.yaml"
REPORT_MARTS = ("goal_progress", "goals", "indicator_values", "survey_results", "stories", "exclusion_costs")
REPORT_LABELS_FILE = "report.yaml"


def _load(settings: Settings) -> tuple[list[Goal], dict, dict[str, str]]:
    """Goals, registry and survey indicator names from the catalogue, the goals checked against the
    registry and the survey codebook."""
    catalogue = settings.catalogue_root
    goals = load_goals(catalogue / GOALS_FILE, root=settings.repo_root)
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
    "the target's form (absolute, relative, gap-closing, per-district overrides) and year, polarity and scope "
    "(city, each district, or the gap between districts).",
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
    "and the gap between districts: baseline, latest, the region's own target (absolute, relative, gap-closing "
    "or override), progress %, status, the trend test (quasi-likelihood for counts and shares), and comparisons "
    "with Oslo and Norway, each with its Benjamini-Hochberg q-value (ci_pipeline/goals/ has the rules).",
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
        "target_met_at_baseline": int((headline["status"] == "target_met_at_baseline").sum()),
        "target_no_longer_met": int((headline["status"] == "target_no_longer_met").sum()),
        "insufficient_data": int((headline["status"] == "insufficient_data").sum()),
        "significant_trends": int(frame["trend_significant"].sum()),
        "illustrative_rows": int((frame["provenance"] == "illustrative").sum()),
    })
    return frame


@asset(
    key=["reports", "goal_report"],
    group_name="reports",
    kinds={"html"},
    deps=[AssetKey(["releases", mart]) for mart in REPORT_MARTS],
    description="The partners' report (static files that open offline): in bokmål, with an English edition "
    "under en/; an overview with the district-by-goal barometer, a page per goal, a profile per bydel and for "
    "Oslo (also as A4 PDF where Chromium is installed), the partners' stories beside their curves, and every "
    "table as CSV. Written from the published marts after every publish to "
    "<warehouse>/reports/goal_report/<version>/ and latest/, where the version is the newer of the "
    "goal_progress and stories versions.",
)
def goal_report(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    settings = pipeline.settings
    goals, registry, survey_names = _load(settings)
    labels = load_labels(settings.catalogue_root / REPORT_LABELS_FILE, root=settings.repo_root,
                         indicators=set(registry) | set(survey_names), goals={goal.id for goal in goals})
    store = MartStore.for_settings(settings)
    progress_version = store.latest_version("goal_progress")
    if progress_version is None:
        raise RuntimeError("goal_progress has no published version yet; run releases/goal_progress first")
    stories_version = store.latest_version("stories")
    version = max(v for v in (progress_version, stories_version) if v)
    result = write_report(
        store.read("goal_progress", progress_version),
        store.read("indicator_values"),
        store.read("survey_results"),
        goals,
        registry,
        settings.warehouse_root / "reports" / "goal_report",
        version,
        stories=store.read("stories", stories_version) if stories_version else None,
        costs=store.read("exclusion_costs") if store.latest_version("exclusion_costs") else None,
        labels=labels,
        progress_version=progress_version,
        stories_version=stories_version,
        log=context.log.warning,
    )
    context.log.info(f"goal report written to {result.index} ({len(result.pages)} pages, {len(result.pdfs)} PDFs)")
    return MaterializeResult(metadata={
        "index": MetadataValue.url(result.index.as_uri()),
        "path": MetadataValue.path(str(result.index)),
        "latest": MetadataValue.path(str(result.latest)),
        "version": version,
        "pages": len(result.pages),
        "downloads": len(result.downloads),
        "pdfs": len(result.pdfs),
        "pdf_note": result.pdf_note or "",
    })


GOAL_ASSETS = [goals_mart, goal_progress_mart, goal_report]
