"""The embedded snapshot archive (data/snapshots/ssb, data/snapshots/fhi) and its builder.

Checks that every SSB/FHI catalogue entry can be answered in replay mode, that the answers carry the
right provenance and the APIs' real shapes, that the 10826 reconstruction holds the real StatBank
numbers, that the builder is deterministic and that the committed snapshot is what it builds today.
"""

from __future__ import annotations

import re
from math import prod
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REFERENCE, load_tool, reference

from ci_pipeline.archive import Archive, ArchivedResponse, request_key
from ci_pipeline.jsonstat import read_jsonstat_metadata
from ci_pipeline.settings import FHI_BASE_URL, SSB_BASE_URL
from ci_pipeline.sources.ssb import resolve_values

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "assets" / "sources"
SNAPSHOTS = REPO / "data" / "snapshots"


def load_entries() -> list[dict[str, Any]]:
    entries = []
    for source in ("ssb", "fhi"):
        for path in sorted((CATALOGUE / source).glob("*.yaml")):
            entry = yaml.safe_load(path.read_text(encoding="utf-8"))
            entry.setdefault("name", f"{source}_{entry['table_id']}")
            entries.append(entry)
    return entries


ENTRIES = load_entries()
SSB_ENTRIES = [entry for entry in ENTRIES if entry["source"] == "ssb"]
FHI_ENTRIES = [entry for entry in ENTRIES if entry["source"] == "fhi"]


def entry_id(entry: dict[str, Any]) -> str:
    return entry["name"]


def requests_for(entry: dict[str, Any]) -> list[tuple[str, str, str, dict[str, str], Any]]:
    """(resource, method, path, params, body) of every request the clients send for an entry, written
    out from docs/ARCHITECTURE.md independently of the builder."""
    table = entry["table_id"]
    if entry["source"] == "ssb":
        data_params = {"lang": "no", "outputFormat": "json-stat2"}
        selection = []
        for item in entry["selection"]:
            part = {"variableCode": item["variable"], "valueCodes": item["values"]}
            if item.get("codelist"):
                part["codelist"] = item["codelist"]
            selection.append(part)
        found = [
            (table, "GET", f"tables/{table}", {"lang": "no"}, None),
            (table, "GET", f"tables/{table}/metadata", data_params, None),
            (table, "POST", f"tables/{table}/data", data_params, {"selection": selection}),
        ]
        found += [
            ("codelists", "GET", f"codeLists/{item['codelist']}", {"lang": "no"}, None)
            for item in entry["selection"]
            if item.get("codelist")
        ]
        return found
    base = f"{entry['fhi_source']}/table/{table}"
    body = {
        "dimensions": entry["dimensions_filter"],
        "response": {"format": "json-stat2", "maxRowCount": 50000},
    }
    return [
        (table, "GET", base, {}, None),
        (table, "GET", f"{base}/query", {}, None),
        (table, "GET", f"{base}/flag", {}, None),
        (table, "POST", f"{base}/data", {}, body),
    ]


def answer(
    entry: dict[str, Any], resource: str, method: str, path: str, params: dict, body: Any
) -> ArchivedResponse:
    found = Archive(SNAPSHOTS).latest(entry["source"], resource, request_key(method, path, params, body))
    assert found is not None, f"{entry['name']}: the snapshot has no answer to {method} {path} {params}"
    return found


def data_answer(entry: dict[str, Any]) -> ArchivedResponse:
    return answer(entry, *next(request for request in requests_for(entry) if request[1] == "POST"))


def cell(dataset: dict[str, Any], **codes: str) -> tuple[Any, Any]:
    """(value, status) of one cell of a JSON-stat2 dataset, addressed by its codes."""
    position = 0
    for axis, dim_id in enumerate(dataset["id"]):
        index = dataset["dimension"][dim_id]["category"]["index"]
        offset = index.index(codes[dim_id]) if isinstance(index, list) else index[codes[dim_id]]
        position += offset * prod(dataset["size"][axis + 1 :])
    status = dataset.get("status") or {}
    return dataset["value"][position], status.get(str(position))


def load_builder():
    return load_tool("build_snapshots")


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


# --- every catalogue entry is answered ---------------------------------------------------------------


