"""Response models of the API (typed; a data + count envelope for lists)."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel

from forecast_pipeline.contracts import load_contract
from forecast_pipeline.contracts.typed_models import contract_model

TimePeriod = Literal["week", "month", "year"]


# The rows of analytics.top_products, typed by the top_products contract.
TopProduct = contract_model(load_contract("top_products"), "TopProduct", exclude={"run_id"})


class TopProducts(BaseModel):
    forecast_week: str
    forecast_origin: datetime.date
    model_version: str
    published_at: datetime.datetime
    time_period: TimePeriod
    count: int
    data: list[TopProduct]  # type: ignore[valid-type]
