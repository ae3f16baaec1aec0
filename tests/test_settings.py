"""The settings object: defaults relative to the repository, the environment, one line per bad variable.

(How the HTTP settings reach the clients is tested in test_build_skip.py.)"""

import pytest

from ci_pipeline.config import ConfigError
from ci_pipeline.settings import Settings


def test_every_bad_variable_is_one_line_naming_it_and_what_it_accepts():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"CI_PIPELINE_MODE": "fast", "CI_PIPELINE_HTTP_TIMEOUT": "soon", "CI_PIPELINE_WAREHOUSE": "",
                           "CI_PIPELINE_ID": "4711"})
    assert raised.value.problems == [
        "environment: CI_PIPELINE_MODE: Input should be 'replay', 'live' or 'record' (got 'fast')",
        ("environment: CI_PIPELINE_HTTP_TIMEOUT: Input should be a valid number, unable to parse string as a number "
        "(got 'soon')"),
    ]


def test_paths_default_to_the_repository_and_follow_the_environment(tmp_path):
    defaults = Settings.from_env({})
    assert defaults.catalogue_root == defaults.repo_root / "assets"
    assert defaults.warehouse_root == defaults.repo_root / "data" / "warehouse"
    moved = Settings.from_env({"CI_PIPELINE_REPO_ROOT": str(tmp_path), "CI_PIPELINE_WAREHOUSE": str(tmp_path / "w")})
    assert (moved.checks_root, moved.warehouse_root) == (tmp_path / "checks", tmp_path / "w")
    assert moved.with_(mode="live").mode == "live"
    with pytest.raises(ValueError, match="mode"):
        moved.with_(mode="fast")
