"""MLflow logging of the weekly training runs (plain functions; no Dagster here)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import mlflow
import pandas as pd

from forecast_pipeline.ml import BacktestResult, ForecastSpec


def spec_params(spec: ForecastSpec) -> dict[str, Any]:
    """The spec flattened into MLflow parameters."""
    params = asdict(spec)
    lgbm = params.pop("lgbm_params")
    return {**params, **{f"lgbm.{key}": value for key, value in lgbm.items()}}


def backtest_metrics(result: BacktestResult) -> dict[str, float]:
    """Overall backtest metrics as ``<model>.<level>.<metric>`` keys (finite values only)."""
    overall = result.metrics[result.metrics["cutoff"].isna()]
    logged: dict[str, float] = {}
    for row in overall.itertuples(index=False):
        for metric in ("mae", "rmse", "wape", "mase", "bias"):
            value = float(getattr(row, metric))
            if math.isfinite(value):
                logged[f"{row.model}.{row.level}.{metric}"] = value
    return logged


def log_backtest_run(
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    spec: ForecastSpec,
    result: BacktestResult,
) -> str:
    """Record one weekly backtest as an MLflow run (params, metrics, tables); returns its id."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags)) as run:
        mlflow.log_params(spec_params(spec))
        mlflow.log_metrics(backtest_metrics(result))
        for level in ("product", "category", "total"):
            mlflow.log_text(result.leaderboard(level).to_csv(index=False), f"backtest/{level}.csv")
        mlflow.log_text(result.metrics.to_csv(index=False), "backtest/metrics_by_cutoff.csv")
        return run.info.run_id


def log_published_forecast(run_id: str, model: str, forecasts: pd.DataFrame) -> None:
    """Add the published model choice and forecast totals to the partition's MLflow run."""
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tag("published_model", model)
        mlflow.log_metrics(
            {
                "forecast.products": float(forecasts["unique_id"].nunique()),
                "forecast.total_units": float(forecasts["yhat"].sum()),
            }
        )
