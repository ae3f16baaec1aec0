"""catalog.duckdb and the mart folders as analysts reach them (ci_pipeline.catalog, issue 15): a copied
warehouse opens from anywhere (Python, the README's CLI one-liner, plain SQL), the contract reaches every
view, column and Parquet field, pandas and DuckDB read a mart's folder, and a mart version's code_version
counts edits to the YAML catalogue and the suites."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_marts import MART, T1, T2, frame

from ci_pipeline import catalog
from ci_pipeline.marts import MartStore, code_version
from ci_pipeline.schema import MARTS, contract

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DUCKDB_CLI = Path(sys.executable).parent / "duckdb"  # what `make setup` installs (duckdb-cli)


def versions_in(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [str(v) for (v,) in con.execute(f"SELECT DISTINCT version FROM {relation} ORDER BY 1").fetchall()]


@pytest.fixture(scope="module")
def built(pipeline_run) -> MartStore:
    return MartStore(pipeline_run.settings.warehouse_root)


@pytest.fixture
def moved(built, tmp_path) -> MartStore:
    """The pipeline's warehouse copied, that copy copied elsewhere and removed: nothing of it is left where
    it was built."""
    first = tmp_path / "first" / "warehouse"
    shutil.copytree(built.root, first)
    moved = tmp_path / "mounted" / "elsewhere" / "wh"
    shutil.copytree(first, moved)
    shutil.rmtree(first.parent)
    return MartStore(moved)


def assert_every_view_reads(con: duckdb.DuckDBPyConnection, store: MartStore) -> None:
    assert set(store.marts()) == set(MARTS)
    for mart in store.marts():
        latest = store.latest_version(mart)
        assert con.execute(f'SELECT count(*) FROM "{mart}"').fetchone()[0] == store.manifest(mart, latest)["row_count"]
        assert versions_in(con, f'"{mart}_versions"') == store.versions(mart)


# --- 1. a portable catalogue --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_moved_warehouse_opens_from_any_working_directory(moved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # neither the warehouse nor the repository
    con = catalog.connect(moved.root)
    try:
        assert_every_view_reads(con, moved)
        sqls = [sql for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
    finally:
        con.close()
    assert len(sqls) == 2 * len(MARTS)
    paths = [path for sql in sqls for path in re.findall(r"'([^']+\.parquet)'", sql)]
    assert paths and all(path.startswith("marts/") for path in paths), "the views hold no absolute path"

    with catalog.connect(moved.catalog_path) as con:  # the catalogue file itself works too
        assert con.execute("SELECT count(*) FROM regions").fetchone()[0] > 0


@pytest.mark.slow
def test_the_documented_sql_opens_a_moved_warehouse(moved, tmp_path, monkeypatch):
    """Without ci_pipeline: ATTACH in any DuckDB session, then point file_search_path at the folder."""
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect()
    con.execute(f"ATTACH '{moved.catalog_path}' AS marts (READ_ONLY)")
    con.execute(f"SET file_search_path = '{moved.root}'")
    for mart in moved.marts():
        assert con.execute(f'SELECT count(*) FROM marts."{mart}"').fetchone()[0] > 0
        assert versions_in(con, f'marts."{mart}_versions"') == moved.versions(mart)
    con.close()


def readme_cli_command() -> list[str]:
    """The README's one-liner that opens the catalogue in the DuckDB CLI."""
    lines = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()
             if line.strip().startswith(".venv/bin/duckdb ")]
    assert len(lines) == 1, f"README.md: expected one `.venv/bin/duckdb ...` line, found {lines}"
    return shlex.split(lines[0])


