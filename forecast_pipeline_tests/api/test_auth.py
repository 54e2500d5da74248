"""API keys: every endpoint but health and metrics asks for one; missing, unknown and revoked
keys are refused with 401 and a challenge; ``X-API-Key`` and ``Authorization: Bearer`` work."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from forecast_pipeline_tests.api.sample import Warehouse, new_key, revoke

V1 = "/api/v1"
CHALLENGE = 'ApiKey header="X-API-Key"'
PROTECTED = [
    "/forecast/top-products",
    "/forecast/categories",
    "/forecast/trends/dairy",
    "/forecast/model-info",
    "/data/categories",
    "/data/statistics",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_a_missing_key_is_401_with_a_challenge(client: TestClient, path: str) -> None:
    response = client.get(f"{V1}{path}")

    assert response.status_code == 401
    assert response.json() == {"detail": "missing API key: send it in the X-API-Key header"}
    assert response.headers["www-authenticate"] == CHALLENGE
    assert "x-forecast-run" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": ""},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},  # not a bearer token: no key
    ],
)
def test_an_empty_key_or_another_scheme_counts_as_missing(
    client: TestClient, headers: dict
) -> None:
    response = client.get(f"{V1}/forecast/top-products", headers=headers)

    assert response.status_code == 401
    assert response.json()["detail"].startswith("missing API key")


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "fpk_000000000000.doesnotexist",
    ],
)
def test_a_wrong_key_is_401(client: TestClient, key: str) -> None:
    response = client.get(f"{V1}/forecast/top-products", headers={"X-API-Key": key})

    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key"}
    assert response.headers["www-authenticate"] == CHALLENGE


def test_a_key_with_a_changed_secret_is_401(client: TestClient, published: Warehouse) -> None:
    """The key id alone does not authenticate: the whole key is compared (by its hash)."""
    key_id, secret = published.key.split(".", 1)
    forged = f"{key_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"

    response = client.get(f"{V1}/forecast/top-products", headers={"X-API-Key": forged})

    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key"}


def test_a_revoked_key_is_refused_at_once(client: TestClient, published: Warehouse) -> None:
    key_id, key = new_key(published.url, "revoked soon")
    headers = {"X-API-Key": key}
    assert client.get(f"{V1}/forecast/model-info", headers=headers).status_code == 200

    revoke(published.url, key_id)  # key_cache_seconds=0: the next request looks it up again

    for path in ("/forecast/model-info", "/data/statistics"):
        response = client.get(f"{V1}{path}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": f"API key {key_id} was revoked"}
        assert response.headers["www-authenticate"] == CHALLENGE
    # the other keys still work
    other = client.get(f"{V1}/forecast/model-info", headers={"X-API-Key": published.key})
    assert other.status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_a_bearer_token_is_accepted(client: TestClient, published: Warehouse, scheme: str) -> None:
    response = client.get(
        f"{V1}/forecast/top-products", headers={"Authorization": f"{scheme} {published.key}"}
    )

    assert response.status_code == 200
    assert response.headers["x-forecast-run"] == published.run.run_id


def test_the_x_api_key_header_wins_over_authorization(
    client: TestClient, published: Warehouse
) -> None:
    response = client.get(
        f"{V1}/data/categories",
        headers={"X-API-Key": "not-a-key", "Authorization": f"Bearer {published.key}"},
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key"}


def test_health_and_metrics_are_open(client: TestClient) -> None:
    health = client.get(f"{V1}/health")
    metrics = client.get("/metrics")

    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "forecast_api_requests_total" in metrics.text


def test_auth_comes_before_parameter_validation(client: TestClient) -> None:
    """Without a key, a bad parameter is not even looked at (no hint about the API)."""
    response = client.get(f"{V1}/forecast/top-products", params={"limit": 0})

    assert response.status_code == 401
