"""Expectation suites: the model (Suite, SuiteEntry) and loading checks/*.yaml, validated without GX.

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

Every file is read through the pydantic models below (ci_pipeline/config.py): an unknown key
(`sevrity:`) is an error, and every problem of every file is reported at once as `file: key.path:
message`. Loading happens when the Dagster definitions load, so it must not import GX (~3 s, ~250 MB):
names and kwargs are checked against SUPPORTED_EXPECTATIONS, a static table that tests compare with GX's
classes, and each kwarg's type against ExpectationKwargs; an entry's `derive:` names one of
quality.derivations.DERIVATIONS with its arguments. The row count of the previous published version
enters as a derived kwarg: `kwargs: {min_value: {previous_row_count_ratio: 0.8}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from ci_pipeline.config import (
    ConfigError,
    ConfigModel,
    Number,
    Text,
    collect,
    display_path,
    forbid_extra_keys,
    load_model,
    matching,
    raise_problems,
)
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



class QualityError(ValueError):
    """A suite that cannot be run (GX refuses an entry), with the file and entry named."""


# ------------------------------------------------------------------------------ the file schema


def _supported(name: str) -> str:
    if name not in SUPPORTED_EXPECTATIONS:
        close = [known for known in SUPPORTED_EXPECTATIONS if name.split("_")[-1] in known]
        hint = f"; similar: {', '.join(close[:5])}" if close else ""
        raise ValueError(f"unknown expectation {name!r} (see SUPPORTED_EXPECTATIONS in "
                         f"ci_pipeline/quality/suites.py{hint})")
    return name


@forbid_extra_keys
class RowCountRatio(TypedDict):
    """A bound derived from the previous published version's row count: ratio x that count."""

    previous_row_count_ratio: Annotated[Number, Field(ge=0)]


def _bound_kind(value: Any) -> str:
    return "derived" if isinstance(value, dict) else "number"


# min_value / max_value: a number, or a derived bound such as {previous_row_count_ratio: 0.8}.
Bound = Annotated[Union[Annotated[Number, Tag("number")], Annotated[RowCountRatio, Tag("derived")]],  # noqa: UP007
                  Discriminator(_bound_kind)]


@forbid_extra_keys
class ExpectationKwargs(TypedDict, total=False):
    """Every kwarg a supported expectation takes, with what it must look like wherever it appears
    (which expectation takes which is SUPPORTED_EXPECTATIONS)."""

    column: StrictStr
    column_A: StrictStr
    column_B: StrictStr
    column_index: StrictInt
    column_list: list[StrictStr]
    column_set: list[StrictStr]
    type_: StrictStr
    type_list: list[StrictStr]
    value_set: list[Any]
    value: Number
    sum_total: Number
    regex: StrictStr
    regex_list: list[StrictStr]
    match_on: StrictStr
    strftime_format: StrictStr
    mostly: Annotated[Number, Field(ge=0, le=1)]
    row_condition: StrictStr
    condition_parser: StrictStr
    ignore_row_if: StrictStr
    min_value: Bound | None
    max_value: Bound | None
    strict_min: StrictBool
    strict_max: StrictBool
    strictly: StrictBool
    or_equal: StrictBool
    exact_match: StrictBool


# `derive: name` is short for `derive: {name: name}`; the name picks the derivation's arguments.
DeriveSpec = Annotated[Union[tuple(derivation.arguments for derivation in DERIVATIONS.values())],  # noqa: UP007
                       Field(discriminator="name"),
                       BeforeValidator(lambda value: {"name": value} if isinstance(value, str) else value)]


class ExpectationEntry(ConfigModel):
    """One entry of a suite file's `expectations` list."""

    expectation: Annotated[StrictStr, AfterValidator(_supported)]
    kwargs: ExpectationKwargs = Field(default_factory=dict)
    severity: Literal[SEVERITIES]
    description: str | None = None
    derive: DeriveSpec | None = None

    @model_validator(mode="after")
    def _kwargs_fit_the_expectation(self) -> ExpectationEntry:
        required, optional = SUPPORTED_EXPECTATIONS[self.expectation]
        problems = [(("kwargs", key), f"required key is missing ({self.expectation} needs it)")
                    for key in required if key not in self.kwargs]
        problems += [(("kwargs", key), f"{self.expectation} does not take it; it takes {', '.join(required + optional)}")
                     for key in self.kwargs if key not in required + optional]
        if self.expectation.endswith("_to_be_between") and self.kwargs.get("min_value") is None \
                and self.kwargs.get("max_value") is None:
            problems.append((("kwargs",), "give min_value, max_value or both"))
        if self.derive and self.kwargs.get("column") != self.derive["name"]:
            name = self.derive["name"]
            problems.append((("kwargs", "column"), (f"an entry with derive {name} must check column {name!r} "
                                                    f"(got {self.kwargs.get('column')!r})")))
        raise_problems(problems)
        return self


