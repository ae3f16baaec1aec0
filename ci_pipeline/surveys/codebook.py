"""The survey codebook (assets/surveys/codebook.yaml) and wave registry (assets/surveys/waves.yaml).

The codebook is the single description of what a wave file may contain: focus areas, indicators, the
questions behind each indicator and the waves each question was asked in, response scales and positive
answers, demographic fields, and the export columns to throw away. Everything downstream (readers,
validation, aggregation, change) takes its column names and rules from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

POLARITIES = ("higher_is_better", "lower_is_better")
WEIGHTINGS = ("none", "population")


class CodebookError(ValueError):
    """The codebook or the wave registry is inconsistent; the message names the file and the entry."""


@dataclass(frozen=True)
class Scale:
    id: str
    values: tuple[int, ...]
    labels: dict[int, str]
    has_mean: bool


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    scale: Scale
    positive: tuple[int, ...]
    first_wave: str
    last_wave: str | None


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
    date: str
    illustrative: bool


@dataclass(frozen=True)
class AgeBand:
    band: str
    ages: tuple[int, int]
    grades: tuple[int, int] | None


@dataclass(frozen=True)
class Codebook:
    path: Path
    survey: str
    oslo_code: str
    oslo_name: str
    districts: dict[str, str]
    respondent_id_column: str
    district_column: str
    sex_column: str
    sex_values: dict[str, str]  # lower-cased spelling -> canonical value
    age_column: str
    age_range: tuple[int, int]
    grade_column: str
    grade_range: tuple[int, int]
    age_bands: tuple[AgeBand, ...]
    drop_columns: frozenset[str]
    scales: dict[str, Scale]
    focus_areas: dict[str, str]
    indicators: tuple[Indicator, ...]
    waves: tuple[Wave, ...]
    _wave_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._wave_index.update({wave.id: i for i, wave in enumerate(self.waves)})

    @property
    def sexes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.sex_values.values()))

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for indicator in self.indicators for q in indicator.questions)

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


def _require(mapping: dict, key: str, where: str):
    if key not in mapping:
        raise CodebookError(f"{where}: missing {key!r}")
    return mapping[key]


def load_codebook(directory: Path) -> Codebook:
    """Load codebook.yaml and waves.yaml from `directory` (normally assets/surveys) and check them."""
    path = Path(directory) / "codebook.yaml"
    waves_path = Path(directory) / "waves.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw_waves = yaml.safe_load(waves_path.read_text(encoding="utf-8"))

    waves = tuple(
        Wave(id=str(_require(w, "id", f"{waves_path}")), date=str(_require(w, "date", f"{waves_path}")),
             illustrative=bool(w.get("illustrative", False)))
        for w in raw_waves["waves"]
    )
    wave_ids = [w.id for w in waves]
    if len(set(wave_ids)) != len(wave_ids):
        raise CodebookError(f"{waves_path}: a wave id is listed twice")
    if [w.date for w in waves] != sorted(w.date for w in waves):
        raise CodebookError(f"{waves_path}: waves must be listed oldest first")

    scales = {
        scale_id: Scale(
            id=scale_id,
            values=tuple(int(v) for v in spec["values"]),
            labels={int(k): str(v) for k, v in spec.get("labels", {}).items()},
            has_mean=bool(spec["has_mean"]),
        )
        for scale_id, spec in raw["scales"].items()
    }

    focus_areas: dict[str, str] = {}
    indicators: list[Indicator] = []
    seen_questions: set[str] = set()
    for area in raw["focus_areas"]:
        focus_areas[area["id"]] = area["name"]
        for spec in area["indicators"]:
            where = f"{path}: indicator {spec.get('id')!r}"
            indicator_id = str(_require(spec, "id", where))
            if not indicator_id.startswith("survey_"):
                raise CodebookError(f"{where}: survey indicator ids start with 'survey_'")
            polarity = spec.get("polarity")
            if polarity not in POLARITIES:
                raise CodebookError(f"{where}: polarity must be one of {POLARITIES}, got {polarity!r}")
            weighting = spec.get("weighting", "none")
            if weighting not in WEIGHTINGS:
                raise CodebookError(f"{where}: weighting must be one of {WEIGHTINGS}, got {weighting!r}")
            questions = tuple(_question(q, scales, wave_ids, where) for q in spec["questions"])
            if len({q.scale.id for q in questions}) != 1:
                raise CodebookError(f"{where}: all questions of an indicator must use one scale")
            for q in questions:
                if q.id in seen_questions:
                    raise CodebookError(f"{where}: question {q.id!r} is listed twice")
                seen_questions.add(q.id)
            indicators.append(Indicator(indicator_id, str(spec["name"]), area["id"], polarity, weighting, questions))
    if len({i.id for i in indicators}) != len(indicators):
        raise CodebookError(f"{path}: an indicator id is listed twice")

    demographics = raw["demographics"]
    sex_values = {
        spelling.strip().lower(): canonical
        for canonical, spellings in demographics["sex"]["values"].items()
        for spelling in [canonical, *spellings]
    }
    age_bands = tuple(
        AgeBand(str(b["band"]), tuple(b["ages"]), tuple(b["grades"]) if "grades" in b else None)
        for b in demographics["age_bands"]
    )
    age_range = (int(demographics["age"]["min"]), int(demographics["age"]["max"]))
    covered = sorted(age for b in age_bands for age in range(b.ages[0], b.ages[1] + 1))
    if covered != list(range(age_range[0], age_range[1] + 1)):
        raise CodebookError(f"{path}: age bands must cover ages {age_range[0]}-{age_range[1]} exactly once")

    return Codebook(
        path=path,
        survey=str(raw["survey"]),
        oslo_code=str(raw["oslo"]["code"]),
        oslo_name=str(raw["oslo"]["name"]),
        districts={str(code): str(name) for code, name in raw["districts"].items()},
        respondent_id_column=demographics["respondent_id"]["column"],
        district_column=demographics["district"]["column"],
        sex_column=demographics["sex"]["column"],
        sex_values=sex_values,
        age_column=demographics["age"]["column"],
        age_range=age_range,
        grade_column=demographics["grade"]["column"],
        grade_range=(int(demographics["grade"]["min"]), int(demographics["grade"]["max"])),
        age_bands=age_bands,
        drop_columns=frozenset(str(c).lower() for c in raw.get("drop_columns", [])),
        scales=scales,
        focus_areas=focus_areas,
        indicators=tuple(indicators),
        waves=waves,
    )


def _question(spec: dict, scales: dict[str, Scale], wave_ids: list[str], where: str) -> Question:
    question_id = str(_require(spec, "id", where))
    where = f"{where}, question {question_id!r}"
    scale = scales.get(spec.get("scale"))
    if scale is None:
        raise CodebookError(f"{where}: unknown scale {spec.get('scale')!r}")
    positive = tuple(int(v) for v in _require(spec, "positive", where))
    if not positive or not set(positive) <= set(scale.values):
        raise CodebookError(f"{where}: positive answers {positive} are not values of scale {scale.id}")
    if scale.has_mean and positive != scale.values[-len(positive):]:
        # the mean and the share positive must move together, so polarity covers both
        raise CodebookError(f"{where}: on a scale with a mean, the positive answers must be the top values")
    waves = _require(spec, "waves", where)
    first_wave, last_wave = str(_require(waves, "from", where)), waves.get("to")
    for wave_id in (first_wave, last_wave):
        if wave_id is not None and wave_id not in wave_ids:
            raise CodebookError(f"{where}: wave {wave_id!r} is not in waves.yaml")
    if last_wave is not None and wave_ids.index(last_wave) < wave_ids.index(first_wave):
        raise CodebookError(f"{where}: waves.to comes before waves.from")
    return Question(question_id, str(_require(spec, "text", where)), scale, positive, first_wave,
                    None if last_wave is None else str(last_wave))
