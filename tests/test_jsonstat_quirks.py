"""What real PxWebApi 2 servers and other agencies send (issue 18), each on a small hand-written body:
metadata with an empty value list, a malformed `updated`, JSON-stat 1.01 datasets, a one-element status
array, categories without labels, dimensions called `value` or `status`, `child` hierarchies and status
keys that are not cell numbers."""

from __future__ import annotations

import json
import math
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from standin import StandinServer, live_http, store_answer
from support import reference

from ci_pipeline.archive import Archive, ArchivedResponse, sha256_bytes
from ci_pipeline.catalogue import SsbTableSpec
from ci_pipeline.errors import SourceError
from ci_pipeline.ingest import Clients, SourceState, fetch_table
from ci_pipeline.jsonstat import (
    JsonStatError,
    JsonStatWarning,
    parse_timestamp,
    read_jsonstat,
    read_jsonstat_metadata,
)
from ci_pipeline.sources.ssb import Selection, SsbClient

DATA_PARAMS = {"lang": "no", "outputFormat": "json-stat2"}
ABSENT = object()


def dataset(dimensions: dict[str, list[str]], value=ABSENT, **extra) -> dict:
    """A JSON-stat 2.0 dataset with the given dimensions (id -> codes, in order); `value` left out
    unless given (None and [] are written as such)."""
    document = {
        "version": "2.0", "class": "dataset", "label": "test", "source": "test",
        "updated": "2025-01-01T00:00:00Z",
        "id": list(dimensions), "size": [len(codes) for codes in dimensions.values()],
        "dimension": {dim_id: {"label": dim_id, "category": {"index": {c: i for i, c in enumerate(codes)},
                                                             "label": {c: f"label {c}" for c in codes}}}
                      for dim_id, codes in dimensions.items()},
    }
    if value is not ABSENT:
        document["value"] = value
    document.update(extra)
    return document


def symbols(table) -> list[str | None]:
    return [None if pd.isna(symbol) else symbol for symbol in table.frame["status"]]


# ------------------------------------------------------------- 1. metadata with an empty value list

REGIONS = ["0301"] + [f"{n:04d}" for n in range(1001, 2000)]
AGES = [f"{age:03d}" for age in range(106)]
YEARS = [str(year) for year in range(1986, 2026)]
# 1,000 regions x 106 ages x 2 sexes x 40 years x 1 content = 8,480,000 cells, as a metadata answer
# of Statistics Sweden's PxWebApi 2 declares them.
BIG = {"Region": REGIONS, "Alder": AGES, "Kjonn": ["1", "2"], "Tid": YEARS, "ContentsCode": ["Personer"]}
BIG_CELLS = 8_480_000
VALUE_FORMS = [ABSENT, None, []]
VALUE_FORM_IDS = ["value absent", "value null", "value []"]


@pytest.mark.parametrize("value", VALUE_FORMS, ids=VALUE_FORM_IDS)
def test_metadata_reads_as_dimensions_without_cells_and_allocates_none(value):
    body = json.dumps(dataset(BIG, value)).encode()
    tracemalloc.start()
    try:
        table = read_jsonstat_metadata(body, origin="tables/99001/metadata")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert math.prod(table.sizes) == BIG_CELLS
    assert table.dimensions["Region"].codes == REGIONS
    assert table.frame.empty
    assert list(table.frame.columns) == list(BIG) + ["value", "status"]
    # One float64 per cell alone would be 68 MB; the dimensions themselves are well under 5 MB.
    assert peak < 5_000_000, f"reading metadata allocated {peak:,} bytes"


def test_metadata_reader_ignores_cells_even_when_sent():
    table = read_jsonstat_metadata(dataset({"A": ["a", "b"]}, [1, 2], status={"0": ":"}))
    assert table.frame.empty and table.dimensions["A"].codes == ["a", "b"]


@pytest.mark.parametrize("value", VALUE_FORMS, ids=VALUE_FORM_IDS)
def test_a_data_answer_without_cells_is_an_error_that_points_to_the_metadata_reader(value):
    with pytest.raises(JsonStatError, match=r"^tables/99001/data: .*8,480,000( cells)?; .*read_jsonstat_metadata"):
        read_jsonstat(dataset(BIG, value), origin="tables/99001/data")


def test_a_data_answer_with_too_few_cells_stays_an_error():
    with pytest.raises(JsonStatError, match=r"'value' has 3 cells but the product of 'size' is 4$"):
        read_jsonstat(dataset({"A": ["a", "b"], "B": ["c", "d"]}, [1, 2, 3]))
    with pytest.raises(JsonStatError, match=r"'value' has 0 cells but the product of 'size' is 4; "
                                            r"a /metadata answer .* read_jsonstat_metadata"):
        read_jsonstat(dataset({"A": ["a", "b"], "B": ["c", "d"]}, []))


