"""The deployment files in deploy/ agree with each other and with the code, without starting anything.

The Helm values are not run here (no Kubernetes cluster); these tests at least hold them to what was run:
the same instance settings as deploy/dagster.yaml, settings the pipeline accepts, and an executor that
matches the run launcher.
"""

import re
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from ci_pipeline.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PG_VARIABLES = {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}
LAUNCHER_FOR_EXECUTOR = {"k8s": "K8sRunLauncher", "celery_k8s": "CeleryK8sRunLauncher"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_the_instance_file_is_valid_and_reads_its_connection_from_the_environment(monkeypatch):
    text = (DEPLOY / "dagster.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"env: (DAGSTER_PG_\w+)", text)) == PG_VARIABLES
    for name in PG_VARIABLES:
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    config, _ = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}


def test_the_systemd_environment_sets_what_the_services_read():
    env = env_file(DEPLOY / "systemd" / "ci-pipeline.env.example")
    assert PG_VARIABLES | {"DAGSTER_HOME"} <= set(env)
    settings = Settings.from_env(env)
    assert (settings.mode, settings.executor) == ("live", "multiprocess")
    for unit in ("ci-pipeline-code-server", "ci-pipeline-daemon", "ci-pipeline-webserver"):
        text = (DEPLOY / "systemd" / f"{unit}.service").read_text(encoding="utf-8")
        assert "EnvironmentFile=/etc/ci-pipeline/env" in text
        assert "--host 127.0.0.1" in text or "-w /etc/ci-pipeline/workspace.yaml" in text


@pytest.mark.parametrize("overlays", [["values.yaml"], ["values.yaml", "values-celery-k8s.yaml"]])
def test_the_helm_values_match_the_tested_instance_and_settings(overlays):
    values: dict = {}
    for name in overlays:  # Helm merges maps and replaces lists, as this does one level down
        for key, value in load(DEPLOY / "helm" / name).items():
            values[key] = {**values[key], **value} if isinstance(value, dict) and key in values else value
    instance = load(DEPLOY / "dagster.yaml")
    assert values["additionalInstanceConfig"]["concurrency"] == instance["concurrency"]
    assert values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] == {}
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert (monitoring["startTimeoutSeconds"], monitoring["freeSlotsAfterRunEndSeconds"]) == (
        instance["run_monitoring"]["start_timeout_seconds"], instance["run_monitoring"]["free_slots_after_run_end_seconds"])
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    settings = Settings.from_env({item["name"]: item["value"] for item in deployment["env"]})
    assert values["runLauncher"]["type"] == LAUNCHER_FOR_EXECUTOR[settings.executor]
    assert deployment["dagsterApiGrpcArgs"][:2] == ["--module-name", "ci_pipeline.definitions"]
