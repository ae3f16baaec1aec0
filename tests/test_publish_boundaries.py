"""Publishing killed at every write boundary: what the store finds, what it repairs, and the integrity after.

A child process (this file run as a script) publishes or prunes with a boundary hook
(ci_pipeline.marts.set_boundary_hook) that SIGKILLs it at one named boundary, so where it dies does not
depend on timing. Then the test looks at what the kill left, runs the next publish (or prune) cleanly in
this process, checks what the store says it repaired, and checks the warehouse's integrity: LATEST's
version complete and journaled, every listed version complete, nothing else on disk, the catalogue's views
and the manifests' previous_version chain agreeing with LATEST and the journal, no temporary file left, and
every file 0644 / every folder 0755 although everything ran under umask 077.

Each boundary also runs with InPlaceBackend: object storage's order on a local disk (a version written
straight under version=<id>/, no staging and no rename), the order issue 17's backend will use.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from test_marts import MART, catalog_query, frame

from ci_pipeline import marts
from ci_pipeline.marts import BOUNDARIES, MartError, MartStore, new_version_id

pytestmark = pytest.mark.slow  # crash loops: a publish killed at every write boundary

REPO = Path(__file__).resolve().parents[1]
T1, T2, T3, T4, T5 = (datetime(2024, month, 1, tzinfo=UTC) for month in range(1, 6))
V1, V2, V3, V4, V5 = (new_version_id(t) for t in (T1, T2, T3, T4, T5))
PUBLISH_BOUNDARIES = [b for b in BOUNDARIES if not b.startswith("prune_")]
PRUNE_BOUNDARIES = [b for b in BOUNDARIES if b.startswith("prune_")]
BEFORE_COMMIT = ("part_written", "staged", "renamed")


class InPlaceBackend(marts.LocalBackend):
    """Object storage's order of operations on a local disk: written in place, nothing renamed."""

    def stage(self, final: str) -> str:
        return final

    def promote(self, staged: str, final: str) -> None:
        pass


def make_store(root: Path, backend: str) -> MartStore:
    return MartStore(root, backend=InPlaceBackend(root) if backend == "in_place" else None)


CHILD_FRAME = frame([5.0, 6.0], "b")


def child_main(warehouse: str, action: str, boundary: str, backend: str) -> None:
    """Publish CHILD_FRAME (or prune to one version) and die by SIGKILL at `boundary`."""
    os.umask(0o077)  # the store's modes must not depend on the umask

    def kill(reached: str, mart: str | None) -> None:
        if reached == boundary:
            os.kill(os.getpid(), signal.SIGKILL)

    marts.set_boundary_hook(kill)
    store = make_store(Path(warehouse), backend)
    if action == "publish":
        store.publish(MART, CHILD_FRAME, now=T3)
    else:
        store.prune(MART, keep=1)
    sys.exit(f"the {action} never reached {boundary}")


