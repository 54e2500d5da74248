"""The read-only forecast API: FastAPI under ``/api/v1``, GET only.

Settings come from ``FORECAST_API_*`` when :func:`create_app` is called (never at import).
The lifespan opens the connection pool, starts following publications (the served run) and
the rate limiter, and closes them again on shutdown, after uvicorn has finished the requests
in flight.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from forecast_pipeline.api.cache import ResponseCache
from forecast_pipeline.api.database import build_pool
from forecast_pipeline.api.fastpath import CachedResponseMiddleware
from forecast_pipeline.api.observability import Metrics, ObservabilityMiddleware
from forecast_pipeline.api.ratelimit import build_rate_limiter
from forecast_pipeline.api.routers import data, forecast, health
from forecast_pipeline.api.runs import RunTracker
from forecast_pipeline.api.settings import ApiSettings
from forecast_pipeline.api.state import ApiState


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app (nothing connects until it starts)."""
    settings = settings or ApiSettings()  # type: ignore[call-arg]
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = build_pool(settings)
        await pool.open(wait=True, timeout=30)
        runs = RunTracker(settings.database_url, settings.run_poll_seconds)
        limiter = build_rate_limiter(settings.redis_url)
        try:
            await runs.start()
            state = ApiState(settings, pool, runs, limiter, ResponseCache(settings.cache_entries))
            metrics.cache_entries.set_function(lambda: len(state.cache))
            app.state.api = state
            # the startup heap (imports, models: ~190,000 objects) is never scanned again:
            # a full collection would pause every request for ~100 ms
            gc.collect()
            gc.freeze()
            yield
        finally:
            await runs.stop()
            await limiter.close()
            await pool.close()

    app = FastAPI(
        title="forecast_pipeline API",
        version="1",
        description=(
            "Read-only access to the published sales forecasts. Send your key in the "
            "`X-API-Key` header (health and metrics are open). Responses carry the published "
            "run in `X-Forecast-Run` and an `ETag`: revalidate with `If-None-Match`."
        ),
        lifespan=lifespan,
        # no OpenTelemetry here (Prometheus metrics and JSON access logs instead): without
        # this FastAPI asks the global OTel providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.add_middleware(CachedResponseMiddleware)  # inside the metrics and CORS
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET"],
            allow_headers=["X-API-Key", "Authorization", "If-None-Match"],
            expose_headers=["ETag", "X-Forecast-Run", "Retry-After"],
            max_age=600,
        )
    app.add_exception_handler(RequestValidationError, _readable_validation_error)
    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(health.router)
    v1.include_router(forecast.router)
    v1.include_router(data.router)
    app.include_router(v1)
    app.add_route("/metrics", metrics.response, methods=["GET"], include_in_schema=False)
    return app


async def _readable_validation_error(_: Request, error: Exception) -> JSONResponse:
    """422 with one sentence per bad parameter, plus the structured errors."""
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "query")
        problems.append(f"{where}: {item.get('msg')}")
    return JSONResponse(
        status_code=422,
        content={"detail": "; ".join(problems), "errors": error.errors()},
    )
