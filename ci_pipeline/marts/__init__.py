"""Versioned Parquet marts and the DuckDB catalogue analysts query.

The package: layout (names, version identity, boundaries), backends (StoreBackend, LocalBackend), store
(MartStore: read, publish, prune, catalogue), repair (what every writer does first), objectstore
(ObjectStoreBackend: the same store in a bucket, CI_PIPELINE_WAREHOUSE=s3://bucket/prefix).

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

from ci_pipeline.marts.backends import LocalBackend, StoreBackend
from ci_pipeline.marts.layout import (
    BOUNDARIES,
    JOURNAL_DIR,
    LATEST_FILE,
    MANIFEST_FILE,
    PART_FILE,
    STAGING_DIR,
    MartError,
    PointerMoved,
    code_version,
    content_sha256,
    new_version_id,
    set_boundary_hook,
)
from ci_pipeline.marts.store import MartStore, PublishResult

__all__ = [
    "BOUNDARIES", "JOURNAL_DIR", "LATEST_FILE", "MANIFEST_FILE", "PART_FILE", "STAGING_DIR", "LocalBackend",
    "MartError", "MartStore", "PointerMoved", "PublishResult", "StoreBackend", "code_version", "content_sha256",
    "new_version_id", "set_boundary_hook",
]
