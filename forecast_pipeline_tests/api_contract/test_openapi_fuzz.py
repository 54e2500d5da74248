"""Property-based runs of schemathesis against the API's own OpenAPI schema.

Every GET operation is fuzzed in-process (ASGI, with the app's lifespan: pool, run tracker,
rate limiter) against a published warehouse, with positive and negative inputs:

* with a valid key, no response is a 5xx and every response conforms to the schema (the status
  code is documented, the body matches its model, the content type is the documented one);
* without a key, every forecast and data operation answers 401 (never a 5xx), whatever the
  parameters.

The schema is loaded eagerly from the spec ``create_app`` builds (building the app connects to
nothing) and the cases are sent to the module's app: ``schemathesis.pytest.from_fixture`` fails
under pytest 9.2 (it sets ``Function._nodeid``, which pytest 9.2 removed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.python.asgi import get_client, shutdown_lifespans

from forecast_pipeline.api.app import create_app
from forecast_pipeline.api.settings import ApiSettings
from forecast_pipeline_tests.api_contract.conftest import PublishedWarehouse, wait_until
from forecast_pipeline_tests.warehouse.publisher_process import CATEGORIES

HEALTH = "/api/v1/health"
MAX_EXAMPLES = 40  # per operation and generation mode (the coverage phase adds its own cases)
SEED = 20261102
BASE_URL = "http://testserver"

# The spec as the app serves it; the database URL is never used to build it.
SPEC = create_app(ApiSettings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
CONFIG = schemathesis.Config.from_dict(
    {
        # bounded and reproducible: a fixed seed, derandomised, no example database on disk
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # half of the generated categories are published ones (else nearly every trends and
        # category-filtered top-products case would be an unknown category: 404); the query
        # also gets ones with a NUL, which PostgreSQL text cannot hold (schemathesis never
        # puts a NUL in a path: see test_a_category_with_a_nul_is_invalid_not_a_server_error)
        "dictionaries": {
            "categories": {"values": [*CATEGORIES, "total"]},
            "query_categories": {"values": [*CATEGORIES, "\x00", "snacks\x00"]},
        },
        "parameters": {
            "path.category": {"dictionary": "categories", "probability": 0.5},
            "query.category": {"dictionary": "query_categories", "probability": 0.5},
        },
    }
)
schema = schemathesis.openapi.from_dict(SPEC, config=CONFIG).include(method="GET")
data_operations = schema.exclude(path=HEALTH)

# status codes seen per operation in the keyed run (to check that it reached the data)
SEEN: dict[str, set[int]] = defaultdict(set)


@pytest.fixture(scope="module")
def app(published_warehouse: PublishedWarehouse) -> Iterator[FastAPI]:
    """The app on the forecast_api role, started (lifespan: pool, run tracker, limiter) before
    the first case and stopped when the module is done."""
    app = create_app(ApiSettings(database_url=published_warehouse.api_url, key_cache_seconds=0))
    with get_client(app) as client:  # starts the lifespan, kept until shutdown_lifespans()
        assert client.get("/openapi.json").json() == SPEC
        assert client.get(HEALTH).json()["latest_run"]["run_id"] == published_warehouse.run_id
    assert app.state.api.runs.current.run_id == published_warehouse.run_id
    assert published_warehouse.api_connections()[0] >= 2  # the pool and the LISTEN connection
    yield app
    shutdown_lifespans()
    # the lifespan's shutdown closed the pool and the run tracker's connection
    wait_until(
        lambda: published_warehouse.api_connections()[0] == 0, 5, "the API's connections to close"
    )


@pytest.fixture(scope="module")
def key_header(published_warehouse: PublishedWarehouse) -> dict[str, str]:
    return {"X-API-Key": published_warehouse.api_key}


@schema.parametrize()
def test_with_a_key_every_response_conforms_and_none_is_a_5xx(
    case: schemathesis.Case, app: FastAPI, key_header: dict[str, str]
) -> None:
    # every check: not_a_server_error, status_code_conformance, response_schema_conformance, ...
    excluded = []
    if _weeks_and_days(case):
        # `weeks` and `days` are each valid but exclusive, which OpenAPI parameters cannot say:
        # the API answers a documented 422 (asserted below) that this check would call a
        # rejection of valid data
        excluded.append(schemathesis.checks.positive_data_acceptance)
    response = case.call_and_validate(
        app=app, base_url=BASE_URL, headers=key_header, excluded_checks=excluded
    )
    if _weeks_and_days(case) and _positive(case) and case.method.upper() == "GET":
        assert response.status_code == 422, response.text
    SEEN[case.operation.path].add(response.status_code)
    assert response.status_code < 500


def _weeks_and_days(case: schemathesis.Case) -> bool:
    query = case.query or {}
    return query.get("weeks") is not None and query.get("days") is not None


def _positive(case: schemathesis.Case) -> bool:
    return (
        case.meta is not None and case.meta.generation.mode == schemathesis.GenerationMode.POSITIVE
    )


def test_the_keyed_run_reached_the_published_data() -> None:
    """Guards the run above against only ever seeing 401s or 422s."""
    if not SEEN:
        pytest.skip("checks the keyed schemathesis run, which did not run")
    paths = {result.ok().path for result in schema.get_all_operations()}
    assert set(SEEN) == paths
    for path, statuses in SEEN.items():
        assert 200 in statuses, f"{path} never answered 200: {sorted(statuses)}"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/forecast/trends/%00",
        "/api/v1/forecast/trends/beverages%00",
        "/api/v1/forecast/top-products?category=%00",
        "/api/v1/forecast/top-products?category=beverages%00",
    ],
)
def test_a_category_with_a_nul_is_invalid_not_a_server_error(
    url: str, app: FastAPI, key_header: dict[str, str]
) -> None:
    with get_client(app) as client:
        response = client.get(url, headers=key_header)
    assert response.status_code == 422, response.text
    assert "category" in response.json()["detail"]


@data_operations.parametrize()
def test_without_a_key_every_data_operation_answers_401(
    case: schemathesis.Case, app: FastAPI
) -> None:
    response = case.call(app=app, base_url=BASE_URL)
    if case.method.upper() != "GET":  # the coverage phase tries other methods: routing says no
        assert response.status_code == 405, f"{case.method} {case.formatted_path}"
        return
    assert response.status_code == 401, (
        f"{case.operation.label} without a key answered {response.status_code}: "
        f"{response.text[:300]}"
    )
    assert response.headers["www-authenticate"] == ['ApiKey header="X-API-Key"']
