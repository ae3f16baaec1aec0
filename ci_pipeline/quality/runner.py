"""The GX runner: run_suite() runs a suite on a frame through Great Expectations' own validation.

GX is imported on first use only (its import costs ~3 s and ~250 MB), with analytics and progress bars
off; one ephemeral context serves every run in a process. Derived columns (quality.derivations) are
added to the frame first, and derived kwargs resolved from the run's context. An entry whose context is
missing is reported as not run, with the reason; every failed entry carries its unexpected count and a
sample of the offending values.
"""

from __future__ import annotations

import gc
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ci_pipeline.quality.derivations import DERIVATIONS
from ci_pipeline.quality.suites import QualityError, Suite, SuiteEntry, derived_kwargs

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class EntryResult:
    expectation: str
    severity: str
    description: str | None
    source: str  # SuiteEntry.label
    success: bool | None  # None: not run (skip_reason says why)
    unexpected_count: int | None = None
    element_count: int | None = None
    sample: list[Any] = field(default_factory=list)
    observed_value: Any = None
    error: str | None = None
    skip_reason: str | None = None


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    path: str
    asset: str
    entries: tuple[EntryResult, ...]

    @property
    def failed(self) -> list[EntryResult]:
        return [entry for entry in self.entries if entry.success is False]

    @property
    def success(self) -> bool:
        return not self.failed

    @property
    def blocking_failed(self) -> bool:
        return any(entry.severity == "error" for entry in self.failed)

    def message(self) -> str:
        if self.success:
            return f"suite {self.suite} ({self.path}) passed on {self.asset}: {len(self.entries)} expectations"
        lines = [(f"suite {self.suite} ({self.path}) failed on {self.asset}: "
                  f"{len(self.failed)} of {len(self.entries)} expectations failed")]
        for entry in self.failed:
            what = entry.description or ""
            if entry.error:
                detail = f"error: {entry.error}"
            elif entry.unexpected_count is not None:
                detail = f"{entry.unexpected_count} unexpected, e.g. {entry.sample[:3]}"
            else:
                detail = f"observed {entry.observed_value}"
            lines.append(f"  [{entry.severity}] {entry.expectation} ({entry.source}) {what} - {detail}")
        return "\n".join(lines)


def _gx():
    """GX, imported on first use with analytics and progress bars off; one ephemeral context, data source
    and batch definition per process, reused by every suite run."""
    global _GX_STATE
    if _GX_STATE is None:
        os.environ["GX_ANALYTICS_ENABLED"] = "false"
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        batch_definition = (context.data_sources.add_pandas("ci_pipeline_checks")
                            .add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole"))
        _GX_STATE = (gx, batch_definition)
    return _GX_STATE


_GX_STATE = None


def expectation_object(entry: SuiteEntry, kwargs: dict[str, Any] | None = None):
    """The GX expectation for an entry (kwargs resolved), or QualityError naming the file and entry."""
    gx, _ = _gx()
    expectation_class = _GX_CLASSES.get(entry.expectation) or _gx_class(gx, entry.expectation)
    try:
        return expectation_class(**(entry.kwargs if kwargs is None else kwargs),
                                 description=entry.description or entry.expectation)
    except Exception as exc:  # GX raises pydantic errors; name where the entry is written
        raise QualityError(f"{entry.label}: GX rejects kwargs {entry.kwargs}: {exc}") from exc


_GX_CLASSES: dict[str, Any] = {}


def _gx_class(gx, name: str):
    for class_name in dir(gx.expectations):
        candidate = getattr(gx.expectations, class_name)
        if getattr(candidate, "expectation_type", None) == name:
            _GX_CLASSES[name] = candidate
            return candidate
    raise QualityError(f"GX {gx.__version__} has no expectation {name!r}")


def run_suite(suite: Suite, frame: pd.DataFrame, context: dict[str, Any] | None = None,
              asset: str | None = None) -> SuiteResult:
    """Run a suite on a frame through GX's own validation.

    context: regions (DataFrame, the regions dimension), normalise_region_code (callable on a Series),
    now (aware datetime; default the current time), previous_row_count (int or None). An entry whose
    derivation or derived kwarg lacks its context is reported as not run, with the reason.
    """
    large = len(frame) >= LARGE_FRAME_ROWS
    if large:
        # Cyclic garbage of earlier steps (frames included) waits for the next full collection, which
        # may not come before this validation adds its own working set on top of it.
        gc.collect()
    result = _run_suite(suite, frame, context, asset)
    if large:
        # GX's validation leaves reference cycles (pydantic errors it catches, with their tracebacks)
        # that reach the stack frames of this run, and so the frame with its derived columns, until the
        # next full collection. A full collection costs about 0.4 s: little next to validating a frame
        # this large, and the frame is not held through the steps that follow.
        gc.collect()
    return result


LARGE_FRAME_ROWS = 1_000_000


def _run_suite(suite: Suite, frame: pd.DataFrame, context: dict[str, Any] | None,
               asset: str | None) -> SuiteResult:
    context = {"now": datetime.now(UTC), **(context or {})}
    asset = asset or suite.assets[0]
    derived: dict[str, pd.Series] = {}
    results: dict[int, EntryResult] = {}
    to_validate: dict[int, dict[str, Any]] = {}  # entry number -> resolved kwargs
    for number, entry in enumerate(suite.entries):
        skip = _missing_context(entry, context)
        if skip:
            results[number] = _result(entry, success=None, skip_reason=skip)
            continue
        if entry.derive and entry.derive["name"] not in derived:
            derivation = DERIVATIONS[entry.derive["name"]]
            arguments = {k: v for k, v in entry.derive.items() if k != "name"}
            try:
                derived[entry.derive["name"]] = derivation.function(frame, arguments, context)
            except (KeyError, ValueError, TypeError) as exc:
                results[number] = _result(entry, success=False,
                                          error=f"derivation {entry.derive['name']} failed: {exc!r}")
                continue
        to_validate[number] = _resolve_kwargs(entry, context)
    if to_validate:
        checked = frame.assign(**derived) if derived else frame
        results.update(_validate(suite, checked, to_validate))
    return SuiteResult(suite=suite.name, path=suite.path, asset=asset,
                       entries=tuple(results[n] for n in range(len(suite.entries))))


def _validate(suite: Suite, frame: pd.DataFrame, to_validate: dict[int, dict[str, Any]]) -> dict[int, EntryResult]:
    """GX's verdict on the entries, in two validations of one batch.

    Most runs pass, and a result format beyond BOOLEAN_ONLY adds metrics (counts, samples) to every
    expectation: every entry is first decided with BOOLEAN_ONLY, and only the entries that failed are
    validated again with BASIC for their unexpected count and sample. GX's V1 Validator (what
    Batch.validate() builds internally) loads and fingerprints the batch once for both validations.
    """
    from great_expectations.validator.v1_validator import Validator

    gx, batch_definition = _gx()

    def gx_suite(numbers: list[int]):
        expectations = []
        for number in numbers:
            expectation = expectation_object(suite.entries[number], to_validate[number])
            expectation.meta = {"entry": number}
            expectations.append(expectation)
        return gx.ExpectationSuite(name=suite.name, expectations=expectations)

    frame = frame[_columns_named(frame, [suite.entries[number].expectation for number in to_validate],
                                 list(to_validate.values()))]
    validator = Validator(batch_definition=batch_definition, batch_parameters={"dataframe": frame},
                          result_format="BOOLEAN_ONLY")
    results: dict[int, EntryResult] = {}
    failed = []
    try:
        for outcome in validator.validate_expectation_suite(gx_suite(list(to_validate))).results:
            number = outcome.expectation_config.meta["entry"]
            if outcome.success:
                results[number] = _entry_result(suite.entries[number], outcome)
            else:
                failed.append(number)
        if failed:
            validator.result_format = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE}
            for outcome in validator.validate_expectation_suite(gx_suite(failed)).results:
                number = outcome.expectation_config.meta["entry"]
                results[number] = _entry_result(suite.entries[number], outcome)
    finally:
        _forget_batches(batch_definition)
    return results


