from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml import (
    BASELINE,
    FORECAST_COLUMNS,
    GLOBAL_GBM,
    BacktestResult,
    ForecastSpec,
    fit_forecast,
    interval_coverage,
)
from forecast_pipeline.ml.intervals import conformal_quantiles, conformity_scores


@pytest.fixture(scope="module")
def gbm_forecast(
    weekly: pd.DataFrame, spec: ForecastSpec, backtest_result: BacktestResult
) -> pd.DataFrame:
    return fit_forecast(weekly, spec, GLOBAL_GBM, backtest_result)


def test_fit_forecast_shape_and_dates(
    gbm_forecast: pd.DataFrame, weekly: pd.DataFrame, spec: ForecastSpec
) -> None:
    fcst = gbm_forecast
    assert list(fcst.columns) == FORECAST_COLUMNS
    assert fcst["unique_id"].nunique() == weekly["unique_id"].nunique()
    assert (fcst.groupby("unique_id").size() == spec.horizon).all()
    last = weekly["ds"].max()
    for _, part in fcst.groupby("unique_id"):
        assert part["step"].tolist() == list(range(1, spec.horizon + 1))
        expected = pd.date_range(last + pd.Timedelta(weeks=1), periods=spec.horizon, freq="W-MON")
        assert part["ds"].tolist() == list(expected)


def test_fit_forecast_bounds_are_ordered_and_non_negative(gbm_forecast: pd.DataFrame) -> None:
    fcst = gbm_forecast
    values = fcst[["yhat", "lo_80", "hi_80", "lo_95", "hi_95"]]
    assert np.isfinite(values.to_numpy()).all()
    assert (values >= 0).all().all()
    assert (fcst["lo_95"] <= fcst["lo_80"]).all()
    assert (fcst["lo_80"] <= fcst["yhat"]).all()
    assert (fcst["yhat"] <= fcst["hi_80"]).all()
    assert (fcst["hi_80"] <= fcst["hi_95"]).all()
    # intervals are not degenerate
    assert ((fcst["hi_80"] - fcst["lo_80"]) > 0).mean() > 0.99


def test_interval_width_follows_product_size_and_horizon(
    gbm_forecast: pd.DataFrame, weekly: pd.DataFrame
) -> None:
    fcst = gbm_forecast
    width = (fcst["hi_80"] - fcst["lo_80"]).groupby(fcst["unique_id"]).mean()
    size = weekly.groupby("unique_id")["y"].mean()
    # scaled conformal scores: big products get proportionally wide intervals
    assert width.corr(size.reindex(width.index), method="spearman") > 0.8
    one = fcst[fcst["unique_id"] == "p00"].set_index("step")
    half_width = (one["hi_95"] - one["lo_95"]) / 2
    # widths may not shrink along the horizon (where the lower bound is not clipped at 0)
    unclipped = one["lo_95"] > 0
    assert unclipped.sum() > 40
    assert (np.diff(half_width[unclipped].to_numpy()) >= -1e-9).all()
    assert half_width.iloc[-1] > half_width.iloc[0]


def test_conformal_quantiles_are_monotone(backtest_result: BacktestResult) -> None:
    scores = conformity_scores(backtest_result, GLOBAL_GBM)
    assert set(scores["step"]) == set(range(1, 53))
    quantiles = conformal_quantiles(scores, horizon=60)
    assert list(quantiles.index) == list(range(1, 61))
    assert quantiles["q_80"].is_monotonic_increasing
    assert (quantiles["q_95"] >= quantiles["q_80"]).all()
    # the 80% quantile of step 1 leaves about 20% of the step-1 scores above it
    step1 = scores.loc[scores["step"] == 1, "score"]
    assert 0.1 <= (step1 > quantiles.loc[1, "q_80"]).mean() <= 0.2


@pytest.mark.parametrize("model", [GLOBAL_GBM, BASELINE])
def test_interval_coverage_is_close_to_nominal(backtest_result: BacktestResult, model: str) -> None:
    coverage = interval_coverage(backtest_result, model)
    assert set(coverage) == {"coverage_80", "coverage_95"}
    assert 0.65 <= coverage["coverage_80"] <= 0.97
    assert 0.85 <= coverage["coverage_95"] <= 1.0
    assert coverage["coverage_95"] >= coverage["coverage_80"]


def test_fit_forecast_rejects_unknown_model(
    weekly: pd.DataFrame, spec: ForecastSpec, backtest_result: BacktestResult
) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        fit_forecast(weekly, spec, "prophet", backtest_result)


def test_rebuilt_backtest_result_gives_the_same_forecast(
    weekly: pd.DataFrame,
    spec: ForecastSpec,
    backtest_result: BacktestResult,
    gbm_forecast: pd.DataFrame,
) -> None:
    # what the Dagster asset does: rebuild the result from stored predictions and metrics only
    rebuilt = BacktestResult(
        predictions=backtest_result.predictions.copy(), metrics=backtest_result.metrics.copy()
    )
    pd.testing.assert_frame_equal(fit_forecast(weekly, spec, GLOBAL_GBM, rebuilt), gbm_forecast)

    with pytest.raises(ValueError, match="scale"):
        interval_coverage(rebuilt, GLOBAL_GBM)
    assert interval_coverage(rebuilt, GLOBAL_GBM, series=weekly) == interval_coverage(
        backtest_result, GLOBAL_GBM
    )
