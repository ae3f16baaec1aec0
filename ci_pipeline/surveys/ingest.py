"""Ingesting one wave: find its file, read, pseudonymise + validate, and store responses and quarantine.

Storage under the warehouse (one Parquet file per wave, rewritten whole, so re-ingesting is idempotent):
    <warehouse>/survey/responses/wave=<id>.parquet   accepted rows, pseudonymous keys, no free text
    <warehouse>/survey/quarantine/wave=<id>.parquet  row number, pseudonymous key, reason, detail
The file's sha256 is kept in the Parquet schema metadata: the same file ingested again is recognised and
nothing is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ci_pipeline.archive import atomic_write
from ci_pipeline.surveys.codebook import Codebook
from ci_pipeline.surveys.pseudonymise import pseudonym_secret
from ci_pipeline.surveys.readers import SUPPORTED_SUFFIXES, WaveFileError, read_wave_file
from ci_pipeline.surveys.validation import ValidatedWave, validate_wave

WAVE_FOLDERS = ("waves", "incoming")
SHA_METADATA_KEY = b"ci_pipeline.source_sha256"


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
    wave = codebook.wave(wave_id)
    secret = pseudonym_secret(wave_id, wave.illustrative, env)
    wave_file = read_wave_file(path, labelled_columns(codebook))
    return validate_wave(wave_file, codebook, wave_id, secret)


def responses_path(warehouse_root: Path, wave_id: str) -> Path:
    return Path(warehouse_root) / "survey" / "responses" / f"wave={wave_id}.parquet"


def quarantine_path(warehouse_root: Path, wave_id: str) -> Path:
    return Path(warehouse_root) / "survey" / "quarantine" / f"wave={wave_id}.parquet"


def stored_sha256(path: Path) -> str | None:
    """The source-file sha256 recorded in a stored wave Parquet file, None when there is none."""
    if not path.exists():
        return None
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(SHA_METADATA_KEY)
    return value.decode() if value else None


def _write(frame: pd.DataFrame, path: Path, sha256: str) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), SHA_METADATA_KEY: sha256.encode()})
    # A wave is small enough to build in memory; atomic_write never leaves a half-written file behind.
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    atomic_write(path, buffer.getvalue().to_pybytes())


def store_wave(validated: ValidatedWave, warehouse_root: Path) -> bool:
    """Write responses and quarantine of a wave; False (nothing written) when the same file is stored."""
    responses = responses_path(warehouse_root, validated.wave)
    quarantine = quarantine_path(warehouse_root, validated.wave)
    if stored_sha256(responses) == validated.file_sha256 and stored_sha256(quarantine) == validated.file_sha256:
        return False
    _write(validated.responses, responses, validated.file_sha256)
    _write(validated.quarantine, quarantine, validated.file_sha256)
    return True


def stored_response_files(warehouse_root: Path, codebook: Codebook) -> list[Path]:
    """The stored responses of every registered wave, in wave order."""
    files = [responses_path(warehouse_root, wave.id) for wave in codebook.waves]
    return [path for path in files if path.exists()]
