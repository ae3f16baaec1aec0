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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"CI_PIPELINE_MODE must be one of {', '.join(MODES)}, got {self.mode!r}")

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

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def path(name: str, default: Path) -> Path:
            value = env.get(name)
            return Path(value).expanduser().resolve() if value else default

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
        )
