"""Expectation suites (checks/*.yaml) as Dagster asset checks.

One check per (suite, asset), named after the suite file. A suite with any `error` entry is a blocking
check: when it fails with ERROR severity, nothing downstream of the asset runs (so releases/<mart> never
promotes a build that failed its audit). The check loads the asset value, runs the suite through GX
(imported on first use inside the check, never when this module loads) and reports each failed
expectation with its unexpected count and a sample of unexpected values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetIn,
    AssetKey,
    MetadataValue,
    asset_check,
)

from ci_pipeline.quality.runner import SuiteResult, run_suite
from ci_pipeline.quality.suites import Suite

REGIONS_ASSET = AssetKey(["geography", "regions"])


def build_suite_checks(
    suites: Iterable[Suite],
    available_asset_keys: Iterable[AssetKey | str],
) -> list[AssetChecksDefinition]:
    """Asset checks for every suite asset that exists in the definitions (others are left out).

    Region-validity derivations get the geography/regions asset as an extra input when it exists. Suites
    comparing the row count with the previous version need the `pipeline` resource (PipelineResource).
    """
    available = {key if isinstance(key, AssetKey) else AssetKey.from_user_string(key)
                 for key in available_asset_keys}
    checks = []
    for suite in suites:
        for asset_text in suite.assets:
            key = AssetKey.from_user_string(asset_text)
            if key in available:
                with_regions = "region_valid_for_period" in suite.derivations and REGIONS_ASSET in available \
                    and key != REGIONS_ASSET
                checks.append(_suite_check(suite, key, with_regions))
    return checks


def unknown_suite_assets(suites: Iterable[Suite], available_asset_keys: Iterable[AssetKey | str]) -> list[str]:
    """Suite assets that no definition provides (a typo, or a table not in the catalogue)."""
    available = {key.to_user_string() if isinstance(key, AssetKey) else key for key in available_asset_keys}
    return sorted(f"{suite.path}: {asset}" for suite in suites for asset in suite.assets if asset not in available)


def _suite_check(suite: Suite, key: AssetKey, with_regions: bool) -> AssetChecksDefinition:
    asset_text = key.to_user_string()
    description = (f"{suite.path}: {suite.description}".strip().rstrip(":") +
                   f" ({len(suite.entries)} expectations; "
                   f"{'blocking' if suite.blocking else 'warn only'})")
    decorator = asset_check(
        asset=key,
        name=suite.name,
        description=description,
        blocking=suite.blocking,
        additional_ins={"regions": AssetIn(key=REGIONS_ASSET)} if with_regions else None,
        required_resource_keys={"pipeline"} if suite.needs_previous_row_count else None,
        metadata={"suite_file": suite.path, "expectations": len(suite.entries)},
    )

    def evaluate(context: AssetCheckExecutionContext, frame: pd.DataFrame,
                 regions: pd.DataFrame | None) -> AssetCheckResult:
        run_context: dict[str, Any] = {
            "now": datetime.now(UTC),
            "regions": regions,
        }
        if suite.needs_previous_row_count:
            run_context["previous_row_count"] = _previous_row_count(context, key)
        result = run_suite(suite, frame, run_context, asset=asset_text)
        if not result.success:
            context.log.warning(result.message())
        return check_result(result)

    if with_regions:
        # `context` stays unannotated: Dagster inspects the annotation, which this module's
        # postponed annotations would turn into a string.
        def suite_check(context, frame: pd.DataFrame, regions: pd.DataFrame) -> AssetCheckResult:
            return evaluate(context, frame, regions)
    else:
        def suite_check(context, frame: pd.DataFrame) -> AssetCheckResult:
            return evaluate(context, frame, None)
    return decorator(suite_check)


def _previous_row_count(context: AssetCheckExecutionContext, key: AssetKey) -> int | None:
    """Row count of the mart's LATEST version (marts/<mart> assets only); None before the first release."""
    if len(key.path) != 2 or key.path[0] != "marts":
        return None
    from ci_pipeline.marts import MartStore

    manifest = MartStore.for_settings(context.resources.pipeline.settings).latest_manifest(key.path[1])
    return int(manifest["row_count"]) if manifest else None


def check_result(result: SuiteResult) -> AssetCheckResult:
    """The Dagster view of a suite result: each failed expectation with its count and sample."""
    metadata: dict[str, Any] = {
        "suite_file": result.path,
        "expectations": len(result.entries),
        "failed": len(result.failed),
        "failed_blocking": sum(1 for e in result.failed if e.severity == "error"),
        "not_run": MetadataValue.json({e.source: e.skip_reason for e in result.entries if e.skip_reason}),
    }
    for entry in result.failed:
        metadata[f"failed: {entry.source}"] = MetadataValue.json({
            "expectation": entry.expectation,
            "severity": entry.severity,
            "description": entry.description,
            "unexpected_count": entry.unexpected_count,
            "element_count": entry.element_count,
            "sample_unexpected_values": entry.sample,
            "observed_value": entry.observed_value,
            "error": entry.error,
        })
    return AssetCheckResult(
        passed=result.success,
        severity=AssetCheckSeverity.ERROR if result.blocking_failed else AssetCheckSeverity.WARN,
        metadata=metadata,
        description=result.message(),
    )
