"""Seeded generator of synthetic (illustrative) survey waves: the embedded default in data/surveys/waves/.

Test and tool code, not shipped with the package: tools/generate_survey_waves.py writes the embedded
default with it; the tests and benchmarks/survey_aggregate.py import it from this folder.

It imitates what the initiative will receive: a panel of children and young people in all 15 Oslo
bydeler, answering 2-3 times a year, with unit non-response (about a third do not come back the next wave,
new respondents join), item non-response (about 4 % of answers blank), district differences, and the odd
bad row a survey tool lets through (a duplicate, an unknown district, an impossible age, an answer off the
scale, a missing sex). Each wave is written in a different export format (semicolon CSV in Windows-1252,
XLSX with the leading zero of district codes lost, SPSS .sav with value labels) so the readers are
exercised by the default run. All output is deterministic for a seed, byte for byte.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ci_pipeline.surveys.codebook import Codebook, Question

DEFAULT_SEED = 20240415
# Relative size of each bydel's respondent group (roughly its population aged 10-25, in thousands).
DISTRICT_WEIGHTS = {
    "030101": 10, "030102": 9, "030103": 5, "030104": 4, "030105": 8, "030106": 7, "030107": 10,
    "030108": 10, "030109": 6, "030110": 6, "030111": 7, "030112": 10, "030113": 9, "030114": 9,
    "030115": 9,
}
# District effect on the latent well-being of respondents (illustrative, not measured).
DISTRICT_EFFECTS = {
    "030101": -0.25, "030102": 0.0, "030103": 0.05, "030104": 0.1, "030105": 0.35, "030106": 0.4,
    "030107": 0.45, "030108": 0.35, "030109": -0.15, "030110": -0.3, "030111": -0.35, "030112": -0.3,
    "030113": 0.1, "030114": 0.3, "030115": -0.3,
}
WAVE_FORMATS = (".csv", ".xlsx", ".sav")
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
FREE_TEXT_SAMPLES = ("", "", "", "Mer aktiviteter for ungdom", "Trygge steder om kvelden", "Billigere buss")


def _answers(question: Question, latent: np.ndarray, lower_is_better: bool, rng: np.random.Generator) -> np.ndarray:
    """Answers on the question's scale, driven by the respondent's latent well-being plus noise."""
    direction = -1.0 if lower_is_better else 1.0
    signal = direction * latent + rng.normal(0.0, 0.9, size=latent.shape)
    values = np.asarray(question.scale.values)
    if len(values) == 2:
        positive_share = 1.0 / (1.0 + np.exp(-(signal + (0.3 if not lower_is_better else -0.9))))
        draw = rng.random(latent.shape) < positive_share
        positive_value = question.positive[0]
        other = next(v for v in values if v != positive_value)
        return np.where(draw, positive_value, other)
    # ordered scale: map the signal onto the scale, centred a little above the middle
    position = (signal + 0.4) / 3.2 + 0.5
    index = np.clip(np.round(position * (len(values) - 1)), 0, len(values) - 1).astype(int)
    return values[index]


def _panel(wave_sizes: dict[str, int], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Who answers in which wave: a panel with about 65 % returning and newcomers filling up."""
    districts = list(DISTRICT_WEIGHTS)
    district_p = np.array([DISTRICT_WEIGHTS[d] for d in districts], dtype=float)
    district_p /= district_p.sum()
    next_id = 1
    current = pd.DataFrame()
    result = {}
    for wave_id, size in wave_sizes.items():
        stay = current[rng.random(len(current)) < 0.65] if len(current) else current
        new_count = size - len(stay)
        new = pd.DataFrame(
            {
                "person": np.arange(next_id, next_id + new_count),
                "district_code": rng.choice(districts, size=new_count, p=district_p),
                "sex": rng.choice(["female", "male"], size=new_count),
                "age": rng.choice(np.arange(10, 26), size=new_count,
                                  p=np.array([9, 9, 9, 9, 9, 9, 8, 8, 7, 6, 4, 4, 3, 3, 2, 1]) / 100),
                "latent": rng.normal(0.0, 1.0, size=new_count),
            }
        )
        next_id += new_count
        new["latent"] += new["district_code"].map(DISTRICT_EFFECTS).to_numpy()
        if len(stay):
            # returning respondents are half a year older on average and their well-being drifts a little
            stay = stay.assign(
                age=np.minimum(stay["age"] + (rng.random(len(stay)) < 0.5), 25),
                latent=stay["latent"] + rng.normal(0.05, 0.3, size=len(stay)),
            )
        current = pd.concat([stay, new], ignore_index=True)
        result[wave_id] = current.copy()
    return result


