"""The generator, the Dagster survey layer (sensor, partitioned ingest, marts) and the no-raw-id scan."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from survey_support import generator

from ci_pipeline.defs.io import WarehouseIOManager
from ci_pipeline.defs.resources import PipelineResource, survey_sql_resource
from ci_pipeline.defs.surveys import (
    SURVEY_ASSETS,
    survey_marts,
    survey_wave_ingest,
    survey_wave_sensor,
    survey_waves_partitions,
)
from ci_pipeline.settings import Settings
from ci_pipeline.surveys.codebook import load_codebook

generate_wave_frames, write_waves = generator.generate_wave_frames, generator.write_waves
write_csv, write_sav, write_xlsx = generator.write_csv, generator.write_sav, generator.write_xlsx

REPO = Path(__file__).resolve().parents[1]
SEED = 7


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(REPO / "assets" / "surveys")


def digest_tree(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def test_generator_is_deterministic(tmp_path, codebook):
    first = write_waves(codebook, tmp_path / "a", seed=SEED)
    write_waves(codebook, tmp_path / "b", seed=SEED)
    assert [p.suffix for p in first] == [".csv", ".xlsx", ".sav"]
    assert digest_tree(tmp_path / "a") == digest_tree(tmp_path / "b")
    write_waves(codebook, tmp_path / "c", seed=SEED + 1)
    assert digest_tree(tmp_path / "a") != digest_tree(tmp_path / "c")


def test_embedded_default_waves_are_the_generator_output(tmp_path, codebook):
    write_waves(codebook, tmp_path)
    assert digest_tree(tmp_path) == digest_tree(REPO / "data" / "surveys" / "waves")


def test_generated_waves_are_realistic(codebook):
    frames = generate_wave_frames(codebook, seed=SEED)
    assert len(frames) >= 3 and all(w.illustrative for w in codebook.waves if w.id in frames)
    for frame in frames.values():
        assert set(codebook.districts) <= set(frame["district"])
        assert 600 <= len(frame) <= 1200
        answers = frame[[q.id for q in codebook.questions if q.id in frame.columns]]
        assert 0.02 < answers.isna().to_numpy().mean() < 0.08  # item non-response
    first, second = (set(frames[w.id]["respondent_id"]) for w in codebook.waves[:2])
    assert 0.4 < len(first & second) / len(first) < 0.9  # a panel with attrition


@pytest.fixture
def survey_env(tmp_path, monkeypatch, codebook):
    """Small generated waves in a temporary survey root; warehouse in tmp; no pseudonymisation secret.
    The survey assets, the sensor and the IO manager read these paths from the `pipeline` resource."""
    survey_root = tmp_path / "surveys"
    (survey_root / "incoming").mkdir(parents=True)
    (survey_root / "waves").mkdir()
    frames = generate_wave_frames(codebook, seed=SEED, respondents_per_wave=300)
    waves = list(frames)
    write_csv(frames[waves[0]], survey_root / "waves" / f"{waves[0]}.csv", codebook)
    write_xlsx(frames[waves[1]], survey_root / "waves" / f"{waves[1]}.xlsx")
    write_sav(frames[waves[2]], survey_root / "incoming" / f"{waves[2]}.sav", codebook)
    monkeypatch.delenv("CI_SURVEY_PSEUDONYM_KEY", raising=False)
    pipeline = PipelineResource(settings=Settings.from_env({}).with_(survey_root=survey_root,
                                                                      warehouse_root=tmp_path / "warehouse"))
    return {"root": survey_root, "warehouse": tmp_path / "warehouse", "frames": frames, "waves": waves,
            "resources": {"pipeline": pipeline, "io_manager": WarehouseIOManager(pipeline=pipeline),
                          "survey_sql": survey_sql_resource()}}


def evaluate_sensor(instance, survey_env, cursor=None):
    # The pipeline resource is set up inside the sensor context, as the daemon does.
    with dg.build_sensor_context(instance=instance, resources={"pipeline": survey_env["resources"]["pipeline"]},
                                 cursor=cursor) as context:
        return survey_wave_sensor(context)


def test_sensor_adds_partitions_and_skips_known_content(survey_env):
    instance = dg.DagsterInstance.ephemeral()
    result = evaluate_sensor(instance, survey_env)
    assert sorted(r.partition_key for r in result.run_requests) == sorted(survey_env["waves"])
    assert sorted(result.dynamic_partitions_requests[0].partition_keys) == sorted(survey_env["waves"])

    instance.add_dynamic_partitions(survey_waves_partitions.name, survey_env["waves"])
    again = evaluate_sensor(instance, survey_env, result.cursor)
    assert again.run_requests == [] and again.dynamic_partitions_requests == []

    # a corrected file for a known wave is ingested again; a file for an unregistered wave is skipped
    codebook = load_codebook(REPO / "assets" / "surveys")
    frame = survey_env["frames"][survey_env["waves"][2]]
    write_sav(frame.iloc[:-1], survey_env["root"] / "incoming" / f"{survey_env['waves'][2]}.sav", codebook)
    write_sav(frame.iloc[:-2], survey_env["root"] / "incoming" / "2031-spring.sav", codebook)
    corrected = evaluate_sensor(instance, survey_env, result.cursor)
    assert [r.partition_key for r in corrected.run_requests] == [survey_env["waves"][2]]
    assert corrected.dynamic_partitions_requests == []


def population_assets(frame: pd.DataFrame, by_sex: pd.DataFrame) -> list:
    """Stand-ins for the two staged population tables survey_marts reads."""
    @dg.asset(key=["staging", "ssb_10826"])
    def ssb_10826() -> pd.DataFrame:
        return frame

    @dg.asset(key=["staging", "reference_oslo_population_sex_age"])
    def reference_oslo_population_sex_age() -> pd.DataFrame:
        return by_sex

    return [ssb_10826, reference_oslo_population_sex_age]


def test_materialise_survey_assets_and_scan_for_raw_ids(survey_env, codebook):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(survey_waves_partitions.name, survey_env["waves"])
    resources = survey_env["resources"]
    run_ids = []
    for wave in survey_env["waves"]:
        result = dg.materialize([survey_wave_ingest], partition_key=wave, instance=instance, resources=resources)
        assert result.success
        run_ids.append(result.run_id)
        metadata = result.asset_materializations_for_node("survey_wave_ingest")[0].metadata
        rows_in = metadata["rows_in"].value
        assert rows_in == len(survey_env["frames"][wave])
        assert rows_in == metadata["rows_accepted"].value + metadata["rows_quarantined"].value
        assert sum(metadata["quarantine_reasons"].value.values()) == metadata["rows_quarantined"].value

    # re-ingesting the same file changes nothing
    stored = survey_env["warehouse"] / "survey" / "responses" / f"wave={survey_env['waves'][0]}.parquet"
    before = (stored.stat().st_mtime_ns, stored.read_bytes())
    again = dg.materialize([survey_wave_ingest], partition_key=survey_env["waves"][0], instance=instance,
                           resources=resources)
    assert again.asset_materializations_for_node("survey_wave_ingest")[0].metadata["rewritten"].value is False
    assert (stored.stat().st_mtime_ns, stored.read_bytes()) == before
    run_ids.append(again.run_id)

    population = pd.DataFrame({
        "indicator_id": "population", "region_code": [f"{c}a" for c in codebook.districts for _ in range(16)],
        "period": "2024", "sex": "total", "value": 500.0,
        "age_group": [str(a) for _ in codebook.districts for a in range(10, 26)]})
    by_sex = pd.DataFrame({
        "source": "reference", "table_id": "oslo_population_sex_age", "indicator_id": "population_sex_age",
        "region_code": [c for c in codebook.districts for _ in range(2)], "period": "2024",
        "sex": ["female", "male"] * len(codebook.districts), "age_group": "15", "value": [260.0, 240.0] * len(codebook.districts)})
    marts = dg.materialize([*population_assets(population, by_sex), survey_marts],
                           instance=instance, resources=resources)
    assert marts.success
    run_ids.append(marts.run_id)
    results = marts.output_for_node("survey_marts", "survey_results")
    change = marts.output_for_node("survey_marts", "survey_change")
    assert set(results["provenance"]) == {"illustrative"} and set(change["provenance"]) == {"illustrative"}
    assert results["weighted"].any()
    results_metadata = next(m.metadata for m in marts.asset_materializations_for_node("survey_marts")
                            if m.asset_key == dg.AssetKey(["marts", "survey_results"]))
    weighting = results_metadata["weighting"].value
    assert weighting and all("district x sex (oslo_population_sex_age" in w["margins"] for w in weighting.values())
    raked = results[results["weighted"]]
    assert set(raked["weighting"]) == {"raking"} and set(raked["population_period"]) == {"2024"}
    assert set(results.loc[~results["weighted"], "weighting"]) == {"unweighted"}
    shown = results["n"].notna()
    assert (results.loc[shown, "effective_n"] <= results.loc[shown, "n"] + 0.05).all()
    assert results.loc[~shown, "effective_n"].isna().all()
    assert results_metadata["recoverable_cells"].value == 0

    # the scan: raw ids and free text must not appear in any stored file, mart, log line or metadata value
    frames = survey_env["frames"].values()
    raw_ids = {rid for frame in frames for rid in frame["respondent_id"].dropna()}
    free_text = {text for frame in frames for text in frame["comment"].dropna() if text}
    assert len(raw_ids) > 500 and free_text
    haystacks = []
    for path in survey_env["warehouse"].rglob("*"):
        if path.suffix == ".parquet":
            haystacks.append(pd.read_parquet(path).astype(str).to_csv())
        elif path.is_file():
            haystacks.append(path.read_bytes().decode("utf-8", errors="replace"))
    haystacks += [results.astype(str).to_csv(), change.astype(str).to_csv()]
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            haystacks.append(record.user_message or "")
            haystacks.append(json.dumps(dg.serialize_value(record)))
    text = "\n".join(haystacks)
    assert "survey/responses" in text  # the scan does see the run's records
    leaked = [rid for rid in raw_ids if rid in text] + [t for t in free_text if t in text]
    assert leaked == []


def test_survey_assets_have_the_agreed_keys():
    keys = {key.to_user_string() for asset in SURVEY_ASSETS for key in asset.keys}
    assert keys == {"survey/responses", "survey/quarantine", "marts/survey_results", "marts/survey_change"}


def test_sensor_leaves_waves_make_run_stored_and_tags_its_requests(survey_env):
    """The first `make dev` after a `make run`: the sensor has no cursor, but the warehouse already stores
    every wave's content, so nothing is ingested twice; a new file is requested, tagged as a survey wave's
    ingest (the build_after_refresh sensor then builds the survey marts and what depends on them)."""
    from ci_pipeline.defs.surveys import SURVEY_ASSETS, SURVEY_JOBS
    from ci_pipeline.run import RunSummary, ingest_survey_waves

    instance = dg.DagsterInstance.ephemeral()
    settings = survey_env["resources"]["pipeline"].settings
    defs = dg.Definitions(assets=SURVEY_ASSETS[:1], jobs=SURVEY_JOBS[:1], resources=survey_env["resources"])
    summary = RunSummary(success=True)
    ingest_survey_waves(defs, instance, settings, summary)
    assert sorted(summary.waves_ingested) == sorted(survey_env["waves"])
    assert evaluate_sensor(instance, survey_env).run_requests == []

    codebook = load_codebook(REPO / "assets" / "surveys")
    frame = survey_env["frames"][survey_env["waves"][2]]
    write_sav(frame.iloc[:-1], survey_env["root"] / "incoming" / f"{survey_env['waves'][2]}.sav", codebook)
    (request,) = evaluate_sensor(instance, survey_env).run_requests
    assert request.tags["ci_pipeline/step"] == "survey_ingest" and request.tags["ci_pipeline/trigger"] == "survey_wave"

