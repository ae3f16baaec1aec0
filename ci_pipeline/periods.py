"""Periods: the one type for the `period` / `period_type` of an observation, and the one parser.

A period is written as the tidy observations write it (docs/ARCHITECTURE.md): "2021" (year),
"2018-2020" (multi_year: a pooled or moving window), "2019-2020" or "2019/20" (school_year, when the
table says so), "2024K1" (quarter), "2024M03" (month). A range written YYYY-YYYY is a multi_year unless
the caller names school_year: the text alone cannot tell them apart.

Each use reads a different side of the same Period:
- reference_date: the day whose geography a period is published in (geography.harmonise);
- first_year / last_year: the year whose population weighs a period (breakdown);
- start / end: the calendar days it covers, end exclusive (the region_valid_for_period check);
- span / time: decimal years for series, trend tests and trajectories (goals).
Source spellings ("2020_2020", "2018_2020") are turned into these by ci_pipeline.tidy.normalise_period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

PERIOD_KINDS = ("year", "multi_year", "school_year", "quarter", "month")
# The kinds a range of years such as 2019-2020 may be; a catalogue entry's period_type names one.
RANGE_KINDS = ("multi_year", "school_year")

_SHAPES = {
    "year": re.compile(r"^(\d{4})$"),
    "multi_year": re.compile(r"^(\d{4})-(\d{4})$"),
    "school_year": re.compile(r"^(\d{4})[-/](\d{2}|\d{4})$"),
    "quarter": re.compile(r"^(\d{4})K([1-4])$"),
    "month": re.compile(r"^(\d{4})M(0[1-9]|1[0-2])$"),
}
# What a period without a named kind may be; school_year only when the caller says so.
_INFERRED = ("year", "multi_year", "quarter", "month")
# A school year starts in August.
_SCHOOL_YEAR_MONTH = 8


class PeriodError(ValueError):
    """A period text that is not one of the shapes of PERIOD_KINDS (or not of the kind named)."""


@dataclass(frozen=True)
class Period:
    """One period. `part` is the quarter (1-4) or month (1-12), None for the other kinds."""

    text: str
    kind: str
    first_year: int
    last_year: int
    part: int | None = None

    @property
    def start(self) -> date:
        """The first day of the period."""
        if self.kind == "quarter":
            return date(self.first_year, 3 * self.part - 2, 1)
        if self.kind == "month":
            return date(self.first_year, self.part, 1)
        if self.kind == "school_year":
            return date(self.first_year, _SCHOOL_YEAR_MONTH, 1)
        return date(self.first_year, 1, 1)

    @property
    def end(self) -> date:
        """The first day after the period (exclusive end)."""
        if self.kind in ("quarter", "month"):
            months = 3 if self.kind == "quarter" else 1
            index = self.start.year * 12 + self.start.month - 1 + months
            return date(index // 12, index % 12 + 1, 1)
        if self.kind == "school_year":
            return date(self.last_year, _SCHOOL_YEAR_MONTH, 1)
        return date(self.last_year + 1, 1, 1)

    @property
    def reference_date(self) -> date:
        """The date whose geography the period is published in.

        year: 1 January; multi_year: 1 January of its last year (sources publish pooled figures on the
        geography of the latest year); quarter, month and school_year: their first day.
        """
        if self.kind == "multi_year":
            return date(self.last_year, 1, 1)
        return self.start

    @property
    def span(self) -> tuple[float, float]:
        """(start, end) in decimal years: "2021" -> (2021, 2022), "2018-2020" -> (2018, 2021)."""
        if self.kind == "quarter":
            start = self.first_year + (self.part - 1) / 4
            return start, start + 0.25
        if self.kind == "month":
            start = self.first_year + (self.part - 1) / 12
            return start, start + 1 / 12
        if self.kind == "school_year":
            offset = (_SCHOOL_YEAR_MONTH - 1) / 12
            return self.first_year + offset, self.last_year + offset
        return float(self.first_year), float(self.last_year + 1)

    @property
    def time(self) -> float:
        """The year the period is reported as, for sorting and trajectories: its last year ("2018-2020"
        -> 2020), or for a quarter or month the year and fraction at its start ("2024K3" -> 2024.5)."""
        if self.kind in ("quarter", "month"):
            return self.span[0]
        return float(self.last_year)


@lru_cache(maxsize=4096)
def parse_period(text: str, kind: str | None = None) -> Period:
    """The Period a text denotes; `kind` (a period_type) when the table names it, else read from the text.

    Raises PeriodError naming the text when it has none of the shapes, when it is not of the named
    kind, or when a range ends before it starts.
    """
    if kind is not None and kind not in _SHAPES:
        raise PeriodError(f"period_type {kind!r} is not one of {', '.join(PERIOD_KINDS)}")
    text = str(text)
    for candidate in (kind,) if kind else _INFERRED:
        if match := _SHAPES[candidate].match(text):
            return _period(text, candidate, match)
    if kind is None:
        raise PeriodError(f"period {text!r} is not a year, YYYY-YYYY, YYYYKn or YYYYMmm")
    raise PeriodError(f"period {text!r} is not a {kind}")


def _period(text: str, kind: str, match: re.Match) -> Period:
    first = int(match[1])
    if kind in ("quarter", "month"):
        return Period(text, kind, first, first, int(match[2]))
    if kind == "year":
        return Period(text, kind, first, first)
    last = int(match[2])
    if kind == "school_year":
        if len(match[2]) == 2:  # 2019/20: the year after, in the first year's century or the next
            last = first // 100 * 100 + last + (100 if last <= first % 100 else 0)
        if last != first + 1:
            raise PeriodError(f"period {text!r}: a school year runs from one year into the next")
    elif last < first:
        raise PeriodError(f"period {text!r} ends before it starts")
    return Period(text, kind, first, last)
