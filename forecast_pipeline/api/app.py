"""The read-only forecast API: FastAPI under ``/api/v1``, GET only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from forecast_pipeline.api.database import build_pool
from forecast_pipeline.api.routers import forecast
from forecast_pipeline.api.settings import ApiSettings


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app; settings come from the environment when not given (at call time)."""
    settings = settings or ApiSettings()  # type: ignore[call-arg]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = build_pool(settings)
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="forecast_pipeline API",
        version="1",
        description="Read-only access to the published sales forecasts.",
        lifespan=lifespan,
    )
    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(forecast.router)
    app.include_router(v1)
    return app
