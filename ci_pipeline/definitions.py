"""The Dagster code location: every asset, check, job, schedule and sensor, assembled in one place.

    raw/<table>          archived API answers (SSB, FHI, Oslo statbank) or        group sources
                         reference-series checksums, change-detected
    staging/<table>      tidy observations per catalogue entry                    group staging
    geography/*          KLASS classifications: regions, code history             group geography
    core/observations    every statistical source harmonised and broken down,     group core
                         plus the derived indicators
    survey/*             wave ingestion (one partition per wave)                  group survey
    marts/<mart>         staged mart builds, audited by blocking suites           group marts
    releases/<mart>      promotion to an immutable version + LATEST               group releases
    reports/goal_report  the static HTML goal report                              group reports
"""

import importlib

from dagster import (
    AssetKey,
    AssetSelection,
    Definitions,
    ExecutorDefinition,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)

from ci_pipeline.catalogue import load_catalogue
from ci_pipeline.config import ConfigError
from ci_pipeline.defs.annotations import annotate, check_owner_groups
from ci_pipeline.defs.automation import build_after_refresh_sensor, nightly_refresh, refresh_job
from ci_pipeline.defs.checks import build_suite_checks, unknown_suite_assets
from ci_pipeline.defs.costs import COST_ASSETS
from ci_pipeline.defs.geography import build_geography_assets
from ci_pipeline.defs.goals import GOAL_ASSETS
from ci_pipeline.defs.io import WarehouseIOManager
from ci_pipeline.defs.releases import build_release_assets
from ci_pipeline.defs.resources import PipelineResource, catalogue_resource, survey_sql_resource
from ci_pipeline.defs.sources import build_source_assets
from ci_pipeline.defs.stories import STORY_ASSETS
from ci_pipeline.defs.surveys import SURVEY_ASSETS, SURVEY_JOBS, SURVEY_SENSORS, survey_ingest_job
from ci_pipeline.defs.versions import CodeVersions
from ci_pipeline.owners import load_ownership
from ci_pipeline.quality.suites import load_suites
from ci_pipeline.settings import Settings


class DefinitionsError(Exception):
    pass


# The step-per-pod executors: module and pyproject extra. Configured in deploy/, not run here (no cluster).
POD_EXECUTORS = {"k8s": ("dagster_k8s", "k8s"), "celery_k8s": ("dagster_celery_k8s", "celery-k8s")}


def pipeline_executor(name: str) -> ExecutorDefinition:
    """The executor CI_PIPELINE_EXECUTOR names (in_process, multiprocess, k8s or celery_k8s)."""
    if name == "in_process":
        return in_process_executor
    if name == "multiprocess":
        # Each step process forks from a server that has already imported the definitions, the instance's
        # storage (SQLite or Postgres) and Great Expectations (the checks): seconds less per step than a
        # fresh interpreter. A module that is not installed is skipped.
        return multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": [
            "ci_pipeline.definitions", "dagster._core.storage.sqlite_storage", "dagster_postgres",
            "great_expectations"]}}})
    module_name, extra = POD_EXECUTORS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        problem = f"environment: CI_PIPELINE_EXECUTOR: {name} needs {module_name} (pip install 'ci_pipeline[{extra}]')"
        raise ConfigError([problem]) from None
    return getattr(module, f"{name}_job_executor")


def _partitioned(assets) -> set[AssetKey]:
    return {key for a in assets if a.partitions_def is not None for key in a.keys}


def build_definitions(settings: Settings | None = None, include_checks: bool = True) -> Definitions:
    """All definitions for one settings object (paths, mode, HTTP behaviour; from the environment when
    not given), so tests and benchmarks can point them at a temporary warehouse or snapshot archive. Every
    asset, check, sensor and the IO manager reads them from the one `pipeline` resource. include_checks=False
    leaves out the expectation suites (each raw asset's freshness check is part of its own step)."""
    settings = settings or Settings.from_env()
    specs = load_catalogue(settings.catalogue_root)
    geography_assets = build_geography_assets([spec.name for spec in specs])
    staged_assets = [*build_source_assets(specs), *geography_assets, *SURVEY_ASSETS, *GOAL_ASSETS, *STORY_ASSETS,
                     *COST_ASSETS]
    built_keys = {key for a in staged_assets for key in a.keys}
    marts = sorted(key.path[1] for key in built_keys if key.path[0] == "marts")

    checks, suites = [], []
    if include_checks:
        suites = load_suites(settings.checks_root)
        unknown = unknown_suite_assets(suites, built_keys)
        if unknown:
            raise DefinitionsError("expectation suites name assets that do not exist: " + "; ".join(unknown))
        checks = build_suite_checks(suites, built_keys)
    check_keys_by_mart = {
        mart: [ck for c in checks for ck in c.check_keys if ck.asset_key == AssetKey(["marts", mart])]
        for mart in marts
    }
    blocking = {key for c in checks for key in c.check_keys if c.get_spec_for_check_key(key).blocking}
    release_assets = build_release_assets(marts, check_keys_by_mart, blocking)
    # Code versions, owners, column schemas and code references (defs/annotations.py).
    ownership = load_ownership(settings.catalogue_root, root=settings.repo_root)
    check_owner_groups(ownership, [*staged_assets, *release_assets], settings.catalogue_root)
    versions = CodeVersions(settings, suites, {spec.name: spec for spec in specs})
    assets = annotate([*staged_assets, *release_assets], versions, ownership)
    executor = pipeline_executor(settings.executor)

    pipeline_job = define_asset_job(
        "pipeline_job",
        selection=AssetSelection.all() - AssetSelection.assets(*_partitioned(assets)),
        description="Refresh every source (downloading only what changed), rebuild, audit and publish every mart "
        "and the goal report. Survey waves are ingested by survey_ingest_job, one partition per wave.",
        executor_def=executor,
    )
    # When things run and what a build rebuilds (defs/automation.py): the nightly refresh, and a build of
    # whatever a refresh or a survey wave left out of sync.
    build_after_refresh = build_after_refresh_sensor(pipeline_job, [refresh_job, survey_ingest_job])
    pipeline = PipelineResource(settings=settings)
    return Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[pipeline_job, refresh_job, *SURVEY_JOBS],
        schedules=[nightly_refresh],
        sensors=[*SURVEY_SENSORS, build_after_refresh],
        resources={
            "pipeline": pipeline,
            "io_manager": WarehouseIOManager(pipeline=pipeline),
            "catalogue": catalogue_resource(settings),
            "survey_sql": survey_sql_resource(),
        },
        executor=executor,
    )


_IMPORTED_WITH = Settings.from_env()
defs = build_definitions(_IMPORTED_WITH)


def pipeline_job_from_environment():
    """pipeline_job of the definitions the environment's settings give now: what run.py hands
    dagster.execute_job (which needs a module-level function). A step process loads this module afresh;
    in a process whose environment changed since it imported this module (a test pointing a run at its
    own warehouse), the definitions are built again for the settings of now."""
    settings = Settings.from_env()
    current = defs if settings == _IMPORTED_WITH else build_definitions(settings)
    return current.resolve_job_def("pipeline_job")
