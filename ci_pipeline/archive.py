"""The raw layer: every API response stored immutably, with where it came from.

Layout (the same for the warehouse archive and for the snapshot archive in data/snapshots/, which is
exactly what record mode writes):

    <root>/<source>/<resource>/<request_key>/<retrieved_at>.json     envelope (metadata, see ArchivedResponse)
    <root>/<source>/<resource>/<request_key>/<sha256>.body           the response body, byte for byte

`resource` is the table id (or a classification id, or "catalogue" for listings). `request_key` is a
hash of method, path relative to the base URL, query parameters and request body, so a replay finds the
answer to the same request whatever host it was first sent to. Nothing is ever overwritten: a new
retrieval adds an envelope, and a body is stored once per content hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

# Best first. A figure derived from several inputs is as good as the worst of them: illustrative when any
# input is illustrative, else reconstructed when any is, else recorded.
PROVENANCES = ("recorded", "reconstructed", "illustrative")
# Files the pipeline writes are readable by the group and others (analysts, a webserver), as a plain
# open() under the usual umask 022 would leave them; mkstemp creates them 0600.
FILE_MODE = 0o644


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def provenance_ranks(values: Iterable[Any]) -> dict[str, int]:
    """The rank in PROVENANCES (worse is higher) of each distinct value (nulls ignored); ValueError naming
    every unknown value."""
    present = {str(value) for value in values if not _is_null(value)}
    unknown = present - set(PROVENANCES)
    if unknown:
        raise ValueError(f"unknown provenance value(s) {sorted(unknown)}; expected {', '.join(PROVENANCES)}")
    return {value: PROVENANCES.index(value) for value in present}


def worst_provenance(values: Iterable[Any]) -> str:
    """The worst of some provenance values (nulls ignored); ValueError on an unknown value or none at all."""
    ranks = provenance_ranks(values)
    if not ranks:
        raise ValueError("no provenance to rank: every value is null")
    return PROVENANCES[max(ranks.values())]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> str:
    """A stable key for one request: the same request always maps to the same key."""
    payload = {
        "method": method.upper(),
        "path": path.lstrip("/"),
        "params": {k: params[k] for k in sorted(params)} if params else {},
        "body": body,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:20]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SOURCE_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)


def read_source_timestamp(text: Any, *, time_required: bool = False) -> datetime:
    """A source's update stamp (SSB's `updated`, FHI's `updated` and `modifiedAt`) as an aware UTC datetime.

    Lenient where the sources differ: FHI writes .NET's seven fractional-second digits (cut to six), SSB
    writes "Z"; a stamp without an offset is taken as UTC. Anything else is a ValueError, never a guess:
    "2021-11-25T14:11:2Z" and "2024-01-12T05: 52: 00Z" are not read.
    """
    match = _SOURCE_TIMESTAMP.match(text.strip()) if isinstance(text, str) else None
    if not match or (time_required and not match["time"]):
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    clock = match["time"] or "00:00:00"
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = (match["offset"] or "+00:00").upper()
    offset = "+00:00" if offset == "Z" else offset
    if ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        return datetime.fromisoformat(f"{match['date']}T{clock}.{fraction}{offset}").astimezone(UTC)
    except ValueError as exc:  # the right shape, an impossible date or time ("2024-02-30", "25:00")
        raise ValueError(f"not an ISO-8601 timestamp: {text!r} ({exc})") from None


@dataclass(frozen=True)
class ArchivedResponse:
    """One HTTP exchange as archived. `body` is not part of the envelope file; it lives beside it."""

    source: str
    resource: str
    method: str
    url: str
    path: str
    params: dict[str, Any]
    request_body: Any
    status: int
    headers: dict[str, str]
    retrieved_at: str
    sha256: str
    provenance: str
    source_updated: str | None = None
    note: str | None = None
    body: bytes = field(default=b"", repr=False, compare=False)

    @property
    def request_key(self) -> str:
        return request_key(self.method, self.path, self.params, self.request_body)

    def json(self) -> Any:
        return json.loads(self.body)

    def envelope(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("body")
        data["request_key"] = self.request_key
        return data

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any], body: bytes) -> ArchivedResponse:
        fields = {k: envelope[k] for k in cls.__dataclass_fields__ if k in envelope and k != "body"}
        return cls(**fields, body=body)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path | str) -> str:
    """sha256 of a file's bytes, read in blocks (wave files and mart Parquet can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a new, renamed or removed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: a reader (or a crash) sees the old file or the whole new
    one, never half. The new file replaces `path` when the block ends without error; it is FILE_MODE
    (0644) whatever the umask (mkstemp creates 0600), so the warehouse's group can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through atomic_writer()."""
    with atomic_writer(path) as handle:
        handle.write(data)


class ArchiveError(Exception):
    pass


