"""The survey codebook (assets/surveys/codebook.yaml) and wave registry (assets/surveys/waves.yaml) as the
read-only `Codebook` every other survey module uses.

The codebook is the single description of what a wave file may contain: focus areas, indicators, the
questions behind each indicator and the waves each question was asked in, response scales with their
value labels and don't-know codes, positive answers, demographic fields (with district aliases and how
respondent ids are normalised), and the export columns to throw away. Everything downstream (readers,
validation, aggregation, change) takes its column names and rules from here. The file models and their
checks are in surveys/codebook_files.py; `load_codebook` reads both files through them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ci_pipeline.config import collect, load_model
from ci_pipeline.surveys.codebook_files import (
    DONT_KNOW,
    Code,
    CodebookError,
    CodebookSpec,
    WavesSpec,
    normalise_district,
    normalise_text,
)

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
    text: str  # English
    scale: Scale
    positive: tuple[int, ...]
    first_wave: str
    last_wave: str | None
    dont_know: tuple[Code, ...]
    text_nb: str  # Norwegian (bokmål)

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
                         tuple(spec.scales[q.scale].dont_know if q.dont_know is None else q.dont_know), q.text_nb)
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
