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


def make(tmp_path: Path) -> tuple[Clients, FakeSsb, SourceState]:
    warehouse = Archive(tmp_path / "archive")
    ssb = FakeSsb(warehouse)
    clients = Clients(ssb=ssb, fhi=None, klass=None, snapshot_archive=Archive(tmp_path / "snapshots"),
                      warehouse_archive=warehouse)
    return clients, ssb, SourceState(tmp_path / "state")


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