class Archive:
    """An append-only store of ArchivedResponse objects under one root: a folder, or a URL in object storage
    (s3://bucket/prefix/archive, through fsspec) where a body and an envelope are each written by one PUT
    that creates them (If-None-Match: * on S3), so nothing archived is ever replaced."""

    def __init__(self, root: Path | str):
        self.remote = "://" in str(root) and not str(root).startswith("file://")
        self.root = str(root).rstrip("/") if self.remote else Path(root)
        if self.remote:
            import fsspec

            self._fs, self._base = fsspec.core.url_to_fs(self.root, use_listings_cache=False)

    def _dir(self, source: str, resource: str, key: str) -> str:
        return f"{source}/{resource}/{key}"

    # the files, on disk or in object storage (keys relative to the root) -----------------------------------
    def _where(self, key: str) -> Path | str:
        return f"{self.root}/{key}" if self.remote else self.root / key

    def _exists(self, key: str) -> bool:
        return self._fs.exists(f"{self._base}/{key}") if self.remote else (self.root / key).exists()

    def _read(self, key: str) -> bytes:
        return self._fs.cat_file(f"{self._base}/{key}") if self.remote else (self.root / key).read_bytes()

    def _create(self, key: str, data: bytes) -> None:
        if not self.remote:
            atomic_write(self.root / key, data)
            return
        try:
            self._fs.pipe_file(f"{self._base}/{key}", data, mode="create")
        except FileExistsError:
            pass  # written by another process meanwhile: the same bytes (bodies are named by their hash)
        except (TypeError, NotImplementedError):  # a filesystem without exclusive creation
            self._fs.pipe_file(f"{self._base}/{key}", data)

    def _envelopes(self, folder: str) -> list[str]:
        """The envelope files directly in a folder, oldest first (their names are retrieval times)."""
        if self.remote:
            try:
                names = [p.rsplit("/", 1)[-1] for p in self._fs.ls(f"{self._base}/{folder}", detail=False, refresh=True)]
            except FileNotFoundError:
                return []
        else:
            path = self.root / folder
            names = [p.name for p in path.glob("*.json")] if path.is_dir() else []
        return sorted(f"{folder}/{name}" for name in names if name.endswith(".json") and not name.startswith("."))

    def _all_envelopes(self, base: str) -> list[str]:
        if self.remote:
            prefix = f"{self._base}/{base}".rstrip("/")
            try:
                found = self._fs.find(prefix)
            except FileNotFoundError:
                return []
            keys = [p[len(self._base) + 1:] for p in found]
        else:
            keys = [p.relative_to(self.root).as_posix() for p in (self.root / base).rglob("*.json")]
        return sorted(k for k in keys if k.endswith(".json") and not k.rsplit("/", 1)[-1].startswith("."))

    # the archive -------------------------------------------------------------------------------------------
    def write(self, response: ArchivedResponse) -> Path | str:
        if response.provenance not in PROVENANCES:
            raise ArchiveError(
                f"provenance must be one of {PROVENANCES}, got {response.provenance!r} for {response.url}"
            )
        if sha256_bytes(response.body) != response.sha256:
            raise ArchiveError(f"sha256 of the body does not match the envelope for {response.url}")
        folder = self._dir(response.source, response.resource, response.request_key)
        body_key = f"{folder}/{response.sha256}.body"
        if not self._exists(body_key):
            self._create(body_key, response.body)
        stamp = response.retrieved_at.replace(":", "").replace("-", "")
        envelope_key = f"{folder}/{stamp}.json"
        if self._exists(envelope_key):
            existing = json.loads(self._read(envelope_key))
            if existing.get("sha256") == response.sha256:
                return self._where(envelope_key)
            raise ArchiveError(f"refusing to overwrite archived envelope {self._where(envelope_key)}")
        text = json.dumps(response.envelope(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        self._create(envelope_key, text.encode("utf-8"))
        return self._where(envelope_key)

    def _load(self, envelope_key: str) -> ArchivedResponse:
        envelope = json.loads(self._read(envelope_key))
        body_key = f"{envelope_key.rsplit('/', 1)[0]}/{envelope['sha256']}.body"
        try:
            body = self._read(body_key)
        except FileNotFoundError as exc:
            raise ArchiveError(f"archive entry {self._where(envelope_key)} names a body {envelope['sha256']}.body "
                               "that is missing") from exc
        if sha256_bytes(body) != envelope["sha256"]:
            raise ArchiveError(f"archived body {self._where(body_key)} does not match its sha256 (corrupted archive)")
        return ArchivedResponse.from_envelope(envelope, body)

    def latest(self, source: str, resource: str, key: str) -> ArchivedResponse | None:
        """The most recent response archived for this request, or None."""
        envelopes = self._envelopes(self._dir(source, resource, key))
        return self._load(envelopes[-1]) if envelopes else None

    def find(self, source: str, resource: str, key: str, sha256: str,
             retrieved_at: str | None = None) -> ArchivedResponse | None:
        """The archived response to this request whose body has this sha256, or None: the one retrieved at
        `retrieved_at` when that envelope exists (the same body may have been fetched again since), else
        the newest."""
        folder = self._dir(source, resource, key)
        if not self._exists(f"{folder}/{sha256}.body"):
            return None
        if retrieved_at is not None:
            exact = f"{folder}/{retrieved_at.replace(':', '').replace('-', '')}.json"
            if self._exists(exact) and json.loads(self._read(exact)).get("sha256") == sha256:
                return self._load(exact)
        for envelope_key in reversed(self._envelopes(folder)):
            if json.loads(self._read(envelope_key)).get("sha256") == sha256:
                return self._load(envelope_key)
        return None

    def entries(self, source: str | None = None) -> Iterator[ArchivedResponse]:
        """Every archived response (latest and earlier), in a stable order."""
        for envelope_key in self._all_envelopes(source or ""):
            yield self._load(envelope_key)
