"""The nested values of a source catalogue file (ci_pipeline.catalogue): data requests (SSB selections, FHI
filters, Oslo statbank selections), dimension roles, indicator codes in their three forms, a table's
small-group rule and a reference entry's left-out rows, each a TypedDict that pydantic validates with
no extra keys allowed."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import Discriminator, Field, Tag
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from ci_pipeline.config import Code, Text, forbid_extra_keys

NonEmpty = Field(min_length=1)


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


@forbid_extra_keys
class NotUsedRows(TypedDict):
    """Rows of a reference entry left out: those of this period (and region level, when given)."""

    period: Code
    region_level: NotRequired[Literal["country", "county", "municipality", "district"]]
    reason: Text
