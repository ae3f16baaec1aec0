"""The story behind the curve: partners' short accounts in assets/stories/*.md, validated and published.

A story file is Markdown with YAML front matter:

    ---
    title: Leksehjelp i nærmiljøet
    kind: story                 # story | strategy | partner_action
    goal: upper_secondary_completion          # a goal id, an indicator id, or both (the indicator
    indicator: upper_secondary_dropout_share  #   must then belong to the goal)
    district: Gamle Oslo        # a bydel or Oslo, by name or code (030101, 0301)
    period: 2021-2023           # the period of the curve it speaks to: 2023, 2021-2023 or a wave (2025-spring)
    partner: Bydel Gamle Oslo, ungdomstjenesten
    date: 2025-03-14            # when it was written; not in the future
    example: true               # shipped examples say so; the report labels them "Eksempel"
    ---
    The text, in a small safe Markdown: paragraphs, *emphasis*, [links](https://...) and lists.

Files are read through the project's one config loader (ci_pipeline.config): every problem of every file
is reported at once as `file: key: message`. Text that looks like personal data is refused: Norwegian
national identity numbers (11 digits whose two mod-11 check digits are valid), e-mail addresses and
phone numbers; the error names the file, the field and the line, never the number itself.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from markdown_it import MarkdownIt
from pydantic import ValidationInfo, field_validator, model_validator

from ci_pipeline.config import ConfigError, ConfigModel, collect, display_path, validate
from ci_pipeline.schema import STORY_COLUMNS

KINDS = ("story", "strategy", "partner_action")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)
_PERIOD = re.compile(r"(\d{4})(?:-(\d{4}))?|\d{4}-(?:spring|autumn)")

# Personal data patterns. Digits are bounded by non-digits so that longer numbers do not match inside.
_IDENTITY_NUMBER = re.compile(r"(?<![\d])(\d{6})[ \u00a0]?(\d{5})(?![\d])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)47[ \u00a0]?)?"
    r"(?:[2-9]\d{7}|[2-9]\d(?:[ \u00a0]\d\d){3}|[2-9]\d\d[ \u00a0]\d\d[ \u00a0]\d{3})(?![\w])"
)
_MARKDOWN = MarkdownIt("zero").enable(["emphasis", "link", "list"])


def identity_number_is_valid(digits: str) -> bool:
    """Whether 11 digits carry valid mod-11 check digits (fødselsnummer and D-number, Skatteetaten's rule)."""
    if not re.fullmatch(r"\d{11}", digits):
        return False
    d = [int(c) for c in digits]
    for weights, position in (((3, 7, 6, 1, 8, 9, 4, 5, 2), 9), ((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), 10)):
        remainder = sum(w * v for w, v in zip(weights, d)) % 11
        check = 0 if remainder == 0 else 11 - remainder
        if check == 10 or check != d[position]:
            return False
    return True


def personal_data(text: str) -> list[str]:
    """What in `text` looks like personal data, as "what (line n)" without repeating it."""
    found = []
    for number, line in enumerate(text.splitlines() or [text], start=1):
        if any(identity_number_is_valid(a + b) for a, b in _IDENTITY_NUMBER.findall(line)):
            found.append(f"a national identity number (line {number})")
        if _EMAIL.search(line):
            found.append(f"an e-mail address (line {number})")
        if _PHONE.search(line):
            found.append(f"a phone number (line {number})")
    return found


def render_markdown(text: str) -> str:
    """The safe subset as HTML: paragraphs, emphasis, links and lists; any HTML in the text is escaped and
    links to javascript:, data: and the like are not made."""
    return _MARKDOWN.render(text)


class Story(ConfigModel):
    """One story file: its front matter and its Markdown body."""

    title: str
    kind: Literal["story", "strategy", "partner_action"]
    goal: str | None = None
    indicator: str | None = None
    district: str
    period: str
    partner: str
    date: date
    example: bool = False
    body: str

    @model_validator(mode="before")
    @classmethod
    def _goal_or_indicator(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("goal") and not data.get("indicator"):
            raise ValueError("name the curve: give `goal`, `indicator` or both")
        return data

    @field_validator("title", "partner", "body")
    @classmethod
    def _no_personal_data(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        found = personal_data(value)
        if found:
            raise ValueError("looks like personal data, which a story must not hold: " + "; ".join(found))
        return value

    @field_validator("goal")
    @classmethod
    def _known_goal(cls, value: str | None, info: ValidationInfo) -> str | None:
        goals = (info.context or {}).get("goals")
        if value is not None and goals is not None and value not in goals:
            raise ValueError(f"unknown goal {value!r}; goals.yaml has {', '.join(sorted(goals))}")
        return value

    @field_validator("indicator")
    @classmethod
    def _known_indicator(cls, value: str | None, info: ValidationInfo) -> str | None:
        goals = (info.context or {}).get("goals")
        if value is not None and goals is not None and not any(value in ids for ids in goals.values()):
            known = sorted({i for ids in goals.values() for i in ids})
            raise ValueError(f"unknown indicator {value!r}; the goals follow {', '.join(known)}")
        return value

    @field_validator("district", mode="before")
    @classmethod
    def _quoted_code(cls, value: Any) -> Any:
        if isinstance(value, int):
            # pydantic reports ValueError as a validation problem (a TypeError would escape as a crash)
            raise ValueError("write a district code in quotes (\"030101\"): YAML reads 030101 as a number")  # noqa: TRY004
        return value

    @field_validator("period", mode="before")
    @classmethod
    def _year_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("district")
    @classmethod
    def _known_district(cls, value: str, info: ValidationInfo) -> str:
        regions = (info.context or {}).get("regions")
        if regions is None:
            return value
        code = region_code(value, regions)
        if code is None:
            raise ValueError(f"unknown district {value!r}; give a bydel of Oslo or Oslo, by name or code")
        return code

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        match = _PERIOD.fullmatch(str(value))
        if match is None or (match[2] and int(match[2]) < int(match[1])):
            raise ValueError(f"period {value!r} is not a year (2023), a span of years (2021-2023) or a "
                             "survey wave (2025-spring)")
        return value

    @field_validator("date")
    @classmethod
    def _not_in_the_future(cls, value: date, info: ValidationInfo) -> date:
        today = (info.context or {}).get("today") or date.today()
        if value > today:
            raise ValueError(f"{value.isoformat()} is in the future (today is {today.isoformat()})")
        return value

    @model_validator(mode="after")
    def _indicator_of_goal(self, info: ValidationInfo) -> Story:
        goals = (info.context or {}).get("goals")
        if goals is not None and self.goal and self.indicator and self.indicator not in goals[self.goal]:
            raise ValueError(f"indicator {self.indicator!r} is not one of goal {self.goal!r}'s indicators")
        return self


def region_code(value: str, regions: dict[str, str]) -> str | None:
    """The code of a bydel or Oslo given by code or by name (case and a leading "Bydel" ignored)."""
    text = str(value).strip()
    if text in regions:
        return text
    wanted = re.sub(r"^bydel\s+", "", text.casefold())
    return next((code for code, name in regions.items() if name.casefold() == wanted), None)


def parse_story(path: Path, *, root: Path | None = None, context: dict[str, Any] | None = None) -> Story:
    """One story file as a validated Story; a ConfigError names the file and every problem in it."""
    shown = display_path(path, root)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([f"{shown}: not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if match is None:
        raise ConfigError([(f"{shown}: no front matter: the file must start with a block of `key: value` "
                           "lines between two `---` lines")])
    try:
        front = yaml.safe_load(match[1])
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise ConfigError([f"{shown}: the front matter is not valid YAML{where}"]) from None
    if not isinstance(front, dict):
        raise ConfigError([f"{shown}: the front matter must be `key: value` lines"])
    if "body" in front:
        raise ConfigError([f"{shown}: body: unknown key (the text after the front matter is the body)"])
    return validate(Story, {**front, "body": match[2].strip()}, shown_as=shown, context=context)


def story_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.md")) if Path(folder).is_dir() else []


def load_stories(folder: Path, *, goals: dict[str, set[str]], regions: dict[str, str],
                 today: date | None = None, root: Path | None = None) -> pd.DataFrame:
    """Every assets/stories/*.md as the `stories` mart (STORY_COLUMNS), or one ConfigError with every
    problem of every file. `goals` maps each goal id to its indicator ids; `regions` maps the codes of
    Oslo and its bydeler to their names."""
    context = {"goals": goals, "regions": regions, "today": today or date.today()}
    files = story_files(folder)
    stories = collect([lambda p=p: parse_story(p, root=root, context=context) for p in files])
    rows = [
        {
            "story_id": path.stem,
            "file": display_path(path, root),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "title": story.title,
            "kind": story.kind,
            "goal_id": story.goal,
            "indicator_id": story.indicator,
            "region_code": story.district,
            "region_name": regions[story.district],
            "period": str(story.period),
            "partner": story.partner,
            "written_on": story.date.isoformat(),
            "is_example": story.example,
            "body_markdown": story.body,
        }
        for path, story in zip(files, stories)
    ]
    return pd.DataFrame(rows, columns=STORY_COLUMNS).astype({"is_example": "bool"})
