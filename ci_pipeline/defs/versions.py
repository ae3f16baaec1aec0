"""Code versions and data versions: what Dagster compares to tell whether an asset is in sync.

An asset is in sync ("fresh" in Dagster's terms; the UI shows "Unsynced" otherwise) when its code version
and the data versions of its inputs are those its last materialization recorded. The build step of
`make run` and the nightly build both materialise exactly the assets that are not (defs/automation.py), so
what these versions cover decides what is rebuilt.

Code versions are hashes, not strings bumped by hand: a bump is forgotten, a hash is not. Each asset's
code version is the first 16 hex digits of a sha256 over
- the package's code: every file under ci_pipeline/ (Python modules and the report's templates); any edit
  there counts for every asset, because following imports would miss a helper that moved;
- the versions of the libraries results depend on (RESULT_LIBRARIES);
- the configuration files the asset reads (CONFIGURATION below: its catalogue entry, the indicator
  registry, goals.yaml, the survey codebook, the stories, report.yaml), and the expectation suites that
  audit it (its own file and the shared bases), so that editing a suite runs the audit again.
An asset the table does not name reads the whole catalogue (the safe default). Each asset's definition
metadata `code_version_inputs` lists the parts and their hashes, so the UI shows what a new code version
came from.

Data versions: raw assets report the source's own version (`source_data_version`: its update stamp and
the sha256 of the archived answers or reference files, never when they were fetched); the KLASS geography
reports the content hash of what it built; a survey wave partition the sha256 of its stored file. Every
other asset gets Dagster's default, derived from its code version and its inputs' data versions, so an
unchanged rerun gives every asset the data version it had.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster import AssetKey, BetaWarning

from ci_pipeline.catalogue import CatalogueEntry
from ci_pipeline.quality.suites import Suite
from ci_pipeline.settings import Settings

# Data versions on outputs are beta in Dagster 1.13; the warning would repeat once per asset and run.
warnings.filterwarnings("ignore", message=r"Parameter `data_version`", category=BetaWarning)

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Libraries whose upgrade may change results (parsing, arithmetic, Parquet, checks).
RESULT_LIBRARIES = ("dagster", "pandas", "numpy", "pyarrow", "duckdb", "great_expectations", "scipy",
                    "statsmodels")
CODE_VERSION_LENGTH = 16

INDICATORS, GOALS, SURVEYS, STORIES, REPORT = "indicators", "goals.yaml", "surveys", "stories", "report.yaml"
# What each asset reads from the catalogue root, besides the code (layer/name, or layer/* for a layer).
# raw/<entry> and staging/<entry> read their own catalogue entry (added per entry).
CONFIGURATION: dict[str, tuple[str, ...]] = {
    "raw/*": (),
    "staging/*": (),
    "geography/*": (),
    "core/observations": (INDICATORS,),
    "marts/indicator_values": (),
    "marts/regions": (),
    "marts/indicators": (INDICATORS,),
    "marts/goals": (GOALS, INDICATORS, SURVEYS),
    "marts/goal_progress": (GOALS, INDICATORS, SURVEYS),
    "marts/stories": (STORIES, GOALS, SURVEYS),
    "marts/survey_results": (SURVEYS,),
    "marts/survey_change": (SURVEYS,),
    "survey/*": (SURVEYS,),
    "releases/*": (),
    "reports/goal_report": (REPORT, GOALS, INDICATORS, SURVEYS),
}


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and not p.name.endswith((".pyc", ".pyo")))


def _tree_sha256(paths: Iterable[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        name = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        digest.update(f"{name}={hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


@dataclass
class CodeVersions:
    """Code versions for one settings object (its catalogue and checks roots); hashes are computed once."""

    settings: Settings
    suites: list[Suite] = field(default_factory=list)
    entries: dict[str, CatalogueEntry] = field(default_factory=dict)  # by catalogue entry name
    _parts: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def code(self) -> str:
        return _tree_sha256(_files(PACKAGE_ROOT), PACKAGE_ROOT)

    @cached_property
    def libraries(self) -> str:
        return ", ".join(f"{name} {metadata.version(name)}" for name in RESULT_LIBRARIES)

    def _part(self, path: Path) -> str:
        key = str(path)
        if key not in self._parts:
            self._parts[key] = _tree_sha256(_files(path), self.settings.repo_root)[:CODE_VERSION_LENGTH]
        return self._parts[key]

    def _display(self, path: Path) -> str:
        try:
            return path.relative_to(self.settings.repo_root).as_posix()
        except ValueError:
            return str(path)

    def configuration(self, key: AssetKey) -> list[Path]:
        """The configuration files and folders `key` reads: its catalogue entry and CONFIGURATION's."""
        layer, name = key.path[0], key.path[-1]
        exact, layer_wide = CONFIGURATION.get(key.to_user_string()), CONFIGURATION.get(f"{layer}/*")
        relative = exact if exact is not None else layer_wide
        paths = [self.settings.catalogue_root] if relative is None else \
            [self.settings.catalogue_root / part for part in relative]
        entry = self.entries.get(name) if layer in ("raw", "staging") else None
        if entry is not None and entry.path is not None:
            paths.insert(0, entry.path)
        return paths

    def suite_files(self, key: AssetKey) -> list[Path]:
        """The expectation suites that audit `key`, and the shared bases they may extend."""
        own = [self.settings.checks_root / f"{suite.name}.yaml" for suite in self.suites
               if key.to_user_string() in suite.assets]
        return [*own, *sorted(self.settings.checks_root.glob("_*.yaml"))] if own else []

    def inputs(self, key: AssetKey) -> dict[str, str]:
        """What `key`'s code version is made of, each part with its hash (shown in the UI)."""
        parts = {"code (ci_pipeline/)": self.code[:CODE_VERSION_LENGTH], "libraries": self.libraries}
        for path in [*self.configuration(key), *self.suite_files(key)]:
            parts[self._display(path)] = self._part(path)
        return parts

    def code_version(self, key: AssetKey) -> str:
        text = json.dumps(self.inputs(key), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:CODE_VERSION_LENGTH]


def source_data_version(summary: dict[str, Any]) -> str:
    """The data version of a raw asset: the source's update stamp (when it has one) and a hash of what was
    archived (each answer's sha256, or each reference file's checksums). It changes exactly when the source
    published something else; when the answers were fetched does not enter."""
    content = sorted(r["sha256"] for r in summary.get("responses", [])) + \
        sorted(json.dumps(f, sort_keys=True) for f in summary.get("files", []))
    digest = hashlib.sha256("\n".join(content).encode()).hexdigest()[:CODE_VERSION_LENGTH]
    updated = summary.get("updated")
    return f"{updated} {digest}" if updated else digest
