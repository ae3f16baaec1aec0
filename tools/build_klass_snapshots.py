"""Write the KLASS answers the pipeline requests (geography.KLASS_REQUESTS) into the snapshot archive.

Deterministic: the same reference files give the same archive, byte for byte. Each answer is labelled:
- reconstructed: re-encoded from the real KLASS files in ../shared/reference/klass (JSON re-serialised;
  the CSV exports of classification 103 versions 398/919 and of 131 for 2020 turned into the JSON
  shape the JSON endpoint answers with);
- illustrative: answers no reference file holds, constructed from documented facts: /changes for 131
  and 104 (the 2018, 2020 and 2024 reforms as described in docs/SOURCES.md section 4; the 2024
  renumbering complete, the 2018/2020 reforms only for the municipalities the harmonisation rules
  name) and correspondence table 742 (its metadata is real, taken from version 1168; its maps are the
  Bergen 1201xx -> 4601xx renumbering). Record mode replaces them with real answers.

The request each answer belongs to is obtained by calling the real KlassClient against a stand-in
transport, so the request keys are exactly those the pipeline sends.

Usage: python tools/build_klass_snapshots.py [--reference DIR] [--snapshots DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ci_pipeline.archive import Archive, ArchivedResponse, sha256_bytes
from ci_pipeline.geography.load import KLASS_REQUESTS
from ci_pipeline.geography.parse import parse_klass_csv
from ci_pipeline.settings import KLASS_BASE_URL
from ci_pipeline.sources.klass import KlassClient

DEFAULT_REFERENCE = REPO.parent / "shared" / "reference" / "klass"

# 2023 code -> 2024 code: the municipalities of Viken, Vestfold og Telemark and Troms og Finnmark got
# the numbers of their new counties on 2024-01-01 (names unchanged except Våler).
RENUMBERED_2024 = {
    "3001": "3101", "3002": "3103", "3003": "3105", "3004": "3107", "3005": "3301", "3006": "3303",
    "3007": "3305", "3011": "3110", "3012": "3124", "3013": "3122", "3014": "3118", "3015": "3116",
    "3016": "3120", "3017": "3112", "3018": "3114", "3019": "3216", "3020": "3207", "3021": "3218",
    "3022": "3214", "3023": "3212", "3024": "3201", "3025": "3203", "3026": "3226", "3027": "3224",
    "3028": "3220", "3029": "3222", "3030": "3205", "3031": "3232", "3032": "3230", "3033": "3209",
    "3034": "3228", "3035": "3240", "3036": "3238", "3037": "3242", "3038": "3310", "3039": "3320",
    "3040": "3322", "3041": "3324", "3042": "3326", "3043": "3328", "3044": "3330", "3045": "3332",
    "3046": "3318", "3047": "3316", "3048": "3314", "3049": "3312", "3050": "3334", "3051": "3336",
    "3052": "3338", "3053": "3236", "3054": "3234",
    "3801": "3901", "3802": "3903", "3803": "3905", "3804": "3907", "3805": "3909", "3811": "3911",
    "3806": "4001", "3807": "4003", "3808": "4005", "3812": "4010", "3813": "4012", "3814": "4014",
    "3815": "4016", "3816": "4018", "3817": "4020", "3818": "4026", "3819": "4024", "3820": "4022",
    "3821": "4028", "3822": "4030", "3823": "4032", "3824": "4034", "3825": "4036",
    "5401": "5501", "5402": "5503", "5411": "5510", "5412": "5512", "5413": "5514", "5414": "5516",
    "5415": "5518", "5416": "5520", "5417": "5522", "5418": "5524", "5419": "5526", "5420": "5528",
    "5421": "5530", "5422": "5532", "5423": "5534", "5424": "5536", "5425": "5538", "5426": "5540",
    "5427": "5542", "5428": "5544", "5429": "5546",
    "5403": "5601", "5406": "5603", "5444": "5605", "5405": "5607", "5437": "5610", "5430": "5612",
    "5432": "5614", "5433": "5616", "5434": "5618", "5435": "5620", "5436": "5622", "5438": "5624",
    "5439": "5626", "5441": "5628", "5440": "5630", "5443": "5632", "5404": "5634", "5442": "5636",
}
RENAMED_2024 = {"3114": "Våler (Østfold)"}

# (date, old code, old name, new code, new name): the 2018 and 2020 changes the harmonisation rules name.
MUNICIPAL_CHANGES_2018_2020 = [
    ("2018-01-01", "1601", "Trondheim", "5001", "Trondheim"),
    ("2018-01-01", "1662", "Klæbu", "5030", "Klæbu"),
    ("2018-01-01", "1612", "Hemne", "5011", "Hemne"),
    ("2018-01-01", "1613", "Snillfjord", "5012", "Snillfjord"),
    ("2018-01-01", "1617", "Hitra", "5013", "Hitra"),
    ("2018-01-01", "1622", "Agdenes", "5016", "Agdenes"),
    ("2018-01-01", "1636", "Meldal", "5023", "Meldal"),
    ("2018-01-01", "1638", "Orkdal", "5024", "Orkdal"),
    ("2020-01-01", "0101", "Halden", "3001", "Halden"),
    ("2020-01-01", "0104", "Moss", "3002", "Moss"),
    ("2020-01-01", "0136", "Rygge", "3002", "Moss"),
    ("2020-01-01", "1201", "Bergen", "4601", "Bergen"),
    ("2020-01-01", "1103", "Stavanger", "1103", "Stavanger"),
    ("2020-01-01", "1141", "Finnøy", "1103", "Stavanger"),
    ("2020-01-01", "1142", "Rennesøy", "1103", "Stavanger"),
    ("2020-01-01", "5001", "Trondheim", "5001", "Trondheim"),
    ("2020-01-01", "5030", "Klæbu", "5001", "Trondheim"),
    ("2020-01-01", "1805", "Narvik", "1806", "Narvik"),
    ("2020-01-01", "1854", "Ballangen", "1806", "Narvik"),
    ("2020-01-01", "1850", "Tysfjord", "1806", "Narvik"),
    ("2020-01-01", "1850", "Tysfjord", "1875", "Hamarøy"),
    ("2020-01-01", "1849", "Hamarøy", "1875", "Hamarøy"),
    ("2020-01-01", "5011", "Hemne", "5055", "Heim"),
    ("2020-01-01", "1571", "Halsa", "5055", "Heim"),
    ("2020-01-01", "5012", "Snillfjord", "5055", "Heim"),
    ("2020-01-01", "5012", "Snillfjord", "5056", "Hitra"),
    ("2020-01-01", "5013", "Hitra", "5056", "Hitra"),
    ("2020-01-01", "5012", "Snillfjord", "5059", "Orkland"),
    ("2020-01-01", "5016", "Agdenes", "5059", "Orkland"),
    ("2020-01-01", "5023", "Meldal", "5059", "Orkland"),
    ("2020-01-01", "5024", "Orkdal", "5059", "Orkland"),
    ("2020-01-01", "1504", "Ålesund", "1507", "Ålesund"),
    ("2020-01-01", "1523", "Ørskog", "1507", "Ålesund"),
    ("2020-01-01", "1529", "Skodje", "1507", "Ålesund"),
    ("2020-01-01", "1534", "Haram", "1507", "Ålesund"),
    ("2020-01-01", "1546", "Sandøy", "1507", "Ålesund"),
]
# Ålesund 1507 was split on 2024-01-01: Haram re-established (1580), the rest became 1508.
ALESUND_SPLIT_2024 = [
    ("2024-01-01", "1507", "Ålesund", "1508", "Ålesund"),
    ("2024-01-01", "1507", "Ålesund", "1580", "Haram"),
]

COUNTY_CHANGES = [
    ("2018-01-01", "16", "Sør-Trøndelag", "50", "Trøndelag"),
    ("2018-01-01", "17", "Nord-Trøndelag", "50", "Trøndelag"),
    *[("2020-01-01", old, old_name, "30", "Viken") for old, old_name in
      [("01", "Østfold"), ("02", "Akershus"), ("06", "Buskerud")]],
    *[("2020-01-01", old, old_name, "34", "Innlandet") for old, old_name in [("04", "Hedmark"), ("05", "Oppland")]],
    *[("2020-01-01", old, old_name, "38", "Vestfold og Telemark") for old, old_name in
      [("07", "Vestfold"), ("08", "Telemark")]],
    *[("2020-01-01", old, old_name, "42", "Agder") for old, old_name in
      [("09", "Aust-Agder"), ("10", "Vest-Agder")]],
    *[("2020-01-01", old, old_name, "46", "Vestland") for old, old_name in
      [("12", "Hordaland"), ("14", "Sogn og Fjordane")]],
    *[("2020-01-01", old, old_name, "54", "Troms og Finnmark - Romsa ja Finnmárku") for old, old_name in
      [("19", "Troms - Romsa"), ("20", "Finnmark - Finnmárku")]],
    *[("2024-01-01", "30", "Viken", new, new_name) for new, new_name in
      [("31", "Østfold"), ("32", "Akershus"), ("33", "Buskerud")]],
    *[("2024-01-01", "38", "Vestfold og Telemark", new, new_name) for new, new_name in
      [("39", "Vestfold"), ("40", "Telemark")]],
    *[("2024-01-01", "54", "Troms og Finnmark - Romsa ja Finnmárku - Tromssa ja Finmarkku", new, new_name)
      for new, new_name in [("55", "Troms - Romsa - Tromssa"), ("56", "Finnmark - Finnmárku - Finmarkku")]],
]

# When the reference copy was captured (from its .source.txt), so the envelope says when KLASS said it.
CAPTURED = {
    "klass_131_codesAt_2023-03-02_municipalities.json": "2023-03-04T00:00:00.000000Z",
    "klass_104_codes_from_2022-07-10_counties.json": "2023-03-01T00:00:00.000000Z",
    "klass_131_codes_2020_semicolon_latin1_export.csv": "2021-01-27T00:00:00.000000Z",
    "klass_103_classification_bydelsinndeling.json": "2026-01-07T00:00:00.000000Z",
    "klass_103_version_1168_bydelsinndeling_2020.json": "2026-01-07T00:00:00.000000Z",
    "klass_103_version_398_bydeler_jan04_jan18_csv_latin1.csv": "2021-05-27T00:00:00.000000Z",
    "klass_103_version_919_bydeler_jan18_jan20_csv_latin1.csv": "2021-05-27T00:00:00.000000Z",
}
ILLUSTRATIVE_AT = "2026-01-01T00:00:00.000000Z"


def _change(changed_on: str, old: str | None, old_name: str | None, new: str | None,
            new_name: str | None) -> dict[str, Any]:
    return {"oldCode": old, "oldName": old_name, "oldShortName": None, "newCode": new, "newName": new_name,
            "newShortName": None, "changeOccurred": changed_on}


def municipal_changes(municipalities_2023: dict[str, Any]) -> dict[str, Any]:
    names = {item["code"]: item["name"] for item in municipalities_2023["codes"]}
    missing = sorted(set(RENUMBERED_2024) - set(names))
    if missing:
        raise SystemExit(f"the 2023 municipality list lacks codes the 2024 renumbering names: {missing}")
    rows = [_change(*row) for row in MUNICIPAL_CHANGES_2018_2020]
    rows += [_change("2024-01-01", old, names[old], new, RENAMED_2024.get(new, names[old]))
             for old, new in sorted(RENUMBERED_2024.items())]
    rows += [_change(*row) for row in ALESUND_SPLIT_2024]
    return {"codeChanges": rows}


def county_changes() -> dict[str, Any]:
    return {"codeChanges": [_change(*row) for row in COUNTY_CHANGES]}


def version_from_csv(csv_path: Path, version_id: str, classification: dict[str, Any]) -> dict[str, Any]:
    """A versions/{id} answer carrying the items of a KLASS CSV export and the validity KLASS lists."""
    listed = next((v for v in classification["versions"] if str(v["id"]) == version_id), None)
    if listed is None:
        raise SystemExit(f"classification 103 does not list version {version_id}")
    items = parse_klass_csv(csv_path.read_bytes(), origin=str(csv_path))
    return {
        "name": listed["name"], "id": int(version_id), "validFrom": listed["validFrom"],
        "validTo": listed.get("validTo"), "lastModified": listed["lastModified"], "published": listed["published"],
        "changelogs": [], "correspondenceTables": [], "levels": [{"levelNumber": 1, "levelName": "Nivå 1"}],
        "classificationItems": [
            {"code": row.code, "parentCode": "", "level": row.level, "name": row.name, "shortName": None,
             "notes": None}
            for row in items.itertuples()
        ],
    }


def codes_at_from_csv(csv_path: Path) -> dict[str, Any]:
    """A codesAt answer carrying the codes of a KLASS CSV export (latin1: 'ŋ' and 'š' came out as '?')."""
    items = parse_klass_csv(csv_path.read_bytes(), origin=str(csv_path))
    return {"codes": [
        {"code": row.code, "parentCode": None, "level": row.level, "name": row.name, "shortName": "",
         "presentationName": "", "validFrom": None, "validTo": None, "notes": row.notes or ""}
        for row in items.itertuples()
    ]}


def change_table_742(version_1168: dict[str, Any], version_919: dict[str, Any]) -> dict[str, Any]:
    listed = next(t for t in version_1168["correspondenceTables"] if t["id"] == 742)
    old = {item["code"]: item["name"] for item in version_919["classificationItems"]}
    maps = []
    for item in version_1168["classificationItems"]:
        if not item["code"].startswith("4601"):
            continue
        target = "1201" + item["code"][4:]
        if old.get(target) != item["name"]:
            raise SystemExit(f"version 919 has no {target} {item['name']} for 1168's {item['code']}")
        maps.append({"sourceCode": item["code"], "sourceName": item["name"], "targetCode": target,
                     "targetName": old[target]})
    fields = ("name", "id", "owningSection", "source", "sourceId", "target", "targetId", "changeTable",
              "lastModified", "published", "sourceLevel", "targetLevel")
    return {**{key: listed[key] for key in fields}, "correspondenceMaps": maps}


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_answers(reference: Path) -> dict[str, tuple[Any, str, str, str]]:
    """request name -> (JSON document, provenance, retrieved_at, note)."""

    def read(name: str) -> Any:
        return json.loads((reference / name).read_text(encoding="utf-8"))

    def real(name: str) -> str:
        return f"reconstructed from the real KLASS answer in shared/reference/klass/{name} (re-serialised JSON)"

    municipalities = read("klass_131_codesAt_2023-03-02_municipalities.json")
    classification = read("klass_103_classification_bydelsinndeling.json")
    version_1168 = read("klass_103_version_1168_bydelsinndeling_2020.json")
    csv_398 = "klass_103_version_398_bydeler_jan04_jan18_csv_latin1.csv"
    csv_919 = "klass_103_version_919_bydeler_jan18_jan20_csv_latin1.csv"
    csv_2020 = "klass_131_codes_2020_semicolon_latin1_export.csv"
    version_398 = version_from_csv(reference / csv_398, "398", classification)
    version_919 = version_from_csv(reference / csv_919, "919", classification)
    illustrative_changes = ("illustrative: no /changes answer was available; built from docs/SOURCES.md section 4 "
                            "and the public record of the reforms. ")
    return {
        "municipalities_2023": (municipalities, "reconstructed",
                                CAPTURED["klass_131_codesAt_2023-03-02_municipalities.json"],
                                real("klass_131_codesAt_2023-03-02_municipalities.json")),
        "municipalities_2020": (codes_at_from_csv(reference / csv_2020), "reconstructed", CAPTURED[csv_2020],
                                (f"reconstructed from the real KLASS 131 CSV export {csv_2020} (codes valid in 2020), "
                                "in the JSON shape of codesAt; names as in the latin1 export")),
        "municipality_changes": (municipal_changes(municipalities), "illustrative", ILLUSTRATIVE_AT,
                                 illustrative_changes + "2024 renumbering complete (113 municipalities + Ålesund/"
                                 "Haram split); 2018 and 2020 only for the municipalities the rules name"),
        "counties_2022": (read("klass_104_codes_from_2022-07-10_counties.json"), "reconstructed",
                          CAPTURED["klass_104_codes_from_2022-07-10_counties.json"],
                          real("klass_104_codes_from_2022-07-10_counties.json")),
        "county_changes": (county_changes(), "illustrative", ILLUSTRATIVE_AT,
                           illustrative_changes + "county reforms 2018, 2020 and 2024"),
        "district_classification": (classification, "reconstructed",
                                    CAPTURED["klass_103_classification_bydelsinndeling.json"],
                                    real("klass_103_classification_bydelsinndeling.json")),
        "district_version_398": (version_398, "reconstructed", CAPTURED[csv_398],
                                 (f"reconstructed from the real KLASS 103 CSV export {csv_398}; name and validity "
                                 "from the classification answer; changelogs and correspondence tables left empty")),
        "district_version_919": (version_919, "reconstructed", CAPTURED[csv_919],
                                 (f"reconstructed from the real KLASS 103 CSV export {csv_919}; name and validity "
                                 "from the classification answer; changelogs and correspondence tables left empty")),
        "district_version_1168": (version_1168, "reconstructed",
                                  CAPTURED["klass_103_version_1168_bydelsinndeling_2020.json"],
                                  real("klass_103_version_1168_bydelsinndeling_2020.json")),
        "district_change_table_742": (change_table_742(version_1168, version_919), "illustrative", ILLUSTRATIVE_AT,
                                      ("illustrative: table metadata real (from version 1168), correspondenceMaps "
                                      "constructed: Bergen 4601xx -> 1201xx, same district number and name")),
    }


class _StandInHttp:
    """Answers KlassClient's request with a prepared body and keeps the request it was sent."""

    def __init__(self) -> None:
        self.body = b""
        self.sent: dict[str, Any] = {}

    def request(self, method: str, path: str, *, resource: str, params: dict[str, Any] | None = None,
                json_body: Any = None, headers: dict[str, str] | None = None, **_: Any) -> ArchivedResponse:
        self.sent = {"method": method.upper(), "path": path.lstrip("/"), "resource": str(resource),
                     "params": dict(params or {}), "request_body": json_body}
        return ArchivedResponse(source="klass", resource=str(resource), method=method, url="", path=path,
                                params=dict(params or {}), request_body=json_body, status=200, headers={},
                                retrieved_at="", sha256=sha256_bytes(self.body), provenance="illustrative",
                                body=self.body)


