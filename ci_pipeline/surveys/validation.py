"""Checks a read wave file against the codebook: file-level column checks, then row checks with a quarantine.

Order matters for privacy: the respondent id column is replaced by its pseudonymous key before any row
check runs, so neither the accepted responses nor the quarantine ever hold a raw id, and the export
columns listed in the codebook's drop_columns (names, e-mail, free text) are discarded on arrival.

Every row ends up either accepted or quarantined with one reason (the first that applies, in the order of
ROW_REASONS) and a detail naming the field or question; no answer value is copied into the quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ci_pipeline.surveys.codebook import Codebook
from ci_pipeline.surveys.pseudonymise import pseudonymise_all
from ci_pipeline.surveys.readers import WaveFile, WaveFileError

ROW_REASONS = (
    "missing_required_field",
    "duplicate_respondent",
    "unknown_district",
    "unknown_sex",
    "impossible_age",
    "answer_out_of_scale",
)
QUARANTINE_COLUMNS = ["wave", "row_number", "respondent_key", "reason", "detail"]


@dataclass(frozen=True)
class ValidatedWave:
    wave: str
    source_file: str  # file name only: paths can carry user names
    file_sha256: str
    rows_in: int
    responses: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def rows_accepted(self) -> int:
        return len(self.responses)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def reason_counts(self) -> dict[str, int]:
        counts = self.quarantine["reason"].value_counts()
        return {reason: int(counts.get(reason, 0)) for reason in ROW_REASONS}


def response_columns(codebook: Codebook, wave_id: str) -> list[str]:
    """Columns of the stored responses of a wave, in order."""
    questions = [q.id for q in codebook.questions_in_wave(wave_id)]
    return ["wave", "respondent_key", "district_code", "sex", "age_band", *questions, "provenance"]


def check_columns(wave_file: WaveFile, codebook: Codebook, wave_id: str) -> list[str]:
    """File-level check of the header; returns the question columns of this wave."""
    columns = [c for c in wave_file.cells.columns if c not in codebook.drop_columns]
    present = set(columns)
    problems = []
    required = [codebook.respondent_id_column, codebook.district_column, codebook.sex_column]
    missing_required = [c for c in required if c not in present]
    if codebook.age_column not in present and codebook.grade_column not in present:
        missing_required.append(f"{codebook.age_column} or {codebook.grade_column}")
    if missing_required:
        problems.append(f"missing required column(s) {missing_required}")
    questions = [q.id for q in codebook.questions_in_wave(wave_id)]
    missing_questions = [q for q in questions if q not in present]
    if missing_questions:
        problems.append(f"missing question column(s) of wave {wave_id}: {missing_questions}")
    other_waves = sorted(present & ({q.id for q in codebook.questions} - set(questions)))
    if other_waves:
        problems.append(f"question column(s) not asked in wave {wave_id} per the codebook: {other_waves}")
    known = set(required) | {codebook.age_column, codebook.grade_column} | {q.id for q in codebook.questions}
    unexpected = [c for c in columns if c not in known]
    if unexpected:
        problems.append(
            f"column(s) not in the codebook: {unexpected} (add them to the codebook, or to drop_columns "
            "if they are names, contact details or free text)"
        )
    if problems:
        raise WaveFileError(wave_file.path, "; ".join(problems))
    return questions


def parse_integers(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers from text ("3", "3.0", "3,0" with decimal comma). Returns (values, invalid): empty
    text is a missing value, anything else that is not a whole number is invalid."""
    stripped = text.str.strip()
    numbers = pd.to_numeric(stripped.str.replace(",", ".", regex=False), errors="coerce").astype("float64")
    filled = stripped != ""
    integral = numbers.notna() & (np.floor(numbers) == numbers)
    invalid = filled & ~integral
    values = numbers.where(integral).astype("Int64")
    return values, invalid


def _district_codes(text: pd.Series, codebook: Codebook) -> pd.Series:
    """District code from a code ("030101"), a code Excel stripped of its leading zero (30101), or a name."""
    by_name = {name.lower(): code for code, name in codebook.districts.items()}
    lookup = {**{code: code for code in codebook.districts}, **by_name}
    normalised = text.str.strip().str.lower()
    normalised = normalised.where(~normalised.str.fullmatch(r"301\d\d"), "0" + normalised)
    return normalised.map(lookup)


