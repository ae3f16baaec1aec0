"""The indicator registry: one YAML file per indicator in assets/indicators/ (schema in docs/REGISTRY.md).

load_registry() validates every file against the `Indicator` model and reports the problems of all
files at once, each as `file: key.path: message`; registry_frame() turns the registry into the
`indicators` mart, one row per indicator.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

import pandas as pd
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from ci_pipeline.catalogue import SOURCES
from ci_pipeline.config import (
    Code,
    ConfigError,
    ConfigModel,
    Text,
    collect,
    forbid_extra_keys,
    load_model,
    matching,
    raise_problems,
)
from ci_pipeline.schema import INDICATOR_COLUMNS as REGISTRY_COLUMNS

KINDS = ("share", "count", "rate", "amount")
POLARITIES = ("higher_is_better", "higher_is_worse")
TESTS = ("binomial", "poisson", "none")
DISTRICT_METHODS = ("observed", "aggregated", "apportioned", "derived", "not_available")
# What a derived indicator may be: a count over a count (ci_pipeline/derived.py).
DERIVABLE_KINDS = ("share", "rate")
# Only counts add up over areas; a rate, share or amount spread by population would invent district values.
APPORTIONABLE_KINDS = ("count",)

# The registry publishes names and definitions without the line breaks YAML's block scalars leave.
Trimmed = Annotated[Text, AfterValidator(str.strip)]
WholeNumber = Annotated[int, Field(strict=True, ge=0)]


@forbid_extra_keys
class IndicatorSource(TypedDict):
    """Where the catalogue gives this indicator: the table and its contents code or FHI measure type."""

    source: Literal[SOURCES]
    table_id: Code
    code: NotRequired[Code]
    measure_type: NotRequired[Code]


@forbid_extra_keys
class Suppression(TypedDict, total=False):
    """Primary suppression limits (FHI style: a cell at or below a limit is suppressed)."""

    min_numerator: WholeNumber
    min_denominator: WholeNumber


@forbid_extra_keys
class DerivedPart(TypedDict):
    """The rows of a catalogue table that make a derived indicator's numerator or denominator: one
    published age group (`age_group`), published groups summed (`age_groups`), or single years of age
    summed into a band (`ages: "18-29"`)."""

    source: Literal[SOURCES]
    table_id: Code
    indicator_id: Text
    age_group: NotRequired[Code]
    age_groups: NotRequired[Annotated[list[Code], Field(min_length=2)]]
    ages: NotRequired[Annotated[Code, matching(r"\d+-\d+", "must be a band of single years such as 18-29")]]


@forbid_extra_keys
class Derivation(TypedDict):
    """A share or rate computed from counts of two tables (ci_pipeline/derived.py). The denominator's
    period is the numerator's plus `denominator_period_offset` years (recipients per 31.12 of year t
    against the population per 1.1 of year t+1: 1); `alignment` says why, in words."""

    numerator: DerivedPart
    denominator: DerivedPart
    denominator_period_offset: Annotated[int, Field(strict=True, ge=-1, le=1)]
    alignment: Text
    age_group: Code


@forbid_extra_keys
class ApportionShare(TypedDict):
    """A related district share (an indicator of the registry) that weighs the population."""

    indicator_id: Text
    age_group: Text


@forbid_extra_keys
class ApportionBy(TypedDict):
    """How a municipal count is spread over districts: by the population of an age group, times a related
    district share where one exists (stats.apportionment), and what that assumes, in words."""

    indicator_id: Text
    age_group: Text
    share: NotRequired[ApportionShare]
    assumption: Trimmed


class Indicator(ConfigModel):
    """One indicator of the registry (docs/REGISTRY.md)."""

    id: Annotated[Trimmed, matching(r"[a-z][a-z0-9_]*", "must be snake_case")]
    name_nb: Trimmed
    name_en: Trimmed
    definition: Trimmed
    unit: Trimmed
    polarity: Literal[POLARITIES]
    kind: Literal[KINDS]
    sources: Annotated[list[IndicatorSource], Field(min_length=1)]
    test: Literal[TESTS]
    pooling_years: Annotated[int, Field(strict=True, ge=1)]
    district_method: Literal[DISTRICT_METHODS]
    numerator: Trimmed | None = None
    denominator: Trimmed | None = None
    suppression: Suppression = Field(default_factory=dict)
    apportion_by: ApportionBy | None = None
    derived: Derivation | None = None
    goals: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _sources_of_a_derivation(cls, data: Any) -> Any:
        """A derived indicator's sources are the tables of its numerator and denominator."""
        if isinstance(data, dict) and isinstance(data.get("derived"), dict) and "sources" not in data:
            parts = [data["derived"].get(role) for role in ("numerator", "denominator")]
            if all(isinstance(part, dict) for part in parts):
                return {**data, "sources": [{"source": part.get("source"), "table_id": part.get("table_id")}
                                            for part in parts]}
        return data

    @field_validator("id")
    @classmethod
    def _named_after_its_file(cls, indicator_id: str, info: ValidationInfo) -> str:
        stem = (info.context or {}).get("file_stem")
        if stem is not None and indicator_id != stem:
            raise ValueError(f"must equal the file name {stem!r}, got {indicator_id!r}")
        return indicator_id

    @model_validator(mode="after")
    def _apportioned_counts_only(self) -> Indicator:
        problems = []
        if self.district_method == "apportioned":
            if self.kind not in APPORTIONABLE_KINDS:
                problems.append((("district_method",), (f"apportioned is only for counts; a {self.kind} is never "
                                                       "spread over districts")))
            if self.apportion_by is None:
                problems.append((("apportion_by",), "required key is missing (district_method is apportioned)"))
        elif self.apportion_by is not None:
            problems.append((("apportion_by",), ("only allowed with district_method apportioned "
                                                f"(this is {self.district_method})")))
        problems += self._derivation_problems()
        raise_problems(problems)
        return self

    def _derivation_problems(self) -> list[tuple[tuple[str, ...], str]]:
        if self.derived is None:
            return ([(("district_method",), "derived needs a `derived:` block saying numerator and denominator")]
                    if self.district_method == "derived" else [])
        problems = []
        if self.district_method != "derived":
            problems.append((("district_method",),
                             f"must be derived for an indicator with `derived:` (got {self.district_method})"))
        if self.kind not in DERIVABLE_KINDS:
            problems.append((("kind",), f"a derived indicator is a count over a count: {' or '.join(DERIVABLE_KINDS)}"))
        for role in ("numerator", "denominator"):
            part = self.derived[role]
            given = [key for key in ("age_group", "age_groups", "ages") if key in part]
            if len(given) != 1:
                problems.append((("derived", role), "give exactly one of age_group, age_groups, ages"))
        expected = [{"source": self.derived[r]["source"], "table_id": self.derived[r]["table_id"]}
                    for r in ("numerator", "denominator")]
        if [{"source": s["source"], "table_id": s["table_id"]} for s in self.sources] != expected:
            problems.append((("sources",),
                             f"must be the numerator's and denominator's tables {expected} (or leave it out)"))
        return problems