def test_catalogue_has_ssb_and_fhi_entries():
    assert {entry["table_id"] for entry in SSB_ENTRIES} >= {"10826", "07459", "06944", "08764", "13563"}
    assert len(FHI_ENTRIES) >= 6


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_snapshot_answers_every_request_of_the_entry(entry):
    base_url = SSB_BASE_URL if entry["source"] == "ssb" else FHI_BASE_URL
    for request in requests_for(entry):
        found = answer(entry, *request)
        assert found.status == 200
        assert found.provenance == entry["snapshot_provenance"]
        assert found.url.startswith(base_url + request[2])
        assert found.headers["content-type"].startswith("application/json")
        assert found.note, "every snapshot answer says how it was built"
        found.json()


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_table_info_and_data_carry_the_source_updated_stamp(entry):
    info = answer(entry, *requests_for(entry)[0])
    data = data_answer(entry)
    stamp = info.json()["updated"] if entry["source"] == "ssb" else info.json()["modifiedAt"]
    assert info.source_updated == stamp == data.json()["updated"] == data.source_updated
    assert stamp < info.retrieved_at, "a source cannot change after it was retrieved"


def test_illustrative_answers_are_labelled_illustrative_in_their_note():
    for entry in ENTRIES:
        if entry["snapshot_provenance"] == "illustrative":
            assert "ILLUSTRATIVE" in data_answer(entry).note.upper()
            assert "illustrative" in entry["description"].lower()


def test_fhi_table_list_names_every_fhi_table_with_modified_at():
    listing = Archive(SNAPSHOTS).latest("fhi", "catalogue", request_key("GET", "nokkel/table"))
    assert listing is not None and listing.provenance == "illustrative"
    tables = {str(table["tableId"]): table["modifiedAt"] for table in listing.json()}
    assert set(tables) == {entry["table_id"] for entry in FHI_ENTRIES}


# --- the APIs' real shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", SSB_ENTRIES, ids=entry_id)
def test_ssb_metadata_has_no_values_and_data_matches_the_selection(entry):
    metadata = answer(entry, *requests_for(entry)[1]).json()
    assert "value" not in metadata and metadata["class"] == "dataset"
    dimensions = read_jsonstat_metadata(metadata, origin=entry_id(entry)).dimensions
    data = data_answer(entry).json()
    assert len(data["value"]) == prod(data["size"])
    assert data["id"] == [item["variable"] for item in entry["selection"]]
    for item in entry["selection"]:
        index = data["dimension"][item["variable"]]["category"]["index"]
        assert isinstance(index, dict)
        available = list(dimensions[item["variable"]].codes)
        if item.get("codelist"):
            codelist = answer(entry, "codelists", "GET", f"codeLists/{item['codelist']}", {"lang": "no"}, None)
            available = [value["code"] for value in codelist.json()["values"]]
        wanted = resolve_values(item["values"], available, is_time=item["variable"] == "Tid")
        assert sorted(index) == sorted(wanted)


