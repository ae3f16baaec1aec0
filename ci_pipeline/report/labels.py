"""assets/report.yaml: the words the report needs that the rest of the catalogue does not hold in both languages.

The indicator registry has Norwegian and English names but English definitions; the survey codebook and
goals.yaml are English only for some fields. The report speaks bokmål first, so this file holds, per
indicator and goal, what is missing (`name_nb`, `definition_nb`, `definition_en`, `description_nb`), and
per source family the words of its source line (`"FHI Statistikk, tabell {table}"`). It is read through the
project's one config loader (ci_pipeline.config): unknown keys, unknown indicator or goal ids and source
lines without `{table}` are errors naming the file and key, every problem at once. Where a text is
missing, the report falls back to the catalogue's text and marks its language (`lang="en"`), so a
screen reader reads it right and nothing is silently blank.
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter
from typing import NamedTuple

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ci_pipeline.config import ConfigModel, load_model


class Phrase(NamedTuple):
    """A text and the language it is written in (the page marks it when it differs from the page's)."""

    text: str
    lang: str


class SourceLine(ConfigModel):
    nb: str
    en: str

    @field_validator("nb", "en")
    @classmethod
    def _names_the_table(cls, value: str) -> str:
        fields = {name for _, name, _, _ in Formatter().parse(value) if name is not None}
        if fields - {"table"}:
            raise ValueError(f"the only placeholder a source line may use is {{table}}, not {sorted(fields - {'table'})}")
        return value


class IndicatorWords(ConfigModel):
    name_nb: str | None = None
    name_en: str | None = None
    definition_nb: str | None = None
    definition_en: str | None = None


class GoalWords(ConfigModel):
    description_nb: str | None = None


class ReportLabels(ConfigModel):
    """The validated contents of assets/report.yaml."""

    sources: dict[str, SourceLine] = Field(default_factory=dict)
    indicators: dict[str, IndicatorWords] = Field(default_factory=dict)
    goals: dict[str, GoalWords] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_ids(self, info: ValidationInfo) -> ReportLabels:
        known = info.context or {}
        problems = []
        if "indicators" in known:
            problems += [f"indicators.{i}: not an indicator of the registry or the survey codebook"
                         for i in self.indicators if i not in known["indicators"]]
        if "goals" in known:
            problems += [f"goals.{g}: not a goal of goals.yaml" for g in self.goals if g not in known["goals"]]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def source_line(self, source: str | None, table_id: str | None, lang: str) -> str:
        """"FHI Statistikk, tabell 360"; a source family without a line is named as the data names it."""
        line = self.sources.get(source or "")
        if line is None:
            return " ".join(part for part in (str(source or "").upper(), str(table_id or "")) if part)
        return getattr(line, lang).format(table=table_id or "")

    def indicator_name(self, indicator_id: str, lang: str, name_nb: str | None, name_en: str | None) -> Phrase:
        words = self.indicators.get(indicator_id, IndicatorWords())
        return _pick(lang, {"nb": words.name_nb or name_nb, "en": words.name_en or name_en}, indicator_id)

    def definition(self, indicator_id: str, lang: str, registry_definition: str | None) -> Phrase | None:
        """The definition in the page's language; the registry's (English) definition otherwise."""
        words = self.indicators.get(indicator_id, IndicatorWords())
        texts = {"nb": words.definition_nb, "en": words.definition_en or registry_definition}
        if not any(texts.values()):
            return None
        return _pick(lang, texts, "")

    def goal_description(self, goal_id: str, lang: str, description_en: str | None) -> Phrase | None:
        words = self.goals.get(goal_id, GoalWords())
        texts = {"nb": words.description_nb, "en": description_en}
        return _pick(lang, texts, "") if any(texts.values()) else None


def _pick(lang: str, texts: dict[str, str | None], last_resort: str) -> Phrase:
    if texts.get(lang):
        return Phrase(" ".join(str(texts[lang]).split()), lang)
    for other, text in texts.items():
        if text:
            return Phrase(" ".join(str(text).split()), other)
    return Phrase(last_resort, lang)


def load_labels(path: Path | str, *, root: Path | str | None = None, indicators: set[str] | None = None,
                goals: set[str] | None = None) -> ReportLabels:
    """assets/report.yaml, checked against the known indicator and goal ids when they are given."""
    context = {k: v for k, v in (("indicators", indicators), ("goals", goals)) if v is not None}
    return load_model(ReportLabels, path, root=root, context=context)
