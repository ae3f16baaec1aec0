"""The hostile-input corpus of issue 14: every case names its expected outcome.

Outcomes: a file error naming the file (and row, cell or line) and what to do; rows quarantined with a
reason (rows in = accepted + quarantined always); read as the codebook means it; or a wave refused at
admission (nothing stored, what was stored before stays). tests/test_survey_readers.py holds the older
part of the corpus (missing columns, broken rows, row-level reasons).
"""

import io
import shutil
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, Definitions
from survey_support import SURVEYS, WAVE, valid_frame, write_csv

from ci_pipeline.config import ConfigError
from ci_pipeline.surveys.codebook import DONT_KNOW, load_codebook
from ci_pipeline.surveys.ingest import (
    WaveRefused,
    ingest_wave,
    process_wave,
    responses_path,
    stored_sha256,
)
from ci_pipeline.surveys.pseudonymise import SECRET_ENV_VAR, pseudonymise
from ci_pipeline.surveys.readers import WaveFileError

SECRET = "a-long-enough-test-secret-0123456789"


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(SURVEYS)


def ingest(path, codebook, wave=WAVE, env=None):
    validated = ingest_wave(path, codebook, wave, env={} if env is None else env)
    assert validated.rows_in == validated.rows_accepted + validated.rows_quarantined
    return validated


def frame_with(codebook, rows=8, **columns):
    frame = valid_frame(codebook, rows).astype(str)
    for column, values in columns.items():
        frame[column] = values
    return frame


# --- files that must be refused as a whole, with the pipeline's own message ----------------------------


def _bom_then_cp1252(codebook):
    frame = frame_with(codebook, district=["Grünerløkka"] * 8)
    return ".csv", b"\xef\xbb\xbf" + frame.to_csv(index=False).encode("cp1252")


def _mixed_encodings(codebook):
    head = frame_with(codebook, rows=4, district=["Grünerløkka"] * 4).to_csv(index=False).encode("utf-8")
    tail = frame_with(codebook, rows=4, district=["Østensjø"] * 4).to_csv(index=False, header=False)
    return ".csv", head + tail.encode("cp1252")


def _undefined_cp1252_byte(codebook):
    return ".csv", frame_with(codebook).to_csv(index=False).encode("cp1252").replace(b"R1,", b"R\x81,")


def _huge_field(codebook):
    frame = frame_with(codebook)
    frame.loc[3, "respondent_id"] = "x" * 200_000
    return ".csv", frame.to_csv(index=False).encode()


def _unclosed_quote(codebook):
    return ".csv", frame_with(codebook).to_csv(index=False).encode() + b'"R9,030101\n'


def _xlsx(frames: dict[str, pd.DataFrame], formats: dict[str, str] | None = None, formula: bool = False) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, frame in frames.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append([None if pd.isna(v) else v for v in row])
        for cell, number_format in (formats or {}).items():
            sheet[cell].number_format = number_format
        if formula:
            sheet["E3"] = "=4+1"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _second_sheet(codebook):
    return ".xlsx", _xlsx({"Svar": valid_frame(codebook, 8), "Svar 2": valid_frame(codebook, 8)})


def _formula_cell(codebook):
    return ".xlsx", _xlsx({"Svar": valid_frame(codebook, 8)}, formula=True)


def _numeric_ids(codebook):
    frame = valid_frame(codebook, 8).assign(respondent_id=range(1, 9))
    return ".xlsx", _xlsx({"Svar": frame})


def _not_a_zip(codebook):
    return ".xlsx", b"PK\x03\x04 this is a damaged workbook"


def _zip_without_workbook(codebook):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return ".xlsx", buffer.getvalue()


def _sav(codebook, frame: pd.DataFrame, labels: dict, missing: dict | None = None, formats: dict | None = None):
    import pyreadstat

    def writer(path: Path) -> None:
        pyreadstat.write_sav(frame, str(path), variable_value_labels=labels, missing_ranges=missing or {},
                             variable_format=formats or {})
    return ".sav", writer


def _sav_frame(codebook, rows=8):
    frame = valid_frame(codebook, rows)
    for column in frame.columns[3:]:
        frame[column] = frame[column].astype(float)
    return frame


def _reversed_scale(codebook):
    labels = {"q_work_future_job": {1.0: "Helt enig", 5.0: "Helt uenig"}}
    return _sav(codebook, _sav_frame(codebook), labels)


