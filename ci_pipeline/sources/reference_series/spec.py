"""A reference series' YAML (data/reference_series/<name>.yaml) as validated models: its origin, the
recipe that reads the original file (`Recipe`: format, regions, period, sex, age, measures, what is kept
and what is not used), and the sha256 of its project copy; `load_spec()`. Also `ReferenceSeriesError`
and the project copy's columns (`CSV_COLUMNS`), which every step shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ci_pipeline.config import ConfigModel, load_model

CSV_COLUMNS = ["indicator_id", "region_code", "region_level", "period", "period_type", "sex", "age_group",
               "value", "unit", "status"]


class ReferenceSeriesError(ValueError):
    """A reference file or project copy that does not fit its recipe (named with file and record)."""


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
