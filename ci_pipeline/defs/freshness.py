"""Source freshness as its own asset check: `freshness` on every raw/<entry> asset (ci_pipeline/freshness.py).

Non-blocking: an overdue source is a warning on its raw asset, never a reason to hold back a mart (the
figures are the latest the source has). It runs with its raw asset, in every refresh; in replay mode it
passes and says it did not judge (the snapshots are old by design).
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSeverity, AssetKey, asset_check

from ci_pipeline.catalogue import CatalogueEntry
from ci_pipeline.defs.resources import PipelineResource
from ci_pipeline.freshness import judge

CHECK_NAME = "freshness"


def build_freshness_checks(specs: list[CatalogueEntry]) -> list[AssetChecksDefinition]:
    return [_freshness_check(spec) for spec in specs]


def _freshness_check(spec: CatalogueEntry) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(["raw", spec.name]),
        name=CHECK_NAME,
        blocking=False,
        description=f"Is the source's update stamp within its publishing rhythm ({spec.freshness.describe()})? "
        "Warns when overdue; not judged in replay mode, whose snapshots are old by design.",
    )
    def freshness(raw: dict, pipeline: PipelineResource) -> AssetCheckResult:
        verdict = judge(spec.name, raw.get("updated"), spec.freshness, datetime.now(UTC), pipeline.settings.mode)
        return AssetCheckResult(
            passed=verdict.passed,
            severity=AssetCheckSeverity.WARN,
            description=verdict.message,
            metadata={"state": verdict.state, "updated": raw.get("updated") or "",
                      "age_days": verdict.age_days, "limit_days": verdict.limit_days,
                      "rule": spec.freshness.describe(), "mode": pipeline.settings.mode},
        )

    return freshness
