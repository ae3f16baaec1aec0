"""Politeness past one process: a host's request window shared through a store, the instance's key-value
store as that store, one concurrency pool per API host, and the executor switch.

The end-to-end proof (the multiprocess executor against two stand-in hosts, on PostgreSQL) is in
test_deploy_postgres.py; these tests pin the pieces without starting anything.
"""

import importlib.util

import dagster as dg
import pytest
from test_http_client import FakeTime

from ci_pipeline.config import ConfigError
from ci_pipeline.definitions import POD_EXECUTORS, build_definitions, pipeline_executor
from ci_pipeline.defs.resources import InstanceWindow, PipelineResource, api_pool
from ci_pipeline.http import SlidingWindowThrottle
from ci_pipeline.ingest import DELIVERY_MARGIN_SECONDS, HostThrottles, make_clients
from ci_pipeline.settings import Settings


class DictWindow:
    """A SharedWindow in memory: what a second process would read from the instance."""

    def __init__(self) -> None:
        self.state: dict | None = None
        self.saves = 0

    def load(self):
        return self.state

    def save(self, state) -> None:
        self.state = state
        self.saves += 1


def test_a_throttle_in_another_process_counts_the_requests_sent_before_it():
    fake, window = FakeTime(), DictWindow()
    first = SlidingWindowThrottle(3, 60.0, clock=fake.clock, sleep=fake.sleep, shared=window)
    for _ in range(3):
        first.acquire()
        fake.now += 5.0  # three requests at 0, 5, 10
    # The next step runs in a fresh process: its own throttle has seen nothing, the shared window has.
    second = SlidingWindowThrottle(3, 60.0, clock=fake.clock, sleep=fake.sleep, shared=window)
    second.acquire()
    assert fake.sleeps == [45.0], "waits until the first request (t=0) leaves the window at t=60"
    assert window.state["calls"] == [5.0, 10.0, 60.0]
    # Alone, without the shared window, the fresh throttle would not have waited at all.
    alone = SlidingWindowThrottle(3, 60.0, clock=fake.clock, sleep=fake.sleep)
    alone.acquire()
    assert fake.sleeps == [45.0]


