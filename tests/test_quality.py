"""Expectation suites: loading errors, derivations, GX runs, and blocking/warn checks in Dagster."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, asset, materialize

from ci_pipeline.config import ConfigError
from ci_pipeline.quality import derivations, runner, suites
from ci_pipeline.quality.runner import run_suite
from ci_pipeline.quality.suites import load_suite, load_suites

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def tidy(rows: list[dict]) -> pd.DataFrame:
    """Illustrative tidy observations: defaults for every column a row does not set."""
    base = {"source": "ssb", "table_id": "10826", "indicator_id": "population", "region_code": "0301",
            "region_level": "municipality", "period": "2021", "period_type": "year", "sex": "total",
            "age_group": "total", "value": 1.0, "unit": "persons", "numerator": None, "denominator": None,
            "status": None, "source_updated": "2025-01-01T00:00:00Z", "retrieved_at": "2025-01-02T00:00:00Z",
            "snapshot_sha256": "abc", "provenance": "illustrative"}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    return frame.astype({"value": "float64", "numerator": "float64", "denominator": "float64"})


# ------------------------------------------------------------------------------------- loading


def test_unknown_expectation_names_file_and_entry(tmp_path):
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          "  - {expectation: expect_column_values_to_not_be_null, kwargs: {column: a}, severity: error}\n"
          "  - {expectation: expect_column_values_to_be_nonnegative, kwargs: {column: a}, severity: error}\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: expectations\[1\]\.expectation: unknown expectation "
                                          r"'expect_column_values_to_be_nonnegative'"):
        load_suites(tmp_path)


@pytest.mark.parametrize("kwargs, problem", [
    ("{column: a, min: 0}", r"kwargs\.min: unknown key"),
    ("{min_value: 0}", r"kwargs\.column: required key is missing"),
    ("{column: a, min_value: zero}", r"kwargs\.min_value: must be a number, got 'zero'"),
    ("{column: a}", r"kwargs: give min_value, max_value or both"),
    ("{column: a, min_value: {previous_rows: 1}}", r"kwargs\.min_value\.previous_rows: unknown key"),
    ("{column: a, min_value: 0, mostly: 2}", r"kwargs\.mostly: Input should be less than or equal to 1"),
    ("{column: a, min_value: 0, value_set: [1]}", r"kwargs\.value_set: expect_column_values_to_be_between "
                                                  r"does not take it"),
])
def test_bad_kwargs_name_file_and_entry(tmp_path, kwargs, problem):
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          f"  - {{expectation: expect_column_values_to_be_between, kwargs: {kwargs}, severity: error}}\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: expectations\[0\]\." + problem):
        load_suites(tmp_path)


def test_bad_severity_and_derive_are_refused(tmp_path):
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {column: a}, severity: fatal}\n")
    with pytest.raises(ConfigError, match=r"expectations\[0\]\.severity: Input should be 'error' or 'warn'"):
        load_suites(tmp_path)
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          "  - {expectation: expect_column_values_to_be_in_set, derive: series_without_gaps,"
          " kwargs: {column: other, value_set: [ok]}, severity: error}\n")
    with pytest.raises(ConfigError, match=r"kwargs\.column: .*must check column 'series_without_gaps'"):
        load_suites(tmp_path)
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          "  - {expectation: expect_column_values_to_be_in_set, derive: no_such_thing,"
          " kwargs: {column: no_such_thing, value_set: [ok]}, severity: error}\n")
    with pytest.raises(ConfigError, match=r"expectations\[0\]\.derive: must be one of .*'series_without_gaps'"):
        load_suites(tmp_path)
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          "  - {expectation: expect_column_values_to_be_in_set, derive: {name: series_without_gaps, max_gap: 9},"
          " kwargs: {column: series_without_gaps, value_set: [ok]}, severity: error}\n")
    with pytest.raises(ConfigError, match=r"expectations\[0\]\.derive\.max_gap: unknown key"):
        load_suites(tmp_path)


def test_a_typo_in_a_key_names_file_and_key(tmp_path):
    write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {column: a}, sevrity: error}\n")
    with pytest.raises(ConfigError) as caught:
        load_suites(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path.name}/t.yaml: expectations[0].severity: required key is missing",
        f"{tmp_path.name}/t.yaml: expectations[0].sevrity: unknown key (check its spelling against the schema)",
    ]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    write(tmp_path, "t.yaml", "asset: staging/t\ndescripton: typo\nexpectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {column: 5}, severity: error}\n"
          "  - {expectation: expect_column_values_to_be_between, kwargs: {column: a}, severity: warn}\n"
          "  - {expectation: expect_table_row_count_to_be_between,"
          " kwargs: {min_value: {previous_row_count_ratio: -1}}, severity: error}\n")
    with pytest.raises(ConfigError) as caught:
        load_suites(tmp_path)
    shown = f"{tmp_path.name}/t.yaml"
    assert caught.value.problems == [
        f"{shown}: expectations[0].kwargs.column: Input should be a valid string (got 5)",
        f"{shown}: expectations[1].kwargs: give min_value, max_value or both",
        f"{shown}: expectations[2].kwargs.min_value.previous_row_count_ratio: "
        "Input should be greater than or equal to 0 (got -1)",
        f"{shown}: descripton: unknown key (check its spelling against the schema)",
    ]


def test_problems_of_every_file_are_reported_together_and_a_base_once(tmp_path):
    write(tmp_path, "_base.yaml", "expectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {colum: a}, severity: error}\n")
    write(tmp_path, "a.yaml", "asset: staging/a\nextends: _base.yaml\nexpectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {column: a}, severity: warning}\n")
    write(tmp_path, "b.yaml", "asset: b\nextends: _base.yaml\nexpectations: []\n")
    write(tmp_path, "c.yaml", "asset: staging/c\nextends: _other.yaml\nexpectations: []\n")
    write(tmp_path, "d.yaml", "asset: staging/d\nexpectations: []\n")
    with pytest.raises(ConfigError) as caught:
        load_suites(tmp_path)
    problems = [p.removeprefix(f"{tmp_path.name}/") for p in caught.value.problems]
    assert problems == [
        "_base.yaml: expectations[0].kwargs.colum: unknown key (check its spelling against the schema)",
        "a.yaml: expectations[0].severity: Input should be 'error' or 'warn' (got 'warning')",
        "b.yaml: asset: must be an asset key such as staging/ssb_10826, got 'b'",
        f"c.yaml: extends: '_other.yaml' does not exist (looked for {tmp_path / '_other.yaml'})",
        "d.yaml: expectations: the suite has no expectations (here or in its bases)",
    ]


def test_missing_extends_file_is_named(tmp_path):
    write(tmp_path, "t.yaml", "asset: staging/t\nextends: _base.yaml\nexpectations: []\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: extends: '_base\.yaml' does not exist \(looked for .*_base\.yaml\)"):
        load_suites(tmp_path)


def test_extends_cycle_is_named(tmp_path):
    write(tmp_path, "t.yaml", "asset: staging/t\nextends: _base.yaml\nexpectations: []\n")
    write(tmp_path, "_base.yaml", "extends: t.yaml\nexpectations: []\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: extends: forms a cycle through \['t\.yaml', '_base\.yaml'\]"):
        load_suites(tmp_path)


def test_extends_puts_base_entries_first_and_names_their_file(tmp_path):
    write(tmp_path, "_base.yaml", "expectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {column: a}, severity: error}\n")
    write(tmp_path, "t.yaml", "asset: [staging/t, staging/u]\nextends: _base.yaml\nexpectations:\n"
          "  - {expectation: expect_column_to_exist, kwargs: {column: b}, severity: warn}\n")
    (suite,) = load_suites(tmp_path)
    assert suite.assets == ("staging/t", "staging/u")
    assert [e.label for e in suite.entries] == [f"{tmp_path.name}/_base.yaml entry 1 (expect_column_to_exist)",
                                                f"{tmp_path.name}/t.yaml entry 1 (expect_column_to_exist)"]
    assert suite.blocking


def test_supported_table_matches_gx_classes():
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import Expectation

    base = set(Expectation.__fields__) | {"batch_id", "library_metadata"}
    classes = {getattr(getattr(gxe, n), "expectation_type", None): getattr(gxe, n)
               for n in dir(gxe) if n.startswith("Expect")}
    for name, (required, optional) in suites.SUPPORTED_EXPECTATIONS.items():
        assert name in classes, f"GX has no {name}"
        fields = {k: v for k, v in classes[name].__fields__.items() if k not in base}
        assert set(required) == {k for k, v in fields.items() if v.required}, name
        assert set(optional) <= {k for k, v in fields.items() if not v.required}, name
        assert set(required + optional) <= set(suites.ExpectationKwargs.__annotations__), name


def test_every_shipped_suite_builds_its_gx_objects():
    suites = load_suites(REPO / "checks")
    assert {"staging/ssb_10826", "geography/regions", "marts/indicator_values", "marts/regions",
            "marts/indicators"} <= {a for s in suites for a in s.assets}
    for suite in suites:
        for entry in suite.entries:
            kwargs = runner._resolve_kwargs(entry, {"previous_row_count": 100})
            runner.expectation_object(entry, kwargs)


# ------------------------------------------------------------------------------------- derivations

REGIONS = pd.DataFrame({
    "code": ["0301", "030101", "030101", "1201", "4601"],
    "valid_from": ["1838-01-01", "1988-01-01", "2004-01-01", "1838-01-01", "2020-01-01"],
    "valid_to": [None, "2004-01-01", None, "2020-01-01", None],
})


def strip_suffix(codes: pd.Series) -> pd.Series:
    return codes.str.replace(r"a+$", "", regex=True)


def test_region_valid_for_period():
    frame = tidy([{"region_code": "1201", "period": "2019"}, {"region_code": "1201", "period": "2020"},
                  {"region_code": "4601", "period": "2018-2020"}, {"region_code": "030101a", "period": "2003"},
                  {"region_code": "9999", "period": "2021"}, {"region_code": "0301", "period": "2021K3"}])
    verdict = derivations.region_valid_for_period(frame, {}, {"regions": REGIONS, "normalise_region_code": strip_suffix})
    assert list(verdict) == ["ok", "1201 2020: not valid then", "ok", "ok",
                             "9999 2021: not in the regions dimension", "ok"]
    as_released = derivations.region_valid_for_period(
        frame.assign(source_updated="2024-05-01T00:00:00Z"), {"as_of": "source_updated"}, {"regions": REGIONS})
    assert list(as_released)[:3] == ["1201 2024-05-01T00:00:00Z: not valid then",
                                     "1201 2024-05-01T00:00:00Z: not valid then", "ok"]


def test_series_without_gaps_uses_the_tables_own_calendar():
    frame = tidy([{"region_code": r, "period": p} for r, p in
                  [("0301", "2018"), ("0301", "2020"), ("0301", "2022"), ("030101", "2018"), ("030101", "2022")]])
    verdict = derivations.series_without_gaps(frame, {}, {})
    assert list(verdict) == ["ok"] * 4 + ["ssb 10826 population 030101 total total: missing 2020 before 2022"]


def test_district_sums_match_municipal():
    rows = [{"region_code": "0301", "value": 10.0}, {"region_code": "030101", "region_level": "district", "value": 4.0},
            {"region_code": "030199", "region_level": "district", "value": 6.0},
            {"region_code": "0301", "period": "2022", "value": 11.0},
            {"region_code": "030101", "region_level": "district", "period": "2022", "value": 4.0},
            {"region_code": "030199", "region_level": "district", "period": "2022", "value": 6.0},
            {"region_code": "0301", "period": "2023", "value": 11.0},
            {"region_code": "030101", "region_level": "district", "period": "2023", "value": None, "status": ":"},
            {"region_code": "0301", "unit": "percent", "indicator_id": "share", "value": 50.0},
            {"region_code": "030101", "region_level": "district", "unit": "percent", "indicator_id": "share",
             "value": 20.0}]
    verdict = derivations.district_sums_match_municipal(tidy(rows), {"units": ["persons"]}, {})
    assert verdict[0] == "ok"
    assert verdict[3] == "0301 2022: 2 districts sum to 10, total is 11"
    assert verdict.drop([0, 3]).isna().all()  # districts, a suppressed group and shares are not judged


def test_value_status_consistent():
    frame = tidy([{"value": 1.0}, {"value": None, "status": ":"}, {"value": 0.0, "status": "."},
                  {"value": None}, {"source_updated": "2020-01-01T00:00:00Z"}])
    assert list(derivations.value_status_consistent(frame, {}, {})) == [
        "ok", "ok", "value 0 with status '.'", "no value and no status", "ok"]


# ------------------------------------------------------------------------------------- run_suite

SUITE = """asset: staging/t
expectations:
  - {expectation: expect_column_values_to_be_between, kwargs: {column: value, min_value: 0,
     row_condition: 'unit=="persons"', condition_parser: pandas}, severity: error, description: counts >= 0}
  - expectation: expect_compound_columns_to_be_unique
    kwargs: {column_list: [region_code, period]}
    severity: error
  - expectation: expect_column_values_to_be_in_set
    derive: {name: region_valid_for_period}
    kwargs: {column: region_valid_for_period, value_set: [ok]}
    severity: error
  - expectation: expect_table_row_count_to_be_between
    kwargs: {min_value: {previous_row_count_ratio: 0.8}, max_value: {previous_row_count_ratio: 1.2}}
    severity: warn
