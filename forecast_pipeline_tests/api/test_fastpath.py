"""Cached responses answered before routing keep every rule: keys, revocations, rate limits,
ETags, metrics and access logs (the fast path only takes requests it knows the answer to)."""

from __future__ import annotations

import time

from forecast_pipeline_tests.api.sample import Warehouse, new_key, revoke
from forecast_pipeline_tests.api.serving import fresh_rate_window, serve

PATH = "/api/v1/forecast/top-products"


def test_a_cached_response_is_served_again_and_revocation_applies_after_the_key_cache(
    fresh_published: Warehouse,
) -> None:
    key_id, key = new_key(fresh_published.url, "fast path")
    with serve(fresh_published.api_url, key_cache_seconds=0.5) as client:
        first = client.get(PATH, params={"time_period": "month"}, headers={"X-API-Key": key})
        again = client.get(PATH, params={"time_period": "month"}, headers={"X-API-Key": key})
        assert first.status_code == again.status_code == 200
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        unchanged = client.get(
            PATH,
            params={"time_period": "month"},
            headers={"X-API-Key": key, "If-None-Match": first.headers["etag"]},
        )
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert client.get(PATH, params={"time_period": "month"}).status_code == 401
        assert (
            client.get(
                PATH, params={"time_period": "month"}, headers={"X-API-Key": key + "x"}
            ).status_code
            == 401
        )
        revoke(fresh_published.url, key_id)
        time.sleep(0.6)  # past the key cache: the revocation applies
        refused = client.get(PATH, params={"time_period": "month"}, headers={"X-API-Key": key})
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        metrics = client.get("/metrics").text
    served = [
        line
        for line in metrics.splitlines()
        if line.startswith("forecast_api_requests_total{") and 'status="200"' in line
    ]
    assert any("top-products" in line and line.endswith(" 2.0") for line in served), served


def test_the_rate_limit_counts_requests_answered_from_the_cache(
    fresh_published: Warehouse,
) -> None:
    _, key = new_key(fresh_published.url, "limited", rate_limit_per_minute=3)
    fresh_rate_window()
    with serve(fresh_published.api_url, key_cache_seconds=60) as client:
        statuses = [
            client.get(PATH, params={"time_period": "week"}, headers={"X-API-Key": key})
            for _ in range(4)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 60