def validate_wave(
    wave_file: WaveFile, codebook: Codebook, wave_id: str, secret: bytes
) -> ValidatedWave:
    wave = codebook.wave(wave_id)
    questions = check_columns(wave_file, codebook, wave_id)
    cells = wave_file.cells
    rows_in = len(cells)
    keys = pd.Series(pseudonymise_all(cells[codebook.respondent_id_column].tolist(), secret), dtype="str")

    reason = pd.Series(pd.NA, index=cells.index, dtype="str")
    detail = pd.Series(pd.NA, index=cells.index, dtype="str")

    def flag(mask: pd.Series, code: str, field_name: str) -> None:
        new = mask & reason.isna()
        reason[new] = code
        detail[new] = field_name

    empty = {c: cells[c].str.strip() == "" for c in cells.columns}
    for column in (codebook.respondent_id_column, codebook.district_column, codebook.sex_column):
        flag(empty[column], "missing_required_field", column)
    has_age = codebook.age_column in cells.columns
    has_grade = codebook.grade_column in cells.columns
    no_age = (empty[codebook.age_column] if has_age else True) & (
        empty[codebook.grade_column] if has_grade else True
    )
    flag(pd.Series(no_age, index=cells.index), "missing_required_field",
         f"{codebook.age_column} or {codebook.grade_column}")

    flag(keys.notna() & keys.duplicated(keep=False), "duplicate_respondent", codebook.respondent_id_column)

    districts = _district_codes(cells[codebook.district_column], codebook)
    flag(districts.isna(), "unknown_district", codebook.district_column)

    sexes = cells[codebook.sex_column].str.strip().str.lower().map(codebook.sex_values)
    flag(sexes.isna(), "unknown_sex", codebook.sex_column)

    age_band = pd.Series(pd.NA, index=cells.index, dtype="str")
    age_given = pd.Series(False, index=cells.index)
    if has_age:
        ages, invalid_age = parse_integers(cells[codebook.age_column])
        low, high = codebook.age_range
        flag(invalid_age | (ages.notna() & ((ages < low) | (ages > high))).fillna(False), "impossible_age",
             codebook.age_column)
        valid = ages.notna() & (ages >= low) & (ages <= high)
        valid = valid.fillna(False).astype(bool)
        age_band[valid] = [codebook.age_band_for_age(int(a)) for a in ages[valid]]
        age_given = ~empty[codebook.age_column]
    if has_grade:
        grades, invalid_grade = parse_integers(cells[codebook.grade_column])
        low, high = codebook.grade_range
        use_grade = ~age_given
        out_of_range = (grades.notna() & ((grades < low) | (grades > high))).fillna(False).astype(bool)
        flag(use_grade & (invalid_grade | out_of_range), "impossible_age", codebook.grade_column)
        from_grade = use_grade & grades.notna().astype(bool) & ~out_of_range
        age_band[from_grade] = [codebook.age_band_for_grade(int(g)) for g in grades[from_grade]]

    answers = {}
    for question in codebook.questions_in_wave(wave_id):
        values, invalid = parse_integers(cells[question.id])
        outside = invalid | (values.notna() & ~values.isin(question.scale.values)).fillna(False).astype(bool)
        flag(outside, "answer_out_of_scale", question.id)
        answers[question.id] = values.astype("Int16")

    accepted = reason.isna()
    provenance = "illustrative" if wave.illustrative else "recorded"
    responses = pd.DataFrame(
        {
            "wave": wave_id,
            "respondent_key": keys[accepted],
            "district_code": districts[accepted].astype("str"),
            "sex": sexes[accepted].astype("str"),
            "age_band": age_band[accepted].astype("str"),
            **{q: answers[q][accepted] for q in questions},
            "provenance": provenance,
        },
        columns=response_columns(codebook, wave_id),
    ).reset_index(drop=True)
    responses["wave"] = responses["wave"].astype("str")
    responses["provenance"] = responses["provenance"].astype("str")

    quarantined = ~accepted
    quarantine = pd.DataFrame(
        {
            "wave": pd.Series(wave_id, index=cells.index[quarantined], dtype="str"),
            # 1-based data row in the file (header not counted), so a data manager can find the row
            "row_number": (cells.index[quarantined] + 1).astype("int64"),
            "respondent_key": keys[quarantined],
            "reason": reason[quarantined],
            "detail": detail[quarantined],
        },
        columns=QUARANTINE_COLUMNS,
    ).reset_index(drop=True)

    return ValidatedWave(
        wave=wave_id,
        source_file=wave_file.path.name,
        file_sha256=wave_file.sha256,
        rows_in=rows_in,
        responses=responses,
        quarantine=quarantine,
    )
