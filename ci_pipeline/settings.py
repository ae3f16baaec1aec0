"""Where things live and how sources are reached: the one settings object of a run.

Every path and base URL has a default relative to the repository and can be overridden from the
environment (the variable is named next to each field), so an installed package, a container or a
scheduled deployment can point it elsewhere. `Settings.from_env()` validates what the environment says:
a bad mode or a bad number is one line naming the variable and what it accepts. The Dagster layer hands
this object to every asset, check, sensor and the IO manager through one resource
(ci_pipeline/defs/resources.py); nothing else reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ci_pipeline.config import ConfigError, format_validation_error

REPO_ROOT = Path(__file__).resolve().parent.parent

SSB_BASE_URL = "https://data.ssb.no/api/pxwebapi/v2/"
FHI_BASE_URL = "https://statistikk-data.fhi.no/api/open/v1/"
KLASS_BASE_URL = "https://data.ssb.no/api/klass/v1/"
OSLO_STATBANK_BASE_URL = "https://statistikkbanken.oslo.kommune.no/statbank/api/v1/no/db1/"
# PxWeb's own default limit is unknown for Oslo's installation; a full table of the bank is a few
# thousand cells, so this leaves room while keeping one answer far below what PxWeb installations allow.
OSLO_MAX_VALUES = 100_000

# A path from the environment may start with ~ or be relative to the working directory.
SettingPath = Annotated[Path, AfterValidator(lambda path: path.expanduser().resolve())]


def _under_repo(*parts: str):
    return lambda data: data["repo_root"].joinpath(*parts)


class Settings(BaseModel):
    """Resolved settings for one run.

    mode: replay (read the snapshot archive, no network), live (call the APIs, archive every answer)
    or record (live, and also write every answer into the snapshot archive for later replay).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    repo_root: SettingPath = Field(REPO_ROOT, validation_alias="CI_PIPELINE_REPO_ROOT")
    catalogue_root: SettingPath = Field(default_factory=_under_repo("assets"), validation_alias="CI_PIPELINE_CATALOGUE")
    checks_root: SettingPath = Field(default_factory=_under_repo("checks"), validation_alias="CI_PIPELINE_CHECKS")
    snapshot_root: SettingPath = Field(default_factory=_under_repo("data", "snapshots"),
                                       validation_alias="CI_PIPELINE_SNAPSHOTS")
    warehouse_root: SettingPath = Field(default_factory=_under_repo("data", "warehouse"),
                                        validation_alias="CI_PIPELINE_WAREHOUSE")
    survey_root: SettingPath = Field(default_factory=_under_repo("data", "surveys"), validation_alias="CI_PIPELINE_SURVEYS")
    reference_series_root: SettingPath = Field(default_factory=_under_repo("data", "reference_series"),
                                               validation_alias="CI_PIPELINE_REFERENCE_SERIES")
    mode: Literal["replay", "live", "record"] = Field("replay", validation_alias="CI_PIPELINE_MODE")
    ssb_base_url: str = Field(SSB_BASE_URL, validation_alias="SSB_BASE_URL")
    fhi_base_url: str = Field(FHI_BASE_URL, validation_alias="FHI_BASE_URL")
    klass_base_url: str = Field(KLASS_BASE_URL, validation_alias="KLASS_BASE_URL")
    oslo_base_url: str = Field(OSLO_STATBANK_BASE_URL, validation_alias="OSLO_STATBANK_BASE_URL")
    # Cells one data request to Oslo's statistics bank may select; a larger query is split by period.
    oslo_max_values: int = Field(OSLO_MAX_VALUES, ge=1, validation_alias="OSLO_STATBANK_MAX_VALUES")
    # How live/record mode treats the APIs. The defaults are for the real services (SSB documents 30
    # requests a minute); a test against the local stand-in lowers the waits and raises the rate.
    http_timeout: float = Field(120.0, gt=0, validation_alias="CI_PIPELINE_HTTP_TIMEOUT")
    http_max_retries: int = Field(6, ge=0, validation_alias="CI_PIPELINE_HTTP_MAX_RETRIES")
    http_backoff_base: float = Field(1.0, ge=0, validation_alias="CI_PIPELINE_HTTP_BACKOFF_BASE")
    requests_per_minute: int = Field(30, ge=1, validation_alias="CI_PIPELINE_REQUESTS_PER_MINUTE")
    # How a run executes its steps: in its own process (the default: a process per step costs seconds
    # each), a process per step (multiprocess), or a Kubernetes pod per step (k8s, celery_k8s; configured
    # in deploy/, not run here). Concurrency pools keep each API host's limit whichever is chosen.
    executor: Literal["in_process", "multiprocess", "k8s", "celery_k8s"] = Field(
        "in_process", validation_alias="CI_PIPELINE_EXECUTOR")

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

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (by field name), validated like the original."""
        return type(self).model_validate({**dict(self), **changes})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (an empty variable counts as unset); a ConfigError with one
        `environment: VARIABLE: problem` line per bad variable."""
        env = os.environ if env is None else env
        variables = [field.validation_alias for field in cls.model_fields.values()]
        given = {variable: env[variable] for variable in variables if env.get(variable)}
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise ConfigError(format_validation_error("environment", error, given)) from None