"""


def test_run_suite_counts_and_samples(tmp_path):
    suite = load_suite(write(tmp_path, "t.yaml", SUITE))
    frame = tidy([{"region_code": "0301", "period": str(year), "value": -1.0 if year < 2003 else 5.0}
                  for year in range(2000, 2021)] + [{"region_code": "0301", "period": "2020"}])
    result = run_suite(suite, frame, {"regions": REGIONS, "previous_row_count": 10, "now": NOW})
    by_name = {e.expectation: e for e in result.entries}
    assert not result.success and result.blocking_failed
    assert by_name["expect_column_values_to_be_between"].unexpected_count == 3
    assert by_name["expect_column_values_to_be_between"].sample == [-1.0, -1.0, -1.0]
    assert by_name["expect_compound_columns_to_be_unique"].unexpected_count == 2
    assert by_name["expect_column_values_to_be_in_set"].success is True
    row_count = by_name["expect_table_row_count_to_be_between"]
    assert (row_count.success, row_count.severity, row_count.observed_value) == (False, "warn", 22)
    message = result.message()
    assert f"suite t ({tmp_path.name}/t.yaml) failed on staging/t: 3 of 4" in message
    assert "[error] expect_column_values_to_be_between" in message and "counts >= 0" in message


def test_passing_entries_are_decided_without_counts_failing_ones_with(tmp_path):
    suite = load_suite(write(tmp_path, "t.yaml", SUITE))
    frame = tidy([{"region_code": "0301", "period": "2020", "value": -1.0}, {"region_code": "0301", "period": "2021"}])
    result = run_suite(suite, frame, {"regions": REGIONS, "previous_row_count": 2, "now": NOW})
    by_name = {e.expectation: e for e in result.entries}
    failed, passed = by_name["expect_column_values_to_be_between"], by_name["expect_compound_columns_to_be_unique"]
    assert (failed.success, failed.unexpected_count, failed.element_count, failed.sample) == (False, 1, 2, [-1.0])
    assert (passed.success, passed.unexpected_count, passed.sample) == (True, None, [])


def test_run_suite_reports_entries_it_cannot_run(tmp_path):
    suite = load_suite(write(tmp_path, "t.yaml", SUITE))
    result = run_suite(suite, tidy([{"value": 3.0}]), {"now": NOW})
    assert result.success
    skipped = {e.expectation: e.skip_reason for e in result.entries if e.success is None}
    assert "needs regions" in skipped["expect_column_values_to_be_in_set"]
    assert "no previous published version" in skipped["expect_table_row_count_to_be_between"]


def test_missing_column_fails_the_entry_instead_of_crashing(tmp_path):
    suite = load_suite(write(tmp_path, "t.yaml", SUITE))
    result = run_suite(suite, tidy([{"value": 3.0}]).drop(columns=["period"]), {"now": NOW})
    failed = {e.expectation: e for e in result.failed}
    assert failed["expect_compound_columns_to_be_unique"].error
    assert result.blocking_failed


def test_only_the_columns_a_suite_names_are_validated_and_verdicts_hold(tmp_path, monkeypatch):
    """Rows filtered on columns the entry does not check; a row count alone (no column named); a suite about
    the table's columns sees every column."""
    validated = []
    from great_expectations.validator import v1_validator

    class Recording(v1_validator.Validator):
        def __init__(self, *args, batch_parameters, **kwargs):
            validated.append(list(batch_parameters["dataframe"].columns))
            super().__init__(*args, batch_parameters=batch_parameters, **kwargs)

    monkeypatch.setattr(v1_validator, "Validator", Recording)  # what runner._validate imports
    write(tmp_path, "rows.yaml", """asset: staging/t
expectations:
  - {expectation: expect_column_values_to_be_between, severity: error,
     kwargs: {column: value, min_value: 0, row_condition: 'status != "x" and `region_level` == "district"',
              condition_parser: pandas}}
  - {expectation: expect_table_row_count_to_be_between, kwargs: {min_value: 3, max_value: 3}, severity: warn}
""")
    frame = tidy([{"value": -1.0, "status": "x", "region_level": "district"},
                  {"value": -2.0, "region_level": "municipality"},
                  {"value": -3.0, "region_level": "district"}])
    result = run_suite(load_suite(tmp_path / "rows.yaml"), frame, {"now": NOW})
    value, row_count = result.entries
    assert (value.success, value.unexpected_count, value.sample) == (False, 1, [-3.0])
    assert row_count.success is True
    assert validated[0] == ["region_level", "value", "status"]

    only_rows = load_suite(write(tmp_path, "count.yaml", "asset: staging/t\nexpectations:\n"
                                 "  - {expectation: expect_table_row_count_to_be_between, "
                                 "kwargs: {min_value: 4}, severity: error}\n"))
    counted = run_suite(only_rows, frame, {"now": NOW}).entries[0]
    assert (counted.success, counted.observed_value) == (False, 3)

    columns = load_suite(write(tmp_path, "cols.yaml", "asset: staging/t\nexpectations:\n"
                               "  - {expectation: expect_table_columns_to_match_set, "
                               f"kwargs: {{column_set: {list(frame.columns)}}}, severity: error}}\n"))
    assert run_suite(columns, frame, {"now": NOW}).success
    assert validated[-1] == list(frame.columns)


