"""Dagster layer of the survey subsystem: wave partitions, ingest assets, survey marts and the wave sensor.

Thin by design: every rule lives in ci_pipeline.surveys. Paths come from the `pipeline` resource
(PipelineResource), so build_definitions(settings) governs them as it does the other assets: the codebook
from <catalogue>/surveys, wave files from <survey_root>/waves and <survey_root>/incoming, stored
responses and quarantine under <warehouse>/survey/.
"""

import json
from collections import Counter

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ci_pipeline.archive import file_sha256
from ci_pipeline.defs.automation import BUILD, STEP_TAG, SURVEY_INGEST, SURVEY_WAVE, TRIGGER_TAG
from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.marts import MartStore
from ci_pipeline.settings import Settings
from ci_pipeline.surveys.codebook import CodebookError, load_codebook
from ci_pipeline.surveys.ingest import (
    WaveRefused,
    WaveReport,
    find_wave_file,
    process_wave,
    quarantine_path,
    responses_path,
    stored_response_files,
    stored_sha256,
    wave_files,
    wave_id_from_path,
)
from ci_pipeline.surveys.publish import build_survey_marts
from ci_pipeline.surveys.weighting import WeightingError
from ci_pipeline.tidy import concat_compact

survey_waves_partitions = dg.DynamicPartitionsDefinition(name="survey_waves")

RESPONSES_KEY = dg.AssetKey(["survey", "responses"])
QUARANTINE_KEY = dg.AssetKey(["survey", "quarantine"])
POPULATION_KEY = dg.AssetKey(["staging", "ssb_10826"])
# the split by sex per district and age the weights are raked to (SSB 10826's snapshot has sex summed)
POPULATION_BY_SEX_KEY = dg.AssetKey(["staging", "reference_oslo_population_sex_age"])


def _codebook(settings: Settings):
    return load_codebook(settings.catalogue_root / "surveys")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(RESPONSES_KEY, group_name="surveys", partitions_def=survey_waves_partitions,
                     kinds={"survey", "parquet"},
                     description="Accepted answers of one wave: pseudonymous keys, demographics, answers."),
        dg.AssetSpec(QUARANTINE_KEY, group_name="surveys", partitions_def=survey_waves_partitions,
                     kinds={"survey", "parquet"},
                     description="Rejected rows of one wave: row number, pseudonymous key, reason, field."),
    ],
    partitions_def=survey_waves_partitions,
)
def survey_wave_ingest(context: dg.AssetExecutionContext, pipeline: PipelineResource):
    """Read, pseudonymise, validate and admit one wave file and store its accepted rows and its quarantine.

    A refused file (unreadable, all rows quarantined, another pseudonymisation key, or a republication
    that would reveal a few people by difference) fails this partition with the reason and the counts; what
    was stored for the wave before stays, and nothing else is affected."""
    settings = pipeline.settings
    codebook = _codebook(settings)
    wave_id = context.partition_key
    path = find_wave_file(settings.survey_root, wave_id)
    try:
        report = process_wave(path, codebook, wave_id, settings.warehouse_root)
    except WaveRefused as refusal:
        counts = WaveReport.of(refusal.validated, wave_id, path.name, "refused", refusal.problem).metadata()
        raise dg.Failure(description=str(refusal), metadata={"report": dg.MetadataValue.json(counts)}) from refusal
    if report.status == "unchanged":
        context.log.info(f"wave {wave_id}: {path.name} was already ingested (same sha256); nothing rewritten")
    common = {**report.metadata(), "quarantine_reasons": dg.MetadataValue.json(report.quarantine_reasons),
              "file_sha256": stored_sha256(responses_path(settings.warehouse_root, wave_id)) or "",
              "rewritten": report.status == "ingested"}
    # The stored file is what the survey marts read: its sha256 is the partition's data version, so
    # ingesting the same wave again leaves the survey marts in sync.
    for key, path, rows in ((RESPONSES_KEY, responses_path(settings.warehouse_root, wave_id), report.rows_accepted),
                            (QUARANTINE_KEY, quarantine_path(settings.warehouse_root, wave_id),
                             report.rows_quarantined)):
        yield dg.MaterializeResult(
            asset_key=key,
            data_version=dg.DataVersion(file_sha256(path)[:16]) if path.exists() else None,
            metadata={**common, "path": str(path), **({"dagster/row_count": rows} if rows is not None else {})},
        )


def published_versions(settings: Settings, mart: str) -> list[pd.DataFrame]:
    """Every published version of a survey mart: its hidden cells stay hidden, and the new build must not
    differ from any of them by a few people."""
    store = MartStore.for_settings(settings)
    return [store.read(mart, version) for version in store.versions(mart)]


def _mart_metadata(mart, codebook, files) -> dict:
    metadata = mart.metadata()
    return {
        **{key: value for key, value in metadata.items() if key not in ("notes", "weighting")},
        "notes": dg.MetadataValue.json(mart.notes),
        **({"weighting": dg.MetadataValue.json(metadata["weighting"])} if "weighting" in metadata else {}),
        "waves": [path.stem.removeprefix("wave=") for path in files],
        "codebook_sha256": codebook.fingerprint(),
        "provenance": sorted(mart.frame["provenance"].unique().tolist()),
    }


