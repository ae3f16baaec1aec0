"""The Oslo statbank snapshots (data/snapshots/oslo) and their builder: every catalogue entry of
assets/sources/oslo replays through the client, and, per table, the mapped values equal the real answer
cell for cell with no value taken from a small group the table publishes as 0 (tests/test_real_figures_e2e.py
checks the same through the whole pipeline's indicator_values)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from oslo_reference import (
    REFERENCE_FILES,
    assert_published_as_the_reference,
    reference_answer,
    reference_cells,
)
from support import REFERENCE, load_tool, reference

from ci_pipeline.archive import Archive, request_key
from ci_pipeline.catalogue import OsloTableSpec, load_catalogue
from ci_pipeline.http import HttpClient
from ci_pipeline.jsonstat import read_jsonstat
from ci_pipeline.settings import OSLO_STATBANK_BASE_URL
from ci_pipeline.sources.oslo import OsloStatbankClient, data_request_body, query_of
from ci_pipeline.sources.oslo_tidy import oslo_to_tidy

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "data" / "snapshots"
CATALOGUE = REPO / "assets"
BUILDER = REPO / "tools" / "build_oslo_snapshots.py"
SPECS = [spec for spec in load_catalogue(CATALOGUE) if isinstance(spec, OsloTableSpec)]
# (table, rows published, cells published as 0 that became ':', cells left out: regions and contents
# codes not used)
EXPECTED_COUNTS = {
    "OK-SOS006": (6426, 21, 378),
    "OK-SOS001": (4212, 2, 0),
    "OK-STØ013": (608, 0, 114 + 4 * 19 * 16),
    "OK-STØ020": (4352, 0, 272),
}


def spec_id(spec) -> str:
    return spec.name


def replay_client(tmp_path: Path) -> OsloStatbankClient:
    http = HttpClient("oslo", OSLO_STATBANK_BASE_URL, mode="replay", snapshot_archive=Archive(SNAPSHOTS),
                      warehouse_archive=Archive(tmp_path / "warehouse"))
    return OsloStatbankClient(http)


def load_builder():
    return load_tool("build_oslo_snapshots")


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- the committed snapshot


def test_the_four_tables_have_catalogue_entries():
    assert sorted(spec.table_id for spec in SPECS) == sorted(REFERENCE_FILES)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_every_entry_replays_through_the_client_with_honest_provenance(spec, tmp_path):
    client = replay_client(tmp_path)
    query = query_of(spec.selection)
    (data,) = client.data(spec.table_id, spec.table_path, query)
    assert data.provenance == "recorded" and data.request_body == data_request_body(query)
    assert "re-serialised" in data.note and data.source_updated == data.json()["updated"]
    metadata_answer = Archive(SNAPSHOTS).latest("oslo", spec.table_id, request_key("GET", spec.table_path))
    assert metadata_answer.provenance == "reconstructed" and "Reconstructed" in metadata_answer.note
    metadata = client.metadata(spec.table_id, spec.table_path)
    answer = data.json()
    for variable in metadata["variables"]:
        dimension = answer["dimension"][variable["code"]]
        assert variable["values"] == list(dimension["category"]["index"])
        assert variable["valueTexts"] == [dimension["category"]["label"][c] for c in variable["values"]]
        assert variable.get("time", False) == (variable["code"] in answer["role"]["time"])
    assert [v["code"] for v in metadata["variables"]] == [q.code for q in query]


# --------------------------------------------------------------------------- cell for cell, per table


@pytest.mark.reference
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_published_values_equal_the_reference_answer_cell_for_cell(spec, tmp_path):
    reference = json.loads(reference_answer(spec.table_id).read_bytes())
    data = replay_data(spec, tmp_path)
    assert data.body == reference_answer(spec.table_id).read_bytes()
    result = tidy(spec, data)
    frame = result.frame
    published = {}
    for row in frame.itertuples():
        key = (row.indicator_id, row.region_code, row.period, row.sex, row.age_group)
        assert key not in published, f"{spec.table_id}: two rows for {key}"
        published[key] = (row.value, row.status)
    expected, zeros = reference_cells(spec, reference)
    assert_published_as_the_reference(published, expected)
    rows, suppressed, left_out = EXPECTED_COUNTS[spec.table_id]
    assert (len(expected), zeros, sum(e.cells for e in result.excluded)) == (rows, suppressed, left_out)
    assert (len(frame), result.suppressed_zeros) == (rows, suppressed)


def replay_data(spec, tmp_path):
    (data,) = replay_client(tmp_path).data(spec.table_id, spec.table_path, query_of(spec.selection))
    return data


def tidy(spec, data):
    return oslo_to_tidy(read_jsonstat(data.body), spec, provenance=data.provenance, snapshot_sha256=data.sha256,
                        retrieved_at=data.retrieved_at, source_updated=data.source_updated)


@pytest.mark.reference
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_no_published_value_comes_from_a_small_group_published_as_zero(spec, tmp_path):
    frame = tidy(spec, replay_data(spec, tmp_path)).frame
    assert spec.small_groups is not None, "every table of the bank here has a small-group note"
    assert not (frame["value"] == 0).any()
    assert frame.loc[frame["status"].notna(), "value"].isna().all()


@pytest.mark.reference
def test_real_figures_of_the_disability_benefit_table(tmp_path):
    spec = next(s for s in SPECS if s.table_id == "OK-SOS006")
    frame = tidy(spec, replay_data(spec, tmp_path)).frame
    total = frame.set_index(["region_code", "period", "sex", "age_group"])["value"]
    assert total["0301", "2024", "total", "total"] == 32_120
    assert total["0301", "2004", "total", "total"] == 26_583
    districts = frame[(frame["region_level"] == "district") & (frame["period"] == "2024")
                      & (frame["sex"] == "total") & (frame["age_group"] == "total")]
    assert districts["region_code"].nunique() == 16  # 15 districts + 030199 (no value in 2024: '-')


# --------------------------------------------------------------------------- the builder


@pytest.mark.reference
def test_builder_is_deterministic_and_the_committed_snapshot_is_current(tmp_path):
    reference()
    builder = load_builder()
    builder.build(REFERENCE, tmp_path / "first", CATALOGUE)
    builder.build(REFERENCE, tmp_path / "second", CATALOGUE)
    built = tree(tmp_path / "first" / "oslo")
    assert built and built == tree(tmp_path / "second" / "oslo")
    assert tree(SNAPSHOTS / "oslo") == built, "data/snapshots/oslo is stale: run tools/build_oslo_snapshots.py"


@pytest.mark.reference
def test_builder_refuses_a_query_the_recorded_answer_does_not_reply_to(tmp_path):
    reference()
    catalogue = tmp_path / "catalogue"
    (catalogue / "sources" / "oslo").mkdir(parents=True)
    entry = yaml.safe_load((CATALOGUE / "sources" / "oslo" / "oslo_sos006.yaml").read_text(encoding="utf-8"))
    entry["selection"][1] = {"variable": "bosted", "filter": "item", "values": ["301"]}
    (catalogue / "sources" / "oslo" / "oslo_sos006.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True),
                                                                     encoding="utf-8")
    builder = load_builder()
    with pytest.raises(builder.BuildError, match=r"oslo_sos006 \(OK-SOS006\): the recorded answer replies to"):
        builder.build(REFERENCE, tmp_path / "out", catalogue)


def test_v1_metadata_lists_the_variables_as_v1_does():
    builder = load_builder()
    answer: dict[str, Any] = {
        "label": "t", "id": ["ContentsCode", "år", "bydel"], "role": {"time": ["år"]},
        "extension": {"px": {"stub": ["bydel"], "heading": ["år"]}},
        "dimension": {
            "ContentsCode": {"category": {"index": {"EliminatedValue": 0}, "label": {"EliminatedValue": "t"}}},
            "år": {"label": "år", "category": {"index": {"1": 1, "0": 0}, "label": {"0": "2022", "1": "2023"}},
                   "extension": {"elimination": False}},
            "bydel": {"label": "bydel", "category": {"index": {"301": 0}, "label": {"301": "Oslo i alt"}},
                      "extension": {"elimination": True}},
        },
    }
    assert builder.v1_metadata(answer) == {"title": "t", "variables": [
        {"code": "bydel", "text": "bydel", "values": ["301"], "valueTexts": ["Oslo i alt"], "elimination": True},
        {"code": "år", "text": "år", "values": ["0", "1"], "valueTexts": ["2022", "2023"], "time": True},
    ]}
