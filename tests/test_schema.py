"""The column contract (ci_pipeline.schema) against what the pipeline publishes and the expectation suites
in checks/ (docs/DATA_DICTIONARY.md, generated from it: tests/test_dictionary.py)."""

from __future__ import annotations

import re
from pathlib import Path

from datetime import date

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ci_pipeline.marts import MartStore
from ci_pipeline.quality.suites import Suite, SuiteEntry, load_suites
from ci_pipeline.schema import (
    CONTRACTS,
    DTYPES,
    MARTS,
    OBSERVATION_KEY,
    REGIONS,
    SQL_TYPES,
    TIDY_OBSERVATIONS,
    Column,
    Contract,
    ContractError,
    observation_key_without,
    to_arrow,
)
from ci_pipeline.tidy import plain

REPO = Path(__file__).resolve().parents[1]


# Keyword arguments of GX expectations that name columns.
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list", "column_set")
UNIQUENESS = ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique")
# The columns a pandas row_condition compares ('unit=="percent"').
CONDITION_COLUMN = re.compile(r"\b([A-Za-z_]\w*)\s*(?:==|!=|<=|>=|<|>)")


def contract_for(asset: str) -> Contract:
    """The contract of the dataset an asset holds."""
    if asset.startswith("staging/"):
        return TIDY_OBSERVATIONS
    if asset == "geography/regions":
        return REGIONS
    group, _, name = asset.partition("/")
    if group == "marts" and name in MARTS:
        return MARTS[name]
    raise AssertionError(f"no contract for asset {asset}: add one to ci_pipeline/schema.py")


def named_columns(entry: SuiteEntry) -> set[str]:
    """The contract columns an entry names (a derivation's own column is not one)."""
    names = {entry.kwargs[key] for key in COLUMN_KWARGS if key in entry.kwargs}
    for key in COLUMN_LIST_KWARGS:
        names |= set(entry.kwargs.get(key) or [])
    names |= set(CONDITION_COLUMN.findall(entry.kwargs.get("row_condition") or ""))
    if entry.derive:
        names.discard(entry.derive["name"])
    return names


def disagreements(suite: Suite, asset: str) -> list[str]:
    contract = contract_for(asset)
    problems = []
    asserted_keys = []
    for entry in suite.entries:
        unknown = sorted(named_columns(entry) - set(contract.names))
        if unknown:
            problems.append(f"{entry.label} names {unknown}, not columns of {contract.name}")
        kwargs = entry.kwargs
        if entry.expectation == "expect_table_columns_to_match_ordered_list" \
                and kwargs.get("column_list") != contract.names:
            problems.append(f"{entry.label}: column_list {kwargs.get('column_list')} is not {contract.names}")
        if entry.expectation == "expect_table_columns_to_match_set" and kwargs.get("exact_match", True) \
                and set(kwargs.get("column_set") or []) != set(contract.names):
            problems.append(f"{entry.label}: column_set (exact) differs from {contract.names}")
        if entry.expectation in UNIQUENESS:
            key = kwargs.get("column_list") or [kwargs.get("column")]
            if set(key) != set(contract.primary_key):
                problems.append(f"{entry.label}: unique on {key}, but the primary key of {contract.name} is "
                                f"{list(contract.primary_key)}")
            asserted_keys.append(set(key))
    if set(contract.primary_key) not in asserted_keys:
        problems.append(f"{suite.path} on {asset}: no expectation asserts the primary key "
                        f"{list(contract.primary_key)} of {contract.name}")
    return problems


# --- the contract itself --------------------------------------------------------------------------------


def test_every_mart_and_the_tidy_observations_have_a_contract():
    assert set(MARTS) == {"indicator_values", "regions", "indicators", "goals", "goal_progress",
                          "survey_results", "survey_change", "stories", "exclusion_costs"}
    assert set(CONTRACTS) == set(MARTS) | {"tidy_observations"}
    for contract in CONTRACTS.values():
        assert contract.primary_key, contract.name
        assert all(column.description for column in contract.columns), contract.name


