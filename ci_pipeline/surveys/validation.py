"""Checks a read wave file against the codebook: file-level column and coding checks, then row checks
with a quarantine.

Order matters for privacy: the respondent id column is replaced by its pseudonymous key before any row
check runs, so neither the accepted responses nor the quarantine ever hold a raw id, and the export
columns listed in the codebook's drop_columns (names, e-mail, free text) are discarded on arrival.

Every row ends up either accepted or quarantined with one reason (the first that applies, in the order of
ROW_REASONS) and a detail naming the field or question; no answer value is copied into the quarantine.
Respondent ids are normalised as the codebook says (NFC, trimmed, case folded when case-insensitive) before
they are keyed, so one person is one key. Answers are stored as their scale values, or DONT_KNOW (-1) for
the question's don't-know codes: a category of its own, counted, never scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ci_pipeline.surveys.codebook import DONT_KNOW, Codebook, Question, normalise_district, normalise_text
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
    dont_know: dict[str, int] = field(default_factory=dict)  # question -> accepted don't-know answers

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


def _whole_number(text: str) -> int | None:
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def district_codes(text: pd.Series, codebook: Codebook) -> pd.Series:
    """District code from a code ("030101"; also 30101 or "30101.0" as Excel writes it), a name or an alias,
    compared after NFC, case folding and without a leading "Bydel "; NaN where nothing matches."""
    lookup = codebook.district_lookup()

    def code(value: str) -> str | None:
        number = _whole_number(value) if value[:1].isdigit() else None
        if number is not None:
            return lookup.get(f"{number:06d}")
        return lookup.get(normalise_district(value))

    return text.map({value: code(value) for value in text.unique()})


def answer_values(text: pd.Series, question: Question) -> tuple[pd.Series, pd.Series]:
    """(values, invalid) of an answer column: scale values (as numbers or their labels), DONT_KNOW for the
    question's don't-know codes and texts, missing for an empty cell, invalid for anything else."""
    lookup = question.answer_lookup()
    numbers = {n: v for n, v in ((_whole_number(key), v) for key, v in lookup.items()) if n is not None}

    def value(cell: str) -> float:
        if cell == "":
            return np.nan
        number = _whole_number(cell)
        if number is not None:
            return numbers.get(number, INVALID)
        return lookup.get(normalise_text(cell), INVALID)

    mapped = text.map({cell: value(cell) for cell in text.unique()}).astype("float64")
    invalid = mapped == INVALID
    return mapped.mask(invalid).astype("Int16"), invalid


INVALID = -99999.0


def check_answer_coding(wave_file: WaveFile, codebook: Codebook, questions: tuple[Question, ...]) -> None:
    """File-level checks of how the answer columns are coded, so that a reversed, shifted or foreign coding
    is refused instead of being scored: SPSS value labels and user-missing codes must agree with the
    codebook, and a column whose answers are largely outside the scale is a coding problem, not bad rows."""
    problems = []
    for question in questions:
        lookup = question.answer_lookup()
        for code, label in wave_file.value_labels.get(question.id, {}).items():
            meant = lookup.get(normalise_text(label))
            as_coded = lookup.get(normalise_text(code))
            if normalise_text(label) == normalise_text(code):
                continue
            if meant is None:
                problems.append(f"{question.id}: value label {code} = {label!r} is not a label of scale "
                                f"{question.scale.id} or a don't-know text in the codebook (add it there if it is "
                                "only another wording)")
            elif meant == DONT_KNOW and as_coded != DONT_KNOW:
                problems.append(f"{question.id}: code {code} is labelled {label!r} (don't know), but the codebook "
                                f"has no don't-know code {code} for this question"
                                + (f" ({code} is a value of scale {question.scale.id})" if as_coded is not None else ""))
            elif meant != DONT_KNOW and as_coded != meant:
                problems.append(f"{question.id}: code {code} is labelled {label!r}, which the codebook gives to "
                                f"value {meant}: the scale is reversed or shifted")
        for code in sorted(wave_file.missing_codes.get(question.id, set())):
            if lookup.get(normalise_text(code)) != DONT_KNOW:
                problems.append(f"{question.id}: SPSS declares {code} a missing value, but it is not a don't-know "
                                "code of this question in the codebook")
        values, invalid = answer_values(wave_file.cells[question.id], question)
        answered = int(values.notna().sum() + invalid.sum())
        if invalid.sum() >= SYSTEMATIC_MIN_ROWS and invalid.sum() > SYSTEMATIC_SHARE * answered:
            problems.append(f"{question.id}: {int(invalid.sum())} of {answered} answers are not on scale "
                            f"{question.scale.id} {list(question.scale.values)} nor don't-know codes: the column "
                            "is coded differently from the codebook")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise WaveFileError(wave_file.path, f"answer coding disagrees with the codebook: {shown}. Recode the "
                                            "column(s) to the codebook's values, or correct the codebook")


# A column with at least this many answers off the scale, making up more than this share of its answers, is
# coded on another scale (0-4 for 1-5, 1-2 for 0-1): refused as a whole instead of quarantining its rows.
SYSTEMATIC_MIN_ROWS = 10
SYSTEMATIC_SHARE = 0.05


def validate_wave(
    wave_file: WaveFile, codebook: Codebook, wave_id: str, secret: bytes
) -> ValidatedWave:
    wave = codebook.wave(wave_id)
    questions = check_columns(wave_file, codebook, wave_id)
    asked = codebook.questions_in_wave(wave_id)
    check_answer_coding(wave_file, codebook, asked)
    cells = wave_file.cells
    rows_in = len(cells)
    ids = [codebook.normalise_id(rid) for rid in cells[codebook.respondent_id_column]]
    keys = pd.Series(pseudonymise_all(ids, secret), index=cells.index, dtype="str")

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

    districts = district_codes(cells[codebook.district_column], codebook)
    flag(districts.isna(), "unknown_district", codebook.district_column)

    sex_text = cells[codebook.sex_column]
    sexes = sex_text.map({value: codebook.sex_values.get(normalise_text(value)) for value in sex_text.unique()})
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
    for question in asked:
        values, invalid = answer_values(cells[question.id], question)
        flag(invalid, "answer_out_of_scale", question.id)
        answers[question.id] = values

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
            # data row in the file (1 = the first row after the header), so a data manager can find it
            "row_number": wave_file.row_numbers[quarantined.to_numpy()].astype("int64"),
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
        dont_know={q: int((responses[q] == DONT_KNOW).sum()) for q in questions},
    )
