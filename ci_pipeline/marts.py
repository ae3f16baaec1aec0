"""Versioned Parquet marts and the DuckDB catalogue analysts query.

    <warehouse>/marts/<mart>/version=<UTC timestamp>/part-0.parquet
    <warehouse>/marts/<mart>/version=<UTC timestamp>/_manifest.json
    <warehouse>/marts/<mart>/_LATEST                              the current version id: the commit point
    <warehouse>/marts/<mart>/_journal/<version>.published.json    a version that has been LATEST
    <warehouse>/marts/<mart>/_journal/<version>.pruned.json       a published version retention removed
    <warehouse>/catalog.duckdb                                    views <mart> (latest), <mart>_versions (all)
                                                                  (ci_pipeline.catalog)

Every name in a mart's folder that is not a version starts with '_' or '.', so Parquet readers skip it:
`pd.read_parquet(<warehouse>/marts/<mart>)` reads every version folder (with a `version` column). Each
part file carries the mart's contract (ci_pipeline/schema.py): a `description` in every field's metadata,
the grain and primary key in the schema's metadata.

The commit rule: a version is written where readers do not look (<mart>/_staging/ on disk), promoted to
version=<id>/ (a rename on disk; on object storage it is written there directly and nothing moves),
verified, and then committed by one write, written once: LATEST is replaced by the new id, on condition
that it still names the version the new one was built on (the manifest's previous_version). Everything
after that write (the journal entry, the catalogue) is derived from it, so before every publish, prune or
catalogue refresh (and in `repair()`) the store puts the warehouse back in line with LATEST:

- LATEST's version, and every version a published manifest names as previous_version, is journaled;
- staging leftovers and the temporary files of interrupted writes (names beginning with '.') are removed;
- a version folder that LATEST, the journal and every manifest's previous_version leave unnamed was never
  published (a crash came before the commit): it is removed; so is a folder the journal says was pruned;
- catalog.duckdb is rebuilt when a view is missing or names other versions than LATEST and the journal.

So a kill at any point leaves LATEST on a complete version, every version a reader saw as LATEST stays
listed, and the next writer repairs the rest. Versions are immutable; a version whose content hash equals
the latest one is not published again. Every file the store writes is 0644 and every folder 0755 whatever
the umask, so the warehouse's group can read them.

Earlier releases' names are still read, for one release, and repair moves them aside: LATEST (the pointer
before it was _LATEST) is read when there is no _LATEST (both: the newer version wins, and both are
journaled) and renamed to _LATEST; PUBLISHED (one id a line, the journal before _journal/) is carried over
into _journal/ and kept as _PUBLISHED.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ci_pipeline import catalog
from ci_pipeline.archive import atomic_write, fsync_dir, sha256_bytes
from ci_pipeline.catalog import CATALOG_FILE
from ci_pipeline.schema import MARTS
from ci_pipeline.tidy import plain

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

log = logging.getLogger(__name__)
_boundary_hook: Callable[[str, str | None], None] | None = None


def set_boundary_hook(hook: Callable[[str, str | None], None] | None) -> None:
    """Have hook(boundary, mart) called at every boundary in BOUNDARIES (mart is None for the catalogue)."""
    global _boundary_hook
    _boundary_hook = hook


def _reached(boundary: str, mart: str | None) -> None:
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
    repo = repo or Path(__file__).resolve().parent.parent
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


def _make_dirs(path: Path) -> None:
    """Create `path` and its missing parents as 0755 whatever the umask."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        folder.chmod(DIR_MODE)
        fsync_dir(folder.parent)


