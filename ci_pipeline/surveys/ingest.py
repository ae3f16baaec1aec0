"""Ingesting one wave: find its file, read, pseudonymise + validate, admit, and store it.

Storage under the warehouse (one Parquet file per wave, rewritten whole, so re-ingesting is idempotent):
    <warehouse>/survey/responses/wave=<id>.parquet         accepted rows, pseudonymous keys, no free text
    <warehouse>/survey/quarantine/wave=<id>.parquet        row number, pseudonymous key, reason, detail
    <warehouse>/survey/history/wave=<id>/<sha256>.parquet  the responses of every file admitted for the wave
The Parquet schema metadata holds the file's sha256 (the same file ingested again is recognised and nothing
is rewritten), the key fingerprint (pseudonymise.py) and the wave's counts for the run summary.

A file is refused (WaveRefused; nothing stored, the wave's earlier version stays published) when it cannot
be read for certain, when every row is quarantined, when it was pseudonymised with another key than the
stored waves of its kind, or when replacing the wave's earlier version would reveal a few people by
difference (republication.py). The refusal concerns that wave only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ci_pipeline.archive import atomic_write
from ci_pipeline.surveys.codebook import Codebook
from ci_pipeline.surveys.disclosure_table import DisclosureRules
from ci_pipeline.surveys.pseudonymise import (
    SECRET_ENV_VAR,
    PseudonymisationError,
    key_fingerprint,
    pseudonym_secret,
)
from ci_pipeline.surveys.readers import SUPPORTED_SUFFIXES, WaveFileError, read_wave_file
from ci_pipeline.surveys.republication import republication_problem
from ci_pipeline.surveys.validation import ROW_REASONS, ValidatedWave, validate_wave

WAVE_FOLDERS = ("waves", "incoming")
SHA_METADATA_KEY = b"ci_pipeline.source_sha256"
FINGERPRINT_METADATA_KEY = b"ci_pipeline.key_fingerprint"
REPORT_METADATA_KEY = b"ci_pipeline.wave_report"


def wave_id_from_path(path: Path) -> str:
    """The wave a file belongs to is its name without suffix: incoming/2025-autumn.csv -> 2025-autumn."""
    return Path(path).stem


def wave_files(survey_root: Path) -> list[Path]:
    """Every wave file in <survey_root>/waves and <survey_root>/incoming, sorted by name."""
    found = []
    for folder in WAVE_FOLDERS:
        directory = Path(survey_root) / folder
        if directory.is_dir():
            found += [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES]
    return sorted(found, key=lambda p: (p.name, str(p)))


def find_wave_file(survey_root: Path, wave_id: str) -> Path:
    matches = [p for p in wave_files(survey_root) if wave_id_from_path(p) == wave_id]
    if not matches:
        raise FileNotFoundError(
            f"no file for wave {wave_id!r} in {Path(survey_root) / 'waves'} or {Path(survey_root) / 'incoming'}"
            f" (expected {wave_id}.csv, .xlsx or .sav)"
        )
    if len(matches) > 1:
        raise WaveFileError(matches[0], f"wave {wave_id!r} has more than one file: {[str(p) for p in matches]}")
    return matches[0]


def labelled_columns(codebook: Codebook) -> frozenset[str]:
    """Columns whose SPSS value labels are the values (the demographic fields)."""
    return frozenset({codebook.district_column, codebook.sex_column})


def ingest_wave(path: Path, codebook: Codebook, wave_id: str, env: Mapping[str, str] | None = None
                ) -> ValidatedWave:
    """Read, pseudonymise and validate a wave file (WaveFileError, PseudonymisationError when it cannot)."""
    wave = codebook.wave(wave_id)
    secret = pseudonym_secret(wave_id, wave.illustrative, env)
    wave_file = read_wave_file(path, labelled_columns(codebook), codebook.respondent_id_column)
    return validate_wave(wave_file, codebook, wave_id, secret)


def wave_key_fingerprint(codebook: Codebook, wave_id: str, env: Mapping[str, str] | None = None) -> str:
    wave = codebook.wave(wave_id)
    return key_fingerprint(pseudonym_secret(wave_id, wave.illustrative, env), f"nfc,strip,case={codebook.id_case}")


class WaveRefused(RuntimeError):
    """A wave file the pipeline does not store: what is stored and published for the wave stays as it was."""

    def __init__(self, wave_id: str, source: str, problem: str, validated: ValidatedWave | None = None):
        self.wave_id, self.source, self.problem, self.validated = wave_id, source, problem, validated
        super().__init__(f"survey wave {wave_id} ({source}): refused: {problem}")


@dataclass(frozen=True)
class WaveReport:
    """What happened to one wave file, for the run summary and the asset metadata."""

    wave: str
    source_file: str
    status: str  # ingested | unchanged | refused
    rows_in: int | None = None
    rows_accepted: int | None = None
    rows_quarantined: int | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    dont_know: int | None = None
    problem: str | None = None

    @classmethod
    def of(cls, validated: ValidatedWave | None, wave: str, source_file: str, status: str,
           problem: str | None = None) -> WaveReport:
        if validated is None:
            return cls(wave, source_file, status, problem=problem)
        return cls(wave, source_file, status, validated.rows_in, validated.rows_accepted,
                   validated.rows_quarantined, {k: v for k, v in validated.reason_counts().items() if v},
                   sum(validated.dont_know.values()), problem)

    def metadata(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def line(self) -> str:
        states = {"ingested": "ingested", "unchanged": "already ingested (same file content)",
                  "refused": "REFUSED"}
        out = f"survey wave {self.wave} ({self.source_file}): {states[self.status]}"
        if self.rows_in is not None:
            reasons = ", ".join(f"{reason} {self.quarantine_reasons[reason]}" for reason in ROW_REASONS
                                if self.quarantine_reasons.get(reason))
            out += (f"; rows in {self.rows_in}, accepted {self.rows_accepted}, quarantined {self.rows_quarantined}"
                    + (f" ({reasons})" if reasons else "") + f"; don't-know answers {self.dont_know}")
        if self.problem:
            out += f"; {self.problem}"
        return out


def _stored_waves(warehouse_root: Path, codebook: Codebook) -> dict[str, Path]:
    return {wave.id: responses_path(warehouse_root, wave.id) for wave in codebook.waves
            if responses_path(warehouse_root, wave.id).exists()}


def _metadata(path: Path) -> dict[bytes, bytes]:
    return pq.read_schema(path).metadata or {}


def admit_wave(validated: ValidatedWave, codebook: Codebook, warehouse_root: Path, fingerprint: str,
               min_n: int = DisclosureRules().min_n) -> None:
    """Raise WaveRefused when storing `validated` would publish nothing, break the panel, or reveal a few
    people by difference with what was stored for the wave before."""
    def refuse(problem: str):
        raise WaveRefused(validated.wave, validated.source_file, problem, validated)

    if validated.rows_accepted == 0:
        refuse(f"all {validated.rows_in} rows were quarantined; nothing of this file is published, and the wave "
               "as published before (if it was) stays. Fix the rows named in the reasons above")
    illustrative = codebook.wave(validated.wave).illustrative
    stored = _stored_waves(warehouse_root, codebook)
    others = {}
    for wave_id, path in stored.items():
        if wave_id == validated.wave or codebook.wave(wave_id).illustrative != illustrative:
            continue
        other = _metadata(path).get(FINGERPRINT_METADATA_KEY, b"").decode()
        if other and other != fingerprint:
            others[wave_id] = other
    if others:
        refuse(f"{SECRET_ENV_VAR} is not the key the stored wave(s) {', '.join(sorted(others))} were "
               f"pseudonymised with (key fingerprint {fingerprint[:12]} vs {next(iter(others.values()))[:12]}; "
               "or the codebook's respondent_id case rule changed): the same person would get another key and "
               "change per person would silently be lost. Set the key used before; to start over with a new "
               f"key, remove {Path(warehouse_root) / 'survey'} and ingest every wave again")
    earlier = _history(warehouse_root, validated.wave)
    if earlier:
        partners = {wave_id: pd.read_parquet(path) for wave_id, path in stored.items() if wave_id != validated.wave}
        for sha256, path in earlier.items():
            if sha256 == validated.file_sha256:
                continue
            problem = republication_problem(pd.read_parquet(path), validated.responses, codebook, validated.wave,
                                            partners, min_n)
            if problem:
                refuse(f"this file would replace the wave published before from another file, and {problem}. The "
                       "published wave stays as it is; publish corrections once they touch at least "
                       f"{min_n} respondents in every cell they change, or as a new wave")


def history_dir(warehouse_root: Path, wave_id: str) -> Path:
    return Path(warehouse_root) / "survey" / "history" / f"wave={wave_id}"


def _history(warehouse_root: Path, wave_id: str) -> dict[str, Path]:
    """Every earlier stored version of the wave's responses by source sha256 (the current one included,
    also when it was stored before the history was kept)."""
    versions = {path.stem: path for path in sorted(history_dir(warehouse_root, wave_id).glob("*.parquet"))}
    current = responses_path(warehouse_root, wave_id)
    sha256 = stored_sha256(current)
    if sha256 and sha256 not in versions:
        versions[sha256] = current
    return versions


def responses_path(warehouse_root: Path, wave_id: str) -> Path:
    return Path(warehouse_root) / "survey" / "responses" / f"wave={wave_id}.parquet"


def quarantine_path(warehouse_root: Path, wave_id: str) -> Path:
    return Path(warehouse_root) / "survey" / "quarantine" / f"wave={wave_id}.parquet"


def stored_sha256(path: Path) -> str | None:
    """The source-file sha256 recorded in a stored wave Parquet file, None when there is none."""
    if not path.exists():
        return None
    value = _metadata(path).get(SHA_METADATA_KEY)
    return value.decode() if value else None


def stored_report(warehouse_root: Path, wave_id: str, source_file: str) -> WaveReport:
    """The report of the stored wave (what was counted when it was ingested), as status "unchanged"."""
    counts = json.loads(_metadata(responses_path(warehouse_root, wave_id)).get(REPORT_METADATA_KEY, b"{}"))
    counts.pop("status", None)
    counts.pop("problem", None)
    return WaveReport(**{"wave": wave_id, "source_file": source_file, **counts, "status": "unchanged"})


def _write(frame: pd.DataFrame, path: Path, metadata: dict[bytes, bytes]) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    # A wave is small enough to build in memory; atomic_write never leaves a half-written file behind.
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    atomic_write(path, buffer.getvalue().to_pybytes())


def store_wave(validated: ValidatedWave, warehouse_root: Path, fingerprint: str) -> bool:
    """Write responses, quarantine and the history copy of a wave; False (nothing written) when the same
    file is stored. Run admit_wave first."""
    responses = responses_path(warehouse_root, validated.wave)
    quarantine = quarantine_path(warehouse_root, validated.wave)
    if stored_sha256(responses) == validated.file_sha256 and stored_sha256(quarantine) == validated.file_sha256:
        return False
    report = WaveReport.of(validated, validated.wave, validated.source_file, "ingested")
    metadata = {SHA_METADATA_KEY: validated.file_sha256.encode(), FINGERPRINT_METADATA_KEY: fingerprint.encode(),
                REPORT_METADATA_KEY: json.dumps(report.metadata(), sort_keys=True).encode()}
    _write(validated.responses, history_dir(warehouse_root, validated.wave) / f"{validated.file_sha256}.parquet",
           metadata)
    _write(validated.responses, responses, metadata)
    _write(validated.quarantine, quarantine, metadata)
    return True


def process_wave(path: Path, codebook: Codebook, wave_id: str, warehouse_root: Path,
                 env: Mapping[str, str] | None = None) -> WaveReport:
    """Ingest one wave file end to end: read, validate, admit, store. Any reason not to store it (a file
    error, a pseudonymisation problem, an admission rule) is raised as WaveRefused naming the file."""
    path = Path(path)
    try:
        validated = ingest_wave(path, codebook, wave_id, env)
        fingerprint = wave_key_fingerprint(codebook, wave_id, env)
    except (WaveFileError, PseudonymisationError) as error:
        raise WaveRefused(wave_id, path.name, str(error)) from error
    admit_wave(validated, codebook, warehouse_root, fingerprint)
    written = store_wave(validated, warehouse_root, fingerprint)
    return WaveReport.of(validated, wave_id, path.name, "ingested" if written else "unchanged")


def stored_response_files(warehouse_root: Path, codebook: Codebook) -> list[Path]:
    """The stored responses of every registered wave, in wave order."""
    return list(_stored_waves(warehouse_root, codebook).values())
