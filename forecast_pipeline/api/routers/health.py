"""``/api/v1/health``: open to everyone; 503 when the database cannot be reached."""

from __future__ import annotations

import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from forecast_pipeline.api.models import Health, LatestRunHealth
from forecast_pipeline.api.state import State

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(state: State) -> JSONResponse:
    """Whether the database answers, and the age of the run being served."""
    database = "ok"
    try:
        async with state.pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # any failure means unreachable
        database = "unreachable"
    run = state.runs.current
    latest = None
    if run is not None:
        age = datetime.datetime.now(datetime.UTC) - run.published_at
        latest = LatestRunHealth(
            run_id=run.run_id,
            forecast_week=run.forecast_week,
            published_at=run.published_at,
            age_hours=round(age.total_seconds() / 3600, 3),
        )
    body = Health(
        status="ok" if database == "ok" else "unavailable", database=database, latest_run=latest
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if database == "ok" else 503)