def test_a_data_answer_of_an_empty_cube_has_no_rows():
    table = read_jsonstat(dataset({"A": [], "B": ["c"]}, []))
    assert table.frame.empty and table.sizes == [0, 1]


def live_client(server: StandinServer, tmp_path: Path) -> SsbClient:
    return SsbClient(live_http(server, "ssb", tmp_path))


BIG_SELECTION = [Selection("Region", ["0301"]), Selection("Alder", ["*"]), Selection("Kjonn", ["*"]),
                 Selection("Tid", ["top(2)"]), Selection("ContentsCode", ["Personer"])]
BIG_BODY = {"selection": [item.as_body() for item in BIG_SELECTION]}


@pytest.mark.parametrize("value", VALUE_FORMS, ids=VALUE_FORM_IDS)
def test_ssb_client_metadata_path_reads_both_forms(value, tmp_path):
    metadata = dataset(BIG, value, role={"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]})
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(snapshots, "ssb", "99001", "GET", "tables/99001/metadata", params=DATA_PARAMS,
                 body=json.dumps(metadata).encode(), provenance="illustrative")
    data = json.dumps({"answer": "data"}).encode()
    store_answer(snapshots, "ssb", "99001", "POST", "tables/99001/data", params=DATA_PARAMS,
                 request_body=BIG_BODY, body=data, provenance="illustrative")
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path)
        table = client.metadata("99001")
        # 1 region x 106 ages x 2 sexes x 2 years: within the limit, so one request, sent unchanged.
        answers = client.data("99001", BIG_SELECTION)
        assert server.count("ssb/tables/99001/data", method="POST") == 1
    assert table.frame.empty and table.sizes == [1000, 106, 2, 40, 1]
    assert [answer.body for answer in answers] == [data]
    assert answers[0].request_body == BIG_BODY


@pytest.mark.reference
@pytest.mark.parametrize("value", VALUE_FORMS, ids=VALUE_FORM_IDS)
def test_real_ssb_11118_metadata_reads_the_same_in_every_form(value):
    path = reference("ssb", "ssb_v2_metadata_11118_jsonstat2_from_beta-bruker-doc.json")
    document = json.loads(path.read_bytes())
    assert "value" not in document  # as SSB sends it
    if value is not ABSENT:
        document["value"] = value
    table = read_jsonstat_metadata(document)
    assert table.sizes == [14, 2, 9] and table.frame.empty
    assert table.dimensions["ContentsCode"].codes == ["LevIndAar", "Aarsendring"]


def test_ssb_client_names_the_table_when_the_metadata_answer_is_unreadable(tmp_path):
    jsonstat1 = {"class": "dataset", "label": "x", "dimension": {"id": ["Tid"], "size": [1], "Tid": {}}}
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(snapshots, "ssb", "99002", "GET", "tables/99002/metadata", params=DATA_PARAMS,
                 body=json.dumps(jsonstat1).encode(), provenance="illustrative")
    expected = r"^ssb table 99002: ssb tables/99002/metadata: this is a JSON-stat 1\.x dataset .*\[URL: http://"
    with StandinServer(snapshots.root) as server, pytest.raises(SourceError, match=expected):
        live_client(server, tmp_path).metadata("99002")


# ------------------------------------------------------------------------- 2. a malformed `updated`


@pytest.mark.parametrize("stamp", ["2021-11-25T14:11:2Z", "2024-01-12T05: 52: 00Z", "2024-02-30T07:00:00Z"])
def test_malformed_updated_reads_the_data_keeps_the_stamp_and_warns(stamp):
    document = dataset({"A": ["a", "b"]}, [1, 2], updated=stamp)
    with pytest.warns(JsonStatWarning, match=rf"^t\.json: 'updated' is not an ISO-8601 timestamp: "
                                             rf"'{stamp}'.*counts as unknown"):
        table = read_jsonstat(document, origin="t.json")
    assert table.updated is None
    assert table.updated_raw == stamp
    assert table.frame["value"].tolist() == [1.0, 2.0]
    with pytest.raises(JsonStatError, match="'updated' is not an ISO-8601 timestamp"):
        parse_timestamp(stamp)


def test_well_formed_updated_is_normalised_and_kept_raw_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_jsonstat(dataset({"A": ["a"]}, [1], updated="2024-06-20T12:00:41.5550912+00:00"))
    assert table.updated == "2024-06-20T12:00:41.555091Z"
    assert table.updated_raw == "2024-06-20T12:00:41.5550912+00:00"


@dataclass
class StampedSsb:
    """Table info with a settable stamp; data answers with a settable body; counts downloads."""

    archive: Archive
    updated: str
    body: bytes = b'{"n": 1}'
    downloads: list[str] = field(default_factory=list)

    def table_info(self, table_id: str) -> dict:
        return {"id": table_id, "updated": self.updated}

    def data(self, table_id: str, selection) -> list[ArchivedResponse]:
        self.downloads.append(table_id)
        response = ArchivedResponse(
            source="ssb", resource=table_id, method="POST", url=f"https://example.invalid/tables/{table_id}/data",
            path=f"tables/{table_id}/data", params={}, request_body={"selection": []}, status=200, headers={},
            retrieved_at=f"2026-01-0{len(self.downloads)}T00:00:00.000000Z", sha256=sha256_bytes(self.body),
            provenance="illustrative", body=self.body)
        self.archive.write(response)
        return [response]


def fetch_twice(tmp_path: Path, stamp: str, second_body: bytes):
    warehouse = Archive(tmp_path / "archive")
    ssb = StampedSsb(warehouse, stamp)
    clients = Clients(ssb=ssb, fhi=None, klass=None, snapshot_archive=Archive(tmp_path / "snapshots"),
                      warehouse_archive=warehouse)
    spec = SsbTableSpec(
        source="ssb", name="ssb_99001", table_id="99001", title="t", description="t", group="t",
        dimensions={"region": "Region", "period": "Tid", "indicator": "ContentsCode"},
        indicators={"Personer1": {"indicator_id": "population", "unit": "persons"}},
        selection=[{"variable": v, "values": ["*"]} for v in ("Region", "Tid", "ContentsCode")])
    state = SourceState(tmp_path / "state")
    first = fetch_table(spec, clients, state)
    ssb.body = second_body
    second = fetch_table(spec, clients, state)
    return ssb, first, second


@pytest.mark.parametrize("second_body", [b'{"n": 1}', b'{"n": 2}'], ids=["same data", "new data"])
@pytest.mark.parametrize("stamp", ["2021-11-25T14:11:2Z", "2024-01-12T05: 52: 00Z"])
def test_malformed_stamp_is_never_taken_as_unchanged(tmp_path, stamp, second_body):
    ssb, first, second = fetch_twice(tmp_path, stamp, second_body)
    assert ssb.downloads == ["99001", "99001"]
    assert first.changed and second.changed
    assert second.responses[0].body == second_body
    assert second.updated == stamp  # kept as the source sent it


def test_well_formed_unchanged_stamp_still_skips_the_download(tmp_path):
    ssb, first, second = fetch_twice(tmp_path, "2026-01-01T07:00:00Z", b'{"n": 2}')
    assert ssb.downloads == ["99001"] and first.changed and not second.changed


# ----------------------------------------------------------------------- 3. a JSON-stat 1.01 dataset


def test_jsonstat_101_dataset_with_class_but_no_version_says_what_to_request():
    document = {
        "class": "dataset", "label": "Population", "updated": "2012-12-27",
        "value": [1, 2],
        "dimension": {"id": ["sex"], "size": [2], "role": {},
                      "sex": {"category": {"index": {"M": 0, "F": 1}}}},
    }
    with pytest.raises(JsonStatError, match=r"^t\.json: this is a JSON-stat 1\.x dataset \(no 'version', id/size "
                                            r"inside 'dimension'\), not JSON-stat 2\.0; request the json-stat2 "
                                            r"format \(PxWebApi v2: outputFormat=json-stat2"):
        read_jsonstat(document, origin="t.json")


# -------------------------------------------------------------------- 4. a one-element status array


@pytest.mark.parametrize("status, expected", [(["a"], "a"), ([""], None), ([None], None)])
def test_one_element_status_array_applies_to_every_cell(status, expected):
    # json-stat.org's canada sample: 120 cells and "status": ["a"].
    ages = [f"{n}" for n in range(20)]
    table = read_jsonstat(dataset({"age": ages, "sex": ["T", "M", "F"], "concept": ["POP", "PERCENT"]},
                                  list(range(120)), status=status))
    assert len(table.frame) == 120
    assert symbols(table) == [expected] * 120


def test_status_array_of_another_wrong_length_stays_an_error():
    with pytest.raises(JsonStatError, match=r"'status' has 2 cells but the product of 'size' is 3 "
                                            r"\(a status array has one symbol per cell, or one for all\)"):
        read_jsonstat(dataset({"A": ["a", "b", "c"]}, [1, 2, 3], status=["a", "b"]))


# ---------------------------------------------------------------------- 5. categories without a label


def test_categories_without_a_label_get_their_code():
    document = dataset({"state": ["01", "02", "04"], "year": ["2016"]}, [1.5, 2.5, 3.5])
    del document["dimension"]["state"]["category"]["label"]
    document["dimension"]["year"]["category"]["label"] = {}
    table = read_jsonstat(document)
    assert table.dimensions["state"].labels == {"01": "01", "02": "02", "04": "04"}
    assert table.dimensions["year"].labels == {"2016": "2016"}


def test_some_categories_labelled_the_others_get_their_code():
    document = dataset({"A": ["a", "b", "c"]}, [1, 2, 3])
    document["dimension"]["A"]["category"]["label"] = {"b": "Bee"}
    assert read_jsonstat(document).dimensions["A"].labels == {"a": "a", "b": "Bee", "c": "c"}


def test_labels_that_are_not_an_object_are_an_error():
    document = dataset({"A": ["a", "b"]}, [1, 2])
    document["dimension"]["A"]["category"]["label"] = ["A", "B"]
    with pytest.raises(JsonStatError, match=r"dimension 'A': category.label must be an object"):
        read_jsonstat(document)


# ------------------------------------------------------------- 6. dimensions called `status` or `value`


def test_dimensions_called_status_and_value_are_renamed_and_keep_their_codes():
    document = dataset({"Region": ["0301"], "status": ["married", "single"], "value": ["nok", "eur"]},
                       [1, 2, 3, None], status={"3": ":"}, role={"metric": ["value"]})
    with pytest.warns(JsonStatWarning, match=r"dimension\(s\) \['status', 'value'\] renamed "
                                             r"\['status_dimension', 'value_dimension'\]"):
        table = read_jsonstat(document)
    assert table.ids == ["Region", "status_dimension", "value_dimension"]
    assert list(table.frame.columns) == ["Region", "status_dimension", "value_dimension", "value", "status"]
    assert table.frame["status_dimension"].tolist() == ["married", "married", "single", "single"]
    assert table.frame["value_dimension"].tolist() == ["nok", "eur", "nok", "eur"]
    assert table.frame["value"].tolist()[:3] == [1.0, 2.0, 3.0]
    assert symbols(table) == [None, None, None, ":"]
    status_dimension = table.dimensions["status_dimension"]
    assert status_dimension.source_id == "status" and status_dimension.renamed_from == "status"
    assert status_dimension.labels == {"married": "label married", "single": "label single"}
    assert table.roles == {"metric": ["value_dimension"]}
    assert table.dimensions["Region"].source_id == "Region"


def test_renaming_onto_another_dimension_is_refused():
    document = dataset({"value": ["a"], "value_dimension": ["b"]}, [1])
    with pytest.raises(JsonStatError, match=r"dimension 'value' cannot be renamed 'value_dimension' .* also has a "
                                            r"dimension 'value_dimension'"):
        read_jsonstat(document)


# ---------------------------------------------------------------------------- 7. `child` hierarchies


def test_child_hierarchies_are_kept_on_the_dimension():
    document = dataset({"Region": ["0301", "030101", "030102", "030103"]}, [10, 3, 3, 4])
    document["dimension"]["Region"]["category"]["child"] = {"0301": ["030101", "030102", "030103"]}
    table = read_jsonstat(document)
    assert table.dimensions["Region"].children == {"0301": ["030101", "030102", "030103"]}
    regions = dict(zip(table.frame["Region"], table.frame["value"]))
    assert regions["0301"] == sum(regions[code] for code in table.dimensions["Region"].children["0301"])
    assert read_jsonstat(dataset({"A": ["a"]}, [1])).dimensions["A"].children == {}


def test_malformed_child_is_an_error():
    document = dataset({"Region": ["0301", "030101"]}, [1, 1])
    document["dimension"]["Region"]["category"]["child"] = {"0301": "030101"}
    with pytest.raises(JsonStatError, match=r"dimension 'Region': category.child must map a category to the list"):
        read_jsonstat(document)


# ------------------------------------------------------------- 8. status keys that are not cell numbers


@pytest.mark.parametrize("what", ["status", "value"])
def test_keys_that_are_not_cell_numbers_are_named(what):
    document = dataset({"A": ["a", "b", "c"]}, [1, 2, 3])
    document[what] = {"0": ":", "x1": ":"} if what == "status" else {"0": 1, "x1": 2}
    with pytest.raises(JsonStatError, match=rf"^t\.json: '{what}' has the key 'x1', which is not a cell number: "
                                            rf"the keys of a sparse '{what}' object are cell numbers"):
        read_jsonstat(document, origin="t.json")


@pytest.mark.parametrize("key", ["-1", "3", "99999999999999999999999"])
def test_keys_outside_the_cube_are_named(key):
    with pytest.raises(JsonStatError, match=rf"'status' refers to cell {key}, outside 0\.\.2"):
        read_jsonstat(dataset({"A": ["a", "b", "c"]}, [1, 2, 3], status={key: ":"}))
