"""Platform settings, read from the environment only when asked for.

Nothing here runs at import time: :func:`load_settings` builds a fresh
:class:`PlatformSettings` from the environment each time it is called (the CLI and the API
call it; Dagster definitions never do, they use ``dg.EnvVar`` instead).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """The project home folder used when ``FORECAST_HOME`` is not set."""
    return Path.home() / ".forecast_pipeline"


class PlatformSettings(BaseSettings):
    """Settings shared by the CLI and the local stack (environment prefix ``FORECAST_``)."""

    model_config = SettingsConfigDict(env_prefix="FORECAST_", extra="ignore")

    deployment: str = "local"
    home: Path = Field(default_factory=default_home)
    postgres_url: str | None = None
    warehouse_db: str = "forecast_warehouse"
    dagster_db: str = "forecast_dagster"
    mlflow_db: str = "forecast_mlflow"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def pgdata_dir(self) -> Path:
        return self.home / "pgdata"


def load_settings() -> PlatformSettings:
    """Read the settings from the environment now."""
    return PlatformSettings()
