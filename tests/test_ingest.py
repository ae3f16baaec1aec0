"""Change detection in ingest.fetch_table: the update stamp decides whether data is downloaded again."""

from dataclasses import dataclass, field
from pathlib import Path

from ci_pipeline.archive import Archive, ArchivedResponse, sha256_bytes
from ci_pipeline.catalogue import load_catalogue
from ci_pipeline.ingest import Clients, SourceState, fetch_table

REPO = Path(__file__).resolve().parents[1]


def answer(table_id: str, body: bytes, retrieved_at: str) -> ArchivedResponse:
    return ArchivedResponse(
        source="ssb", resource=table_id, method="POST", url=f"https://example.invalid/tables/{table_id}/data",
        path=f"tables/{table_id}/data", params={}, request_body={"selection": []}, status=200, headers={},
        retrieved_at=retrieved_at, sha256=sha256_bytes(body), provenance="illustrative",
        body=body,
    )


@dataclass
class FakeSsb:
    """Answers table info with a settable stamp and counts data downloads."""

    archive: Archive
    updated: str | None = "2026-01-01T07:00:00Z"
    downloads: list[str] = field(default_factory=list)

    def table_info(self, table_id: str) -> dict:
        return {"id": table_id} if self.updated is None else {"id": table_id, "updated": self.updated}

    def data(self, table_id: str, selection) -> list[ArchivedResponse]:
        self.downloads.append(table_id)
        n = len(self.downloads)
        response = answer(table_id, f'{{"n": {n}}}'.encode(), f"2026-01-0{n}T00:00:00.000000Z")
        self.archive.write(response)
        return [response]


def clients_for(tmp_path: Path, **sources) -> Clients:
    """Clients over a fresh warehouse archive with the given fakes (the rest None)."""
    return Clients(**{"ssb": None, "fhi": None, "klass": None, **sources},
                   snapshot_archive=Archive(tmp_path / "snapshots"), warehouse_archive=Archive(tmp_path / "archive"))


def make(tmp_path: Path) -> tuple[Clients, FakeSsb, SourceState]:
    ssb = FakeSsb(Archive(tmp_path / "archive"))
    return clients_for(tmp_path, ssb=ssb), ssb, SourceState(tmp_path / "state")


def spec():
    return next(s for s in load_catalogue(REPO / "assets") if s.name == "ssb_07459")


def test_unchanged_stamp_reuses_the_archived_answers(tmp_path):
    clients, ssb, state = make(tmp_path)
    first = fetch_table(spec(), clients, state)
    second = fetch_table(spec(), clients, state)
    assert first.changed and not second.changed
    assert ssb.downloads == ["07459"]
    assert [r.sha256 for r in second.responses] == [r.sha256 for r in first.responses]


def test_a_new_stamp_downloads_again(tmp_path):
    clients, ssb, state = make(tmp_path)
    fetch_table(spec(), clients, state)
    ssb.updated = "2026-02-01T07:00:00Z"
    again = fetch_table(spec(), clients, state)
    assert again.changed and ssb.downloads == ["07459", "07459"]


def test_a_missing_stamp_never_counts_as_unchanged(tmp_path):
    clients, ssb, state = make(tmp_path)
    ssb.updated = None
    fetch_table(spec(), clients, state)
    again = fetch_table(spec(), clients, state)
    assert again.changed and ssb.downloads == ["07459", "07459"]


# --------------------------------------------------------------------------- Oslo: no stamp to ask first


@dataclass
class FakeOslo:
    """Answers every data request with a settable body and `updated`, archived like a live answer."""

    archive: Archive
    body: bytes = b'{"value": [1]}'
    updated: str | None = "2025-11-04T07:00:00Z"
    requests: int = 0

    def data(self, table_id: str, path: str, query) -> list[ArchivedResponse]:
        self.requests += 1
        response = answer(table_id, self.body, f"2026-01-0{self.requests}T00:00:00.000000Z")
        response = ArchivedResponse(**{**response.__dict__, "source": "oslo", "source_updated": self.updated})
        self.archive.write(response)
        return [response]


def oslo_setup(tmp_path: Path) -> tuple[Clients, FakeOslo, SourceState]:
    oslo = FakeOslo(Archive(tmp_path / "archive"))
    return clients_for(tmp_path, oslo=oslo), oslo, SourceState(tmp_path / "state")


def oslo_spec():
    return next(s for s in load_catalogue(REPO / "assets") if s.name == "oslo_sos001")


def test_an_unchanged_oslo_answer_is_fetched_but_counts_as_unchanged(tmp_path):
    clients, oslo, state = oslo_setup(tmp_path)
    first = fetch_table(oslo_spec(), clients, state)
    second = fetch_table(oslo_spec(), clients, state)
    assert first.changed and first.fetched
    assert not second.changed and second.fetched and oslo.requests == 2
    # The first fetch's answers stand, so nothing downstream changes (not even when they were retrieved).
    assert second.summary()["responses"] == first.summary()["responses"]
    assert second.updated == "2025-11-04T07:00:00Z"


def test_new_oslo_content_or_a_new_updated_counts_as_changed(tmp_path):
    clients, oslo, state = oslo_setup(tmp_path)
    fetch_table(oslo_spec(), clients, state)
    oslo.body = b'{"value": [2]}'
    assert fetch_table(oslo_spec(), clients, state).changed
    oslo.updated = "2026-02-01T07:00:00Z"
    again = fetch_table(oslo_spec(), clients, state)
    assert again.changed and again.updated == "2026-02-01T07:00:00Z"
    assert not fetch_table(oslo_spec(), clients, state).changed


# --------------------------------------------------------------------------- reference series: checksums


def reference_setup(tmp_path: Path):
    import shutil

    from ci_pipeline.ingest import staged_observations

    root = tmp_path / "series"
    root.mkdir()
    spec = next(s for s in load_catalogue(REPO / "assets") if s.name == "reference_imdi_persistent_low_income")
    for name in spec.series:
        for suffix in (".yaml", ".csv"):
            shutil.copy(REPO / "data" / "reference_series" / f"{name}{suffix}", root / f"{name}{suffix}")
    clients = clients_for(tmp_path, reference_root=root)
    return spec, clients, SourceState(tmp_path / "state"), root, staged_observations


def test_reference_entries_change_only_with_their_checksums(tmp_path):
    spec, clients, state, root, staged = reference_setup(tmp_path)
    first = fetch_table(spec, clients, state)
    second = fetch_table(spec, clients, state)
    assert first.changed and not second.changed and not second.fetched
    assert [f["series"] for f in second.files] == spec.series and second.responses == []
    frame, report = staged(spec, second.summary(), clients)
    assert set(frame["table_id"]) == {"imdi_persistent_low_income"} and set(frame["source"]) == {"reference"}
    assert set(frame["period"]) == {"2010-2012", "2011-2013", "2012-2014"}
    assert set(frame["provenance"]) == {"reconstructed"} and report == {"not_used": []}

    # A series edited after raw/ saw it: staging refuses to mix versions.
    yaml_path = root / f"{spec.series[0]}.yaml"
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    import pytest

    from ci_pipeline.sources.reference_series import ReferenceSeriesError
    with pytest.raises(ReferenceSeriesError, match=r"changed since raw/reference_imdi_persistent_low_income"):
        staged(spec, second.summary(), clients)
    assert fetch_table(spec, clients, state).changed
