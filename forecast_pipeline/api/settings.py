"""API settings (read when the app is created, never at import)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """``FORECAST_READER_URL`` must connect as the read-only role that sees only ``analytics``."""

    model_config = SettingsConfigDict(env_prefix="FORECAST_", extra="ignore")

    reader_url: str
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
