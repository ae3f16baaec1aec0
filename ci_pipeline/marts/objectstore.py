"""ObjectStoreBackend: the mart store's StoreBackend on object storage through fsspec (s3://bucket/prefix
with s3fs; any fsspec URL), for CI_PIPELINE_WAREHOUSE=s3://... (deploy/README.md).

Publishing keeps the commit rule of ci_pipeline.marts without a rename:

- a version is written directly under its own prefix (marts/<mart>/version=<id>/: the part file, then the
  manifest) and read back and verified there; no reader looks at it until LATEST names it;
- LATEST is then replaced by one conditional PUT: `If-Match: <ETag of the LATEST read>`, or
  `If-None-Match: *` for a mart's first version. A writer whose LATEST moved meanwhile gets 412
  Precondition Failed, publishes nothing (PointerMoved) and leaves its version to repair;
- a PUT replaces an object whole (S3 is strongly read-after-write consistent since December 2020), so a
  reader sees the old LATEST or the new one, and a crash anywhere before that PUT leaves LATEST on the
  previous, complete version. The journal and the catalogue are rebuilt from LATEST by repair, as on disk;
- one writer at a time: a lease object (marts/_lock) created with `If-None-Match: *`, naming its holder and
  when it expires. A lease whose holder died (a process of this host that no longer exists) or that has
  expired (LEASE_SECONDS, after a crash on another host) is taken over by a PUT conditional on its ETag.

Where the store has no conditional writes (fsspec filesystems other than S3: memory://, a mounted path
through file://, ...), `conditional` is False: LATEST and the lease are written after reading them, and
only the lease keeps two writers apart, which is not atomic there: run one writer at a time (the nightly
schedule does) or use S3. AWS S3 answers both headers (If-None-Match since August 2024, If-Match since
November 2024); an S3-compatible store must implement them too (moto does; check a store's documentation),
or two writers at the same moment are kept apart by the lease's check alone.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from ci_pipeline.marts.layout import LOCK_FILE, MartError, PointerMoved

# How long a lease holds when its holder cannot be asked whether it is alive (it ran on another host). A
# publish of every mart takes seconds; the lease is not renewed while held.
LEASE_SECONDS = 900
# How long a writer waits for another's lease before it gives up with an error naming the holder: past
# the expiry of a lease a crashed writer on another host left.
LEASE_WAIT_SECONDS = LEASE_SECONDS + 60.0
LEASE_POLL_SECONDS = 0.5


def is_url(location: object) -> bool:
    """True for an fsspec URL such as s3://bucket/prefix (not for a local path or file://)."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def exists(location: str | os.PathLike) -> bool:
    """Whether a local path, or an object or prefix at a URL (credentials from the environment), exists."""
    if not is_url(location):
        return os.path.exists(location)
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(location), use_listings_cache=False)
    return fs.exists(path)


