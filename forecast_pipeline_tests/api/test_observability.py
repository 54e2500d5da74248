"""Prometheus metrics per route template and status, and one JSON access-log line per request."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from forecast_pipeline_tests.api.sample import Warehouse
from forecast_pipeline_tests.api.serving import serve

V1 = "/api/v1"


def _samples(text: str, name: str) -> dict[tuple, float]:
    """``{(route, status): value}`` (or ``{(route,): value}``) of one metric's samples."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                labels = sample.labels
                key = (
                    (labels["route"], labels["status"])
                    if "status" in labels
                    else (labels["route"],)
                )
                found[key] = sample.value
    return found


def _route(samples: dict, suffix: str) -> str:
    """The route label ending in ``suffix`` (the template, with or without the /api/v1 prefix
    depending on how the FastAPI version reports included routes)."""
    (route,) = {key[0] for key in samples if key[0].endswith(suffix)}
    return route


def test_metrics_count_requests_per_route_template_and_status(published: Warehouse) -> None:
    key = {"X-API-Key": published.key}
    with serve(published.api_url) as client:
        for _ in range(3):
            assert client.get(f"{V1}/forecast/top-products", headers=key).status_code == 200
        assert client.get(f"{V1}/forecast/top-products").status_code == 401
        assert client.get(f"{V1}/forecast/top-products", headers=key | {
            "If-None-Match": client.get(f"{V1}/forecast/top-products", headers=key).headers[
                "etag"
            ]
        }).status_code == 304  # fmt: skip
        for category in ("dairy", "snacks"):
            assert client.get(f"{V1}/forecast/trends/{category}", headers=key).status_code == 200
        assert client.get(f"{V1}/nowhere").status_code == 404

        text = client.get("/metrics").text

    requests = _samples(text, "forecast_api_requests_total")
    top = _route(requests, "/forecast/top-products")
    assert top in ("/api/v1/forecast/top-products", "/forecast/top-products")
    assert requests[(top, "200")] == 4
    assert requests[(top, "401")] == 1
    assert requests[(top, "304")] == 1
    # the template, not the category asked for: one series for every category
    trends = _route(requests, "/forecast/trends/{category}")
    assert requests[(trends, "200")] == 2
    assert not any("dairy" in route for route, *_ in requests)
    assert requests[("unmatched", "404")] == 1
    latency = _samples(text, "forecast_api_request_seconds_count")
    assert latency[(top,)] == 6
    assert "forecast_api_requests_in_flight" in text
    assert "forecast_api_cache_entries" in text


def test_access_log_has_one_json_line_per_request(
    published: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="forecast_pipeline.api.access")
    with serve(published.api_url) as client:
        caplog.clear()
        ok = client.get(
            f"{V1}/forecast/top-products",
            params={"time_period": "month", "limit": 3},
            headers={"X-API-Key": published.key},
        )
        refused = client.get(f"{V1}/data/statistics")
    assert (ok.status_code, refused.status_code) == (200, 401)

    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "forecast_pipeline.api.access"
    ]
    assert len(lines) == 2
    served, denied = lines
    assert served["event"] == "request"
    assert served["method"] == "GET"
    assert served["path"] == f"{V1}/forecast/top-products"
    assert served["query"] == "time_period=month&limit=3"
    assert served["route"].endswith("/forecast/top-products")
    assert served["status"] == 200
    assert isinstance(served["duration_ms"], float) and served["duration_ms"] >= 0
    assert served["key_id"] == published.key_id
    assert published.key not in json.dumps(lines)  # never the key itself
    assert (denied["path"], denied["status"], denied["key_id"]) == (
        f"{V1}/data/statistics",
        401,
        None,
    )
