"""The indicator registry: one YAML file per indicator in assets/indicators/ (schema in docs/REGISTRY.md).

load_registry() reads and validates every file (a bad file gives an error naming the file and the key);
registry_frame() turns the registry into the `indicators` mart, one row per indicator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ci_pipeline.schema import INDICATOR_COLUMNS as REGISTRY_COLUMNS

KINDS = ("share", "count", "rate", "amount")
POLARITIES = ("higher_is_better", "higher_is_worse")
TESTS = ("binomial", "poisson", "none")
DISTRICT_METHODS = ("observed", "aggregated", "apportioned", "not_available")
SOURCES = ("ssb", "fhi")
# Only counts add up over areas; a rate, share or amount spread by population would invent district values.
APPORTIONABLE_KINDS = ("count",)

REQUIRED_KEYS = ("id", "name_nb", "name_en", "definition", "unit", "polarity", "kind", "sources", "test",
                 "pooling_years", "district_method")
OPTIONAL_KEYS = ("numerator", "denominator", "suppression", "apportion_by", "goals")
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryError(ValueError):
    """An indicator file that does not follow docs/REGISTRY.md."""


@dataclass(frozen=True)
class Indicator:
    id: str
    name_nb: str
    name_en: str
    definition: str
    unit: str
    polarity: str
    kind: str
    sources: tuple[dict[str, str], ...]
    test: str
    pooling_years: int
    district_method: str
    numerator: str | None = None
    denominator: str | None = None
    suppression: dict[str, int] = field(default_factory=dict)
    apportion_by: dict[str, str] | None = None
    goals: tuple[str, ...] = ()


def _fail(path: Path, key: str, message: str) -> RegistryError:
    return RegistryError(f"{path}: {key}: {message}")


def _text(doc: dict[str, Any], key: str, path: Path) -> str:
    value = doc[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, f"must be non-empty text, got {value!r}")
    return value.strip()


def _choice(doc: dict[str, Any], key: str, allowed: tuple[str, ...], path: Path) -> str:
    value = doc[key]
    if value not in allowed:
        raise _fail(path, key, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _sources(value: Any, path: Path) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "sources", f"must be a non-empty list, got {value!r}")
    checked = []
    for index, entry in enumerate(value):
        key = f"sources[{index}]"
        if not isinstance(entry, dict):
            raise _fail(path, key, f"must be a mapping, got {entry!r}")
        if entry.get("source") not in SOURCES:
            raise _fail(path, f"{key}.source", f"must be one of {', '.join(SOURCES)}, got {entry.get('source')!r}")
        if not isinstance(entry.get("table_id"), str) or not entry["table_id"]:
            raise _fail(path, f"{key}.table_id", f"must be text (quote ids like \"08764\"), got {entry.get('table_id')!r}")
        for name, item in entry.items():
            if not isinstance(item, str):
                raise _fail(path, f"{key}.{name}", f"must be text, got {item!r}")
        checked.append(dict(entry))
    return tuple(checked)


def _suppression(value: Any, path: Path) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, "suppression", f"must be a mapping, got {value!r}")
    allowed = ("min_numerator", "min_denominator")
    for name, limit in value.items():
        if name not in allowed:
            raise _fail(path, f"suppression.{name}", f"unknown limit; allowed: {', '.join(allowed)}")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise _fail(path, f"suppression.{name}", f"must be a whole number >= 0, got {limit!r}")
    return dict(value)


def parse_indicator(doc: Any, path: Path) -> Indicator:
    """One indicator file's content, validated against docs/REGISTRY.md."""
    if not isinstance(doc, dict):
        raise RegistryError(f"{path}: must be a YAML mapping, got {type(doc).__name__}")
    for key in REQUIRED_KEYS:
        if key not in doc:
            raise _fail(path, key, "is required")
    unknown = sorted(set(doc) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise _fail(path, ", ".join(unknown), "unknown key(s)")
    indicator_id = _text(doc, "id", path)
    if not _SNAKE_CASE.match(indicator_id):
        raise _fail(path, "id", f"must be snake_case, got {indicator_id!r}")
    if indicator_id != path.stem:
        raise _fail(path, "id", f"must equal the file name {path.stem!r}, got {indicator_id!r}")
    kind = _choice(doc, "kind", KINDS, path)
    district_method = _choice(doc, "district_method", DISTRICT_METHODS, path)
    pooling = doc["pooling_years"]
    if not isinstance(pooling, int) or isinstance(pooling, bool) or pooling < 1:
        raise _fail(path, "pooling_years", f"must be a whole number >= 1, got {pooling!r}")

    apportion_by = doc.get("apportion_by")
    if district_method == "apportioned":
        if kind not in APPORTIONABLE_KINDS:
            raise _fail(path, "district_method",
                        f"apportioned is only for counts; a {kind} is never spread over districts")
        if not isinstance(apportion_by, dict) or set(apportion_by) != {"indicator_id", "age_group"} or not all(
                isinstance(v, str) and v for v in apportion_by.values()):
            raise _fail(path, "apportion_by", f"must be {{indicator_id: ..., age_group: ...}}, got {apportion_by!r}")
    elif apportion_by is not None:
        raise _fail(path, "apportion_by", f"only allowed with district_method apportioned (this is {district_method})")

    goals = doc.get("goals", [])
    if not isinstance(goals, list) or not all(isinstance(goal, str) for goal in goals):
        raise _fail(path, "goals", f"must be a list of goal ids, got {goals!r}")
    optional_text = {}
    for key in ("numerator", "denominator"):
        if doc.get(key) is not None:
            optional_text[key] = _text(doc, key, path)
    return Indicator(
        id=indicator_id,
        name_nb=_text(doc, "name_nb", path),
        name_en=_text(doc, "name_en", path),
        definition=_text(doc, "definition", path),
        unit=_text(doc, "unit", path),
        polarity=_choice(doc, "polarity", POLARITIES, path),
        kind=kind,
        sources=_sources(doc["sources"], path),
        test=_choice(doc, "test", TESTS, path),
        pooling_years=pooling,
        district_method=district_method,
        suppression=_suppression(doc.get("suppression"), path),
        apportion_by=dict(apportion_by) if apportion_by else None,
        goals=tuple(goals),
        **optional_text,
    )


def load_registry(root: Path) -> dict[str, Indicator]:
    """Every assets/indicators/*.yaml under `root` (the assets folder or the repository)."""
    root = Path(root)
    folder = root / "indicators" if (root / "indicators").is_dir() else root / "assets" / "indicators"
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise RegistryError(f"no indicator files (*.yaml) in {folder}")
    registry: dict[str, Indicator] = {}
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RegistryError(f"{path}: not valid YAML: {exc}") from exc
        indicator = parse_indicator(doc, path)
        registry[indicator.id] = indicator
    for indicator in registry.values():
        if indicator.apportion_by and indicator.apportion_by["indicator_id"] not in registry:
            raise RegistryError(
                f"{folder / (indicator.id + '.yaml')}: apportion_by.indicator_id: "
                f"{indicator.apportion_by['indicator_id']!r} is not in the registry"
            )
    return registry


def registry_frame(registry: dict[str, Indicator]) -> pd.DataFrame:
    """The `indicators` mart: one row per indicator; sources as a JSON string, goals comma-separated."""
    rows = []
    for indicator in sorted(registry.values(), key=lambda item: item.id):
        rows.append({
            "indicator_id": indicator.id, "name_nb": indicator.name_nb, "name_en": indicator.name_en,
            "definition": indicator.definition, "unit": indicator.unit, "polarity": indicator.polarity,
            "kind": indicator.kind,
            "sources": json.dumps(list(indicator.sources), ensure_ascii=False, sort_keys=True),
            "numerator": indicator.numerator, "denominator": indicator.denominator, "test": indicator.test,
            "pooling_years": indicator.pooling_years,
            "suppression_min_numerator": indicator.suppression.get("min_numerator"),
            "suppression_min_denominator": indicator.suppression.get("min_denominator"),
            "district_method": indicator.district_method,
            "apportion_by_indicator_id": (indicator.apportion_by or {}).get("indicator_id"),
            "apportion_by_age_group": (indicator.apportion_by or {}).get("age_group"),
            "goals": ",".join(indicator.goals),
        })
    frame = pd.DataFrame.from_records(rows, columns=REGISTRY_COLUMNS)
    for column in ("pooling_years", "suppression_min_numerator", "suppression_min_denominator"):
        frame[column] = frame[column].astype("Int64")
    return frame
