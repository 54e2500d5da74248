"""``/api/v1/forecast``: the published forecasts of the run being served, cached per run.

Each query is one statement, so it reads one run; it also returns that run's id, which keys
the cached response (see :meth:`~forecast_pipeline.api.state.ApiState.serve`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from starlette.responses import Response

from forecast_pipeline.api.models import (
    Categories,
    ModelInfo,
    Problem,
    TimePeriod,
    TopProducts,
    Trends,
)
from forecast_pipeline.api.runs import PublishedRun
from forecast_pipeline.api.state import KEY_RESPONSES, State, require_key

router = APIRouter(
    prefix="/forecast",
    tags=["forecast"],
    dependencies=[Depends(require_key)],
    responses={
        **KEY_RESPONSES,
        304: {"description": "Not modified: the If-None-Match ETag is still current."},
        404: {"model": Problem, "description": "Nothing published yet, or unknown category."},
    },
)

Limit = Annotated[
    int, Query(ge=1, le=100, description="Rows per page (per category for top products).")
]
Offset = Annotated[
    int, Query(ge=0, le=10_000, description="Rows skipped (ranks for top products).")
]
# PostgreSQL text cannot hold NUL: a category with one is invalid (422), not a query error (500)
NO_NUL = r"^[^\x00]*$"
CategoryName = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]

# The run's identity, read in the same statement as its rows (one snapshot: one run).
RUN = "SELECT run_id, forecast_week, forecast_origin, model_version, published_at FROM run"
RUN_CTE = "run AS (SELECT * FROM analytics.latest_forecast_run)"

TOP_PRODUCTS_SQL = f"""
WITH {RUN_CTE}, matching AS (
    SELECT category, time_period, rank, product_id, product_name, predicted_units, lower_80,
           upper_80, previous_units, change_pct, trend, unit_price, predicted_revenue,
           last_year_units, change_vs_last_year_pct, action, cold_start
    FROM analytics.top_products
    WHERE time_period = %(time_period)s
      AND (%(category)s::text IS NULL OR category = %(category)s)
)
SELECT r.*,
       (SELECT count(*) FROM matching) AS total,
       (SELECT coalesce(json_agg(m ORDER BY m.category, m.rank), '[]')
        FROM matching m WHERE m.rank > %(offset)s AND m.rank <= %(offset)s + %(limit)s) AS data
FROM ({RUN}) r
"""

CATEGORIES_SQL = f"""
WITH {RUN_CTE}, outlook AS (
    SELECT level, category, predicted_units, lower_80, upper_80, lower_95, upper_95,
           previous_units, change_pct, last_year_units, change_vs_last_year_pct, trend
    FROM analytics.category_outlook
    WHERE time_period = %(time_period)s
)
SELECT r.*,
       (SELECT count(*) FROM outlook WHERE level = 'category') AS total,
       (SELECT row_to_json(o) FROM outlook o WHERE level = 'total') AS total_outlook,
       (SELECT coalesce(json_agg(p ORDER BY p.category), '[]')
        FROM (SELECT * FROM outlook WHERE level = 'category' ORDER BY category
              LIMIT %(limit)s OFFSET %(offset)s) p) AS data
FROM ({RUN}) r
"""

TRENDS_SQL = f"""
WITH {RUN_CTE}
SELECT r.*,
       (SELECT coalesce(json_agg(h ORDER BY h.week), '[]')
        FROM (SELECT week, units FROM analytics.category_history
              WHERE level = %(level)s AND category = %(category)s
              ORDER BY week DESC LIMIT %(weeks)s) h) AS history,
       (SELECT coalesce(json_agg(f ORDER BY f.step), '[]')
        FROM (SELECT target_week AS week, step, units, lower_80, upper_80, lower_95, upper_95
              FROM analytics.category_forecasts
              WHERE level = %(level)s AND category = %(category)s AND step <= %(weeks)s) f)
           AS forecast
FROM ({RUN}) r
"""

MODEL_INFO_SQL = """
SELECT r.run_id, r.forecast_week, r.forecast_origin, r.model_version, r.published_at,
       r.model_name, r.mlflow_run_id, r.data_start AS history_start,
       r.data_end AS history_end, p.training_week, p.decided_at AS promoted_at,
       p.reason AS promotion_reason,
       (SELECT coalesce(json_agg(b ORDER BY array_position(
                   ARRAY['product', 'category', 'total'], b.level)), '[]')
        FROM (SELECT level, wape, mase, bias, coverage_80, coverage_95
              FROM analytics.backtest_leaderboard
              WHERE forecast_week = p.training_week AND model_name = 'ensemble') b) AS backtest