def _precondition_failed(error: BaseException) -> bool:
    """Whether an error (s3fs wraps botocore's ClientError) is a failed If-Match / If-None-Match: 412, or
    409 ConditionalRequestConflict when two conditional PUTs of one key race."""
    while error is not None:
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409") or status in (412, 409)
        if isinstance(error, FileExistsError):  # s3fs: a failed If-None-Match
            return True
        error = error.__cause__
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ObjectStoreBackend:
    """StoreBackend on an fsspec filesystem rooted at `url` (s3://bucket/prefix). Credentials and endpoint
    come from the environment as the filesystem reads them (for S3: AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3 for a store other than AWS), or from `storage_options`."""

    def __init__(self, url: str, fs: Any = None, **storage_options: Any):
        import fsspec

        self.url = url.rstrip("/")
        if fs is None:
            fs, _ = fsspec.core.url_to_fs(self.url, use_listings_cache=False, **storage_options)
        self.fs = fs
        self.base = fs._strip_protocol(self.url).rstrip("/")
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        self.scheme = self.url.split("://", 1)[0]
        # Conditional PUTs are S3's (s3fs hands the headers to botocore); see the module docstring.
        self.conditional = bool({"s3", "s3a"} & set(protocols))

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}" if key else self.base

    # StoreBackend ----------------------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def get(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except IsADirectoryError as exc:
            raise FileNotFoundError(self.location(key)) from exc

    def list(self, prefix: str) -> list[str]:
        path = self._path(prefix)
        try:
            found = self.fs.ls(path, detail=False, refresh=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in found if entry.rstrip("/") != path}
        return sorted(names)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if self.fs.isfile(path):
                self.fs.rm_file(path)
            else:
                self.fs.rm(path + "/", recursive=True)
        except FileNotFoundError:
            pass

    def swap(self, key: str, value: str, expected: str | None) -> None:
        body = (value + "\n").encode("utf-8")
        if not self.conditional:
            current = self._value(key)
            if current != expected:
                raise PointerMoved(key, expected, current)
            self.put(key, body)
            return
        if expected is None:
            condition = {"IfNoneMatch": "*"}
        else:
            etag = self._etag(key)  # before the value: an ETag older than the value read can only fail
            current = self._value(key)
            if etag is None or current != expected:
                raise PointerMoved(key, expected, current)
            condition = {"IfMatch": etag}
        try:
            self._put_if(key, body, condition)
        except OSError as exc:
            if not _precondition_failed(exc):
                raise
            raise PointerMoved(key, expected, self._value(key)) from exc

    def stage(self, final: str) -> str:
        return final  # written in place: unpublished until LATEST names it

    def promote(self, staged: str, final: str) -> None:
        pass

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        lease = self._acquire()
        try:
            yield
        finally:
            self._release(lease)

    def make_readable(self, key: str) -> bool:
        return False  # who may read the bucket is its policy, not an object's mode

    def location(self, key: str) -> str:
        return f"{self.scheme}://{self._path(key)}"

    def filesystem(self) -> Any:
        return self.fs

    # conditional writes ----------------------------------------------------------------------------------
    def _value(self, key: str) -> str | None:
        try:
            return self.get(key).decode("utf-8").strip() or None
        except FileNotFoundError:
            return None

    def _etag(self, key: str) -> str | None:
        bucket, object_key, _ = self.fs.split_path(self._path(key))
        try:
            return self.fs.call_s3("head_object", Bucket=bucket, Key=object_key)["ETag"]
        except FileNotFoundError:
            return None

    def _put_if(self, key: str, data: bytes, condition: dict[str, str]) -> None:
        bucket, object_key, _ = self.fs.split_path(self._path(key))
        self.fs.call_s3("put_object", Bucket=bucket, Key=object_key, Body=data, **condition)
        self.fs.invalidate_cache(self._path(key))

    def _create(self, key: str, data: bytes) -> bool:
        """Create an object that must not exist yet; False when it does."""
        if not self.conditional:
            if self.fs.exists(self._path(key)):
                return False
            self.put(key, data)
            return True
        try:
            self._put_if(key, data, {"IfNoneMatch": "*"})
        except OSError as exc:
            if _precondition_failed(exc):
                return False
            raise
        return True

    # the writers' lease ------------------------------------------------------------------------------------
    def _acquire(self) -> dict[str, Any]:
        key = f"marts/{LOCK_FILE}"
        now = datetime.now(UTC)
        lease = {"holder": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                 "host": socket.gethostname(), "pid": os.getpid(), "acquired_at": now.isoformat(),
                 "expires_at": (now + timedelta(seconds=LEASE_SECONDS)).isoformat()}
        body = (json.dumps(lease) + "\n").encode("utf-8")
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        while True:
            if self._create(key, body):
                return lease
            etag = self._etag(key) if self.conditional else None
            held = self._lease(key)
            if held is not None and self._abandoned(held):
                try:
                    if self.conditional and etag is not None:
                        self._put_if(key, body, {"IfMatch": etag})
                    else:
                        self.put(key, body)
                    return lease
                except OSError as exc:
                    if not _precondition_failed(exc):
                        raise  # else another writer took it over first: wait for that one
            if time.monotonic() > deadline:
                holder = held.get("holder") if held else "unknown"
                expires = held.get("expires_at") if held else "unknown"
                raise MartError(f"another writer holds {self.location(key)} ({holder}, until {expires}); "
                                f"waited {LEASE_WAIT_SECONDS:.0f} s")
            time.sleep(LEASE_POLL_SECONDS)

    def _lease(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.get(key))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}  # unreadable: a lease nobody can honour

    @staticmethod
    def _abandoned(held: dict[str, Any]) -> bool:
        try:
            if datetime.fromisoformat(held["expires_at"]) <= datetime.now(UTC):
                return True
            return held["host"] == socket.gethostname() and not _pid_alive(int(held["pid"]))
        except (KeyError, TypeError, ValueError):
            return True

    def _release(self, lease: dict[str, Any]) -> None:
        key = f"marts/{LOCK_FILE}"
        held = self._lease(key)
        if held and held.get("holder") == lease["holder"]:
            self.delete(key)
