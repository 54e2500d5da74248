"""Response models of the API (typed; a data + count envelope for lists)."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel

TimePeriod = Literal["week", "month", "year"]
Trend = Literal["up", "down", "flat"]


class TopProduct(BaseModel):
    category: str
    time_period: TimePeriod
    rank: int
    product_id: str
    product_name: str | None
    predicted_units: float
    lower_80: float
    upper_80: float
    previous_units: float
    change_pct: float | None
    trend: Trend


class TopProducts(BaseModel):
    forecast_week: str
    forecast_origin: datetime.date
    model_version: str
    published_at: datetime.datetime
    time_period: TimePeriod
    count: int
    data: list[TopProduct]
