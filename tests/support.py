"""Test support shared by the test files: where the repository and the real reference answers are, a
reference file or folder (the test skips cleanly where ../shared/reference is absent), a tool script
loaded as a module, and a Dagster home for a test's own instance."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real recorded answers and exports (/work/shared/reference; a worktree reaches it as ../shared).
REFERENCE = REPO.parent / "shared" / "reference"


def reference(*parts: str) -> Path:
    """A file or folder under ../shared/reference (the folder itself without parts); the calling test
    is skipped, naming what is missing, where it is absent."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared/reference holds the real recorded answers)")
    return path


def load_tool(name: str) -> ModuleType:
    """tools/<name>.py as a module (registered in sys.modules: dataclasses resolve annotations there)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def dagster_home(folder: Path) -> Path:
    """`folder` as a DAGSTER_HOME (created when missing) with telemetry off."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return folder