def build(reference: Path, snapshots: Path) -> list[Path]:
    answers = build_answers(reference)
    archive = Archive(snapshots)
    transport = _StandInHttp()
    client = KlassClient(transport)
    written = []
    for request in KLASS_REQUESTS:
        doc, provenance, retrieved_at, note = answers[request.name]
        transport.body = _json_bytes(doc)
        getattr(client, request.call)(*request.args)
        sent = transport.sent
        query = f"?{urlencode(sent['params'])}" if sent["params"] else ""
        written.append(archive.write(ArchivedResponse(
            source="klass", resource=sent["resource"], method=sent["method"],
            url=KLASS_BASE_URL + sent["path"] + query, path=sent["path"], params=sent["params"],
            request_body=sent["request_body"], status=200,
            headers={"content-type": "application/json;charset=UTF-8"}, retrieved_at=retrieved_at,
            sha256=sha256_bytes(transport.body), provenance=provenance, note=note, body=transport.body,
        )))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="folder of the KLASS reference files")
    parser.add_argument("--snapshots", type=Path, default=REPO / "data" / "snapshots", help="snapshot archive root")
    args = parser.parse_args(argv)
    if not args.reference.is_dir():
        parser.error(f"reference folder {args.reference} not found")
    for path in build(args.reference, args.snapshots):
        print(path.relative_to(args.snapshots))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
