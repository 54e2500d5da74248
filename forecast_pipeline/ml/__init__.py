"""Dagster-free model layer: series preparation, backtest, forecasts, intervals and rankings.

Long-format frames follow the Nixtla convention (``unique_id``, ``ds``, ``y``).
"""

from forecast_pipeline.ml.backtest import BacktestResult, backtest, backtest_cutoffs
from forecast_pipeline.ml.forecast import FORECAST_COLUMNS, fit_forecast
from forecast_pipeline.ml.frames import daily_series, weekly_series
from forecast_pipeline.ml.intervals import INTERVAL_LEVELS, interval_coverage
from forecast_pipeline.ml.metrics import LEVELS, METRIC_COLUMNS
from forecast_pipeline.ml.models import BASELINE, GLOBAL_GBM, MODELS
from forecast_pipeline.ml.ranking import RANKING_COLUMNS, top_products
from forecast_pipeline.ml.spec import ForecastSpec, default_lgbm_params

__all__ = [
    "BASELINE",
    "FORECAST_COLUMNS",
    "GLOBAL_GBM",
    "INTERVAL_LEVELS",
    "LEVELS",
    "METRIC_COLUMNS",
    "MODELS",
    "RANKING_COLUMNS",
    "BacktestResult",
    "ForecastSpec",
    "backtest",
    "backtest_cutoffs",
    "daily_series",
    "default_lgbm_params",
    "fit_forecast",
    "interval_coverage",
    "top_products",
    "weekly_series",
]
