"""The report's page on the cost of exclusion: in both languages, saying how sure it is, with the range and
the source beside every figure, illustrative counts badged, and no page (nor link) without the mart."""

from __future__ import annotations

import re
from html import unescape

from test_exclusion_costs import COSTS, goal_progress, indicator_values

from ci_pipeline.costs import build_exclusion_costs, load_cost_book
from ci_pipeline.report.costs_page import costs_page
from ci_pipeline.report.downloads import csv_bytes
from ci_pipeline.report.layout import Site

NAMES = {"0301": "Oslo", "030101": "Gamle Oslo"}


def text_of(html: str) -> str:
    # thin and no-break spaces (number groups, units) read as plain spaces here
    return re.sub(r"[\s\u2009\u202f\u00a0]+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_page_says_how_sure_and_cites_its_source_in_both_languages():
    book = load_cost_book(COSTS)
    costs = build_exclusion_costs(indicator_values(), goal_progress(), book)
    nb, downloads = costs_page(costs, NAMES, Site("nb", "v1", "v1", None, True))
    en, _ = costs_page(costs, NAMES, Site("en", "v1", "v1", None, True))
    nb_text, en_text = text_of(nb), text_of(en)
    assert "Hvor sikkert: lite." in nb_text and "How sure: not very." in en_text
    # Oslo 2023: 1,822 people x NOK 15,957,000 = NOK 29,074 million, range 14,536-43,610 (the bounds are rounded to the thousand first)
    assert "1 822" in nb_text and "29 074 mill. kr" in nb_text and "14 536 mill. kr–43 610 mill. kr" in nb_text
    assert "NOK 29,074 million" in en_text
    assert "Vista Analyse (2010)" in nb_text and "03014" in nb_text and "i 2024-kroner" in nb_text
    assert "Eksempeltall" not in nb_text
    csv = csv_bytes(downloads[0]).decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("Område;Gruppe;Mål;Periode;Personer;Kostnad (kr)")
    assert csv.count("Vista Analyse (2010)") == len(costs)


def test_illustrative_counts_are_badged_on_the_page():
    costs = build_exclusion_costs(indicator_values("illustrative"), goal_progress("illustrative"),
                                  load_cost_book(COSTS))
    html, _ = costs_page(costs, NAMES, Site("nb", "v1", "v1", None, True))
    assert html.count('class="badge illustrative"') >= 1 + len(costs)
