"""Synthetic data and shared (expensive) model runs for the ml tests."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline_tests.ml.synthetic import categories_for, make_weekly

COLD_PRODUCT = "new"


@pytest.fixture(scope="session")
def weekly() -> pd.DataFrame:
    """30 seasonal products over 170 weeks plus one launched 5 weeks before the end."""
    series = make_weekly()
    last_weeks = series["ds"].drop_duplicates().sort_values().iloc[-5:]
    launch = pd.DataFrame({"unique_id": COLD_PRODUCT, "ds": last_weeks, "y": [5.0, 6, 7, 8, 9]})
    return pd.concat([series, launch], ignore_index=True)


@pytest.fixture(scope="session")
def categories(weekly: pd.DataFrame) -> pd.DataFrame:
    return categories_for(weekly)


@pytest.fixture(scope="session")
def spec() -> ml.ForecastSpec:
    # Default weekly spec, single-threaded: the GBMs give identical results with any thread
    # count (deterministic=True) and on these small frames extra OpenMP threads only slow the
    # suite down when the machine is busy.
    return ml.ForecastSpec(num_threads=1)


@pytest.fixture(scope="session")
def inputs(categories: pd.DataFrame) -> ml.ModelInputs:
    return ml.ModelInputs(categories=categories)


@pytest.fixture(scope="session")
def backtest_result(
    weekly: pd.DataFrame, spec: ml.ForecastSpec, inputs: ml.ModelInputs
) -> ml.BacktestResult:
    return ml.backtest(weekly, spec, inputs)


@pytest.fixture(scope="session")
def evaluation(
    backtest_result: ml.BacktestResult, spec: ml.ForecastSpec, categories: pd.DataFrame
) -> ml.Evaluation:
    return ml.evaluate(backtest_result, spec, categories)


@pytest.fixture(scope="session")
def ensemble_model(
    backtest_result: ml.BacktestResult, spec: ml.ForecastSpec, categories: pd.DataFrame
) -> ml.EnsembleModel:
    return ml.fit_ensemble(backtest_result, spec, categories)


@pytest.fixture(scope="session")
def forecast_result(
    weekly: pd.DataFrame,
    spec: ml.ForecastSpec,
    inputs: ml.ModelInputs,
    ensemble_model: ml.EnsembleModel,
) -> ml.ForecastResult:
    return ml.forecast(weekly, spec, inputs, ensemble_model)
