"""Response models of the API: typed rows in an envelope that names the published run."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from forecast_pipeline.contracts import load_contract
from forecast_pipeline.contracts.typed_models import contract_model

TimePeriod = Literal["week", "month", "year"]
Trend = Literal["up", "down", "flat"]

# The rows of analytics.top_products, typed by the top_products contract.
TopProduct = contract_model(load_contract("top_products"), "TopProduct", exclude={"run_id"})


class RunInfo(BaseModel):
    """The published run a response comes from."""

    forecast_week: str = Field(description="Monday of the last week of sales the run used.")
    forecast_origin: datetime.date = Field(description="Monday the forecasts start.")
    model_version: str = Field(description="Registered version of the champion model.")
    published_at: datetime.datetime


class Page(RunInfo):
    """A page of a list: ``count`` rows of ``total``, from ``offset``."""

    count: int
    total: int
    limit: int
    offset: int


class TopProducts(Page):
    time_period: TimePeriod
    data: list[TopProduct]  # type: ignore[valid-type]


class CategoryOutlook(BaseModel):
    """One category's expected units over the window, with intervals and comparisons."""

    category: str
    predicted_units: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float
    previous_units: float = Field(description="Units in the same number of weeks just before.")
    change_pct: float | None = Field(description="predicted / previous - 1 (0.25 = +25%).")
    last_year_units: float | None = Field(description="Units in the same weeks a year earlier.")
    change_vs_last_year_pct: float | None
    trend: Trend


class Categories(Page):
    time_period: TimePeriod
    total_outlook: CategoryOutlook | None = Field(description="The whole business.")
    data: list[CategoryOutlook]


class HistoryPoint(BaseModel):
    week: datetime.date
    units: float


class ForecastPoint(BaseModel):
    week: datetime.date
    step: int = Field(description="Weeks after the forecast origin (1 = the first week).")
    units: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


class Trends(RunInfo):
    category: str = Field(description="The category, or 'total' for the whole business.")
    weeks: int = Field(description="Weeks of history and of forecast shown.")
    history: list[HistoryPoint]
    forecast: list[ForecastPoint]


class BacktestFigures(BaseModel):
    level: Literal["product", "category", "total"]
    wape: float | None
    mase: float | None
    bias: float | None
    coverage_80: float | None
    coverage_95: float | None


class ModelInfo(RunInfo):
    model_name: str
    mlflow_run_id: str | None
    training_week: str | None = Field(description="The weekly partition that trained it.")
    history_start: datetime.date = Field(description="First week of the history forecast from.")
    history_end: datetime.date = Field(description="Last week of the history forecast from.")
    promoted_at: datetime.datetime | None
    promotion_reason: str | None
    backtest: list[BacktestFigures] = Field(description="The ensemble's backtest per level.")


class Category(BaseModel):
    category: str
    products: int
    first_sale_date: datetime.date
    last_sale_date: datetime.date


class CategoryList(BaseModel):
    count: int
    total: int
    limit: int
    offset: int
    data: list[Category]


class SourceFreshness(BaseModel):
    source: str
    frequency: str | None
    latest_data_date: datetime.date | None
    last_loaded_at: datetime.datetime | None
    age_days: int | None


class Statistics(BaseModel):
    products: int
    categories: int
    first_sale_date: datetime.date | None
    last_sale_date: datetime.date | None
    latest_run: RunInfo | None
    sources: list[SourceFreshness]


class Problem(BaseModel):
    """An error: what went wrong, in one sentence."""

    detail: str


class ValidationProblem(Problem):
    """Bad parameters: one sentence per parameter in ``detail``, and the structured errors."""

    errors: list[dict[str, Any]] = Field(default_factory=list)


class LatestRunHealth(BaseModel):
    run_id: str
    forecast_week: str
    published_at: datetime.datetime
    age_hours: float


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    latest_run: LatestRunHealth | None