def readme_sql_queries() -> list[str]:
    """The example queries of the README's analyst guide."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", text, re.DOTALL)
    assert block, "README.md: no ```sql block"
    return [sql.strip() for sql in block.group(1).split(";") if sql.strip()]


def run_cli(argv: list[str], cwd: Path, sql: str) -> str:
    assert DUCKDB_CLI.exists(), f"{DUCKDB_CLI} is missing: `make setup` installs it (duckdb-cli)"
    result = subprocess.run([str(DUCKDB_CLI), *argv[1:], "-csv", "-c", sql], cwd=cwd, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0 and "Error" not in result.stderr, f"{sql}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_the_readme_cli_one_liner_opens_a_moved_warehouse(moved, tmp_path):
    argv = readme_cli_command()
    assert argv[0] == ".venv/bin/duckdb" and "data/warehouse/catalog.duckdb" in argv
    # As the README says it: from a folder whose data/warehouse is the warehouse ...
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.move(moved.root, project / "data" / "warehouse")
    for sql in readme_sql_queries():
        assert len(run_cli(argv, project, sql).splitlines()) > 1, f"README query returned no row: {sql}"
    for mart in MARTS:
        counted = run_cli(argv, project, f'SELECT count(DISTINCT version) FROM "{mart}_versions"')
        assert counted.splitlines()[1] == "1"
    # ... and from anywhere else, with the warehouse's path in its place.
    absolute = [arg.replace("data/warehouse", str(project / "data" / "warehouse")) for arg in argv]
    out = run_cli(absolute, tmp_path, "SELECT count(*) FROM indicator_values")
    assert int(out.splitlines()[1]) == MartStore(project / "data" / "warehouse").read("indicator_values").shape[0]


def test_connect_names_what_is_missing(tmp_path):
    with pytest.raises(catalog.CatalogError, match=f"no catalogue at {tmp_path / 'catalog.duckdb'}"):
        catalog.connect(tmp_path)


# --- 2. one contract reaches every reader ----------------------------------------------------------------


@pytest.mark.slow
def test_every_view_and_column_carries_the_contract(built):
    con = catalog.connect(built.root)
    try:
        views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        columns = {}
        for view, column, comment in con.execute(
                "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall():
            columns.setdefault(view, {})[column] = comment
    finally:
        con.close()
    for mart, spec in MARTS.items():
        latest, versions = built.latest_version(mart), built.versions(mart)
        assert spec.summary in views[mart] and latest in views[mart]
        assert spec.summary in views[f"{mart}_versions"] and versions[-1] in views[f"{mart}_versions"]
        for view in (mart, f"{mart}_versions"):
            assert columns[view] == {**spec.descriptions, "version": columns[view]["version"]}, view
            assert "UTC publication time" in columns[view]["version"]


@pytest.mark.slow
def test_every_published_parquet_file_carries_the_contract(built):
    for mart, spec in MARTS.items():
        for version in built.versions(mart):
            schema = pq.read_schema(built.version_dir(mart, version) / "part-0.parquet")
            described = {field.name: (field.metadata or {}).get(b"description", b"").decode() for field in schema}
            assert described == spec.descriptions, f"{mart} {version}: field descriptions"
            meta = {key.decode(): value.decode() for key, value in schema.metadata.items() if key != b"pandas"}
            assert meta == {"mart": mart, "version": version, "grain": spec.grain,
                            "primary_key": json.dumps(list(spec.primary_key)), "description": spec.summary}
            assert b"pandas" in schema.metadata, "pandas still reads its dtypes back"


def test_a_mart_without_a_contract_and_an_older_column_are_described(tmp_path):
    """Every column gets a comment: a mart the contract lacks says so; a column only older versions had
    says that; the version column says what it is."""
    store = MartStore(tmp_path)
    store.publish(MART, frame([1.0]), now=T1)
    store.publish(MART, frame([2.0]).drop(columns="label"), now=T2)
    with catalog.connect(tmp_path) as con:
        comments = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() "
                                    "WHERE table_name = 'demo_versions'").fetchall())
        assert con.execute("SELECT count(*) FROM demo_versions WHERE label IS NULL").fetchone()[0] == 1
    assert set(comments) == {"region_code", "label", "value", "version"}
    assert comments["value"] == "not described: demo has no contract in ci_pipeline/schema.py"
    assert all(comments.values())
    spec = contract("stories")
    view = catalog.views("stories", "v2", {"v1": "a", "v2": "b"})[1]
    assert view.column_comment("story_id") == spec.descriptions["story_id"]
    assert view.column_comment("dropped") == "not in the current contract of stories: a column of older versions only"


def test_a_catalogue_whose_comments_are_not_the_contracts_is_rebuilt(tmp_path):
    store = MartStore(tmp_path)
    store.publish(MART, frame([1.0]), now=T1)
    con = duckdb.connect(str(store.catalog_path))
    con.execute("COMMENT ON COLUMN demo.value IS 'something else'")
    con.close()
    assert store.repair() == ["rebuilt catalog.duckdb: the comments of view demo are not the contract's"]
    assert store.repair() == []


def catalogue_contents(path: Path) -> tuple[set, set]:
    with duckdb.connect(str(path), read_only=True) as con:
        views = set(con.execute("SELECT view_name, sql, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        columns = set(con.execute("SELECT table_name, column_name, column_index, comment FROM duckdb_columns() "
                                  "WHERE NOT internal").fetchall())
    return views, columns


def test_a_catalogue_rewritten_view_by_view_holds_what_a_build_from_scratch_holds(tmp_path):
    """Within one process each publish and prune starts from the catalogue it wrote and rewrites only the
    views that changed; another process, which reads the file, finds what a full build writes."""
    store = MartStore(tmp_path / "warehouse")
    store.publish(MART, frame([1.0]), now=T1)
    store.publish("other", frame([5.0, 6.0]), now=T1)
    store.publish(MART, frame([2.0]).drop(columns="label"), now=T2)
    store.prune(MART, keep=1)
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(store.catalog_path, copy)
    assert catalog.written_views(copy) is None  # not the file this process wrote: it is read
    assert catalog.disagreement(copy, store._views()) is None
    scratch = tmp_path / "scratch.duckdb"
    catalog.build(scratch, store.root, store._views())
    assert catalogue_contents(copy) == catalogue_contents(scratch)
    with catalog.connect(store.root) as con:
        assert con.execute("SELECT count(*) FROM demo").fetchone()[0] == 1
        assert versions_in(con, "demo_versions") == store.versions(MART) == [store.latest_version(MART)]


def test_contract_names_the_known_datasets():
    assert contract("goals") is MARTS["goals"]
    with pytest.raises(KeyError, match="no contract for 'goal' in ci_pipeline/schema.py"):
        contract("goal")


# --- 3. names Parquet readers skip, and the code version ---------------------------------------------------


@pytest.mark.slow
def test_pandas_and_duckdb_read_a_marts_folder(built):
    folder = built.mart_dir("indicator_values")
    every = pd.read_parquet(folder)
    assert list(every["version"].astype(str).unique()) == built.versions("indicator_values")
    assert len(every) == built.manifest("indicator_values", built.latest_version("indicator_values"))["row_count"]
    globbed = duckdb.sql(f"SELECT version, count(*) FROM read_parquet('{folder}/**/*.parquet', "
                         "hive_partitioning = true) GROUP BY version").fetchall()
    assert [(str(v), n) for v, n in globbed] == [(built.latest_version("indicator_values"), len(every))]
    for mart in built.marts():
        names = [p.name for p in built.mart_dir(mart).iterdir()]
        assert all(n.startswith(("version=", "_")) for n in names), f"{mart}: {names}"
        pd.read_parquet(built.mart_dir(mart))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_code_version_counts_edits_to_code_catalogue_and_suites(tmp_path):
    repo = tmp_path / "repo"
    for path, text in {"ci_pipeline/run.py": "x = 1\n", "assets/goals.yaml": "goals: []\n",
                       "checks/goals.yaml": "expectations: []\n", "README.md": "readme\n"}.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first")
    commit = git(repo, "rev-parse", "--short=12", "HEAD")
    assert code_version(repo) == commit

    for path, text in {"assets/goals.yaml": "goals: [changed]\n", "checks/goals.yaml": "expectations: [x]\n",
                       "ci_pipeline/run.py": "x = 2\n"}.items():
        original = (repo / path).read_text()
        (repo / path).write_text(text)
        assert code_version(repo) == f"{commit}-dirty", f"an edit to {path} is not a clean commit"
        git(repo, "add", path)
        assert code_version(repo) == f"{commit}-dirty", f"a staged edit to {path}"
        git(repo, "reset", "-q", path)
        (repo / path).write_text(original)
        assert code_version(repo) == commit

    (repo / "assets" / "indicators").mkdir()
    (repo / "assets" / "indicators" / "new.yaml").write_text("id: new\n")
    assert code_version(repo) == f"{commit}-dirty", "a new, uncommitted file under assets/"
    (repo / "assets" / "indicators" / "new.yaml").unlink()
    (repo / "README.md").write_text("changed\n")
    assert code_version(repo) == commit, "only what builds the marts counts"
    assert code_version(tmp_path / "not-a-repo") == "unknown"
