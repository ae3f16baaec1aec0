"""Wave file readers and the bad-input corpus: every bad file ends in a clear file-level error or in named
quarantine rows, and rows in always equal rows accepted plus rows quarantined."""


import pandas as pd
import pytest
from survey_support import REPO, WAVE, valid_frame, write_csv

from ci_pipeline.surveys.codebook import load_codebook
from ci_pipeline.surveys.ingest import ingest_wave
from ci_pipeline.surveys.readers import WaveFileError


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(REPO / "assets" / "surveys")


def ingest(path, codebook):
    validated = ingest_wave(path, codebook, WAVE, env={})
    assert validated.rows_in == validated.rows_accepted + validated.rows_quarantined
    return validated


# --- readers: formats that must be read -------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, sep",
    [("utf-8", ","), ("utf-8-sig", ","), ("cp1252", ";"), ("latin-1", ";"), ("utf-8", "\t")],
)
def test_csv_encodings_and_separators(tmp_path, codebook, encoding, sep):
    frame = valid_frame(codebook)
    frame["district"] = ["Grünerløkka", "Østensjø", "St. Hanshaugen", "Søndre Nordstrand"]
    path = write_csv(frame, tmp_path / f"{WAVE}.csv", sep=sep, encoding=encoding)
    validated = ingest(path, codebook)
    assert validated.rows_accepted == 4
    assert validated.responses["district_code"].tolist() == ["030102", "030113", "030104", "030115"]


def test_decimal_comma_and_excel_stripped_district_codes(tmp_path, codebook):
    frame = valid_frame(codebook).astype(str)
    frame["age"] = ["12,0", "13,0", "14", "15.0"]
    frame["q_work_future_job"] = ["4,0", "5", "3,0", ""]
    frame["district"] = ["30101", "30102", "030115", "30105"]
    validated = ingest(write_csv(frame, tmp_path / f"{WAVE}.csv", sep=";"), codebook)
    assert validated.rows_accepted == 4
    assert validated.responses["q_work_future_job"].tolist()[:3] == [4, 5, 3]
    assert pd.isna(validated.responses["q_work_future_job"].iloc[3])
    assert validated.responses["district_code"].tolist() == ["030101", "030102", "030115", "030105"]


def test_xlsx_is_read(tmp_path, codebook):
    path = tmp_path / f"{WAVE}.xlsx"
    valid_frame(codebook).to_excel(path, index=False)
    validated = ingest(path, codebook)
    assert validated.rows_accepted == 4
    assert validated.responses["q_housing_home_rating"].tolist() == [10, 10, 10, 10]


def test_sav_value_labels_are_used_for_demographics(tmp_path, codebook):
    import pyreadstat

    frame = valid_frame(codebook)
    frame["district"] = [1.0, 2.0, 3.0, 15.0]
    frame["sex"] = [2.0, 1.0, 2.0, 1.0]
    frame["age"] = frame["age"].astype(float)
    for question in codebook.questions_in_wave(WAVE):
        frame[question.id] = frame[question.id].astype(float)
    labels = {
        "district": {1.0: "Gamle Oslo", 2.0: "Grünerløkka", 3.0: "Sagene", 15.0: "Søndre Nordstrand"},
        "sex": {1.0: "Gutt", 2.0: "Jente"},
        "q_work_future_job": {1.0: "Helt uenig", 5.0: "Helt enig"},
    }
    path = tmp_path / f"{WAVE}.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels=labels)
    validated = ingest(path, codebook)
    assert validated.responses["district_code"].tolist() == ["030101", "030102", "030103", "030115"]
    assert validated.responses["sex"].tolist() == ["female", "male", "female", "male"]
    # answer columns keep their codes even when they carry labels
    assert validated.responses["q_work_future_job"].tolist() == [5, 5, 5, 5]


def test_grade_instead_of_age(tmp_path, codebook):
    frame = valid_frame(codebook).drop(columns=["age"])
    frame.insert(3, "grade", [5, 8, 11, 13])
    validated = ingest(write_csv(frame, tmp_path / f"{WAVE}.csv"), codebook)
    assert validated.responses["age_band"].tolist() == ["10-12", "13-15", "16-18", "16-18"]


# --- the bad-input corpus: file-level errors ----------------------------------------------------------


def _file_cases(codebook):
    good = valid_frame(codebook)
    return {
        "empty file": (".csv", b"", "file is empty"),
        "whitespace only": (".csv", b"  \r\n \r\n", "no header line"),
        "header only": (".csv", good.head(0).to_csv(index=False).encode(), "no data rows"),
        "binary file named .csv": (".csv", b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)) * 4, "binary content"),
        "no separator": (".csv", b"respondent_id\nR1\nR2\n", "cannot find a column separator"),
        "missing required column": (".csv", good.drop(columns=["district"]).to_csv(index=False).encode(),
                                    "missing required column(s) ['district']"),
        "missing age and grade": (".csv", good.drop(columns=["age"]).to_csv(index=False).encode(),
                                  "age or grade"),
        "missing question column": (".csv", good.drop(columns=["q_health_lonely"]).to_csv(index=False).encode(),
                                    "missing question column(s) of wave 2024-spring: ['q_health_lonely']"),
        "extra unknown column": (".csv", good.assign(favourite_colour="blue").to_csv(index=False).encode(),
                                 "not in the codebook: ['favourite_colour']"),
        "question of another wave": (".csv", good.assign(q_health_sleep_v2=4).to_csv(index=False).encode(),
                                     "not asked in wave 2024-spring"),
        "ragged row": (".csv", good.to_csv(index=False).encode() + b"R9,030101\n", "has 2 fields"),
        "repeated header column": (".csv", good.to_csv(index=False).encode().replace(b"age", b"sex", 1),
                                   "repeats column"),
        "empty header name": (".csv", b",district\nR1,030101\n", "empty column name"),
        "unsupported suffix": (".txt", good.to_csv(index=False).encode(), "unsupported file type"),
        "corrupt xlsx": (".xlsx", b"this is not a zip archive at all", "not a readable XLSX"),
        "corrupt sav": (".sav", b"$FL2 broken" + bytes(200), "not a readable SPSS"),
    }


