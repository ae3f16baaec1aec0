"""Versioned Parquet marts and the DuckDB catalogue analysts query.

    <warehouse>/marts/<mart>/version=<UTC timestamp>/part-0.parquet
    <warehouse>/marts/<mart>/version=<UTC timestamp>/_manifest.json
    <warehouse>/marts/<mart>/LATEST                 the current version id, replaced atomically
    <warehouse>/marts/<mart>/PUBLISHED              every version id that has been LATEST, one a line
    <warehouse>/catalog.duckdb                      views <mart> (latest) and <mart>_versions (all)

A version is written into <mart>/_staging/<version>/, verified, renamed into place, and only then named
in LATEST (and recorded in PUBLISHED), so a crash at any point leaves LATEST on a complete version. A
version folder that a crash left behind before LATEST named it was never published: it is not listed,
not in the catalogue, and removed by the next publish. Versions are immutable. A version whose content
hash equals the latest one is not published again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ci_pipeline.archive import file_sha256

PART_FILE = "part-0.parquet"
MANIFEST_FILE = "_manifest.json"
LATEST_FILE = "LATEST"
PUBLISHED_FILE = "PUBLISHED"
STAGING_DIR = "_staging"


class MartError(Exception):
    pass


def content_sha256(frame: pd.DataFrame) -> str:
    """A hash of a frame's schema and values that ignores Parquet writer details (row order matters)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def new_version_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def code_version() -> str:
    """The git commit of the code that built a version (or 'unknown' outside a checkout)."""
    repo = Path(__file__).resolve().parent.parent
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
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "ci_pipeline"],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()
    return f"{commit}-dirty" if dirty else commit


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class PublishResult:
    mart: str
    version: str
    published: bool
    reason: str
    row_count: int
    content_sha256: str
    previous_version: str | None


