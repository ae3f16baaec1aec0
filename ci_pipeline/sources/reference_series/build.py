"""A reference series built from its original file through its recipe: `build_series()` checks the
file's sha256, maps every record to a row of the project copy (region, period, sex, age, measure, value
as published) or accounts for it as not used, and `series_csv()` gives the copy's bytes.

Rules: a percentage stays as published (rounded or not); a suppressed cell (":" or "."; IMDi writes
" : " too) keeps its symbol with a null value; every row or column of the file is either mapped or
named in the recipe as not used (with the reason in the YAML), so nothing is dropped silently; an
aggregate whose meaning the file does not document (IMDi's "00") is not used.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import pandas as pd

from ci_pipeline.archive import file_sha256
from ci_pipeline.catalogue import Sex
from ci_pipeline.geography.oslo import OSLO_CODE, OSLO_DISTRICT_NAMES, UNKNOWN_DISTRICT
from ci_pipeline.sources.oslo_tidy import district_code_for_name
from ci_pipeline.sources.reference_series.records import read_records
from ci_pipeline.sources.reference_series.spec import (
    CSV_COLUMNS,
    Codes,
    Period,
    ReferenceSeriesError,
    ReferenceSeriesSpec,
    Regions,
)
from ci_pipeline.tidy import region_level

STATUS_SYMBOLS = frozenset({":", "."})
SEXES = get_args(Sex)

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_YEAR = re.compile(r"^\d{4}$")
_YEARS = re.compile(r"^(\d{4})-(\d{4})$")
_OSLO_DISTRICT_CODE = re.compile(r"^0?301(\d\d)$")


def parse_value(text: str) -> tuple[str | None, str | None]:
    """(value as published, status): "74,7" -> "74.7", "341 500" -> "341500", " : " -> status ":"."""
    cleaned = text.strip()
    if cleaned in STATUS_SYMBOLS:
        return None, cleaned
    number = cleaned.replace(" ", "").replace("\u00a0", "").replace(",", ".")
    if not _NUMBER.match(number):
        raise ValueError(f"value {text!r} is neither a number nor a status symbol")
    return number, None


def _region(record: dict[str, str], regions: Regions) -> str | None:
    raw = record[regions.key].strip()
    if raw in regions.not_used:
        return None
    code = regions.codes.get(raw)
    if code is None and (match := _OSLO_DISTRICT_CODE.match(raw)):
        if match[1] not in OSLO_DISTRICT_NAMES and match[1] != UNKNOWN_DISTRICT:
            raise ValueError(f"region {raw!r} is not a district of Oslo's 2004 division")
        code = OSLO_CODE + match[1]
    if code is None:
        code = district_code_for_name(raw)
    if code is None:
        raise ValueError(f"region {raw!r} is not mapped (add it to read.region.codes or not_used)")
    if regions.label_key is not None and code.startswith(OSLO_CODE) and len(code) == 6 \
            and not code.endswith(UNKNOWN_DISTRICT):
        by_name = district_code_for_name(record[regions.label_key])
        if by_name != code:
            raise ValueError(f"region {raw!r} is {code}, but its name is {record[regions.label_key]!r}")
    return code


def _period(record: dict[str, str], period: Period) -> tuple[str, str]:
    text = (period.value if period.value is not None else record[period.key]).strip()
    if period.span > 1 and _YEAR.match(text):
        text = f"{int(text) - period.span + 1}-{text}"
    if _YEAR.match(text):
        return text, "year"
    if (match := _YEARS.match(text)) and match[1] < match[2]:
        return text, "multi_year"
    raise ValueError(f"period {text!r} is neither a year nor a range of years")


def _coded(record: dict[str, str], codes: Codes | None, what: str) -> str:
    if codes is None:
        return "total"
    if codes.value is not None:
        return codes.value
    raw = record[codes.key].strip()
    if raw not in codes.codes:
        raise ValueError(f"{what} {raw!r} (key {codes.key}) is not in the recipe's codes {sorted(codes.codes)}")
    return codes.codes[raw]


@dataclass
class BuiltSeries:
    """The rows of one series and an account of every record that made no row."""

    frame: pd.DataFrame
    not_used: Counter = field(default_factory=Counter)  # reason -> records


def build_series(spec: ReferenceSeriesSpec, reference_root: Path) -> BuiltSeries:
    """The series' rows (CSV_COLUMNS, values as published text) from its original file."""
    path = reference_root / spec.origin.reference_file
    origin = spec.origin.reference_file
    if not path.is_file():
        raise ReferenceSeriesError(f"{spec.name}: the reference file {path} is missing")
    digest = file_sha256(path)
    if digest != spec.origin.source_sha256:
        raise ReferenceSeriesError(
            f"{spec.name}: {origin} has sha256 {digest}, not the {spec.origin.source_sha256} the YAML names; "
            "the file changed: check it against the recipe and update origin.source_sha256")
    recipe = spec.read
    accounted = {"_line", recipe.region.key, recipe.region.label_key, recipe.period.key, recipe.measure.key,
                 recipe.value_key, *(c.key for c in (recipe.sex, recipe.age) if c is not None), *recipe.keep,
                 *recipe.ignore_keys}
    if recipe.format == "table_csv":
        accounted |= set(recipe.measure.codes) | set(recipe.measure.not_used)
    rows, not_used = [], Counter()
    for record in read_records(path.read_bytes(), recipe, origin):
        where = f"{origin} line {record['_line']}"
        unaccounted = sorted(set(record) - accounted)
        if unaccounted:
            raise ReferenceSeriesError(f"{spec.name}: {where}: key(s) {unaccounted} are neither read by the recipe "
                                       "nor listed in read.ignore_keys")
        try:
            if any(record[key].strip() != wanted for key, wanted in recipe.keep.items()):
                not_used[f"keep {recipe.keep}"] += 1
                continue
            measure_code = record[recipe.measure.key].strip()
            if measure_code in recipe.measure.not_used:
                not_used[f"measure {measure_code}"] += 1
                continue
            if measure_code not in recipe.measure.codes:
                raise ValueError(f"measure {measure_code!r} (key {recipe.measure.key}) is not in the recipe")
            region = _region(record, recipe.region)
            if region is None:
                not_used[f"region {record[recipe.region.key].strip()}"] += 1
                continue
            measure = recipe.measure.codes[measure_code]
            period, period_type = _period(record, recipe.period)
            value, status = parse_value(record[recipe.value_key])
            rows.append({
                "indicator_id": measure.indicator_id, "region_code": region, "region_level": region_level(region)[1],
                "period": period, "period_type": period_type, "sex": _coded(record, recipe.sex, "sex"),
                "age_group": _coded(record, recipe.age, "age"), "value": value, "unit": measure.unit,
                "status": status,
            })
        except (KeyError, ValueError) as exc:
            problem = f"no key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ReferenceSeriesError(f"{spec.name}: {where}: {problem}") from None
    frame = pd.DataFrame(rows, columns=CSV_COLUMNS)
    if frame.empty:
        raise ReferenceSeriesError(f"{spec.name}: {origin} gives no rows through the recipe")
    key = ["indicator_id", "region_code", "period", "sex", "age_group"]
    repeated = frame[frame.duplicated(key, keep=False)]
    if not repeated.empty:
        raise ReferenceSeriesError(f"{spec.name}: two figures for {repeated.iloc[0][key].to_dict()}; "
                                   "the recipe must keep one record per key")
    bad_sex = set(frame["sex"]) - set(SEXES)
    if bad_sex:
        raise ReferenceSeriesError(f"{spec.name}: sex codes map to {sorted(bad_sex)}, not {SEXES}")
    return BuiltSeries(frame.sort_values(key, kind="stable").reset_index(drop=True), not_used)


def series_csv(frame: pd.DataFrame) -> bytes:
    """The project copy's bytes (UTF-8, LF, header, values as published, empty for null)."""
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    return out.getvalue().encode("utf-8")