def test_a_contract_refuses_unknown_key_columns_dtypes_and_duplicates():
    column = Column("a", "str", "a")
    with pytest.raises(ValueError, match="primary key"):
        Contract("x", "thing", (column,), ("b",))
    with pytest.raises(ValueError, match="unknown dtype"):
        Contract("x", "thing", (Column("a", "string", "a"),), ("a",))
    with pytest.raises(ValueError, match="listed twice"):
        Contract("x", "thing", (column, column), ("a",))


def test_observation_key_and_the_keys_derived_from_it():
    assert list(TIDY_OBSERVATIONS.primary_key) == OBSERVATION_KEY == list(MARTS["indicator_values"].primary_key)
    assert observation_key_without("period") == ["source", "table_id", "indicator_id", "region_code", "sex",
                                                 "age_group"]
    with pytest.raises(ValueError, match="not in the observation key"):
        observation_key_without("unit")


def test_indicator_values_shares_the_tidy_columns_definitions():
    tidy = {column.name: column for column in TIDY_OBSERVATIONS.columns}
    shared = [column for column in MARTS["indicator_values"].columns if column.name in tidy]
    # region_code is harmonised; the two instants are published as timestamps, not the sources' text.
    assert [column.name for column in shared if column is not tidy[column.name]] == [
        "region_code", "source_updated", "retrieved_at"]
    assert set(TIDY_OBSERVATIONS.names) <= set(MARTS["indicator_values"].names)


TYPED = Contract("typed", "test row", (Column("key", "str", "k"), Column("on", "date", "a date"),
                                       Column("at", "timestamp", "an instant"), Column("doc", "json", "a document"),
                                       Column("n", "Int64", "a count")), ("key",))


def test_published_types_are_converted_from_the_builders_text_and_read_back_as_the_contract_says(tmp_path):
    frame = pd.DataFrame({"key": ["a", "b", "c"], "on": ["2024-10-15", None, "2020-01-01"],
                          # SSB's and FHI's spellings of one instant, and an instant given in another zone
                          "at": ["2024-01-12T05:52:00Z", "2024-01-12T05:52:00.0000000+00:00",
                                 "2024-01-12T06:52:00+01:00"],
                          "doc": ['["ssb"]', None, '{"0301": {"target": 5}}'],
                          "n": pd.array([15, None, 3], dtype="Int64")})
    table = to_arrow(frame, TYPED)
    assert [str(field.type) for field in table.schema] == [
        "large_string", "date32[day]", "timestamp[us, tz=UTC]", "extension<arrow.json>", "int64"]
    pq.write_table(table, tmp_path / "typed.parquet")
    back = pd.read_parquet(tmp_path / "typed.parquet")
    assert {column: str(dtype) for column, dtype in back.dtypes.items()} == TYPED.read_dtypes
    assert back["on"].tolist() == [date(2024, 10, 15), None, date(2020, 1, 1)]
    assert back["at"].nunique() == 1 and str(back["at"][0]) == "2024-01-12 05:52:00+00:00"
    assert back["doc"].tolist()[::2] == ['["ssb"]', '{"0301": {"target": 5}}'] and pd.isna(back["doc"][1])
    described = duckdb.sql(f"DESCRIBE SELECT * FROM '{tmp_path / 'typed.parquet'}'").fetchall()
    assert [row[1] for row in described] == ["VARCHAR", "DATE", "TIMESTAMP WITH TIME ZONE", "JSON", "BIGINT"]
    assert [SQL_TYPES[column.dtype] for column in TYPED.columns] == [row[1] for row in described]


@pytest.mark.parametrize(("column", "bad", "expected"), [
    ("on", "15.10.2024", r"typed\.on: row 1 holds '15\.10\.2024', which is not a date \(YYYY-MM-DD\)"),
    ("at", "yesterday", r"typed\.at: row 1 holds 'yesterday', which is not a ISO 8601 instant"),
    ("doc", "{not json", r"typed\.doc: row 1 holds '\{not json', which is not a JSON text"),
])
def test_a_value_that_is_not_its_published_type_is_refused_naming_column_and_row(column, bad, expected):
    frame = pd.DataFrame({"key": ["a", "b"], "on": ["2024-10-15", "2024-10-16"],
                          "at": ["2024-01-12T05:52:00Z", "2024-01-12T05:52:00Z"], "doc": ["[]", "{}"],
                          "n": pd.array([1, 2], dtype="Int64")})
    frame.loc[1, column] = bad
    with pytest.raises(ContractError, match=expected):
        to_arrow(frame, TYPED)


