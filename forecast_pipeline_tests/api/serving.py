"""The app under test: started with its lifespan (pool, run tracker, rate limiter) by
``TestClient``, on a real warehouse and, when asked, a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from forecast_pipeline.api.app import create_app
from forecast_pipeline.api.ratelimit import WINDOW_SECONDS
from forecast_pipeline.api.settings import ApiSettings

REDIS_URL = "redis://127.0.0.1:6379/0"


@contextmanager
def serve(
    database_url: str, *, raise_server_exceptions: bool = True, **settings: Any
) -> Iterator[TestClient]:
    """The app on ``database_url`` (the forecast_api role), started and stopped around the
    block. Keys are looked up on every request (revocations apply at once)."""
    options: dict[str, Any] = {"key_cache_seconds": 0, "run_poll_seconds": 60} | settings
    app = create_app(ApiSettings(database_url=database_url, **options))
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def fresh_rate_window(margin: float = 5.0) -> None:
    """Wait for the next rate-limit window if this one ends within ``margin`` seconds, so the
    requests of a test fall into one fixed window."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < margin:
        time.sleep(left + 0.05)
