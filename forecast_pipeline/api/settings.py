"""API settings, from ``FORECAST_API_*`` environment variables read when the app is created
(never at import)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """How the API connects, authenticates, limits and caches.

    ``database_url`` must connect as the ``forecast_api`` role: it reads the ``analytics``
    views and the API key hashes, nothing else.
    """

    model_config = SettingsConfigDict(env_prefix="FORECAST_API_", extra="ignore")

    database_url: str
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    require_api_key: bool = Field(
        default=True, description="Ask every endpoint but health and metrics for a key."
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Requests per key and minute, unless the key says else."
    )
    redis_url: str | None = Field(
        default=None,
        description="Shares the rate-limit counters between replicas; in-process without it.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    cache_max_age_seconds: int = Field(
        default=60, ge=0, description="Cache-Control max-age of the forecast responses."
    )
    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a key lookup is reused (revocations apply after)."
    )
    run_poll_seconds: float = Field(
        default=30.0, gt=0, description="Fallback check for a new run if a notification is lost."
    )
    cache_entries: int = Field(default=2048, ge=1, description="Responses kept in memory.")
