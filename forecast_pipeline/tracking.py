"""MLflow logging of the weekly training runs (plain functions; no Dagster here)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import mlflow
import pandas as pd

from forecast_pipeline.ml import LEVELS, METRIC_COLUMNS, Evaluation, ForecastSpec


def spec_params(spec: ForecastSpec) -> dict[str, Any]:
    """The spec flattened into MLflow parameters."""
    params = asdict(spec)
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        elif isinstance(value, tuple):
            flat[key] = ",".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat


def backtest_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """Overall backtest metrics as ``<model>.<level>.<metric>`` keys (finite values only)."""
    overall = metrics[metrics["cutoff"].isna()]
    names = [c for c in METRIC_COLUMNS if c not in ("model", "level", "cutoff")]
    logged: dict[str, float] = {}
    for row in overall.itertuples(index=False):
        for metric in names:
            value = float(getattr(row, metric))
            if math.isfinite(value):
                logged[f"{row.model}.{row.level}.{metric}"] = value
    return logged


def log_backtest_run(
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    spec: ForecastSpec,
    evaluation: Evaluation,
    weights: pd.DataFrame,
) -> str:
    """Record one weekly backtest and its ensemble as an MLflow run (params, metrics, weights,
    leaderboards); returns its id."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags)) as run:
        mlflow.log_params(spec_params(spec))
        mlflow.log_metrics(backtest_metrics(evaluation.metrics))
        mlflow.log_metrics(
            {f"weight.{r.level}.{r.model}": float(r.weight) for r in weights.itertuples()}
        )
        for level in LEVELS:
            board = evaluation.leaderboard(level)
            mlflow.log_text(board.to_csv(index=False), f"backtest/{level}.csv")
        mlflow.log_text(evaluation.metrics.to_csv(index=False), "backtest/metrics_by_cutoff.csv")
        mlflow.log_text(weights.to_csv(index=False), "ensemble/weights.csv")
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
