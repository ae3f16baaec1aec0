"""Freshness relative to a source's publishing rhythm (ci_pipeline/freshness.py): the rule, its verdicts, the
catalogue key, and its place as its own non-blocking check (never inside a suite)."""

from datetime import UTC, datetime

import pytest

from ci_pipeline.config import ConfigError
from ci_pipeline.freshness import Freshness, judge

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ANNUAL = Freshness()


def test_an_annual_table_is_fresh_for_a_year_and_its_margin():
    assert ANNUAL.limit_days == 365 + 90
    fresh = judge("ssb_1", "2025-06-01T08:00:00Z", ANNUAL, NOW, "live")
    assert (fresh.state, fresh.passed, fresh.age_days) == ("fresh", True, 364)
    overdue = judge("ssb_1", "2025-02-01T08:00:00Z", ANNUAL, NOW, "live")
    assert (overdue.state, overdue.passed, overdue.age_days, overdue.limit_days) == ("overdue", False, 484, 455)
    assert "ssb_1: updated 2025-02-01T08:00:00Z, 484 days ago, more than the 455 days" in overdue.message
    assert "release calendar" in overdue.message


def test_the_rhythm_sets_the_limit():
    assert Freshness(every="quarter", margin_days=10).limit_days == 102
    assert Freshness(every="month", margin_days=0).limit_days == 31
    assert judge("fhi_1", "2026-04-01T00:00:00Z", Freshness(every="month", margin_days=0), NOW, "live").state \
        == "overdue"
    never = judge("report", "2019-01-01T00:00:00Z", Freshness(every="never"), NOW, "live")
    assert (never.state, never.passed) == ("not_judged", True) and "not updated by its publisher" in never.message


def test_replay_mode_does_not_judge_snapshots_that_are_old_by_design():
    verdict = judge("ssb_1", "2019-01-01T00:00:00Z", ANNUAL, NOW, "replay")
    assert (verdict.state, verdict.passed) == ("not_judged", True)
    assert "replay mode" in verdict.message and "old by design" in verdict.message
    assert judge("ssb_1", "2019-01-01T00:00:00Z", ANNUAL, NOW, "record").state == "overdue"


def test_every_iso_8601_spelling_of_the_stamp_is_read():
    """FHI's 7-digit fractions and SSB's whole seconds."""
    assert judge("fhi", "2026-05-20T12:00:41.5550912+00:00", ANNUAL, NOW, "live").age_days == 11
    assert judge("ssb", "2026-05-20T07:00:00Z", ANNUAL, NOW, "live").age_days == 11


def test_no_stamp_and_a_bad_stamp():
    none = judge("reference_x", None, ANNUAL, NOW, "live")
    assert (none.state, none.passed) == ("not_judged", True)
    bad = judge("ssb_1", "last tuesday", ANNUAL, NOW, "live")
    assert (bad.state, bad.passed) == ("unreadable", False) and "'last tuesday' is not a timestamp" in bad.message


def test_a_bad_rule_is_a_config_error(tmp_path):
    import shutil

    from ci_pipeline.catalogue import load_catalogue
    from ci_pipeline.settings import Settings

    catalogue = tmp_path / "assets"
    shutil.copytree(Settings.from_env({}).catalogue_root / "sources", catalogue / "sources")
    entry = next((catalogue / "sources" / "ssb").glob("*.yaml"))
    entry.write_text(entry.read_text(encoding="utf-8") + "freshness: {every: fortnight}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"freshness\.every"):
        load_catalogue(catalogue)


def test_no_suite_judges_the_age_of_a_source():
    """Freshness is its own check: a suite that warned on old snapshots made every suite check warn."""
    from ci_pipeline.settings import Settings

    for path in Settings.from_env({}).checks_root.glob("*.yaml"):
        assert "source_updated_age" not in path.read_text(encoding="utf-8"), path


def test_the_freshness_check_is_evaluated_by_the_raw_asset_and_never_blocks(tmp_path):
    import dagster as dg

    from ci_pipeline.catalogue import load_catalogue
    from ci_pipeline.defs.freshness import freshness_result
    from ci_pipeline.defs.resources import PipelineResource
    from ci_pipeline.defs.sources import build_source_assets
    from ci_pipeline.settings import Settings

    settings = Settings.from_env({}).with_(warehouse_root=tmp_path, mode="live")
    spec = next(s for s in load_catalogue(settings.catalogue_root) if s.source == "ssb")
    overdue = freshness_result(spec, {"updated": "2001-01-01T00:00:00Z"}, settings)
    assert not overdue.passed and overdue.severity == dg.AssetCheckSeverity.WARN
    assert overdue.metadata["state"].value == "overdue" and overdue.check_name == "freshness"

    raw = build_source_assets([spec])[0]
    (check,) = raw.check_specs
    assert (check.name, check.asset_key, check.blocking) == ("freshness", dg.AssetKey(["raw", spec.name]), False)
    # The raw asset's own step evaluates it: here on the embedded snapshots, which replay mode does not judge.
    result = dg.materialize([raw], resources={"pipeline": PipelineResource(settings=settings.with_(mode="replay"))})
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["state"].value == "not_judged"
    assert {event.step_key for event in result.all_events if event.step_key} == {raw.node_def.name}
