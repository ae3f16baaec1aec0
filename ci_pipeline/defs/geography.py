"""Geography and the core fact table: KLASS regions, code history, harmonisation, district breakdown.

    geography/regions, geography/region_history   from KLASS (classifications 131, 104, 103)
    core/observations                              every staged source, harmonised to today's codes,
                                                   broken down to districts (method on every row),
                                                   plus the derived indicators (ci_pipeline.derived)
    marts/indicator_values, marts/regions, marts/indicators   the staged mart builds
"""

from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    DataVersion,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from dagster._core.definitions.data_version import (
    extract_data_provenance_from_entry,
    extract_data_version_from_entry,
)

from ci_pipeline.breakdown import breakdown, check_district_sums
from ci_pipeline.defs.io import read_stored_tables
from ci_pipeline.defs.resources import PipelineResource, api_pool
from ci_pipeline.derived import DerivationReport, derive_indicators
from ci_pipeline.geography.harmonise import harmonise
from ci_pipeline.geography.history import build_code_history
from ci_pipeline.geography.load import load_klass_geography
from ci_pipeline.geography.regions import build_regions
from ci_pipeline.indicators import load_registry, registry_frame
from ci_pipeline.marts import content_sha256
from ci_pipeline.schema import INDICATOR_VALUE_COLUMNS, OBSERVATION_KEY
from ci_pipeline.tidy import concat_compact


@multi_asset(
    outs={
        "regions": AssetOut(
            key=["geography", "regions"], group_name="geography", kinds={"klass", "pandas"}, is_required=False,
            description="The regions dimension from SSB KLASS (131 municipalities, 104 counties, 103 districts): "
            "code, names, level, parent, valid_from/valid_to (exclusive), current and historical rows, including "
            "the districts of Oslo, Bergen, Trondheim and Stavanger with their history.",
        ),
        "region_history": AssetOut(
            key=["geography", "region_history"], group_name="geography", kinds={"klass", "pandas"}, is_required=False,
            description="Every spelling a source uses for a region, the period it is valid for, what it denotes "
            "and today's code (null when there is no 1:1 successor: splits, merges, older divisions).",
        ),
    },
    pool=api_pool("klass"),
)
def klass_geography(context: AssetExecutionContext, pipeline: PipelineResource):
    geo = load_klass_geography(pipeline.clients.klass.http)
    regions = build_regions(geo)
    history = build_code_history(geo, regions)
    by_level = regions.groupby("level").size().to_dict()
    districts = regions[regions["level"] == "district"]
    # KLASS has no update stamp that covers a whole classification: what was built is the version, so an
    # unchanged classification leaves everything downstream in sync.
    versions = {"regions": content_sha256(regions)[:16], "region_history": content_sha256(history)[:16]}
    if _unchanged_since_last_materialisation(context, versions):
        context.log.info(f"KLASS geography unchanged (data versions {versions}), built by this code version: "
                         "not materialised again, so its expectation suites do not run again")
        return
    yield Output(
        regions,
        output_name="regions",
        data_version=DataVersion(versions["regions"]),
        metadata={
            "rows": len(regions),
            "by_level": MetadataValue.json({k: int(v) for k, v in by_level.items()}),
            "districts_by_municipality": MetadataValue.json(
                {k: int(v) for k, v in districts.groupby("parent_code").size().items()}
            ),
            "provenance": MetadataValue.json(geo.provenance),
        },
    )
    yield Output(
        history,
        output_name="region_history",
        data_version=DataVersion(versions["region_history"]),
        metadata={"rows": len(history), "relations": MetadataValue.json(
            {k: int(v) for k, v in history.groupby("relation").size().items()})},
    )


def _unchanged_since_last_materialisation(context: AssetExecutionContext, versions: dict[str, str]) -> bool:
    """Whether both outputs' last materialisations hold these data versions, were made by this code version
    (which covers the expectation suites that audit them) and their stored files are still there: then a
    new materialisation would change nothing but run the suites again (GX and the regions suite are most of
    an unchanged refresh's time)."""
    for output, version in versions.items():
        key = context.asset_key_for_output(output)
        event = context.instance.get_latest_materialization_event(key)
        stored = extract_data_version_from_entry(event) if event is not None else None
        if stored is None or stored.value != version:
            return False
        provenance = extract_data_provenance_from_entry(event)
        if provenance is None or provenance.code_version != context.assets_def.code_versions_by_key.get(key):
            return False
        path = event.asset_materialization.metadata.get("path")
        if path is None or not Path(str(path.value)).exists():
            return False
    return True


def build_geography_assets(staging_names: list[str]) -> list:
    """The geography, core and dimension-mart assets for the catalogue's staged tables."""
    return [klass_geography, _core_observations(staging_names), indicator_values, regions_mart, indicators_mart]


