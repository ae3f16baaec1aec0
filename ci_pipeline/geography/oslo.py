"""Oslo's region codes, written once: the municipality, its districts (KLASS 103, the 2004 division) and
the 15 bydeler the initiative's goals follow. Source mappings, goals and the report import them."""

from __future__ import annotations

OSLO_CODE = "0301"
# KLASS 103 names of Oslo's districts (2004 division), by the two digits after 0301.
OSLO_DISTRICT_NAMES = {
    "01": "Gamle Oslo", "02": "Grünerløkka", "03": "Sagene", "04": "St. Hanshaugen", "05": "Frogner",
    "06": "Ullern", "07": "Vestre Aker", "08": "Nordre Aker", "09": "Bjerke", "10": "Grorud",
    "11": "Stovner", "12": "Alna", "13": "Østensjø", "14": "Nordstrand", "15": "Søndre Nordstrand",
    "16": "Sentrum", "17": "Marka",
}
UNKNOWN_DISTRICT = "99"  # KLASS 103 "Uoppgitt"; Oslo's own scheme: 99 = no district
# FHI's geography triangle for Oslo: the 15 bydeler 030101-030115. Sentrum (030116), Marka (030117) and
# unknown district (030199) have no population of their own worth a goal.
OSLO_DISTRICTS = tuple(OSLO_CODE + number for number in OSLO_DISTRICT_NAMES if int(number) <= 15)
