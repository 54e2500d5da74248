from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline.ml import ForecastSpec, daily_series, top_products
from forecast_pipeline_tests.ml.synthetic import categories_for, make_daily_sales


def test_daily_spec_end_to_end() -> None:
    default = ForecastSpec.daily()
    assert (default.freq, default.horizon, default.season_length) == ("D", 28, 7)
    assert (default.step_size, default.lags) == (7, (1, 7, 14, 28))
    spec = ForecastSpec.daily(num_threads=1)  # see the `spec` fixture

    raw = make_daily_sales(n_series=10, n_days=400)
    origin = raw["date"].max() - pd.Timedelta(days=9)
    series = daily_series(raw, origin)
    assert series["unique_id"].nunique() == 10
    assert series["ds"].max() == origin - pd.Timedelta(days=1)
    expected_units = raw.loc[raw["date"] < origin, "units"].sum()
    assert series["y"].sum() == pytest.approx(expected_units)
    categories = categories_for(series)

    inputs = ml.ModelInputs(categories=categories)
    result = ml.backtest(series, spec, inputs)
    last = series["ds"].max()
    assert result.cutoffs == [last - pd.Timedelta(days=28 + 7 * k) for k in (2, 1, 0)]
    product = result.predictions[result.predictions["level"] == "product"]
    assert (product.groupby(["unique_id", "cutoff"]).size() == 28).all()
    evaluation = ml.evaluate(result, spec, categories)
    board = evaluation.leaderboard("product").set_index("model")
    assert np.isfinite(board["wape"]).all()
    assert (board["wape"] > 0).all()
    # weekday pattern + Poisson noise: the pooled model beats "same day last week"
    assert board.loc["lightgbm", "wape"] < board.loc["seasonal_naive", "wape"]
    assert board.loc[ml.ENSEMBLE, "wape"] <= board["wape"].min() + 0.01
    assert 0.6 <= board.loc[ml.ENSEMBLE, "coverage_80"] <= board.loc[ml.ENSEMBLE, "coverage_95"]

    model = ml.fit_ensemble(result, spec, categories)
    forecast = ml.forecast(series, spec, inputs, model)
    fcst = forecast.level("product")
    assert (fcst.groupby("unique_id").size() == spec.horizon).all()
    first = fcst[fcst["unique_id"] == "d00"]
    expected_days = pd.date_range(last + pd.Timedelta(days=1), periods=28, freq="D")
    assert first["ds"].tolist() == list(expected_days)
    assert (fcst["lo_95"] <= fcst["lo_80"]).all() and (fcst["lo_80"] <= fcst["yhat"]).all()
    assert (fcst["yhat"] <= fcst["hi_80"]).all() and (fcst["hi_80"] <= fcst["hi_95"]).all()
    assert (fcst["lo_95"] >= 0).all()
    assert set(forecast.windows["window"]) == {"day", "week", "month"}

    ranking = top_products(
        fcst, series, categories, top_n=2, windows={"week": 7, "month": 28}, freq="D"
    )
    assert len(ranking) == 3 * 2 * 2
    top = ranking.iloc[0]
    previous = series[
        (series["unique_id"] == top["product_id"]) & (series["ds"] > last - pd.Timedelta(days=7))
    ]["y"].sum()
    assert top["time_period"] == "week"
    assert top["previous_units"] == pytest.approx(previous)
