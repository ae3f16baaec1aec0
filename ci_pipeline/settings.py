"""Where things live and how sources are reached: configuration, not code.

Every path and base URL has a default relative to the repository and can be overridden from the
environment, so an installed package, a container or a scheduled deployment can point it elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

MODES = ("replay", "live", "record")

SSB_BASE_URL = "https://data.ssb.no/api/pxwebapi/v2/"
FHI_BASE_URL = "https://statistikk-data.fhi.no/api/open/v1/"
KLASS_BASE_URL = "https://data.ssb.no/api/klass/v1/"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run.

    mode: replay (read the snapshot archive, no network), live (call the APIs, archive every answer)
    or record (live, and also write every answer into the snapshot archive for later replay).
    """

    repo_root: Path
    catalogue_root: Path
    checks_root: Path
    snapshot_root: Path
    warehouse_root: Path
    survey_root: Path
    mode: str = "replay"
    ssb_base_url: str = SSB_BASE_URL
    fhi_base_url: str = FHI_BASE_URL
    klass_base_url: str = KLASS_BASE_URL
    # How live/record mode treats the APIs. The defaults are for the real services (SSB documents 30
    # requests a minute); a test against the local stand-in lowers the waits and raises the rate.
    http_timeout: float = 120.0
    http_max_retries: int = 6
    http_backoff_base: float = 1.0
    requests_per_minute: int = 30

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"CI_PIPELINE_MODE must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.http_timeout > 0:
            raise ValueError(f"CI_PIPELINE_HTTP_TIMEOUT must be a positive number of seconds, got {self.http_timeout!r}")
        if self.http_max_retries < 0:
            raise ValueError(f"CI_PIPELINE_HTTP_MAX_RETRIES must be 0 or more, got {self.http_max_retries!r}")
        if self.http_backoff_base < 0:
            raise ValueError(f"CI_PIPELINE_HTTP_BACKOFF_BASE must be 0 or more seconds, got {self.http_backoff_base!r}")
        if self.requests_per_minute < 1:
            raise ValueError(f"CI_PIPELINE_REQUESTS_PER_MINUTE must be at least 1, got {self.requests_per_minute!r}")

    @property
    def archive_root(self) -> Path:
        """The raw layer: every response this installation fetched, stored immutably."""
        return self.warehouse_root / "archive"

    @property
    def marts_root(self) -> Path:
        return self.warehouse_root / "marts"

    @property
    def catalog_path(self) -> Path:
        return self.warehouse_root / "catalog.duckdb"

    @property
    def state_root(self) -> Path:
        """Small files remembering what the last run saw (source `updated` stamps)."""
        return self.warehouse_root / "state"

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def path(name: str, default: Path) -> Path:
            value = env.get(name)
            return Path(value).expanduser().resolve() if value else default

        def number(name: str, default: float, kind: type) -> float:
            value = env.get(name)
            if value is None or value == "":
                return default
            try:
                return kind(value)
            except ValueError:
                raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None

        repo = path("CI_PIPELINE_REPO_ROOT", REPO_ROOT)
        return cls(
            repo_root=repo,
            catalogue_root=path("CI_PIPELINE_CATALOGUE", repo / "assets"),
            checks_root=path("CI_PIPELINE_CHECKS", repo / "checks"),
            snapshot_root=path("CI_PIPELINE_SNAPSHOTS", repo / "data" / "snapshots"),
            warehouse_root=path("CI_PIPELINE_WAREHOUSE", repo / "data" / "warehouse"),
            survey_root=path("CI_PIPELINE_SURVEYS", repo / "data" / "surveys"),
            mode=env.get("CI_PIPELINE_MODE", "replay"),
            ssb_base_url=env.get("SSB_BASE_URL", SSB_BASE_URL),
            fhi_base_url=env.get("FHI_BASE_URL", FHI_BASE_URL),
            klass_base_url=env.get("KLASS_BASE_URL", KLASS_BASE_URL),
            http_timeout=number("CI_PIPELINE_HTTP_TIMEOUT", cls.http_timeout, float),
            http_max_retries=number("CI_PIPELINE_HTTP_MAX_RETRIES", cls.http_max_retries, int),
            http_backoff_base=number("CI_PIPELINE_HTTP_BACKOFF_BASE", cls.http_backoff_base, float),
            requests_per_minute=number("CI_PIPELINE_REQUESTS_PER_MINUTE", cls.requests_per_minute, int),
        )
