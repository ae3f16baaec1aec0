"""When the pipeline runs and what it rebuilds: one mechanism for `make run`, the nightly schedule and new
survey waves, and the tags that say which run was which.

1. Refresh: the assets that talk to the sources (raw/*, with change detection against each source, and the
   KLASS geography) run every time: asking is the only way to learn whether a source changed. Each raw
   asset reports the source's own data version (defs/versions.py), so an unchanged source leaves it as it
   was.
2. Build: every other asset that is out of sync, and what depends on it. Out of sync is Dagster's own stale
   status, the one its UI shows as "Unsynced" and `RunRequest(stale_assets_only=True)` uses: an asset
   never materialised, or whose code version or whose inputs' data versions differ from what its last
   materialisation recorded. After an unchanged refresh nothing is out of sync, so nothing is built and
   nothing is published; the answer costs a few reads of the run storage. An asset whose stored file is
   gone (a warehouse deleted or restored without its run history) counts as out of sync too, and a
   release is built with its staged mart, whose blocking suites must pass in the same build.

Who runs it: `make run` (ci_pipeline/run.py) does both steps in process; in a deployment, the
`nightly_refresh` schedule runs refresh_job at 02:30 Oslo time and the `build_after_refresh` sensor asks,
once a refresh (or a survey wave's ingest) has succeeded, for the same build selection, or records why
there is nothing to build. The survey_wave_sensor (defs/surveys.py) ingests new wave files, so a new wave
reaches the survey marts, goal_progress and the report through the same sensor.

Run tags: `ci_pipeline/step` is refresh, build or survey_ingest; `ci_pipeline/trigger` is make_run,
nightly, survey_wave or ui (a run launched by hand); a build started by the sensor names the run it
followed in `ci_pipeline/after_run`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    SkipReason,
    define_asset_job,
    run_status_sensor,
)
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContext

from ci_pipeline.marts.objectstore import exists

STEP_TAG = "ci_pipeline/step"
TRIGGER_TAG = "ci_pipeline/trigger"
AFTER_RUN_TAG = "ci_pipeline/after_run"
REFRESH, BUILD, SURVEY_INGEST = "refresh", "build", "survey_ingest"
MAKE_RUN, NIGHTLY, SURVEY_WAVE, BY_HAND = "make_run", "nightly", "survey_wave", "ui"

# The asset layers that talk to the sources; the build only reads what they stored.
REFRESH_LAYERS = ("raw", "geography")
# 02:30 Oslo time: clear of SSB's metadata runs (05:00, 11:30) and the 07:55-08:15 publishing peak.
NIGHTLY_CRON = "30 2 * * *"

refresh_job = define_asset_job(
    "refresh_job",
    selection=AssetSelection.key_prefixes(*REFRESH_LAYERS),
    description="Ask every source whether it changed (downloading only what did) and rebuild the KLASS "
    "geography; the build_after_refresh sensor then builds whatever this left out of sync.",
    tags={STEP_TAG: REFRESH},
)

nightly_refresh = ScheduleDefinition(
    name="nightly_refresh",
    job=refresh_job,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone="Europe/Oslo",
    default_status=DefaultScheduleStatus.RUNNING,
    tags={TRIGGER_TAG: NIGHTLY},
    description="Nightly refresh at 02:30 Oslo time, away from SSB's 05:00/11:30 maintenance and 08:00 "
    "publishing; build_after_refresh then builds only what the refresh left out of sync.",
)


def is_refresh_key(key: AssetKey) -> bool:
    return key.path[0] in REFRESH_LAYERS


class _Loading(LoadingContext):
    """The request scope Dagster's stale-status resolver batches its reads in (one per question)."""

    def __init__(self, instance: DagsterInstance):
        self._instance = instance
        self._loaders: dict = {}

    @property
    def instance(self) -> DagsterInstance:
        return self._instance

    @property
    def loaders(self) -> dict:
        return self._loaders


def out_of_sync(instance: DagsterInstance, asset_graph: BaseAssetGraph,
                keys: Iterable[AssetKey], partition_key: str | None = None) -> dict[AssetKey, str]:
    """The keys Dagster counts as stale or missing, each with why (its own words for the UI's "Unsynced")."""
    resolver = CachingStaleStatusResolver(instance, asset_graph, _Loading(instance))
    # One query for every asset's latest record, instead of one (with its own SQLite connection) per asset and
    # per input the resolver looks at: 2.2-4.8 s -> 0.2-0.3 s for the build's 47 assets.
    resolver.instance_queryer.prefetch_asset_records(asset_graph.get_all_asset_keys())
    found = {}
    for key in keys:
        status = resolver.get_status(key, partition_key)
        if status == StaleStatus.MISSING:
            found[key] = "never materialised"
        elif status == StaleStatus.STALE:
            found[key] = "; ".join(
                f"{cause.reason}: {cause.dependency.asset_key.to_user_string()}" if cause.dependency
                and cause.dependency.asset_key != key else cause.reason
                for cause in resolver.get_stale_causes(key, partition_key))
    return found