def test_a_sharer_that_took_the_slot_while_this_one_slept_makes_it_wait_again():
    fake, window = FakeTime(), DictWindow()
    other = SlidingWindowThrottle(1, 60.0, clock=fake.clock, sleep=fake.sleep, shared=window)
    other.acquire()  # t=0

    def sleep_while_the_other_sends(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 1:
            other.acquire()  # at t=60 the other process sends first

    this = SlidingWindowThrottle(1, 60.0, clock=fake.clock, sleep=sleep_while_the_other_sends, shared=window)
    this.acquire()
    assert fake.sleeps == [60.0, 60.0]
    assert window.state["calls"] == [120.0]


def test_a_server_side_block_reaches_the_next_process():
    fake, window = FakeTime(), DictWindow()
    SlidingWindowThrottle(30, 60.0, clock=fake.clock, sleep=fake.sleep, shared=window).block_for(20.0)
    SlidingWindowThrottle(30, 60.0, clock=fake.clock, sleep=fake.sleep, shared=window).acquire()
    assert fake.sleeps == [20.0]


def test_host_throttles_share_windows_per_host_with_a_delivery_margin(tmp_path):
    windows: dict[str, DictWindow] = {}
    throttles = HostThrottles()
    settings = Settings.from_env({}).with_(warehouse_root=tmp_path, requests_per_minute=5)
    before = make_clients(settings, throttles)  # made before the windows are shared: switched over
    throttles.share_windows(lambda host: windows.setdefault(host, DictWindow()))
    after = make_clients(settings, throttles)
    assert before.ssb.http.throttle is after.klass.http.throttle
    before.ssb.http.throttle.acquire()
    after.fhi.http.throttle.acquire()
    after.oslo.http.throttle.acquire()
    assert sorted(windows) == ["data.ssb.no", "statistikk-data.fhi.no", "statistikkbanken.oslo.kommune.no"]
    assert all(len(window.state["calls"]) == 1 for window in windows.values())
    assert after.ssb.http.throttle.window == 60.0 + DELIVERY_MARGIN_SECONDS


def test_the_instance_keeps_a_hosts_window_for_every_process_of_it(tmp_path):
    with dg.instance_for_test() as instance:
        first, second = InstanceWindow(instance, "data.ssb.no"), InstanceWindow(instance, "data.ssb.no")
        assert first.load() is None
        first.save({"calls": [1.5, 2.25]})
        assert second.load() == {"calls": [1.5, 2.25]}
        assert InstanceWindow(instance, "statistikk-data.fhi.no").load() is None


def test_each_run_hands_its_instance_to_the_resource_throttles(tmp_path):
    settings = Settings.from_env({}).with_(warehouse_root=tmp_path / "warehouse", mode="live")
    pipeline = PipelineResource(settings=settings)

    @dg.asset
    def sends(pipeline: PipelineResource) -> None:
        pipeline.clients.ssb.http.throttle.acquire()

    with dg.instance_for_test() as instance:
        assert dg.materialize([sends], resources={"pipeline": pipeline}, instance=instance).success
        assert len(InstanceWindow(instance, "data.ssb.no").load()["calls"]) == 1


def test_every_step_that_calls_an_api_is_in_its_hosts_pool(tmp_path):
    assert api_pool("ssb") == api_pool("klass") == "data.ssb.no"
    assert api_pool("fhi") == "statistikk-data.fhi.no"
    assert api_pool("oslo") == "statistikkbanken.oslo.kommune.no"
    defs = build_definitions(Settings.from_env({}).with_(warehouse_root=tmp_path), include_checks=False)
    pools = {}
    for node in defs.resolve_job_def("pipeline_job").graph.node_defs:
        pools[node.name] = node.pool
    raw = {name: pool for name, pool in pools.items() if name.startswith("raw__")}
    assert raw and all(pool == api_pool(name.split("__")[1].split("_")[0]) for name, pool in raw.items())
    assert api_pool("reference") is None and raw["raw__reference_imdi_employed"] is None
    assert pools["klass_geography"] == "data.ssb.no"
    # No other step waits for a pool: the limit is about the APIs, not about the machine.
    assert {name for name, pool in pools.items() if pool} == {name for name, pool in raw.items() if pool} | {
        "klass_geography"}


def test_the_executor_setting_picks_the_executor_and_names_a_missing_package():
    assert Settings.from_env({}).executor == "in_process"
    assert pipeline_executor("in_process") is dg.in_process_executor
    assert pipeline_executor("multiprocess").name == "multiprocess"
    with pytest.raises(ConfigError, match="CI_PIPELINE_EXECUTOR: Input should be .*multiprocess.*got .multiproces."):
        Settings.from_env({"CI_PIPELINE_EXECUTOR": "multiproces"})
    for name, (module, extra) in POD_EXECUTORS.items():
        if importlib.util.find_spec(module) is None:  # not installed here: the extra is named
            with pytest.raises(ConfigError, match=rf"{name} needs {module} \(pip install 'ci_pipeline\[{extra}\]'\)"):
                pipeline_executor(name)


def test_the_multiprocess_job_runs_its_steps_in_processes(tmp_path):
    defs = build_definitions(Settings.from_env({}).with_(warehouse_root=tmp_path, executor="multiprocess"),
                             include_checks=False)
    assert defs.resolve_job_def("pipeline_job").executor_def.name == "multiprocess"


def test_run_pipeline_refuses_settings_its_step_processes_would_not_see(tmp_path, monkeypatch):
    from ci_pipeline.run import run_pipeline

    monkeypatch.delenv("CI_PIPELINE_EXECUTOR", raising=False)
    settings = Settings.from_env({}).with_(warehouse_root=tmp_path, executor="multiprocess")
    with dg.instance_for_test() as instance, pytest.raises(ConfigError, match="read their settings from the environ"):
        run_pipeline(settings, instance)