@pytest.mark.parametrize("case", list(_file_cases(load_codebook(REPO / "assets" / "surveys"))))
def test_bad_file_fails_with_clear_error(tmp_path, codebook, case):
    suffix, content, expected = _file_cases(codebook)[case]
    path = tmp_path / f"{WAVE}{suffix}"
    path.write_bytes(content)
    with pytest.raises(WaveFileError) as error:
        ingest_wave(path, codebook, WAVE, env={})
    assert str(path) in str(error.value)
    assert expected in str(error.value)


# --- the bad-input corpus: row-level problems end in named quarantine rows ------------------------------


def _row_cases():
    return {
        "answer above the scale": ({"q_work_future_job": "6"}, "answer_out_of_scale", "q_work_future_job"),
        "answer below the scale": ({"q_housing_home_rating": "-2"}, "answer_out_of_scale", "q_housing_home_rating"),
        "text answer": ({"q_health_lonely": "often"}, "answer_out_of_scale", "q_health_lonely"),
        "fractional answer": ({"q_education_thrive": "2,5"}, "answer_out_of_scale", "q_education_thrive"),
        "yes/no answered 2": ({"q_work_had_job": "2"}, "answer_out_of_scale", "q_work_had_job"),
        "unknown district code": ({"district": "030199"}, "unknown_district", "district"),
        "district of another city": ({"district": "460101"}, "unknown_district", "district"),
        "unknown district name": ({"district": "Narnia"}, "unknown_district", "district"),
        "missing district": ({"district": ""}, "missing_required_field", "district"),
        "missing sex": ({"sex": ""}, "missing_required_field", "sex"),
        "unknown sex": ({"sex": "x"}, "unknown_sex", "sex"),
        "missing respondent id": ({"respondent_id": " "}, "missing_required_field", "respondent_id"),
        "missing age": ({"age": ""}, "missing_required_field", "age or grade"),
        "age too low": ({"age": "7"}, "impossible_age", "age"),
        "age too high": ({"age": "120"}, "impossible_age", "age"),
        "age as text": ({"age": "ten"}, "impossible_age", "age"),
        "fractional age": ({"age": "15,5"}, "impossible_age", "age"),
    }


@pytest.mark.parametrize("case", list(_row_cases()))
def test_bad_row_is_quarantined_with_its_reason(tmp_path, codebook, case):
    changes, reason, detail = _row_cases()[case]
    frame = valid_frame(codebook, rows=8).astype(str)
    for column, value in changes.items():
        frame.loc[2, column] = value
    validated = ingest(write_csv(frame, tmp_path / f"{WAVE}.csv", sep=";"), codebook)
    assert validated.rows_in == 8
    assert validated.rows_accepted == 7
    quarantined = validated.quarantine.iloc[0]
    assert (quarantined["row_number"], quarantined["reason"], quarantined["detail"]) == (3, reason, detail)


def test_duplicate_respondents_are_all_quarantined(tmp_path, codebook):
    frame = valid_frame(codebook, rows=8)
    frame.loc[5, "respondent_id"] = "R2"
    validated = ingest(write_csv(frame, tmp_path / f"{WAVE}.csv"), codebook)
    assert validated.rows_accepted == 6
    assert validated.quarantine["row_number"].tolist() == [2, 6]
    assert set(validated.quarantine["reason"]) == {"duplicate_respondent"}
    assert validated.quarantine["respondent_key"].nunique() == 1


def test_many_problems_at_once_keep_the_count(tmp_path, codebook):
    frame = valid_frame(codebook, rows=40).astype(str)
    frame.loc[0, "age"] = "3"
    frame.loc[1, "district"] = "999999"
    frame.loc[2, "q_health_feel_good"] = "11"
    frame.loc[3, "respondent_id"] = frame.loc[4, "respondent_id"]
    frame.loc[5, "sex"] = ""
    frame.loc[5, "age"] = "200"  # first reason in ROW_REASONS order wins: missing_required_field
    validated = ingest(write_csv(frame, tmp_path / f"{WAVE}.csv"), codebook)
    assert validated.reason_counts() == {
        "missing_required_field": 1, "duplicate_respondent": 2, "unknown_district": 1, "unknown_sex": 0,
        "impossible_age": 1, "answer_out_of_scale": 1,
    }
    assert validated.rows_accepted == 34 and validated.rows_quarantined == 6


def test_dropped_columns_never_reach_the_responses(tmp_path, codebook):
    frame = valid_frame(codebook).assign(name="Kari Nordmann", email="kari@example.org",
                                         comment="I live at Storgata 1")
    validated = ingest(write_csv(frame, tmp_path / f"{WAVE}.csv"), codebook)
    text = validated.responses.astype(str).to_csv() + validated.quarantine.astype(str).to_csv()
    for secret in ("Kari", "kari@example.org", "Storgata", "R1", "R2"):
        assert secret not in text