FROM analytics.latest_forecast_run r
LEFT JOIN LATERAL (
    SELECT training_week, decided_at, reason FROM analytics.model_promotions m
    WHERE m.model_name = r.model_name AND m.version::text = r.model_version
      AND m.decision IN ('promoted', 'rolled_back')
    ORDER BY m.decided_at DESC LIMIT 1
) p ON true
"""


async def _one(conn: AsyncConnection, sql: str, params: dict) -> dict:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(sql, params)
    row = await cursor.fetchone()
    if row is None or row["run_id"] is None:
        raise HTTPException(status_code=404, detail="no forecast has been published yet")
    return row


def _run_fields(row: dict) -> dict:
    """The envelope's run fields, from the row (the run the data came from)."""
    return {
        k: row[k] for k in ("forecast_week", "forecast_origin", "model_version", "published_at")
    }


def _page(row: dict, limit: int, offset: int) -> dict:
    """The envelope of a page: the run's fields, the rows and the paging figures."""
    data = row["data"]
    paging = {"count": len(data), "total": row["total"], "limit": limit, "offset": offset}
    return {**_run_fields(row), **paging, "data": data}


@router.get("/top-products", response_model=TopProducts)
async def top_products(
    request: Request,
    state: State,
    time_period: TimePeriod = "week",
    category: Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)] = None,
    limit: Limit = 10,
    offset: Offset = 0,
) -> Response:
    """Top products per category for the next week, month or year: rank, units with their
    80% interval, revenue at the last price, change and trend, and the suggested action.
    ``limit`` and ``offset`` page through the ranks of each category."""
    params = {"time_period": time_period, "category": category, "limit": limit, "offset": offset}

    async def build(conn: AsyncConnection, run: PublishedRun) -> tuple[TopProducts, str]:
        row = await _one(conn, TOP_PRODUCTS_SQL, params)
        if category is not None and row["total"] == 0:
            raise HTTPException(status_code=404, detail=f"unknown category: {category!r}")
        body = TopProducts(**_page(row, limit, offset), time_period=time_period)
        return body, row["run_id"]

    return await state.serve(request, build)


@router.get("/categories", response_model=Categories)
async def categories(
    request: Request,
    state: State,
    time_period: TimePeriod = "month",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Every category's expected units over the next week, month or year, with 80%/95%
    intervals, the change against the weeks before and the same weeks last year, and the
    trend; ``total_outlook`` is the whole business."""
    params = {"time_period": time_period, "limit": limit, "offset": offset}

    async def build(conn: AsyncConnection, run: PublishedRun) -> tuple[Categories, str]:
        row = await _one(conn, CATEGORIES_SQL, params)
        total = row["total_outlook"]
        body = Categories(
            **_page(row, limit, offset),
            time_period=time_period,
            total_outlook={**total, "category": "total"} if total else None,
        )
        return body, row["run_id"]

    return await state.serve(request, build)


@router.get("/trends/{category}", response_model=Trends)
async def trends(
    request: Request,
    state: State,
    category: CategoryName,
    weeks: Annotated[
        int | None, Query(ge=1, le=52, description="Weeks of history and forecast.")
    ] = None,
    days: Annotated[
        int | None, Query(ge=1, le=364, description="The same in days (rounded up to weeks).")
    ] = None,
) -> Response:
    """A category's weekly history (the weeks the published run was fitted on) and its
    forecast with 80%/95% intervals, over the same number of weeks; ``total`` is the whole
    business. Give ``weeks`` or ``days`` (default 12 weeks)."""
    if weeks is not None and days is not None:
        raise HTTPException(status_code=422, detail="give either weeks or days, not both")
    span = weeks if weeks is not None else (-(-days // 7) if days is not None else 12)
    level = "total" if category == "total" else "category"
    params = {"category": category, "level": level, "weeks": span}

    async def build(conn: AsyncConnection, run: PublishedRun) -> tuple[Trends, str]:
        row = await _one(conn, TRENDS_SQL, params)
        if not row["history"] and not row["forecast"]:
            raise HTTPException(status_code=404, detail=f"unknown category: {category!r}")
        body = Trends(
            **_run_fields(row),
            category=category,
            weeks=span,
            history=row["history"],
            forecast=row["forecast"],
        )
        return body, row["run_id"]

    return await state.serve(request, build)


@router.get("/model-info", response_model=ModelInfo)
async def model_info(request: Request, state: State) -> Response:
    """The champion model that made the published forecasts: registered version, why it was
    promoted, its backtest figures per level, and the history window it forecast from."""

    async def build(conn: AsyncConnection, run: PublishedRun) -> tuple[ModelInfo, str]:
        row = await _one(conn, MODEL_INFO_SQL, {})
        body = ModelInfo(**{k: v for k, v in row.items() if k != "run_id"})
        return body, row["run_id"]

    return await state.serve(request, build)
