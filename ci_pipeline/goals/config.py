"""Goal configuration: assets/goals.yaml as validated models, checked against the registry, and the goals mart.

A goal has an id, names (nb, en), a description and indicators. Each indicator entry names the indicator
(a registry id, or survey_... for a survey indicator), its baseline period, target year, polarity and
scope (city, each_district or gap), optionally the source and age group to follow and `headline: false`
for a supporting indicator (computed and shown, not judged), and its target in one of three forms:

    target_value: 5.0                    absolute: the same value for every region it applies to
    target_change_pct: -20               relative: each region's own baseline changed by this percent
    target_close_pct: 50                 gap_closing: each region closes this share of its distance at
    target_reference: norway             baseline to a reference (oslo, norway or best_district)

`overrides` sets another target for named regions (district codes, or Oslo 0301), in any of the three
forms, with the reason for it. goals/targets.py turns a form into each region's number.

The file is read through pydantic models (ci_pipeline.config): an unknown key, a missing one, a value of
the wrong type or a broken rule is reported with every other problem of the file at once, each as
`file: key.path: message`. Cross-field rules: exactly one target form; a relative target points the good
way for the polarity (down for higher_is_worse, up for higher_is_better; a gap always shrinks); a
gap-closing share lies in (0, 100] and never names Norway for a survey indicator; overrides name known
districts of an each_district goal; the target year is not before the baseline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import AfterValidator, Field, model_validator

from ci_pipeline.catalogue import SOURCES
from ci_pipeline.config import (
    Code,
    ConfigError,
    ConfigModel,
    Number,
    Text,
    load_model,
    matching,
    raise_problems,
)

# The regions goals follow (goals.progress, goals.series and the report import them from here).
from ci_pipeline.geography.oslo import OSLO_CODE as OSLO
from ci_pipeline.geography.oslo import OSLO_DISTRICTS
from ci_pipeline.geography.regions import COUNTRY_CODE
from ci_pipeline.indicators import POLARITIES
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import GOALS_COLUMNS

NORWAY = COUNTRY_CODE

SCOPES = ("city", "each_district", "gap")
SURVEY_PREFIX = "survey_"

ABSOLUTE, RELATIVE, GAP_CLOSING, OVERRIDE = "absolute", "relative", "gap_closing", "override"
TARGET_FORMS = (ABSOLUTE, RELATIVE, GAP_CLOSING)
REFERENCES = ("oslo", "norway", "best_district")
_FORM_KEYS = {"target_value": ABSOLUTE, "target_change_pct": RELATIVE, "target_close_pct": GAP_CLOSING}


class GoalsError(ValueError):
    """The data given for the goals is not usable; the message says where and why."""


Year = Annotated[int, Field(strict=True, ge=1900, le=2200)]
SnakeCase = Annotated[Text, matching(r"[a-z][a-z0-9_]*", "must be snake_case")]


class TargetSpec(ConfigModel):
    """A target in one of the three forms (the keys are spelled in the module docstring)."""

    target_value: Number | None = None
    target_change_pct: Number | None = None
    target_close_pct: Number | None = None
    target_reference: Literal[REFERENCES] | None = None

    @property
    def target_form(self) -> str | None:
        """absolute, relative or gap_closing; None when no target is set."""
        return next((form for key, form in _FORM_KEYS.items() if getattr(self, key) is not None), None)

    def target_problems(self, polarity: str, scope: str, survey: bool, required: bool) -> list[tuple[tuple, str]]:
        """Problems of this target for an indicator of that polarity and scope, as (key path, message)."""
        given = [key for key in _FORM_KEYS if getattr(self, key) is not None]
        if len(given) > 1:
            return [((given[1],), f"give one target form, not {' and '.join(given)}")]
        if not given:
            return [(("target_value",), "required key is missing: give target_value, target_change_pct or "
                                        "target_close_pct")] if required else []
        form, problems = _FORM_KEYS[given[0]], []
        if (self.target_reference is not None) != (form == GAP_CLOSING):
            key = "target_reference" if form != GAP_CLOSING else "target_close_pct"
            problems.append(((key,), "target_reference goes with target_close_pct (a gap-closing target), "
                                     "and target_close_pct needs it"))
        if form == RELATIVE:
            change, shrink = self.target_change_pct, scope == "gap" or polarity == "higher_is_worse"
            if change == 0 or (change > 0) == shrink or change <= -100:
                way = "below 0 and above -100 (the gap is to shrink)" if scope == "gap" else (
                    "below 0 and above -100 (lower is better)" if shrink else "above 0 (higher is better)")
                problems.append((("target_change_pct",), f"points the wrong way for {polarity if scope != 'gap' else 'a gap'}: "
                                                         f"must be {way}, got {change:g}"))
        elif form == GAP_CLOSING:
            if scope == "gap":
                problems.append((("target_close_pct",), "a gap goal is one figure for Oslo; give target_value or "
                                                        "target_change_pct"))
            elif not 0 < self.target_close_pct <= 100:
                problems.append((("target_close_pct",), "the share of the distance to close must be above 0 and at "
                                                        f"most 100, got {self.target_close_pct:g}"))
            if survey and self.target_reference == "norway":
                problems.append((("target_reference",), "survey indicators have no figure for Norway"))
        elif scope == "gap" and self.target_value < 0:
            problems.append((("target_value",), f"a gap cannot be negative, got {self.target_value:g}"))
        return problems


class TargetOverride(TargetSpec):
    """Another target for one region, and why."""

    reason: Text


class GoalIndicator(TargetSpec):
    """One indicator of a goal, with its baseline, target and where the target applies."""

    indicator_id: SnakeCase
    source: Literal[SOURCES] | None = None
    age_group: Code | None = None
    baseline_period: Code
    target_year: Year
    polarity: Literal[POLARITIES]
    scope: Literal[SCOPES]
    headline: bool = Field(default=True, strict=True)
    overrides: dict[Code, TargetOverride] = Field(default_factory=dict)

    def __hash__(self) -> int:  # the overrides mapping is not hashable; equal entries share these keys
        return hash((self.indicator_id, self.scope, self.baseline_period))

    @property
    def is_survey(self) -> bool:
        return self.indicator_id.startswith(SURVEY_PREFIX)

    @property
    def baseline_year(self) -> float | None:
        """The year the baseline ends (a survey wave id starts with its year); None when unreadable."""
        if self.is_survey:
            match = re.match(r"(\d{4})-", self.baseline_period)
            return float(match.group(1)) if match else None
        try:
            return parse_period(self.baseline_period).time
        except PeriodError:
            return None

    @model_validator(mode="after")
    def _rules(self) -> GoalIndicator:
        problems = self.target_problems(self.polarity, self.scope, self.is_survey, required=self.headline)
        for code, override in self.overrides.items():
            if self.scope != "each_district":
                problems.append(((("overrides", code)), f"overrides are for each_district goals; a {self.scope} "
                                                        "goal has one target"))
                break
            if code not in (OSLO, *OSLO_DISTRICTS):
                problems.append((("overrides", code), f"not an Oslo district: use a code {OSLO_DISTRICTS[0]}-"
                                                      f"{OSLO_DISTRICTS[-1]} or {OSLO} (Oslo)"))
            problems.extend((("overrides", code, *key), message) for key, message in
                            override.target_problems(self.polarity, self.scope, self.is_survey, required=True))
        if self.source is not None and self.is_survey:
            problems.append((("source",), "`source` is for public statistics; survey indicators have one source"))
        if not self.is_survey:
            try:
                parse_period(self.baseline_period)
            except PeriodError as error:
                problems.append((("baseline_period",), str(error)))
        baseline = self.baseline_year
        if baseline is None and self.is_survey:
            problems.append((("baseline_period",), f"a survey wave id such as 2024-spring, got {self.baseline_period!r}"))
        elif baseline is not None and self.target_year < baseline:
            problems.append((("target_year",), f"{self.target_year} is before the baseline {self.baseline_period}"))
        elif baseline is not None and not self.is_survey and self.target_year == baseline:
            problems.append((("target_year",), f"the baseline {self.baseline_period} already ends in {self.target_year}"))
        raise_problems(problems)
        return self


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Goal(ConfigModel):
    id: SnakeCase
    name_nb: Text
    name_en: Text
    description: Annotated[str, AfterValidator(_one_line)] = ""
    indicators: tuple[GoalIndicator, ...]

    def __hash__(self) -> int:  # goals key the report's pages; their ids are unique in a file
        return hash(self.id)

    @model_validator(mode="after")
    def _each_indicator_once_per_scope(self) -> Goal:
        # (a length rule on the field would also fire, confusingly, whenever an entry is invalid)
        seen: set[tuple[str, str]] = set()
        problems = [] if self.indicators else [(("indicators",), "list at least one indicator")]
        for position, item in enumerate(self.indicators):
            if (item.indicator_id, item.scope) in seen:
                problems.append((("indicators", position, "indicator_id"),
                                 f"{item.indicator_id} is listed twice with scope {item.scope}"))
            seen.add((item.indicator_id, item.scope))
        raise_problems(problems)
        return self


class GoalsFile(ConfigModel):
    goals: tuple[Goal, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> GoalsFile:
        seen: set[str] = set()
        problems = [] if self.goals else [(("goals",), "list at least one goal")]
        for position, goal in enumerate(self.goals):
            if goal.id in seen:
                problems.append((("goals", position, "id"), f"{goal.id} is used by more than one goal"))
            seen.add(goal.id)
        raise_problems(problems)
        return self


def load_goals(path: Path | str, *, root: Path | str | None = None) -> list[Goal]:
    """Read and validate goals.yaml; a ConfigError lists every problem as `file: key.path: message`."""
    return list(load_model(GoalsFile, path, root=root).goals)


def check_goals_against(goals: list[Goal], registry: Mapping[str, Any], survey_polarities: Mapping[str, str],
                        path: Path | str = "goals.yaml") -> None:
    """Every indicator must exist in the registry (or the survey codebook) with the same polarity; one
    ConfigError names every entry that does not."""
    problems = []
    for goal_position, goal in enumerate(goals):
        for position, item in enumerate(goal.indicators):
            where = f"{path}: goals[{goal_position}].indicators[{position}]"
            if item.is_survey:
                if item.indicator_id not in survey_polarities:
                    problems.append(f"{where}.indicator_id: {item.indicator_id} is not an indicator of the survey "
                                    "codebook")
                    continue
                known = survey_polarities[item.indicator_id]
            else:
                if item.indicator_id not in registry:
                    problems.append(f"{where}.indicator_id: {item.indicator_id} is not in the indicator registry "
                                    "(assets/indicators/)")
                    continue
                known = registry[item.indicator_id].polarity
            if known != item.polarity:
                problems.append(f"{where}.polarity: {item.polarity} disagrees with the registry/codebook ({known})")
    if problems:
        raise ConfigError(problems)


def survey_polarity(codebook_polarity: str) -> str:
    """The survey codebook says lower_is_better where the registry says higher_is_worse."""
    return {"lower_is_better": "higher_is_worse"}.get(codebook_polarity, codebook_polarity)


def _overrides_json(item: GoalIndicator) -> str | None:
    if not item.overrides:
        return None
    return json.dumps({code: override.model_dump(exclude_none=True) for code, override in item.overrides.items()},
                      ensure_ascii=False, sort_keys=True)


def goals_frame(goals: list[Goal]) -> pd.DataFrame:
    """The `goals` mart: one row per goal x indicator entry."""
    rows = [
        {
            "goal_id": goal.id,
            "goal_name_nb": goal.name_nb,
            "goal_name_en": goal.name_en,
            "goal_description": goal.description,
            "indicator_id": item.indicator_id,
            "data_source": "survey" if item.is_survey else "statistics",
            "source": "survey" if item.is_survey else item.source,
            "age_group": item.age_group,
            "scope": item.scope,
            "headline": item.headline,
            "polarity": item.polarity,
            "baseline_period": item.baseline_period,
            "target_form": item.target_form,
            "target_value": item.target_value,
            "target_change_pct": item.target_change_pct,
            "target_close_pct": item.target_close_pct,
            "target_reference": item.target_reference,
            "target_overrides": _overrides_json(item),
            "target_year": item.target_year,
        }
        for goal in goals
        for item in goal.indicators
    ]
    frame = pd.DataFrame(rows, columns=GOALS_COLUMNS)
    return frame.astype({"target_value": "float64", "target_change_pct": "float64", "target_close_pct": "float64",
                         "target_year": "int64", "headline": "bool", "age_group": "str", "target_form": "str",
                         "target_reference": "str", "target_overrides": "str"})
