"""docs/DATA_DICTIONARY.md, generated from the column contract (ci_pipeline/schema.py): per mart, what a row
is, the primary key, every column's type and meaning, and how to query it (DuckDB SQL, pandas), its
versions included.

    python -m ci_pipeline.dictionary            rewrite docs/DATA_DICTIONARY.md
    python -m ci_pipeline.dictionary --check    exit 1 when it is stale (tests/test_dictionary.py does this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ci_pipeline.catalog import CATALOG_FILE, VERSIONS_SUFFIX
from ci_pipeline.schema import MARTS, SQL_TYPES, TIDY_OBSERVATIONS, Contract

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "DATA_DICTIONARY.md"
WAREHOUSE = "data/warehouse"

INTRODUCTION = f"""# Data dictionary

Generated from the column contract, `ci_pipeline/schema.py`, by `python -m ci_pipeline.dictionary`: change
the contract, not this file (`tests/test_dictionary.py` fails while it is stale). The same descriptions are
the comments of every view and column in `{CATALOG_FILE}` and the field metadata of every published
Parquet file.

## Where the marts are

The warehouse is `{WAREHOUSE}/` (or `CI_PIPELINE_WAREHOUSE`); the folder can be copied, moved or mounted
anywhere, and opened from any working directory.

    marts/<mart>/version=<UTC timestamp>/part-0.parquet   one published version (immutable)
    marts/<mart>/version=<UTC timestamp>/_manifest.json   its row count, schema, content and file sha256, the
                                                          input snapshots, the code version, the check results,
                                                          the version it replaced (previous_version)
    marts/<mart>/_LATEST                                  the id of the latest version
    marts/<mart>/_journal/                                one file per version published (and pruned)
    {CATALOG_FILE:<52}  views <mart> (the latest version) and
                                                          <mart>{VERSIONS_SUFFIX} (every published version, with a
                                                          `version` column); no data of its own

Every name in a mart's folder except the version folders begins with `_`, so Parquet readers skip it. Each
Parquet file carries its contract: each field's `description` in the field metadata; the mart, the version,
the grain and the primary key (`mart`, `version`, `grain`, `primary_key`, `description`) in the schema
metadata (`pyarrow.parquet.read_schema(path)`).

## How to open them

The views name their files by paths relative to the warehouse folder, which DuckDB finds through its
`file_search_path` setting (it looks in the working directory first):

```python
from ci_pipeline.catalog import connect
con = connect("{WAREHOUSE}")  # read-only, file_search_path set
df = con.sql("FROM indicator_values").df()

# without the package:
import duckdb
con = duckdb.connect("{WAREHOUSE}/{CATALOG_FILE}", read_only=True)
con.execute("SET file_search_path = '{WAREHOUSE}'")
```

```sh
duckdb -readonly -cmd "SET file_search_path='{WAREHOUSE}'" {WAREHOUSE}/{CATALOG_FILE}
# inside the warehouse folder nothing needs setting:
cd {WAREHOUSE} && duckdb -readonly {CATALOG_FILE}
```

(`make setup` installs the DuckDB CLI as `.venv/bin/duckdb`.) In another DuckDB session:
`ATTACH '{WAREHOUSE}/{CATALOG_FILE}' AS marts (READ_ONLY); SET file_search_path = '{WAREHOUSE}';`.
`DESCRIBE <view>` lists the columns; `SELECT view_name, comment FROM duckdb_views()` and
`SELECT table_name, column_name, comment FROM duckdb_columns()` show the descriptions below.

Or read the Parquet files directly:

```python
import pandas as pd
from pathlib import Path
mart = Path("{WAREHOUSE}/marts/indicator_values")
latest = pd.read_parquet(mart / f"version={{(mart / '_LATEST').read_text().strip()}}")
every = pd.read_parquet(mart)  # every version folder, with a `version` column
```

