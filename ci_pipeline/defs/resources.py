"""The one resource every asset shares: the run's settings (mode, paths, base URLs)."""

from dagster import ConfigurableResource

from ci_pipeline.settings import Settings

PATHS = ("catalogue_root", "checks_root", "snapshot_root", "warehouse_root", "survey_root")


class PipelineSettings(ConfigurableResource):
    """Settings from the environment (CI_PIPELINE_*), optionally overridden in run or resource config.

    mode: replay (default; the embedded snapshot archive, no network), live or record. Relative paths are
    taken from the repository root.
    """

    mode: str | None = None
    catalogue_root: str | None = None
    checks_root: str | None = None
    snapshot_root: str | None = None
    warehouse_root: str | None = None
    survey_root: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "PipelineSettings":
        return cls(mode=settings.mode, **{name: str(getattr(settings, name)) for name in PATHS})

    def settings(self) -> Settings:
        settings = Settings.from_env()
        overrides = {name: settings.repo_root.joinpath(getattr(self, name)).resolve()
                     for name in PATHS if getattr(self, name)}
        if self.mode:
            overrides["mode"] = self.mode
        return settings.with_(**overrides) if overrides else settings
