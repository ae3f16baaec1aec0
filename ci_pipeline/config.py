"""Configuration files as validated models: the one way a YAML file under assets/ or checks/ is read.

Every configuration file (source catalogue entries, indicators, goals, survey codebook and waves,
expectation suites) is parsed into a pydantic v2 model derived from `ConfigModel`: unknown keys are
errors (`untis:` is never silently ignored), enumerations are literals, and cross-field rules are model
validators. A file with problems raises one `ConfigError` that lists every problem in it at once, each
as `file: key.path: message`, so a data engineer fixes them in one pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, with_config
from pydantic_core import InitErrorDetails, PydanticCustomError

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file that does not follow its schema; `problems` holds one line per error."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys are errors and loaded values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def display_path(path: Path | str, root: Path | str | None = None) -> str:
    """The path as a person should read it in an error: relative to `root` when it lies inside it."""
    path = Path(path)
    if root is not None:
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def read_yaml(path: Path | str, *, shown_as: str | None = None) -> Any:
    """The YAML document in `path`; a missing file or a syntax error is a ConfigError naming the line."""
    shown = shown_as or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown}: the file does not exist"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([f"{shown}: not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    try:
        # libyaml's parser, the same safe constructors: the pure-Python one took most of a registry load.
        return yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"{shown}: not valid YAML{where}: {problem}"]) from None


def _key_path(location: tuple[int | str, ...], data: Any, last_is_key: bool) -> tuple[str, bool]:
    """The key path of an error as the file spells it, and whether the error is about a mapping's key.

    Walks `data` along pydantic's location: a mapping's key is written `.key` (even a number, as in
    `sex_codes.1`), a list position `[n]`. Location parts that are not in the data (the tag of a
    tagged union, a validator's name) are not keys the file has and are left out, except the last part
    when `last_is_key` (it names a key the file lacks).
    """
    parts: list[str] = []
    node, about_key = data, False
    for position, item in enumerate(location):
        if item == "[key]":
            about_key = True
            continue
        if data is None:
            in_list = isinstance(item, int)
        elif isinstance(node, dict) and item in node:
            in_list, node = False, node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            in_list, node = True, node[item]
        elif last_is_key and position == len(location) - 1:
            in_list = False
        else:
            continue
        parts.append(f"[{item}]" if in_list else f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)", about_key


_SHOWS_INPUT = {"string_type", "int_type", "int_parsing", "float_type", "float_parsing", "bool_type",
                "bool_parsing", "dict_type", "list_type", "tuple_type", "model_type", "model_attributes_type",
                "greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long",
                "string_pattern_mismatch"}
# Errors whose location ends in a key the file may lack (a missing key, one a rule asks for).
_NAMES_A_KEY = {"missing", "union_tag_not_found", "config_rule"}
_MAPPING_TYPES = {"dict_type", "model_type", "model_attributes_type"}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the schema)"
    if kind in ("missing", "union_tag_not_found"):
        return "required key is missing"
    if kind == "union_tag_invalid":
        return f"must be one of {error['ctx']['expected_tags']} (got {error['ctx']['tag']!r})"
    if kind in _MAPPING_TYPES:
        message = "must be a mapping of keys to values"
    else:
        message = str(error.get("msg", "invalid"))
    # pydantic prefixes messages raised inside validators; the person reading needs only the reason.
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind.startswith(("literal_error", "enum")) or kind in _SHOWS_INPUT:
        message += f" (got {error.get('input')!r})"
    return message


def format_validation_error(shown_as: str, error: ValidationError, data: Any = None) -> list[str]:
    """One `file: key.path: message` line per problem pydantic found in `data` (the validated input)."""
    lines = []
    for item in error.errors(include_url=False):
        location = tuple(item["loc"])
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # The error sits on the union; the key at fault is the discriminator.
            location += (item["ctx"]["discriminator"].strip("'"),)
        key, about_key = _key_path(location, data, item["type"] in _NAMES_A_KEY)
        message = _message(item)
        if about_key:
            message = f"the key {message}" if message.startswith("must") else f"the key: {message}"
        lines.append(f"{shown_as}: {key}: {message}")
    return lines


def raise_problems(problems: Iterable[tuple[tuple[int | str, ...], str]]) -> None:
    """Report the problems a cross-field validator found, each at its own key path (relative to the
    model or field being validated), all at once; does nothing when there are none."""
    details = [InitErrorDetails(type=PydanticCustomError("config_rule", "{reason}", {"reason": message}),
                                loc=location, input=None) for location, message in problems]
    if details:
        raise ValidationError.from_exception_data("configuration rules", details)


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _not_a_number(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        # A ValueError, not a TypeError: pydantic reports only the former as a problem of the file.
        raise ValueError(  # noqa: TRY004
            f"must be a quoted string, got {value!r} (YAML reads an unquoted 0301 as the number 193 and yes as true)")
    return value


def _a_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")  # noqa: TRY004 (see _not_a_number)
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


def matching(pattern: str, rule: str) -> AfterValidator:
    """Validates that a string matches `pattern` entirely; the problem says `rule` and the value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{rule}, got {value!r}")
        return value

    return AfterValidator(check)


# A TypedDict whose unknown keys are errors, like ConfigModel's (decorate the class with it).
forbid_extra_keys = with_config(ConfigDict(extra="forbid"))

# Text a person writes (a title, a unit): any non-empty string.
Text = Annotated[str, AfterValidator(_text)]
# A code or id of a source (table ids, region and contents codes): a string, never a number YAML made of
# an unquoted code.
Code = Annotated[str, BeforeValidator(_not_a_number), AfterValidator(_text)]
# A finite number as the file writes it (an int stays an int); never a quoted string, a yes/no or .nan.
Number = Annotated[int | float, BeforeValidator(_a_number)]


def validate(model: type[Model], data: Any, *, shown_as: str, context: dict[str, Any] | None = None) -> Model:
    """`data` as `model`, or a ConfigError listing every problem as `shown_as: key.path: message`."""
    if data is None:
        raise ConfigError([f"{shown_as}: the file is empty"])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(format_validation_error(shown_as, error, data)) from None


def load_model(model: type[Model], path: Path | str, *, root: Path | str | None = None,
               context: dict[str, Any] | None = None) -> Model:
    """Read the YAML file at `path` and validate it as `model` (errors name the file relative to `root`)."""
    shown = display_path(path, root)
    return validate(model, read_yaml(path, shown_as=shown), shown_as=shown, context=context)


def collect(loaders: Iterable[Callable[[], T]]) -> list[T]:
    """Run every zero-argument loader and raise one ConfigError with every file's problems, so a
    run that reads many files reports all of them, not just the first."""
    results, problems = [], []
    for loader in loaders:
        try:
            results.append(loader())
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return results
