"""MartStore: reading, publishing, pruning and cataloguing versioned marts under one warehouse root, by the
commit rule of ci_pipeline.marts (its repair is ci_pipeline.marts.repair)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ci_pipeline import catalog
from ci_pipeline.archive import file_sha256, fsync_dir, sha256_bytes
from ci_pipeline.catalog import CATALOG_FILE
from ci_pipeline.marts.backends import LocalBackend, StoreBackend, make_dirs
from ci_pipeline.marts.layout import (
    CATALOG_TEMP_PREFIX,
    FILE_MODE,
    JOURNAL_DIR,
    LATEST_FILE,
    LEGACY_JOURNAL_FILE,
    LEGACY_LATEST_FILE,
    MANIFEST_FILE,
    PART_FILE,
    PRUNED,
    PUBLISHED,
    MartError,
    PointerMoved,
    code_version,
    content_sha256,
    json_bytes,
    new_version_id,
    parquet_bytes,
    reached,
    with_contract,
)
from ci_pipeline.marts.repair import StoreRepair
from ci_pipeline.schema import MARTS, to_arrow
from ci_pipeline.tidy import plain


@dataclass(frozen=True)
class PublishResult:
    mart: str
    version: str
    published: bool
    reason: str
    row_count: int
    content_sha256: str
    previous_version: str | None
    repaired: tuple[str, ...] = ()  # what the store repaired before publishing (see MartStore.repair)


class MartStore(StoreRepair):
    """Publishes and reads versioned marts under one warehouse root.

    `warehouse_root` is a local folder: the store itself by default (LocalBackend), or, with an object-store
    `backend`, where the catalogue is built before it is copied into the store."""

    def __init__(self, warehouse_root: Path | str, backend: StoreBackend | None = None):
        self.root = Path(warehouse_root)
        self.marts_root = self.root / "marts"
        self.catalog_path = self.root / CATALOG_FILE
        self.backend = backend or LocalBackend(self.root)
        self.local = LocalBackend(self.root)  # where the catalogue's temporary files are

    @classmethod
    def for_settings(cls, settings: Any) -> MartStore:
        """The store a run's settings name: CI_PIPELINE_WAREHOUSE's folder, or its bucket (s3://bucket/prefix)
        with the catalogue built in the local working folder (ci_pipeline.settings.Settings.warehouse_url)."""
        if settings.warehouse_url:
            from ci_pipeline.marts.objectstore import ObjectStoreBackend

            return cls(settings.warehouse_root, ObjectStoreBackend(settings.warehouse_url))
        return cls(settings.warehouse_root)

    # keys and paths ------------------------------------------------------------------------------------
    @staticmethod
    def _key(mart: str, *parts: str) -> str:
        return "/".join(("marts", mart, *parts))

    def _version_key(self, mart: str, version: str) -> str:
        return self._key(mart, f"version={version}")

    def mart_dir(self, mart: str) -> Path:
        return self.marts_root / mart

    def version_dir(self, mart: str, version: str) -> Path:
        return self.mart_dir(mart) / f"version={version}"

    def location(self, mart: str, version: str) -> str:
        """Where a version's folder is, for people: a local path, or its URL in object storage."""
        if self.backend.filesystem() is None:
            return str(self.version_dir(mart, version))
        return self.backend.location(self._version_key(mart, version))

    # reading -------------------------------------------------------------------------------------------
    def latest_version(self, mart: str) -> str | None:
        """The version _LATEST names (an earlier release's LATEST counts until repair renames it)."""
        named = [version for version in self._pointers(mart).values() if version]
        return max(named) if named else None  # both: the newer (ids are UTC timestamps)

    def _pointers(self, mart: str) -> dict[str, str | None]:
        """What _LATEST and the earlier name LATEST hold (None: no such file)."""
        found = {}
        for name in (LATEST_FILE, LEGACY_LATEST_FILE):
            try:
                found[name] = self.backend.get(self._key(mart, name)).decode("utf-8").strip() or None
            except (FileNotFoundError, NotADirectoryError):
                found[name] = None
        return found

    def _journal(self, mart: str) -> dict[str, str]:
        """Version id -> PUBLISHED or PRUNED, as the journal records it (PUBLISHED's ids included)."""
        events = dict.fromkeys(self._legacy_journal(mart), PUBLISHED)
        for name in self.backend.list(self._key(mart, JOURNAL_DIR)):
            version, _, event = name.removesuffix(".json").partition(".")
            if event in (PUBLISHED, PRUNED) and events.get(version) != PRUNED:
                events[version] = event
        return events

    def _legacy_journal(self, mart: str) -> list[str]:
        try:
            return self.backend.get(self._key(mart, LEGACY_JOURNAL_FILE)).decode("utf-8").split()
        except FileNotFoundError:
            return []

    def _version_folders(self, mart: str) -> list[str]:
        return [name.split("=", 1)[1] for name in self.backend.list(self._key(mart)) if name.startswith("version=")]

    def versions(self, mart: str) -> list[str]:
        """Published versions still kept, oldest first: named by LATEST or journaled, and not pruned."""
        events = self._journal(mart)
        listed = {version for version, event in events.items() if event == PUBLISHED}
        latest = self.latest_version(mart)
        if latest:  # LATEST is the commit point: its version counts before the journal catches up
            listed.add(latest)
        return [version for version in self._version_folders(mart) if version in listed]

    def marts(self) -> list[str]:
        return [name for name in self._mart_folders()
                if {LATEST_FILE, LEGACY_LATEST_FILE} & set(self.backend.list(self._key(name)))]

    def _mart_folders(self) -> list[str]:
        return [name for name in self.backend.list("marts") if not name.startswith(("_", "."))]

    def manifest(self, mart: str, version: str) -> dict[str, Any]:
        key = f"{self._version_key(mart, version)}/{MANIFEST_FILE}"
        try:
            return json.loads(self.backend.get(key))
        except FileNotFoundError as exc:
            raise MartError(f"mart {mart!r} has no version {version!r} (no {self.root / key})") from exc

    def latest_manifest(self, mart: str) -> dict[str, Any] | None:
        version = self.latest_version(mart)
        return self.manifest(mart, version) if version else None

    def read(self, mart: str, version: str | None = None) -> pd.DataFrame:
        version = version or self.latest_version(mart)
        if version is None:
            raise MartError(f"mart {mart!r} has no published version under {self.marts_root}")
        return pd.read_parquet(io.BytesIO(self.backend.get(f"{self._version_key(mart, version)}/{PART_FILE}")))

    def verify(self, mart: str, version: str) -> None:
        """Raise MartError unless the version's Parquet file matches its manifest."""
        manifest = self.manifest(mart, version)
        try:
            part = self.backend.get(f"{self._version_key(mart, version)}/{PART_FILE}")
        except FileNotFoundError as exc:
            raise MartError(f"{mart} version {version}: {PART_FILE} is missing") from exc
        if sha256_bytes(part) != manifest["file_sha256"]:
            raise MartError(f"{mart} version {version}: {PART_FILE} does not match the manifest's file_sha256")
        if content_sha256(pd.read_parquet(io.BytesIO(part))) != manifest["content_sha256"]:
            raise MartError(f"{mart} version {version}: data does not match the manifest's content_sha256")

    # writing -------------------------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[tuple[str, ...]]:
        """One writer at a time; each starts by repairing what an interrupted writer left."""
        with self.backend.exclusive():
            yield tuple(self._repair())

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
        # Compact text columns (ci_pipeline.tidy.compact) are published as plain text.
        table = to_arrow(plain(frame), MARTS.get(mart))
        frame = table.to_pandas()
        digest = content_sha256(frame)
        with self._writing() as repaired:
            previous = self.latest_version(mart)
            if previous is not None and self.manifest(mart, previous)["content_sha256"] == digest:
                return PublishResult(mart, previous, False, "content unchanged since the latest version",
                                     len(frame), digest, previous, repaired)

            version = new_version_id(now)
            final = self._version_key(mart, version)
            staged = self.backend.stage(final)
            part = parquet_bytes(with_contract(table, mart, version))
            self.backend.put(f"{staged}/{PART_FILE}", part)
            reached("part_written", mart)
            manifest = {
                "mart": mart,
                "version": version,
                "description": description,
                "created_at": datetime.now(UTC).isoformat(),
                "row_count": len(frame),
                "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
                "content_sha256": digest,
                "file_sha256": sha256_bytes(part),
                "inputs": inputs or [],
                "checks": checks or [],
                "code_version": code_version(),
                "previous_version": previous,
            }
            self.backend.put(f"{staged}/{MANIFEST_FILE}", json_bytes(manifest))
            reached("staged", mart)
            self.backend.promote(staged, final)
            reached("renamed", mart)
            self.verify(mart, version)
            try:
                self.backend.swap(self._key(mart, LATEST_FILE), version, previous)
            except PointerMoved as moved:
                raise MartError(
                    f"{mart}: {LATEST_FILE} was changed to {moved.current} while {version} was being built on "
                    f"{previous}; {version} was not published (run again)") from moved
            reached("latest", mart)
            self._record(mart, version, PUBLISHED, "published")
            reached("journaled", mart)
            self._build_catalog()
        return PublishResult(mart, version, True, "new content", len(frame), digest, previous, repaired)

    def _record(self, mart: str, version: str, event: str, reason: str) -> None:
        entry = {"version": version, "event": event, "recorded_at": datetime.now(UTC).isoformat(), "reason": reason}
        self.backend.put(self._key(mart, JOURNAL_DIR, f"{version}.{event}.json"), json_bytes(entry))

    def prune(self, mart: str, keep: int) -> list[str]:
        """Delete all but the newest `keep` published versions (never the one LATEST names), journaling each
        removal first, so a previous_version that names a pruned version is explained by the journal."""
        if keep < 1:
            raise MartError("retention must keep at least one version")
        with self._writing():
            latest = self.latest_version(mart)
            removable = [v for v in self.versions(mart)[:-keep] if v != latest]
            for version in removable:
                self._record(mart, version, PRUNED, f"retention: keep the newest {keep}")
            if removable:
                reached("prune_recorded", mart)
                self._build_catalog()
                reached("prune_catalogued", mart)
            for version in removable:
                self.backend.delete(self._version_key(mart, version))
        return removable

    def _manifest_or_none(self, mart: str, version: str) -> dict[str, Any] | None:
        try:
            return self.manifest(mart, version)
        except (MartError, ValueError):
            return None  # an unpublished folder a crash left before its manifest was written

    # catalogue -----------------------------------------------------------------------------------------
    def refresh_catalog(self) -> Path:
        """Rebuild catalog.duckdb: a view per mart (latest) and per mart's versions (ci_pipeline.catalog)."""
        with self._writing():
            return self._build_catalog()

    def _views(self) -> list[catalog.View]:
        """What the catalogue must show: for every mart, its latest version and every published version,
        each file named as the backend tells DuckDB to (relative to the warehouse root on disk)."""
        shown = []
        for mart in self.marts():
            files = {version: self.backend.location(f"{self._version_key(mart, version)}/{PART_FILE}")
                     for version in self.versions(mart)}
            shown += catalog.views(mart, self.latest_version(mart), files)
        return shown

    def _catalog_disagreement(self) -> str | None:
        """Why catalog.duckdb does not show what _LATEST and the journal say, or None when it does."""
        views = self._views()
        if not views:
            return None
        return catalog.disagreement(self.catalog_path, views) or self._copy_disagreement()

    def _copy_disagreement(self) -> str | None:
        """Why the store's copy of the catalogue (object storage) differs from the local one, or None."""
        if self.backend.filesystem() is None:
            return None
        try:
            copy = self.backend.get(CATALOG_FILE)
        except FileNotFoundError:
            return f"the store had no copy ({self.backend.location(CATALOG_FILE)})"
        if sha256_bytes(copy) != file_sha256(self.catalog_path):
            return f"the store's copy ({self.backend.location(CATALOG_FILE)}) was not the local one"
        return None

    def _build_catalog(self) -> Path:
        """Build the catalogue in a temporary file and rename it over the old one, so an analyst holding
        the catalogue open keeps a consistent (older) view and never blocks a publish."""
        make_dirs(self.root)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=CATALOG_TEMP_PREFIX, suffix=".duckdb")
        os.close(fd)
        os.unlink(tmp)
        views = self._views()
        try:
            catalog.build(Path(tmp), self.root, views, while_open=lambda: reached("catalog_open", None),
                          filesystem=self.backend.filesystem(), start_from=self.catalog_path)
            os.chmod(tmp, FILE_MODE)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            reached("catalog_written", None)
            os.replace(tmp, self.catalog_path)
            fsync_dir(self.root)
            catalog.remember(self.catalog_path, views)
            if self.backend.filesystem() is not None:  # analysts elsewhere open the store's copy
                self.backend.put(CATALOG_FILE, self.catalog_path.read_bytes())
        finally:
            for leftover in (tmp, tmp + ".wal"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        return self.catalog_path
