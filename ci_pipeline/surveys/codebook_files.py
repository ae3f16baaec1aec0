"""The codebook's file models: assets/surveys/codebook.yaml and waves.yaml as pydantic models, checked on
load (ci_pipeline.config: unknown keys are errors, every problem of both files is reported at once as
`file: key.path: message`), and the text normalisation every spelling in them is compared by.

Questions check themselves against the scales (values, positive answers, don't-know codes) and the wave
registry through the validation context; surveys/codebook.py turns the models into the read-only
`Codebook` the rest of the survey code uses.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ci_pipeline.config import ConfigModel

# Answers a respondent gave as "don't know" are stored as this code; scale values are never negative.
DONT_KNOW = -1
DISTRICT_PREFIX = "bydel "


class CodebookError(ValueError):
    """A wave the registry does not know, or an age the codebook's bands do not cover."""


def normalise_text(text: str) -> str:
    """How free spellings (district names, sex, value labels, don't-know answers) are compared: Unicode
    NFC, case folded, inner whitespace collapsed, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def normalise_district(text: str) -> str:
    """A district spelling compared as `normalise_text`, without a leading "Bydel " ("Bydel Alna" = "Alna")."""
    normalised = normalise_text(text)
    return normalised.removeprefix(DISTRICT_PREFIX) if normalised != DISTRICT_PREFIX.strip() else normalised

# --- the file models ------------------------------------------------------------------------------


Code = int | str  # a don't-know code: a number as the file has it (99, -1) or a text ("Vet ikke")


def _unique(values: list, what: str) -> list:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} listed twice: {sorted(set(map(str, seen)))}")
    return values


class ScaleSpec(ConfigModel):
    values: list[int] = Field(min_length=2)
    # value -> its label(s): the first is the codebook's wording, the others accepted spellings (other
    # languages, the survey tool's wording); .sav value labels and text answers are checked against them.
    labels: dict[int, list[str]] = Field(default_factory=dict)
    # Answers that mean "don't know" for every question on this scale (a question may override them).
    dont_know: list[Code] = Field(default_factory=list)
    has_mean: bool

    @field_validator("labels", mode="before")
    @classmethod
    def _label_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScaleSpec:
        _unique(self.values, "value")
        if self.values != sorted(self.values) or self.values[0] < 0:
            raise ValueError("values must be non-negative and ascending (don't-know is stored as -1)")
        unknown = sorted(set(self.labels) - set(self.values))
        if unknown:
            raise ValueError(f"labels given for {unknown}, which are not values of the scale")
        _check_dont_know(self.dont_know, self.values)
        spellings = [normalise_text(s) for labels in self.labels.values() for s in labels]
        _unique(spellings, "label spelling")
        clash = sorted(set(spellings) & {normalise_text(str(c)) for c in self.dont_know})
        if clash:
            raise ValueError(f"{clash} is both a value label and a don't-know code")
        return self


def _check_dont_know(codes: list[Code], values: list[int]) -> None:
    _unique([normalise_text(str(c)) for c in codes], "don't-know code")
    overlap = sorted(c for c in codes if isinstance(c, int) and c in values)
    if overlap:
        raise ValueError(f"don't-know code(s) {overlap} are values of the scale: an answer cannot mean both")


class WaveRange(ConfigModel):
    first: str = Field(alias="from")
    last: str | None = Field(default=None, alias="to")


class QuestionSpec(ConfigModel):
    id: str = Field(pattern=r"^q_[a-z0-9_]+$")
    scale: str
    positive: list[int] = Field(min_length=1)
    waves: WaveRange
    text: str = Field(min_length=1)  # the question as asked, in English
    text_nb: str = Field(min_length=1)  # the question as asked, in Norwegian (bokmål)
    # Overrides the scale's don't-know codes for this question ([] = this question has none).
    dont_know: list[Code] | None = None

    @model_validator(mode="after")
    def _against_scale_and_waves(self, info: ValidationInfo) -> QuestionSpec:
        context = info.context or {}
        if "scales" not in context:  # the scales themselves are invalid: reported there
            return self
        scales: dict[str, ScaleSpec] = context["scales"]
        scale = scales.get(self.scale)
        if scale is None:
            raise ValueError(f"scale {self.scale!r} is not defined under scales ({', '.join(sorted(scales))})")
        if not set(self.positive) <= set(scale.values):
            raise ValueError(f"positive answers {self.positive} are not values of scale {self.scale}")
        if scale.has_mean and self.positive != scale.values[-len(self.positive):]:
            # the mean and the share positive must move together, so polarity covers both
            raise ValueError("on a scale with a mean, the positive answers must be the top values")
        if self.dont_know is not None:
            _check_dont_know(self.dont_know, scale.values)
        wave_ids: list[str] | None = context.get("wave_ids")
        if wave_ids is not None:
            for wave_id in (self.waves.first, self.waves.last):
                if wave_id is not None and wave_id not in wave_ids:
                    raise ValueError(f"wave {wave_id!r} is not in waves.yaml")
            if self.waves.last is not None and wave_ids.index(self.waves.last) < wave_ids.index(self.waves.first):
                raise ValueError("waves.to comes before waves.from")
        return self


class IndicatorSpec(ConfigModel):
    id: str = Field(pattern=r"^survey_[a-z0-9_]+$")
    name: str
    polarity: Literal["higher_is_better", "lower_is_better"]
    weighting: Literal["none", "population"] = "none"
    questions: list[QuestionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_scale(self) -> IndicatorSpec:
        if len({q.scale for q in self.questions}) != 1:
            raise ValueError("all questions of an indicator must use one scale")
        return self


class FocusAreaSpec(ConfigModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    indicators: list[IndicatorSpec] = Field(min_length=1)


class DistrictSpec(ConfigModel):
    name: str
    # Other spellings found in wave files (compared after NFC, case folding and without "Bydel ").
    aliases: list[str] = Field(default_factory=list)


class RespondentIdSpec(ConfigModel):
    column: str
    # insensitive: ids that differ only in letter case are one person (compared case folded);
    # sensitive: letter case is part of the id. Both trim and NFC-normalise first.
    case: Literal["sensitive", "insensitive"]


class ColumnSpec(ConfigModel):
    column: str


class SexSpec(ConfigModel):
    column: str
    values: dict[str, list[str]]  # canonical value: accepted spellings


class RangeSpec(ConfigModel):
    column: str
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if self.min > self.max:
            raise ValueError("min is above max")
        return self


class AgeBandSpec(ConfigModel):
    band: str
    ages: tuple[int, int]
    grades: tuple[int, int] | None = None


class DemographicsSpec(ConfigModel):
    respondent_id: RespondentIdSpec
    district: ColumnSpec
    sex: SexSpec
    age: RangeSpec
    grade: RangeSpec
    age_bands: list[AgeBandSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_cover_ages(self) -> DemographicsSpec:
        covered = sorted(age for b in self.age_bands for age in range(b.ages[0], b.ages[1] + 1))
        if covered != list(range(self.age.min, self.age.max + 1)):
            raise ValueError(f"age bands must cover ages {self.age.min}-{self.age.max} exactly once")
        _unique([s for c, spellings in self.sex.values.items() for s in {normalise_text(x) for x in [c, *spellings]}],
                "sex spelling")
        return self


class OsloSpec(ConfigModel):
    code: str = Field(pattern=r"^\d{4}$")
    name: str


class CodebookSpec(ConfigModel):
    survey: str
    title: str
    oslo: OsloSpec
    districts: dict[str, DistrictSpec] = Field(min_length=1)
    demographics: DemographicsSpec
    drop_columns: list[str] = Field(default_factory=list)
    scales: dict[str, ScaleSpec] = Field(min_length=1)
    focus_areas: list[FocusAreaSpec] = Field(min_length=1)

    @field_validator("scales")
    @classmethod
    def _share_scales(cls, scales: dict[str, ScaleSpec], info: ValidationInfo) -> dict[str, ScaleSpec]:
        # Questions (validated after this field) check themselves against the scales through the context.
        if info.context is not None:
            info.context["scales"] = scales
        return scales

    @field_validator("districts")
    @classmethod
    def _district_spellings(cls, districts: dict[str, DistrictSpec]) -> dict[str, DistrictSpec]:
        bad = [code for code in districts if not re.fullmatch(r"\d{6}", code)]
        if bad:
            raise ValueError(f"district codes are six digits (KLASS 103), got {bad}")
        _unique([normalise_district(s) for d in districts.values() for s in [d.name, *d.aliases]],
                "district name or alias")
        return districts

    @model_validator(mode="after")
    def _unique_ids(self) -> CodebookSpec:
        indicators = [i for area in self.focus_areas for i in area.indicators]
        _unique([a.id for a in self.focus_areas], "focus area id")
        _unique([i.id for i in indicators], "indicator id")
        _unique([q.id for i in indicators for q in i.questions], "question id")
        for code in self.districts:
            if not code.startswith(self.oslo.code):
                raise ValueError(f"district {code} does not lie in {self.oslo.code}")
        return self


class WaveSpec(ConfigModel):
    # The id is the wave file's name without suffix, so it must be a plain file name.
    id: str = Field(pattern=r"^[0-9]{4}-[a-z0-9][a-z0-9-]*$")
    date: date
    illustrative: bool = False


class WavesSpec(ConfigModel):
    waves: list[WaveSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> WavesSpec:
        _unique([w.id for w in self.waves], "wave id")
        dates = [w.date for w in self.waves]
        if any(later <= earlier for earlier, later in pairwise(dates)):
            raise ValueError("waves must be listed oldest first, each on a later date than the one before")
        return self
