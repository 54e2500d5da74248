"""``/api/v1/data``: the catalogue and the state of the data (not tied to a run, not cached)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from psycopg.rows import dict_row

from forecast_pipeline.api.models import CategoryList, RunInfo, Statistics
from forecast_pipeline.api.state import KEY_RESPONSES, Connection, State, require_key

router = APIRouter(
    prefix="/data", tags=["data"], dependencies=[Depends(require_key)], responses=KEY_RESPONSES
)

CATEGORIES_SQL = """
SELECT category, products, first_sale_date, last_sale_date, count(*) OVER () AS total
FROM analytics.categories
ORDER BY category
LIMIT %(limit)s OFFSET %(offset)s
"""

STATISTICS_SQL = """
SELECT (SELECT coalesce(sum(products), 0) FROM analytics.categories) AS products,
       (SELECT count(*) FROM analytics.categories) AS categories,
       (SELECT min(first_sale_date) FROM analytics.categories) AS first_sale_date,
       (SELECT max(last_sale_date) FROM analytics.categories) AS last_sale_date,
       (SELECT coalesce(json_agg(f ORDER BY f.source), '[]') FROM analytics.data_freshness f)
           AS sources
"""


@router.get("/categories", response_model=CategoryList)
async def categories(
    conn: Connection,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CategoryList:
    """The product categories with their number of products and first and last sale."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(CATEGORIES_SQL, {"limit": limit, "offset": offset})
    rows = await cursor.fetchall()
    total = rows[0]["total"] if rows else 0
    if not rows and offset:  # past the end: the total still matters for paging
        await cursor.execute("SELECT count(*) AS total FROM analytics.categories")
        total = (await cursor.fetchone())["total"]
    return CategoryList(count=len(rows), total=total, limit=limit, offset=offset, data=rows)


@router.get("/statistics", response_model=Statistics)
async def statistics(conn: Connection, state: State) -> Statistics:
    """Products, categories, the span of the sales history, the freshness of every source and
    the run being served."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(STATISTICS_SQL)
    row = await cursor.fetchone()
    run = state.runs.current
    latest = (
        RunInfo(
            forecast_week=run.forecast_week,
            forecast_origin=run.forecast_origin,
            model_version=run.model_version,
            published_at=run.published_at,
        )
        if run
        else None
    )
    return Statistics(**row, latest_run=latest)
