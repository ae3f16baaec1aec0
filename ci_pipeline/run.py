"""`make run`: materialise the whole pipeline on the configured sources (by default the embedded snapshots).

Ingests every survey wave file present (one partition each), then runs pipeline_job in process, and
prints what changed: which sources were downloaded and which marts got a new version.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance

from ci_pipeline.settings import Settings

# Step-by-step DEBUG events belong in the Dagster UI; the terminal gets warnings and the summary below.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    success: bool
    waves_ingested: list[str] = field(default_factory=list)
    waves_unchanged: list[str] = field(default_factory=list)
    sources_changed: list[str] = field(default_factory=list)
    sources_unchanged: list[str] = field(default_factory=list)
    marts: dict[str, dict] = field(default_factory=dict)  # mart -> {version, published, rows}
    failures: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"survey wave {w}: ingested" for w in self.waves_ingested]
        out += [f"survey wave {w}: already ingested (same file content)" for w in self.waves_unchanged]
        for mart, info in sorted(self.marts.items()):
            state = "published new version" if info["published"] else "unchanged, LATEST stays"
            out.append(f"mart {mart}: {state} {info['version']} ({info['rows']} rows)")
        if self.sources_changed:
            out.append(f"sources downloaded (new or changed): {', '.join(sorted(self.sources_changed))}")
        if self.sources_unchanged and not self.sources_changed:
            out.append(f"all {len(self.sources_unchanged)} sources were unchanged since the last run; nothing downloaded")
        elif self.sources_unchanged:
            out.append(f"sources unchanged (not downloaded): {', '.join(sorted(self.sources_unchanged))}")
        out += [f"FAILED {failure}" for failure in self.failures]
        if not self.success:
            out.append("the run failed; every published mart version is unchanged")
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
    return [f"{event.step_key or 'run'}: {event.message}" for event in result.all_events if event.is_failure]


def ingest_survey_waves(defs, instance: DagsterInstance, settings: Settings, summary: RunSummary) -> None:
    """One survey_ingest_job run per wave file whose content is not stored yet (same sha256: skipped)."""
    from ci_pipeline.archive import file_sha256
    from ci_pipeline.defs.surveys import survey_waves_partitions
    from ci_pipeline.surveys.ingest import responses_path, stored_sha256, wave_files, wave_id_from_path

    job = defs.resolve_job_def("survey_ingest_job")
    for path in wave_files(settings.survey_root):
        wave = wave_id_from_path(path)
        if stored_sha256(responses_path(settings.warehouse_root, wave)) == file_sha256(path):
            summary.waves_unchanged.append(wave)
            continue
        instance.add_dynamic_partitions(survey_waves_partitions.name, [wave])
        result = job.execute_in_process(instance=instance, partition_key=wave, run_config=QUIET,
                                        raise_on_error=False)
        summary.run_ids.append(result.run_id)
        if not result.success:
            summary.success = False
            summary.failures += [f"survey wave {wave} ({path}): {f}" for f in _failures(result)]
            return
        summary.waves_ingested.append(wave)


def run_pipeline(settings: Settings, instance: DagsterInstance, defs=None) -> RunSummary:
    """Ingest new survey waves, then run pipeline_job; what changed is in the returned summary."""
    from ci_pipeline.definitions import build_definitions

    defs = defs or build_definitions(settings)
    summary = RunSummary(success=True)
    ingest_survey_waves(defs, instance, settings, summary)
    if not summary.success:
        return summary
    result = defs.resolve_job_def("pipeline_job").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    summary.run_ids.append(result.run_id)
    summary.success = result.success
    summary.failures += _failures(result)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        layer, name = materialization.asset_key.path[0], materialization.asset_key.path[-1]
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if layer == "raw" and "changed" in metadata:
            (summary.sources_changed if metadata["changed"] else summary.sources_unchanged).append(name)
        if layer == "releases":
            summary.marts[name] = {k: metadata.get(k) for k in ("version", "published", "rows")}
    return summary


def main() -> int:
    settings = Settings.from_env()
    instance = dagster_instance(settings)
    print(f"mode: {settings.mode}; snapshots: {settings.snapshot_root}; warehouse: {settings.warehouse_root}")
    summary = run_pipeline(settings, instance)
    for line in summary.lines():
        print(line, file=sys.stdout if summary.success else sys.stderr)
    print(f"catalogue: {settings.catalog_path}")
    return 0 if summary.success else 1


if __name__ == "__main__":
    sys.exit(main())