@pytest.mark.parametrize("entry", FHI_ENTRIES, ids=entry_id)
def test_fhi_data_has_fhi_quirks_and_flags_as_codes(entry):
    data = data_answer(entry).json()
    assert data["role"] == {"time": None, "geo": None, "metric": ["MEASURE_TYPE"]}
    assert data["href"] is None and data["source"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00", data["updated"])
    assert data["id"] == [item["code"] for item in entry["dimensions_filter"]]
    assert all(isinstance(dimension["category"]["index"], list) for dimension in data["dimension"].values())
    assert len(data["value"]) == prod(data["size"])
    status = data["status"] or {}
    assert set(status.values()) <= {"1", "2", "3"}
    assert all(data["value"][int(position)] is None for position in status)


def test_fhi_snapshots_use_all_three_flags():
    flags = set()
    for entry in FHI_ENTRIES:
        flags |= set((data_answer(entry).json()["status"] or {}).values())
    assert flags == {"1", "2", "3"}


# --- the 10826 reconstruction ------------------------------------------------------------------------


def population_data() -> dict[str, Any]:
    return data_answer(next(entry for entry in SSB_ENTRIES if entry["name"] == "ssb_10826")).json()


def test_10826_holds_real_numbers_from_the_statbank_export():
    data = population_data()
    assert cell(data, Region="030100aa", Alder="000", ContentsCode="Personer1", Tid="2021") == (8843, None)
    assert cell(data, Region="120101", Alder="010", ContentsCode="Personer1", Tid="2019") == (198, None)
    # A genuine 0 inside a living region-year stays 0.
    assert cell(data, Region="030101a", Alder="101", ContentsCode="Personer1", Tid="2019") == (0, None)
    assert "Kjonn" not in data["id"]
    assert list(data["dimension"]["Alder"]["category"]["index"])[-2:] == ["104", "105+"]


@pytest.mark.parametrize(
    "region, year",
    [("030101", "2004"), ("460101", "2019"), ("030100aa", "2001"), ("120101", "2020"), ("500101", "2017")],
)
def test_10826_region_years_outside_a_regions_lifetime_cannot_occur(region, year):
    assert cell(population_data(), Region=region, Alder="030", ContentsCode="Personer1", Tid=year) == (
        None,
        ".",
    )


def test_10826_equals_the_export_cell_for_cell():
    reference()
    export = load_builder().read_10826_export(REFERENCE)
    data = population_data()
    regions = list(data["dimension"]["Region"]["category"]["index"])
    ages = list(data["dimension"]["Alder"]["category"]["index"])
    years = list(data["dimension"]["Tid"]["category"]["index"])
    assert (set(regions), set(ages), years) == (
        set(export.region_labels),
        set(export.age_labels),
        export.years,
    )
    status = data["status"]
    position = 0
    for region in regions:
        for age in ages:
            for year in years:
                count = export.persons[region, age, year]
                if export.region_alive(region, year):
                    assert (data["value"][position], status.get(str(position))) == (count, None)
                else:
                    assert (count, data["value"][position], status[str(position)]) == (0, None, ".")
                position += 1


def test_10826_publishes_the_real_population_of_1_january_2024():
    data = population_data()
    ages = list(data["dimension"]["Alder"]["category"]["index"])

    def total(region: str) -> int:
        return sum(cell(data, Region=region, Alder=age, ContentsCode="Personer1", Tid="2024")[0] for age in ages)

    assert list(data["dimension"]["Tid"]["category"]["index"])[-4:] == ["2021", "2022", "2023", "2024"]
    assert total("030100aa") == 717_710
    assert total("030101a") == 63_712


def municipal_data() -> dict[str, Any]:
    return data_answer(next(entry for entry in SSB_ENTRIES if entry["table_id"] == "07459")).json()


def test_07459_holds_only_real_years_without_an_invented_sex_split():
    municipal = municipal_data()
    assert "Kjonn" not in municipal["id"]
    assert list(municipal["dimension"]["Tid"]["category"]["index"]) == ["2022", "2023", "2024"]
    assert "status" not in municipal


def test_07459_equals_the_exports_cell_for_cell():
    reference()
    export = load_builder().read_07459_export(REFERENCE)
    municipal = municipal_data()
    ages = list(municipal["dimension"]["Alder"]["category"]["index"])
    assert set(ages) == set(export.age_labels)
    national = {year: 0 for year in export.years}
    for (region, age, year), count in export.persons.items():
        national[year] += count
        if region == "K-0301":
            assert cell(municipal, Region="0301", Alder=age, ContentsCode="Personer1", Tid=year) == (count, None)
    for year in export.years:
        assert national[year] == sum(
            cell(municipal, Region="0", Alder=age, ContentsCode="Personer1", Tid=year)[0] for age in ages
        )
    assert national == {"2022": 5_425_270, "2023": 5_488_984, "2024": 5_550_203}


def test_07459_oslo_equals_the_10826_oslo_total():
    municipal = municipal_data()
    districts = population_data()
    ages = list(districts["dimension"]["Alder"]["category"]["index"])
    for year in ("2022", "2023", "2024"):
        for age in ages:
            assert (
                cell(municipal, Region="0301", Alder=age, ContentsCode="Personer1", Tid=year)
                == cell(districts, Region="030100aa", Alder=age, ContentsCode="Personer1", Tid=year)
            )


# --- the builder -------------------------------------------------------------------------------------


def test_builder_is_deterministic_and_the_committed_snapshot_is_current(tmp_path):
    reference()
    builder = load_builder()
    first, second = tmp_path / "first", tmp_path / "second"
    builder.build(REFERENCE, first, CATALOGUE)
    builder.build(REFERENCE, second, CATALOGUE)
    built = tree(first)
    assert built and built == tree(second)
    committed = {
        name: content for name, content in tree(SNAPSHOTS).items() if name.split("/")[0] in ("ssb", "fhi")
    }
    assert committed == built, "data/snapshots is stale: run .venv/bin/python tools/build_snapshots.py"


def build_with_changed_entry(tmp_path: Path, name: str, change) -> None:
    """Build from a catalogue holding only the SSB entry `name`, after `change(entry)`."""
    reference()
    catalogue = tmp_path / "sources"
    (catalogue / "ssb").mkdir(parents=True)
    (catalogue / "fhi").mkdir()
    entry = yaml.safe_load((CATALOGUE / "ssb" / f"{name}.yaml").read_text(encoding="utf-8"))
    change(entry)
    (catalogue / "ssb" / f"{name}.yaml").write_text(yaml.safe_dump(entry), encoding="utf-8")
    load_builder().build(REFERENCE, tmp_path / "out", catalogue)


def test_builder_rejects_a_selection_value_the_table_does_not_have(tmp_path):
    def unknown_region(entry):
        entry["selection"][0]["values"] = ["0301", "9999"]

    with pytest.raises(Exception, match=r"ssb_13563.*Region.*9999") as caught:
        build_with_changed_entry(tmp_path, "ssb_13563", unknown_region)
    assert type(caught.value).__name__ == "BuildError"


def test_builder_refuses_a_sex_split_the_population_exports_do_not_have(tmp_path):
    def with_sex(entry):
        entry["selection"].insert(1, {"variable": "Kjonn", "values": ["1", "2"]})
        entry["dimensions"]["sex"] = "Kjonn"

    with pytest.raises(Exception, match=r"07459.*no sex split") as caught:
        build_with_changed_entry(tmp_path, "ssb_07459", with_sex)
    assert type(caught.value).__name__ == "BuildError"


def test_builder_refuses_an_export_that_repeats_a_year(tmp_path):
    real = reference()
    builder = load_builder()
    copy = tmp_path / "reference"
    (copy / "ssb").mkdir(parents=True)
    for path in (real / "ssb").glob(builder.EXPORT_10826):
        (copy / "ssb" / path.name).write_bytes(path.read_bytes())
    original = copy / "ssb" / "ssb_10826_bydel_population_Personerward2024.csv"
    (copy / "ssb" / "ssb_10826_bydel_population_Personerward2024b.csv").write_bytes(original.read_bytes())
    with pytest.raises(builder.BuildError, match=r"Personerward2024b?\.csv line 3: years \['2024'\] repeat"):
        builder.read_10826_export(copy)


# --- replay through the real clients and the reader ----------------------------------------------------

def replay_clients(warehouse: Path):
    from ci_pipeline.http import HttpClient
    from ci_pipeline.sources.fhi import FhiClient
    from ci_pipeline.sources.ssb import SsbClient

    def http(source: str, base_url: str) -> HttpClient:
        return HttpClient(
            source,
            base_url,
            mode="replay",
            snapshot_archive=Archive(SNAPSHOTS),
            warehouse_archive=Archive(warehouse),
        )

    return SsbClient(http("ssb", SSB_BASE_URL)), FhiClient(http("fhi", FHI_BASE_URL))


def test_every_catalogue_entry_replays_into_tidy_observations(tmp_path):
    ssb, fhi = replay_clients(tmp_path / "warehouse")
    from ci_pipeline.catalogue import load_catalogue
    from ci_pipeline.jsonstat import read_jsonstat
    from ci_pipeline.sources.ssb import Selection
    from ci_pipeline.tidy import to_tidy

    specs = [spec for spec in load_catalogue(REPO / "assets") if spec.source in ("ssb", "fhi")]
    assert {spec.name for spec in specs} == {entry["name"] for entry in ENTRIES}
    assert {str(table["tableId"]) for table in fhi.tables()} == {e["table_id"] for e in FHI_ENTRIES}
    for spec in specs:
        if spec.source == "ssb":
            assert ssb.table_info(spec.table_id)["id"] == spec.table_id
            selection = [
                Selection(item["variable"], list(item["values"]), item.get("codelist"))
                for item in spec.selection
            ]
            answers = ssb.data(spec.table_id, selection)
        else:
            assert str(fhi.table(spec.table_id)["tableId"]) == spec.table_id
            assert fhi.flags(spec.table_id)
            answers = [fhi.data(spec.table_id, spec.dimensions_filter)]
        for response in answers:
            table = read_jsonstat(response.body, origin=response.url)
            tidy = to_tidy(
                table,
                spec,
                provenance=response.provenance,
                snapshot_sha256=response.sha256,
                retrieved_at=response.retrieved_at,
                source_updated=response.source_updated,
            )
            assert len(tidy) > 0, spec.name
            assert set(tidy["provenance"]) == {spec.snapshot_provenance}, spec.name
            assert set(tidy["snapshot_sha256"]) == {response.sha256}
            expected = {
                entry["indicator_id"] for entry in spec.indicators.values() if "indicator_id" in entry
            }
            assert set(tidy["indicator_id"]) == expected, spec.name
            # Suppressed or impossible cells keep their symbol and are never 0.
            flagged = tidy[tidy["status"].notna()]
            assert flagged["value"].isna().all(), spec.name


def test_replayed_fhi_flags_become_status_symbols(tmp_path):
    _, fhi = replay_clients(tmp_path / "warehouse")
    from ci_pipeline.catalogue import load_catalogue
    from ci_pipeline.jsonstat import read_jsonstat
    from ci_pipeline.tidy import to_tidy

    symbols = set()
    for spec in load_catalogue(REPO / "assets"):
        if spec.source == "fhi":
            response = fhi.data(spec.table_id, spec.dimensions_filter)
            tidy = to_tidy(
                read_jsonstat(response.body),
                spec,
                provenance=response.provenance,
                snapshot_sha256=response.sha256,
                retrieved_at=response.retrieved_at,
                source_updated=response.source_updated,
            )
            symbols |= set(tidy["status"].dropna())
    assert symbols == {"..", ".", ":"}