@dg.multi_asset(
    outs={
        "survey_results": dg.AssetOut(
            key=["marts", "survey_results"], group_name="surveys", kinds={"duckdb", "pandas"},
            description="Survey indicators per wave x district (and Oslo) x group, with disclosure control."),
        "survey_change": dg.AssetOut(
            key=["marts", "survey_change"], group_name="surveys", kinds={"duckdb", "pandas"},
            description="Change per person between consecutive waves, as district aggregates with disclosure "
                        "control."),
    },
    deps=[RESPONSES_KEY],
    ins={"population": dg.AssetIn(key=POPULATION_KEY), "population_by_sex": dg.AssetIn(key=POPULATION_BY_SEX_KEY)},
)
def survey_marts(context: dg.AssetExecutionContext, population: pd.DataFrame, population_by_sex: pd.DataFrame,
                 pipeline: PipelineResource, survey_sql: DuckDBResource):
    """Both survey marts from the stored responses, built together because their disclosure control is
    decided together (docs/SURVEYS.md): every indicator of a wave, survey_change's pairs, and every
    published version of either mart. Indicators marked `weighting: population` are raked per district to
    the residents by age band (SSB 10826) and by sex (Oslo kommune OK-BEF001) of the latest year not after
    the wave's (surveys/weighting.py); how is in the metadata, in survey_results' columns and in its
    version manifest. Refused (the step fails, nothing is published) if a wave cannot be raked, or if the
    interval or the version-difference attack would recover a hidden cell."""
    settings = pipeline.settings
    codebook = _codebook(settings)
    files = stored_response_files(settings.warehouse_root, codebook)
    try:
        # concat_compact: the staged tables' text columns are categoricals with different categories, which
        # pd.concat would turn into a string per row (0.6 s for SSB 10826's quarter of a million rows)
        results, change = build_survey_marts(files, codebook, concat_compact([population, population_by_sex]),
                                             earlier_results=published_versions(settings, "survey_results"),
                                             earlier_change=published_versions(settings, "survey_change"),
                                             connect=survey_sql.get_connection)
    except WeightingError as error:
        raise dg.Failure(description=f"survey weights: {error}") from error
    context.add_output_metadata(_mart_metadata(results, codebook, files), output_name="survey_results")
    context.add_output_metadata(_mart_metadata(change, codebook, files), output_name="survey_change")
    return results.frame, change.frame


survey_ingest_job = dg.define_asset_job(
    "survey_ingest_job",
    selection=dg.AssetSelection.assets(RESPONSES_KEY, QUARANTINE_KEY),
    partitions_def=survey_waves_partitions,
    tags={STEP_TAG: SURVEY_INGEST},
    description="Ingest one survey wave (a partition); the build_after_refresh sensor then rebuilds the survey "
    "marts and what depends on them when the stored responses changed.",
)
survey_marts_job = dg.define_asset_job(
    "survey_marts_job",
    selection=dg.AssetSelection.assets(["marts", "survey_results"], ["marts", "survey_change"]),
    tags={STEP_TAG: BUILD},
)


@dg.sensor(job=survey_ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def survey_wave_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineResource):
    """Adds a wave partition and requests its ingest when a wave file with unseen content appears in
    <survey_root>/incoming (or the embedded default folder <survey_root>/waves).

    The cursor maps each file's sha256 to its wave: the same content is never requested twice; a
    corrected file for a known wave (new sha256) is ingested again. A file whose content the warehouse
    already stores (ingested by `make run`, which has no sensor cursor, or before the cursor was reset) is
    not requested either. Files for waves missing from waves.yaml are skipped with a warning until the
    wave is registered. Once an ingest succeeds, the build_after_refresh sensor builds the survey marts."""
    settings = pipeline.settings
    codebook = _codebook(settings)
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests: list[dg.RunRequest] = []
    for path in wave_files(settings.survey_root):
        sha256 = file_sha256(path)
        if sha256 in seen:
            continue
        wave_id = wave_id_from_path(path)
        try:
            codebook.wave(wave_id)
        except CodebookError as error:
            context.log.warning(f"{path.name}: {error}")
            continue
        seen[sha256] = wave_id
        if stored_sha256(responses_path(settings.warehouse_root, wave_id)) == sha256:
            continue
        requests.append(dg.RunRequest(run_key=f"{wave_id}:{sha256}", partition_key=wave_id,
                                      tags={"survey/file": path.name, STEP_TAG: SURVEY_INGEST,
                                            TRIGGER_TAG: SURVEY_WAVE}))
    known = set(context.instance.get_dynamic_partitions(survey_waves_partitions.name))
    new_waves = sorted({r.partition_key for r in requests} - known)
    duplicates = [wave for wave, count in Counter(r.partition_key for r in requests).items() if count > 1]
    for wave in duplicates:
        context.log.warning(f"wave {wave} has more than one new file; its ingest run will fail until one is removed")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[survey_waves_partitions.build_add_request(new_waves)] if new_waves else [],
        cursor=json.dumps(seen, sort_keys=True),
    )


SURVEY_ASSETS = [survey_wave_ingest, survey_marts]
SURVEY_SENSORS = [survey_wave_sensor]
SURVEY_JOBS = [survey_ingest_job, survey_marts_job]
