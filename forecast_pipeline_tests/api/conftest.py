"""Fixtures of the API tests: a real warehouse holding published sample forecasts (see
:mod:`.sample`) and the app on it, started with its lifespan by ``TestClient``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecast_pipeline.api.app import create_app
from forecast_pipeline.api.ratelimit import WINDOW_SECONDS
from forecast_pipeline.api.settings import ApiSettings
from forecast_pipeline.warehouse import migrate
from forecast_pipeline_tests.api.sample import Warehouse, seed_warehouse

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def published(make_database) -> Warehouse:
    """One warehouse with the sample published, shared by the tests that only read it (tests
    that need a key of their own create one)."""
    url = make_database("fp_api")
    migrate.upgrade(url)
    return seed_warehouse(url)


@pytest.fixture
def fresh_published(warehouse_url: str) -> Warehouse:
    """The sample in a warehouse of its own, for tests that publish more runs."""
    return seed_warehouse(warehouse_url)


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


@pytest.fixture(scope="module")
def client(published: Warehouse) -> Iterator[TestClient]:
    with serve(published.api_url) as client:
        yield client


@pytest.fixture
def auth(published: Warehouse) -> dict[str, str]:
    return {"X-API-Key": published.key}


def fresh_rate_window(margin: float = 5.0) -> None:
    """Wait for the next rate-limit window if this one ends within ``margin`` seconds, so the
    requests of a test fall into one fixed window."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < margin:
        time.sleep(left + 0.05)
