"""Assets for every catalogue entry in assets/sources/{ssb,fhi,oslo,reference}/: raw (archived answers,
or a reference entry's checksummed files, with its freshness check: defs/freshness.py) and staging (tidy).

Adding a table is adding a YAML file: this factory turns each entry into its two assets, whatever its
source family.
"""


import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DataVersion,
    MetadataValue,
    Output,
    asset,
)

from ci_pipeline.catalogue import CatalogueEntry
from ci_pipeline.defs.freshness import freshness_check_spec, freshness_result
from ci_pipeline.defs.resources import PipelineResource, api_pool
from ci_pipeline.defs.versions import source_data_version
from ci_pipeline.ingest import SourceState, fetch_table, staged_observations

RAW_LAYER = {
    "ssb": "Archived API answers (raw layer). Each run first asks for the table's update stamp and downloads "
           "the data only when it changed.",
    "fhi": "Archived API answers (raw layer). Each run first asks for the table's modifiedAt and downloads "
           "the data only when it changed.",
    "oslo": "Archived API answers (raw layer). PxWeb v1 has no update stamp to ask first, so each run requests "
            "the data and compares it with the last fetch by content (sha256) and the answer's own `updated`: "
            "an unchanged answer counts as unchanged (fetched, unchanged content) and changes nothing downstream.",
    "reference": "Checksums of the entry's reference-series files (raw layer): figures that come as files, "
                 "not from an API. Unchanged checksums are an unchanged entry; nothing is requested.",
}
FILE_KINDS = {"reference": "csv"}


def _describe(spec: CatalogueEntry, layer: str) -> str:
    origin = f"{spec.api} table {spec.table_id}: {spec.title}"
    if layer == "raw":
        what = RAW_LAYER[spec.source]
    else:
        what = "Tidy observations (one row per region x period x sex x age x indicator; status symbols kept)."
    return f"{what}\n\n{origin}\n\n{spec.description.strip()}"


def build_source_assets(specs: list[CatalogueEntry]) -> list[AssetsDefinition]:
    assets: list[AssetsDefinition] = []
    for spec in specs:
        assets.extend(_assets_for(spec))
    return assets


def _assets_for(spec: CatalogueEntry) -> list[AssetsDefinition]:
    @asset(
        key=["raw", spec.name],
        group_name="sources",
        kinds={spec.source, FILE_KINDS.get(spec.source, "json")},
        description=_describe(spec, "raw"),
        tags={"source": spec.source},
        pool=api_pool(spec.source),
        check_specs=[freshness_check_spec(spec)],
    )
    def raw_table(context: AssetExecutionContext, pipeline: PipelineResource):
        settings = pipeline.settings
        result = fetch_table(spec, pipeline.clients, SourceState(settings.state_root / spec.source))
        if result.files:
            state = "changed" if result.changed else "unchanged"
            context.log.info(f"{spec.name}: {len(result.files)} series file pair(s), checksums {state}")
        elif result.changed:
            context.log.info(f"{spec.name}: downloaded {len(result.responses)} answer(s) (updated {result.updated})")
        elif result.fetched:
            context.log.info(f"{spec.name}: fetched, unchanged content (updated {result.updated}); the last "
                             "fetch's answers stand")
        else:
            context.log.info(f"{spec.name}: unchanged since the last fetch (updated {result.updated}); not downloaded")
        summary = result.summary()
        yield Output(
            summary,
            # The source's own version: downstream is out of sync exactly when this changes.
            data_version=DataVersion(source_data_version(summary)),
            metadata={
                "table_id": spec.table_id,
                "title": spec.title,
                "url": MetadataValue.url(result.responses[0].url) if result.responses else "",
                "updated": result.updated or "",
                "changed": result.changed,
                "fetched": result.fetched,
                "responses": len(result.responses),
                **({"files": MetadataValue.json(result.files)} if result.files else {}),
                "provenance": result.provenance,
                "mode": settings.mode,
                **({"flag_legend": MetadataValue.json(result.table_info["flags"])}
                   if "flags" in result.table_info else {}),
            },
        )
        yield freshness_result(spec, summary, settings)

    @asset(
        key=["staging", spec.name],
        ins={"raw": AssetIn(key=["raw", spec.name])},
        group_name="staging",
        kinds={"pandas", "parquet"},
        description=_describe(spec, "staging"),
        tags={"source": spec.source},
    )
    def staging_table(context: AssetExecutionContext, raw: dict, pipeline: PipelineResource) -> pd.DataFrame:
        frame, report = staged_observations(spec, raw, pipeline.clients)
        context.add_output_metadata(
            {
                "table_id": spec.table_id,
                "title": spec.title,
                "url": MetadataValue.url(raw["responses"][0]["url"]) if raw["responses"] else "",
                "updated": raw.get("updated") or "",
                "rows": len(frame),
                "rows_with_status": int(frame["status"].notna().sum()),
                "indicators": ", ".join(sorted(frame["indicator_id"].unique())),
                "provenance": ", ".join(sorted(frame["provenance"].unique())),
                **{key: (MetadataValue.json(value) if isinstance(value, list) else value)
                   for key, value in report.items()},
            }
        )
        return frame

    return [raw_table, staging_table]