class MartStore:
    """Publishes and reads versioned marts under one warehouse root."""

    def __init__(self, warehouse_root: Path | str):
        self.root = Path(warehouse_root)
        self.marts_root = self.root / "marts"
        self.catalog_path = self.root / "catalog.duckdb"

    # reading -------------------------------------------------------------------------------------------
    def mart_dir(self, mart: str) -> Path:
        return self.marts_root / mart

    def version_dir(self, mart: str, version: str) -> Path:
        return self.mart_dir(mart) / f"version={version}"

    def latest_version(self, mart: str) -> str | None:
        latest = self.mart_dir(mart) / LATEST_FILE
        if not latest.exists():
            return None
        version = latest.read_text(encoding="utf-8").strip()
        return version or None

    def _published(self, mart: str) -> set[str]:
        journal = self.mart_dir(mart) / PUBLISHED_FILE
        published = set(journal.read_text(encoding="utf-8").split()) if journal.exists() else set()
        latest = self.latest_version(mart)
        # LATEST is replaced before the journal is appended to: a crash in between still counts.
        return published | {latest} if latest else published

    def _version_folders(self, mart: str) -> list[str]:
        folder = self.mart_dir(mart)
        if not folder.is_dir():
            return []
        return sorted(p.name.split("=", 1)[1] for p in folder.glob("version=*") if p.is_dir())

    def versions(self, mart: str) -> list[str]:
        """Published versions, oldest first (a folder a crash left before LATEST named it is not one)."""
        published = self._published(mart)
        return [v for v in self._version_folders(mart) if v in published]

    def marts(self) -> list[str]:
        if not self.marts_root.is_dir():
            return []
        return sorted(p.name for p in self.marts_root.iterdir() if (p / LATEST_FILE).exists())

    def manifest(self, mart: str, version: str) -> dict[str, Any]:
        path = self.version_dir(mart, version) / MANIFEST_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MartError(f"mart {mart!r} has no version {version!r} (no {path})") from exc

    def latest_manifest(self, mart: str) -> dict[str, Any] | None:
        version = self.latest_version(mart)
        return self.manifest(mart, version) if version else None

    def read(self, mart: str, version: str | None = None) -> pd.DataFrame:
        version = version or self.latest_version(mart)
        if version is None:
            raise MartError(f"mart {mart!r} has no published version under {self.marts_root}")
        return pd.read_parquet(self.version_dir(mart, version) / PART_FILE)

    def verify(self, mart: str, version: str) -> None:
        """Raise MartError unless the version's Parquet file matches its manifest."""
        manifest = self.manifest(mart, version)
        part = self.version_dir(mart, version) / PART_FILE
        if not part.exists():
            raise MartError(f"{mart} version {version}: {PART_FILE} is missing")
        if file_sha256(part) != manifest["file_sha256"]:
            raise MartError(f"{mart} version {version}: {PART_FILE} does not match the manifest's file_sha256")
        if content_sha256(pd.read_parquet(part)) != manifest["content_sha256"]:
            raise MartError(f"{mart} version {version}: data does not match the manifest's content_sha256")

    # writing -------------------------------------------------------------------------------------------
    def publish(
        self,
        mart: str,
        frame: pd.DataFrame,
        *,
        inputs: list[dict[str, Any]] | None = None,
        checks: list[dict[str, Any]] | None = None,
        description: str | None = None,
        now: datetime | None = None,
    ) -> PublishResult:
        """Write a new version of `mart` unless its content equals the latest one; then point LATEST at it."""
        # Hash what a reader gets back from Parquet, so the manifest's hash is checkable against the file.
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        frame = table.to_pandas()
        digest = content_sha256(frame)
        previous = self.latest_version(mart)
        if previous is not None:
            previous_manifest = self.manifest(mart, previous)
            if previous_manifest["content_sha256"] == digest:
                self.refresh_catalog()
                return PublishResult(mart, previous, False, "content unchanged since the latest version",
                                     len(frame), digest, previous)

        version = new_version_id(now)
        mart_dir = self.mart_dir(mart)
        staging = mart_dir / STAGING_DIR / version
        self._clear_abandoned(mart)
        staging.mkdir(parents=True)
        part = staging / PART_FILE
        pq.write_table(table, part, compression="zstd")
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        manifest = {
            "mart": mart,
            "version": version,
            "description": description,
            "created_at": datetime.now(UTC).isoformat(),
            "row_count": len(frame),
            "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
            "content_sha256": digest,
            "file_sha256": file_sha256(part),
            "inputs": inputs or [],
            "checks": checks or [],
            "code_version": code_version(),
            "previous_version": previous,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        _fsync_dir(staging)
        target = self.version_dir(mart, version)
        os.rename(staging, target)
        _fsync_dir(mart_dir)
        self.verify(mart, version)
        _write_text_atomic(mart_dir / LATEST_FILE, version + "\n")
        with open(mart_dir / PUBLISHED_FILE, "a", encoding="utf-8") as journal:
            journal.write(version + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        self.refresh_catalog()
        return PublishResult(mart, version, True, "new content", len(frame), digest, previous)

    def _clear_abandoned(self, mart: str) -> None:
        """Remove what a crash mid-publish left: staging folders and version folders never named in LATEST."""
        staging_root = self.mart_dir(mart) / STAGING_DIR
        if staging_root.is_dir():
            for leftover in staging_root.iterdir():
                shutil.rmtree(leftover)
        published = self._published(mart)
        for version in self._version_folders(mart):
            if version not in published:
                shutil.rmtree(self.version_dir(mart, version))

    def prune(self, mart: str, keep: int) -> list[str]:
        """Delete all but the newest `keep` versions (never the one LATEST names)."""
        if keep < 1:
            raise MartError("retention must keep at least one version")
        latest = self.latest_version(mart)
        removable = [v for v in self.versions(mart)[:-keep] if v != latest]
        for version in removable:
            shutil.rmtree(self.version_dir(mart, version))
        if removable:
            self.refresh_catalog()
        return removable

    # catalogue -----------------------------------------------------------------------------------------
    def refresh_catalog(self) -> Path:
        """Rebuild catalog.duckdb: a view per mart (latest) and per mart's versions.

        Built in a temporary file and renamed over the old one, so an analyst holding the catalogue open
        keeps a consistent (older) view and never blocks a publish.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".catalog-", suffix=".duckdb")
        os.close(fd)
        os.unlink(tmp)
        try:
            con = duckdb.connect(tmp)
            try:
                for mart in self.marts():
                    latest = self.latest_version(mart)
                    latest_file = (self.version_dir(mart, latest) / PART_FILE).resolve().as_posix()
                    # An explicit list, not a glob: only published versions, never a crash's leftover.
                    files = ", ".join(
                        f"'{(self.version_dir(mart, v) / PART_FILE).resolve().as_posix()}'"
                        for v in self.versions(mart)
                    )
                    con.execute(f"CREATE VIEW \"{mart}\" AS SELECT * FROM read_parquet('{latest_file}')")
                    con.execute(
                        f"CREATE VIEW \"{mart}_versions\" AS SELECT * FROM read_parquet([{files}], "
                        "hive_partitioning = true, union_by_name = true)"
                    )
            finally:
                con.close()
            os.replace(tmp, self.catalog_path)
        finally:
            for leftover in (tmp, tmp + ".wal"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        return self.catalog_path
