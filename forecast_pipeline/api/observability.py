"""Prometheus metrics and structured access logs, as plain ASGI middleware (cheap per request).

Every request is counted and timed per route template and status
(``forecast_api_requests_total``, ``forecast_api_request_seconds``) and logged as one JSON line
on the ``forecast_pipeline.api.access`` logger: method, path, route, status, duration, key id.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("forecast_pipeline.api.access")

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The API's metrics, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "forecast_api_requests_total",
            "Requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forecast_api_request_seconds",
            "Request duration by route.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "forecast_api_requests_in_flight", "Requests being served.", registry=self.registry
        )
        self.cache_entries = Gauge(
            "forecast_api_cache_entries", "Responses cached for the served run.",
            registry=self.registry,
        )  # fmt: skip

    def response(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class ObservabilityMiddleware:
    """Counts, times and logs every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # the labelled children, looked up once per (method, route, status) and not per request
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = _route(scope)
            children = self._children.get((scope["method"], route, status))
            if children is None:
                children = self._children[(scope["method"], route, status)] = (
                    self.metrics.requests.labels(scope["method"], route, str(status)),
                    self.metrics.latency.labels(route),
                )
            children[0].inc()
            children[1].observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(_access_line(scope, route, status, seconds))


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def _access_line(scope: Scope, route: str, status: int, seconds: float) -> str:
    state: dict[str, Any] = scope.get("state") or {}
    client = scope.get("client")
    return json.dumps(
        {
            "event": "request",
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "key_id": state.get("key_id"),
            "client": client[0] if client else None,
        },
        separators=(",", ":"),
    )
