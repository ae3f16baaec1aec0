"""What the Dagster UI shows about every asset besides its computation, added in one place.

`annotate(assets, ...)` gives every asset
- its code version (defs/versions.py) and, as definition metadata, what the code version is made of;
- its owners (<catalogue root>/owners.yaml, by asset group);
- a column schema (`dagster/column_schema`, a TableSchema with each column's type and description) from
  the column contract (ci_pipeline/schema.py, `contract(name)`) on every staged table, mart and release;
- code references: the function that defines it, and the configuration files it reads (its catalogue
  entry, its expectation suites). Where the repository has a GitHub or GitLab remote, they link to the
  files at the commit the code location was loaded from (`link_code_references_to_git`); otherwise they
  name the local file and line.
Row counts (`dagster/row_count`) are materialisation metadata, reported where rows are written (the IO
manager, the release and survey assets).
"""

from __future__ import annotations

import re
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

from dagster import (
    AnchorBasedFilePathMapping,
    AssetsDefinition,
    AssetSpec,
    BetaWarning,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MetadataValue,
    TableColumn,
    TableSchema,
    link_code_references_to_git,
    with_source_code_references,
)

from ci_pipeline.config import ConfigError, display_path
from ci_pipeline.defs.versions import CodeVersions
from ci_pipeline.owners import OWNERS_FILE, Ownership
from ci_pipeline.schema import SQL_TYPES, TIDY_OBSERVATIONS, Contract, contract

CODE_REFERENCES = "dagster/code_references"
COLUMN_SCHEMA = "dagster/column_schema"


def column_schema(dataset: Contract) -> TableSchema:
    """The contract as Dagster's column schema: name, type (as DuckDB reads it) and description."""
    return TableSchema(columns=[
        TableColumn(name=column.name, type=SQL_TYPES.get(column.dtype, column.dtype), description=column.description)
        for column in dataset.columns
    ])


def contract_of(key_path: Sequence[str]) -> Contract | None:
    """The contract describing an asset's value: staged tables are tidy observations; a mart and its
    release are the mart's contract."""
    layer, name = key_path[0], key_path[-1]
    if layer == "staging":
        return TIDY_OBSERVATIONS
    if layer in ("marts", "releases"):
        return contract(name)
    return None


def _references(paths: list[Path], root: Path, label: str) -> list[LocalFileCodeReference]:
    return [LocalFileCodeReference(file_path=str(path), line_number=1, label=f"{label}: {display_path(path, root)}")
            for path in paths if path.is_file()]


def _annotated_spec(spec: AssetSpec, versions: CodeVersions, ownership: Ownership) -> AssetSpec:
    root = versions.settings.repo_root
    files = [*_references(versions.configuration(spec.key), root, "configuration"),
             *_references(versions.suite_files(spec.key)[:1], root, "expectation suite")]
    metadata = {**spec.metadata, "code_version_inputs": MetadataValue.json(versions.inputs(spec.key))}
    if files:
        metadata[CODE_REFERENCES] = CodeReferencesMetadataValue(code_references=files)
    dataset = contract_of(spec.key.path)
    if dataset is not None:
        metadata[COLUMN_SCHEMA] = column_schema(dataset)
    return spec.replace_attributes(
        code_version=spec.code_version or versions.code_version(spec.key),
        owners=[*spec.owners] or ownership.of(spec.group_name),
        metadata=metadata,
    )


def check_owner_groups(ownership: Ownership, assets: Sequence[AssetsDefinition], catalogue_root: Path) -> None:
    """Every group owners.yaml names must be a group of some asset (a typo would silently own nothing)."""
    groups = {spec.group_name for a in assets for spec in a.specs}
    unknown = sorted(set(ownership.groups) - groups)
    if unknown:
        raise ConfigError([f"{display_path(catalogue_root / OWNERS_FILE)}: groups.{name}: no asset is in group "
                           f"{name!r} (groups: {', '.join(sorted(g for g in groups if g))})" for name in unknown])


def git_remote(repo_root: Path) -> tuple[str, str] | None:
    """(web URL, commit) of the repository's `origin` remote on GitHub or GitLab, or None (no git, no
    remote, or another host: the references then name local files)."""
    def git(*args: str) -> str:
        try:
            result = subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, text=True,
                                    timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    remote = git("remote", "get-url", "origin")
    match = re.fullmatch(r"(?:https?://|ssh://)?(?:[^@/]+@)?(github\.com|gitlab\.com)[:/](.+?)(?:\.git)?/?", remote)
    commit = git("rev-parse", "HEAD")
    if match is None or not commit:
        return None
    return f"https://{match.group(1)}/{match.group(2)}", commit


def annotate(assets: Sequence[AssetsDefinition], versions: CodeVersions,
             ownership: Ownership) -> list[AssetsDefinition]:
    """Every asset with its code version, owners, column schema and code references (module docstring)."""
    with warnings.catch_warnings():
        # Code references are beta in Dagster 1.13; the warning would repeat once per asset on every load.
        warnings.simplefilter("ignore", BetaWarning)
        annotated = [a.map_asset_specs(lambda spec: _annotated_spec(spec, versions, ownership)) for a in assets]
        referenced = with_source_code_references(annotated)
        remote = git_remote(versions.settings.repo_root)
        if remote is None:
            return list(referenced)
        url, commit = remote
        mapping = AnchorBasedFilePathMapping(local_file_anchor=versions.settings.repo_root,
                                             file_anchor_path_in_repository="")
        return list(link_code_references_to_git(referenced, git_url=url, git_branch=commit,
                                                file_path_mapping=mapping))
