"""The page on the cost of exclusion (Utenforregnskapet-style), from the exclusion_costs mart.

Per group counted (young people outside work and education, young people on disability benefit): Oslo
and each bydel in the latest year, the people counted and what they are estimated to cost over their
lifetime in NOK of the price year, always with the range beside the central figure; then the value of
reaching each work-attachment goal; then each unit cost's source, price base, price adjustment and
assumption. The page opens by saying how sure the figures are (upper bounds, orders of magnitude), and
figures from illustrative counts carry the illustrative badge.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ci_pipeline.report import formatting
from ci_pipeline.report.downloads import Download
from ci_pipeline.report.layout import Site, Words, render

MILLION = 1_000_000
FILENAME = "costs.html"


def _nok_millions(amount: Any, lang: str) -> str:
    """"29 074 mill. kr" (nb), "NOK 29,074 million" (en)."""
    if formatting.is_missing(amount):
        return formatting.MISSING
    shown, space = formatting.number(amount / MILLION, lang, 0), formatting.NO_BREAK_SPACE
    return f"{shown}{space}mill. kr" if lang == "nb" else f"NOK{space}{shown}{space}million"


def _rows(frame: pd.DataFrame, words: Words, region_names: dict[str, str]) -> list[dict[str, Any]]:
    lang = words.lang
    rows = []
    for row in frame.to_dict("records"):
        rows.append({
            "area": region_names.get(str(row["region_code"]), str(row["region_name"])),
            "href": f"district-{row['region_code']}.html",
            "period": words.period(row["period"]),
            "persons": formatting.number(row["persons"], lang, 0),
            "target_persons": formatting.number(row["target_persons"], lang, 0),
            "cost": _nok_millions(row["cost_nok"], lang),
            "range": f"{_nok_millions(row['cost_low_nok'], lang)}{formatting.EN_DASH}"
                     f"{_nok_millions(row['cost_high_nok'], lang)}",
            "illustrative": bool(row["illustrative"]),
            "estimate": bool(row["is_estimate"]),
        })
    return rows


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """Each area's latest year; Oslo first, then the bydeler in code order."""
    latest = frame.sort_values("period").groupby("region_code").tail(1)
    return latest.assign(district=latest["region_code"] != "0301").sort_values(["district", "region_code"])


def costs_page(costs: pd.DataFrame, region_names: dict[str, str], site: Site) -> tuple[str, list[Download]]:
    words = Words(site.lang)
    lang = site.lang
    groups = []
    for unit_cost_id, rows in costs.groupby("unit_cost_id", sort=False):
        first = rows.iloc[0]
        cost_rows = rows[rows["measure"] == "cost_of_exclusion"]
        goal_rows = rows[rows["measure"] == "value_of_reaching_goal"]
        groups.append({
            "id": unit_cost_id,
            "name": first["group_nb" if lang == "nb" else "group_en"],
            "illustrative": bool(rows["illustrative"].any()),
            "unit_cost": words.t("costs.unit_cost", amount=_nok_millions(first["unit_cost_nok"], lang),
                                 low=_nok_millions(first["unit_cost_low_nok"], lang),
                                 high=_nok_millions(first["unit_cost_high_nok"], lang),
                                 year=int(first["price_year"])),
            "costs": _rows(_latest(cost_rows), words, region_names) if not cost_rows.empty else [],
            "goals": _rows(_latest(goal_rows), words, region_names) if not goal_rows.empty else [],
            "source": {
                "citation": first["citation"],
                "price_base": words.t("costs.price_base", amount=formatting.number(
                    first["unit_cost_source_nok"] / MILLION, lang, 1), base=int(first["unit_cost_price_base_year"]),
                    factor=formatting.number(first["cpi_factor"], lang, 3), year=int(first["price_year"])),
                "range": words.t(f"costs.range_{first['range_basis']}", note=first["range_note"]),
                "certainty": words.t(f"costs.certainty_{first['certainty']}"),
                "assumption": first["assumption_nb" if lang == "nb" else "assumption_en"],
                "cpi": first["cpi_citation"],
            },
        })
    columns = [words.t(key) for key in ("col.area", "costs.col_group", "costs.col_measure", "col.period", "costs.col_persons",
                                         "costs.col_cost_nok", "costs.col_low_nok", "costs.col_high_nok", "costs.col_price_year",
                                         "col.provenance", "costs.col_source", "col.version")]
    download = Download("exclusion_costs.csv", columns, [
        [area, group, words.t(f"costs.measure_{measure}"), period, persons, cost, low, high, int(price_year),
         words.provenance(provenance), citation, site.version]
        for area, group, measure, period, persons, cost, low, high, price_year, provenance, citation in zip(*(
            costs[column].tolist() for column in ("region_name", "group_nb" if lang == "nb" else "group_en", "measure",
                                                  "period", "persons", "cost_nok", "cost_low_nok", "cost_high_nok",
                                                  "price_year", "provenance", "citation")))])
    price_year = int(costs["price_year"].iloc[0]) if not costs.empty else None
    html = render("costs.html.j2", site, filename=FILENAME, title=words.t("costs.title"),
                  illustrative=any(g["illustrative"] for g in groups), groups=groups, price_year=price_year,
                  download=download)
    return html, [download]
