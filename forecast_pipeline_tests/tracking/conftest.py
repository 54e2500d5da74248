"""A small trained forecaster and a real MLflow store (Postgres backend) for the tracking tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import mlflow
import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline_tests.ml.synthetic import categories_for, make_weekly

HELD_OUT_WEEKS = 4


@dataclass(frozen=True)
class Trained:
    """A forecaster trained on ``train``; ``series`` continues it by :data:`HELD_OUT_WEEKS`."""

    series: pd.DataFrame
    train: pd.DataFrame
    categories: pd.DataFrame
    spec: ml.ForecastSpec
    backtest: ml.BacktestResult
    forecaster: ml.Forecaster


def small_spec(**changes) -> ml.ForecastSpec:
    """A quick weekly spec: 8-week horizon, two windows, one global model, no Prophet."""
    fields = {
        "horizon": 8,
        "n_windows": 2,
        "step_size": 4,
        "product_models": ("seasonal_naive", "moving_average", "lightgbm"),
        "aggregate_models": ("seasonal_naive", "auto_ets"),
        "num_threads": 1,
        **changes,
    }
    return ml.ForecastSpec(**fields)


def train_forecaster(
    series: pd.DataFrame, categories: pd.DataFrame, spec: ml.ForecastSpec
) -> tuple[ml.BacktestResult, ml.Forecaster]:
    inputs = ml.ModelInputs(categories=categories)
    result = ml.backtest(series, spec, inputs)
    ensemble = ml.fit_ensemble(result, spec, categories)
    return result, ml.train_forecaster(series, spec, inputs, ensemble)


@pytest.fixture(scope="session")
def trained() -> Trained:
    series = make_weekly(n_series=12, n_weeks=120, seed=5)
    last = series["ds"].max()
    train = series[series["ds"] <= last - pd.Timedelta(weeks=HELD_OUT_WEEKS)]
    categories = categories_for(series)
    spec = small_spec()
    result, forecaster = train_forecaster(train, categories, spec)
    return Trained(series, train, categories, spec, result, forecaster)


@pytest.fixture
def tracking_store(mlflow_tracking_uri: str, tmp_path) -> str:
    """The session's Postgres-backed MLflow store, made current, with a fresh experiment whose
    artifacts go under ``tmp_path``; yields the experiment id."""
    mlflow.set_tracking_uri(mlflow_tracking_uri)
    mlflow.set_registry_uri(mlflow_tracking_uri)
    name = f"test-{uuid.uuid4().hex[:10]}"
    experiment_id = mlflow.MlflowClient().create_experiment(
        name, artifact_location=(tmp_path / "artifacts").as_uri()
    )
    yield experiment_id
    if mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def model_name() -> str:
    """A registered model name no other test uses."""
    return f"ensemble_{uuid.uuid4().hex[:10]}"
