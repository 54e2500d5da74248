"""Where the weekly forecast keeps its intermediate results in the lake, one folder per
weekly partition, and how the assets read them back."""

import json
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from forecast_pipeline.defs.resources import Lake

if TYPE_CHECKING:
    from forecast_pipeline.ml import EnsembleModel, ModelInputs

OWNERS = ["team:forecasting"]


def forecast_origin(context: dg.AssetExecutionContext) -> pd.Timestamp:
    """The Monday after the partition's week: forecasts start there, training data ends before."""
    return pd.Timestamp(context.partition_time_window.end.date())


def features_key(partition: str, name: str) -> str:
    """Lake key of one features frame of the partition (series, categories, prices, ...)."""
    return f"features/weekly_sales/week={partition}/{name}.parquet"


def model_key(partition: str, name: str, ext: str = "parquet") -> str:
    """Lake key of one training output of the partition (backtest, ensemble parts, ...)."""
    return f"models/week={partition}/{name}.{ext}"


def forecast_key(partition: str, name: str) -> str:
    """Lake key of one published forecast frame of the partition."""
    return f"forecasts/week={partition}/{name}.parquet"


def load_inputs(lake: Lake, partition: str, params: dict | None = None) -> "ModelInputs":
    """Categories and exogenous features of the partition (with ``params`` as tuned
    hyper-parameters)."""
    from forecast_pipeline import ml

    prices_key = features_key(partition, "prices")
    indicators_key = features_key(partition, "indicators")
    return ml.ModelInputs(
        categories=lake.read_parquet(features_key(partition, "categories")),
        exog=ml.Exogenous(
            per_series=lake.read_parquet(prices_key) if lake.exists(prices_key) else None,
            shared=lake.read_parquet(indicators_key) if lake.exists(indicators_key) else None,
        ),
        params=params or {},
    )


def load_tuned_params(lake: Lake, partition: str) -> dict:
    """The partition's tuned hyper-parameters per global model (empty before tuning)."""
    key = model_key(partition, "tuned_params", "json")
    return json.loads(lake.read_bytes(key)) if lake.exists(key) else {}


def load_ensemble(lake: Lake, partition: str) -> "EnsembleModel":
    """The ensemble learnt from the partition's backtest."""
    from forecast_pipeline import ml
    from forecast_pipeline.ml.intervals import Calibration

    return ml.EnsembleModel(
        weights=lake.read_parquet(model_key(partition, "ensemble_weights")),
        variances=lake.read_parquet(model_key(partition, "ensemble_variances")),
        calibration=Calibration(
            steps=lake.read_parquet(model_key(partition, "interval_quantiles_steps")),
            windows=lake.read_parquet(model_key(partition, "interval_quantiles_windows")),
        ),
    )
