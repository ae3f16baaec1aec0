"""Cost of exclusion (Utenforregnskapet-style): the exclusion_costs mart.

KS and Rambøll's Utenforregnskapet prices exclusion as a number of people times a cost per person from
national cost profiles. This module does the same with the figures the pipeline has: per district (and
Oslo) and year, the young people outside work and education, or on disability benefit (the numerators
of their indicators in indicator_values), times a unit cost per person from a cited source in
assets/exclusion_costs.yaml, moved to one price year with SSB's consumer price index (table 03014). And
per work-attachment goal and area, the value of reaching the goal: the people fewer outside at the
target share (goal_progress' target_value over the latest denominator) times the same unit cost.

How sure: every unit cost is a lifetime present value for a person who falls outside for good, applied
to everyone outside in a year, so the results are upper bounds and orders of magnitude (certainty `low`
in the YAML and in every row). Each row carries the unit cost's citation, its range (low/high, and
whether the source or the project set it), and the provenance of the counts: figures from illustrative
inputs stay labelled illustrative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import model_validator

from ci_pipeline.config import Code, ConfigModel, Number, Text, load_model
from ci_pipeline.schema import contract

GOAL_ID = "work_attachment"
PROVENANCE_ORDER = ("recorded", "reconstructed", "illustrative")  # worst last
OSLO_AND_DISTRICTS = r"0301(0[1-9]|1[0-5])?"


class Cpi(ConfigModel):
    source: Text
    url: Text
    provenance: Literal["recorded", "reconstructed"]
    index: dict[int, Number]


class Citation(ConfigModel):
    author: Text
    title: Text
    published_in: Text
    year: int
    url: Text


class UnitCost(ConfigModel):
    id: Code
    indicator_id: Code
    group_nb: Text
    group_en: Text
    basis: Literal["lifetime_present_value", "per_person_year"]
    amount_nok: Number
    price_base_year: int
    price_base_note: Text
    low_nok: Number
    high_nok: Number
    range_basis: Literal["source", "assumed"]
    range_note: Text
    certainty: Literal["low", "medium", "high"]
    source: Citation
    assumption_nb: Text
    assumption_en: Text

    @model_validator(mode="after")
    def _ordered(self) -> UnitCost:
        if not 0 < self.low_nok <= self.amount_nok <= self.high_nok:
            raise ValueError(f"needs 0 < low_nok <= amount_nok <= high_nok, got {self.low_nok}, {self.amount_nok}, "
                             f"{self.high_nok}")
        return self

    def citation(self) -> str:
        return f"{self.source.author} ({self.source.year}): {self.source.title}. {self.source.published_in}. " \
               f"{self.source.url}"


class CostBook(ConfigModel):
    price_year: int
    cpi: Cpi
    unit_costs: list[UnitCost]

    @model_validator(mode="after")
    def _years_have_an_index(self) -> CostBook:
        needed = {self.price_year} | {cost.price_base_year for cost in self.unit_costs}
        missing = sorted(needed - set(self.cpi.index))
        if missing:
            raise ValueError(f"cpi.index has no value for {missing} (the price year and every price base need one)")
        return self

    def cpi_factor(self, cost: UnitCost) -> float:
        """The factor that moves the cost from its price base to the price year."""
        return float(self.cpi.index[self.price_year]) / float(self.cpi.index[cost.price_base_year])

    def cpi_citation(self) -> str:
        return f"{self.cpi.source}, {self.cpi.url}"


def load_cost_book(path: Path, root: Path | None = None) -> CostBook:
    """assets/exclusion_costs.yaml, validated (a ConfigError names every problem)."""
    return load_model(CostBook, path, root=root)


def _worst(*provenances: str) -> str:
    return max(provenances, key=PROVENANCE_ORDER.index)


def _priced(frame: pd.DataFrame, book: CostBook, cost: UnitCost, persons: pd.Series) -> pd.DataFrame:
    """The unit cost's columns, and the persons priced at it, for rows of `frame`."""
    factor = book.cpi_factor(cost)
    amount, low, high = (round(value * factor, -3) for value in (cost.amount_nok, cost.low_nok, cost.high_nok))
    return frame.assign(
        persons=persons.astype("float64"),
        group_nb=cost.group_nb, group_en=cost.group_en,
        unit_cost_id=cost.id, unit_cost_basis=cost.basis,
        unit_cost_source_nok=float(cost.amount_nok), unit_cost_price_base_year=cost.price_base_year,
        unit_cost_nok=amount, unit_cost_low_nok=low, unit_cost_high_nok=high,
        price_year=book.price_year, cpi_factor=round(factor, 4),
        cost_nok=persons.astype("float64") * amount,
        cost_low_nok=persons.astype("float64") * low,
        cost_high_nok=persons.astype("float64") * high,
        range_basis=cost.range_basis, range_note=cost.range_note, certainty=cost.certainty,
        citation=cost.citation(), cpi_citation=book.cpi_citation(),
        assumption_nb=" ".join(cost.assumption_nb.split()), assumption_en=" ".join(cost.assumption_en.split()),
    )


