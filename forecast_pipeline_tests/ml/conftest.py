"""Synthetic data and shared (expensive) model runs for the ml tests."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast_pipeline.ml import BacktestResult, ForecastSpec, backtest
from forecast_pipeline_tests.ml.synthetic import categories_for, make_weekly


@pytest.fixture(scope="session")
def weekly() -> pd.DataFrame:
    return make_weekly()


@pytest.fixture(scope="session")
def categories(weekly: pd.DataFrame) -> pd.DataFrame:
    return categories_for(weekly)


@pytest.fixture(scope="session")
def spec() -> ForecastSpec:
    # Default weekly spec, single-threaded: LightGBM gives identical results with any thread
    # count (deterministic=True, see test_models.py) and on these small frames extra OpenMP
    # threads only slow the suite down when the machine is busy.
    return ForecastSpec(num_threads=1)


@pytest.fixture(scope="session")
def backtest_result(
    weekly: pd.DataFrame, spec: ForecastSpec, categories: pd.DataFrame
) -> BacktestResult:
    return backtest(weekly, spec, categories)
