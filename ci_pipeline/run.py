"""`make run`: materialise the whole pipeline on the configured sources (by default the embedded snapshots).

Ingests every survey wave file present (one partition each), then runs pipeline_job in two steps (in
process, or with the executor CI_PIPELINE_EXECUTOR names), and prints what changed: which sources were
downloaded and which marts got a new version.

1. refresh: the assets that talk to the sources (raw/* with change detection, the KLASS geography).
2. build: everything else (staging, core, marts and their checks, releases, report).

The build is skipped when everything it reads is what the last complete build read: the same stored
source answers and KLASS geography, the same catalogue, checks and code, the same stored survey
responses, the same settings and the same UTC day (some checks compare dates with today), and every
mart's LATEST still names the version that build left. Its result would be identical, so nothing
would be published; skipping it is what makes a no-change rerun cheap.
"""

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd
from dagster import AssetKey, DagsterInstance, execute_job, in_process_executor, reconstructable

from ci_pipeline.archive import atomic_write, file_sha256
from ci_pipeline.config import ConfigError
from ci_pipeline.marts import MartStore, content_sha256
from ci_pipeline.settings import Settings

# Step-by-step DEBUG events belong in the Dagster UI; the terminal gets warnings and the summary below.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

PIPELINE_JOB = "pipeline_job"
# The asset layers that talk to the sources; the build step only reads what they stored.
REFRESH_LAYERS = ("raw", "geography")
LAST_BUILD_FILE = "last_complete_build.json"
# Libraries whose upgrade may change results (parsing, arithmetic, Parquet, checks).
RESULT_LIBRARIES = ("dagster", "pandas", "numpy", "pyarrow", "duckdb", "great_expectations", "scipy")


@dataclass
class RunSummary:
    success: bool
    waves: list = field(default_factory=list)  # one ci_pipeline.surveys.ingest.WaveReport per wave file
    sources_changed: list[str] = field(default_factory=list)
    sources_unchanged: list[str] = field(default_factory=list)
    # Unchanged sources whose data had to be requested to tell (no update stamp to ask first: Oslo's bank).
    sources_fetched_unchanged: list[str] = field(default_factory=list)
    marts: dict[str, dict] = field(default_factory=dict)  # mart -> {version, published, rows}
    failures: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    built: bool = False  # True when the build step ran and succeeded (False: skipped, failed or not reached)
    build_reason: str | None = None  # why the build step ran (None: skipped or not reached)

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

    def lines(self) -> list[str]:
        out = [report.line() for report in self.waves]
        if self.success and not self.built:
            out.append("every input is unchanged since the last complete build today; nothing rebuilt")
        if self.build_reason:
            out.append(f"build step ran: {self.build_reason}")
        for mart, info in sorted(self.marts.items()):
            state = "published new version" if info["published"] else "unchanged, LATEST stays"
            out.append(f"mart {mart}: {state} {info['version']} ({info['rows']} rows)")
        if self.sources_changed:
            out.append(f"sources downloaded (new or changed): {', '.join(sorted(self.sources_changed))}")
        fetched = sorted(self.sources_fetched_unchanged)
        not_fetched = sorted(set(self.sources_unchanged) - set(fetched))
        if self.sources_unchanged and not self.sources_changed:
            if fetched:
                out.append(f"all {len(self.sources_unchanged)} sources were unchanged since the last run; "
                           f"{len(fetched)} without an update stamp to ask first were fetched again, unchanged "
                           f"content: {', '.join(fetched)}; nothing else downloaded")
            else:
                out.append(f"all {len(self.sources_unchanged)} sources were unchanged since the last run; "
                           "nothing downloaded")
        elif self.sources_unchanged:
            if not_fetched:
                out.append(f"sources unchanged (not downloaded): {', '.join(not_fetched)}")
            if fetched:
                out.append(f"sources fetched, unchanged content (no update stamp to ask first): {', '.join(fetched)}")
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
            # Dagster wraps the asset's own exception; the innermost cause is what the code raised.
            while error.cause is not None:
                error = error.cause
            message = error.message.strip()
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
                                        raise_on_error=False)
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


def _tree_digest(digest, root: Path) -> None:
    if not root.exists():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(root).as_posix()}={file_sha256(path)}\n".encode())


def _stored_asset_digest(digest, warehouse_root: Path, key: AssetKey) -> None:
    """Digest of an asset's stored value (the layout of ci_pipeline/defs/io.py), minus what only says
    whether this particular run downloaded it."""
    base = warehouse_root / "assets" / Path(*key.path)
    parquet, as_json = base.with_name(base.name + ".parquet"), base.with_name(base.name + ".json")
    if parquet.exists():
        digest.update(f"{key.to_user_string()}={content_sha256(pd.read_parquet(parquet))}\n".encode())
    elif as_json.exists():
        value = json.loads(as_json.read_text(encoding="utf-8"))
        if isinstance(value, dict):
            value.pop("changed", None)
        digest.update(f"{key.to_user_string()}={json.dumps(value, sort_keys=True)}\n".encode())
    else:
        digest.update(f"{key.to_user_string()}=missing\n".encode())