# --- (a) what the pipeline publishes -----------------------------------------------------------------


@pytest.mark.slow
def test_every_published_mart_has_exactly_the_contract_columns_order_and_dtypes(pipeline_run):
    store = MartStore(pipeline_run.settings.warehouse_root)
    assert set(store.marts()) == set(MARTS)
    for name, contract in MARTS.items():
        frame = store.read(name)
        assert list(frame.columns) == contract.names, name
        assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == contract.read_dtypes, name
        assert not frame.duplicated(list(contract.primary_key)).any(), name


@pytest.mark.slow
def test_every_staged_table_has_the_tidy_contract(pipeline_run):
    staged = sorted((pipeline_run.settings.warehouse_root / "assets" / "staging").glob("*.parquet"))
    assert staged
    for path in staged:
        frame = pd.read_parquet(path)
        assert list(frame.columns) == TIDY_OBSERVATIONS.names, path.name
        # Between steps text columns may be compact (ci_pipeline.tidy.compact: categoricals of str); as
        # plain text they have the contract's dtypes.
        for column, dtype in frame.dtypes.items():
            if isinstance(dtype, pd.CategoricalDtype):
                assert TIDY_OBSERVATIONS.dtypes[column] == "str", (path.name, column)
                # (a column without any value reads back from Parquet with empty object categories)
                assert str(dtype.categories.dtype) == "str" or dtype.categories.empty, (path.name, column)
        assert {column: str(dtype) for column, dtype in plain(frame).dtypes.items()} == TIDY_OBSERVATIONS.dtypes, \
            path.name


# --- (b) the expectation suites ---------------------------------------------------------------------------


def test_every_suite_agrees_with_the_contract_of_its_assets():
    problems = [problem for suite in load_suites(REPO / "checks") for asset in suite.assets
                for problem in disagreements(suite, asset)]
    assert problems == []


def test_every_mart_has_a_suite():
    checked = {asset for suite in load_suites(REPO / "checks") for asset in suite.assets}
    assert {f"marts/{name}" for name in MARTS} <= checked


def test_a_suite_that_disagrees_with_the_contract_is_caught(tmp_path):
    (tmp_path / "goals.yaml").write_text(
        "asset: marts/goals\n"
        "expectations:\n"
        "  - {expectation: expect_table_columns_to_match_ordered_list,\n"
        "     kwargs: {column_list: [goal_id, indicator_id]}, severity: error}\n"
        "  - {expectation: expect_column_values_to_not_be_null, kwargs: {column: goal_nmae}, severity: error}\n"
        "  - {expectation: expect_compound_columns_to_be_unique, kwargs: {column_list: [goal_id]}, severity: error}\n"
        "  - {expectation: expect_column_values_to_be_in_set, kwargs: {column: scope, value_set: [city],\n"
        "     row_condition: 'polarty==\"higher_is_better\"', condition_parser: pandas}, severity: warn}\n",
        encoding="utf-8")
    (suite,) = load_suites(tmp_path)
    problems = disagreements(suite, "marts/goals")
    assert len(problems) == 5, problems
    assert any("column_list ['goal_id', 'indicator_id'] is not" in p for p in problems)
    assert any("['goal_nmae']" in p for p in problems)
    assert any("['polarty']" in p for p in problems)
    assert any("unique on ['goal_id']" in p for p in problems)
    assert any("no expectation asserts the primary key" in p for p in problems)


# --- (c) what readers are told ---------------------------------------------------------------------------


def test_every_dtype_has_a_duckdb_type_and_every_contract_a_summary():
    assert set(SQL_TYPES) == set(DTYPES)
    for contract in CONTRACTS.values():
        assert contract.summary == (f"One row per {contract.grain}. Primary key: "
                                    f"({', '.join(contract.primary_key)}).")
        assert all(column.description for column in contract.columns), contract.name
