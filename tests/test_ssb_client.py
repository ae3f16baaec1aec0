"""SSB PxWebApi v2 client: expression resolution, cell splitting, and requests over a real HTTP server."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path

import pytest
from standin import StandinServer, live_http, store_answer
from support import reference

from ci_pipeline.archive import Archive
from ci_pipeline.errors import (
    IllegalSelectionError,
    MissingSelectionError,
    NonExistentCodelistError,
    NonExistentValueError,
    NonExistentVariableError,
    TooManyCellsError,
)
from ci_pipeline.http import HttpClient
from ci_pipeline.sources.ssb import Selection, SsbClient, plan_chunks, resolve_values

DATA_PARAMS = {"lang": "no", "outputFormat": "json-stat2"}
YEARS = [str(year) for year in range(2015, 2024)]
REGIONS = ["0301", "1103", "4601", "5001", "3101", "3103"]


# ---------------------------------------------------------------- resolve_values


@pytest.mark.parametrize(
    ("expressions", "expected"),
    [
        (["0301", "4601"], ["0301", "4601"]),
        (["0301", "0301a"], ["0301", "0301a"]),
        (["*"], REGIONS + ["0301a"]),
        (["03*"], ["0301", "0301a"]),
        (["*01"], ["0301", "4601", "5001", "3101"]),
        (["*10*"], ["1103", "3101", "3103"]),
        (["????"], REGIONS),
        (["?10?"], ["1103", "3101", "3103"]),
        (["top(2)"], ["0301", "1103"]),
        (["top(2,1)"], ["1103", "4601"]),
        (["bottom(2)"], ["3103", "0301a"]),
        (["bottom(1,1)"], ["3103"]),
        (["from(3101)"], ["3101", "3103", "0301a"]),
        (["to(4601)"], ["0301", "1103", "4601"]),
        (["range(5001,1103)"], ["1103", "4601", "5001"]),
        (["5001", "03*"], ["5001", "0301", "0301a"]),
        (["03*", "0301"], ["0301", "0301a"]),
    ],
)
def test_resolve_values_for_each_expression_kind(expressions: list[str], expected: list[str]) -> None:
    assert resolve_values(expressions, REGIONS + ["0301a"]) == expected


def test_top_and_bottom_count_from_the_newest_for_time() -> None:
    assert resolve_values(["top(3)"], YEARS, is_time=True) == ["2021", "2022", "2023"]
    assert resolve_values(["top(2,1)"], YEARS, is_time=True) == ["2021", "2022"]
    assert resolve_values(["bottom(2)"], YEARS, is_time=True) == ["2015", "2016"]
    assert resolve_values(["bottom(2,1)"], YEARS, is_time=True) == ["2016", "2017"]


def test_codes_match_case_insensitively_and_keep_the_table_spelling() -> None:
    assert resolve_values(["personer1", "TOP(1)"], ["Personer1", "Andel"]) == ["Personer1"]


def test_resolve_values_against_codelist_codes() -> None:
    bydeler = ["030101a", "030102a", "030115a", "030116a", "110301", "460101"]
    assert resolve_values(["0301??a"], bydeler) == ["030101a", "030102a", "030115a", "030116a"]
    assert resolve_values(["from(030116a)"], bydeler) == ["030116a", "110301", "460101"]


@pytest.mark.parametrize(
    ("expressions", "error", "fragment"),
    [
        (["9999"], NonExistentValueError, "'9999'"),
        (["from(1999)"], NonExistentValueError, "'1999'"),
        (["range(2015,1999)"], NonExistentValueError, "'1999'"),
        (["19*"], NonExistentValueError, "selects no value code"),
        (["2*1*"], IllegalSelectionError, "illegal selection expression"),
        (["top(0)"], IllegalSelectionError, "illegal selection expression"),
        (["top(a)"], IllegalSelectionError, "illegal selection expression"),
        (["2015", "2016", "2015"], IllegalSelectionError, "listed twice"),
    ],
)
def test_resolve_values_rejects_bad_selections_before_sending(
    expressions: list[str], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match="variable 'Tid'") as caught:
        resolve_values(expressions, YEARS, is_time=True, variable="Tid", table="07459", url="https://x/data")
    assert fragment in str(caught.value)
    assert "table 07459" in str(caught.value)
    assert "https://x/data" in str(caught.value)


# ---------------------------------------------------------------- plan_chunks


def resolved(item: Selection, codes: dict[str, list[str]]) -> list[str]:
    return resolve_values(item.values, codes[item.variable], is_time=item.variable == "Tid")


def cells(chunks: list[list[Selection]], codes: dict[str, list[str]]) -> Counter:
    """Every cell the chunks select, with how many chunks select it."""
    return Counter(
        cell for chunk in chunks for cell in itertools.product(*(resolved(s, codes) for s in chunk))
    )


def region_period_pairs(chunks: list[list[Selection]], codes: dict[str, list[str]]) -> Counter:
    """(region, period) pairs over the chunks; with the other variables unchanged this is the cell cover."""
    return Counter(
        pair
        for chunk in chunks
        for pair in itertools.product(resolved(chunk[0], codes), resolved(chunk[-1], codes))
    )


def chunk_size(chunk: list[Selection], codes: dict[str, list[str]]) -> int:
    return math.prod(len(resolved(s, codes)) for s in chunk)


@pytest.fixture
def population_codes() -> dict[str, list[str]]:
    """A 10826/07459-like table: 1,000 regions x 2 sexes x 106 ages x 1 content x 30 years."""
    return {
        "Region": [f"{n:04d}" for n in range(1000)],
        "Kjonn": ["1", "2"],
        "Alder": [f"{n:03d}" for n in range(106)],
        "ContentsCode": ["Personer1"],
        "Tid": [str(year) for year in range(1995, 2025)],
    }


def test_small_selection_is_sent_unchanged(population_codes: dict[str, list[str]]) -> None:
    selection = [
        Selection("Region", ["03*"]),
        Selection("Kjonn", ["*"]),
        Selection("Alder", ["*"]),
        Selection("ContentsCode", ["Personer1"]),
        Selection("Tid", ["top(5)"]),
    ]
    assert plan_chunks(selection, population_codes, 800_000) == [selection]


def test_large_selection_is_split_by_region_first(population_codes: dict[str, list[str]]) -> None:
    selection = [
        Selection("Region", ["*"]),
        Selection("Kjonn", ["*"]),
        Selection("Alder", ["*"]),
        Selection("ContentsCode", ["Personer1"]),
        Selection("Tid", ["top(10)"]),
    ]
    chunks = plan_chunks(selection, population_codes, 800_000)
    # 1,000 x 2 x 106 x 10 = 2,120,000 cells; 2,120 per region -> 377 regions per chunk.
    assert [len(chunk[0].values) for chunk in chunks] == [377, 377, 246]
    assert all(chunk_size(chunk, population_codes) <= 800_000 for chunk in chunks)
    assert all(chunk[1:] == selection[1:] for chunk in chunks)  # time keeps its expression
    # Union == full selection, and no cell is fetched twice.
    assert region_period_pairs(chunks, population_codes) == region_period_pairs([selection], population_codes)
    assert set(region_period_pairs(chunks, population_codes).values()) == {1}


def test_selection_too_large_for_one_region_is_split_by_time_too(
    population_codes: dict[str, list[str]],
) -> None:
    codes = {**population_codes, "ContentsCode": [f"C{n}" for n in range(130)]}
    selection = [
        Selection("Region", ["000?"]),
        Selection("Kjonn", ["*"]),
        Selection("Alder", ["*"]),
        Selection("ContentsCode", ["*"]),
        Selection("Tid", ["*"]),
    ]
    chunks = plan_chunks(selection, codes, 800_000)
    # one region = 2 x 106 x 130 x 30 = 826,800 cells; 27,560 per period -> 29 periods per chunk.
    assert len(chunks) == 10 * 2
    assert all(len(chunk[0].values) == 1 for chunk in chunks)
    assert sorted({len(chunk[4].values) for chunk in chunks}) == [1, 29]
    assert all(chunk_size(chunk, codes) <= 800_000 for chunk in chunks)
    assert all(chunk[1:4] == selection[1:4] for chunk in chunks)
    assert region_period_pairs(chunks, codes) == region_period_pairs([selection], codes)
    assert set(region_period_pairs(chunks, codes).values()) == {1}


@pytest.mark.parametrize("max_cells", [7, 12, 30, 59, 60, 119])
def test_every_cell_is_fetched_exactly_once_whatever_the_limit(max_cells: int) -> None:
    codes = {"Region": REGIONS, "Kjonn": ["1", "2"], "Alder": ["000", "001", "002"], "Tid": YEARS}
    selection = [
        Selection("Region", ["*"]),
        Selection("Kjonn", ["*"]),
        Selection("Alder", ["to(001)"]),
        Selection("Tid", ["top(5)"]),
    ]
    chunks = plan_chunks(selection, codes, max_cells)
    assert all(chunk_size(chunk, codes) <= max_cells for chunk in chunks)
    assert cells(chunks, codes) == cells([selection], codes)
    assert set(cells(chunks, codes).values()) == {1}


def test_split_uses_the_named_region_and_time_variables_and_keeps_codelists() -> None:
    codes = {
        "KOKbydelsregion0000": [f"0301{n:02d}" for n in range(1, 16)],
        "ContentsCode": ["A", "B"],
        "Tid": YEARS,
    }
    selection = [
        Selection("KOKbydelsregion0000", ["*"], codelist="vs_Bydeler"),
        Selection("ContentsCode", ["*"]),
        Selection("Tid", ["*"]),
    ]
    chunks = plan_chunks(selection, codes, 100, region_variable="KOKbydelsregion0000")
    assert [chunk[0].values for chunk in chunks] == [
        codes["KOKbydelsregion0000"][:5],
        codes["KOKbydelsregion0000"][5:10],
        codes["KOKbydelsregion0000"][10:],
    ]
    assert all(chunk[0].codelist == "vs_Bydeler" for chunk in chunks)


def test_impossible_split_raises_before_anything_is_sent(population_codes: dict[str, list[str]]) -> None:
    codes = {**population_codes, "ContentsCode": [f"C{n}" for n in range(4000)]}
    selection = [Selection(name, ["*"]) for name in codes]
    with pytest.raises(TooManyCellsError) as caught:
        plan_chunks(selection, codes, 800_000, table="10826", url="https://x/tables/10826/data")
    message = str(caught.value)
    assert "one region x one period is 848,000 cells" in message
    assert "table 10826" in message and "https://x/tables/10826/data" in message
    assert "narrow the selection" in message


def test_unknown_variable_is_named(population_codes: dict[str, list[str]]) -> None:
    with pytest.raises(NonExistentVariableError, match="'Kommune'"):
        plan_chunks([Selection("Kommune", ["*"])], population_codes, 800_000, table="07459")


# ---------------------------------------------------------------- SsbClient over HTTP


def live_client(server: StandinServer, tmp_path: Path, **kwargs) -> SsbClient:
    return SsbClient(live_http(server, "ssb", tmp_path), **kwargs)


REAL_03024_SELECTION = [
    Selection("VareGrupper2", ["01", "02"]),
    Selection("ContentsCode", ["Vekt", "Kilopris"]),
    Selection("Tid", ["from(2025U01)"]),
]
# The body sent to SSB for the real 03024 answer (its .source.txt).
REAL_03024_BODY = {
    "selection": [
        {"variableCode": "VareGrupper2", "valueCodes": ["01", "02"]},
        {"variableCode": "ContentsCode", "valueCodes": ["Vekt", "Kilopris"]},
        {"variableCode": "Tid", "valueCodes": ["from(2025U01)"]},
    ]
}


@pytest.fixture
def table_03024(tmp_path: Path) -> tuple[Archive, bytes]:
    data = reference("ssb", "ssb_v2_POST_03024_data_jsonstat2.json").read_bytes()
    metadata = {k: v for k, v in json.loads(data).items() if k not in ("value", "status")}
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(
        snapshots,
        "ssb",
        "03024",
        "GET",
        "tables/03024/metadata",
        params=DATA_PARAMS,
        body=json.dumps(metadata).encode(),
        provenance="reconstructed",
        note="the real 03024 data answer without value/status",
    )
    store_answer(
        snapshots,
        "ssb",
        "03024",
        "POST",
        "tables/03024/data",
        params=DATA_PARAMS,
        request_body=REAL_03024_BODY,
        body=data,
    )
    return snapshots, data


@pytest.mark.reference
def test_table_info_and_updated_from_the_real_03013_answer(tmp_path: Path) -> None:
    body = reference("ssb", "ssb_v2_table_03013_from_beta-bruker-doc.json").read_bytes()
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(snapshots, "ssb", "03013", "GET", "tables/03013", params={"lang": "no"}, body=body)
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path)
        assert client.table_info("03013")["label"].startswith("03013: Konsumprisindeks")
        assert client.updated("03013") == "2024-11-11T07:00:00Z"
    archived = list(Archive(tmp_path / "warehouse").entries("ssb"))
    assert {a.source_updated for a in archived} == {"2024-11-11T07:00:00Z"}


@pytest.mark.reference
def test_unsplit_data_request_is_the_catalogue_selection_byte_for_byte(
    table_03024: tuple[Archive, bytes], tmp_path: Path
) -> None:
    snapshots, data = table_03024
    with StandinServer(snapshots.root) as server:
        answers = live_client(server, tmp_path).data("03024", REAL_03024_SELECTION)
        assert server.count("ssb/tables/03024/metadata", method="GET") == 1
        assert server.count("ssb/tables/03024/data", method="POST") == 1
    assert len(answers) == 1
    assert answers[0].body == data
    assert answers[0].request_body == REAL_03024_BODY
    assert answers[0].source_updated == "2025-12-03T07:00:00Z"

    replayed = SsbClient(
        HttpClient(
            "ssb",
            "http://127.0.0.1:9/",
            mode="replay",
            snapshot_archive=snapshots,
            warehouse_archive=Archive(tmp_path / "w2"),
        )
    ).data("03024", REAL_03024_SELECTION)
    assert replayed[0].body == data


@pytest.mark.reference
def test_data_is_split_by_time_when_the_table_has_no_region(
    table_03024: tuple[Archive, bytes], tmp_path: Path
) -> None:
    snapshots, _ = table_03024
    weeks = [f"2025U{n:02d}" for n in range(1, 49)]
    expected_bodies = []
    for part in (weeks[:25], weeks[25:]):
        body = {
            "selection": [
                REAL_03024_BODY["selection"][0],
                REAL_03024_BODY["selection"][1],
                {"variableCode": "Tid", "valueCodes": part},
            ]
        }
        expected_bodies.append(body)
        store_answer(
            snapshots,
            "ssb",
            "03024",
            "POST",
            "tables/03024/data",
            params=DATA_PARAMS,
            request_body=body,
            body=json.dumps({"part": part[0]}).encode(),
            provenance="illustrative",
        )
    with StandinServer(snapshots.root) as server:
        # 2 x 2 x 48 = 192 cells; with a limit of 100, 4 cells per week -> 25 weeks per request.
        answers = live_client(server, tmp_path, max_cells=100).data("03024", REAL_03024_SELECTION)
        assert server.count("ssb/tables/03024/data") == 2
    assert [a.request_body for a in answers] == expected_bodies
    assert [a.json()["part"] for a in answers] == ["2025U01", "2025U26"]


@pytest.mark.reference
def test_checks_against_real_11118_metadata_send_no_data_request(tmp_path: Path) -> None:
    metadata = reference("ssb", "ssb_v2_metadata_11118_jsonstat2_from_beta-bruker-doc.json").read_bytes()
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(snapshots, "ssb", "11118", "GET", "tables/11118/metadata", params=DATA_PARAMS, body=metadata)
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path, max_cells=10)
        with pytest.raises(MissingSelectionError, match=r"\['Tid'\]"):
            client.data("11118", [Selection("Leveringssektor", ["*"]), Selection("ContentsCode", ["*"])])
        with pytest.raises(NonExistentVariableError, match="'Region'"):
            client.data(
                "11118",
                [Selection("Region", ["*"]), Selection("ContentsCode", ["*"]), Selection("Tid", ["*"])],
            )
        with pytest.raises(TooManyCellsError, match="one region x one period is 28 cells") as caught:
            client.data(
                "11118",
                [
                    Selection("Leveringssektor", ["*"]),
                    Selection("ContentsCode", ["*"]),
                    Selection("Tid", ["top(3)"]),
                ],
            )
        assert server.count("ssb/tables/11118/data") == 0
    assert f"{server.base_urls['ssb']}tables/11118/data?lang=no&outputFormat=json-stat2" in str(caught.value)


ILLUSTRATIVE_METADATA = {
    "version": "2.0",
    "class": "dataset",
    "label": "illustrative bydel table",
    "updated": "2025-01-01T07:00:00Z",
    "role": {"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]},
    "id": ["Region", "ContentsCode", "Tid"],
    "size": [2, 1, 3],
    "dimension": {
        "Region": {
            "label": "region",
            "category": {"index": {"0301": 0, "4601": 1}},
            "extension": {"elimination": True},
        },
        "ContentsCode": {
            "label": "statistikkvariabel",
            "category": {"index": {"Personer": 0}},
            "extension": {"elimination": False},
        },
        "Tid": {
            "label": "år",
            "category": {"index": {"2022": 0, "2023": 1, "2024": 2}},
            "extension": {"elimination": False},
        },
    },
}
ILLUSTRATIVE_CODELIST = {
    "id": "vs_Bydeler4StoreByerNye2",
    "label": "Bydeler",
    "type": "Valueset",
    "values": [
        {"code": code, "label": code, "valueMap": [code]}
        for code in ["030101a", "030102a", "030103a", "460101a", "460102a"]
    ],
}


def test_codelist_selection_is_resolved_against_the_codelist_and_split(tmp_path: Path) -> None:
    snapshots = Archive(tmp_path / "snapshots")
    store_answer(
        snapshots,
        "ssb",
        "99001",
        "GET",
        "tables/99001/metadata",
        params=DATA_PARAMS,
        body=json.dumps(ILLUSTRATIVE_METADATA).encode(),
        provenance="illustrative",
    )
    store_answer(
        snapshots,
        "ssb",
        "codelists",
        "GET",
        "codeLists/vs_Bydeler4StoreByerNye2",
        params={"lang": "no"},
        body=json.dumps(ILLUSTRATIVE_CODELIST).encode(),
        provenance="illustrative",
    )
    oslo = ["030101a", "030102a", "030103a"]
    for part in (oslo[:2], oslo[2:]):
        body = {
            "selection": [
                {"variableCode": "Region", "valueCodes": part, "codelist": "vs_Bydeler4StoreByerNye2"},
                {"variableCode": "ContentsCode", "valueCodes": ["Personer"]},
                {"variableCode": "Tid", "valueCodes": ["*"]},
            ]
        }
        store_answer(
            snapshots,
            "ssb",
            "99001",
            "POST",
            "tables/99001/data",
            params=DATA_PARAMS,
            request_body=body,
            body=json.dumps({"regions": part}).encode(),
            provenance="illustrative",
        )
    selection = [
        Selection("Region", ["0301*"], codelist="vs_Bydeler4StoreByerNye2"),
        Selection("ContentsCode", ["Personer"]),
        Selection("Tid", ["*"]),
    ]
    with StandinServer(snapshots.root) as server:
        client = live_client(server, tmp_path, max_cells=6)
        answers = client.data("99001", selection)
        with pytest.raises(NonExistentCodelistError, match="'vs_Nowhere'"):
            client.data(
                "99001",
                [
                    Selection("Region", ["*"], codelist="vs_Nowhere"),
                    Selection("ContentsCode", ["Personer"]),
                    Selection("Tid", ["*"]),
                ],
            )
        assert server.count("ssb/codeLists/vs_Bydeler4StoreByerNye2") == 1
        assert server.count("ssb/tables/99001/data") == 2
    # 3 bydeler x 1 x 3 years = 9 cells > 6: two bydeler (6 cells) per request.
    assert [a.json()["regions"] for a in answers] == [oslo[:2], oslo[2:]]