def _shifted_scale(codebook):
    frame = _sav_frame(codebook)
    frame["q_work_future_job"] = 3.0
    labels = {"q_work_future_job": {0.0: "Helt uenig", 1.0: "Litt uenig", 2.0: "Verken enig eller uenig",
                                    3.0: "Litt enig", 4.0: "Helt enig"}}
    return _sav(codebook, frame, labels)


def _nine_labelled_dont_know_on_0_10(codebook):
    labels = {"q_housing_home_rating": {0.0: "Verst tenkelig", 9.0: "Vet ikke", 10.0: "Best tenkelig"}}
    return _sav(codebook, _sav_frame(codebook), labels)


def _user_missing_not_dont_know(codebook):
    return _sav(codebook, _sav_frame(codebook), {}, missing={"q_work_future_job": [7.0]})


def _shifted_csv(codebook):
    frame = frame_with(codebook, rows=60)
    frame["q_work_future_job"] = [str(i % 5) for i in range(60)]  # 0-4 coding of a 1-5 scale
    return ".csv", frame.to_csv(index=False).encode()


def _utf16_without_bytes_pattern(codebook):
    return ".csv", b"\x00\x01\x02binary\x00\xff" * 50


FILE_ERRORS = {
    "BOM followed by Windows-1252 bytes": (_bom_then_cp1252, "starts with a UTF-8 byte-order mark, but line 2"),
    "UTF-8 and Windows-1252 mixed": (_mixed_encodings, "mixes encodings: line 2 is UTF-8 but line 6"),
    "byte undefined in Windows-1252": (_undefined_cp1252_byte, "neither UTF-8 nor Windows-1252"),
    "200,000-character field": (_huge_field, "longer than 131,072 characters"),
    "unclosed quote": (_unclosed_quote, "not readable as CSV"),
    "binary content": (_utf16_without_bytes_pattern, "binary content"),
    "XLSX with data on a second sheet": (_second_sheet, "data on 2 sheets ('Svar', 'Svar 2')"),
    "XLSX formula cell": (_formula_cell, "cell E3 holds a formula"),
    "XLSX ids typed as numbers": (_numeric_ids, "respondent_id is stored as a number in 8 row(s)"),
    "XLSX that is not a zip": (_not_a_zip, "not a readable XLSX workbook"),
    "XLSX zip without a workbook": (_zip_without_workbook, "not a readable XLSX workbook"),
    ".sav reversed scale": (_reversed_scale, "code 1 is labelled 'Helt enig', which the codebook gives to value 5"),
    ".sav 0-4 coding of a 1-5 scale": (_shifted_scale, "code 0 is labelled 'Helt uenig'"),
    ".sav 9 labelled don't know on a 0-10 item": (_nine_labelled_dont_know_on_0_10,
                                                  "has no don't-know code 9 for this question (9 is a value"),
    ".sav user-missing code that is no don't-know": (_user_missing_not_dont_know, "SPSS declares 7 a missing value"),
    "CSV 0-4 coding of a 1-5 scale": (_shifted_csv, "12 of 60 answers are not on scale likert5"),
}


def _write(tmp_path: Path, made) -> Path:
    suffix, content = made
    path = tmp_path / f"{WAVE}{suffix}"
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", list(FILE_ERRORS))
def test_hostile_file_is_refused_with_the_pipelines_own_message(tmp_path, codebook, case):
    make, expected = FILE_ERRORS[case]
    path = _write(tmp_path, make(codebook))
    with pytest.raises(WaveFileError) as error:
        ingest_wave(path, codebook, WAVE, env={})
    message = str(error.value)
    assert message.startswith(str(path)) and expected in message
    for library_error in ("BadZipFile", "KeyError", "UnicodeDecodeError", "_csv.Error", "ReadstatError"):
        assert library_error not in message
    # and the run summary shows the same message through process_wave
    with pytest.raises(WaveRefused, match="refused: " + str(path).replace(".", r"\.")[:20]):
        process_wave(path, codebook, WAVE, tmp_path / "warehouse", env={})
    assert not (tmp_path / "warehouse").exists()


# --- files that are read, and read as the codebook means them ---------------------------------------------


def _accepted(tmp_path, codebook, suffix, content, **kwargs):
    return ingest(_write(tmp_path, (suffix, content)), codebook, **kwargs)