def _columns_named(frame: pd.DataFrame, expectations: list[str], kwargs: list[dict[str, Any]]) -> list[str]:
    """The frame's columns the expectations name (every column where one is about the table's columns).

    GX applies a row condition with DataFrame.query, which builds a resolver for every column of the
    frame on each call: on a wide mart (goal_progress, 80 columns) that is most of a validation's time.
    A column is kept where its name occurs anywhere in a row condition (a superset, never a miss)."""
    if any(name.startswith("expect_table_column") or name == "expect_column_to_exist" for name in expectations):
        return list(frame.columns)
    named: set[str] = set()
    conditions = []
    for entry_kwargs in kwargs:
        for key in ("column", "column_A", "column_B"):
            if key in entry_kwargs:
                named.add(entry_kwargs[key])
        named.update(entry_kwargs.get("column_list") or ())
        if entry_kwargs.get("row_condition"):
            conditions.append(str(entry_kwargs["row_condition"]))
    return [column for column in frame.columns
            if column in named or any(str(column) in condition for condition in conditions)]


def _forget_batches(batch_definition) -> None:
    """Drop the batches GX's execution engine keeps after a validation: it holds the last frame it
    validated until the next validation replaces it, so a large mart would stay in memory through the
    steps that follow its check."""
    batch_manager = batch_definition.data_asset.datasource.get_execution_engine().batch_manager
    batch_manager.reset_batch_cache()
    batch_manager.batch_data_cache.clear()


def _missing_context(entry: SuiteEntry, context: dict[str, Any]) -> str | None:
    if entry.derive:
        for need in DERIVATIONS[entry.derive["name"]].needs:
            if context.get(need) is None:
                return f"derivation {entry.derive['name']} needs {need}, which this run does not have"
    if derived_kwargs(entry.kwargs) and context.get("previous_row_count") is None:
        return "no previous published version to compare the row count with"
    return None


def _resolve_kwargs(entry: SuiteEntry, context: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(entry.kwargs)
    for key in derived_kwargs(kwargs):
        ratio = kwargs[key]["previous_row_count_ratio"]
        bound = ratio * context["previous_row_count"]
        kwargs[key] = math.floor(bound) if key == "min_value" else math.ceil(bound)
    return kwargs


def _result(entry: SuiteEntry, **values: Any) -> EntryResult:
    return EntryResult(expectation=entry.expectation, severity=entry.severity, description=entry.description,
                       source=entry.label, **values)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _entry_result(entry: SuiteEntry, outcome: Any) -> EntryResult:
    # GX reports an exception either directly or keyed by the metric that raised it.
    info = outcome.exception_info or {}
    raised = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    errors = [str(i.get("exception_message")) for i in raised if i.get("raised_exception")]
    if errors:
        return _result(entry, success=False, error="; ".join(errors))
    result = outcome.result or {}
    return _result(entry, success=bool(outcome.success),
                   unexpected_count=result.get("unexpected_count"),
                   element_count=result.get("element_count"),
                   sample=_json_safe(list(result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]),
                   observed_value=_json_safe(result.get("observed_value")))