def run_killed(warehouse: Path, action: str, boundary: str, backend: str = "local") -> None:
    child = subprocess.run([sys.executable, __file__, str(warehouse), action, boundary, backend], cwd=REPO,
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


@pytest.fixture
def umask_077():
    previous = os.umask(0o077)
    yield
    os.umask(previous)


def catalog_versions(store: MartStore, mart: str) -> set[str]:
    return {str(v) for (v,) in catalog_query(store, f'SELECT DISTINCT version FROM "{mart}_versions"')}


def journal(store: MartStore, mart: str, event: str) -> set[str]:
    return {p.name.split(".")[0] for p in (store.mart_dir(mart) / "_journal").glob(f"*.{event}.json")}


def assert_integrity(store: MartStore) -> None:
    """What must hold after any crash and one clean run, read from the files (not from the store's own
    bookkeeping where the files can say it)."""
    assert store.marts(), "no mart"
    for mart in store.marts():
        latest, listed = store.latest_version(mart), store.versions(mart)
        published, pruned = journal(store, mart, "published"), journal(store, mart, "pruned")
        assert latest in published, f"{mart}: LATEST names {latest}, which is not journaled"
        assert set(listed) == published - pruned, f"{mart}: listed {listed}, journaled {published} - {pruned}"
        for version in listed:
            store.verify(mart, version)
        on_disk = sorted(p.name.removeprefix("version=") for p in store.mart_dir(mart).glob("version=*"))
        assert on_disk == listed, f"{mart}: folders {on_disk}, versions {listed}"

        # The chain from LATEST passes every listed version, newest first, and ends at the first version
        # (or at a version the journal says was pruned).
        chain, version = [], latest
        while version is not None and version not in pruned:
            chain.append(version)
            version = store.manifest(mart, version)["previous_version"]
        assert chain[::-1] == listed, f"{mart}: chain {chain[::-1]}, versions {listed}"

        assert catalog_versions(store, mart) == set(listed), f"{mart}: the versions view"
        per_version = dict(catalog_query(store, f'SELECT version, count(*) FROM "{mart}_versions" GROUP BY 1'))
        assert {str(v): n for v, n in per_version.items()} == {
            v: store.manifest(mart, v)["row_count"] for v in listed}
        latest_frame = store.read(mart)
        assert catalog_query(store, f'SELECT count(*), sum(value) FROM "{mart}"') == [
            (len(latest_frame), latest_frame["value"].sum())], f"{mart}: the latest view"
        assert not any((store.mart_dir(mart) / "_staging").glob("*")), f"{mart}: staging leftovers"
        others = [p.name for p in store.mart_dir(mart).iterdir() if not p.name.startswith(("version=", "_"))]
        assert others == [], f"{mart}: names a Parquet reader would take for data"

    everything = [store.root, *store.root.rglob("*")]
    temporary = [p for p in everything if p.name.startswith(".") or p.name.endswith((".wal", ".tmp"))]
    assert temporary == [], "temporary files left behind"
    modes = {p.relative_to(store.root).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in everything}
    wrong = {path: mode for path, mode in modes.items()
             if mode != oct(0o755 if (store.root / path).is_dir() else 0o644)}
    assert wrong == {}, "every folder 0755, every file 0644"


def seed(store: MartStore) -> None:
    assert store.publish(MART, frame([1.0, 2.0, 3.0]), now=T1).version == V1
    assert store.publish(MART, frame([1.0, 2.0, 4.0]), now=T2).version == V2
    store.publish("other", frame([7.0]), now=T1)


def assert_found_after_publish_kill(store: MartStore, boundary: str, backend: str) -> None:
    """What a reader finds right after the kill (nothing repaired yet)."""
    mart_dir = store.mart_dir(MART)
    staged = sorted(p.name for p in (mart_dir / "_staging").glob("*/*"))
    in_place = sorted(p.name for p in (mart_dir / f"version={V3}").glob("*"))
    written = {"part_written": ["part-0.parquet"]}.get(boundary, ["_manifest.json", "part-0.parquet"])
    if boundary in ("part_written", "staged") and backend == "local":
        assert (staged, in_place) == (written, [])
    else:
        assert (staged, in_place) == ([], written)

    committed = boundary not in BEFORE_COMMIT
    assert store.latest_version(MART) == (V3 if committed else V2)
    assert store.versions(MART) == ([V1, V2, V3] if committed else [V1, V2])
    assert (V3 in journal(store, MART, "published")) == (boundary not in BEFORE_COMMIT + ("latest",))
    # The catalogue still shows the previous version: the kill came before its refresh finished.
    assert catalog_versions(store, MART) == {V1, V2}
    assert catalog_query(store, f"SELECT sum(value) FROM {MART}") == [(7.0,)]
    temporary = sorted(p.suffix for p in store.root.glob(".catalog-*"))
    assert temporary == {"catalog_open": [".duckdb", ".wal"], "catalog_written": [".duckdb"]}.get(boundary, [])


# What the next publish repairs after a kill at each boundary (one fragment per line it reports).
REPAIRS = {
    ("part_written", "local"): [f"removed _staging/version={V3}"],
    ("staged", "local"): [f"removed _staging/version={V3}"],
    ("part_written", "in_place"): [f"removed version={V3}, never named by _LATEST"],
    ("staged", "in_place"): [f"removed version={V3}, never named by _LATEST"],
    ("renamed", "local"): [f"removed version={V3}, never named by _LATEST"],
    ("renamed", "in_place"): [f"removed version={V3}, never named by _LATEST"],
    ("latest", "local"): [f"journaled {V3} (_LATEST names it", "rebuilt catalog.duckdb: view demo showed versions"],
    ("journaled", "local"): ["rebuilt catalog.duckdb: view demo showed versions"],
    ("catalog_open", "local"): [".duckdb, left by an interrupted catalogue refresh",
                                ".duckdb.wal, left by an interrupted catalogue refresh",
                                "rebuilt catalog.duckdb: view demo showed versions"],
    ("catalog_written", "local"): [".duckdb, left by an interrupted catalogue refresh",
                                   "rebuilt catalog.duckdb: view demo showed versions"],
    ("prune_recorded", "local"): [f"removed version={V1}, journaled as pruned",
                                  "rebuilt catalog.duckdb: view demo_versions showed versions"],
    ("prune_catalogued", "local"): [f"removed version={V1}, journaled as pruned"],
}
CASES = [(b, "local") for b in BOUNDARIES] + [(b, "in_place") for b in BEFORE_COMMIT]


def test_every_boundary_has_a_case():
    assert sorted(REPAIRS) == sorted(CASES)


def repairs_logged(caplog) -> list[str]:
    return [r.getMessage().removeprefix("mart store repair: ") for r in caplog.records if r.name == "ci_pipeline.marts"]


def assert_repairs(logged: list[str], boundary: str, backend: str) -> None:
    expected = REPAIRS[boundary, backend]
    assert len(logged) == len(expected), logged
    for fragment in expected:
        assert any(fragment in line for line in logged), f"{fragment!r} not in {logged}"


@pytest.mark.parametrize(("boundary", "backend"), [c for c in CASES if c[0] in PUBLISH_BOUNDARIES])
def test_publish_killed_at_a_boundary_is_repaired_by_the_next_publish(tmp_path, umask_077, caplog, boundary,
                                                                        backend):
    store = make_store(tmp_path / "warehouse", backend)
    seed(store)
    run_killed(store.root, "publish", boundary, backend)
    assert_found_after_publish_kill(store, boundary, backend)

    # The next run publishes the same content again: a new version if the kill came before the commit,
    # otherwise "unchanged" (the version the kill left as LATEST, which readers may have seen, is kept).
    caplog.set_level(logging.WARNING, logger="ci_pipeline.marts")
    again = store.publish(MART, CHILD_FRAME, now=T4)
    assert_repairs(repairs_logged(caplog), boundary, backend)
    assert list(again.repaired) == repairs_logged(caplog)
    committed = boundary not in BEFORE_COMMIT
    assert (again.published, again.version, again.previous_version) == (
        (False, V3, V3) if committed else (True, V4, V2))
    # An input changes: the new version is built on that one, and it stays listed.
    after = store.publish(MART, frame([8.0]), now=T5)
    assert after.previous_version == again.version and after.repaired == ()
    assert store.versions(MART) == [V1, V2, V3 if committed else V4, V5]
    assert_integrity(store)


@pytest.mark.parametrize("boundary", PRUNE_BOUNDARIES)
def test_prune_killed_at_a_boundary_is_finished_by_the_next_writer(tmp_path, umask_077, caplog, boundary):
    store = make_store(tmp_path / "warehouse", "local")
    seed(store)
    run_killed(store.root, "prune", boundary)
    # What the kill left: V1 is journaled as pruned (no longer listed) but its folder is still there.
    assert store.versions(MART) == [V2] and journal(store, MART, "pruned") == {V1}
    assert (store.mart_dir(MART) / f"version={V1}").is_dir()
    assert catalog_versions(store, MART) == ({V1, V2} if boundary == "prune_recorded" else {V2})

    caplog.set_level(logging.WARNING, logger="ci_pipeline.marts")
    assert store.prune(MART, keep=1) == []
    assert_repairs(repairs_logged(caplog), boundary, "local")
    assert store.publish(MART, frame([8.0]), now=T5).previous_version == V2
    assert store.versions(MART) == [V2, V5]
    assert_integrity(store)


def test_a_clean_history_passes_the_integrity_check(tmp_path, umask_077):
    """The check itself: a warehouse no crash touched passes, and a journal entry lost fails it."""
    store = MartStore(tmp_path / "warehouse")
    seed(store)
    store.publish(MART, frame([9.0]), now=T3)
    assert store.prune(MART, keep=2) == [V1]
    assert_integrity(store)
    (store.mart_dir(MART) / "_journal" / f"{V3}.published.json").unlink()
    with pytest.raises(AssertionError, match="not journaled"):
        assert_integrity(store)


def test_a_first_publish_killed_after_latest_is_journaled_and_catalogued(tmp_path, umask_077):
    store = MartStore(tmp_path / "warehouse")
    store.publish("other", frame([7.0]), now=T1)
    run_killed(store.root, "publish", "latest")
    assert store.marts() == [MART, "other"] and catalog_versions(store, "other") == {V1}

    done = store.repair()
    assert done == [f"{MART}: journaled {V3} (_LATEST names it, the journal did not)",
                    f"rebuilt catalog.duckdb: view {MART} was missing"]
    assert_integrity(store)


def test_writers_hold_the_store_lock_through_the_commit(tmp_path):
    """Repair removes staging folders and temporary files only because no other writer can be mid-publish:
    every writer holds an exclusive lock (flock) from its repair to its last write."""
    store = MartStore(tmp_path)
    store.publish(MART, frame([1.0]), now=T1)
    attempts = []

    def try_lock(boundary: str, mart: str | None) -> None:
        with open(store.marts_root / "_lock", "rb") as other:  # another open file: as another process would
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                attempts.append((boundary, "held"))
            else:
                attempts.append((boundary, "free"))

    marts.set_boundary_hook(try_lock)
    try:
        store.publish(MART, frame([2.0]), now=T2)
        store.prune(MART, keep=1)
    finally:
        marts.set_boundary_hook(None)
    assert {state for _, state in attempts} == {"held"}
    assert [b for b, _ in attempts] == [*PUBLISH_BOUNDARIES, "prune_recorded", "catalog_open", "catalog_written",
                                        "prune_catalogued"]


def test_publish_refuses_when_latest_moves_under_it(tmp_path):
    """LATEST is written on condition that it still names the version the new one was built on."""
    store = MartStore(tmp_path)
    seed(store)

    def roll_back(boundary: str, mart: str | None) -> None:
        if boundary == "renamed":  # someone else moves LATEST while this publish is verifying its version
            (store.mart_dir(MART) / "_LATEST").write_text(V1 + "\n")

    marts.set_boundary_hook(roll_back)
    try:
        with pytest.raises(MartError, match=f"_LATEST was changed to {V1} while {V3} was being built on {V2}"):
            store.publish(MART, CHILD_FRAME, now=T3)
    finally:
        marts.set_boundary_hook(None)
    assert store.latest_version(MART) == V1 and store.versions(MART) == [V1, V2]
    after = store.publish(MART, CHILD_FRAME, now=T4)
    assert after.previous_version == V1
    assert any(f"removed version={V3}, never named by _LATEST" in line for line in after.repaired)


def test_a_warehouse_written_by_an_earlier_release_is_repaired(tmp_path, umask_077):
    """Earlier releases named the pointer LATEST (written 0600), journaled into PUBLISHED, could lose a
    version from the journal (issue 20: killed between LATEST and the journal append), left no record of a
    prune, and built the catalogue over absolute paths."""
    store = MartStore(tmp_path / "warehouse")
    v0 = store.publish(MART, frame([0.0]), now=datetime(2023, 12, 1, tzinfo=UTC)).version
    seed(store)
    store.publish(MART, frame([9.0]), now=T3)
    mart_dir = store.mart_dir(MART)
    # As the earlier release left it: V2 missing from the journal, V0's folder pruned without a record.
    for entry in (mart_dir / "_journal").iterdir():
        entry.unlink()
    (mart_dir / "_journal").rmdir()
    (mart_dir / "PUBLISHED").write_text(f"{v0}\n{V1}\n{V3}\n")
    (mart_dir / "_LATEST").rename(mart_dir / "LATEST")
    (mart_dir / "LATEST").chmod(0o600)
    (mart_dir / ".LATEST.k2j4h1").write_text(V3 + "\n")
    for leftover in (".catalog-x1y2.duckdb", ".catalog-x1y2.duckdb.wal"):
        (store.root / leftover).write_bytes(b"")
    marts.LocalBackend(store.root).delete(f"marts/{MART}/version={v0}")
    absolute_catalog(store)
    assert store.latest_version(MART) == V3 and store.versions(MART) == [V1, V3], "LATEST and PUBLISHED are read"

    done = store.repair()
    assert store.versions(MART) == [V1, V2, V3]
    assert journal(store, MART, "published") == {v0, V1, V2, V3}
    assert journal(store, MART, "pruned") == {v0}
    reason = json.loads((mart_dir / "_journal" / f"{V2}.published.json").read_text())["reason"]
    assert reason == f"repair: {V3} names it as previous_version"
    assert f"{MART}: renamed LATEST to _LATEST, naming {V3}" in done
    assert f"{MART}: kept PUBLISHED as _PUBLISHED (its versions are in _journal/)" in done
    assert any("rebuilt catalog.duckdb" in line for line in done)
    assert (mart_dir / "_LATEST").read_text() == V3 + "\n" and not (mart_dir / "LATEST").exists()
    assert (mart_dir / "_PUBLISHED").read_text() == f"{v0}\n{V1}\n{V3}\n"
    assert store.repair() == [], "a repaired warehouse needs nothing more"
    assert_integrity(store)


def absolute_catalog(store: MartStore) -> None:
    """catalog.duckdb as earlier releases built it: views over absolute paths, no comments."""
    store.catalog_path.unlink()
    con = duckdb.connect(str(store.catalog_path))
    for mart in store.marts():
        files = [(store.version_dir(mart, v) / "part-0.parquet").resolve().as_posix() for v in store.versions(mart)]
        latest = (store.version_dir(mart, store.latest_version(mart)) / "part-0.parquet").resolve().as_posix()
        con.execute(f"CREATE VIEW \"{mart}\" AS SELECT * FROM read_parquet('{latest}')")
        con.execute(f"CREATE VIEW \"{mart}_versions\" AS SELECT * FROM read_parquet({files}, hive_partitioning = true)")
    con.close()


@pytest.mark.parametrize("legacy", ["newer", "older"])
def test_latest_and_an_earlier_releases_latest_side_by_side(tmp_path, legacy):
    """Both names present (a repair interrupted after writing _LATEST, or an earlier release run again after
    the upgrade): the newer version is the latest, both are journaled, LATEST goes."""
    store = MartStore(tmp_path / "warehouse")
    seed(store)
    mart_dir = store.mart_dir(MART)
    (mart_dir / "_journal" / f"{V2}.published.json").unlink()
    if legacy == "newer":
        (mart_dir / "_LATEST").write_text(V1 + "\n")
        (mart_dir / "LATEST").write_text(V2 + "\n")
    else:
        (mart_dir / "LATEST").write_text(V1 + "\n")
    assert store.latest_version(MART) == V2

    done = store.repair()
    assert f"{MART}: journaled {V2} ({'LATEST' if legacy == 'newer' else '_LATEST'} names it, the journal did not)" in done
    assert f"{MART}: renamed LATEST to _LATEST, naming {V2}" in done
    assert (mart_dir / "_LATEST").read_text() == V2 + "\n" and not (mart_dir / "LATEST").exists()
    assert store.versions(MART) == [V1, V2]
    assert_integrity(store)


def test_the_store_writes_group_readable_files_whatever_the_umask(tmp_path, umask_077):
    store = MartStore(tmp_path / "warehouse")
    seed(store)
    store.prune(MART, keep=1)
    assert_integrity(store)


if __name__ == "__main__":
    child_main(*sys.argv[1:5])
