"""``/api/v1/forecast``: published forecasts from the ``analytics`` views."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from forecast_pipeline.api.database import Connection
from forecast_pipeline.api.models import TimePeriod, TopProduct, TopProducts

router = APIRouter(prefix="/forecast", tags=["forecast"])

TOP_PRODUCTS_SQL = """
SELECT category, time_period, rank, product_id, product_name, predicted_units,
       lower_80, upper_80, previous_units, change_pct, trend, unit_price, predicted_revenue,
       last_year_units, change_vs_last_year_pct, action, cold_start
FROM analytics.top_products
WHERE time_period = %(time_period)s
  AND (%(category)s::text IS NULL OR category = %(category)s)
  AND rank <= %(limit)s
ORDER BY category, rank
"""


@router.get("/top-products", response_model=TopProducts)
async def top_products(
    conn: Connection,
    time_period: TimePeriod = "week",
    category: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Top N per category")] = 10,
) -> TopProducts:
    """Top products per category for the next week, month or year of the latest published run."""
    run = await (await conn.execute("SELECT * FROM analytics.latest_forecast_run")).fetchone()
    if run is None:
        raise HTTPException(status_code=404, detail="no forecast has been published yet")
    params = {"time_period": time_period, "category": category, "limit": limit}
    rows = await (await conn.execute(TOP_PRODUCTS_SQL, params)).fetchall()
    if category is not None and not rows:
        raise HTTPException(status_code=404, detail=f"unknown category: {category!r}")
    return TopProducts(
        forecast_week=run["forecast_week"],
        forecast_origin=run["forecast_origin"],
        model_version=run["model_version"],
        published_at=run["published_at"],
        time_period=time_period,
        count=len(rows),
        data=[TopProduct(**row) for row in rows],
    )
