"""Dagster-free model layer: features, base models, tuning, backtest, ensemble, reconciliation,
intervals and rankings.

Long-format frames follow the Nixtla convention (``unique_id``, ``ds``, ``y``); frames that
span the hierarchy add a ``level`` column (``product``, ``category``, ``total``).
"""

from forecast_pipeline.ml.backtest import BacktestResult, backtest, backtest_cutoffs
from forecast_pipeline.ml.engine import (
    FORECAST_COLUMNS,
    WINDOW_COLUMNS,
    EnsembleModel,
    Evaluation,
    ForecastResult,
    evaluate,
    fit_ensemble,
    forecast,
)
from forecast_pipeline.ml.ensemble import ENSEMBLE
from forecast_pipeline.ml.exogenous import Exogenous, indicator_yoy, period_prices
from forecast_pipeline.ml.forecaster import (
    Forecaster,
    backtest_forecaster,
    features_frame,
    split_features,
    train_forecaster,
)
from forecast_pipeline.ml.frames import daily_series, weekly_series
from forecast_pipeline.ml.intervals import INTERVAL_LEVELS
from forecast_pipeline.ml.metrics import LEVELS, METRIC_COLUMNS
from forecast_pipeline.ml.models import MODELS, ModelInputs
from forecast_pipeline.ml.promotion import GateDecision, GateRule, promotion_decision
from forecast_pipeline.ml.ranking import (
    OUTLOOK_COLUMNS,
    RANKING_COLUMNS,
    category_outlook,
    top_products,
)
from forecast_pipeline.ml.spec import ForecastSpec, default_lgbm_params, default_xgb_params
from forecast_pipeline.ml.tuning import TuningBudget, TuningResult, tune

__all__ = [
    "ENSEMBLE",
    "FORECAST_COLUMNS",
    "INTERVAL_LEVELS",
    "LEVELS",
    "METRIC_COLUMNS",
    "MODELS",
    "OUTLOOK_COLUMNS",
    "RANKING_COLUMNS",
    "WINDOW_COLUMNS",
    "BacktestResult",
    "EnsembleModel",
    "Evaluation",
    "Exogenous",
    "ForecastResult",
    "ForecastSpec",
    "Forecaster",
    "GateDecision",
    "GateRule",
    "ModelInputs",
    "TuningBudget",
    "TuningResult",
    "backtest",
    "backtest_cutoffs",
    "backtest_forecaster",
    "category_outlook",
    "daily_series",
    "default_lgbm_params",
    "default_xgb_params",
    "evaluate",
    "features_frame",
    "fit_ensemble",
    "forecast",
    "indicator_yoy",
    "period_prices",
    "promotion_decision",
    "split_features",
    "top_products",
    "train_forecaster",
    "tune",
    "weekly_series",
]