def test_utf16_with_bom_tab_separated_is_read(tmp_path, codebook):
    frame = frame_with(codebook, rows=4, district=["Grünerløkka", "Østensjø", "Alna", "Sagene"])
    validated = _accepted(tmp_path, codebook, ".csv", frame.to_csv(sep="\t", index=False).encode("utf-16"))
    assert validated.responses["district_code"].tolist() == ["030102", "030113", "030112", "030103"]


def test_utf16_without_bom_is_recognised(tmp_path, codebook):
    frame = frame_with(codebook, rows=4, district=["Grünerløkka"] * 4)
    validated = _accepted(tmp_path, codebook, ".csv", frame.to_csv(sep=";", index=False).encode("utf-16-be"))
    assert validated.rows_accepted == 4 and set(validated.responses["district_code"]) == {"030102"}


def test_cr_only_line_ends_are_read(tmp_path, codebook):
    text = frame_with(codebook, rows=4).to_csv(index=False, lineterminator="\r")
    validated = _accepted(tmp_path, codebook, ".csv", text.encode("cp1252"))
    assert validated.rows_accepted == 4


def test_xlsx_with_an_empty_second_sheet_is_read(tmp_path, codebook):
    content = _xlsx({"Svar": valid_frame(codebook, 4), "Ark2": valid_frame(codebook, 4).head(0).iloc[:, :0]})
    assert _accepted(tmp_path, codebook, ".xlsx", content).rows_accepted == 4


def test_xlsx_ids_with_a_zero_padding_format_keep_their_zeros(tmp_path, codebook):
    frame = valid_frame(codebook, 4).assign(respondent_id=[12, 13, 14, 15])
    content = _xlsx({"Svar": frame}, formats={f"A{row}": "0000000" for row in range(2, 6)})
    validated = _accepted(tmp_path, codebook, ".xlsx", content)
    from ci_pipeline.surveys.pseudonymise import ILLUSTRATIVE_KEY
    assert validated.responses["respondent_key"].iloc[0] == pseudonymise("0000012", ILLUSTRATIVE_KEY)


def test_sav_district_labels_with_bydel_prefix_and_n_format_ids(tmp_path, codebook):
    frame = _sav_frame(codebook, 4).assign(district=[1.0, 2.0, 12.0, 13.0], respondent_id=[7.0, 8.0, 9.0, 10.0])
    labels = {"district": {1.0: "Bydel Gamle Oslo", 2.0: "Bydel Grünerløkka", 12.0: "Bydel Alna",
                           13.0: "Bydel Østensjø"}}
    validated = ingest(_write(tmp_path, _sav(codebook, frame, labels, formats={"respondent_id": "N5"})), codebook)
    assert validated.responses["district_code"].tolist() == ["030101", "030102", "030112", "030113"]
    from ci_pipeline.surveys.pseudonymise import ILLUSTRATIVE_KEY
    assert validated.responses["respondent_key"].iloc[0] == pseudonymise("00007", ILLUSTRATIVE_KEY)


def test_sav_user_missing_dont_know_code_is_kept_as_dont_know(tmp_path, codebook):
    frame = _sav_frame(codebook, 4)
    frame.loc[0, "q_work_future_job"] = 99.0
    made = _sav(codebook, frame, {"q_work_future_job": {99.0: "Vet ikke", 5.0: "Helt enig"}},
                missing={"q_work_future_job": [99.0]})
    validated = ingest(_write(tmp_path, made), codebook)
    assert validated.responses["q_work_future_job"].tolist() == [DONT_KNOW, 5, 5, 5]
    assert validated.dont_know["q_work_future_job"] == 1


DISTRICT_SPELLINGS = {
    "Bydel prefix": ("Bydel Alna", "030112"),
    "NFD-normalised name": (unicodedata.normalize("NFD", "Grünerløkka"), "030102"),
    "code with .0 from Excel": ("30101.0", "030101"),
    "code with decimal comma": ("30105,0", "030105"),
    "alias without diacritics": ("Sondre Nordstrand", "030115"),
    "odd case and spacing": ("  bydel   GAMLE  oslo ", "030101"),
}


