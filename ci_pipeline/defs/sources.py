"""Assets for every catalogue entry in assets/sources/{ssb,fhi}/: raw (archived answers) and staging (tidy).

Adding a table is adding a YAML file: this factory turns each entry into its two assets.
"""


import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue, asset

from ci_pipeline.catalogue import TableSpec
from ci_pipeline.defs.resources import PipelineResource, api_pool
from ci_pipeline.ingest import SourceState, fetch_table, load_ref, tidy_observations


def _describe(spec: TableSpec, layer: str) -> str:
    origin = f"{spec.api} table {spec.table_id}: {spec.title}"
    if layer == "raw":
        what = ("Archived API answers (raw layer). Each run first asks for the table's update stamp and "
                "downloads the data only when it changed.")
    else:
        what = "Tidy observations (one row per region x period x sex x age x indicator; status symbols kept)."
    return f"{what}\n\n{origin}\n\n{spec.description.strip()}"


def build_source_assets(specs: list[TableSpec]) -> list[AssetsDefinition]:
    assets: list[AssetsDefinition] = []
    for spec in specs:
        assets.extend(_assets_for(spec))
    return assets


def _assets_for(spec: TableSpec) -> list[AssetsDefinition]:
    @asset(
        key=["raw", spec.name],
        group_name="sources",
        kinds={spec.source, "json"},
        description=_describe(spec, "raw"),
        tags={"source": spec.source},
        pool=api_pool(spec.source),
    )
    def raw_table(context: AssetExecutionContext, pipeline: PipelineResource) -> dict:
        settings = pipeline.settings
        result = fetch_table(spec, pipeline.clients, SourceState(settings.state_root / spec.source))
        if result.changed:
            context.log.info(f"{spec.name}: downloaded {len(result.responses)} answer(s) (updated {result.updated})")
        else:
            context.log.info(f"{spec.name}: unchanged since the last fetch (updated {result.updated}); not downloaded")
        context.add_output_metadata(
            {
                "table_id": spec.table_id,
                "title": spec.title,
                "url": MetadataValue.url(result.responses[0].url) if result.responses else "",
                "updated": result.updated or "",
                "changed": result.changed,
                "responses": len(result.responses),
                "provenance": result.provenance,
                "mode": settings.mode,
                **({"flag_legend": MetadataValue.json(result.table_info["flags"])}
                   if "flags" in result.table_info else {}),
            }
        )
        return result.summary()

    @asset(
        key=["staging", spec.name],
        ins={"raw": AssetIn(key=["raw", spec.name])},
        group_name="staging",
        kinds={"pandas", "parquet"},
        description=_describe(spec, "staging"),
        tags={"source": spec.source},
    )
    def staging_table(context: AssetExecutionContext, raw: dict, pipeline: PipelineResource) -> pd.DataFrame:
        responses = []
        for ref in raw["responses"]:
            response = load_ref(ref, pipeline.clients)
            if response is None:
                raise FileNotFoundError(
                    f"{spec.name}: archived answer {ref['url']} (sha256 {ref['sha256'][:12]}) is in neither the "
                    "warehouse archive nor the snapshot archive; rematerialise raw/" + spec.name
                )
            responses.append(response)
        frame = tidy_observations(spec, responses)
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
            }
        )
        return frame

    return [raw_table, staging_table]
