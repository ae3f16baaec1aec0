"""Reference series: published figures that come as files, not from an API, as tidy observations.

A reference series is one file of figures (an IMDi export of SSB register data, a table transcribed
from an SSB or Oslo kommune web page) re-encoded as the project's own copy:

    data/reference_series/<name>.yaml   origin (title, publisher, url, the reference file and its
                                        sha256, what the figure means, period, unit), the recipe that
                                        reads the file, what is not used and why, and the sha256 of:
    data/reference_series/<name>.csv    the figures as tidy rows (indicator_id, region_code,
                                        region_level, period, period_type, sex, age_group, value,
                                        unit, status), values exactly as published.

`build_series()` reads the original file (under ../shared/reference) through the recipe; the tool
tools/build_reference_series.py writes the CSV from it. `load_reference_series()` reads the project
copy, checks its sha256 and gives tidy observations with provenance `reconstructed`.

A catalogue entry (`source: reference`, `ReferenceSpec` in ci_pipeline/catalogue.py) makes one table of
one or more series: `series_files()` names their files, `entry_observations()` reads them (after checking
that their checksums are the ones the raw asset recorded), keeps the indicators the entry uses and
accounts for the ones it leaves out.

Rules: a percentage stays as published (rounded or not); a suppressed cell (":" or "."; IMDi writes
" : " too) keeps its symbol with a null value; every row or column of the file is either mapped or
named in the recipe as not used (with the reason in the YAML), so nothing is dropped silently; an
aggregate whose meaning the file does not document (IMDi's "00") is not used.

Recipes (`read.format`):
- imdi_flat: IMDi's flat key-value CSV (",", quoted): one row per figure; keys are the columns.
- imdi_crossed: IMDi's crossed export (";", latin1, decimal comma, "341 500"): three header rows give
  each data column its keys ("innvkat_5.alle", "kjonn.1", "enhet.prosent"), then one row per region
  with the code in column 2 and the name in column 3; one record per (row, data column).
- table_csv: a small UTF-8 table transcribed from a web page: one record per (row, measure column);
  an empty measure cell means the page gives no figure and makes no row.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, get_args

import pandas as pd
from pydantic import Field, model_validator

from ci_pipeline.archive import file_sha256
from ci_pipeline.catalogue import ReferenceSpec, Sex
from ci_pipeline.config import ConfigModel, load_model
from ci_pipeline.geography.oslo import OSLO_CODE, OSLO_DISTRICT_NAMES, UNKNOWN_DISTRICT
from ci_pipeline.schema import TIDY_COLUMNS
from ci_pipeline.sources.oslo_tidy import district_code_for_name
from ci_pipeline.tidy import region_level

SOURCE = "reference"
CSV_COLUMNS = ["indicator_id", "region_code", "region_level", "period", "period_type", "sex", "age_group",
               "value", "unit", "status"]
STATUS_SYMBOLS = frozenset({":", "."})
SEXES = get_args(Sex)

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_YEAR = re.compile(r"^\d{4}$")
_YEARS = re.compile(r"^(\d{4})-(\d{4})$")
_OSLO_DISTRICT_CODE = re.compile(r"^0?301(\d\d)$")


class ReferenceSeriesError(ValueError):
    """A reference file or project copy that does not fit its recipe (named with file and record)."""


# --------------------------------------------------------------------------------------- the YAML


class Origin(ConfigModel):
    publisher: str
    url: str
    reference_file: str = Field(pattern=r"^[a-z_]+/[^/]+$")  # relative to ../shared/reference
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    retrieved: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")  # when the reference copy was taken
    fidelity: str


class Measure(ConfigModel):
    indicator_id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    unit: Literal["percent", "persons", "nok"]


class KeyOrValue(ConfigModel):
    """A dimension read from a record's key, or one value for every record."""

    key: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _key_or_value(self) -> KeyOrValue:
        if (self.key is None) == (self.value is None):
            raise ValueError("give either key or value")
        return self


class Codes(KeyOrValue):
    """From a key through a code map, or one value."""

    codes: dict[str, str] = {}


class Regions(ConfigModel):
    """Region codes: `codes` maps a code or label explicitly; Oslo district codes (030101 / 30101) and
    names (KLASS 103, "Bydel ..." and the files' misspellings) resolve by rule; `not_used` names the
    codes or labels left out, with the reason."""

    key: str
    label_key: str | None = None  # a column whose district name must agree with the code
    codes: dict[str, str] = {}
    not_used: dict[str, str] = {}


class Period(KeyOrValue):
    """The period from a key or one value; `span` > 1 reads a year as the last of `span` years."""

    span: int = Field(default=1, ge=1)


class MeasureCodes(ConfigModel):
    key: str
    codes: dict[str, Measure]
    not_used: dict[str, str] = {}


