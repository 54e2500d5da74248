"""Rate limits per key and minute: in the process without Redis, shared by every replica with
Redis (a real server; every test uses fresh random key ids, so counters never collide)."""

from __future__ import annotations

import time

import pytest
import redis
from fastapi.testclient import TestClient

from forecast_pipeline.api.ratelimit import WINDOW_SECONDS
from forecast_pipeline_tests.api.sample import Warehouse, new_key
from forecast_pipeline_tests.api.serving import REDIS_URL, fresh_rate_window, serve

URL = "/api/v1/forecast/top-products"


def _statuses(client: TestClient, key: str, n: int) -> list[int]:
    return [client.get(URL, headers={"X-API-Key": key}).status_code for _ in range(n)]


def _assert_limited(response, key_id: str, limit: int) -> None:
    assert response.status_code == 429
    assert response.json() == {
        "detail": f"rate limit of {limit} requests per minute exceeded for key {key_id}"
    }
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    # the seconds until the fixed window ends
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    assert abs(retry_after - left) <= 2
    assert response.headers["x-ratelimit-limit"] == str(limit)


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def test_in_process_limit_of_a_key(published: Warehouse) -> None:
    key_id, key = new_key(published.url, "three a minute", rate_limit_per_minute=3)
    _, other = new_key(published.url, "unlimited neighbour")
    with serve(published.api_url) as client:
        fresh_rate_window()
        assert _statuses(client, key, 3) == [200, 200, 200]
        over = client.get(URL, headers={"X-API-Key": key})
        _assert_limited(over, key_id, 3)
        # still refused within the window; the other keys are not affected
        assert _statuses(client, key, 1) == [429]
        assert _statuses(client, other, 3) == [200, 200, 200]
        # health stays open to everyone
        assert client.get("/api/v1/health").status_code == 200


def test_the_api_default_limit_applies_to_keys_without_their_own(published: Warehouse) -> None:
    default_id, default_key = new_key(published.url, "default limit")
    _, own_key = new_key(published.url, "own limit", rate_limit_per_minute=3)
    with serve(published.api_url, rate_limit_per_minute=2) as client:
        fresh_rate_window()
        assert _statuses(client, default_key, 2) == [200, 200]
        _assert_limited(client.get(URL, headers={"X-API-Key": default_key}), default_id, 2)
        assert _statuses(client, own_key, 4) == [200, 200, 200, 429]


def test_in_process_counters_are_per_replica(published: Warehouse) -> None:
    _, key = new_key(published.url, "two replicas, no redis", rate_limit_per_minute=3)
    with serve(published.api_url) as a, serve(published.api_url) as b:
        fresh_rate_window()
        assert _statuses(a, key, 2) + _statuses(b, key, 2) == [200, 200, 200, 200]


def test_redis_counters_are_shared_by_the_replicas(
    published: Warehouse, redis_client: redis.Redis
) -> None:
    key_id, key = new_key(published.url, "two replicas", rate_limit_per_minute=3)
    with (
        serve(published.api_url, redis_url=REDIS_URL) as a,
        serve(published.api_url, redis_url=REDIS_URL) as b,
    ):
        fresh_rate_window(margin=10)
        window = int(time.time() // WINDOW_SECONDS)
        assert _statuses(a, key, 2) == [200, 200]
        assert _statuses(b, key, 1) == [200]
        over = b.get(URL, headers={"X-API-Key": key})
        _assert_limited(over, key_id, 3)
        _assert_limited(a.get(URL, headers={"X-API-Key": key}), key_id, 3)

    counter = f"forecast_api:ratelimit:{key_id}:{window}"
    try:
        assert int(redis_client.get(counter)) == 5
        assert 0 < redis_client.ttl(counter) <= 2 * WINDOW_SECONDS
        # a replica started later (or restarted) still counts the window's requests
        with serve(published.api_url, redis_url=REDIS_URL) as c:
            _assert_limited(c.get(URL, headers={"X-API-Key": key}), key_id, 3)
    finally:
        redis_client.delete(counter)


def test_redis_limit_of_one_replica(published: Warehouse, redis_client: redis.Redis) -> None:
    key_id, key = new_key(published.url, "one replica", rate_limit_per_minute=3)
    try:
        with serve(published.api_url, redis_url=REDIS_URL) as client:
            fresh_rate_window()
            assert _statuses(client, key, 3) == [200, 200, 200]
            _assert_limited(client.get(URL, headers={"X-API-Key": key}), key_id, 3)
    finally:
        for name in redis_client.scan_iter(match=f"forecast_api:ratelimit:{key_id}:*"):
            redis_client.delete(name)
