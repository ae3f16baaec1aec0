"""Reference series as tidy observations: `load_reference_series()` reads a project copy (the CSV
beside its YAML) after checking its sha256, with provenance `reconstructed`; for a catalogue entry
(`source: reference`), `series_files()` names its series' files and `entry_observations()` gives its
table, keeping the indicators the entry uses and accounting for the rows it leaves out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ci_pipeline.archive import file_sha256
from ci_pipeline.catalogue import ReferenceSpec
from ci_pipeline.schema import TIDY_COLUMNS
from ci_pipeline.sources.reference_series.spec import (
    CSV_COLUMNS,
    ReferenceSeriesError,
    ReferenceSeriesSpec,
    load_spec,
)

SOURCE = "reference"


@dataclass
class ReferenceSeries:
    spec: ReferenceSeriesSpec
    frame: pd.DataFrame  # tidy observations (TIDY_COLUMNS)


def load_reference_series(yaml_path: Path | str) -> ReferenceSeries:
    """One series' tidy observations from its project copy (<name>.csv beside the YAML), after checking
    the copy's sha256 against the YAML."""
    spec = load_spec(yaml_path)
    csv_path = Path(yaml_path).with_suffix(".csv")
    if not csv_path.is_file():
        raise ReferenceSeriesError(f"{spec.name}: the project copy {csv_path} is missing; run "
                                   "tools/build_reference_series.py")
    digest = file_sha256(csv_path)
    if digest != spec.sha256:
        raise ReferenceSeriesError(f"{spec.name}: {csv_path.name} has sha256 {digest}, the YAML says {spec.sha256}; "
                                   "rebuild it with tools/build_reference_series.py")
    rows = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if list(rows.columns) != CSV_COLUMNS:
        raise ReferenceSeriesError(f"{spec.name}: {csv_path.name} has columns {list(rows.columns)}, not {CSV_COLUMNS}")
    frame = pd.DataFrame({column: rows[column] for column in CSV_COLUMNS if column != "value"})
    frame["value"] = pd.to_numeric(rows["value"].replace("", None), errors="raise").astype(float)
    frame["status"] = rows["status"].replace("", None)
    frame["numerator"] = float("nan")
    frame["denominator"] = float("nan")
    frame["source"] = SOURCE
    frame["table_id"] = spec.name
    frame["source_updated"] = None
    frame["retrieved_at"] = f"{spec.origin.retrieved}T00:00:00.000000Z"
    frame["snapshot_sha256"] = digest
    frame["provenance"] = spec.provenance
    frame = frame[TIDY_COLUMNS]
    for column in (c for c in TIDY_COLUMNS if c not in ("value", "numerator", "denominator")):
        frame[column] = pd.array(frame[column].astype(object), dtype="str")
    return ReferenceSeries(spec, frame)




def series_files(entry: ReferenceSpec, root: Path | str) -> list[tuple[str, Path, Path]]:
    """(series, YAML path, CSV path) of every series of a catalogue entry; a missing file is an error."""
    files = []
    for name in entry.series:
        yaml_path = Path(root) / f"{name}.yaml"
        csv_path = yaml_path.with_suffix(".csv")
        for path in (yaml_path, csv_path):
            if not path.is_file():
                raise ReferenceSeriesError(f"{entry.path}: series {name!r}: {path} is missing")
        files.append((name, yaml_path, csv_path))
    return files


def entry_observations(entry: ReferenceSpec, root: Path | str,
                       recorded: list[dict[str, str]]) -> tuple[pd.DataFrame, dict[str, object]]:
    """The tidy observations of a catalogue entry (table_id: the entry's) and a report of the rows left
    out. `recorded` holds the checksums the raw asset saw ({"series", "yaml_sha256", "csv_sha256"});
    a file that changed since then is an error, so staging never mixes two versions of a series."""
    by_series = {item["series"]: item for item in recorded}
    frames, not_used = [], Counter()
    for name, yaml_path, csv_path in series_files(entry, root):
        seen = by_series.get(name)
        if seen is None or (file_sha256(yaml_path), file_sha256(csv_path)) != (seen["yaml_sha256"],
                                                                            seen["csv_sha256"]):
            raise ReferenceSeriesError(f"{entry.name}: series {name!r} changed since raw/{entry.name} was "
                                       f"materialised; rematerialise raw/{entry.name}")
        frame = load_reference_series(yaml_path).frame
        unknown = sorted(set(frame["indicator_id"]) - set(entry.indicators) - set(entry.not_used))
        if unknown:
            raise ReferenceSeriesError(f"{entry.path}: series {name!r} has indicator(s) {unknown}, which are "
                                       "neither in 'indicators' nor in 'not_used'")
        left_out = frame["indicator_id"].isin(list(entry.not_used))
        for indicator_id, rows in frame[left_out].groupby("indicator_id"):
            not_used[f"{name} {indicator_id}: {entry.not_used[indicator_id]}"] += len(rows)
        for rule in entry.not_used_rows:
            matches = ~left_out & (frame["period"] == rule["period"])
            if "region_level" in rule:
                matches &= frame["region_level"] == rule["region_level"]
            not_used[f"{name} {rule['period']} {rule.get('region_level', 'all levels')}: {rule['reason']}"] += \
                int(matches.sum())
            left_out |= matches
        frames.append(frame[~left_out])
    frame = pd.concat(frames, ignore_index=True)
    absent = sorted(set(entry.indicators) - set(frame["indicator_id"]))
    if absent:
        raise ReferenceSeriesError(f"{entry.path}: indicators: {absent} are in none of its series {entry.series}")
    frame["table_id"] = pd.array([entry.table_id] * len(frame), dtype="str")
    key = ["indicator_id", "region_code", "period", "sex", "age_group"]
    repeated = frame[frame.duplicated(key, keep=False)]
    if not repeated.empty:
        raise ReferenceSeriesError(f"{entry.path}: two of its series give a figure for "
                                   f"{repeated.iloc[0][key].to_dict()}; one table holds one figure per key")
    return frame, {"not_used": [f"{reason}: {rows} rows" for reason, rows in sorted(not_used.items())]}