def _core_observations(staging_names: list[str]):
    staged_keys = [AssetKey(["staging", name]) for name in sorted(staging_names)]

    @asset(
        key=["core", "observations"],
        # The staged tables are read here, all at once (read_stored_tables), not loaded as inputs one by one.
        deps=staged_keys,
        ins={"regions": AssetIn(key=["geography", "regions"]),
             "region_history": AssetIn(key=["geography", "region_history"])},
        group_name="core",
        kinds={"pandas", "parquet"},
        description="Every statistical source (SSB, FHI, Oslo kommune statistikkbank, reference series) in the "
        "tidy shape, harmonised to today's region codes (original code kept) and broken down to districts: method "
        "observed / aggregated / apportioned_by_rate / apportioned / not_available on every row, apportioned counts "
        "flagged as estimates; plus the derived indicators (a count of one table over a count of another, with the "
        "reference dates aligned as the registry says), method derived. Cells that the source itself marks "
        "'.' (cannot occur) for a region outside its lifetime are not carried; their count is reported.",
    )
    def observations(context: AssetExecutionContext, regions: pd.DataFrame, region_history: pd.DataFrame,
                     pipeline: PipelineResource) -> pd.DataFrame:
        staged = read_stored_tables(pipeline.settings.warehouse_root, staged_keys)
        registry = load_registry(pipeline.settings.catalogue_root)
        tidy = concat_compact(staged)
        del staged
        harmonised, report = harmonise(tidy, region_history, regions)
        del tidy
        outside_life = (harmonised["harmonisation_outcome"] == "invalid_for_period") & (harmonised["status"] == ".")
        dropped = int(outside_life.sum())
        kept = harmonised[~outside_life] if dropped else harmonised
        del harmonised
        frame = breakdown(kept, registry)
        sums = check_district_sums(frame, registry)
        derivations = DerivationReport()
        derived = derive_indicators(frame, registry, derivations)
        frame = concat_compact([frame, derived]) if len(derived) else frame
        context.add_output_metadata(
            {
                "rows": len(frame),
                "rows_by_method": MetadataValue.json({k: int(v) for k, v in frame.groupby("method").size().items()}),
                # only the column counted is copied for the district rows, not the whole frame's
                "district_rows_by_indicator": MetadataValue.json({
                    k: int(v) for k, v in frame.loc[frame["region_level"] == "district", ["indicator_id"]]
                    .groupby("indicator_id").size().items()
                }),
                "not_carried_outside_region_life": dropped,
                "harmonisation_report": MetadataValue.md(_markdown(report.head(60))),
                "district_sum_differences": len(sums),
                "district_sum_report": MetadataValue.md(_markdown(sums.head(30))) if len(sums) else "none",
                "derived_rows": MetadataValue.json(derivations.rows),
                "derived_rows_suppressed": MetadataValue.json(derivations.suppressed),
                "derived_periods_without_denominator": MetadataValue.json(derivations.without_denominator),
            }
        )
        return frame

    return observations


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(empty)"
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    rows = "\n".join("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False))
    return header + rows


@asset(
    key=["marts", "indicator_values"],
    ins={"observations": AssetIn(key=["core", "observations"])},
    group_name="marts",
    kinds={"pandas", "parquet"},
    description="indicator_values (staged build): the long fact table over all sources and levels: one row per "
    "source x table x indicator x region x period x sex x age, with value or status symbol, method, provenance.",
)
def indicator_values(context: AssetExecutionContext, observations: pd.DataFrame) -> pd.DataFrame:
    frame = observations.reindex(columns=INDICATOR_VALUE_COLUMNS)
    # Compact text columns (ci_pipeline.tidy.compact) sort as text: their categories are sorted and ordered.
    frame = frame.sort_values(OBSERVATION_KEY + ["original_region_code"], kind="stable").reset_index(drop=True)
    context.add_output_metadata(
        {"rows": len(frame), "provenance": MetadataValue.json(
            {k: int(v) for k, v in frame.groupby("provenance").size().items()})}
    )
    return frame


@asset(
    key=["marts", "regions"],
    ins={"regions": AssetIn(key=["geography", "regions"])},
    group_name="marts",
    kinds={"pandas", "parquet"},
    description="regions (staged build): the regions dimension with code history, for joins and labels.",
)
def regions_mart(regions: pd.DataFrame) -> pd.DataFrame:
    return regions


@asset(
    key=["marts", "indicators"],
    group_name="marts",
    kinds={"pandas", "parquet"},
    description="indicators (staged build): the indicator registry (assets/indicators/*.yaml): names nb/en, "
    "definition, unit, polarity, sources, numerator/denominator, test, pooling, suppression, district method.",
)
def indicators_mart(context: AssetExecutionContext, pipeline: PipelineResource) -> pd.DataFrame:
    frame = registry_frame(load_registry(pipeline.settings.catalogue_root))
    context.add_output_metadata({"indicators": len(frame)})
    return frame
