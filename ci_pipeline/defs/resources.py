"""The one resource every asset, check, sensor and the IO manager share: the run's settings and the
API clients built from them."""

from dagster import ConfigurableResource, ResourceDependency
from pydantic import Field, PrivateAttr

from ci_pipeline.ingest import Clients, HostThrottles, make_clients
from ci_pipeline.settings import Settings


class PipelineResource(ConfigurableResource):
    """The run's settings (paths, mode, base URLs, HTTP behaviour) and its access to the sources.

    build_definitions(settings) makes one, so tests and benchmarks point a whole definition at a temporary
    warehouse or snapshot archive; without settings it reads the environment (CI_PIPELINE_*). `clients`
    are built once per run, on first use, and shared by every asset and check of the run; every client
    of one host draws on one throttle for as long as the definitions live (SSB and KLASS share
    data.ssb.no).
    """

    settings: ResourceDependency[Settings] = Field(default_factory=Settings.from_env)
    throttles: ResourceDependency[HostThrottles] = Field(default_factory=HostThrottles)
    _clients: Clients | None = PrivateAttr(default=None)

    @property
    def clients(self) -> Clients:
        """The SSB, FHI and KLASS clients in the settings' mode and the snapshot and warehouse archives."""
        if self._clients is None:
            self._clients = make_clients(self.settings, self.throttles)
        return self._clients