def build_inputs(settings: Settings, refreshed: list[AssetKey]) -> dict[str, str]:
    """A digest of each kind of thing the build step reads (see the module docstring)."""
    parts = {
        "day": datetime.now(UTC).date().isoformat(),
        "settings": repr(settings),
        "libraries": ", ".join(f"{library} {metadata.version(library)}" for library in RESULT_LIBRARIES),
    }
    for label, root in (("code", Path(__file__).resolve().parent), ("catalogue", settings.catalogue_root),
                        ("checks", settings.checks_root), ("survey responses", settings.warehouse_root / "survey")):
        digest = hashlib.sha256()
        _tree_digest(digest, root)
        parts[label] = digest.hexdigest()
    digest = hashlib.sha256()
    for key in sorted(refreshed, key=lambda k: k.to_user_string()):
        _stored_asset_digest(digest, settings.warehouse_root, key)
    parts["source answers and geography"] = digest.hexdigest()
    return parts


def _last_build_path(settings: Settings) -> Path:
    return settings.state_root / LAST_BUILD_FILE


def _why_build(settings: Settings, inputs: dict[str, str]) -> str | None:
    """Why the build step must run, or None when the last complete build is still current."""
    path = _last_build_path(settings)
    if not path.exists():
        return "no complete build recorded in this warehouse"
    last = json.loads(path.read_text(encoding="utf-8"))
    changed = [name for name, digest in inputs.items() if last["inputs"].get(name) != digest]
    if changed:
        return "changed since the last complete build: " + ", ".join(changed)
    store = MartStore(settings.warehouse_root)
    moved = [mart for mart, version in last["marts"].items() if store.latest_version(mart) != version]
    if moved:
        return "LATEST no longer names the last build's version: " + ", ".join(moved)
    missing = [output for output in last["outputs"] if not Path(output).exists()]
    if missing or not store.catalog_path.exists():
        return "outputs of the last build are missing: " + ", ".join(missing or [str(store.catalog_path)])
    return None


def _record_build(settings: Settings, inputs: dict[str, str], outputs: list[str]) -> None:
    store = MartStore(settings.warehouse_root)
    record = {
        "inputs": inputs,
        "marts": {mart: store.latest_version(mart) for mart in store.marts()},
        "outputs": sorted(outputs),
        "built_at": datetime.now(UTC).isoformat(),
    }
    atomic_write(_last_build_path(settings), (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def _execute(job, instance: DagsterInstance, keys: list[AssetKey], summary: RunSummary) -> list[str]:
    """Run part of pipeline_job (the checks of the selected assets included); returns the paths its
    materialisations name, and records what changed in the summary."""
    if job.executor_def is in_process_executor:
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                        asset_selection=keys)
    else:
        # Step processes (or pods) load the code location again, with the environment's settings.
        from ci_pipeline.definitions import pipeline_job_from_environment

        result = execute_job(reconstructable(pipeline_job_from_environment), instance, run_config=QUIET,
                             asset_selection=keys)
    summary.run_ids.append(result.run_id)
    summary.success = result.success
    summary.failures += _failures(result)
    outputs = []
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        layer, name = materialization.asset_key.path[0], materialization.asset_key.path[-1]
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if layer == "raw" and "changed" in metadata:
            (summary.sources_changed if metadata["changed"] else summary.sources_unchanged).append(name)
            if not metadata["changed"] and metadata.get("fetched"):
                summary.sources_fetched_unchanged.append(name)
        if layer == "releases":
            summary.marts[name] = {k: metadata.get(k) for k in ("version", "published", "rows")}
        if isinstance(metadata.get("path"), str):
            outputs.append(metadata["path"])
    return outputs


def run_pipeline(settings: Settings, instance: DagsterInstance, defs=None) -> RunSummary:
    """Ingest new survey waves, refresh the sources, then build unless no input changed; what changed is
    in the returned summary."""
    from ci_pipeline.definitions import build_definitions

    if settings.executor != "in_process" and settings != Settings.from_env():
        raise ConfigError([(f"environment: CI_PIPELINE_EXECUTOR: {settings.executor} steps run in processes that "
                            "read their settings from the environment, and these settings differ from it: set them "
                            "there")])
    defs = defs or build_definitions(settings)
    summary = RunSummary(success=True)
    ingest_survey_waves(defs, instance, settings, summary)
    job = defs.resolve_job_def(PIPELINE_JOB)
    keys = sorted(job.asset_layer.selected_asset_keys, key=lambda k: k.to_user_string())
    refresh = [key for key in keys if key.path[0] in REFRESH_LAYERS]
    _execute(job, instance, refresh, summary)
    if not summary.success:
        return summary

    inputs = build_inputs(settings, refresh)
    summary.build_reason = _why_build(settings, inputs)
    if summary.build_reason is None:
        store = MartStore(settings.warehouse_root)
        for mart in store.marts():
            manifest = store.latest_manifest(mart)
            summary.marts[mart] = {"version": manifest["version"], "published": False, "rows": manifest["row_count"]}
        return summary

    outputs = _execute(job, instance, [key for key in keys if key not in refresh], summary)
    if summary.success:
        summary.built = True
        _record_build(settings, inputs, outputs)
    return summary


def main() -> int:
    try:
        settings = Settings.from_env()
        instance = dagster_instance(settings)
        print(f"mode: {settings.mode}; snapshots: {settings.snapshot_root}; warehouse: {settings.warehouse_root}")
        summary = run_pipeline(settings, instance)
    except ConfigError as error:
        # A setting or configuration file to fix: each problem on its own line, not a traceback.
        print(f"configuration problems (nothing was run):\n{error}", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line, file=sys.stdout if summary.exit_code == 0 else sys.stderr)
    print(f"catalogue: {settings.catalog_path}")
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
