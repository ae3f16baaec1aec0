"""Publish step of write-audit-publish: releases/<mart> promotes the audited marts/<mart> build.

marts/<mart> is the staged build (its expectation suites run on it as blocking asset checks); only when
they pass does releases/<mart> run, write an immutable version and move LATEST, and then read the
catalogue's view of the mart through the `catalogue` DuckDB resource: it must read what was published. A release that runs in
another run than its staged build (a build that rebuilt only what was out of sync) checks the audit itself:
every blocking suite must have passed on the very materialisation it publishes.
"""


from typing import Any

import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from dagster_duckdb import DuckDBResource

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


def audit(context: AssetExecutionContext, mart: str, check_keys: list[AssetCheckKey],
          blocking: set[AssetCheckKey]) -> list[dict[str, Any]]:
    """The results of the suites on the staged build this release publishes (the latest materialisation of
    marts/<mart>), for its manifest. Raises Failure, naming the suites, when a blocking suite failed on it
    or did not run on it: then nothing is published."""
    if not check_keys:
        return []
    instance = context.instance
    latest = instance.fetch_materializations(AssetKey(["marts", mart]), limit=1).records
    built = latest[0].storage_id if latest else None
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    results, problems = [], []
    for key in check_keys:
        record = records.get(key)
        evaluation = record.evaluation if record is not None else None
        target = evaluation.target_materialization_data if evaluation is not None else None
        if evaluation is None or target is None or target.storage_id != built:
            if key in blocking:
                problems.append(f"{key.name} has not run on this build of marts/{mart}")
            continue
        results.append({"check": key.name, "passed": evaluation.passed, "severity": evaluation.severity.value})
        if key in blocking and not evaluation.passed:
            problems.append(f"{key.name} failed on this build of marts/{mart} (its check shows which expectations)")
    if problems:
        raise Failure(description=f"{mart}: not published: " + "; ".join(problems) + ". Fix the cause and run "
                      f"marts/{mart} with its checks again; the published version stays.")
    return results


def view_rows(catalogue: DuckDBResource, view: str, filesystem: Any = None) -> int:
    """How many rows the catalogue's view `view` reads (what an analyst's `SELECT count(*)` sees);
    `filesystem`: the store's fsspec filesystem when its views name object-storage URLs."""
    with catalogue.get_connection() as connection:
        if filesystem is not None:
            connection.register_filesystem(filesystem)
        return connection.execute('SELECT count(*) FROM "' + view.replace('"', '""') + '"').fetchone()[0]


def build_release_assets(
    marts: list[str], check_keys_by_mart: dict[str, list[AssetCheckKey]], blocking: set[AssetCheckKey]
) -> list[AssetsDefinition]:
    return [_release_asset(mart, check_keys_by_mart.get(mart, []), blocking) for mart in marts]


def _release_asset(mart: str, check_keys: list[AssetCheckKey], blocking: set[AssetCheckKey]) -> AssetsDefinition:
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
    def release(context: AssetExecutionContext, staged: pd.DataFrame, pipeline: PipelineResource,
                catalogue: DuckDBResource) -> Output[dict]:
        settings = pipeline.settings
        checks = audit(context, mart, check_keys, blocking)
        store = MartStore.for_settings(settings)
        result = store.publish(
            mart,
            staged,
            inputs=mart_inputs(staged),
            checks=checks,
            description=f"{mart} built by run {context.run_id}",
        )
        if result.published:
            context.log.info(f"{mart}: published version {result.version} ({result.row_count} rows)")
        else:
            context.log.info(f"{mart}: unchanged; LATEST stays {result.version}")
        catalog_rows = view_rows(catalogue, mart, store.backend.filesystem())
        if catalog_rows != result.row_count:
            raise Failure(description=f"{mart}: the catalogue view `{mart}` in {store.catalog_path} reads "
                          f"{catalog_rows} rows, the published version {result.version} holds {result.row_count}: "
                          "analysts would read something else than what was published. The next publish "
                          "rebuilds the catalogue; run releases/" + mart + " again.")
        return Output(
            {"mart": mart, "version": result.version, "published": result.published, "reason": result.reason},
            # The version _LATEST names: what readers of the mart see changes exactly when this does.
            data_version=DataVersion(result.version),
            metadata={
                "version": result.version,
                "published": result.published,
                "reason": result.reason,
                "rows": result.row_count,
                "dagster/row_count": result.row_count,
                "catalog_rows": catalog_rows,
                "previous_version": result.previous_version or "",
                "path": MetadataValue.path(store.location(mart, result.version)),
                "catalog": MetadataValue.path(str(store.catalog_path)),
            },
        )

    return release
