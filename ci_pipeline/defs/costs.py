"""Dagster asset for marts/exclusion_costs: a thin layer over ci_pipeline.costs."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from ci_pipeline.costs import build_exclusion_costs, load_cost_book
from ci_pipeline.defs.resources import PipelineResource

COSTS_FILE = "exclusion_costs.yaml"


@asset(
    key=["marts", "exclusion_costs"],
    group_name="marts",
    kinds={"pandas"},
    ins={
        "indicator_values": AssetIn(key=["marts", "indicator_values"]),
        "goal_progress": AssetIn(key=["marts", "goal_progress"]),
    },
    description="Cost of exclusion (Utenforregnskapet-style): per district, Oslo and year, young people outside "
    "work and education or on disability benefit times a cited lifetime cost per person (assets/"
    "exclusion_costs.yaml: source, year, price base, range), in NOK of one price year by SSB's CPI (03014); and "
    "the value of reaching each work-attachment goal. Upper bounds and orders of magnitude (certainty low); "
    "figures from illustrative counts stay labelled illustrative.",
)
def exclusion_costs_mart(context: AssetExecutionContext, indicator_values: pd.DataFrame,
                         goal_progress: pd.DataFrame, pipeline: PipelineResource) -> pd.DataFrame:
    settings = pipeline.settings
    book = load_cost_book(settings.catalogue_root / COSTS_FILE, root=settings.repo_root)
    frame = build_exclusion_costs(indicator_values, goal_progress, book)
    context.add_output_metadata({
        "rows": len(frame),
        "price_year": book.price_year,
        "unit_costs": MetadataValue.json([{"id": c.id, "citation": c.citation(), "price_base_year": c.price_base_year,
                                           "certainty": c.certainty} for c in book.unit_costs]),
        "cpi": book.cpi_citation(),
        "illustrative_rows": int(frame["illustrative"].sum()),
    })
    return frame


COST_ASSETS = [exclusion_costs_mart]
