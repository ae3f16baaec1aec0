"""catalog.duckdb, the analysts' DuckDB catalogue of the marts: how it is built, checked and opened.
(Not to be confused with catalogue.py, the YAML catalogue of sources.)

The catalogue holds no data: a view per mart over its latest version (`<mart>`) and one over every published
version (`<mart>_versions`, with a `version` column), and a COMMENT from the column contract
(ci_pipeline/schema.py) on every view and every column. The views name their Parquet files by paths
relative to the warehouse root, the catalogue's own folder (`marts/regions/version=<id>/part-0.parquet`,
the keys the store backend uses), so the warehouse folder can be copied, moved or mounted anywhere.

DuckDB resolves a relative path against the working directory first, then against each folder in the
setting `file_search_path`; a reader points that setting at the catalogue's folder:

    Python   ci_pipeline.catalog.connect("data/warehouse")
    CLI      duckdb -readonly -cmd "SET file_search_path='data/warehouse'" data/warehouse/catalog.duckdb
    SQL      ATTACH 'data/warehouse/catalog.duckdb' AS marts (READ_ONLY); SET file_search_path='data/warehouse';

(From inside the warehouse folder the working directory already answers: `duckdb -readonly catalog.duckdb`.)
A working directory that holds the same relative path can only be a copy of the same warehouse: version
folders are immutable and named by microsecond timestamps, so the files found there are the same bytes.

A catalogue this process wrote is remembered with the views it holds and its file's identity (inode,
modification time, size): the next build starts from a copy of it and rewrites only the views that
changed, and checking it against the views expected reads nothing while the file is the one written.
Any other catalogue (another process's, or one changed since) is read and rebuilt in full.

The file is written in DuckDB's 1.5 storage format (STORAGE_VERSION), which DuckDB 1.5 and later open: the
DuckDB CLI that `make setup` installs from PyPI (duckdb-cli) is 1.5.x, and DuckDB 2.0's default format is
unreadable before 2.0.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ci_pipeline.schema import CONTRACTS, Contract

CATALOG_FILE = "catalog.duckdb"
STORAGE_VERSION = "v1.5.0"
VERSION_COLUMN = "version"
VERSIONS_SUFFIX = "_versions"


class CatalogError(Exception):
    pass


@dataclass(frozen=True)
class View:
    """One view of the catalogue: `files` maps each version id it shows to its Parquet file's path relative
    to the warehouse root."""

    name: str
    mart: str
    files: dict[str, str] = field(hash=False)
    all_versions: bool

    @property
    def contract(self) -> Contract | None:
        return CONTRACTS.get(self.mart)

    def sql(self) -> str:
        # An explicit list, not a glob: only published versions, never a folder a crash left behind. The
        # version folder's name becomes the `version` column in both views.
        paths = ", ".join(_literal(path) for path in self.files.values())
        return (f"CREATE VIEW {_ident(self.name)} AS SELECT * FROM read_parquet([{paths}], hive_partitioning = true, "
                f"hive_types = {{'{VERSION_COLUMN}': VARCHAR}}, union_by_name = true)")

    def comment(self) -> str:
        versions = sorted(self.files)
        row = self.contract.summary if self.contract else "No contract in ci_pipeline/schema.py describes it."
        if not self.all_versions:
            return (f"{self.mart}, the latest version ({versions[0]}, named by marts/{self.mart}/_LATEST). {row} "
                    f"Every published version: {self.mart}{VERSIONS_SUFFIX}. Columns: docs/DATA_DICTIONARY.md.")
        kept = f"{len(versions)} version{'s' if len(versions) != 1 else ''}, {versions[0]} to {versions[-1]}"
        return (f"Every published version of {self.mart} ({kept}), one row per row of each version; "
                f"`{VERSION_COLUMN}` names it. {row} Columns: docs/DATA_DICTIONARY.md.")

    def column_comment(self, column: str) -> str:
        if column == VERSION_COLUMN:
            return (f"the version the row belongs to: its UTC publication time (marts/{self.mart}/version=<id>/); "
                    f"the latest is the one {self.mart} shows")
        if self.contract is None:
            return f"not described: {self.mart} has no contract in ci_pipeline/schema.py"
        description = self.contract.descriptions.get(column)
        if description is None:
            return f"not in the current contract of {self.mart}: a column of older versions only"
        return description


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def views(mart: str, latest: str, files: dict[str, str]) -> tuple[View, View]:
    """The two views of a mart: `files` maps every published version to its part file (relative path)."""
    return (View(mart, mart, {latest: files[latest]}, False),
            View(mart + VERSIONS_SUFFIX, mart, dict(files), True))


def build(path: Path, warehouse: Path | str, all_views: Iterable[View],
          while_open: Callable[[], None] | None = None, filesystem: Any = None,
          start_from: Path | None = None) -> None:
    """Write a new catalogue at `path` (which must not exist) holding `all_views` and their comments;
    `warehouse` is where the views' relative paths are found while they are created, `filesystem` the
    fsspec filesystem their URLs are read through (object storage). `start_from`: the current catalogue;
    when this process wrote it (see `written_views`), `path` starts as its copy and only the views that
    differ are dropped and created. `while_open` is called once everything is written, before the file
    is closed."""
    all_views = list(all_views)
    held = written_views(start_from) if start_from is not None else None
    if held is None:
        dropped, created = [], all_views
    else:
        shutil.copyfile(start_from, path)
        dropped = [view for view in held if view not in all_views]
        created = [view for view in all_views if view not in held]
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    try:
        _search_here(con, warehouse)
        if filesystem is not None:
            con.register_filesystem(filesystem)
        # One transaction: on its own, each of the few hundred COMMENT statements is a commit to the file.
        con.execute("BEGIN TRANSACTION")
        for view in dropped:
            con.execute(f"DROP VIEW {_ident(view.name)}")
        for view in created:
            con.execute(view.sql())
            con.execute(f"COMMENT ON VIEW {_ident(view.name)} IS {_literal(view.comment())}")
            for column in _columns(con, view.name):
                con.execute(f"COMMENT ON COLUMN {_ident(view.name)}.{_ident(column)} "
                            f"IS {_literal(view.column_comment(column))}")
        con.execute("COMMIT")
        if while_open is not None:
            while_open()
    finally:
        con.close()


# The catalogues this process wrote: resolved path -> (the file's identity, the views it holds).
_WRITTEN: dict[Path, tuple[tuple[int, int, int], tuple[View, ...]]] = {}


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def remember(path: Path, all_views: Iterable[View]) -> None:
    """Record that the catalogue now at `path` (renamed there after `build`) holds `all_views`."""
    _WRITTEN[Path(path).resolve()] = (_identity(path), tuple(all_views))


def written_views(path: Path) -> tuple[View, ...] | None:
    """The views of the catalogue at `path` when this process wrote that very file (same inode,
    modification time and size as when it was remembered), else None: it has to be read."""
    recorded = _WRITTEN.get(Path(path).resolve())
    if recorded is None or recorded[0] is None or recorded[0] != _identity(path):
        return None
    return recorded[1]


def disagreement(path: Path, expected: list[View]) -> str | None:
    """Why the catalogue at `path` does not hold `expected` (files, paths relative, comments), or None."""
    if written_views(path) == tuple(expected):
        return None
    if not path.exists():
        return "it was missing"
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            stored = {name: (sql, comment) for name, sql, comment in con.execute(
                "SELECT view_name, sql, comment FROM duckdb_views() WHERE NOT internal").fetchall()}
            columns = {}
            for table, column, comment in con.execute(
                    "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall():
                columns.setdefault(table, {})[column] = comment
        finally:
            con.close()
    except duckdb.Error as exc:
        return f"it could not be read ({exc})"
    for view in expected:
        if view.name not in stored:
            return f"view {view.name} was missing"
        sql, comment = stored[view.name]
        paths = re.findall(r"'([^']+\.parquet)'", sql)
        shown = sorted(set(re.findall(r"version=([^/]+)/", " ".join(paths))))
        if shown != sorted(view.files):
            return f"view {view.name} showed versions {shown}, not {sorted(view.files)}"
        if sorted(paths) != sorted(view.files.values()):
            return f"view {view.name} named its files by paths that do not survive moving the warehouse"
        if comment != view.comment() or any(text != view.column_comment(name)
                                            for name, text in columns.get(view.name, {}).items()):
            return f"the comments of view {view.name} are not the contract's"
    return None


def connect(warehouse: Path | str | None = None, **storage_options: Any) -> duckdb.DuckDBPyConnection:
    """Open the catalogue read-only, wherever the warehouse folder is and whatever the working directory.

    `warehouse` is the warehouse folder or its catalog.duckdb, or a warehouse in object storage
    (s3://bucket/prefix: its copy of the catalogue is read, and the marts through fsspec with
    `storage_options`, or credentials from the environment); default: the configured warehouse,
    CI_PIPELINE_WAREHOUSE or data/warehouse/."""
    if warehouse is None:
        from ci_pipeline.settings import Settings

        settings = Settings.from_env()
        warehouse = settings.warehouse_url or settings.warehouse_root
    if "://" in str(warehouse) and not str(warehouse).startswith("file://"):
        return _connect_object_store(str(warehouse), storage_options)
    path = Path(warehouse)
    catalog = path if path.suffix == ".duckdb" else path / CATALOG_FILE
    if not catalog.is_file():
        raise CatalogError(f"no catalogue at {catalog}: give the warehouse folder (the one holding {CATALOG_FILE} "
                           "and marts/), or build one with `make run`")
    con = duckdb.connect(str(catalog), read_only=True)
    _search_here(con, catalog.parent)
    return con


def _connect_object_store(url: str, storage_options: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """The store's copy of the catalogue, downloaded and opened read-only, with the store's fsspec
    filesystem registered so its views (absolute URLs) read the marts from the store. (DuckDB's own httpfs
    extension would read s3:// too, but it is downloaded on first use; fsspec needs no download.)"""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url.rstrip("/"), use_listings_cache=False, **storage_options)
    try:
        data = fs.cat_file(f"{root}/{CATALOG_FILE}")
    except FileNotFoundError:
        raise CatalogError(f"no catalogue at {url.rstrip('/')}/{CATALOG_FILE}: publish into it with `make run` "
                           "and CI_PIPELINE_WAREHOUSE set to it") from None
    folder = Path(tempfile.mkdtemp(prefix="ci-pipeline-catalog-"))
    local = folder / CATALOG_FILE
    local.write_bytes(data)
    try:
        con = duckdb.connect(str(local), read_only=True)
    finally:  # the open connection keeps the file; nothing is left behind when it closes
        local.unlink()
        folder.rmdir()
    con.register_filesystem(fs)
    return con


def _search_here(con: duckdb.DuckDBPyConnection, folder: Path | str) -> None:
    """Resolve the views' relative paths against `folder` (a local folder, or an object-storage URL)."""
    location = str(folder) if "://" in str(folder) else str(Path(folder).resolve())
    con.execute(f"SET file_search_path = {_literal(location)}")


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> list[str]:
    return [row[0] for row in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT internal ORDER BY column_index",
        [view]).fetchall()]
