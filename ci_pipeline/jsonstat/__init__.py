"""JSON-stat 2.0 reader: one SSB or FHI data answer as a table of category codes, values and status.

Both SSB (PxWebApi v2, and v1 with response format json-stat2) and FHI Statistikk answer data requests
in JSON-stat 2.0, each with its own quirks (see SOURCES.md 1.2 and 3):

- SSB: `category.index` is an object, `status` a sparse object {"cell": symbol}, `/metadata` answers
  have no `value` at all;
- FHI: `category.index` is an array, `role.time`/`role.geo` may be null, `status` may be "", `updated`
  has seven fractional-second digits, and `value` may mix flag strings into the numbers.

`read_jsonstat()` turns one response into a `JsonStatTable`: the dimensions and a frame with one
categorical column of category codes per dimension, then `value` (float64) and `status`. A response of
800,000 cells is the SSB maximum, so the reader works on whole numpy arrays: the dimension columns are
built with np.repeat/np.tile over `size`, never cell by cell.

The package only reads; ci_pipeline.tidy maps a table through its catalogue entry into tidy observations.
Its modules:

- model.py: `JsonStatTable`, `Dimension`, `JsonStatError`, `JsonStatWarning`;
- reader.py: `read_jsonstat()`, `read_jsonstat_metadata()`, `parse_timestamp()`: the document checked
  and laid out as the table's frame;
- dimensions.py: `id`/`size`/`dimension` and each dimension's categories, labels and children;
- cells.py: `value` and `status` (dense or sparse, flag strings among the values) as numpy arrays;
- dense_values.py: a dense `value` array of numbers and nulls read from the JSON text, without a Python
  object per cell (the rest of the document goes to orjson).
"""

from ci_pipeline.jsonstat.model import Dimension, JsonStatError, JsonStatTable, JsonStatWarning
from ci_pipeline.jsonstat.reader import parse_timestamp, read_jsonstat, read_jsonstat_metadata

__all__ = [
    "Dimension",
    "JsonStatError",
    "JsonStatTable",
    "JsonStatWarning",
    "parse_timestamp",
    "read_jsonstat",
    "read_jsonstat_metadata",
]
