"""The source catalogue: which tables the pipeline fetches and how their cells map to indicators.

One YAML file per table under <catalogue root>/sources/<source>/ (ssb, fhi, oslo, reference). A data engineer adds a
table by adding a file; `load_catalogue()` validates every file against the models below and reports
every problem of every file at once, each as `file: key.path: message`, so a typo never becomes a
silently empty indicator and an unknown key (`untis:`) is never silently ignored.

Schema of one file (codes are strings: quote them, YAML reads 0301 as the octal number 193):

    source: ssb | fhi | oslo | reference
    name: ssb_10826            # asset name, letters/digits/_; default "<source>_<table_id>"; unique
    table_id: "10826"          # string, keeps leading zeros
    fhi_source: nokkel         # fhi only; default nokkel
    title: "..."               # the table's title as the source names it (nb)
    title_en: "..."            # optional
    description: "..."         # what it means and which goal it serves
    group: population          # free text, for the UI
    selection:                 # ssb: the data request, in this order
      - {variable: Region, values: ["0301", "030101"], codelist: vs_Kommun}  # codelist optional
    dimensions_filter:         # fhi only: every dimension of the table (FHI rejects a partial list)
      - {code: GEO, filter: item, values: ["0301"]}                         # filter item|all|top
    table_path: "Trygd, sosiale tjenester og barnevern/Trygd/OK-SOS006.px"  # oslo only: the table in
                               # Oslo kommune statistikkbank (PxWeb v1), under .../api/v1/no/db1/
    selection:                 # oslo: the v1 query, one item per variable (filter item|all|top);
      - {variable: bosted, filter: all, values: ["*"]}   # ContentsCode is no variable of a v1 table
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
    small_groups: {below: 5, note: "..."}  # oslo only: the table publishes groups under `below` as 0
                                           # (or leaves them empty); such a cell becomes ":" (suppressed)
    reference_time: end_of_year | during_year   # oslo only: a count per 31.12, or over the year
    not_used: {"2": "why"}     # oslo: codes of the indicator dimension left out, each with the reason
                               # (reference: indicator ids of the series left out, with the reason)

A reference entry (`source: reference`) points at figures that come as files, not from an API
(ci_pipeline/sources/reference_series/: <reference-series root>/<series>.yaml + .csv, checksummed):

    source: reference
    table_id: imdi_persistent_low_income   # the entry's own id (several series may make one table)
    title, description, group: as above
    series: [imdi_persistent_low_income_2012, imdi_persistent_low_income_2013]   # file names
    indicators: [persistent_low_income_share]   # the series' indicator ids that are used
    not_used: {employed_count: "why"}            # every other indicator id of the series, with the reason
    not_used_rows: [{period: "1996-1998", region_level: district, reason: "why"}]   # optional

Every dimension in `selection`/`dimensions_filter` must be mapped in `dimensions` or listed in `fixed`,
and every mapped or fixed dimension must be selected, so the response can be mapped without guessing.
Selections are kept as plain dicts ({"variable", "values", "codelist"} / {"code", "filter", "values"});
the source clients turn them into their own request objects.

The models: `CatalogueEntry` holds what every file says (identity and description); `TableSpec` adds how
the cells of a table answered as JSON-stat map to indicators; each API family is one model derived
from it (`SsbTableSpec`, `FhiTableSpec`, `OsloTableSpec`) that adds its own data request. The file family
(`ReferenceSpec`) derives from `CatalogueEntry` directly: its figures are tidy already. A new family is one
more model in `FAMILIES`: the `source` key picks the model, and its folder sources/<source>/ is read.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NotRequired, Required, Union, get_args

from pydantic import (
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from ci_pipeline.archive import PROVENANCES
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
from ci_pipeline.periods import RANGE_KINDS

NonEmpty = Field(min_length=1)
Name = Annotated[str, matching(r"[A-Za-z0-9_]+", "may only hold letters, digits and _ (it becomes an asset name)")]
Sex = Literal["total", "male", "female"]
PeriodType = Literal[RANGE_KINDS]
Provenance = Literal[PROVENANCES]


@forbid_extra_keys
class DimensionRoles(TypedDict, total=False):
    """Role -> dimension id. `measure` is another spelling of `indicator` (FHI's MEASURE_TYPE)."""

    region: Required[Code]
    period: Required[Code]
    sex: Code
    age: Code
    indicator: Code
    measure: Code


@forbid_extra_keys
class ValueCode(TypedDict):
    indicator_id: Text
    unit: Text


@forbid_extra_keys
class NumeratorCode(TypedDict):
    numerator_of: Text


@forbid_extra_keys
class DenominatorCode(TypedDict):
    denominator_of: Text


def _code_form(entry: Any) -> str:
    """Which of the three forms an indicator code entry is meant to be (so errors speak of that form).
    The tags are no keys of the file, so error locations never mistake one for a key."""
    if isinstance(entry, dict):
        if "numerator_of" in entry:
            return "numerator"
        if "denominator_of" in entry:
            return "denominator"
    return "value"


IndicatorCode = Annotated[
    Annotated[ValueCode, Tag("value")] | Annotated[NumeratorCode, Tag("numerator")]
    | Annotated[DenominatorCode, Tag("denominator")],
    Discriminator(_code_form),
]


@forbid_extra_keys
class SsbSelection(TypedDict):
    variable: Code
    values: Annotated[list[Code], NonEmpty]
    codelist: NotRequired[Code | None]


@forbid_extra_keys
class FhiFilter(TypedDict):
    code: Code
    filter: Literal["item", "all", "top"]
    values: Annotated[list[Code], NonEmpty]


@forbid_extra_keys
class OsloSelection(TypedDict):
    """One variable of a PxWeb v1 query: codes (item), `*` patterns (all) or the newest n periods (top)."""

    variable: Code
    filter: Literal["item", "all", "top"]
    values: Annotated[list[Code], NonEmpty]


@forbid_extra_keys
class SmallGroups(TypedDict):
    """A table's own rule for small groups: groups under `below` are published as 0 or left empty."""

    below: Annotated[int, Field(strict=True, ge=1)]
    note: Text


class CatalogueEntry(ConfigModel):
    """What every catalogue file says, whatever its source: which table it is and what it means."""

    # The source family; each family's model narrows it to its own name.
    source: str
    name: Name
    table_id: Code
    title: Text
    title_en: Text | None = None
    description: Text
    group: Text
    snapshot_provenance: Provenance | None = None
    # The file the entry was read from: set by the loader, never a key of the file.
    path: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None:
            return {**data, "name": f"{data.get('source')}_{data.get('table_id')}"}
        return data

    @field_validator("source")
    @classmethod
    def _in_its_folder(cls, source: str, info: ValidationInfo) -> str:
        folder = (info.context or {}).get("folder")
        if folder is not None and source != folder:
            raise ValueError(f"is {source!r} but the file is in the sources/{folder} folder")
        return source

    @field_validator("path", mode="before")
    @classmethod
    def _not_written_in_files(cls, path: Any, info: ValidationInfo) -> Any:
        if (info.context or {}).get("from_file"):
            raise PydanticCustomError("extra_forbidden", "the loader sets path; it is not a key of the file")
        return path


class TableSpec(CatalogueEntry):
    """A table answered as JSON-stat, and how its cells become indicator observations."""

    dimensions: DimensionRoles
    fixed: Annotated[dict[Code, Code], NonEmpty] = Field(default_factory=dict)
    indicators: Annotated[dict[Code, IndicatorCode], NonEmpty]
    sex_codes: Annotated[dict[Code, Sex], NonEmpty] | None = None
    age_codes: Annotated[dict[Code, Text], NonEmpty] | None = None
    period_type: PeriodType | None = None

    @field_validator("dimensions")
    @classmethod
    def _indicator_role(cls, roles: dict[str, str]) -> dict[str, str]:
        problems = []
        if "measure" in roles and "indicator" in roles:
            problems.append(((), "give either indicator or measure, not both"))
        elif "measure" not in roles and "indicator" not in roles:
            problems.append((("indicator",), "required key is missing (or write measure:)"))
        if len(set(roles.values())) != len(roles):
            problems.append(((), "maps two roles to the same dimension"))
        raise_problems(problems)
        return {("indicator" if role == "measure" else role): dim_id for role, dim_id in roles.items()}

    @field_validator("indicators")
    @classmethod
    def _numerators_and_denominators_have_a_value(cls, indicators: dict[str, dict]) -> dict[str, dict]:
        problems = []
        value_codes: dict[str, str] = {}
        for code, entry in indicators.items():
            value_id = entry.get("indicator_id")
            if value_id in value_codes:
                problems.append(((code,), f"indicator_id {value_id!r} is also given by {value_codes[value_id]!r}"))
            elif value_id is not None:
                value_codes[value_id] = code
        for role in ("numerator_of", "denominator_of"):
            partners: dict[str, str] = {}
            for code, entry in indicators.items():
                target = entry.get(role)
                if target is None:
                    continue
                if target not in value_codes:
                    problems.append(((code, role), f"{target!r} is not the indicator_id of any value entry in this file"))
                elif target in partners:
                    problems.append(((code, role), f"{target!r} already has {role.split('_')[0]} {partners[target]!r}"))
                partners.setdefault(target, code)
        raise_problems(problems)
        return indicators

    @model_validator(mode="after")
    def _fixed_is_not_mapped(self) -> TableSpec:
        raise_problems((("fixed", dim_id), "is also mapped in 'dimensions'")
                       for dim_id in self.fixed if dim_id in self.dimensions.values())
        return self

    def check_request(self, key: str, requested: list[tuple[str, list[str] | None]]) -> None:
        """The data request under `key` asks for exactly the mapped and fixed dimensions, each once,
        and for a fixed one only its code; `requested` holds (dimension id, its codes, or None when the
        request takes whatever the table holds)."""
        names = [dim_id for dim_id, _ in requested]
        selected = dict(requested)
        expected = set(self.dimensions.values()) | set(self.fixed)
        problems = [((key,), f"lists {name!r} twice") for name in sorted({n for n in names if names.count(n) > 1})]
        unmapped = sorted(set(selected) - expected)
        if unmapped:
            problems.append(((key,), f"selects {unmapped}, which are neither mapped in 'dimensions' nor in 'fixed'"))
        unselected = sorted(expected - set(selected))
        if unselected:
            problems.append(((key,), f"does not select {unselected}, which 'dimensions'/'fixed' name"))
        for dim_id, code in self.fixed.items():
            if selected.get(dim_id) not in (None, [code]):
                problems.append(((key,), (f"fixed dimension {dim_id!r} must select only {code!r}, "
                                         f"not {selected[dim_id]}")))
        raise_problems(problems)


class SsbTableSpec(TableSpec):
    """A table of SSB's StatBank, fetched through PxWebApi v2."""

    api: ClassVar[str] = "SSB PxWebApi v2"
    source: Literal["ssb"]
    selection: Annotated[list[SsbSelection], NonEmpty]

    @field_validator("selection")
    @classmethod
    def _codelist_is_always_given(cls, selection: list[dict]) -> list[dict]:
        return [{"variable": item["variable"], "values": item["values"], "codelist": item.get("codelist")}
                for item in selection]

    @model_validator(mode="after")
    def _selection_covers_the_dimensions(self) -> SsbTableSpec:
        self.check_request("selection", [(item["variable"], item["values"]) for item in self.selection])
        return self

    @property
    def request(self) -> list[dict]:
        """The data request as the file writes it."""
        return self.selection


class FhiTableSpec(TableSpec):
    """A table of FHI Statistikk (by default its `nokkel` source), fetched through the FHI open API."""

    api: ClassVar[str] = "FHI Statistikk open API"
    source: Literal["fhi"]
    fhi_source: Text = "nokkel"
    dimensions_filter: Annotated[list[FhiFilter], NonEmpty]

    @model_validator(mode="after")
    def _filter_covers_the_dimensions(self) -> FhiTableSpec:
        # Only an `item` filter names its codes; `all`/`top` select whatever the table holds.
        self.check_request("dimensions_filter", [(item["code"], item["values"] if item["filter"] == "item" else None)
                                                 for item in self.dimensions_filter])
        return self

    @property
    def request(self) -> list[dict]:
        """The data request as the file writes it."""
        return self.dimensions_filter


# A v1 answer carries the eliminated contents as a dimension the table's variables do not list.
V1_CONTENTS = "ContentsCode"


class OsloTableSpec(TableSpec):
    """A table of Oslo kommune statistikkbank, fetched through its PxWeb v1 API (ci_pipeline/sources/oslo.py)
    and mapped by ci_pipeline/sources/oslo_tidy.py (geography, ordinal years and sexes by label)."""

    api: ClassVar[str] = "Oslo kommune statistikkbank (PxWeb v1)"
    source: Literal["oslo"]
    table_path: Annotated[Text, matching(r".+\.px", "must be the table's path in the bank, ending in .px")]
    selection: Annotated[list[OsloSelection], NonEmpty]
    small_groups: SmallGroups | None = None
    reference_time: Literal["end_of_year", "during_year"]
    not_used: dict[Code, Text] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _selection_covers_the_dimensions(self) -> OsloTableSpec:
        requested = [(item["variable"], item["values"] if item["filter"] == "item" else None)
                     for item in self.selection]
        if V1_CONTENTS in self.fixed and all(item["variable"] != V1_CONTENTS for item in self.selection):
            requested.append((V1_CONTENTS, None))
        self.check_request("selection", requested)
        problems = [(("indicators", code), "an Oslo table publishes values only (no numerator_of/denominator_of)")
                    for code, entry in self.indicators.items() if "indicator_id" not in entry]
        problems += [(("not_used", code), "is also mapped in 'indicators'")
                     for code in self.not_used if code in self.indicators]
        raise_problems(problems)
        return self

    @property
    def request(self) -> list[dict]:
        """The data request as the file writes it."""
        return self.selection


@forbid_extra_keys
class NotUsedRows(TypedDict):
    """Rows of a reference entry left out: those of this period (and region level, when given)."""

    period: Code
    region_level: NotRequired[Literal["country", "county", "municipality", "district"]]
    reason: Text


class ReferenceSpec(CatalogueEntry):
    """Published figures that come as files, not from an API: one or more reference series
    (ci_pipeline/sources/reference_series/), checksummed copies with their origin, as one table."""

    api: ClassVar[str] = "Reference series (checksummed files)"
    source: Literal["reference"]
    series: Annotated[list[Annotated[Code, matching(r"[a-z][a-z0-9_]*", "must be a series' file name")]], NonEmpty]
    indicators: Annotated[list[Code], NonEmpty]
    not_used: dict[Code, Text] = Field(default_factory=dict)
    not_used_rows: list[NotUsedRows] = Field(default_factory=list)
    snapshot_provenance: Literal["reconstructed"] = "reconstructed"

    @model_validator(mode="after")
    def _distinct(self) -> ReferenceSpec:
        problems = [(("series",), f"lists {name!r} twice") for name in sorted(set(self.series))
                    if self.series.count(name) > 1]
        problems += [(("not_used", indicator_id), "is also in 'indicators'")
                     for indicator_id in self.not_used if indicator_id in self.indicators]
        raise_problems(problems)
        return self

    @property
    def request(self) -> list[str]:
        """What the entry reads: its series, in order."""
        return self.series


# Every source family; `source` in a file picks one, and sources/<source>/ holds its files.
FAMILIES = (SsbTableSpec, FhiTableSpec, OsloTableSpec, ReferenceSpec)
SOURCES = tuple(get_args(family.model_fields["source"].annotation)[0] for family in FAMILIES)


class _CatalogueFile(RootModel[Annotated[Union[FAMILIES], Field(discriminator="source")]]):  # noqa: UP007
    """One catalogue file: the family its `source` names."""


def load_table_spec(path: Path | str, *, expected_source: str | None = None) -> CatalogueEntry:
    """One catalogue file, validated (`expected_source`: the family its folder is for)."""
    path = Path(path)
    entry = load_model(_CatalogueFile, path, context={"from_file": True, "folder": expected_source}).root
    return entry.model_copy(update={"path": path})


def load_catalogue(root: Path | str) -> list[CatalogueEntry]:
    """Every table spec under <root>/sources/<source>/*.yaml, in family order, then file-name order.

    Raises one ConfigError listing the problems of every file, then names used twice."""
    sources = Path(root) / "sources"
    if not any((sources / source).is_dir() for source in SOURCES):
        raise ConfigError([f"{root}: no {' or '.join(f'sources/{source}' for source in SOURCES)} folder"])
    problems = [f"{folder}: not a source folder (the sources are {', '.join(SOURCES)})"
                for folder in sorted(sources.iterdir())
                if folder.is_dir() and folder.name not in SOURCES and not folder.name.startswith(".")]
    loaders = [partial(load_table_spec, path, expected_source=source)
               for source in SOURCES for path in sorted((sources / source).glob("*.yaml"))]
    try:
        specs = collect(loaders)
    except ConfigError as error:
        raise ConfigError(problems + error.problems) from None
    first_with: dict[str, CatalogueEntry] = {}
    for spec in specs:
        if spec.name in first_with:
            problems.append(f"{spec.path}: name: {spec.name!r} is already used by {first_with[spec.name].path}; "
                            "names must be unique across the catalogue")
        first_with.setdefault(spec.name, spec)
    if problems:
        raise ConfigError(problems)
    return specs