# ------------------------------------------------------------------------------------- Dagster


def toy_graph(tmp_path, severity: str, bad: bool):
    from ci_pipeline.defs.checks import build_suite_checks

    write(tmp_path, "toy.yaml", "asset: toy/source\nexpectations:\n"
          f"  - {{expectation: expect_column_values_to_be_between, kwargs: {{column: value, min_value: 0}},"
          f" severity: {severity}}}\n")
    ran = []

    @asset(key=["toy", "source"])
    def source() -> pd.DataFrame:
        return pd.DataFrame({"value": [1.0, -2.0 if bad else 2.0]})

    @asset(key=["toy", "downstream"], deps=[AssetKey(["toy", "source"])])
    def downstream() -> None:
        ran.append(True)

    checks = build_suite_checks(load_suites(tmp_path), [AssetKey(["toy", "source"]), AssetKey(["toy", "downstream"])])
    return [source, downstream], checks, ran


@pytest.mark.parametrize("severity, bad, downstream_runs", [
    ("error", True, False), ("warn", True, True), ("error", False, True)])
def test_blocking_semantics_in_dagster(tmp_path, severity, bad, downstream_runs):
    assets, checks, ran = toy_graph(tmp_path, severity, bad)
    assert next(iter(checks[0].check_specs)).blocking == (severity == "error")
    result = materialize([*assets, *checks], raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed is not bad
    assert bool(ran) is downstream_runs
    if bad:
        failed = evaluation.metadata[f"failed: {tmp_path.name}/toy.yaml entry 1 (expect_column_values_to_be_between)"]
        assert failed.value["unexpected_count"] == 1 and failed.value["sample_unexpected_values"] == [-2.0]
        assert "expect_column_values_to_be_between" in evaluation.description
    assert result.success is not (bad and severity == "error")


def test_importing_the_dagster_checks_does_not_import_gx():
    code = "import ci_pipeline.defs.checks, sys; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_importing_the_definitions_does_not_import_gx():
    code = "import ci_pipeline.definitions, sys; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_run_suite_lets_the_validated_frame_go(tmp_path, monkeypatch):
    """GX's execution engine keeps the last batch it validated, and its validation leaves reference
    cycles that reach the frame: neither may keep a large mart in memory through the steps that follow."""
    import gc
    import weakref

    import ci_pipeline.quality.runner as runner

    # no derived column: GX gets the frame itself
    suite = load_suite(write(tmp_path, "t.yaml", "asset: staging/t\nexpectations:\n"
                             "  - {expectation: expect_compound_columns_to_be_unique,\n"
                             "     kwargs: {column_list: [region_code, period]}, severity: error}\n"))
    monkeypatch.setattr(runner, "LARGE_FRAME_ROWS", 2)  # these two rows count as a large frame
    frame = tidy([{"region_code": "0301", "period": "2020"}, {"region_code": "0301", "period": "2021"}])
    gc.disable()
    try:
        assert run_suite(suite, frame, {"now": NOW}).success
        held = weakref.ref(frame)
        del frame
        assert held() is None
    finally:
        gc.enable()
