"""Source freshness as an asset check: `freshness` on every raw/<entry> asset (ci_pipeline/freshness.py).

Non-blocking: an overdue source is a warning on its raw asset, never a reason to hold back a mart (the
figures are the latest the source has). It is evaluated by the raw asset's own step (a check spec of the
asset), in every refresh: judging one date needs no step of its own, and a refresh has one step per source
instead of two. In replay mode it passes and says it did not judge (the snapshots are old by design).
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from ci_pipeline.catalogue import CatalogueEntry
from ci_pipeline.freshness import judge
from ci_pipeline.settings import Settings

CHECK_NAME = "freshness"


def freshness_check_spec(spec: CatalogueEntry) -> AssetCheckSpec:
    return AssetCheckSpec(
        name=CHECK_NAME,
        asset=AssetKey(["raw", spec.name]),
        blocking=False,
        description=f"Is the source's update stamp within its publishing rhythm ({spec.freshness.describe()})? "
        "Warns when overdue; not judged in replay mode, whose snapshots are old by design.",
    )


def freshness_result(spec: CatalogueEntry, raw: dict, settings: Settings) -> AssetCheckResult:
    """The freshness check's verdict on the raw asset's value `raw` (its summary, with the update stamp)."""
    verdict = judge(spec.name, raw.get("updated"), spec.freshness, datetime.now(UTC), settings.mode)
    return AssetCheckResult(
        asset_key=AssetKey(["raw", spec.name]),
        check_name=CHECK_NAME,
        passed=verdict.passed,
        severity=AssetCheckSeverity.WARN,
        description=verdict.message,
        metadata={"state": verdict.state, "updated": raw.get("updated") or "",
                  "age_days": verdict.age_days, "limit_days": verdict.limit_days,
                  "rule": spec.freshness.describe(), "mode": settings.mode},
    )
