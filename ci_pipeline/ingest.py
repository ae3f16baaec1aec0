"""Fetching catalogue tables with change detection, and turning their answers into tidy observations.

SSB has no ETag: a table's `updated` (GET /tables/{id}) tells whether it changed; FHI has `modifiedAt`.
Each run asks for that stamp first. When it equals what the last successful fetch saw (remembered in
<warehouse>/state/), the data is not downloaded again: the archived answers of that fetch are reused.

Oslo kommune statistikkbank (PxWeb v1) has no table-info endpoint: its `updated` comes only with the
data. So its data is requested every run and compared with the last fetch by content (sha256 of every
answer) and by the answer's own `updated`; when both are the same the table counts as unchanged and the
answers of the last fetch are reused (the new request is archived like any other, but changes nothing
downstream). The result says so: fetched, unchanged content.

Reference series are files (ci_pipeline/sources/reference_series/): their checksums decide; nothing
is requested.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ci_pipeline.archive import Archive, ArchivedResponse, atomic_write, canonical_json, file_sha256
from ci_pipeline.catalogue import CatalogueEntry, ReferenceSpec, TableSpec
from ci_pipeline.http import RATE_WINDOW_SECONDS, HttpClient, SharedWindow, SlidingWindowThrottle
from ci_pipeline.jsonstat import JsonStatError, parse_timestamp, read_jsonstat
from ci_pipeline.settings import Settings
from ci_pipeline.sources.fhi import FhiClient
from ci_pipeline.sources.klass import KlassClient
from ci_pipeline.sources.oslo import OsloStatbankClient, query_of
from ci_pipeline.sources.oslo_tidy import oslo_to_tidy
from ci_pipeline.sources.reference_series import entry_observations, series_files
from ci_pipeline.sources.ssb import Selection, SsbClient
from ci_pipeline.tidy import to_tidy


@dataclass(frozen=True)
class Clients:
    """How a run reaches its sources: the API clients, the archives, and the reference-series folder."""

    ssb: SsbClient
    fhi: FhiClient
    klass: KlassClient
    snapshot_archive: Archive
    warehouse_archive: Archive
    oslo: OsloStatbankClient | None = None
    reference_root: Path | None = None


# A request reaches the server a little after it is counted here (a new connection, a busy machine):
# counting each one this much longer than the window keeps the server's count, not only ours, in the limit.
DELIVERY_MARGIN_SECONDS = 2.0


class HostThrottles:
    """One throttle per host and request limit, shared by every client made with this object.

    SSB's limit counts every request from this machine, whichever asset's client sends it, and SSB and
    KLASS share data.ssb.no; so one object serves every client of a process (the Dagster resource owns it).
    Steps in other processes and other runs send to the same hosts: share_windows() keeps each host's
    window where they all see it (the Dagster resource hands over the instance's key-value store).
    Timestamps are wall-clock time, so windows kept by other processes compare.
    """

    def __init__(self) -> None:
        self._by_host: dict[tuple[str, int], SlidingWindowThrottle] = {}
        self._windows: Callable[[str], SharedWindow] | None = None

    def for_url(self, base_url: str, per_minute: int) -> SlidingWindowThrottle:
        host = urlsplit(base_url).netloc
        key = (host, per_minute)
        if key not in self._by_host:
            self._by_host[key] = SlidingWindowThrottle(
                per_minute, RATE_WINDOW_SECONDS + DELIVERY_MARGIN_SECONDS, clock=time.time, sleep=time.sleep,
                shared=self._windows(host) if self._windows else None)
        return self._by_host[key]

    def share_windows(self, windows: Callable[[str], SharedWindow]) -> None:
        """Keep each host's window in `windows(host)` from now on (throttles already made included)."""
        self._windows = windows
        for (host, _), throttle in self._by_host.items():
            throttle.share(windows(host))


def make_clients(settings: Settings, throttles: HostThrottles) -> Clients:
    """The API clients (SSB, FHI, KLASS, Oslo's statistics bank) in the settings' mode, sharing the
    snapshot and warehouse archives and drawing on `throttles` for their hosts."""
    snapshots = Archive(settings.snapshot_root)
    warehouse = Archive(settings.archive_root)

    def http(source: str, base_url: str) -> HttpClient:
        # A connection that is not accepted within 10 s will not be; the read timeout is the setting.
        return HttpClient(source, base_url, mode=settings.mode, snapshot_archive=snapshots,
                          warehouse_archive=warehouse, max_retries=settings.http_max_retries,
                          backoff_base=settings.http_backoff_base,
                          timeout=(min(10.0, settings.http_timeout), settings.http_timeout),
                          throttle=throttles.for_url(base_url, settings.requests_per_minute))

    # SSB's documented limit (30 requests a minute, the default) also serves FHI, KLASS and Oslo's
    # statistics bank, which document none.
    return Clients(
        ssb=SsbClient(http("ssb", settings.ssb_base_url)),
        fhi=FhiClient(http("fhi", settings.fhi_base_url)),
        klass=KlassClient(http("klass", settings.klass_base_url)),
        snapshot_archive=snapshots,
        warehouse_archive=warehouse,
        oslo=OsloStatbankClient(http("oslo", settings.oslo_base_url), max_values=settings.oslo_max_values),
        reference_root=settings.reference_series_root,
    )


def response_ref(response: ArchivedResponse) -> dict[str, Any]:
    """What identifies an archived answer, so a later run can load it again without the network."""
    return {
        "source": response.source,
        "resource": response.resource,
        "request_key": response.request_key,
        "sha256": response.sha256,
        "url": response.url,
        "method": response.method,
        "retrieved_at": response.retrieved_at,
        "source_updated": response.source_updated,
        "provenance": response.provenance,
    }


def load_ref(ref: dict[str, Any], clients: Clients) -> ArchivedResponse | None:
    for archive in (clients.warehouse_archive, clients.snapshot_archive):
        found = archive.find(ref["source"], ref["resource"], ref["request_key"], ref["sha256"], ref.get("retrieved_at"))
        if found is not None:
            return found
    return None


class SourceState:
    """The last successful fetch of each catalogue entry: its `updated` stamp and answer references."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def load(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def save(self, name: str, state: dict[str, Any]) -> None:
        text = json.dumps(state, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self._path(name), text.encode("utf-8"))


@dataclass
class FetchResult:
    """One fetch of a catalogue entry. `changed`: its content differs from the last fetch (or there was
    none); `fetched`: its data was requested this run (Oslo's bank has no stamp to ask first, so an
    unchanged Oslo table is fetched, unchanged content); `files`: a reference entry's checksummed files."""

    spec: CatalogueEntry
    updated: str | None
    changed: bool
    responses: list[ArchivedResponse]
    table_info: dict[str, Any] = field(default_factory=dict)
    fetched: bool | None = None
    files: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.fetched is None:
            self.fetched = self.changed

    @property
    def provenance(self) -> str:
        if self.files:
            return self.spec.snapshot_provenance
        kinds = sorted({r.provenance for r in self.responses})
        return ",".join(kinds)

    def summary(self) -> dict[str, Any]:
        summary = {
            "name": self.spec.name,
            "source": self.spec.source,
            "table_id": self.spec.table_id,
            "title": self.spec.title,
            "updated": self.updated,
            "changed": self.changed,
            "provenance": self.provenance,
            "responses": [response_ref(r) for r in self.responses],
        }
        if self.files:
            summary["files"] = self.files
        return summary


def request_fingerprint(spec: CatalogueEntry) -> str:
    """Changes when the catalogue entry asks for different data, so a new selection is always fetched."""
    return hashlib.sha256(canonical_json(spec.request).encode()).hexdigest()[:16]


def _usable_stamp(updated: Any) -> bool:
    """Only a readable timestamp can say "unchanged": a malformed one ("2021-11-25T14:11:2Z") may stay
    the same while the data changes."""
    try:
        return parse_timestamp(updated) is not None
    except JsonStatError:
        return False


def _reused(previous: dict[str, Any], clients: Clients) -> list[ArchivedResponse] | None:
    """The archived answers of the last fetch, or None when any of them is gone."""
    reused = [load_ref(ref, clients) for ref in previous["responses"]]
    return reused if all(r is not None for r in reused) else None


def fetch_table(spec: CatalogueEntry, clients: Clients, state: SourceState) -> FetchResult:
    """Fetch one catalogue entry, downloading only what changed since the last fetch (see the module
    docstring for how each family tells).

    SSB and FHI: ask for the table's update stamp; download its data only when it changed. Without a
    usable stamp (none, or one that is not a timestamp, such as "2021-11-25T14:11:2Z") nothing tells that
    the table is unchanged, so it is downloaded again; the archive keeps each distinct body once, by its
    sha256.
    """
    if isinstance(spec, ReferenceSpec):
        return _fetch_reference(spec, clients, state)
    if spec.source == "oslo":
        return _fetch_oslo(spec, clients, state)
    if spec.source == "ssb":
        info = clients.ssb.table_info(spec.table_id)
        updated = info.get("updated")
    else:
        # The flag legend says what FHI's symbols mean in this table; it is shown with the raw asset.
        info = {**clients.fhi.table(spec.table_id), "flags": clients.fhi.flags(spec.table_id)}
        updated = info.get("modifiedAt")

    previous = state.load(spec.name)
    fingerprint = request_fingerprint(spec)
    same_request = previous is not None and previous.get("fingerprint") == fingerprint
    if same_request and _usable_stamp(updated) and previous.get("updated") == updated:
        reused = _reused(previous, clients)
        if reused is not None:
            return FetchResult(spec, updated, False, reused, info)

    if spec.source == "ssb":
        selection = [Selection(s["variable"], list(s["values"]), s.get("codelist")) for s in spec.selection]
        responses = list(clients.ssb.data(spec.table_id, selection))
    else:
        answer = clients.fhi.data(spec.table_id, spec.dimensions_filter)
        responses = list(answer) if isinstance(answer, list) else [answer]
    result = FetchResult(spec, updated, True, responses, info)
    state.save(spec.name, {"updated": updated, "fingerprint": fingerprint,
                           "responses": [response_ref(r) for r in responses]})
    return result


def _fetch_oslo(spec: TableSpec, clients: Clients, state: SourceState) -> FetchResult:
    """Request the data (the bank has no stamp to ask first) and compare it with the last fetch."""
    if clients.oslo is None:
        raise ValueError(f"{spec.name}: no Oslo statistics bank client was configured")
    responses = clients.oslo.data(spec.table_id, spec.table_path, query_of(spec.selection))
    stamps = sorted(r.source_updated for r in responses if r.source_updated)
    updated = stamps[-1] if stamps else None
    content = [r.sha256 for r in responses]
    previous = state.load(spec.name)
    fingerprint = request_fingerprint(spec)
    if (previous is not None and previous.get("fingerprint") == fingerprint and previous.get("content") == content
            and previous.get("updated") == updated):
        # Same bytes and stamp: the answers of the last fetch stand, so nothing downstream changes
        # (not even when they were retrieved).
        reused = _reused(previous, clients)
        if reused is not None:
            return FetchResult(spec, updated, False, reused, fetched=True)
    state.save(spec.name, {"updated": updated, "fingerprint": fingerprint, "content": content,
                           "responses": [response_ref(r) for r in responses]})
    return FetchResult(spec, updated, True, responses)


def _fetch_reference(spec: ReferenceSpec, clients: Clients, state: SourceState) -> FetchResult:
    """The entry's series files and their checksums; unchanged checksums are an unchanged entry."""
    if clients.reference_root is None:
        raise ValueError(f"{spec.name}: no reference-series folder was configured")
    files = [{"series": name, "yaml_sha256": file_sha256(yaml_path), "csv_sha256": file_sha256(csv_path)}
             for name, yaml_path, csv_path in series_files(spec, clients.reference_root)]
    previous = state.load(spec.name)
    changed = previous is None or previous.get("files") != files
    if changed:
        state.save(spec.name, {"files": files})
    return FetchResult(spec, None, changed, [], files=files)


def load_responses(raw: dict[str, Any], clients: Clients) -> list[ArchivedResponse]:
    """The archived answers a raw asset's summary names; a missing one is an error saying what to do."""
    responses = []
    for ref in raw["responses"]:
        response = load_ref(ref, clients)
        if response is None:
            raise FileNotFoundError(
                f"{raw['name']}: archived answer {ref['url']} (sha256 {ref['sha256'][:12]}) is in neither the "
                f"warehouse archive nor the snapshot archive; rematerialise raw/{raw['name']}")
        responses.append(response)
    return responses


def staged_observations(spec: CatalogueEntry, raw: dict[str, Any],
                        clients: Clients) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The tidy observations of one entry from what its raw asset stored, and a report of what the
    mapping left out or suppressed (empty for SSB and FHI, whose mapping leaves nothing out)."""
    if isinstance(spec, ReferenceSpec):
        return entry_observations(spec, clients.reference_root, raw["files"])
    responses = load_responses(raw, clients)
    if spec.source != "oslo":
        return tidy_observations(spec, responses), {}
    frames, reports = [], []
    for response in responses:
        table = read_jsonstat(response.body, origin=f"{spec.path} <- {response.url}")
        mapped = oslo_to_tidy(table, spec, provenance=response.provenance, snapshot_sha256=response.sha256,
                              retrieved_at=response.retrieved_at,
                              source_updated=response.source_updated or table.updated)
        frames.append(mapped.frame)
        reports.append(mapped.report())
    report = {key: (sum(r[key] for r in reports) if isinstance(reports[0][key], int)
                    else sorted({line for r in reports for line in r[key]})) for key in reports[0]}
    return pd.concat(frames, ignore_index=True), report


def tidy_observations(spec: TableSpec, responses: list[ArchivedResponse]) -> pd.DataFrame:
    """All answers of one SSB or FHI catalogue entry as one tidy frame (the contract in docs/ARCHITECTURE.md)."""
    frames = []
    for response in responses:
        table = read_jsonstat(response.body, origin=f"{spec.path} <- {response.url}")
        frames.append(
            to_tidy(
                table,
                spec,
                provenance=response.provenance,
                snapshot_sha256=response.sha256,
                retrieved_at=response.retrieved_at,
                source_updated=response.source_updated or table.updated,
            )
        )
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
