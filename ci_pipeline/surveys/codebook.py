"""The survey codebook (assets/surveys/codebook.yaml) and wave registry (assets/surveys/waves.yaml).

The codebook is the single description of what a wave file may contain: focus areas, indicators, the
questions behind each indicator and the waves each question was asked in, response scales with their
value labels and don't-know codes, positive answers, demographic fields (with district aliases and how
respondent ids are normalised), and the export columns to throw away. Everything downstream (readers,
validation, aggregation, change) takes its column names and rules from here.

Both files are read through ci_pipeline.config as pydantic models (unknown keys are errors, every problem
of both files is reported at once as `file: key.path: message`); `Codebook` is the read-only view the rest
of the survey code uses.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ci_pipeline.config import ConfigModel, collect, load_model

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
    text: str = Field(min_length=1)
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


# --- the view the survey code uses ----------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    id: str
    values: tuple[int, ...]
    labels: dict[int, tuple[str, ...]]
    has_mean: bool


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    scale: Scale
    positive: tuple[int, ...]
    first_wave: str
    last_wave: str | None
    dont_know: tuple[Code, ...]

    def answer_lookup(self) -> dict[str, int]:
        """Normalised text -> stored value: the scale values as numbers, their labels, and the don't-know
        codes and texts (stored as DONT_KNOW)."""
        lookup = {normalise_text(str(v)): v for v in self.scale.values}
        lookup |= {normalise_text(label): v for v, labels in self.scale.labels.items() for label in labels}
        lookup |= {normalise_text(str(code)): DONT_KNOW for code in self.dont_know}
        return lookup


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    focus_area: str
    polarity: str
    weighting: str
    questions: tuple[Question, ...]

    @property
    def scale(self) -> Scale:
        return self.questions[0].scale


@dataclass(frozen=True)
class Wave:
    id: str
    date: str  # ISO date
    illustrative: bool


@dataclass(frozen=True)
class AgeBand:
    band: str
    ages: tuple[int, int]
    grades: tuple[int, int] | None


class Codebook:
    """Read-only view of a validated codebook and wave registry."""

    def __init__(self, path: Path, spec: CodebookSpec, waves: WavesSpec):
        self.path = path
        self.spec = spec
        self.survey = spec.survey
        self.oslo_code, self.oslo_name = spec.oslo.code, spec.oslo.name
        self.districts = {code: district.name for code, district in spec.districts.items()}
        demographics = spec.demographics
        self.respondent_id_column = demographics.respondent_id.column.lower()
        self.id_case = demographics.respondent_id.case
        self.district_column = demographics.district.column.lower()
        self.sex_column = demographics.sex.column.lower()
        self.sex_values = {normalise_text(spelling): canonical
                           for canonical, spellings in demographics.sex.values.items()
                           for spelling in [canonical, *spellings]}
        self.age_column, self.grade_column = demographics.age.column.lower(), demographics.grade.column.lower()
        self.age_range = (demographics.age.min, demographics.age.max)
        self.grade_range = (demographics.grade.min, demographics.grade.max)
        self.age_bands = tuple(AgeBand(b.band, b.ages, b.grades) for b in demographics.age_bands)
        self.drop_columns = frozenset(c.lower() for c in spec.drop_columns)
        self.scales = {sid: Scale(sid, tuple(s.values), {v: tuple(labels) for v, labels in s.labels.items()},
                                  s.has_mean) for sid, s in spec.scales.items()}
        self.focus_areas = {area.id: area.name for area in spec.focus_areas}
        self.indicators = tuple(
            Indicator(i.id, i.name, area.id, i.polarity, i.weighting, tuple(
                Question(q.id, q.text, self.scales[q.scale], tuple(q.positive), q.waves.first, q.waves.last,
                         tuple(spec.scales[q.scale].dont_know if q.dont_know is None else q.dont_know))
                for q in i.questions))
            for area in spec.focus_areas for i in area.indicators)
        self.waves = tuple(Wave(w.id, w.date.isoformat(), w.illustrative) for w in waves.waves)
        self._wave_index = {wave.id: i for i, wave in enumerate(self.waves)}

    @property
    def sexes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.sex_values.values()))

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for indicator in self.indicators for q in indicator.questions)

    def district_lookup(self) -> dict[str, str]:
        """Normalised spelling (code, name or alias) -> district code."""
        lookup = {code: code for code in self.districts}
        for code, district in self.spec.districts.items():
            lookup |= {normalise_district(s): code for s in [district.name, *district.aliases]}
        return lookup

    def normalise_id(self, respondent_id: str) -> str:
        """A respondent id as it is pseudonymised: NFC, trimmed, case folded when the codebook says ids
        are case-insensitive."""
        text = unicodedata.normalize("NFC", respondent_id).strip()
        return text.casefold() if self.id_case == "insensitive" else text

    def wave(self, wave_id: str) -> Wave:
        if wave_id not in self._wave_index:
            raise CodebookError(
                f"wave {wave_id!r} is not in the wave registry {self.path.parent / 'waves.yaml'}; "
                "add it there (and to the codebook's question ranges) before ingesting its file"
            )
        return self.waves[self._wave_index[wave_id]]

    def wave_position(self, wave_id: str) -> int:
        self.wave(wave_id)
        return self._wave_index[wave_id]

    def asked_in(self, question: Question, wave_id: str) -> bool:
        position = self.wave_position(wave_id)
        if position < self._wave_index[question.first_wave]:
            return False
        return question.last_wave is None or position <= self._wave_index[question.last_wave]

    def questions_in_wave(self, wave_id: str) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if self.asked_in(q, wave_id))

    def indicator_questions(self, indicator: Indicator, wave_id: str) -> tuple[Question, ...]:
        return tuple(q for q in indicator.questions if self.asked_in(q, wave_id))

    def question_set_version(self, indicator: Indicator, wave_id: str) -> str | None:
        """The wave since which this indicator has been asked with exactly this set of questions.

        Two waves are comparable for an indicator only when this value is equal; None when the
        indicator has no question in the wave.
        """
        current = self.indicator_questions(indicator, wave_id)
        if not current:
            return None
        since = wave_id
        for earlier in reversed(self.waves[: self.wave_position(wave_id)]):
            if self.indicator_questions(indicator, earlier.id) != current:
                break
            since = earlier.id
        return since

    def age_band_for_age(self, age: int) -> str:
        for band in self.age_bands:
            if band.ages[0] <= age <= band.ages[1]:
                return band.band
        raise CodebookError(f"{self.path}: no age band covers age {age}")

    def age_band_for_grade(self, grade: int) -> str | None:
        for band in self.age_bands:
            if band.grades and band.grades[0] <= grade <= band.grades[1]:
                return band.band
        return None

    def fingerprint(self) -> str:
        """sha256 of the codebook and wave registry files, recorded with every mart built from them."""
        digest = hashlib.sha256(self.path.read_bytes())
        digest.update((self.path.parent / "waves.yaml").read_bytes())
        return digest.hexdigest()


def load_codebook(directory: Path | str) -> Codebook:
    """Load and check codebook.yaml and waves.yaml in `directory` (normally assets/surveys); a ConfigError
    lists every problem of both files."""
    directory = Path(directory)
    root = directory.parent.parent if directory.parent.name == "assets" else None
    registry: list[WavesSpec] = []

    def load_waves() -> WavesSpec:
        registry.append(load_model(WavesSpec, directory / "waves.yaml", root=root))
        return registry[-1]

    def load_spec() -> CodebookSpec:
        wave_ids = [w.id for w in registry[0].waves] if registry else None
        return load_model(CodebookSpec, directory / "codebook.yaml", root=root,
                          context={"wave_ids": wave_ids})

    waves, spec = collect([load_waves, load_spec])
    return Codebook(directory / "codebook.yaml", spec, waves)
