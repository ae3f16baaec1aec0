"""Numbers, units, dates and periods as partners read them, in bokmål (nb) or English (en).

Norwegian conventions (Språkrådet, SSB): decimal comma, digits grouped in threes by a thin space that
does not break a line (U+202F), a space before the percent sign, "per 1 000", amounts in kroner after
the number ("523 400 kr"), the minus sign U+2212. English: decimal point, comma groups, "40.8%",
"NOK 523,400". A missing number is an en dash, never "nan" or an empty cell.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from datetime import date, datetime
from typing import Any

THIN_SPACE = "\u202f"  # narrow no-break space: the digit group separator
NO_BREAK_SPACE = "\u00a0"
MINUS = "\u2212"
EN_DASH = "\u2013"
MISSING = EN_DASH

LANGUAGES = ("nb", "en")

# Decimals shown per unit (counts and amounts are whole).
DIGITS = {"percent": 1, "per_1000": 1, "per_100000": 1, "percentage_points": 1, "nok": 0, "persons": 0}

_MONTHS = {
    "nb": ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
_SEASONS = {"nb": {"spring": "våren {year}", "autumn": "høsten {year}"},
            "en": {"spring": "spring {year}", "autumn": "autumn {year}"}}


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is float:  # most calls: a figure, told without a conversion
        return value != value
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def number(value: Any, lang: str, digits: int = 1) -> str:
    """`value` with `digits` decimals in the language's convention; an en dash when missing."""
    if is_missing(value):
        return MISSING
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    rounded = round(float(value), digits)
    text = f"{abs(rounded):,.{digits}f}"
    if lang == "nb":
        text = text.replace(",", THIN_SPACE).replace(".", ",")
    # a value that rounds to zero is shown without a sign
    return (MINUS if rounded < 0 else "") + text


def digits_for(unit: str | None) -> int:
    return DIGITS.get(unit or "", 1)


def value(amount: Any, unit: str | None, lang: str, digits: int | None = None) -> str:
    """A figure with its unit: "40,8 %", "12,3 per 1 000", "523 400 kr" (nb); "40.8%", "NOK 523,400" (en)."""
    # a figure is shown in its chart's description, its point's title and its tables: worded once
    if type(amount) is float and amount == amount:
        return _figure_value(amount, unit, lang, digits)
    return _value(amount, unit, lang, digits)


@lru_cache(maxsize=65536)
def _figure_value(amount: float, unit: str | None, lang: str, digits: int | None) -> str:
    return _value(amount, unit, lang, digits)


def _value(amount: Any, unit: str | None, lang: str, digits: int | None) -> str:
    if is_missing(amount):
        return MISSING
    shown = number(amount, lang, digits_for(unit) if digits is None else digits)
    if unit == "percent":
        return f"{shown}{NO_BREAK_SPACE}%" if lang == "nb" else f"{shown}%"
    if unit == "percentage_points":
        return f"{shown}{NO_BREAK_SPACE}" + ("prosentpoeng" if lang == "nb" else "percentage points")
    if unit == "per_1000":
        return f"{shown} per{NO_BREAK_SPACE}{number(1000, lang, 0)}"
    if unit == "per_100000":
        return f"{shown} per{NO_BREAK_SPACE}{number(100000, lang, 0)}"
    if unit == "nok":
        return f"{shown}{NO_BREAK_SPACE}kr" if lang == "nb" else f"NOK{NO_BREAK_SPACE}{shown}"
    if unit == "persons":
        return f"{shown}{NO_BREAK_SPACE}" + ("personer" if lang == "nb" else "people")
    return shown


def axis_value(amount: float, unit: str | None, lang: str, digits: int) -> str:
    """A short axis label: the number and, for percentages, the sign."""
    shown = number(amount, lang, digits)
    if unit == "percent":
        return f"{shown}{NO_BREAK_SPACE}%" if lang == "nb" else f"{shown}%"
    return shown


def day(when: Any, lang: str) -> str:
    """A date as "5. desember 2024" / "5 December 2024"; an en dash when missing or not a date."""
    if is_missing(when) or when == "":
        return MISSING
    try:
        parsed = when if isinstance(when, date) else datetime.fromisoformat(str(when)[:10]).date()
    except ValueError:
        return MISSING
    if isinstance(parsed, datetime):
        parsed = parsed.date()
    month = _MONTHS[lang][parsed.month - 1]
    return f"{parsed.day}. {month} {parsed.year}" if lang == "nb" else f"{parsed.day} {month} {parsed.year}"


def period(text: Any, lang: str) -> str:
    """A period as partners read it: "2017–2019", "våren 2024" / "spring 2024", "3. kvartal 2024" / "Q3 2024"."""
    # a report has a few dozen periods and shows each thousands of times (every chart point and table row)
    return _text_period(text, lang) if type(text) is str else _period(text, lang)


_YEARS = re.compile(r"(\d{4})-(\d{4})")
_SEASON = re.compile(r"(\d{4})-(spring|autumn)")
_QUARTER = re.compile(r"(\d{4})K([1-4])")
_MONTH = re.compile(r"(\d{4})M(\d{2})")


def _period(text: Any, lang: str) -> str:
    if is_missing(text) or text == "":
        return MISSING
    text = str(text)
    if match := _YEARS.fullmatch(text):
        return f"{match[1]}{EN_DASH}{match[2]}"
    if match := _SEASON.fullmatch(text):
        return _SEASONS[lang][match[2]].format(year=match[1])
    if match := _QUARTER.fullmatch(text):
        return f"{match[2]}. kvartal {match[1]}" if lang == "nb" else f"Q{match[2]} {match[1]}"
    if match := _MONTH.fullmatch(text):
        return f"{_MONTHS[lang][int(match[2]) - 1]} {match[1]}"
    return text


@lru_cache(maxsize=4096)
def _text_period(text: str, lang: str) -> str:
    return _period(text, lang)
