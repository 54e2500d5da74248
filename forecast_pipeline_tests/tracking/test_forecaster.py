"""The trained forecaster: forecasts later history without refitting, re-runs its recipe on
newer backtest windows, and round-trips through the flat features frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline_tests.tracking.conftest import HELD_OUT_WEEKS, Trained


def test_forecast_on_the_training_data_equals_the_refitting_forecast(trained: Trained) -> None:
    f = trained.forecaster
    inputs = ml.ModelInputs(categories=trained.categories)
    refit = ml.forecast(trained.train, trained.spec, inputs, f.ensemble)
    fitted = f.forecast(trained.train, trained.categories)
    pd.testing.assert_frame_equal(fitted.steps, refit.steps, rtol=1e-9)
    pd.testing.assert_frame_equal(fitted.windows, refit.windows, rtol=1e-9)


def test_later_history_is_forecast_by_the_trained_global_model(trained: Trained) -> None:
    f = trained.forecaster
    later = f.forecast(trained.series, trained.categories)
    first = later.steps["ds"].min()
    assert first == trained.series["ds"].max() + pd.Timedelta(weeks=1)
    assert first == f.training_end + pd.Timedelta(weeks=HELD_OUT_WEEKS + 1)
    assert set(later.steps["level"]) == {"product", "category", "total"}
    assert (later.steps["lo_95"] <= later.steps["yhat"]).all()
    # the global model was not refitted: a model trained on the later history forecasts
    # differently
    inputs = ml.ModelInputs(categories=trained.categories)
    refit = ml.forecast(trained.series, trained.spec, inputs, f.ensemble)
    assert not np.allclose(later.base["lightgbm"], refit.base["lightgbm"])
    pd.testing.assert_series_equal(later.base["seasonal_naive"], refit.base["seasonal_naive"])


def test_shorter_horizon_and_history_before_training_are_handled(trained: Trained) -> None:
    f = trained.forecaster
    short = f.forecast(trained.series, trained.categories, horizon=2)
    assert short.steps["step"].max() == 2
    with pytest.raises(ValueError, match="horizon must be between 1 and 8"):
        f.forecast(trained.series, trained.categories, horizon=9)
    early = trained.train[trained.train["ds"] < trained.train["ds"].max()]
    with pytest.raises(ValueError, match="before the training data"):
        f.forecast(early, trained.categories)


def test_features_frame_round_trip_with_prices_and_indicators(trained: Trained) -> None:
    series = trained.series
    prices = series[["unique_id", "ds"]].assign(
        price=2.0, relative_price=1.0, promo_share=series["y"].mod(2).astype(float)
    )
    weeks = pd.DataFrame({"ds": sorted(series["ds"].unique())})
    shared = weeks.assign(ind_cpi_yoy=np.linspace(0.01, 0.03, len(weeks)))
    exog = ml.Exogenous(per_series=prices, shared=shared)
    frame = ml.features_frame(series, trained.categories, exog)
    assert list(frame.columns) == [
        "unique_id", "ds", "y", "category", "price", "relative_price", "promo_share",
        "ind_cpi_yoy",
    ]  # fmt: skip
    assert len(frame) == len(series)
    back_series, back_categories, back_exog = ml.split_features(frame)
    pd.testing.assert_frame_equal(
        back_series.reset_index(drop=True),
        series.sort_values(["unique_id", "ds"], ignore_index=True).astype({"y": "float64"}),
    )
    assert dict(back_categories.values) == dict(trained.categories.values)
    # the origin's indicator value is the last week's, carried forward
    origin = series["ds"].max() + pd.Timedelta(weeks=1)
    assert back_exog.shared["ds"].max() == origin
    assert back_exog.shared["ind_cpi_yoy"].iloc[-1] == pytest.approx(0.03)
    with pytest.raises(ValueError, match=r"lacks the columns \['category'\]"):
        ml.split_features(frame.drop(columns="category"))


def test_recipe_rerun_reuses_unchanged_models_and_refits_changed_ones(trained: Trained) -> None:
    f = trained.forecaster
    reference = trained.backtest
    same = ml.backtest_forecaster(f, reference, trained.spec, {}, trained.train, trained.categories)
    pd.testing.assert_frame_equal(same.predictions, reference.predictions[same.predictions.columns])
    tuned = replace(f, params={"lightgbm": {**ml.default_lgbm_params(), "num_leaves": 4}})
    other = ml.backtest_forecaster(
        tuned, reference, trained.spec, {}, trained.train, trained.categories
    )
    assert other.cutoffs == reference.cutoffs
    assert len(other.predictions) == len(reference.predictions)
    assert not np.allclose(other.predictions["lightgbm"], reference.predictions["lightgbm"])
    np.testing.assert_allclose(
        other.predictions["seasonal_naive"], reference.predictions["seasonal_naive"]
    )
    scored = ml.evaluate(other, tuned.spec, trained.categories).metrics
    assert {"product", "category", "total"} <= set(
        scored.loc[scored["model"] == "ensemble", "level"]
    )
