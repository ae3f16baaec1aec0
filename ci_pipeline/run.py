"""`make run`: materialise the whole pipeline on the configured sources (by default the embedded snapshots).

Checks the settings and the warehouse first (ci_pipeline/preflight.py: one or two lines per problem,
nothing run). Then ingests every survey wave file whose content is not stored yet (one partition each),
and runs pipeline_job in two steps (in process, or with the executor CI_PIPELINE_EXECUTOR names), the two
steps the nightly schedule and its sensor run in a deployment (ci_pipeline/defs/automation.py):

1. refresh: the assets that talk to the sources (raw/* with change detection, the KLASS geography). Each
   reports the source's own data version, so an unchanged source leaves everything downstream in sync.
2. build: the assets Dagster counts as out of sync (its stale status: never materialised, a new code
   version, or an input with a new data version) and what depends on them; nothing when all are in sync.
   `build_selection` decides, the same function the nightly build uses: there is no second mechanism.

It prints what happened: every source (changed, unchanged, failed; read from the snapshot archive in
replay mode), what the build rebuilt and why, every mart (published or unchanged), where the report is.
An unexpected error is one line on the terminal; its traceback goes to <warehouse>/state/last_error.log.
"""

import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, DagsterInstance, execute_job, in_process_executor, reconstructable

from ci_pipeline.archive import file_sha256
from ci_pipeline.config import ConfigError
from ci_pipeline.defs.automation import (
    BUILD,
    MAKE_RUN,
    REFRESH,
    STEP_TAG,
    TRIGGER_TAG,
    build_selection,
    is_refresh_key,
)
from ci_pipeline.marts import MartStore
from ci_pipeline.preflight import preflight
from ci_pipeline.settings import Settings

# Step-by-step DEBUG events belong in the Dagster UI; the terminal gets warnings and the summary below.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

PIPELINE_JOB = "pipeline_job"
ERROR_LOG = "last_error.log"
REPORT_KEY = AssetKey(["reports", "goal_report"])


@dataclass
class RunSummary:
    success: bool
    mode: str = "replay"
    snapshot_root: Path | None = None  # where replay mode reads the sources' answers
    waves: list = field(default_factory=list)  # one ci_pipeline.surveys.ingest.WaveReport per wave file
    sources_changed: list[str] = field(default_factory=list)
    sources_unchanged: list[str] = field(default_factory=list)
    # Unchanged sources whose data had to be requested to tell (no update stamp to ask first: Oslo's bank).
    sources_fetched_unchanged: list[str] = field(default_factory=list)
    sources_failed: list[str] = field(default_factory=list)  # raw assets whose refresh failed
    marts: dict[str, dict] = field(default_factory=dict)  # mart -> {version, published, rows}
    failures: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    built: bool = False  # True when the build step ran and succeeded (False: nothing to build, failed or not reached)
    build_reason: str | None = None  # what was out of sync, when the build step ran
    report: str | None = None  # the goal report's index.html (the latest materialisation's)

    def _waves(self, status: str) -> list[str]:
        return [report.wave for report in self.waves if report.status == status]

    @property
    def waves_ingested(self) -> list[str]:
        return self._waves("ingested")

    @property
    def waves_unchanged(self) -> list[str]:
        return self._waves("unchanged")

    @property
    def waves_refused(self) -> list[str]:
        """Waves whose file was refused: the rest of the run went on, but a person must act (exit code 1)."""
        return self._waves("refused")

    @property
    def exit_code(self) -> int:
        return 0 if self.success and not self.waves_refused else 1

    def _source_lines(self) -> list[str]:
        total = len(self.sources_changed) + len(self.sources_unchanged) + len(self.sources_failed)
        if not total:
            return []
        replay = self.mode == "replay"
        where = f"read from the snapshot archive {self.snapshot_root} (replay mode: no network)" if replay \
            else f"asked in {self.mode} mode"
        counts = [f"{len(self.sources_changed)} new or changed", f"{len(self.sources_unchanged)} unchanged"]
        if self.sources_failed:
            counts.append(f"{len(self.sources_failed)} FAILED")
        out = [f"{total} source{'s' if total != 1 else ''} {where}: {', '.join(counts)}"]
        if self.sources_changed:
            verb = "snapshot answers new or changed since the last run" if replay else "downloaded (new or changed)"
            out.append(f"  {verb}: {', '.join(sorted(self.sources_changed))}")
        fetched = sorted(self.sources_fetched_unchanged)
        if fetched:
            again = "read again" if replay else "fetched again"
            out.append(f"  {again}, unchanged content (no update stamp to ask first): {', '.join(fetched)}")
        if self.sources_failed:
            out.append(f"  FAILED (the last good answers stand): {', '.join(sorted(self.sources_failed))}")
        return out

    def lines(self) -> list[str]:
        out = [report.line() for report in self.waves]
        out += self._source_lines()
        if self.build_reason:
            out.append(f"build step ran; out of sync: {self.build_reason}")
        elif self.success:
            out.append("every asset is in sync with its code and inputs (Dagster's data and code versions); "
                       "nothing rebuilt")
        for mart, info in sorted(self.marts.items()):
            state = "published new version" if info["published"] else "unchanged, LATEST stays"
            out.append(f"mart {mart}: {state} {info['version']} ({info['rows']} rows)")
        if self.report:
            out.append(f"goal report: {self.report}")
        out += [f"FAILED {failure}" for failure in self.failures]
        published = sorted(mart for mart, info in self.marts.items() if info.get("published"))
        if not self.success and published:
            out.append(f"the run did not complete; new versions were published of {', '.join(published)}; "
                       "every other published mart version is unchanged")
        elif not self.success:
            out.append("the run failed; every published mart version is unchanged")
        elif self.waves_refused:
            out.append(f"survey wave(s) {', '.join(self.waves_refused)} refused (see above): what was published "
                       "for them stays; everything else ran")
        return out