```sql
SELECT * FROM read_parquet('{WAREHOUSE}/marts/indicator_values/version=*/*.parquet',
                           hive_partitioning = true, union_by_name = true);
```

## Versions

A mart gets a new version only when its content changes; versions are never changed, only pruned by the
retention setting. Which versions exist:
`SELECT version, count(*) AS row_count FROM <mart>{VERSIONS_SUFFIX} GROUP BY version ORDER BY version`
(the comment on `<mart>{VERSIONS_SUFFIX}` names the first and the last),
`MartStore("{WAREHOUSE}").versions("<mart>")` in Python, or the `_journal/` folder; each manifest's
`previous_version` names the version it replaced.

`<mart>{VERSIONS_SUFFIX}` reads exactly the published versions. A glob or `pd.read_parquet` of the mart's
folder reads every version folder on disk, which during a publish includes the one being written (its id
is not yet in `_LATEST`). Columns that an older version lacks are null in its rows of
`<mart>{VERSIONS_SUFFIX}` (`union_by_name`); pandas reads a whole folder only while all its versions share
one schema.

## Types

`type` is the pandas dtype a column reads back as, `DuckDB` the type DuckDB reads it as. A figure that a
source withholds has a null value and a status symbol: `..` missing, `.` cannot occur or cannot be
computed, `:` suppressed for confidentiality. Never read a null value as 0.

| type | DuckDB | what it holds |
|---|---|---|
| str | VARCHAR | text (null where missing) |
| float64 | DOUBLE | a number (null where missing) |
| int64 | BIGINT | a whole number, never null |
| Int64 | BIGINT | a whole number or null |
| bool | BOOLEAN | true or false, never null |
| object | varies | mixed or typed by its values; the column's description says what it holds |
"""


def column_table(contract: Contract) -> str:
    rows = [f"| {c.name} | {c.dtype} | {SQL_TYPES[c.dtype]} | {'key' if c.name in contract.primary_key else ''} "
            f"| {c.description} |" for c in contract.columns]
    return "| column | type | DuckDB | key | description |\n|---|---|---|---|---|\n" + "\n".join(rows)


def mart_section(contract: Contract) -> str:
    name, key = contract.name, ", ".join(contract.primary_key)
    return f"""### {name}

One row per {contract.grain}. Primary key: ({key}).

{column_table(contract)}

```sql
SELECT * FROM {name} ORDER BY {key} LIMIT 20;  -- the latest version
SELECT version, count(*) AS row_count FROM {name}{VERSIONS_SUFFIX} GROUP BY version ORDER BY version;
SELECT * FROM {name}{VERSIONS_SUFFIX} WHERE version = '<id>';  -- one earlier version
```

```python
# with the imports of "How to open them"
latest = connect("{WAREHOUSE}").sql("FROM {name}").df()
every = pd.read_parquet("{WAREHOUSE}/marts/{name}")  # every version, with a `version` column
```
"""


def render() -> str:
    marts = "\n".join(mart_section(contract) for contract in MARTS.values())
    index = "\n".join(f"| [`{c.name}`](#{c.name}) | {c.grain} | ({', '.join(c.primary_key)}) |" for c in MARTS.values())
    return f"""{INTRODUCTION}
## The marts

| mart | one row per | primary key |
|---|---|---|
{index}

{marts}
## For data engineers: the tidy observations

Every `staging/<table>` asset holds this shape before geography; it is not a mart. One row per
{TIDY_OBSERVATIONS.grain}. Primary key: ({', '.join(TIDY_OBSERVATIONS.primary_key)}).

{column_table(TIDY_OBSERVATIONS)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the data dictionary from the column contract.")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help=f"default: {DEFAULT_PATH}")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale; write nothing")
    args = parser.parse_args(argv)
    text = render()
    current = args.path.read_text(encoding="utf-8") if args.path.exists() else None
    if args.check:
        if current != text:
            print(f"{args.path} is stale: run python -m ci_pipeline.dictionary")
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
