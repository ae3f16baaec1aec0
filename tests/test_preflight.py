"""Settings and the warehouse are checked before any asset runs (ci_pipeline/preflight.py), and `make run`
(run.main) answers a problem with one or two lines naming the setting or file and the fix, never a
traceback (the traceback of an unexpected error goes to a log file it names)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import dagster_home

from ci_pipeline import run
from ci_pipeline.preflight import preflight
from ci_pipeline.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse")


def test_a_usable_setup_has_no_problem(settings, tmp_path):
    assert preflight(settings, {"DAGSTER_HOME": str(dagster_home(tmp_path / "home"))}) == []
    assert (settings.state_root).is_dir()
    assert not list(settings.warehouse_root.rglob(".preflight-*")), "the probe file is removed"


def test_a_warehouse_that_cannot_be_written(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    problems = preflight(settings.with_(warehouse_root=blocker / "warehouse"), {})
    assert len(problems) == 1
    assert problems[0].startswith(f"warehouse: cannot write in {blocker / 'warehouse'} (")
    assert "set CI_PIPELINE_WAREHOUSE to a folder that is" in problems[0]


def test_replay_without_snapshots_and_missing_folders(settings, tmp_path):
    (tmp_path / "empty").mkdir()
    problems = preflight(settings.with_(snapshot_root=tmp_path / "empty", catalogue_root=tmp_path / "nowhere"), {})
    assert problems == [
        (f"catalogue: {tmp_path / 'nowhere'} is not a folder; set CI_PIPELINE_CATALOGUE to the folder, or unset it "
        "for the repository's own"),
        (f"snapshots: replay mode reads the snapshot archive, and {tmp_path / 'empty'} holds no snapshot; set "
        "CI_PIPELINE_SNAPSHOTS to an archive, or CI_PIPELINE_MODE=live"),
    ]
    assert preflight(settings.with_(snapshot_root=tmp_path / "empty", mode="live"), {}) == []


def test_a_secret_the_instance_reads_from_the_environment(settings, tmp_path):
    home = dagster_home(tmp_path / "home")
    (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_db:\n      password:\n"
                                       "        env: DAGSTER_PG_PASSWORD\n      hostname:\n        env: DAGSTER_PG_HOST\n")
    problems = preflight(settings, {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "db"})
    assert problems == [(f"DAGSTER_HOME: {home / 'dagster.yaml'} reads DAGSTER_PG_PASSWORD from the environment, "
                        "and it is not set; set it (deploy/README.md lists the instance's variables)")]
    assert preflight(settings, {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "db", "DAGSTER_PG_PASSWORD": "x"}) == []


def test_a_weak_survey_secret(settings):
    problems = preflight(settings, {"CI_SURVEY_PSEUDONYM_KEY": "abcdefgh"})
    assert len(problems) == 1 and problems[0].startswith("CI_SURVEY_PSEUDONYM_KEY: the survey pseudonymisation "
                                                         "secret is shorter than")
    assert preflight(settings, {"CI_SURVEY_PSEUDONYM_KEY": "q8Zr-2vLx_Tf9mWc3KbN7yHd1sGp4JeA"}) == []


def main_output(monkeypatch, capsys, env: dict[str, str]) -> tuple[int, str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = run.main()
    out, err = capsys.readouterr()
    return code, out, err


def test_make_run_with_a_bad_mode_says_so_in_one_line(monkeypatch, capsys, tmp_path):
    code, out, err = main_output(monkeypatch, capsys, {"CI_PIPELINE_MODE": "replya",
                                                       "DAGSTER_HOME": str(dagster_home(tmp_path / "home"))})
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0] == "configuration problems (nothing was run):"
    assert len(lines) == 2 and lines[1].startswith("environment: CI_PIPELINE_MODE:") and "replya" in lines[1]


def test_make_run_on_a_warehouse_it_cannot_write_stops_before_any_asset(monkeypatch, capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    home = dagster_home(tmp_path / "home")
    code, _out, err = main_output(monkeypatch, capsys, {"CI_PIPELINE_WAREHOUSE": str(blocker / "warehouse"),
                                                       "DAGSTER_HOME": str(home)})
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2 and "CI_PIPELINE_WAREHOUSE" in err
    assert not (home / "history").exists() and not (home / "storage").exists(), "no run was started"


def test_an_unexpected_error_is_one_line_and_its_traceback_is_logged(monkeypatch, capsys, tmp_path):
    def broken(settings, instance):
        raise KeyError("a bug deep down")

    monkeypatch.setattr(run, "run_pipeline", broken)
    warehouse = tmp_path / "warehouse"
    code, _, err = main_output(monkeypatch, capsys, {"CI_PIPELINE_WAREHOUSE": str(warehouse),
                                                     "DAGSTER_HOME": str(dagster_home(tmp_path / "home"))})
    log = warehouse / "state" / run.ERROR_LOG
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "the run stopped: KeyError: 'a bug deep down'",
        f"the traceback is in {log}; every published mart version is unchanged"]
    assert "Traceback" in log.read_text() and "a bug deep down" in log.read_text()


def test_replay_summaries_say_the_snapshots_were_read_and_count_every_source():
    summary = run.RunSummary(success=False, mode="replay", snapshot_root=Path("/snap"),
                             sources_changed=["ssb_1"], sources_unchanged=["ssb_2", "oslo_1"],
                             sources_fetched_unchanged=["oslo_1"], sources_failed=["fhi_1"],
                             failures=["raw__fhi_1: the snapshot body is missing"])
    lines = summary.lines()
    assert lines[0] == ("4 sources read from the snapshot archive /snap (replay mode: no network): 1 new or changed, "
                        "2 unchanged, 1 FAILED")
    assert not any("downloaded" in line for line in lines)
    assert "  FAILED (the last good answers stand): fhi_1" in lines
    live = run.RunSummary(success=True, mode="live", sources_changed=["ssb_1"], marts={
        "regions": {"version": "v2", "published": True, "rows": 3}}, report="/w/reports/index.html",
        build_reason="staging/ssb_1 (has a new dependency data version: raw/ssb_1)")
    assert live.lines() == [
        "1 source asked in live mode: 1 new or changed, 0 unchanged",
        "  downloaded (new or changed): ssb_1",
        "build step ran; out of sync: staging/ssb_1 (has a new dependency data version: raw/ssb_1)",
        "mart regions: published new version v2 (3 rows)",
        "goal report: /w/reports/index.html",
    ]


def test_a_failed_step_is_summarised_by_the_pipeline_s_own_error_not_its_cause(tmp_path):
    """A missing snapshot body: the summary names the archive entry and the missing body, not a bare
    FileNotFoundError (which stays in the event log as the cause)."""
    import dagster as dg

    from ci_pipeline.archive import ArchiveError

    @dg.asset(key=["raw", "ssb_1"])
    def broken():
        try:
            (tmp_path / "missing.body").read_bytes()
        except FileNotFoundError as exc:
            raise ArchiveError("archive entry e.json names a body missing.body that is missing") from exc

    result = dg.materialize([broken], raise_on_error=False)
    assert run._failures(result)[0] == ("raw__ssb_1: ArchiveError: archive entry e.json names a body missing.body "
                                        "that is missing")