@pytest.mark.parametrize("case", list(DISTRICT_SPELLINGS))
def test_district_spellings_match(tmp_path, codebook, case):
    spelling, code = DISTRICT_SPELLINGS[case]
    frame = frame_with(codebook, rows=4, district=[spelling] * 4)
    validated = _accepted(tmp_path, codebook, ".csv", frame.to_csv(sep=";", index=False).encode("utf-8"))
    assert validated.rows_accepted == 4 and set(validated.responses["district_code"]) == {code}


SAME_PERSON = {
    "ids differing only by case": ("lg-0001", "LG-0001"),
    "ids differing only by Unicode normalisation": (unicodedata.normalize("NFD", "Åse-1"),
                                                   unicodedata.normalize("NFC", "Åse-1")),
    "ids differing only by surrounding spaces": (" R-17", "R-17 "),
}


@pytest.mark.parametrize("case", list(SAME_PERSON))
def test_ids_that_are_one_person_are_one_key(tmp_path, codebook, case):
    first, second = SAME_PERSON[case]
    frame = frame_with(codebook, rows=8)
    frame.loc[2, "respondent_id"], frame.loc[5, "respondent_id"] = first, second
    validated = _accepted(tmp_path, codebook, ".csv", frame.to_csv(index=False).encode("utf-8"))
    assert validated.reason_counts()["duplicate_respondent"] == 2
    assert validated.quarantine["respondent_key"].nunique() == 1


DONT_KNOW_CASES = {
    "text 'Vet ikke'": ("q_work_future_job", "Vet ikke", DONT_KNOW),
    "code -1": ("q_work_future_job", "-1", DONT_KNOW),
    "code 99": ("q_housing_home_rating", "99", DONT_KNOW),
    "9 on a yes/no item is don't know": ("q_work_had_job", "9", DONT_KNOW),
    "9 on a 0-10 item is a 9": ("q_housing_home_rating", "9", 9),
    "a value label as text": ("q_work_future_job", "Helt enig", 5),
}


@pytest.mark.parametrize("case", list(DONT_KNOW_CASES))
def test_dont_know_codes_and_labels_are_read_as_the_codebook_says(tmp_path, codebook, case):
    question, text, stored = DONT_KNOW_CASES[case]
    frame = frame_with(codebook, rows=8)
    frame.loc[2, question] = text
    validated = _accepted(tmp_path, codebook, ".csv", frame.to_csv(index=False).encode("utf-8"))
    assert validated.rows_accepted == 8
    assert validated.responses.loc[2, question] == stored
    assert validated.dont_know[question] == (1 if stored == DONT_KNOW else 0)


def test_dont_know_is_excluded_from_shares_and_n(codebook):
    from ci_pipeline.surveys.aggregate import aggregate_responses

    rows = 12
    frame = pd.DataFrame({"wave": WAVE, "respondent_key": [f"k{i}" for i in range(rows)], "district_code": "030101",
                          "sex": "female", "age_band": "13-15", "provenance": "illustrative"})
    for question in codebook.questions_in_wave(WAVE):
        frame[question.id] = pd.array([question.scale.values[-1]] * rows, dtype="Int16")
    frame.loc[:3, "q_education_bullied"] = DONT_KNOW  # four say they don't know; others answer 1 (yes)
    frame.loc[:1, "q_education_left_out"] = DONT_KNOW  # two of them only don't know
    frame.loc[2:, "q_education_left_out"] = 0
    cells = aggregate_responses(frame, codebook).set_index(["indicator_id", "district_code", "group_type"])
    bullied = cells.loc[("survey_education_bullied", "030101", "total")]
    assert bullied["n"] == 10  # the two who only said don't know do not count
    # respondents 2, 3: bullied don't know, left out no -> 0 of 1 positive -> not positive
    assert bullied["share_positive"] == pytest.approx(8 / 10)


# --- configuration -------------------------------------------------------------------------------------


