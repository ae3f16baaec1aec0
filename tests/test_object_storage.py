"""The archive and the marts in object storage (CI_PIPELINE_WAREHOUSE=s3://bucket/prefix), against an
S3-compatible server on 127.0.0.1 that the `s3_server` fixture starts (tests/s3server.py: moto, in this
process; no network).

The commit rule without a rename (ci_pipeline/marts/objectstore.py): a version is written under its own
prefix and verified, then LATEST is replaced by one PUT conditional on the ETag read. Here:

- publish, read back, prune and repair on a bucket, with the same journal and catalogue as on disk;
- the crash test: a publisher SIGKILLed at every write boundary of a publish (after the part file, after
  the manifest, between the verified version and LATEST, after LATEST, after the journal, inside the
  catalogue refresh); a reader at that moment sees the previous version or the new one, complete; the
  next writer takes over the dead writer's lease and repairs the bucket, and the integrity check holds;
- two writers: the second's conditional PUT of LATEST, interleaved between the first one's read and write,
  is refused by the server (412) and publishes nothing; the lease keeps writers apart and is taken over
  when its holder is gone;
- DuckDB queries the marts in the bucket (the catalogue's copy there, the marts read through the fsspec
  filesystem registered in DuckDB), and the whole pipeline runs into a bucket twice, the second time
  rebuilding and publishing nothing, with the same marts as on local disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ci_pipeline import catalog
from ci_pipeline.archive import Archive, ArchivedResponse, ArchiveError, sha256_bytes
from ci_pipeline.marts import (
    BOUNDARIES,
    JOURNAL_DIR,
    LATEST_FILE,
    MartError,
    MartStore,
    PointerMoved,
    objectstore,
)
from ci_pipeline.marts.objectstore import ObjectStoreBackend
from ci_pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
MART = "regions"
LOCK = "marts/_lock"


def frame(value: int) -> pd.DataFrame:
    return pd.DataFrame({"region_code": ["0301", "030101", "030102"], "value": [value, value + 1, value + 2]})


@pytest.fixture
def bucket(s3_env) -> str:
    return s3_env.bucket("warehouse")


def open_store(url: str, work: Path) -> MartStore:
    return MartStore(work, ObjectStoreBackend(url, skip_instance_cache=True))


def integrity(store: MartStore, url: str) -> None:
    """What every writer and reader may rely on: LATEST names a complete, journaled version; every listed
    version is complete; the manifests' chain names only journaled versions; no staging or lease is left;
    the catalogue (local, and its copy in the bucket) shows LATEST."""
    latest = store.latest_version(MART)
    versions = store.versions(MART)
    assert latest == versions[-1]
    journal = store.backend.list(f"marts/{MART}/{JOURNAL_DIR}")
    for version in versions:
        store.verify(MART, version)
        assert f"{version}.published.json" in journal
        previous = store.manifest(MART, version)["previous_version"]
        assert previous is None or f"{previous}.published.json" in journal
    folders = [name for name in store.backend.list(f"marts/{MART}") if name.startswith("version=")]
    assert folders == [f"version={v}" for v in versions], "no folder of an unpublished version is left"
    assert "_lock" not in store.backend.list("marts")
    assert store._catalog_disagreement() is None
    con = catalog.connect(url)
    try:
        shown = con.execute(f"SELECT DISTINCT version FROM {MART}").fetchall()
    finally:
        con.close()
    assert shown == [(latest,)]


def test_publish_read_back_prune_and_repair_on_a_bucket(bucket, tmp_path):
    store = open_store(bucket, tmp_path / "work")
    first = store.publish(MART, frame(1))
    again = store.publish(MART, frame(1))
    second = store.publish(MART, frame(10))
    assert first.published and not again.published and second.published
    assert again.version == first.version and second.previous_version == first.version
    assert store.versions(MART) == [first.version, second.version]
    pd.testing.assert_frame_equal(store.read(MART), frame(10))
    pd.testing.assert_frame_equal(store.read(MART, first.version), frame(1))
    assert store.backend.list(f"marts/{MART}") == [
        LATEST_FILE, JOURNAL_DIR, f"version={first.version}", f"version={second.version}"]
    assert store.backend.get(f"marts/{MART}/{LATEST_FILE}") == f"{second.version}\n".encode()
    assert store.location(MART, second.version) == f"{bucket}/marts/{MART}/version={second.version}"
    assert store.repair() == []
    integrity(store, bucket)

    assert store.prune(MART, keep=1) == [first.version]
    assert store.versions(MART) == [second.version]
    assert f"{first.version}.pruned.json" in store.backend.list(f"marts/{MART}/{JOURNAL_DIR}")
    integrity(store, bucket)

    # A second machine: a fresh working folder, the same bucket. It sees the same marts, and its repair
    # rebuilds its own catalogue and finds the bucket's copy current.
    elsewhere = open_store(bucket, tmp_path / "elsewhere")
    assert elsewhere.latest_version(MART) == second.version
    assert any("rebuilt catalog.duckdb" in line for line in elsewhere.repair())
    integrity(elsewhere, bucket)


def test_a_stale_catalogue_copy_in_the_bucket_is_replaced_by_repair(bucket, tmp_path):
    store = open_store(bucket, tmp_path / "work")
    store.publish(MART, frame(1))
    store.backend.put("catalog.duckdb", b"not a catalogue")
    done = store.repair()
    assert done == [f"rebuilt catalog.duckdb: the store's copy ({bucket}/catalog.duckdb) was not the local one"]
    integrity(store, bucket)


# the crash test -------------------------------------------------------------------------------------------
CHILD = textwrap.dedent('''
    import os, signal, sys
    import pandas as pd
    from ci_pipeline import marts
    from ci_pipeline.marts.objectstore import ObjectStoreBackend

    url, work, boundary, value = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def kill(reached, mart):
        if reached == boundary:
            os.kill(os.getpid(), signal.SIGKILL)

    marts.set_boundary_hook(kill)
    store = marts.MartStore(work, ObjectStoreBackend(url))
    frame = pd.DataFrame({"region_code": ["0301", "030101", "030102"], "value": [value, value + 1, value + 2]})
    store.publish("regions", frame)
    store.prune("regions", keep=1)
''')
PUBLISH_BOUNDARIES = [b for b in BOUNDARIES if not b.startswith("prune")]


def run_child(bucket: str, work: Path, boundary: str, value: int) -> int:
    return subprocess.run([sys.executable, "-c", CHILD, bucket, str(work), boundary, str(value)],
                          cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120,
                          check=False).returncode


@pytest.mark.slow
@pytest.mark.parametrize("boundary", [*PUBLISH_BOUNDARIES, "prune_recorded", "prune_catalogued"])
def test_a_publisher_killed_at_each_boundary_leaves_latest_on_a_complete_version(bucket, tmp_path, boundary):
    work = tmp_path / "work"
    store = open_store(bucket, work)
    base = store.publish(MART, frame(1)).version
    if boundary.startswith("prune"):
        store.publish(MART, frame(5))  # something for the killed writer's prune to remove

    assert run_child(bucket, work, boundary, 10) == -9, f"the publisher was not killed at {boundary}"

    # What a reader sees right after the kill, before anyone repairs: LATEST on a complete version, the
    # new one only once LATEST was written.
    reader = open_store(bucket, tmp_path / "reader")
    latest = reader.latest_version(MART)
    reader.verify(MART, latest)
    committed = boundary not in ("part_written", "staged", "renamed")
    if committed:
        assert latest != base and reader.read(MART)["value"].tolist() == [10, 11, 12]
    else:
        assert latest == base, f"killed at {boundary}, before LATEST was written"
    assert json.loads(reader.backend.get(LOCK))["pid"] != os.getpid(), "the dead writer's lease is still there"

    # The next writer takes the dead writer's lease over and repairs the bucket.
    done = store.repair()
    if boundary in ("part_written", "staged", "renamed"):
        assert any("never named by _LATEST" in line for line in done), done
    if boundary == "latest":
        assert any(f"journaled {latest}" in line for line in done), done
    if boundary in ("prune_recorded", "prune_catalogued"):
        assert any("journaled as pruned" in line for line in done), done
    integrity(store, bucket)
    assert store.publish(MART, frame(20)).published
    integrity(store, bucket)


# two writers ------------------------------------------------------------------------------------------------
class InterleavedBackend(ObjectStoreBackend):
    """A backend whose conditional PUT of LATEST first lets `other` run: the race between a writer's read
    of LATEST and its write, forced to happen instead of left to timing."""

    other = None

    def _put_if(self, key, data, condition):
        if key.endswith(LATEST_FILE) and self.other is not None:
            other, self.other = self.other, None
            other()
        super()._put_if(key, data, condition)


@pytest.mark.parametrize("first_version", [True, False])
def test_latest_moved_between_read_and_write_is_refused_by_the_store(bucket, tmp_path, first_version):
    key = f"marts/{MART}/{LATEST_FILE}"
    mine = InterleavedBackend(bucket, skip_instance_cache=True)
    theirs = ObjectStoreBackend(bucket, skip_instance_cache=True)
    expected = None if first_version else "v0"
    if not first_version:
        theirs.put(key, b"v0\n")
    mine.other = lambda: theirs.swap(key, "theirs", expected)
    with pytest.raises(PointerMoved) as moved:
        mine.swap(key, "mine", expected)  # its own check passed; only the server's condition can refuse it
    assert (moved.value.expected, moved.value.current) == (expected, "theirs")
    assert theirs.get(key) == b"theirs\n"


def test_a_publish_whose_latest_moved_publishes_nothing_and_is_repaired_away(bucket, tmp_path):
    store = open_store(bucket, tmp_path / "a")
    base = store.publish(MART, frame(1)).version
    # Writer A skips the lease (as a writer on a store without conditional writes might); writer B
    # publishes between A's read of LATEST and A's conditional PUT of it.
    racing = MartStore(tmp_path / "a", InterleavedBackend(bucket, skip_instance_cache=True))
    racing.backend.exclusive = contextlib.nullcontext
    winner = {}
    racing.backend.other = lambda: winner.update(v=open_store(bucket, tmp_path / "b").publish(MART, frame(7)).version)
    with pytest.raises(MartError, match=f"was changed to {'.*'} while .* was being built on {base}"):
        racing.publish(MART, frame(3))
    assert store.latest_version(MART) == winner["v"]
    assert store.read(MART)["value"].tolist() == [7, 8, 9]
    store.repair()  # (B's own repair already removed A's folder: A held no lease, so it looked abandoned)
    assert store.versions(MART) == [base, winner["v"]]
    integrity(store, bucket)


def test_the_lease_keeps_a_second_writer_out_and_is_taken_over_when_abandoned(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(objectstore, "LEASE_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(objectstore, "LEASE_POLL_SECONDS", 0.05)
    first = ObjectStoreBackend(bucket, skip_instance_cache=True)
    second = ObjectStoreBackend(bucket, skip_instance_cache=True)
    with first.exclusive():
        holder = json.loads(first.get(LOCK))["holder"]
        with pytest.raises(MartError, match=f"another writer holds {bucket}/{LOCK} \\({holder}"), second.exclusive():
            pass
    assert first.list("marts") == [], "released"
    with second.exclusive():
        pass

    # Held by a process of another host: honoured until it expires, then taken over.
    now = datetime.now(UTC)
    lease = {"holder": "elsewhere:1:x", "host": "elsewhere-" + socket.gethostname(), "pid": 1}
    first.put(LOCK, json.dumps({**lease, "expires_at": (now + timedelta(hours=1)).isoformat()}).encode())
    with pytest.raises(MartError, match="elsewhere:1:x"), second.exclusive():
        pass
    first.put(LOCK, json.dumps({**lease, "expires_at": (now - timedelta(seconds=1)).isoformat()}).encode())
    with second.exclusive():
        assert json.loads(second.get(LOCK))["pid"] == os.getpid()
    assert second.list("marts") == []


def test_a_store_without_conditional_writes_reads_then_writes_under_the_lease(tmp_path):
    # memory:// stands for any fsspec store without If-Match: LATEST is compared, then written.
    backend = ObjectStoreBackend(f"memory://{tmp_path.name}/warehouse")
    assert not backend.conditional
    store = MartStore(tmp_path / "work", backend)
    first = store.publish(MART, frame(1)).version
    second = store.publish(MART, frame(2)).version
    assert store.versions(MART) == [first, second] and store.repair() == []
    with pytest.raises(PointerMoved):
        backend.swap(f"marts/{MART}/{LATEST_FILE}", "other", first)
    assert store.latest_version(MART) == second


# DuckDB over the bucket ---------------------------------------------------------------------------------------
def test_duckdb_queries_the_marts_in_the_bucket(bucket, tmp_path, s3_env):
    store = open_store(bucket, tmp_path / "work")
    first = store.publish(MART, frame(1)).version
    second = store.publish(MART, frame(10)).version

    con = catalog.connect(bucket)  # the bucket's copy of the catalogue, credentials from the environment
    try:
        latest = con.execute(f"SELECT region_code, value, version FROM {MART} ORDER BY region_code").fetchall()
        counts = con.execute(f"SELECT version, count(*) FROM {MART}_versions GROUP BY 1 ORDER BY 1").fetchall()
        comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = ?", [MART]).fetchone()[0]
    finally:
        con.close()
    assert latest == [("0301", 10, second), ("030101", 11, second), ("030102", 12, second)]
    assert counts == [(first, 3), (second, 3)]
    assert f"the latest version ({second}" in comment

    # Without the catalogue: every version's files by a glob, read through fsspec registered in DuckDB.
    import duckdb
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3_env.storage_options())
    con = duckdb.connect()
    con.register_filesystem(fs)
    rows = con.execute(f"SELECT version, sum(value) FROM read_parquet('{bucket}/marts/{MART}/version=*/*.parquet', "
                       "hive_partitioning = true) GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [(first, 6), (second, 33)]


def test_no_catalogue_in_the_bucket_is_one_clear_error(bucket):
    with pytest.raises(catalog.CatalogError, match=f"no catalogue at {bucket}/catalog.duckdb"):
        catalog.connect(bucket)


# the archive ------------------------------------------------------------------------------------------------------
def test_the_archive_in_a_bucket_stores_and_finds_answers_and_never_overwrites(bucket):
    archive = Archive(f"{bucket}/archive")

    def answer(body: bytes, at: str) -> ArchivedResponse:
        return ArchivedResponse(source="ssb", resource="07459", method="GET", url="https://x/07459", path="07459",
                                params={"lang": "no"}, request_body=None, status=200, headers={}, retrieved_at=at,
                                sha256=sha256_bytes(body), provenance="recorded", body=body)

    old, new = answer(b'{"a": 1}', "2026-01-01T00:00:00.000000Z"), answer(b'{"a": 2}', "2026-02-01T00:00:00.000000Z")
    written = archive.write(old)
    assert str(written).startswith(f"{bucket}/archive/ssb/07459/{old.request_key}/")
    archive.write(new)
    assert archive.write(new) == archive.write(new), "writing the same answer again is a no-op"
    assert archive.latest("ssb", "07459", old.request_key).body == new.body
    assert archive.find("ssb", "07459", old.request_key, old.sha256).body == old.body
    assert [entry.body for entry in archive.entries()] == [old.body, new.body]
    with pytest.raises(ArchiveError, match="refusing to overwrite"):
        archive.write(answer(b'{"a": 3}', old.retrieved_at))


def test_a_live_answer_is_archived_in_the_bucket(bucket, tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from ci_pipeline.ingest import HostThrottles, make_clients

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"value": [1, 2, 3]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings.from_env({}).with_(warehouse_root=tmp_path / "work", warehouse_url=bucket, mode="live",
                                               ssb_base_url=f"http://127.0.0.1:{server.server_port}/api/")
        answer = make_clients(settings, HostThrottles()).ssb.http.request("GET", "tables/07459/data", resource="07459")
    finally:
        server.shutdown()
        server.server_close()
    stored = Archive(f"{bucket}/archive").latest("ssb", "07459", answer.request_key)
    assert stored is not None and stored.body == answer.body == b'{"value": [1, 2, 3]}'
    assert not (tmp_path / "work" / "archive").exists(), "nothing archived on local disk"


# settings and the pipeline -------------------------------------------------------------------------------------------
def test_a_url_as_the_warehouse_selects_object_storage_and_the_default_stays_local(tmp_path):
    remote = Settings.from_env({"CI_PIPELINE_WAREHOUSE": "s3://bucket/some/prefix/"})
    assert remote.warehouse_url == "s3://bucket/some/prefix"
    assert remote.warehouse_root == REPO / "data" / "work" / "bucket" / "some" / "prefix"
    assert remote.archive_root == "s3://bucket/some/prefix/archive"
    assert isinstance(MartStore.for_settings(remote).backend, ObjectStoreBackend)
    local = Settings.from_env({})
    assert local.warehouse_url is None and local.warehouse_root == REPO / "data" / "warehouse"
    assert local.archive_root == REPO / "data" / "warehouse" / "archive"
    assert type(MartStore.for_settings(local).backend).__name__ == "LocalBackend"


def test_the_embedded_default_publishes_without_an_s3_client(tmp_path):
    script = textwrap.dedent(f'''
        import sys
        import pandas as pd
        from ci_pipeline.marts import MartStore
        from ci_pipeline.settings import Settings
        settings = Settings.from_env({{}}).with_(warehouse_root={str(tmp_path / "warehouse")!r})
        MartStore.for_settings(settings).publish("regions", pd.DataFrame({{"region_code": ["0301"]}}))
        print(sorted(name for name in ("s3fs", "botocore", "aiobotocore") if name in sys.modules))
    ''')
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "warehouse" / "marts" / "regions" / LATEST_FILE).is_file()


@pytest.mark.slow
def test_the_pipeline_runs_into_a_bucket_twice_and_the_second_run_publishes_nothing(
        bucket, tmp_path, pipeline_run, monkeypatch):
    from dagster import DagsterInstance
    from support import dagster_home

    from ci_pipeline.run import run_pipeline

    home = dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    settings = pipeline_run.settings.with_(warehouse_root=tmp_path / "work", warehouse_url=bucket)
    instance = DagsterInstance.from_config(str(home))
    try:
        first = run_pipeline(settings, instance)
        second = run_pipeline(settings, instance)
    finally:
        instance.dispose()
    assert first.success and second.success
    assert first.built and not second.built, "an unchanged night rebuilds nothing"
    assert first.marts and all(m["published"] for m in first.marts.values())
    assert not any(m["published"] for m in second.marts.values()), "an unchanged night publishes nothing"

    store, local = MartStore.for_settings(settings), MartStore.for_settings(pipeline_run.settings)
    assert sorted(store.marts()) == sorted(local.marts())
    for mart in store.marts():
        assert store.latest_manifest(mart)["content_sha256"] == local.latest_manifest(mart)["content_sha256"], mart
    assert not (tmp_path / "work" / "marts").exists(), "no mart is written to the working folder"
    con = catalog.connect(bucket)
    try:
        assert con.execute("SELECT count(*) FROM indicator_values").fetchone()[0] == len(local.read("indicator_values"))
    finally:
        con.close()
