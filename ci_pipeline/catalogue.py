"""The source catalogue: which SSB and FHI tables the pipeline fetches and how their cells map to indicators.

One YAML file per table under <catalogue root>/sources/ssb/ and <catalogue root>/sources/fhi/. A data
engineer adds a table by adding a file; `load_catalogue()` checks every file and fails with the file and
key at fault, so a typo never becomes a silently empty indicator.

Schema of one file (codes are strings: quote them, YAML reads 0301 as the octal number 193):

    source: ssb | fhi
    name: ssb_10826            # asset name, letters/digits/_; default "<source>_<table_id>"; unique
    table_id: "10826"          # string, keeps leading zeros
    fhi_source: nokkel         # fhi only; default nokkel
    title: "..."               # the table's title as the source names it (nb)
    title_en: "..."            # optional
    description: "..."         # what it means and which goal it serves
    group: population          # free text, for the UI
    selection:                 # ssb only: the data request, in this order
      - {variable: Region, values: ["0301", "030101"], codelist: vs_Kommun}  # codelist optional
    dimensions_filter:         # fhi only: every dimension of the table (FHI rejects a partial list)
      - {code: GEO, filter: item, values: ["0301"]}                         # filter item|all|top
    dimensions:                # role -> dimension id; region, period and indicator required
      {region: Region, period: Tid, sex: Kjonn, age: Alder, indicator: ContentsCode}
                               # `measure: MEASURE_TYPE` may be written instead of `indicator:`
    fixed: {HusholdType: "0000"}   # optional: dimensions that hold exactly this one code
    indicators:                # every code of the indicator dimension, one of two forms:
      Personer1: {indicator_id: population, unit: persons}    # a value
      TELLER: {numerator_of: population}                      # FHI measure types that give the
      NEVNER: {denominator_of: population}                    # numerator/denominator of a value
    sex_codes: {"1": male, "2": female}    # optional; default {"0": total, "1": male, "2": female}
    age_codes: {"0": total}                # optional; codes not listed go through normalise_age()
    period_type: school_year               # optional: how to read ranges such as 2019-2020
                                           # (multi_year, the default, or school_year)
    snapshot_provenance: recorded | reconstructed | illustrative   # optional: what the embedded
                                           # snapshot of this table holds

Every dimension in `selection`/`dimensions_filter` must be mapped in `dimensions` or listed in `fixed`,
and every mapped or fixed dimension must be selected, so the response can be mapped without guessing.
Selections are kept as plain dicts ({"variable", "values", "codelist"} / {"code", "filter", "values"});
the source clients turn them into their own request objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ci_pipeline.archive import PROVENANCES

SOURCES = ("ssb", "fhi")
ROLES = ("region", "period", "sex", "age", "indicator")
REQUIRED_ROLES = ("region", "period", "indicator")
SEXES = ("total", "male", "female")
PERIOD_TYPES = ("multi_year", "school_year")
FHI_FILTERS = ("item", "all", "top")

_COMMON_KEYS = {"source", "name", "table_id", "title", "title_en", "description", "group", "dimensions",
                "fixed", "indicators", "sex_codes", "age_codes", "period_type", "snapshot_provenance"}
_SOURCE_KEYS = {"ssb": {"selection"}, "fhi": {"fhi_source", "dimensions_filter"}}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class CatalogueError(ValueError):
    """A catalogue file that does not follow the schema."""


@dataclass(frozen=True)
class TableSpec:
    """One catalogue entry: a source table and how its cells become indicator observations."""

    source: str
    name: str
    table_id: str
    title: str
    description: str
    group: str
    dimensions: dict[str, str]
    indicators: dict[str, dict[str, str]]
    path: Path | None = None
    title_en: str | None = None
    fhi_source: str | None = None
    selection: tuple[dict, ...] = ()
    dimensions_filter: tuple[dict, ...] = ()
    fixed: dict[str, str] = field(default_factory=dict)
    sex_codes: dict[str, str] | None = None
    age_codes: dict[str, str] | None = None
    period_type: str | None = None
    snapshot_provenance: str | None = None


def load_catalogue(root: Path | str) -> list[TableSpec]:
    """Every table spec under <root>/sources/{ssb,fhi}/*.yaml, checked, in file-name order."""
    root = Path(root)
    folders = [root / "sources" / source for source in SOURCES]
    if not any(folder.is_dir() for folder in folders):
        raise CatalogueError(f"{root}: no sources/ssb or sources/fhi folder")
    specs: list[TableSpec] = []
    by_name: dict[str, TableSpec] = {}
    for source, folder in zip(SOURCES, folders):
        for path in sorted(folder.glob("*.yaml")):
            spec = load_table_spec(path, expected_source=source)
            if spec.name in by_name:
                raise CatalogueError(
                    f"{path}: name {spec.name!r} is already used by {by_name[spec.name].path}; "
                    "names must be unique across the catalogue")
            by_name[spec.name] = spec
            specs.append(spec)
    return specs


def load_table_spec(path: Path, *, expected_source: str | None = None) -> TableSpec:
    """One catalogue file, checked."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc
    return table_spec_from_dict(document, path=path, expected_source=expected_source)


def table_spec_from_dict(document: Any, *, path: Path | None = None,
                         expected_source: str | None = None) -> TableSpec:
    check = _Checker(path)
    if not isinstance(document, dict):
        check.fail(None, "the file must hold a mapping of keys")

    source = check.choice(document, "source", SOURCES)
    if expected_source is not None and source != expected_source:
        check.fail("source", f"is {source!r} but the file is in the sources/{expected_source} folder")
    allowed = _COMMON_KEYS | _SOURCE_KEYS[source]
    unknown = sorted(set(document) - allowed)
    if unknown:
        check.fail(unknown[0], f"is not a {source} catalogue key (allowed: {', '.join(sorted(allowed))})")

    table_id = check.text(document, "table_id")
    name = check.text(document, "name", default=f"{source}_{table_id}")
    if not _NAME.match(name):
        check.fail("name", f"{name!r} may only hold letters, digits and _ (it becomes an asset name)")
    dimensions = _dimensions(check, document)
    fixed = check.text_mapping(document, "fixed", default={})
    for dim_id in fixed:
        if dim_id in dimensions.values():
            check.fail(f"fixed.{dim_id}", "is also mapped in 'dimensions'")
    indicators = _indicators(check, document)

    if source == "ssb":
        selection = _ssb_selection(check, document)
        selected = {item["variable"]: item["values"] for item in selection}
        selection_key, dimensions_filter, fhi_source = "selection", (), None
    else:
        dimensions_filter = _fhi_filter(check, document)
        # Only an `item` filter names its codes; `all`/`top` select whatever the table holds.
        selected = {item["code"]: item["values"] if item["filter"] == "item" else None
                    for item in dimensions_filter}
        selection_key, selection, fhi_source = "dimensions_filter", (), check.text(
            document, "fhi_source", default="nokkel")
    _check_coverage(check, selection_key, selected, dimensions, fixed)

    sex_codes = check.text_mapping(document, "sex_codes", default=None)
    if sex_codes is not None:
        for code, sex in sex_codes.items():
            if sex not in SEXES:
                check.fail(f"sex_codes.{code}", f"is {sex!r}; must be one of {', '.join(SEXES)}")
    period_type = document.get("period_type")
    if period_type is not None:
        check.choice(document, "period_type", PERIOD_TYPES)
    snapshot_provenance = document.get("snapshot_provenance")
    if snapshot_provenance is not None:
        check.choice(document, "snapshot_provenance", PROVENANCES)

    return TableSpec(
        source=source,
        name=name,
        table_id=table_id,
        title=check.text(document, "title"),
        title_en=check.text(document, "title_en", default=None),
        description=check.text(document, "description"),
        group=check.text(document, "group"),
        dimensions=dimensions,
        indicators=indicators,
        path=path,
        fhi_source=fhi_source,
        selection=selection,
        dimensions_filter=dimensions_filter,
        fixed=fixed,
        sex_codes=sex_codes,
        age_codes=check.text_mapping(document, "age_codes", default=None),
        period_type=period_type,
        snapshot_provenance=snapshot_provenance,
    )


class _Checker:
    """Reads keys of one file and names the file and the key in every error."""

    _REQUIRED = object()

    def __init__(self, path: Path | None):
        self.path = path

    def fail(self, key: str | None, message: str) -> None:
        where = str(self.path) if self.path else "<catalogue entry>"
        raise CatalogueError(f"{where}: {key}: {message}" if key else f"{where}: {message}")

    def get(self, document: dict, key: str, default: Any = _REQUIRED, *, label: str | None = None) -> Any:
        if key not in document or document[key] is None:
            if default is self._REQUIRED:
                self.fail(label or key, "is required")
            return default
        return document[key]

    def text(self, document: dict, key: str, default: Any = _REQUIRED, *, label: str | None = None) -> Any:
        value = self.get(document, key, default, label=label)
        if value is default and default is not self._REQUIRED:
            return value
        if not isinstance(value, str) or not value.strip():
            self.fail(label or key, f"must be a non-empty string, got {value!r}{_quote_hint(value)}")
        return value

    def choice(self, document: dict, key: str, choices: tuple[str, ...]) -> str:
        value = self.get(document, key)
        if value not in choices:
            self.fail(key, f"is {value!r}; must be one of {', '.join(choices)}")
        return value

    def text_mapping(self, document: dict, key: str, default: Any = _REQUIRED) -> Any:
        value = self.get(document, key, default)
        if value is default and default is not self._REQUIRED:
            return value
        if not isinstance(value, dict) or not value:
            self.fail(key, f"must be a non-empty mapping, got {value!r}")
        for item_key, item in value.items():
            if not isinstance(item_key, str):
                self.fail(f"{key}.{item_key}", f"the key must be a string{_quote_hint(item_key)}")
            if not isinstance(item, str):
                self.fail(f"{key}.{item_key}", f"must be a string, got {item!r}{_quote_hint(item)}")
        return dict(value)

    def codes(self, items: Any, key: str) -> list[str]:
        if not isinstance(items, list) or not items:
            self.fail(key, f"must be a non-empty list of codes, got {items!r}")
        for position, code in enumerate(items):
            if not isinstance(code, str):
                self.fail(f"{key}[{position}]", f"must be a string, got {code!r}{_quote_hint(code)}")
        return list(items)


def _quote_hint(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return " (quote codes in YAML: an unquoted 0301 is read as a number)"
    return ""


def _dimensions(check: _Checker, document: dict) -> dict[str, str]:
    raw = check.text_mapping(document, "dimensions")
    if "measure" in raw:
        if "indicator" in raw:
            check.fail("dimensions", "give either indicator or measure, not both")
        raw = {("indicator" if role == "measure" else role): dim_id for role, dim_id in raw.items()}
    for role in raw:
        if role not in ROLES:
            check.fail(f"dimensions.{role}", f"is not a role (roles: {', '.join(ROLES)}, or measure)")
    for role in REQUIRED_ROLES:
        if role not in raw:
            check.fail(f"dimensions.{role}", "is required")
    if len(set(raw.values())) != len(raw):
        check.fail("dimensions", "maps two roles to the same dimension")
    return raw


def _indicators(check: _Checker, document: dict) -> dict[str, dict[str, str]]:
    raw = check.get(document, "indicators")
    if not isinstance(raw, dict) or not raw:
        check.fail("indicators", f"must be a non-empty mapping of codes, got {raw!r}")
    indicators: dict[str, dict[str, str]] = {}
    for code, entry in raw.items():
        key = f"indicators.{code}"
        if not isinstance(code, str):
            check.fail(key, f"the code must be a string{_quote_hint(code)}")
        if not isinstance(entry, dict):
            check.fail(key, f"must be a mapping, got {entry!r}")
        if set(entry) == {"indicator_id", "unit"}:
            indicators[code] = {name: check.text(entry, name, label=f"{key}.{name}") for name in entry}
        elif set(entry) in ({"numerator_of"}, {"denominator_of"}):
            (role,) = entry
            indicators[code] = {role: check.text(entry, role, label=f"{key}.{role}")}
        else:
            check.fail(key, "must be {indicator_id, unit}, {numerator_of: <indicator_id>} or "
                            f"{{denominator_of: <indicator_id>}}; got keys {sorted(entry)}")

    value_ids: dict[str, str] = {}
    for code, entry in indicators.items():
        if "indicator_id" in entry:
            if entry["indicator_id"] in value_ids:
                check.fail(f"indicators.{code}", f"indicator_id {entry['indicator_id']!r} is also given by "
                                                 f"{value_ids[entry['indicator_id']]!r}")
            value_ids[entry["indicator_id"]] = code
    for role in ("numerator_of", "denominator_of"):
        partners: dict[str, str] = {}
        for code, entry in indicators.items():
            if role not in entry:
                continue
            if entry[role] not in value_ids:
                check.fail(f"indicators.{code}.{role}",
                           f"{entry[role]!r} is not the indicator_id of any value entry in this file")
            if entry[role] in partners:
                check.fail(f"indicators.{code}.{role}",
                           f"{entry[role]!r} already has {role.split('_')[0]} {partners[entry[role]]!r}")
            partners[entry[role]] = code
    return indicators


def _ssb_selection(check: _Checker, document: dict) -> tuple[dict, ...]:
    raw = check.get(document, "selection")
    if not isinstance(raw, list) or not raw:
        check.fail("selection", f"must be a non-empty list of {{variable, values, codelist}}, got {raw!r}")
    selection = []
    for position, item in enumerate(raw):
        key = f"selection[{position}]"
        if not isinstance(item, dict):
            check.fail(key, f"must be a mapping, got {item!r}")
        unknown = sorted(set(item) - {"variable", "values", "codelist"})
        if unknown:
            check.fail(f"{key}.{unknown[0]}", "is not a selection key (variable, values, codelist)")
        entry = {"variable": check.text(item, "variable", label=f"{key}.variable"),
                 "values": check.codes(item.get("values"), f"{key}.values"),
                 "codelist": check.text(item, "codelist", default=None, label=f"{key}.codelist")}
        selection.append(entry)
    _check_unique(check, "selection", [entry["variable"] for entry in selection])
    return tuple(selection)


def _fhi_filter(check: _Checker, document: dict) -> tuple[dict, ...]:
    raw = check.get(document, "dimensions_filter")
    if not isinstance(raw, list) or not raw:
        check.fail("dimensions_filter", f"must be a non-empty list of {{code, filter, values}}, got {raw!r}")
    filters = []
    for position, item in enumerate(raw):
        key = f"dimensions_filter[{position}]"
        if not isinstance(item, dict):
            check.fail(key, f"must be a mapping, got {item!r}")
        unknown = sorted(set(item) - {"code", "filter", "values"})
        if unknown:
            check.fail(f"{key}.{unknown[0]}", "is not a dimensions_filter key (code, filter, values)")
        filter_kind = item.get("filter")
        if filter_kind not in FHI_FILTERS:
            check.fail(f"{key}.filter", f"is {filter_kind!r}; must be one of {', '.join(FHI_FILTERS)}")
        filters.append({"code": check.text(item, "code", label=f"{key}.code"),
                        "filter": filter_kind,
                        "values": check.codes(item.get("values"), f"{key}.values")})
    _check_unique(check, "dimensions_filter", [entry["code"] for entry in filters])
    return tuple(filters)


def _check_unique(check: _Checker, key: str, names: list[str]) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        check.fail(key, f"lists {duplicates[0]!r} twice")


def _check_coverage(check: _Checker, key: str, selected: dict[str, list[str] | None],
                    dimensions: dict[str, str], fixed: dict[str, str]) -> None:
    """The request selects exactly the mapped and fixed dimensions, and a fixed one only its code."""
    expected = set(dimensions.values()) | set(fixed)
    unmapped = sorted(set(selected) - expected)
    if unmapped:
        check.fail(key, f"selects {unmapped}, which are neither mapped in 'dimensions' nor in 'fixed'")
    unselected = sorted(expected - set(selected))
    if unselected:
        check.fail(key, f"does not select {unselected}, which 'dimensions'/'fixed' name")
    for dim_id, code in fixed.items():
        if selected[dim_id] is not None and selected[dim_id] != [code]:
            check.fail(key, f"fixed dimension {dim_id!r} must select only {code!r}, "
                            f"not {selected[dim_id]}")
