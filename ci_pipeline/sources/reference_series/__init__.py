"""Reference series: published figures that come as files, not from an API, as tidy observations.

A reference series is one file of figures (an IMDi export of SSB register data, a table transcribed
from an SSB or Oslo kommune web page) re-encoded as the project's own copy:

    data/reference_series/<name>.yaml   origin (title, publisher, url, the reference file and its
                                        sha256, what the figure means, period, unit), the recipe that
                                        reads the file, what is not used and why, and the sha256 of:
    data/reference_series/<name>.csv    the figures as tidy rows (indicator_id, region_code,
                                        region_level, period, period_type, sex, age_group, value,
                                        unit, status), values exactly as published.

`build_series()` reads the original file (under ../shared/reference) through the recipe; the tool
tools/build_reference_series.py writes the CSV from it. `load_reference_series()` reads the project
copy, checks its sha256 and gives tidy observations with provenance `reconstructed`.

A catalogue entry (`source: reference`, `ReferenceSpec` in ci_pipeline/catalogue.py) makes one table of
one or more series: `series_files()` names their files, `entry_observations()` reads them (after checking
that their checksums are the ones the raw asset recorded), keeps the indicators the entry uses and
accounts for the ones it leaves out.

The package's modules, in the order a series goes through them:

- spec.py: the YAML as validated models (`ReferenceSeriesSpec`, `Recipe`), `load_spec()`,
  `ReferenceSeriesError`, `CSV_COLUMNS`;
- records.py: the original file read as records by its format (`read_records()`);
- build.py: records mapped to the project copy's rows (`build_series()`, `parse_value()`, `series_csv()`);
- observations.py: the project copy as tidy observations (`load_reference_series()`) and a catalogue
  entry's table (`series_files()`, `entry_observations()`).
"""

from ci_pipeline.sources.reference_series.build import BuiltSeries, build_series, parse_value, series_csv
from ci_pipeline.sources.reference_series.observations import (
    ReferenceSeries,
    entry_observations,
    load_reference_series,
    series_files,
)
from ci_pipeline.sources.reference_series.spec import (
    CSV_COLUMNS,
    ReferenceSeriesError,
    ReferenceSeriesSpec,
    load_spec,
)

__all__ = [
    "CSV_COLUMNS",
    "BuiltSeries",
    "ReferenceSeries",
    "ReferenceSeriesError",
    "ReferenceSeriesSpec",
    "build_series",
    "entry_observations",
    "load_reference_series",
    "load_spec",
    "parse_value",
    "series_csv",
    "series_files",
]