class StoreBackend(Protocol):
    """The storage operations MartStore's commit rule is written against; keys are '/'-separated paths
    relative to the warehouse root.

    LocalBackend implements them on a file system. An object-storage backend implements the same
    operations and publish, prune and repair run on it unchanged, in the same order:
      put / get / list / delete   PUT, GET, LIST with delimiter '/', DELETE (of every object under a prefix)
      swap                        PUT with If-Match on the ETag of the expected pointer (If-None-Match: *
                                  when there is none): the commit point
      stage / promote             stage returns the final prefix itself and promote does nothing: a version
                                  is written in place and stays unpublished until LATEST names it
      exclusive                   a lease object created with If-None-Match: * (repair must not remove a
                                  version another publisher is still writing)
      make_readable               nothing (readers' access is the bucket's policy)
    The catalogue is built on local disk in either case.
    """

    def put(self, key: str, data: bytes) -> None:
        """Store an object whole: readers and crashes see the old object (or none) or the new one."""

    def get(self, key: str) -> bytes:
        """An object's bytes; FileNotFoundError when there is none."""

    def list(self, prefix: str) -> list[str]:
        """The names directly under a prefix, sorted ([] when there are none)."""

    def delete(self, key: str) -> None:
        """Remove an object, or everything under a prefix; nothing there is fine."""

    def swap(self, key: str, value: str, expected: str | None) -> None:
        """Replace a pointer object's value, only if it is `expected` (None: no object); else PointerMoved."""

    def stage(self, final: str) -> str:
        """Where to write what will be promoted to the prefix `final`."""

    def promote(self, staged: str, final: str) -> None:
        """Make what was written under `staged` appear under `final` at once."""

    def exclusive(self) -> Any:
        """A context manager: one writer at a time in this warehouse (not re-entrant)."""

    def make_readable(self, key: str) -> bool:
        """Give an object the store's file mode if it lacks it (written by an older release); True if changed."""


