"""The one resource every asset, check, sensor and the IO manager share: the run's settings and the
API clients built from them; and how steps that call one API host take turns across processes and runs
(a concurrency pool per host, the host's request window in the instance)."""

import json
from typing import Any
from urllib.parse import urlsplit

from dagster import ConfigurableResource, DagsterInstance, InitResourceContext, ResourceDependency
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from ci_pipeline.ingest import Clients, HostThrottles, make_clients
from ci_pipeline.settings import FHI_BASE_URL, KLASS_BASE_URL, OSLO_STATBANK_BASE_URL, SSB_BASE_URL, Settings
from ci_pipeline.surveys.aggregate import SURVEY_SQL_CONFIG

# The API host each source's requests go to. SSB and KLASS share data.ssb.no, so they share one pool.
API_HOSTS = {source: urlsplit(url).netloc
             for source, url in (("ssb", SSB_BASE_URL), ("klass", KLASS_BASE_URL), ("fhi", FHI_BASE_URL),
                                 ("oslo", OSLO_STATBANK_BASE_URL))}
WINDOW_KEY_PREFIX = "ci_pipeline/request_window/"


def api_pool(source: str) -> str | None:
    """The concurrency pool of every step that calls `source`'s API, named after its host
    (`data.ssb.no`, `statistikk-data.fhi.no`, `statistikkbanken.oslo.kommune.no`); a source that calls no API (the
    reference series, read from files) gets no pool.

    deploy/dagster.yaml limits every pool to one step at a time (`concurrency: pools: default_limit: 1`),
    so one step per host sends requests at a time, across the processes of the multiprocess executor
    and across runs; the host's request window passes from step to step through the instance
    (InstanceWindow), so the requests-per-minute limit holds across them too.
    """
    return API_HOSTS.get(source)


class InstanceWindow:
    """One host's request window (ci_pipeline.http.SharedWindow) in the Dagster instance's key-value
    store: every process and run of a deployment shares its instance (Postgres in deploy/), so a step
    counts the requests that steps before it sent to the same host."""

    def __init__(self, instance: DagsterInstance, host: str):
        self._storage = instance.daemon_cursor_storage
        self.key = WINDOW_KEY_PREFIX + host

    def load(self) -> dict[str, Any] | None:
        value = self._storage.get_cursor_values({self.key}).get(self.key)
        return json.loads(value) if value else None

    def save(self, state: dict[str, Any]) -> None:
        self._storage.set_cursor_values({self.key: json.dumps(state)})


class PipelineResource(ConfigurableResource):
    """The run's settings (paths, mode, base URLs, HTTP behaviour) and its access to the sources.

    build_definitions(settings) makes one, so tests and benchmarks point a whole definition at a temporary
    warehouse or snapshot archive; without settings it reads the environment (CI_PIPELINE_*). `clients`
    are built once per run, on first use, and shared by every asset and check of the run; every client
    of one host draws on one throttle for as long as the definitions live (SSB and KLASS share
    data.ssb.no), whose window is kept in the run's instance.
    """

    settings: ResourceDependency[Settings] = Field(default_factory=Settings.from_env)
    throttles: ResourceDependency[HostThrottles] = Field(default_factory=HostThrottles)
    _clients: Clients | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        instance = context.instance
        if instance is not None:
            self.throttles.share_windows(lambda host: InstanceWindow(instance, host))

    @property
    def clients(self) -> Clients:
        """The SSB, FHI and KLASS clients in the settings' mode and the snapshot and warehouse archives."""
        if self._clients is None:
            self._clients = make_clients(self.settings, self.throttles)
        return self._clients


def survey_sql_resource() -> DuckDBResource:
    """Where the survey aggregation's SQL runs (ci_pipeline.surveys.aggregate), as Dagster's DuckDB
    resource `survey_sql`, configured here and nowhere else: a private in-memory database per connection,
    so stored responses never reach a file beyond the pseudonymised Parquet they are read from; one
    thread, so a rebuild gives the same bits (SURVEY_SQL_CONFIG)."""
    return DuckDBResource(database=":memory:", connection_config=SURVEY_SQL_CONFIG)


def catalogue_resource(settings: Settings) -> DuckDBResource:
    """The analysts' catalogue (<warehouse>/catalog.duckdb) as Dagster's DuckDB resource `catalogue`,
    configured here and nowhere else: read-only, because MartStore rebuilds the file beside the old one on
    every publish and renames it into place, and with the views' relative paths resolved against the
    warehouse folder, as ci_pipeline.catalog.connect resolves them for analysts."""
    return DuckDBResource(database=str(settings.catalog_path), connection_config={
        "access_mode": "READ_ONLY", "file_search_path": str(settings.warehouse_root)})
