"""Goal configuration: assets/goals.yaml read and validated, checked against the registry, and the goals mart.

A goal has an id, names (nb, en), a description and indicators; each indicator entry names the
indicator (a registry id, or survey_... for a survey indicator), its baseline period, target value and
year, polarity and scope (city, each_district or gap), and optionally the source and age group to
follow. Every error names the file, the goal and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ci_pipeline.geography.regions import COUNTRY_CODE
from ci_pipeline.periods import PeriodError, parse_period
from ci_pipeline.schema import GOALS_COLUMNS

OSLO = "0301"
NORWAY = COUNTRY_CODE
# FHI's geography triangle for Oslo: the 15 bydeler of the 2004 division. Sentrum (030116), Marka
# (030117) and unknown district (030199) have no population of their own worth a goal.
OSLO_DISTRICTS = tuple(f"0301{number:02d}" for number in range(1, 16))

SCOPES = ("city", "each_district", "gap")
POLARITIES = ("higher_is_better", "higher_is_worse")
SURVEY_PREFIX = "survey_"

_GOAL_KEYS = {"id", "name_nb", "name_en", "description", "indicators"}
_INDICATOR_KEYS = {
    "indicator_id", "source", "age_group", "baseline_period", "target_value", "target_year", "polarity", "scope",
    "headline",
}
_REQUIRED_INDICATOR_KEYS = {"indicator_id", "baseline_period", "target_value", "target_year", "polarity", "scope"}


class GoalsError(ValueError):
    """goals.yaml or the data given for the goals is not usable; the message says where and why."""


@dataclass(frozen=True)
class GoalIndicator:
    indicator_id: str
    baseline_period: str
    target_value: float
    target_year: int
    polarity: str
    scope: str
    source: str | None = None
    age_group: str | None = None
    # False: a supporting indicator, computed and shown but not what the goal is judged on.
    headline: bool = True

    @property
    def is_survey(self) -> bool:
        return self.indicator_id.startswith(SURVEY_PREFIX)


@dataclass(frozen=True)
class Goal:
    id: str
    name_nb: str
    name_en: str
    description: str
    indicators: tuple[GoalIndicator, ...]


def load_goals(path: Path) -> list[Goal]:
    """Read and validate goals.yaml; errors name the file, the goal and the key."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoalsError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise GoalsError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("goals"), list) or not document["goals"]:
        raise GoalsError(f"{path}: expected a top-level key `goals` with a non-empty list of goals")
    goals = []
    seen = set()
    for position, spec in enumerate(document["goals"], start=1):
        where = f"{path}: goal #{position}"
        if not isinstance(spec, dict):
            raise GoalsError(f"{where}: expected a mapping, got {type(spec).__name__}")
        if "id" in spec:
            where = f"{path}: goal {spec['id']!r}"
        _check_keys(spec, _GOAL_KEYS, _GOAL_KEYS - {"description"}, where)
        goal_id = str(spec["id"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", goal_id):
            raise GoalsError(f"{where}: id must be snake_case")
        if goal_id in seen:
            raise GoalsError(f"{where}: id is used by more than one goal")
        seen.add(goal_id)
        if not isinstance(spec["indicators"], list) or not spec["indicators"]:
            raise GoalsError(f"{where}: `indicators` must be a non-empty list")
        indicators = tuple(
            _goal_indicator(item, f"{where}, indicator #{number}")
            for number, item in enumerate(spec["indicators"], start=1)
        )
        keys = [(item.indicator_id, item.scope) for item in indicators]
        if len(set(keys)) != len(keys):
            raise GoalsError(f"{where}: an indicator is listed twice with the same scope")
        goals.append(Goal(goal_id, str(spec["name_nb"]), str(spec["name_en"]),
                          " ".join(str(spec.get("description", "")).split()), indicators))
    return goals


def _check_keys(spec: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise GoalsError(f"{where}: unknown key(s) {unknown}; allowed are {sorted(allowed)}")
    missing = sorted(required - set(spec))
    if missing:
        raise GoalsError(f"{where}: missing key(s) {missing}")


def _goal_indicator(spec: Any, where: str) -> GoalIndicator:
    if not isinstance(spec, dict):
        raise GoalsError(f"{where}: expected a mapping, got {type(spec).__name__}")
    if "indicator_id" in spec:
        where = f"{where.rsplit(', indicator', 1)[0]}, indicator {spec['indicator_id']!r}"
    _check_keys(spec, _INDICATOR_KEYS, _REQUIRED_INDICATOR_KEYS, where)
    if spec["scope"] not in SCOPES:
        raise GoalsError(f"{where}: scope must be one of {', '.join(SCOPES)}, got {spec['scope']!r}")
    if spec["polarity"] not in POLARITIES:
        raise GoalsError(f"{where}: polarity must be one of {', '.join(POLARITIES)}, got {spec['polarity']!r}")
    target = spec["target_value"]
    if isinstance(target, bool) or not isinstance(target, (int, float)) or math.isnan(target):
        raise GoalsError(f"{where}: target_value must be a number, got {target!r}")
    year = spec["target_year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 < year < 2200:
        raise GoalsError(f"{where}: target_year must be a year such as 2030, got {year!r}")
    headline = spec.get("headline", True)
    if not isinstance(headline, bool):
        raise GoalsError(f"{where}: headline must be true or false, got {headline!r}")
    indicator_id = str(spec["indicator_id"])
    if spec.get("source") is not None and indicator_id.startswith(SURVEY_PREFIX):
        raise GoalsError(f"{where}: `source` is for public statistics; survey indicators have one source")
    baseline = str(spec["baseline_period"])
    if not indicator_id.startswith(SURVEY_PREFIX):
        try:
            baseline_time = parse_period(baseline).time
        except PeriodError as error:
            raise GoalsError(f"{where}: baseline_period: {error}") from None
        if baseline_time >= year:
            raise GoalsError(f"{where}: baseline_period {baseline} does not end before target_year {year}")
    return GoalIndicator(
        indicator_id=indicator_id,
        baseline_period=baseline,
        target_value=float(target),
        target_year=year,
        polarity=spec["polarity"],
        scope=spec["scope"],
        source=spec.get("source"),
        age_group=None if spec.get("age_group") is None else str(spec["age_group"]),
        headline=headline,
    )


def check_goals_against(goals: list[Goal], registry: Mapping[str, Any], survey_polarities: Mapping[str, str],
                        path: Path | str = "goals.yaml") -> None:
    """Every indicator must exist in the registry (or the survey codebook) with the same polarity."""
    for goal in goals:
        for item in goal.indicators:
            where = f"{path}: goal {goal.id!r}, indicator {item.indicator_id!r}"
            if item.is_survey:
                if item.indicator_id not in survey_polarities:
                    raise GoalsError(f"{where}: not an indicator of the survey codebook")
                known = survey_polarities[item.indicator_id]
            else:
                if item.indicator_id not in registry:
                    raise GoalsError(f"{where}: not in the indicator registry (assets/indicators/)")
                known = registry[item.indicator_id].polarity
            if known != item.polarity:
                raise GoalsError(f"{where}: polarity {item.polarity} disagrees with the registry/codebook ({known})")


def survey_polarity(codebook_polarity: str) -> str:
    """The survey codebook says lower_is_better where the registry says higher_is_worse."""
    return {"lower_is_better": "higher_is_worse"}.get(codebook_polarity, codebook_polarity)


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
            "polarity": item.polarity,
            "baseline_period": item.baseline_period,
            "target_value": item.target_value,
            "target_year": item.target_year,
        }
        for goal in goals
        for item in goal.indicators
    ]
    return pd.DataFrame(rows, columns=GOALS_COLUMNS).astype({"target_value": "float64", "target_year": "int64"})