def generate_wave_frames(codebook: Codebook, seed: int = DEFAULT_SEED, respondents_per_wave: int = 900
                         ) -> dict[str, pd.DataFrame]:
    """Raw export frames (as a survey tool would deliver them, with raw ids and a free-text column) for
    every illustrative wave in the registry."""
    rng = np.random.default_rng(seed)
    waves = [w.id for w in codebook.waves if w.illustrative]
    sizes = {wave_id: int(respondents_per_wave * (1.0 + 0.1 * rng.standard_normal())) for wave_id in waves}
    panel = _panel(sizes, rng)
    frames = {}
    for wave_id in waves:
        people = panel[wave_id].sample(frac=1.0, random_state=rng.integers(2**31)).reset_index(drop=True)
        latent = people["latent"].to_numpy()
        frame = pd.DataFrame(
            {
                "respondent_id": [f"LG-{(person * 7919 + 104729) % 10**7:07d}" for person in people["person"]],
                "district": people["district_code"].to_numpy(),
                "sex": people["sex"].to_numpy(),
                "age": people["age"].astype(int).to_numpy(),
            }
        )
        for indicator in codebook.indicators:
            for question in codebook.indicator_questions(indicator, wave_id):
                values = _answers(question, latent, indicator.polarity == "lower_is_better", rng).astype(object)
                values[rng.random(len(values)) < 0.04] = None  # item non-response
                frame[question.id] = values
        frame["comment"] = rng.choice(FREE_TEXT_SAMPLES, size=len(frame))
        frames[wave_id] = _with_bad_rows(frame, rng)
    return frames