CONFIG_CASES = {
    "impossible wave date": ("waves.yaml", '"2025-04-15"', '"2025-13-45"',
                             "waves.yaml: waves[2].date: Input should be a valid date"),
    "typo'd key in waves.yaml": ("waves.yaml", "illustrative: true}\n", "ilustrative: true}\n",
                                 "waves.yaml: waves[0].ilustrative: unknown key"),
    "waves out of order": ("waves.yaml", '"2024-10-15"', '"2026-10-15"', "waves must be listed oldest first"),
    "typo'd key in the codebook": ("codebook.yaml", "has_mean: false", "has_maen: false",
                                   "codebook.yaml: scales.yes_no.has_maen: unknown key"),
    "don't-know code that is a value": ("codebook.yaml",
                                        ("dont_know: [-1, 99, Vet ikke, Vet ikkje, Don't know]\n"
                                         "    has_mean: true\n  yes_no"),
                                        "dont_know: [-1, 3, Vet ikke]\n    has_mean: true\n  yes_no",
                                        "don't-know code(s) [3] are values"),
    "alias claimed by two districts": ("codebook.yaml", "aliases: [Grunerløkka,", "aliases: [Alna, Grunerløkka,",
                                       "district name or alias listed twice: ['alna']"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_survey_configuration_names_file_and_key(tmp_path, case):
    name, old, new, expected = CONFIG_CASES[case]
    shutil.copytree(SURVEYS, tmp_path / "surveys")
    path = tmp_path / "surveys" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_codebook(tmp_path / "surveys")
    assert any(expected in problem for problem in error.value.problems), error.value.problems


# --- admission: refused waves leave what was stored as it was -------------------------------------------


@pytest.fixture
def real_waves(tmp_path):
    """A codebook copy with two real (not illustrative) waves after the illustrative ones."""
    shutil.copytree(SURVEYS, tmp_path / "surveys")
    waves = tmp_path / "surveys" / "waves.yaml"
    waves.write_text(waves.read_text(encoding="utf-8") + '  - {id: 2025-autumn, date: "2025-10-15"}\n'
                     '  - {id: 2026-spring, date: "2026-04-15"}\n', encoding="utf-8")
    return load_codebook(tmp_path / "surveys")


def _wave_file(tmp_path, codebook, wave, frame, name=None) -> Path:
    path = tmp_path / "files" / (name or f"{wave}.csv")
    path.parent.mkdir(exist_ok=True)
    return write_csv(frame, path)


def _panel_frame(codebook, wave, rows=60):
    frame = valid_frame(codebook, rows, wave=wave)
    frame["respondent_id"] = [f"P{i:03d}" for i in range(rows)]
    return frame


def test_all_rows_quarantined_is_refused_and_the_stored_wave_stays(tmp_path, codebook):
    warehouse = tmp_path / "warehouse"
    good = _wave_file(tmp_path, codebook, WAVE, _panel_frame(codebook, WAVE))
    process_wave(good, codebook, WAVE, warehouse, env={})
    before = stored_sha256(responses_path(warehouse, WAVE))
    bad = _wave_file(tmp_path, codebook, WAVE, _panel_frame(codebook, WAVE).assign(district="Narnia"), "b.csv")
    with pytest.raises(WaveRefused, match="all 60 rows were quarantined") as refusal:
        process_wave(bad, codebook, WAVE, warehouse, env={})
    assert refusal.value.validated.reason_counts()["unknown_district"] == 60
    assert stored_sha256(responses_path(warehouse, WAVE)) == before


REPUBLICATIONS = {
    "one extra respondent": (lambda f: pd.concat([f, f.tail(1).assign(respondent_id="NEW1")]), "refused"),
    "one changed answer": (lambda f: f.assign(q_work_future_job=[1] + [5] * (len(f) - 1)), "refused"),
    "one respondent removed": (lambda f: f.iloc[1:], "refused"),
    "fifteen new respondents in one cell": (
        lambda f: pd.concat([f, pd.DataFrame({**{c: f[c].iloc[0] for c in f.columns},
                                              "respondent_id": [f"N{i}" for i in range(15)]})]), "ingested"),
    "the same file again": (lambda f: f, "unchanged"),
}


@pytest.mark.parametrize("case", list(REPUBLICATIONS))
def test_republishing_a_wave_never_reveals_a_few_people(tmp_path, codebook, case):
    change, outcome = REPUBLICATIONS[case]
    warehouse = tmp_path / "warehouse"
    frame = _panel_frame(codebook, WAVE)
    process_wave(_wave_file(tmp_path, codebook, WAVE, frame), codebook, WAVE, warehouse, env={})
    before = stored_sha256(responses_path(warehouse, WAVE))
    again = _wave_file(tmp_path, codebook, WAVE, change(frame), "again.csv" if outcome != "unchanged" else None)
    if outcome == "refused":
        with pytest.raises(WaveRefused, match="fewer than 10 respondents in .* published cell"):
            process_wave(again, codebook, WAVE, warehouse, env={})
        assert stored_sha256(responses_path(warehouse, WAVE)) == before
    else:
        assert process_wave(again, codebook, WAVE, warehouse, env={}).status == outcome


KEYS = {
    "only whitespace": (" " * 16, "only whitespace"),
    "surrounding whitespace": (f" {SECRET} ", "begins or ends with whitespace"),
    "too short": ("k3y-sh0rt", "shorter than 16 bytes"),
    "repeated characters": ("a" * 40, "mostly repeated or consecutive"),
    "low entropy": ("passwordpassword", "too little entropy"),
}


@pytest.mark.parametrize("case", list(KEYS))
def test_weak_keys_are_refused(tmp_path, real_waves, case):
    key, expected = KEYS[case]
    path = _wave_file(tmp_path, real_waves, "2025-autumn", _panel_frame(real_waves, "2025-autumn"))
    with pytest.raises(WaveRefused, match=expected):
        process_wave(path, real_waves, "2025-autumn", tmp_path / "warehouse", env={SECRET_ENV_VAR: key})


def test_a_changed_key_between_real_waves_is_refused(tmp_path, real_waves):
    warehouse = tmp_path / "warehouse"
    first = _wave_file(tmp_path, real_waves, "2025-autumn", _panel_frame(real_waves, "2025-autumn"))
    process_wave(first, real_waves, "2025-autumn", warehouse, env={SECRET_ENV_VAR: SECRET})
    second = _wave_file(tmp_path, real_waves, "2026-spring", _panel_frame(real_waves, "2026-spring"))
    other = "an-entirely-different-secret-9876543210"
    with pytest.raises(WaveRefused, match="is not the key the stored wave.s. 2025-autumn"):
        process_wave(second, real_waves, "2026-spring", warehouse, env={SECRET_ENV_VAR: other})
    assert not responses_path(warehouse, "2026-spring").exists()
    assert process_wave(second, real_waves, "2026-spring", warehouse, env={SECRET_ENV_VAR: SECRET}).status == "ingested"


# --- isolation and the run summary ----------------------------------------------------------------------


def test_a_bad_wave_is_refused_alone_and_the_summary_says_why(tmp_path, codebook):
    from ci_pipeline.defs.resources import PipelineResource
    from ci_pipeline.defs.surveys import SURVEY_ASSETS, SURVEY_JOBS
    from ci_pipeline.run import RunSummary, ingest_survey_waves
    from ci_pipeline.settings import Settings

    survey_root, warehouse = tmp_path / "surveys", tmp_path / "warehouse"
    (survey_root / "incoming").mkdir(parents=True)
    write_csv(_panel_frame(codebook, WAVE), survey_root / "incoming" / f"{WAVE}.csv")
    (survey_root / "incoming" / "2024-autumn.xlsx").write_bytes(b"PK\x03\x04 damaged")
    settings = Settings.from_env({}).with_(survey_root=survey_root, warehouse_root=warehouse)
    defs = Definitions(assets=SURVEY_ASSETS[:1], jobs=SURVEY_JOBS[:1],
                       resources={"pipeline": PipelineResource(settings=settings)})
    summary = RunSummary(success=True)
    ingest_survey_waves(defs, DagsterInstance.ephemeral(), settings, summary)
    assert summary.waves_ingested == [WAVE] and summary.waves_refused == ["2024-autumn"]
    lines = summary.lines()
    assert any(line.startswith(f"survey wave {WAVE} ({WAVE}.csv): ingested; rows in 60, accepted 60, "
                               "quarantined 0") for line in lines)
    refused = next(line for line in lines if "2024-autumn" in line)
    assert "REFUSED" in refused and "not a readable XLSX workbook" in refused and "BadZipFile" not in refused
    assert summary.exit_code == 1
    assert lines[-1].startswith("survey wave(s) 2024-autumn refused")


def test_the_summary_never_claims_nothing_was_published_when_something_was():
    from ci_pipeline.run import RunSummary

    summary = RunSummary(success=False, failures=["marts__goal_progress: boom"],
                         marts={"survey_results": {"version": "v2", "published": True, "rows": 10}})
    assert "every published mart version is unchanged" != summary.lines()[-1]
    assert summary.lines()[-1].startswith("the run did not complete; new versions were published of survey_results")
