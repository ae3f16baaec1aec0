"""The one resource every asset shares: the run's settings (mode, paths, base URLs)."""


from dagster import ConfigurableResource

from ci_pipeline.settings import Settings


class PipelineSettings(ConfigurableResource):
    """Settings from the environment (CI_PIPELINE_*), optionally overridden in run or resource config.

    mode: replay (default; the embedded snapshot archive, no network), live or record.
    """

    mode: str | None = None
    snapshot_root: str | None = None
    warehouse_root: str | None = None

    def settings(self) -> Settings:
        settings = Settings.from_env()
        overrides = {}
        if self.mode:
            overrides["mode"] = self.mode
        if self.snapshot_root:
            overrides["snapshot_root"] = settings.repo_root.joinpath(self.snapshot_root).resolve()
        if self.warehouse_root:
            overrides["warehouse_root"] = settings.repo_root.joinpath(self.warehouse_root).resolve()
        return settings.with_(**overrides) if overrides else settings