class Recipe(ConfigModel):
    format: Literal["imdi_flat", "imdi_crossed", "table_csv"]
    keep: dict[str, str] = {}  # only records with these key values are used (see not_used in the YAML)
    region: Regions
    period: Period
    sex: Codes | None = None
    age: Codes | None = None
    measure: MeasureCodes
    value_key: str = "value"
    ignore_keys: dict[str, str] = {}  # columns that carry no figure, with what they hold


class NotUsed(ConfigModel):
    what: str
    reason: str


class ReferenceSeriesSpec(ConfigModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    title_en: str
    origin: Origin
    meaning: str
    period: str
    unit: str
    read: Recipe
    not_used: list[NotUsed] = []
    provenance: Literal["reconstructed"]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def load_spec(path: Path | str) -> ReferenceSeriesSpec:
    spec = load_model(ReferenceSeriesSpec, path)
    if spec.name != Path(path).stem:
        raise ReferenceSeriesError(f"{path}: name {spec.name!r} must be the file's name {Path(path).stem!r}")
    return spec


# --------------------------------------------------------------------------------------- reading files


def _records_flat(data: bytes, origin: str) -> list[dict[str, str]]:
    text = data.decode("ascii")
    reader = csv.DictReader(io.StringIO(text))
    records = []
    for line, row in enumerate(reader, start=2):
        if None in row or None in row.values():
            raise ReferenceSeriesError(f"{origin} line {line}: {len(row)} fields do not match the header")
        records.append({"_line": str(line), **row})
    return records


def _records_crossed(data: bytes, origin: str, value_key: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(data.decode("latin1")), delimiter=";"))
    header, body = rows[:3], [row for row in rows[3:] if any(cell.strip() for cell in row)]
    width = len(header[0])
    columns: list[dict[str, str]] = []
    for position in range(3, width):
        keys: dict[str, str] = {}
        for row in header:
            token = row[position].strip() if position < len(row) else ""
            if not token:
                continue
            name, dot, code = token.partition(".")
            if not dot or name in keys:
                raise ReferenceSeriesError(f"{origin} column {position + 1}: header token {token!r} is not key.value "
                                           "or repeats a key")
            keys[name] = code
        columns.append(keys)
    records = []
    for line, row in enumerate(body, start=4):
        if len(row) != width:
            raise ReferenceSeriesError(f"{origin} line {line}: {len(row)} fields, the header has {width}")
        for position, keys in enumerate(columns, start=3):
            records.append({"_line": f"{line} column {position + 1}", "region_code": row[1].strip(),
                            "region_label": row[2].strip(), **keys, value_key: row[position]})
    return records


def _records_table(data: bytes, origin: str, recipe: Recipe) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    measures = set(recipe.measure.codes) | set(recipe.measure.not_used)
    used = {recipe.region.key, recipe.period.key, *(c.key for c in (recipe.sex, recipe.age) if c is not None),
            *recipe.keep, *recipe.ignore_keys} - {None}
    unknown = [column for column in reader.fieldnames or [] if column not in measures | used]
    if unknown:
        raise ReferenceSeriesError(f"{origin}: column(s) {unknown} are neither measures nor named in the recipe")
    records = []
    for line, row in enumerate(reader, start=2):
        for column in reader.fieldnames or []:
            if column in measures and row[column].strip():
                records.append({"_line": f"{line} column {column}", **row, recipe.measure.key: column,
                                recipe.value_key: row[column]})
    return records


def read_records(data: bytes, recipe: Recipe, origin: str) -> list[dict[str, str]]:
    if recipe.format == "imdi_flat":
        return _records_flat(data, origin)
    if recipe.format == "imdi_crossed":
        return _records_crossed(data, origin, recipe.value_key)
    return _records_table(data, origin, recipe)


# --------------------------------------------------------------------------------------- mapping


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


# --------------------------------------------------------------------------------------- loading


@dataclass
class ReferenceSeries:
    spec: ReferenceSeriesSpec
    frame: pd.DataFrame  # tidy observations (TIDY_COLUMNS)


