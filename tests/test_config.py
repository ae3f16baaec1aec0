"""The configuration loader: every problem in a file at once, each as `file: key.path: message`."""

from typing import Literal

import pytest
from pydantic import model_validator

from ci_pipeline.config import ConfigError, ConfigModel, collect, load_model


class Unit(ConfigModel):
    code: str
    kind: Literal["share", "count"]


class Example(ConfigModel):
    id: str
    units: list[Unit]
    low: float = 0
    high: float = 1

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError("low must not be above high")
        return self


def write(tmp_path, text, name="example.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads(tmp_path):
    path = write(tmp_path, "id: a\nunits:\n  - {code: x, kind: share}\n")
    assert load_model(Example, path).units[0].kind == "share"


def test_every_problem_is_listed_with_file_and_key_path(tmp_path):
    path = write(tmp_path, "id: a\nuntis: []\nunits:\n  - {code: x, kind: sahre}\n  - {kind: count}\n")
    with pytest.raises(ConfigError) as caught:
        load_model(Example, path, root=tmp_path)
    assert caught.value.problems == [
        "example.yaml: units[0].kind: Input should be 'share' or 'count' (got 'sahre')",
        "example.yaml: units[1].code: required key is missing",
        "example.yaml: untis: unknown key (check its spelling against the schema)",
    ]


def test_cross_field_rules_name_the_file(tmp_path):
    path = write(tmp_path, "id: a\nunits: []\nlow: 2\nhigh: 1\n")
    with pytest.raises(ConfigError, match=r"example.yaml: \(top level\): low must not be above high"):
        load_model(Example, path, root=tmp_path)


def test_yaml_syntax_errors_give_the_line(tmp_path):
    path = write(tmp_path, "id: a\nunits: [\n")
    with pytest.raises(ConfigError, match=r"example.yaml: not valid YAML \(line 3"):
        load_model(Example, path, root=tmp_path)


def test_a_yaml_error_is_described_as_pure_python_yaml_describes_it(tmp_path):
    """Files are parsed by libyaml when it is there; a refused file gets the pure-Python parser's message,
    which names what is wrong (libyaml: "found character that cannot start any token")."""
    path = write(tmp_path, "id: a\n\tunits: [x]\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 2, column 1\): found character '\\t' that cannot"):
        load_model(Example, path, root=tmp_path)


@pytest.mark.parametrize("text, expected", [("", "the file is empty"), ("- a\n", "must be a mapping of keys to values")])
def test_empty_or_wrong_shaped_files(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        load_model(Example, write(tmp_path, text), root=tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(Example, tmp_path / "nope.yaml")


def test_collect_reports_every_file(tmp_path):
    good = write(tmp_path, "id: a\nunits: []\n", "good.yaml")
    bad1 = write(tmp_path, "id: a\n", "bad1.yaml")
    bad2 = write(tmp_path, "units: []\n", "bad2.yaml")
    with pytest.raises(ConfigError) as caught:
        collect(lambda p=p: load_model(Example, p, root=tmp_path) for p in (good, bad1, bad2))
    assert caught.value.problems == ["bad1.yaml: units: required key is missing",
                                     "bad2.yaml: id: required key is missing"]
