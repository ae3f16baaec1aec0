"""Publish step of write-audit-publish: releases/<mart> promotes the audited marts/<mart> build.

marts/<mart> is the staged build (its expectation suites run on it as blocking asset checks); only when
they pass does releases/<mart> run, write an immutable version and move LATEST.
"""


from typing import Any

import pandas as pd
from dagster import AssetCheckKey, AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue, asset

from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.marts import MartStore

INPUT_COLUMNS = ["source", "table_id", "snapshot_sha256", "source_updated", "provenance"]


def mart_inputs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The snapshots a mart version was built from, for its manifest: the distinct input columns of its
    rows, and what its builder recorded in frame.attrs["inputs"] (e.g. the population survey weights are
    raked to, and how)."""
    recorded = list(frame.attrs.get("inputs", []))
    present = [c for c in INPUT_COLUMNS if c in frame.columns]
    if not present:
        return recorded
    rows = frame[present].drop_duplicates().sort_values(present).astype(object)
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in rows.to_dict("records")] + recorded


def _check_results(context: AssetExecutionContext, check_keys: list[AssetCheckKey]) -> list[dict[str, Any]]:
    if not check_keys:
        return []
    records = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    results = []
    for key in check_keys:
        record = records.get(key)
        if record is None or record.run_id != context.run_id or record.evaluation is None:
            continue
        results.append({"check": key.name, "passed": record.evaluation.passed,
                        "severity": record.evaluation.severity.value})
    return results


def build_release_assets(
    marts: list[str], check_keys_by_mart: dict[str, list[AssetCheckKey]]
) -> list[AssetsDefinition]:
    return [_release_asset(mart, check_keys_by_mart.get(mart, [])) for mart in marts]


def _release_asset(mart: str, check_keys: list[AssetCheckKey]) -> AssetsDefinition:
    @asset(
        key=["releases", mart],
        ins={"staged": AssetIn(key=["marts", mart])},
        group_name="releases",
        kinds={"parquet", "duckdb"},
        description=(
            f"Publishes the audited build of the {mart} mart as an immutable Parquet version and points "
            f"marts/{mart}/LATEST and the catalog.duckdb view `{mart}` at it. Runs only after the blocking "
            "expectation suites on marts/" + mart + " passed; an unchanged build publishes nothing."
        ),
    )
    def release(context: AssetExecutionContext, staged: pd.DataFrame, pipeline: PipelineResource) -> dict:
        settings = pipeline.settings
        store = MartStore(settings.warehouse_root)
        result = store.publish(
            mart,
            staged,
            inputs=mart_inputs(staged),
            checks=_check_results(context, check_keys),
            description=f"{mart} built by run {context.run_id}",
        )
        if result.published:
            context.log.info(f"{mart}: published version {result.version} ({result.row_count} rows)")
        else:
            context.log.info(f"{mart}: unchanged; LATEST stays {result.version}")
        version_dir = store.version_dir(mart, result.version)
        context.add_output_metadata(
            {
                "version": result.version,
                "published": result.published,
                "reason": result.reason,
                "rows": result.row_count,
                "previous_version": result.previous_version or "",
                "path": MetadataValue.path(str(version_dir)),
                "catalog": MetadataValue.path(str(store.catalog_path)),
            }
        )
        return {"mart": mart, "version": result.version, "published": result.published, "reason": result.reason}

    return release
