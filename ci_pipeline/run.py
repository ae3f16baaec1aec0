"""`make run`: materialise the whole pipeline on the configured sources (by default the embedded snapshots).

Ingests every survey wave file present (one partition each), then runs pipeline_job in process, and
prints what changed: which sources were downloaded and which marts got a new version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster import DagsterInstance

from ci_pipeline.settings import Settings


def _instance(settings: Settings) -> DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.repo_root / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()


# Step-by-step DEBUG events belong in the Dagster UI; the terminal gets warnings and the summary below.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def ingest_survey_waves(defs, instance: DagsterInstance, settings: Settings) -> bool:
    """One survey_ingest_job run per wave file whose content is not stored yet (same sha256: skipped)."""
    from ci_pipeline.defs.surveys import survey_waves_partitions
    from ci_pipeline.surveys.ingest import responses_path, stored_sha256, wave_files, wave_id_from_path
    from ci_pipeline.surveys.readers import file_sha256

    job = defs.resolve_job_def("survey_ingest_job")
    for path in wave_files(settings.survey_root):
        wave = wave_id_from_path(path)
        if stored_sha256(responses_path(settings.warehouse_root, wave)) == file_sha256(path):
            print(f"survey wave {wave}: {path.name} already ingested (same sha256)")
            continue
        instance.add_dynamic_partitions(survey_waves_partitions.name, [wave])
        result = job.execute_in_process(instance=instance, partition_key=wave, run_config=QUIET,
                                        raise_on_error=False)
        if not result.success:
            for event in result.all_events:
                if event.is_failure:
                    print(f"FAILED survey wave {wave} ({path}): {event.message}", file=sys.stderr)
            return False
        print(f"survey wave {wave}: ingested {path.name}")
    return True


def main() -> int:
    settings = Settings.from_env()
    instance = _instance(settings)
    from ci_pipeline.definitions import build_definitions

    defs = build_definitions(settings)
    print(f"mode: {settings.mode}; snapshots: {settings.snapshot_root}; warehouse: {settings.warehouse_root}")
    if not ingest_survey_waves(defs, instance, settings):
        return 1

    result = defs.resolve_job_def("pipeline_job").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    if not result.success:
        failed = [e for e in result.all_events if e.is_failure]
        for event in failed:
            print(f"FAILED {event.step_key}: {event.message}", file=sys.stderr)
        print("pipeline_job failed; every published mart version is unchanged", file=sys.stderr)
        return 1

    changed_sources, unchanged_sources = [], []
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key.path
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if key[0] == "raw" and "changed" in metadata:
            (changed_sources if metadata["changed"] else unchanged_sources).append(key[1])
        if key[0] == "releases":
            state = "published new version" if metadata.get("published") else "unchanged, LATEST stays"
            print(f"mart {key[1]}: {state} {metadata.get('version')} ({metadata.get('rows')} rows)")
    if changed_sources:
        print(f"sources downloaded (new or changed): {', '.join(sorted(changed_sources))}")
    if unchanged_sources and not changed_sources:
        print(f"all {len(unchanged_sources)} sources were unchanged since the last run; nothing downloaded")
    elif unchanged_sources:
        print(f"sources unchanged (not downloaded): {', '.join(sorted(unchanged_sources))}")
    print(f"catalogue: {settings.catalog_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