def build_exclusion_costs(indicator_values: pd.DataFrame, goal_progress: pd.DataFrame,
                          book: CostBook) -> pd.DataFrame:
    """The exclusion_costs mart (columns in ci_pipeline/schema.py): cost rows per unit cost x area x year
    with a known count, and value-of-the-goal rows per work-attachment goal item x area with a target."""
    parts = []
    areas = indicator_values["region_code"].astype("str").str.fullmatch(OSLO_AND_DISTRICTS)
    for cost in book.unit_costs:
        rows = indicator_values[areas & (indicator_values["indicator_id"] == cost.indicator_id)
                                & indicator_values["numerator"].notna()]
        if not rows.empty:
            frame = pd.DataFrame({
                "measure": "cost_of_exclusion", "goal_id": None,
                "region_code": rows["region_code"].astype("str"), "region_name": rows["region_name"],
                "region_level": rows["region_level"], "period": rows["period"].astype("str"),
                "indicator_id": cost.indicator_id, "target_value": np.nan, "target_persons": np.nan,
                "is_estimate": rows["is_estimate"].astype(bool), "method": rows["method"],
                "provenance": [_worst(p, book.cpi.provenance) for p in rows["provenance"]],
            })
            parts.append(_priced(frame, book, cost, rows["numerator"]))
        goals = goal_progress[(goal_progress["goal_id"] == GOAL_ID) & (goal_progress["indicator_id"] == cost.indicator_id)
                              & (goal_progress["measure"] == "value") & goal_progress["target_applies"].astype(bool)
                              & goal_progress["target_value"].notna() & goal_progress["latest_numerator"].notna()
                              & goal_progress["latest_denominator"].notna()
                              & goal_progress["region_code"].astype("str").str.fullmatch(OSLO_AND_DISTRICTS)]
        if goals.empty:
            continue
        if (goals["unit"] != "percent").any():
            raise ValueError(f"exclusion_costs: goal_progress rows of {cost.indicator_id} are not in percent; "
                             "the target share cannot be turned into people")
        target_persons = goals["target_value"] / 100 * goals["latest_denominator"]
        frame = pd.DataFrame({
            "measure": "value_of_reaching_goal", "goal_id": goals["goal_id"],
            "region_code": goals["region_code"].astype("str"), "region_name": goals["region_name"],
            "region_level": goals["region_level"], "period": goals["latest_period"].astype("str"),
            "indicator_id": cost.indicator_id, "target_value": goals["target_value"],
            "target_persons": target_persons.round(1),
            "is_estimate": goals["is_estimate"].astype("boolean").fillna(False).astype(bool),
            "method": goals["method"],
            "provenance": [_worst(p, book.cpi.provenance) for p in goals["provenance"]],
        })
        # people fewer outside at the target (none where the area already meets it)
        parts.append(_priced(frame, book, cost, (goals["latest_numerator"] - target_persons).clip(lower=0).round(1)))
    columns = contract("exclusion_costs").names
    if not parts:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    found = pd.concat(parts, ignore_index=True)
    found["illustrative"] = found["provenance"] == "illustrative"
    found = found.sort_values(["measure", "indicator_id", "region_code", "period"], ignore_index=True)[columns]
    found.attrs["inputs"] = cost_inputs(book)  # the release writes them into the version manifest
    return found


def cost_inputs(book: CostBook) -> list[dict]:
    """The cited unit costs and the price index, as version-manifest inputs."""
    return [
        *({"source": "assets/exclusion_costs.yaml", "unit_cost_id": cost.id, "citation": cost.citation(),
           "amount_nok": cost.amount_nok, "price_base_year": cost.price_base_year, "low_nok": cost.low_nok,
           "high_nok": cost.high_nok, "range_basis": cost.range_basis, "certainty": cost.certainty}
          for cost in book.unit_costs),
        {"source": "assets/exclusion_costs.yaml", "price_index": book.cpi_citation(), "price_year": book.price_year,
         "index": {str(year): value for year, value in sorted(book.cpi.index.items())},
         "provenance": book.cpi.provenance},
    ]