def load_reference_series(yaml_path: Path | str) -> ReferenceSeries:
    """One series' tidy observations from its project copy (<name>.csv beside the YAML), after checking
    the copy's sha256 against the YAML."""
    spec = load_spec(yaml_path)
    csv_path = Path(yaml_path).with_suffix(".csv")
    if not csv_path.is_file():
        raise ReferenceSeriesError(f"{spec.name}: the project copy {csv_path} is missing; run "
                                   "tools/build_reference_series.py")
    digest = file_sha256(csv_path)
    if digest != spec.sha256:
        raise ReferenceSeriesError(f"{spec.name}: {csv_path.name} has sha256 {digest}, the YAML says {spec.sha256}; "
                                   "rebuild it with tools/build_reference_series.py")
    rows = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if list(rows.columns) != CSV_COLUMNS:
        raise ReferenceSeriesError(f"{spec.name}: {csv_path.name} has columns {list(rows.columns)}, not {CSV_COLUMNS}")
    frame = pd.DataFrame({column: rows[column] for column in CSV_COLUMNS if column != "value"})
    frame["value"] = pd.to_numeric(rows["value"].replace("", None), errors="raise").astype(float)
    frame["status"] = rows["status"].replace("", None)
    frame["numerator"] = float("nan")
    frame["denominator"] = float("nan")
    frame["source"] = SOURCE
    frame["table_id"] = spec.name
    frame["source_updated"] = None
    frame["retrieved_at"] = f"{spec.origin.retrieved}T00:00:00.000000Z"
    frame["snapshot_sha256"] = digest
    frame["provenance"] = spec.provenance
    frame = frame[TIDY_COLUMNS]
    for column in (c for c in TIDY_COLUMNS if c not in ("value", "numerator", "denominator")):
        frame[column] = pd.array(frame[column].astype(object), dtype="str")
    return ReferenceSeries(spec, frame)


def load_all(folder: Path | str) -> list[ReferenceSeries]:
    return [load_reference_series(path) for path in sorted(Path(folder).glob("*.yaml"))]


# --------------------------------------------------------------------------------------- catalogue entries


def series_files(entry: ReferenceSpec, root: Path | str) -> list[tuple[str, Path, Path]]:
    """(series, YAML path, CSV path) of every series of a catalogue entry; a missing file is an error."""
    files = []
    for name in entry.series:
        yaml_path = Path(root) / f"{name}.yaml"
        csv_path = yaml_path.with_suffix(".csv")
        for path in (yaml_path, csv_path):
            if not path.is_file():
                raise ReferenceSeriesError(f"{entry.path}: series {name!r}: {path} is missing")
        files.append((name, yaml_path, csv_path))
    return files


def entry_observations(entry: ReferenceSpec, root: Path | str,
                       recorded: list[dict[str, str]]) -> tuple[pd.DataFrame, dict[str, object]]:
    """The tidy observations of a catalogue entry (table_id: the entry's) and a report of the rows left
    out. `recorded` holds the checksums the raw asset saw ({"series", "yaml_sha256", "csv_sha256"});
    a file that changed since then is an error, so staging never mixes two versions of a series."""
    by_series = {item["series"]: item for item in recorded}
    frames, not_used = [], Counter()
    for name, yaml_path, csv_path in series_files(entry, root):
        seen = by_series.get(name)
        if seen is None or (file_sha256(yaml_path), file_sha256(csv_path)) != (seen["yaml_sha256"],
                                                                            seen["csv_sha256"]):
            raise ReferenceSeriesError(f"{entry.name}: series {name!r} changed since raw/{entry.name} was "
                                       f"materialised; rematerialise raw/{entry.name}")
        frame = load_reference_series(yaml_path).frame
        unknown = sorted(set(frame["indicator_id"]) - set(entry.indicators) - set(entry.not_used))
        if unknown:
            raise ReferenceSeriesError(f"{entry.path}: series {name!r} has indicator(s) {unknown}, which are "
                                       "neither in 'indicators' nor in 'not_used'")
        left_out = frame["indicator_id"].isin(list(entry.not_used))
        for indicator_id, rows in frame[left_out].groupby("indicator_id"):
            not_used[f"{name} {indicator_id}: {entry.not_used[indicator_id]}"] += len(rows)
        for rule in entry.not_used_rows:
            matches = ~left_out & (frame["period"] == rule["period"])
            if "region_level" in rule:
                matches &= frame["region_level"] == rule["region_level"]
            not_used[f"{name} {rule['period']} {rule.get('region_level', 'all levels')}: {rule['reason']}"] += \
                int(matches.sum())
            left_out |= matches
        frames.append(frame[~left_out])
    frame = pd.concat(frames, ignore_index=True)
    absent = sorted(set(entry.indicators) - set(frame["indicator_id"]))
    if absent:
        raise ReferenceSeriesError(f"{entry.path}: indicators: {absent} are in none of its series {entry.series}")
    frame["table_id"] = pd.array([entry.table_id] * len(frame), dtype="str")
    key = ["indicator_id", "region_code", "period", "sex", "age_group"]
    repeated = frame[frame.duplicated(key, keep=False)]
    if not repeated.empty:
        raise ReferenceSeriesError(f"{entry.path}: two of its series give a figure for "
                                   f"{repeated.iloc[0][key].to_dict()}; one table holds one figure per key")
    return frame, {"not_used": [f"{reason}: {rows} rows" for reason, rows in sorted(not_used.items())]}
