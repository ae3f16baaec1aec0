"""Configuration files as validated models: the one way a YAML file under assets/ or checks/ is read.

Every configuration file (source catalogue entries, indicators, goals, survey codebook and waves,
expectation suites) is parsed into a pydantic v2 model derived from `ConfigModel`: unknown keys are
errors (`untis:` is never silently ignored), enumerations are literals, and cross-field rules are model
validators. A file with problems raises one `ConfigError` that lists every problem in it at once, each
as `file: key.path: message`, so a data engineer fixes them in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

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
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"{shown}: not valid YAML{where}: {problem}"]) from None


def _key_path(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts) or "(top level)"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the schema)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid"))
    # pydantic prefixes messages raised inside validators; the person reading needs only the reason.
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind.startswith(("literal_error", "enum")) or kind in {"string_type", "int_type", "float_type",
                                                             "bool_type", "dict_type", "list_type"}:
        message += f" (got {error.get('input')!r})"
    return message


def format_validation_error(shown_as: str, error: ValidationError) -> list[str]:
    """One `file: key.path: message` line per problem pydantic found."""
    lines = []
    for item in error.errors(include_url=False):
        # Tagged unions add the tag to the location; it is not a key the file has.
        location = tuple(part for part in item["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        lines.append(f"{shown_as}: {_key_path(location)}: {_message(item)}")
    return lines


def validate(model: type[Model], data: Any, *, shown_as: str, context: dict[str, Any] | None = None) -> Model:
    """`data` as `model`, or a ConfigError listing every problem as `shown_as: key.path: message`."""
    if data is None:
        raise ConfigError([f"{shown_as}: the file is empty"])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(format_validation_error(shown_as, error)) from None


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