def _not_empty(assets: tuple[str, ...]) -> tuple[str, ...]:
    if not assets:
        raise ValueError("must name at least one asset key")
    return assets


AssetKeyText = Annotated[Text, matching(r"[\w-]+(?:/[\w-]+)+", "must be an asset key such as staging/ssb_10826")]


class SuiteBaseFile(ConfigModel):
    """A base file (_*.yaml): entries that suites take first through `extends`."""

    description: str = ""
    extends: Text | None = None  # a file in the same folder
    expectations: list[ExpectationEntry] = Field(default_factory=list)

    @field_validator("extends")
    @classmethod
    def _base_exists(cls, base: str | None, info: ValidationInfo) -> str | None:
        folder = (info.context or {}).get("folder")
        if base is not None and folder is not None and not (folder / base).is_file():
            raise ValueError(f"{base!r} does not exist (looked for {folder / base})")
        return base


class SuiteFile(SuiteBaseFile):
    """A suite file: the asset(s) it checks and its entries (after those of its bases)."""

    asset: Annotated[tuple[AssetKeyText, ...], AfterValidator(_not_empty),
                     BeforeValidator(lambda value: [value] if isinstance(value, str) else value)]


# ------------------------------------------------------------------------------ the loaded suites


@dataclass(frozen=True)
class SuiteEntry:
    expectation: str
    kwargs: dict[str, Any]
    severity: str
    description: str | None
    derive: dict[str, Any] | None  # {"name": derivation, **its arguments}
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


def derived_kwargs(kwargs: dict[str, Any]) -> list[str]:
    return [key for key, value in kwargs.items() if isinstance(value, dict)]


def load_suites(checks_root: Path | str) -> list[Suite]:
    """Every suite in checks_root/*.yaml, by file name (bases, _*.yaml, are validated and used only
    through `extends`). One ConfigError lists the problems of every file."""
    root = Path(checks_root)
    if not root.is_dir():
        raise ConfigError([f"{root}: the checks folder does not exist"])
    files = _SuiteFiles()
    loaded = collect(partial(_suite_or_base, path, files) for path in sorted(root.glob("*.yaml")))
    return [suite for suite in loaded if suite is not None]


def load_suite(path: Path | str) -> Suite:
    """One suite file with its bases; a ConfigError lists every problem."""
    return _suite(Path(path), _SuiteFiles())


def _display(path: Path) -> str:
    return display_path(path, path.parent.parent)


class _SuiteFiles:
    """The suite files of one load, each read and validated once: its problems are reported the first
    time it is read, and a later read of a broken file (a base many suites extend) does not repeat them."""

    def __init__(self) -> None:
        self._read: dict[Path, SuiteBaseFile | None] = {}

    def get(self, path: Path) -> SuiteBaseFile:
        key = path.resolve()
        if key not in self._read:
            self._read[key] = None
            model = SuiteBaseFile if path.name.startswith("_") else SuiteFile
            self._read[key] = load_model(model, path, root=path.parent.parent, context={"folder": path.parent})
        document = self._read[key]
        if document is None:
            raise ConfigError([])
        return document


def _suite_or_base(path: Path, files: _SuiteFiles) -> Suite | None:
    if path.name.startswith("_"):
        files.get(path)
        return None
    return _suite(path, files)


def _suite(path: Path, files: _SuiteFiles) -> Suite:
    document = files.get(path)
    entries = _entries(path, files, seen=())
    if not entries:
        raise ConfigError([f"{_display(path)}: expectations: the suite has no expectations (here or in its bases)"])
    return Suite(name=path.stem, path=_display(path), assets=document.asset, description=document.description,
                 entries=tuple(entries))


def _entries(path: Path, files: _SuiteFiles, seen: tuple[Path, ...]) -> list[SuiteEntry]:
    """The entries of `path`'s bases, then its own."""
    shown = _display(path)
    if path.resolve() in seen:
        raise ConfigError([f"{shown}: extends: forms a cycle through {[p.name for p in seen]}"])
    document = files.get(path)
    entries: list[SuiteEntry] = []
    if document.extends is not None:
        entries.extend(_entries(path.parent / document.extends, files, (*seen, path.resolve())))
    entries.extend(SuiteEntry(expectation=entry.expectation, kwargs=dict(entry.kwargs), severity=entry.severity,
                              description=entry.description, derive=dict(entry.derive) if entry.derive else None,
                              source_file=shown, position=position)
                   for position, entry in enumerate(document.expectations, start=1))
    return entries