def _with_bad_rows(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The handful of faulty rows a real export contains, so the quarantine is exercised by default."""
    frame = frame.copy()
    rows = rng.choice(len(frame), size=5, replace=False)
    frame.loc[rows[0], "district"] = "030199"  # "Uoppgitt"
    frame.loc[rows[1], "age"] = 7
    frame.loc[rows[2], "q_work_future_job"] = 6
    frame.loc[rows[3], "sex"] = None
    duplicate = frame.iloc[[rows[4]]]
    return pd.concat([frame, duplicate], ignore_index=True)


def write_csv(frame: pd.DataFrame, path: Path, codebook: Codebook) -> None:
    """Excel-style Norwegian CSV: semicolon, Windows-1252, CRLF, district names instead of codes."""
    export = frame.copy()
    export["district"] = export["district"].map(lambda code: codebook.districts.get(code, code))
    export["sex"] = export["sex"].map({"female": "Jente", "male": "Gutt"})
    path.write_bytes(export.to_csv(sep=";", index=False, lineterminator="\r\n").encode("cp1252"))


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Excel workbook in which district codes became numbers (30101), as happens when Excel opens a CSV."""
    from openpyxl import Workbook

    export = frame.copy()
    export["district"] = [int(code) if str(code).isdigit() else code for code in export["district"]]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Svar"
    sheet.append(list(export.columns))
    for row in export.itertuples(index=False):
        sheet.append([None if pd.isna(v) else (int(v) if isinstance(v, (np.integer, int)) else v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(_reproducible_xlsx(buffer.getvalue()))


def _reproducible_xlsx(data: bytes) -> bytes:
    """The workbook with the save time removed from its properties and zip entries."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2024-01-01T00:00:00Z", content)
            target.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME), content,
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def write_sav(frame: pd.DataFrame, path: Path, codebook: Codebook) -> None:
    """SPSS file with numeric district and sex codes carrying value labels, and school grade instead of age
    for school-age respondents (age only for those past upper secondary school)."""
    import pyreadstat

    district_numbers = {code: i + 1 for i, code in enumerate(codebook.districts)}
    district_labels = {float(i): codebook.districts[code] for code, i in district_numbers.items()}
    district_labels[99.0] = "Uoppgitt"
    export = frame.drop(columns=["age"]).copy()
    export.insert(3, "grade", [float(a - 5) if a <= 18 else np.nan for a in frame["age"]])
    export.insert(4, "age", [float(a) if a > 18 or a < 10 else np.nan for a in frame["age"]])
    export["district"] = [float(district_numbers.get(code, 99)) for code in frame["district"]]
    export["sex"] = frame["sex"].map({"male": 1.0, "female": 2.0}).astype(float)
    for column in export.columns:
        if column.startswith("q_"):
            export[column] = pd.to_numeric(export[column]).astype(float)
    pyreadstat.write_sav(
        export,
        str(path),
        variable_value_labels={"district": district_labels, "sex": {1.0: "Gutt", 2.0: "Jente"}},
    )
    data = bytearray(path.read_bytes())
    data[92:109] = b"01 Jan 2400:00:00"  # the header's creation date and time, fixed for reproducibility
    path.write_bytes(bytes(data))


def write_waves(codebook: Codebook, target: Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Generate every illustrative wave and write it to `target`, cycling through CSV, XLSX and .sav."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for position, (wave_id, frame) in enumerate(generate_wave_frames(codebook, seed).items()):
        suffix = WAVE_FORMATS[position % len(WAVE_FORMATS)]
        path = target / f"{wave_id}{suffix}"
        if suffix == ".csv":
            write_csv(frame, path, codebook)
        elif suffix == ".xlsx":
            write_xlsx(frame, path)
        else:
            write_sav(frame, path, codebook)
        written.append(path)
    return written


def synthetic_responses(codebook: Codebook, wave_id: str, respondents: int, seed: int) -> pd.DataFrame:
    """Responses in the stored (validated, pseudonymised) shape, generated directly and fast; for the
    aggregation benchmark and tests that need volume rather than file formats."""
    rng = np.random.default_rng(seed)
    districts = np.array(list(DISTRICT_WEIGHTS))
    district_p = np.array(list(DISTRICT_WEIGHTS.values()), dtype=float)
    district_p /= district_p.sum()
    district_index = rng.choice(len(districts), size=respondents, p=district_p)
    effects = np.array([DISTRICT_EFFECTS[d] for d in districts])
    latent = rng.normal(0.0, 1.0, size=respondents) + effects[district_index]
    bands = np.array([band.band for band in codebook.age_bands])
    frame = pd.DataFrame(
        {
            "wave": pd.Series(np.full(respondents, wave_id), dtype="str"),
            "respondent_key": pd.Series(
                [f"{k:064x}" for k in rng.integers(0, 2**62, size=respondents)], dtype="str"),
            "district_code": pd.Series(districts[district_index], dtype="str"),
            "sex": pd.Series(np.where(rng.random(respondents) < 0.5, "female", "male"), dtype="str"),
            "age_band": pd.Series(bands[rng.choice(len(bands), size=respondents, p=[0.3, 0.3, 0.25, 0.15])],
                                  dtype="str"),
        }
    )
    for indicator in codebook.indicators:
        for question in codebook.indicator_questions(indicator, wave_id):
            values = pd.array(_answers(question, latent, indicator.polarity == "lower_is_better", rng),
                              dtype="Int16")
            values[rng.random(respondents) < 0.04] = pd.NA
            frame[question.id] = values
    frame["provenance"] = "illustrative"
    frame["provenance"] = frame["provenance"].astype("str")
    return frame
