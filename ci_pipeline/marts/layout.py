"""A mart version's names and identity: the file names of the warehouse layout (ci_pipeline.marts), the
version id, the content hash, the code version, the bytes of its Parquet file and manifest, the errors of
the store, and the write boundaries the crash tests kill the store at."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ci_pipeline.schema import MARTS

PART_FILE = "part-0.parquet"
MANIFEST_FILE = "_manifest.json"
LATEST_FILE = "_LATEST"
LEGACY_LATEST_FILE = "LATEST"
JOURNAL_DIR = "_journal"
LEGACY_JOURNAL_FILE = "PUBLISHED"
KEPT_LEGACY_JOURNAL_FILE = "_PUBLISHED"
STAGING_DIR = "_staging"
LOCK_FILE = "_lock"
CATALOG_TEMP_PREFIX = ".catalog-"
# What a mart version is built from besides its inputs: the code, the YAML catalogue and the expectation
# suites. An uncommitted edit under any of them makes the code version '<commit>-dirty'.
CODE_PATHS = ("ci_pipeline", "assets", "checks")
FILE_MODE = 0o644
DIR_MODE = 0o755
PUBLISHED = "published"
PRUNED = "pruned"

# Every point between two writes of a publish or a prune, in order. The crash tests kill the process at
# each one (set_boundary_hook) and check what the next writer finds and repairs.
BOUNDARIES = (
    "part_written",      # the Parquet file is in staging, the manifest is not
    "staged",            # the version is complete in staging
    "renamed",           # promoted to version=<id>/, not named by LATEST: not published
    "latest",            # LATEST names it: published (the commit point); not journaled yet
    "journaled",         # journaled; the catalogue still shows the previous version
    "catalog_open",      # the new catalogue is being built: a temporary .duckdb and its .wal exist
    "catalog_written",   # the new catalogue is complete in its temporary file, not renamed into place
    "prune_recorded",    # prune journaled the versions it removes; the catalogue still lists them
    "prune_catalogued",  # the catalogue no longer lists them; their folders are still there
)

_boundary_hook: Callable[[str, str | None], None] | None = None


def set_boundary_hook(hook: Callable[[str, str | None], None] | None) -> None:
    """Have hook(boundary, mart) called at every boundary in BOUNDARIES (mart is None for the catalogue)."""
    global _boundary_hook
    _boundary_hook = hook


def reached(boundary: str, mart: str | None) -> None:
    if _boundary_hook is not None:
        _boundary_hook(boundary, mart)


class MartError(Exception):
    pass


class PointerMoved(MartError):
    """A conditional write of a pointer found it naming something other than expected."""

    def __init__(self, key: str, expected: str | None, current: str | None):
        super().__init__(f"{key} names {current!r}, expected {expected!r}")
        self.key, self.expected, self.current = key, expected, current


def content_sha256(frame: pd.DataFrame) -> str:
    """A hash of a frame's schema and values that ignores Parquet writer details (row order matters)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def new_version_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def code_version(repo: Path | None = None) -> str:
    """The git commit of the code that built a version, '-dirty' when a file under CODE_PATHS differs from
    it (changed, staged, or new and not ignored), or 'unknown' outside a checkout."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    if not commit:
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()
    return f"{commit}-dirty" if dirty else commit


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def with_contract(table: pa.Table, mart: str, version: str) -> pa.Table:
    """`table` carrying its mart's contract for any Parquet reader: each field's `description` in the field
    metadata; the mart, version, grain and primary key in the schema metadata."""
    contract = MARTS.get(mart)
    described = contract.descriptions if contract else {}
    fields = [f.with_metadata({"description": described[f.name]}) if f.name in described else f for f in table.schema]
    extra = {"mart": mart, "version": version, **(contract.parquet_metadata() if contract else {})}
    metadata = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in extra.items()}}
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=metadata))


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