@dataclass
class BuildSelection:
    """What a build materialises: `reasons` for the assets out of sync, and `keys`, those and every asset
    of the build downstream of them (their inputs are about to change)."""

    keys: list[AssetKey] = field(default_factory=list)
    reasons: dict[AssetKey, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def describe(self, limit: int = 8) -> str:
        shown = [f"{key.to_user_string()} ({reason})" for key, reason in sorted(
            self.reasons.items(), key=lambda item: item[0].to_user_string())]
        more = f"; and {len(shown) - limit} more" if len(shown) > limit else ""
        return "; ".join(shown[:limit]) + more


def build_candidates(asset_graph: BaseAssetGraph, job_keys: Iterable[AssetKey]) -> set[AssetKey]:
    """The build step's assets: the job's unpartitioned assets outside the refresh layers."""
    return {key for key in job_keys if not is_refresh_key(key) and not asset_graph.get(key).is_partitioned}


def missing_outputs(instance: DagsterInstance, keys: Iterable[AssetKey]) -> dict[AssetKey, str]:
    """The keys whose last materialisation names a stored file or folder (`path` metadata) that is gone:
    Dagster's versions say such an asset is in sync, but what it wrote has been deleted (a warehouse
    removed or restored without its run history)."""
    found = {}
    for key, event in instance.get_latest_materialization_events(list(keys)).items():
        path = event.asset_materialization.metadata.get("path") if event and event.asset_materialization else None
        if path is not None and isinstance(path.value, str) and not exists(path.value):
            found[key] = f"its stored value {path.value} is missing"
    return found


def build_selection(instance: DagsterInstance, asset_graph: BaseAssetGraph,
                    job_keys: Iterable[AssetKey]) -> BuildSelection:
    """The assets of a job (`job_keys`: pipeline_job's) a build must materialise now (module docstring)."""
    candidates = sorted(build_candidates(asset_graph, job_keys), key=AssetKey.to_user_string)
    reasons = out_of_sync(instance, asset_graph, candidates)
    reasons.update(missing_outputs(instance, [key for key in candidates if key not in reasons]))
    selected: set[AssetKey] = set()
    pending = list(reasons)
    while pending:
        key = pending.pop()
        if key in selected or key not in candidates:
            continue
        selected.add(key)
        node = asset_graph.get(key)
        # A multi-asset that cannot run in part (one computation, several outputs) runs whole.
        pending += [*node.child_keys, *node.execution_set_asset_keys]
        if key.path[0] == "releases":
            # A release publishes only what its blocking suites passed in the same build (defs/releases.py):
            # the staged mart is built and audited again with it.
            pending += [parent for parent in node.parent_keys if parent.path[0] == "marts"]
    return BuildSelection(sorted(selected, key=AssetKey.to_user_string), reasons)


def build_after_refresh_sensor(pipeline_job, monitored_jobs) -> object:
    """The sensor that builds what a successful refresh or survey ingest left out of sync (in a deployment
    whose daemon runs sensors; `make run` builds in its own process and is ignored here)."""

    @run_status_sensor(
        name="build_after_refresh",
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=monitored_jobs,
        request_job=pipeline_job,
        default_status=DefaultSensorStatus.RUNNING,
        description="After a successful refresh_job or survey_ingest_job run, builds every asset that is "
        "out of sync with its code or inputs (and what depends on it); an unchanged refresh builds nothing.",
    )
    def build_after_refresh(context: RunStatusSensorContext):
        run = context.dagster_run
        trigger = run.tags.get(TRIGGER_TAG, BY_HAND)
        if trigger == MAKE_RUN:
            return SkipReason(f"run {run.run_id} was started by make run, which builds in its own process")
        repository = context.repository_def
        selection = build_selection(context.instance, repository.asset_graph,
                                    repository.get_job(pipeline_job.name).asset_layer.selected_asset_keys)
        if not selection:
            return SkipReason(f"after run {run.run_id}: every asset is in sync with its code and inputs; "
                              "nothing to build")
        context.log.info(f"building {len(selection.keys)} asset(s); out of sync: {selection.describe()}")
        return RunRequest(
            run_key=f"build-after-{run.run_id}",
            asset_selection=selection.keys,
            tags={STEP_TAG: BUILD, TRIGGER_TAG: trigger, AFTER_RUN_TAG: run.run_id},
        )

    return build_after_refresh
