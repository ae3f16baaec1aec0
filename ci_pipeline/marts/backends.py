"""Where a mart store keeps its objects: the StoreBackend operations its commit rule is written against, and
LocalBackend, the embedded default on a local or mounted file system."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ci_pipeline.archive import atomic_write, fsync_dir
from ci_pipeline.marts.layout import DIR_MODE, FILE_MODE, LOCK_FILE, STAGING_DIR, PointerMoved


def make_dirs(path: Path) -> None:
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
      location / filesystem       an absolute URL, and the fsspec filesystem DuckDB reads it through
    ci_pipeline.marts.objectstore.ObjectStoreBackend is that backend. The catalogue is built on local disk
    in either case (and copied into the store when the store is not the local disk).
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

    def location(self, key: str) -> str:
        """How a DuckDB view names an object: relative to the warehouse root where DuckDB can resolve it
        against the catalogue's folder (so the folder can move), else an absolute URL."""

    def filesystem(self) -> Any:
        """The fsspec filesystem DuckDB must have registered to read location()s; None for local files."""


class LocalBackend:
    """StoreBackend on a local or mounted file system: atomic renames, fsync, flock."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        make_dirs(path.parent)
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
        make_dirs(path.parent)
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

    def location(self, key: str) -> str:
        return key

    def filesystem(self) -> None:
        return None