def dagster_instance(settings: Settings) -> DagsterInstance:
    """A persistent instance (run history for `make dev`) in DAGSTER_HOME, by default .dagster_home/."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.repo_root / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return DagsterInstance.get()


def _failures(result) -> list[str]:
    """One line per failed step with the error that failed it (for a source: its name and URL)."""
    lines = []
    for event in result.all_events:
        if not event.is_failure:
            continue
        message = event.message
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            # Dagster wraps the asset's own exception: unwrap Dagster's errors, and stop at the first error
            # the pipeline raised, which names the table or file; what it was raised from (a bare
            # FileNotFoundError, a library's exception) stays in the event log.
            while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
                error = error.cause
            # "ci_pipeline.archive.ArchiveError: ..." reads as "ArchiveError: ..."
            message = re.sub(r"^(?:\w+\.)+(\w+): ", r"\1: ", error.message.strip())
        lines.append(f"{event.step_key or 'run'}: {message}")
    return lines


def ingest_survey_waves(defs, instance: DagsterInstance, settings: Settings, summary: RunSummary) -> None:
    """One survey_ingest_job run per wave file whose content is not stored yet (same sha256: skipped). A
    refused or failing wave is reported and skipped; the other waves and the rest of the run go on."""
    from ci_pipeline.defs.surveys import survey_waves_partitions
    from ci_pipeline.surveys.ingest import (
        WaveReport,
        responses_path,
        stored_report,
        stored_sha256,
        wave_files,
        wave_id_from_path,
    )

    job = defs.resolve_job_def("survey_ingest_job")
    for path in wave_files(settings.survey_root):
        wave = wave_id_from_path(path)
        if stored_sha256(responses_path(settings.warehouse_root, wave)) == file_sha256(path):
            summary.waves.append(stored_report(settings.warehouse_root, wave, path.name))
            continue
        instance.add_dynamic_partitions(survey_waves_partitions.name, [wave])
        result = job.execute_in_process(instance=instance, partition_key=wave, run_config=QUIET,
                                        raise_on_error=False, tags={TRIGGER_TAG: MAKE_RUN})
        summary.run_ids.append(result.run_id)
        if result.success:
            metadata = result.asset_materializations_for_node("survey_wave_ingest")[0].metadata
            counts = {key: metadata[key].value for key in ("rows_in", "rows_accepted", "rows_quarantined",
                                                           "quarantine_reasons", "dont_know") if key in metadata}
            summary.waves.append(WaveReport(wave, path.name, "ingested", **counts))
            continue
        summary.waves.append(_refused_wave(result, wave, path))


def _refused_wave(result, wave: str, path: Path):
    """The report of a wave whose ingest failed: the pipeline's own reason (the step's Failure), not the
    innermost library error; any other failure as the step reports it."""
    from ci_pipeline.surveys.ingest import WaveReport

    for event in result.all_events:
        failure = event.step_failure_data.user_failure_data if event.is_step_failure else None
        if failure is not None and "report" in failure.metadata:
            return WaveReport(**{**failure.metadata["report"].value, "status": "refused"})
    return WaveReport(wave, path.name, "refused", problem="; ".join(_failures(result)))


def _execute(job, instance: DagsterInstance, keys: list[AssetKey], summary: RunSummary, step: str,
             from_environment: bool) -> None:
    """Run part of pipeline_job (the checks of the selected assets included), tagged with its step, and
    record what happened in the summary. `from_environment`: the job is the one the environment's
    settings give, so it can be run as Dagster runs a launched job."""
    tags = {STEP_TAG: step, TRIGGER_TAG: MAKE_RUN}
    if job.executor_def is in_process_executor and not (from_environment and instance.is_persistent):
        # execute_in_process keeps every step's output in memory until the run ends (for its result's
        # output_for_node): fine for definitions a caller built, not for a build of millions of rows.
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                        asset_selection=keys, tags=tags)
    else:
        # Step processes (or pods) load the code location again, with the environment's settings; the
        # in-process executor runs the steps here, one after another, and keeps no output.
        from ci_pipeline.definitions import pipeline_job_from_environment

        result = execute_job(reconstructable(pipeline_job_from_environment), instance, run_config=QUIET,
                             asset_selection=keys, tags=tags)
    summary.run_ids.append(result.run_id)
    summary.success = result.success
    summary.failures += _failures(result)
    materialised = set()
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        materialised.add(materialization.asset_key)
        layer, name = materialization.asset_key.path[0], materialization.asset_key.path[-1]
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if layer == "raw" and "changed" in metadata:
            (summary.sources_changed if metadata["changed"] else summary.sources_unchanged).append(name)
            if not metadata["changed"] and metadata.get("fetched"):
                summary.sources_fetched_unchanged.append(name)
        if layer == "releases":
            summary.marts[name] = {k: metadata.get(k) for k in ("version", "published", "rows")}
    # A source whose refresh failed has no materialisation: count it, so every source is accounted for.
    summary.sources_failed += sorted(key.path[-1] for key in keys if key.path[0] == "raw" and key not in materialised)


def _unchanged_marts(settings: Settings, summary: RunSummary) -> None:
    """Every published mart the build did not touch, as its LATEST version (so each mart is reported)."""
    store = MartStore.for_settings(settings)
    for mart in store.marts():
        if mart not in summary.marts:
            manifest = store.latest_manifest(mart)
            summary.marts[mart] = {"version": manifest["version"], "published": False, "rows": manifest["row_count"]}


def _report_path(instance: DagsterInstance) -> str | None:
    event = instance.get_latest_materialization_event(REPORT_KEY)
    if event is None or event.asset_materialization is None:
        return None
    path = event.asset_materialization.metadata.get("path")
    return str(path.value) if path is not None else None


def run_pipeline(settings: Settings, instance: DagsterInstance, defs=None) -> RunSummary:
    """Ingest new survey waves, refresh the sources, then build what is out of sync (module docstring);
    what happened is in the returned summary."""
    from ci_pipeline.definitions import build_definitions

    if settings.executor != "in_process" and settings != Settings.from_env():
        raise ConfigError([(f"environment: CI_PIPELINE_EXECUTOR: {settings.executor} steps run in processes that "
                            "read their settings from the environment, and these settings differ from it: set them "
                            "there")])
    from_environment = defs is None and settings == Settings.from_env()
    defs = defs or build_definitions(settings)
    summary = RunSummary(success=True, mode=settings.mode, snapshot_root=settings.snapshot_root)
    ingest_survey_waves(defs, instance, settings, summary)
    job = defs.resolve_job_def(PIPELINE_JOB)
    keys = sorted(job.asset_layer.selected_asset_keys, key=lambda k: k.to_user_string())
    _execute(job, instance, [key for key in keys if is_refresh_key(key)], summary, REFRESH, from_environment)
    if summary.success:
        selection = build_selection(instance, defs.resolve_asset_graph(), keys)
        if selection:
            summary.build_reason = selection.describe()
            _execute(job, instance, selection.keys, summary, BUILD, from_environment)
            summary.built = summary.success
    _unchanged_marts(settings, summary)
    summary.report = _report_path(instance)
    return summary


def _log_error(settings: Settings) -> Path:
    """Write the current exception's traceback where a person can find it: the warehouse's state folder,
    or the temporary folder when that cannot be written."""
    text = traceback.format_exc()
    for folder in (settings.state_root, Path(os.environ.get("TMPDIR", "/tmp"))):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / ERROR_LOG
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(not written)")


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration problems (nothing was run):\n{error}", file=sys.stderr)
        return 2
    problems = preflight(settings)
    if problems:
        print("configuration problems (nothing was run):\n" + "\n".join(problems), file=sys.stderr)
        return 2
    try:
        instance = dagster_instance(settings)
        source = f"snapshots: {settings.snapshot_root}" if settings.mode == "replay" else "sources: the live APIs"
        print(f"mode: {settings.mode}; {source}; warehouse: {settings.warehouse_url or settings.warehouse_root}")
        summary = run_pipeline(settings, instance)
    except ConfigError as error:
        # A setting or configuration file to fix: each problem on its own line, not a traceback.
        print(f"configuration problems (nothing was run):\n{error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - one line for a person, the traceback in the log
        log = _log_error(settings)
        print(f"the run stopped: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}\n"
              f"the traceback is in {log}; every published mart version is unchanged", file=sys.stderr)
        return 1
    for line in summary.lines():
        print(line, file=sys.stdout if summary.exit_code == 0 else sys.stderr)
    print(f"catalogue: {settings.catalog_path}" + (f" (and {settings.warehouse_url}/catalog.duckdb)"
                                                     if settings.warehouse_url else ""))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
