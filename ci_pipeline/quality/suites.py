"""Expectation suites: the model (Suite, SuiteEntry) and loading checks/*.yaml, checked without GX.

A suite file names the asset(s) it checks and lists Great Expectations (GX Core 1.x) expectations by
their snake_case names, with kwargs and a severity (`error` blocks publication, `warn` reports):

    asset: staging/ssb_10826            # or a list of asset keys
    description: ...
    extends: _tidy_observations.yaml    # optional base file whose entries come first
    expectations:
      - expectation: expect_column_values_to_not_be_null
        kwargs: {column: region_code}
        severity: error
        description: every observation has a region

Files whose name starts with "_" are bases: they are only used through `extends`.

Loading happens when the Dagster definitions load, so it must not import GX (~3 s, ~250 MB): names and
kwargs are checked against SUPPORTED_EXPECTATIONS, a static table that tests compare with GX's classes;
an entry's `derive:` names one of quality.derivations.DERIVATIONS with its arguments. The row count
of the previous published version enters as a derived kwarg:
`kwargs: {min_value: {previous_row_count_ratio: 0.8}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ci_pipeline.quality.derivations import DERIVATIONS

SEVERITIES = ("error", "warn")

# GX's own fields every expectation has; an entry sets description and severity its own way.
_COLUMN_MAP = ("mostly", "row_condition", "condition_parser")
_ROW_FILTER = ("row_condition", "condition_parser")
_RANGE = ("min_value", "max_value", "strict_min", "strict_max")

# name -> (required kwargs, optional kwargs). The expectations that make sense on one pandas DataFrame;
# tests/test_quality.py checks every row against the real GX class.
SUPPORTED_EXPECTATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "expect_column_to_exist": (("column",), ("column_index",)),
    "expect_column_type_to_be": (("column", "type_"), ()),
    "expect_column_values_to_be_of_type": (("column", "type_"), _COLUMN_MAP),
    "expect_column_values_to_be_in_type_list": (("column",), (*_COLUMN_MAP, "type_list")),
    "expect_column_values_to_not_be_null": (("column",), _COLUMN_MAP),
    "expect_column_values_to_be_null": (("column",), _COLUMN_MAP),
    "expect_column_values_to_be_unique": (("column",), _COLUMN_MAP),
    "expect_compound_columns_to_be_unique": (("column_list",), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_select_column_values_to_be_unique_within_record": (("column_list",), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_column_values_to_be_in_set": (("column", "value_set"), _COLUMN_MAP),
    "expect_column_values_to_not_be_in_set": (("column", "value_set"), _COLUMN_MAP),
    "expect_column_distinct_values_to_be_in_set": (("column", "value_set"), _ROW_FILTER),
    "expect_column_distinct_values_to_contain_set": (("column", "value_set"), _ROW_FILTER),
    "expect_column_distinct_values_to_equal_set": (("column", "value_set"), _ROW_FILTER),
    "expect_column_values_to_be_between": (("column",), (*_COLUMN_MAP, *_RANGE)),
    "expect_column_value_lengths_to_be_between": (("column",), (*_COLUMN_MAP, *_RANGE)),
    "expect_column_value_lengths_to_equal": (("column", "value"), _COLUMN_MAP),
    "expect_column_values_to_match_regex": (("column",), (*_COLUMN_MAP, "regex")),
    "expect_column_values_to_not_match_regex": (("column", "regex"), _COLUMN_MAP),
    "expect_column_values_to_match_regex_list": (("column", "regex_list"), (*_COLUMN_MAP, "match_on")),
    "expect_column_values_to_match_strftime_format": (("column", "strftime_format"), _COLUMN_MAP),
    "expect_column_values_to_be_increasing": (("column",), (*_COLUMN_MAP, "strictly")),
    "expect_column_values_to_be_decreasing": (("column",), (*_COLUMN_MAP, "strictly")),
    "expect_column_pair_values_to_be_equal": (("column_A", "column_B"), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        ("column_A", "column_B"), (*_COLUMN_MAP, "or_equal", "ignore_row_if")),
    "expect_multicolumn_sum_to_equal": (("column_list", "sum_total"), (*_COLUMN_MAP, "ignore_row_if")),
    "expect_column_min_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_max_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_mean_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_sum_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_unique_value_count_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_column_proportion_of_non_null_values_to_be_between": (("column",), (*_ROW_FILTER, *_RANGE)),
    "expect_table_row_count_to_be_between": ((), (*_RANGE, *_ROW_FILTER)),
    "expect_table_row_count_to_equal": (("value",), _ROW_FILTER),
    "expect_table_columns_to_match_set": ((), ("column_set", "exact_match")),
    "expect_table_columns_to_match_ordered_list": ((), ("column_list",)),
    "expect_table_column_count_to_equal": (("value",), ()),
}

# What a kwarg must look like, by name, wherever it appears (checked without GX).
_NUMBER = (int, float)
_KWARG_TYPES: dict[str, tuple[type, ...]] = {
    "column": (str,), "column_A": (str,), "column_B": (str,), "type_": (str,), "regex": (str,),
    "strftime_format": (str,), "row_condition": (str,), "condition_parser": (str,), "ignore_row_if": (str,),
    "match_on": (str,), "column_list": (list,), "column_set": (list,), "value_set": (list,),
    "regex_list": (list,), "type_list": (list,), "mostly": _NUMBER, "sum_total": _NUMBER,
    "value": _NUMBER, "column_index": (int,), "strict_min": (bool,), "strict_max": (bool,),
    "strictly": (bool,), "or_equal": (bool,), "exact_match": (bool,),
    "min_value": (*_NUMBER, dict, type(None)), "max_value": (*_NUMBER, dict, type(None)),
}

# Derived kwargs: {kwarg: {derived name: argument}} resolved from the run context.
_DERIVED_KWARGS = {"previous_row_count_ratio": ("min_value", "max_value")}

_ENTRY_KEYS = {"expectation", "kwargs", "severity", "description", "derive"}
_SUITE_KEYS = {"asset", "description", "extends", "expectations"}


class QualityError(ValueError):
    """A suite file that cannot be loaded, or a suite that cannot be run, with the file and entry named."""


@dataclass(frozen=True)
class SuiteEntry:
    expectation: str
    kwargs: dict[str, Any]
    severity: str
    description: str | None
    derive: dict[str, Any] | None
    source_file: str  # the file the entry is written in (a base file for inherited entries)
    position: int  # 1-based position in that file's expectations list

    @property
    def label(self) -> str:
        return f"{self.source_file} entry {self.position} ({self.expectation})"


@dataclass(frozen=True)
class Suite:
    name: str  # the file stem; also the Dagster check name
    path: str  # relative to the checks root's parent, e.g. checks/ssb_10826.yaml
    assets: tuple[str, ...]  # asset keys as "staging/ssb_10826"
    description: str
    entries: tuple[SuiteEntry, ...]

    @property
    def blocking(self) -> bool:
        return any(entry.severity == "error" for entry in self.entries)

    @property
    def derivations(self) -> set[str]:
        return {entry.derive["name"] for entry in self.entries if entry.derive}

    @property
    def needs_previous_row_count(self) -> bool:
        return any(derived_kwargs(entry.kwargs) for entry in self.entries)


def load_suites(checks_root: Path | str) -> list[Suite]:
    """Every suite in checks_root/*.yaml (bases, named _*.yaml, only through `extends`), by name."""
    root = Path(checks_root)
    if not root.is_dir():
        raise QualityError(f"checks folder {root} does not exist")
    suites = [load_suite(path) for path in sorted(root.glob("*.yaml")) if not path.name.startswith("_")]
    return suites


def load_suite(path: Path | str) -> Suite:
    path = Path(path)
    document = _read_yaml(path)
    label = _display(path)
    unknown = set(document) - _SUITE_KEYS
    if unknown:
        raise QualityError(f"{label}: unknown key(s) {sorted(unknown)} (allowed: {sorted(_SUITE_KEYS)})")
    assets = document.get("asset")
    if isinstance(assets, str):
        assets = [assets]
    if not assets or not all(isinstance(a, str) and a for a in assets):
        raise QualityError(f"{label}: 'asset' must name an asset key such as staging/ssb_10826 (or a list)")
    entries = _entries_with_bases(path, document, seen=[])
    if not entries:
        raise QualityError(f"{label}: the suite has no expectations")
    return Suite(name=path.stem, path=label, assets=tuple(assets),
                 description=str(document.get("description") or ""), entries=tuple(entries))


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise QualityError(f"suite file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise QualityError(f"{_display(path)}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise QualityError(f"{_display(path)}: expected a mapping with 'expectations'")
    return document


def _entries_with_bases(path: Path, document: dict[str, Any], seen: list[Path]) -> list[SuiteEntry]:
    label = _display(path)
    if path.resolve() in seen:
        raise QualityError(f"{label}: 'extends' forms a cycle through {[p.name for p in seen]}")
    seen = [*seen, path.resolve()]
    entries: list[SuiteEntry] = []
    base = document.get("extends")
    if base is not None:
        base_path = path.parent / str(base)
        if not base_path.exists():
            raise QualityError(f"{label}: extends {base!r}, but {base_path} does not exist")
        entries.extend(_entries_with_bases(base_path, _read_yaml(base_path), seen))
    raw_entries = document.get("expectations") or []
    if not isinstance(raw_entries, list):
        raise QualityError(f"{label}: 'expectations' must be a list")
    entries.extend(_entry(label, position, raw) for position, raw in enumerate(raw_entries, start=1))
    return entries


def _entry(label: str, position: int, raw: Any) -> SuiteEntry:
    where = f"{label} entry {position}"
    if not isinstance(raw, dict):
        raise QualityError(f"{where}: expected a mapping with 'expectation', 'kwargs' and 'severity'")
    name = raw.get("expectation")
    where = f"{where} ({name})"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise QualityError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {sorted(_ENTRY_KEYS)})")
    if name not in SUPPORTED_EXPECTATIONS:
        close = [known for known in SUPPORTED_EXPECTATIONS if name and name.split("_")[-1] in known]
        hint = f"; similar: {close[:5]}" if close else ""
        raise QualityError(f"{where}: unknown expectation {name!r} (see SUPPORTED_EXPECTATIONS in "
                           f"ci_pipeline/quality/suites.py{hint})")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise QualityError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
    kwargs = raw.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise QualityError(f"{where}: kwargs must be a mapping")
    _check_kwargs(where, name, kwargs)
    derive = _derive_spec(where, raw.get("derive"), kwargs)
    description = raw.get("description")
    return SuiteEntry(expectation=name, kwargs=kwargs, severity=severity,
                      description=str(description) if description is not None else None,
                      derive=derive, source_file=label, position=position)


def _check_kwargs(where: str, name: str, kwargs: dict[str, Any]) -> None:
    required, optional = SUPPORTED_EXPECTATIONS[name]
    missing = [k for k in required if k not in kwargs]
    if missing:
        raise QualityError(f"{where}: missing required kwarg(s) {missing}")
    unknown = [k for k in kwargs if k not in required and k not in optional]
    if unknown:
        raise QualityError(f"{where}: unknown kwarg(s) {unknown}; {name} takes {list(required + optional)}")
    for key, value in kwargs.items():
        allowed = _KWARG_TYPES.get(key)
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise QualityError(f"{where}: kwarg {key}={value!r} must be of type "
                               f"{' or '.join(t.__name__ for t in allowed)}")
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in _DERIVED_KWARGS \
                    or key not in _DERIVED_KWARGS[next(iter(value))]:
                raise QualityError(f"{where}: kwarg {key}={value!r}: a mapping here must be a derived kwarg "
                                   f"such as {{previous_row_count_ratio: 0.8}} (on min_value/max_value)")
            ratio = next(iter(value.values()))
            if not isinstance(ratio, _NUMBER) or isinstance(ratio, bool) or ratio < 0:
                raise QualityError(f"{where}: kwarg {key}: previous_row_count_ratio must be a number >= 0")
    if "mostly" in kwargs and not 0 <= kwargs["mostly"] <= 1:
        raise QualityError(f"{where}: mostly must be between 0 and 1, got {kwargs['mostly']}")
    if name.endswith("_to_be_between") and kwargs.get("min_value") is None and kwargs.get("max_value") is None:
        raise QualityError(f"{where}: give min_value, max_value or both")


def _derive_spec(where: str, raw: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    if raw is None:
        return None
    spec = {"name": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, dict) or spec.get("name") not in DERIVATIONS:
        raise QualityError(f"{where}: derive must name one of {sorted(DERIVATIONS)}, got {raw!r}")
    name = spec["name"]
    arguments = {k: v for k, v in spec.items() if k != "name"}
    allowed = DERIVATIONS[name].arguments
    unknown = set(arguments) - set(allowed)
    if unknown:
        raise QualityError(f"{where}: derivation {name} takes {sorted(allowed)}, not {sorted(unknown)}")
    for key, value in arguments.items():
        if not isinstance(value, allowed[key]):
            raise QualityError(f"{where}: derivation {name}: {key}={value!r} must be of type "
                               f"{' or '.join(t.__name__ for t in allowed[key])}")
    if kwargs.get("column") != name:
        raise QualityError(f"{where}: an entry with derive {name} must check column {name!r} "
                           f"(kwargs.column is {kwargs.get('column')!r})")
    return {"name": name, **arguments}


def derived_kwargs(kwargs: dict[str, Any]) -> list[str]:
    return [key for key, value in kwargs.items() if isinstance(value, dict)]