def load_indicator(path: Path) -> Indicator:
    """One indicator file, validated (its id must be its file name)."""
    return load_model(Indicator, path, context={"file_stem": path.stem})


def load_registry(root: Path) -> dict[str, Indicator]:
    """Every assets/indicators/*.yaml under `root` (the assets folder or the repository).

    Raises one ConfigError listing the problems of every file, then apportion_by references to
    indicators that are not in the registry."""
    root = Path(root)
    folder = root / "indicators" if (root / "indicators").is_dir() else root / "assets" / "indicators"
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ConfigError([f"{folder}: no indicator files (*.yaml)"])
    registry = {indicator.id: indicator for indicator in collect(partial(load_indicator, path) for path in files)}
    problems = []
    for indicator in registry.values():
        where = f"{folder / (indicator.id + '.yaml')}: apportion_by"
        by = indicator.apportion_by or {}
        if by and by["indicator_id"] not in registry:
            problems.append(f"{where}.indicator_id: {by['indicator_id']!r} is not in the registry")
        share = by.get("share")
        if share and share["indicator_id"] not in registry:
            problems.append(f"{where}.share.indicator_id: {share['indicator_id']!r} is not in the registry")
        elif share and registry[share["indicator_id"]].kind not in ("share", "rate"):
            problems.append(f"{where}.share.indicator_id: {share['indicator_id']!r} is a "
                            f"{registry[share['indicator_id']].kind}, not a share or rate")
    if problems:
        raise ConfigError(problems)
    return registry


def registry_frame(registry: dict[str, Indicator]) -> pd.DataFrame:
    """The `indicators` mart: one row per indicator; sources as a JSON string, goals comma-separated."""
    rows = []
    for indicator in sorted(registry.values(), key=lambda item: item.id):
        rows.append({
            "indicator_id": indicator.id, "name_nb": indicator.name_nb, "name_en": indicator.name_en,
            "definition": indicator.definition, "unit": indicator.unit, "polarity": indicator.polarity,
            "kind": indicator.kind,
            "sources": json.dumps(list(indicator.sources), ensure_ascii=False, sort_keys=True),
            "numerator": indicator.numerator or _part_text(indicator, "numerator"),
            "denominator": indicator.denominator or _part_text(indicator, "denominator"), "test": indicator.test,
            "pooling_years": indicator.pooling_years,
            "suppression_min_numerator": indicator.suppression.get("min_numerator"),
            "suppression_min_denominator": indicator.suppression.get("min_denominator"),
            "district_method": indicator.district_method,
            "apportion_by_indicator_id": (indicator.apportion_by or {}).get("indicator_id"),
            "apportion_by_age_group": (indicator.apportion_by or {}).get("age_group"),
            "apportion_by_share_indicator_id": (indicator.apportion_by or {}).get("share", {}).get("indicator_id"),
            "apportion_by_share_age_group": (indicator.apportion_by or {}).get("share", {}).get("age_group"),
            "apportionment_assumption": (indicator.apportion_by or {}).get("assumption"),
            "goals": ",".join(indicator.goals),
        })
    frame = pd.DataFrame.from_records(rows, columns=REGISTRY_COLUMNS)
    for column in ("pooling_years", "suppression_min_numerator", "suppression_min_denominator"):
        frame[column] = frame[column].astype("Int64")
    for column in ("apportion_by_share_indicator_id", "apportion_by_share_age_group", "apportionment_assumption"):
        frame[column] = frame[column].astype("str")  # text even where no indicator is apportioned
    return frame


def _part_text(indicator: Indicator, role: str) -> str | None:
    """A derivation's numerator or denominator in words, for the mart (when the file gives no text)."""
    if indicator.derived is None:
        return None
    part = indicator.derived[role]
    ages = part.get("age_group") or " + ".join(part.get("age_groups", [])) or f"ages {part.get('ages')}"
    return f"{part['indicator_id']} {ages} ({part['source']} table {part['table_id']})"
