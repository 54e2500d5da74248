"""Fixtures of the API tests: a real warehouse holding published sample forecasts (see
:mod:`.sample`) and the app on it (see :mod:`.serving`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forecast_pipeline.warehouse import migrate
from forecast_pipeline_tests.api.sample import Warehouse, seed_warehouse
from forecast_pipeline_tests.api.serving import serve


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


@pytest.fixture(scope="module")
def client(published: Warehouse) -> Iterator[TestClient]:
    """The app on the shared warehouse, for the tests of one module."""
    with serve(published.api_url) as client:
        yield client


@pytest.fixture
def auth(published: Warehouse) -> dict[str, str]:
    return {"X-API-Key": published.key}