class LocalBackend:
    """StoreBackend on a local or mounted file system: atomic renames, fsync, flock."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        _make_dirs(path.parent)
        atomic_write(path, data)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def swap(self, key: str, value: str, expected: str | None) -> None:
        # Atomic because every writer holds exclusive() around it.
        try:
            current = self.get(key).decode("utf-8").strip() or None
        except FileNotFoundError:
            current = None
        if current != expected:
            raise PointerMoved(key, expected, current)
        self.put(key, (value + "\n").encode("utf-8"))

    def stage(self, final: str) -> str:
        parent, _, name = final.rpartition("/")
        return f"{parent}/{STAGING_DIR}/{name}"

    def promote(self, staged: str, final: str) -> None:
        os.rename(self.path(staged), self.path(final))
        fsync_dir(self.path(final).parent)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        path = self.path(f"marts/{LOCK_FILE}")
        _make_dirs(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
            os.fchmod(fd, FILE_MODE)
        except FileExistsError:
            fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the fd closes, and when the process dies
            yield
        finally:
            os.close(fd)

    def make_readable(self, key: str) -> bool:
        path = self.path(key)
        if not path.is_file() or path.stat().st_mode & 0o777 == FILE_MODE:
            return False
        path.chmod(FILE_MODE)
        return True


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _with_contract(table: pa.Table, mart: str, version: str) -> pa.Table:
    """`table` carrying its mart's contract for any Parquet reader: each field's `description` in the field
    metadata; the mart, version, grain and primary key in the schema metadata."""
    contract = MARTS.get(mart)
    described = contract.descriptions if contract else {}
    fields = [f.with_metadata({"description": described[f.name]}) if f.name in described else f for f in table.schema]
    extra = {"mart": mart, "version": version, **(contract.parquet_metadata() if contract else {})}
    metadata = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in extra.items()}}
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=metadata))


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


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


class MartStore:
    """Publishes and reads versioned marts under one warehouse root."""

    def __init__(self, warehouse_root: Path | str, backend: StoreBackend | None = None):
        self.root = Path(warehouse_root)
        self.marts_root = self.root / "marts"
        self.catalog_path = self.root / CATALOG_FILE
        self.backend = backend or LocalBackend(self.root)

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
        return pd.read_parquet(self.version_dir(mart, version) / PART_FILE)

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
        table = pa.Table.from_pandas(plain(frame).reset_index(drop=True), preserve_index=False)
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
            part = _parquet_bytes(_with_contract(table, mart, version))
            self.backend.put(f"{staged}/{PART_FILE}", part)
            _reached("part_written", mart)
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
            self.backend.put(f"{staged}/{MANIFEST_FILE}", _json_bytes(manifest))
            _reached("staged", mart)
            self.backend.promote(staged, final)
            _reached("renamed", mart)
            self.verify(mart, version)
            try:
                self.backend.swap(self._key(mart, LATEST_FILE), version, previous)
            except PointerMoved as moved:
                raise MartError(
                    f"{mart}: {LATEST_FILE} was changed to {moved.current} while {version} was being built on "
                    f"{previous}; {version} was not published (run again)") from moved
            _reached("latest", mart)
            self._record(mart, version, PUBLISHED, "published")
            _reached("journaled", mart)
            self._build_catalog()
        return PublishResult(mart, version, True, "new content", len(frame), digest, previous, repaired)

    def _record(self, mart: str, version: str, event: str, reason: str) -> None:
        entry = {"version": version, "event": event, "recorded_at": datetime.now(UTC).isoformat(), "reason": reason}
        self.backend.put(self._key(mart, JOURNAL_DIR, f"{version}.{event}.json"), _json_bytes(entry))

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
                _reached("prune_recorded", mart)
                self._build_catalog()
                _reached("prune_catalogued", mart)
            for version in removable:
                self.backend.delete(self._version_key(mart, version))
        return removable

    # repair --------------------------------------------------------------------------------------------
    def repair(self) -> list[str]:
        """Put the warehouse back in line with LATEST (see the module docstring); what was done, one line
        each (empty when nothing was needed). Every publish, prune and catalogue refresh does this first."""
        with self.backend.exclusive():
            return self._repair()

    def _repair(self) -> list[str]:
        done = []
        for mart in self._mart_folders():
            done += self._repair_mart(mart)
        for name in self.backend.list(""):
            if name.startswith(CATALOG_TEMP_PREFIX):
                self.backend.delete(name)
                done.append(f"removed {name}, left by an interrupted catalogue refresh")
        stale = self._catalog_disagreement()
        if stale:
            self._build_catalog()
            done.append(f"rebuilt {CATALOG_FILE}: {stale}")
        for line in done:
            log.warning("mart store repair: %s", line)
        return done

    def _repair_mart(self, mart: str) -> list[str]:
        done = []
        key = self._key(mart)
        leftovers = [name for name in self.backend.list(key) if name.startswith(".")]
        leftovers += [f"{JOURNAL_DIR}/{name}" for name in self.backend.list(f"{key}/{JOURNAL_DIR}")
                      if name.startswith(".")]
        leftovers += [f"{STAGING_DIR}/{name}" for name in self.backend.list(f"{key}/{STAGING_DIR}")]
        for name in leftovers:
            self.backend.delete(f"{key}/{name}")
            done.append(f"{mart}: removed {name}, left by an interrupted write")
        if self.backend.make_readable(self._key(mart, LATEST_FILE)):
            done.append(f"{mart}: made {LATEST_FILE} readable by the warehouse's group")

        pointers = self._pointers(mart)
        latest = self.latest_version(mart)
        events = self._journal(mart)
        entries = self.backend.list(self._key(mart, JOURNAL_DIR))
        carried = [v for v in self._legacy_journal(mart) if f"{v}.{PUBLISHED}.json" not in entries]
        for version in carried:
            self._record(mart, version, PUBLISHED, f"carried over from {LEGACY_JOURNAL_FILE}")
        if carried:
            done.append(f"{mart}: carried {len(carried)} version(s) over from {LEGACY_JOURNAL_FILE} into {JOURNAL_DIR}/")
        folders = set(self._version_folders(mart))
        manifests = {version: self._manifest_or_none(mart, version) for version in folders}

        # Reconcile the journal from the commit point: _LATEST (and LATEST, the earlier name), and every
        # version a published one was built on.
        todo = [(version, f"{name} names it") for name, version in pointers.items()]
        todo += [(v, "") for v, e in events.items() if e == PUBLISHED]
        published = set()
        while todo:
            version, why = todo.pop()
            if version is None or version in published or events.get(version) == PRUNED:
                continue
            published.add(version)
            if version not in folders and version != latest:
                why = "its folder is gone: it was removed outside MartStore.prune"
                self._record(mart, version, PRUNED, why)
                events[version] = PRUNED
                done.append(f"{mart}: journaled {version} as pruned ({why})")
                continue
            if version not in events:
                self._record(mart, version, PUBLISHED, f"repair: {why}")
                events[version] = PUBLISHED
                done.append(f"{mart}: journaled {version} ({why}, the journal did not)")
            previous = (manifests.get(version) or {}).get("previous_version")
            todo.append((previous, f"{version} names it as previous_version"))

        named = {m.get("previous_version") for m in manifests.values() if m}
        for version in sorted(folders):
            if version in pointers.values():
                continue
            if events.get(version) == PRUNED:
                self.backend.delete(self._version_key(mart, version))
                done.append(f"{mart}: removed version={version}, journaled as pruned (an interrupted prune)")
            elif version not in events and version not in named:
                self.backend.delete(self._version_key(mart, version))
                done.append(f"{mart}: removed version={version}, never named by {LATEST_FILE} "
                            "(its publish was interrupted before the commit)")
        return done + self._rename_legacy_files(mart, pointers, latest)

    def _rename_legacy_files(self, mart: str, pointers: dict[str, str | None], latest: str | None) -> list[str]:
        """Move an earlier release's LATEST and PUBLISHED aside (their versions are journaled by now), so
        that every name in the mart's folder but the versions begins with '_'."""
        done = []
        if pointers[LEGACY_LATEST_FILE] is not None:
            if pointers[LATEST_FILE] != latest:
                self.backend.put(self._key(mart, LATEST_FILE), f"{latest}\n".encode())
            self.backend.delete(self._key(mart, LEGACY_LATEST_FILE))
            done.append(f"{mart}: renamed {LEGACY_LATEST_FILE} to {LATEST_FILE}, naming {latest}")
        if LEGACY_JOURNAL_FILE in self.backend.list(self._key(mart)):
            legacy = self.backend.get(self._key(mart, LEGACY_JOURNAL_FILE))
            self.backend.put(self._key(mart, KEPT_LEGACY_JOURNAL_FILE), legacy)
            self.backend.delete(self._key(mart, LEGACY_JOURNAL_FILE))
            done.append(f"{mart}: kept {LEGACY_JOURNAL_FILE} as {KEPT_LEGACY_JOURNAL_FILE} (its versions are in {JOURNAL_DIR}/)")
        return done

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
        each file named by its key, a path relative to the warehouse root."""
        shown = []
        for mart in self.marts():
            files = {version: f"{self._version_key(mart, version)}/{PART_FILE}" for version in self.versions(mart)}
            shown += catalog.views(mart, self.latest_version(mart), files)
        return shown

    def _catalog_disagreement(self) -> str | None:
        """Why catalog.duckdb does not show what _LATEST and the journal say, or None when it does."""
        views = self._views()
        return catalog.disagreement(self.catalog_path, views) if views else None

    def _build_catalog(self) -> Path:
        """Build the catalogue in a temporary file and rename it over the old one, so an analyst holding
        the catalogue open keeps a consistent (older) view and never blocks a publish."""
        _make_dirs(self.root)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=CATALOG_TEMP_PREFIX, suffix=".duckdb")
        os.close(fd)
        os.unlink(tmp)
        try:
            catalog.build(Path(tmp), self.root, self._views(), while_open=lambda: _reached("catalog_open", None))
            os.chmod(tmp, FILE_MODE)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            _reached("catalog_written", None)
            os.replace(tmp, self.catalog_path)
            fsync_dir(self.root)
        finally:
            for leftover in (tmp, tmp + ".wal"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        return self.catalog_path
