"""Backtest, ensemble and forecast of the weekly engine on synthetic seasonal products."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline.ml.metrics import attach_categories
from forecast_pipeline_tests.ml.conftest import COLD_PRODUCT
from forecast_pipeline_tests.ml.synthetic import categories_for


def test_every_model_is_scored_on_the_same_windows(
    backtest_result: ml.BacktestResult, weekly: pd.DataFrame, spec: ml.ForecastSpec
) -> None:
    preds = backtest_result.predictions
    last = weekly["ds"].max()
    assert backtest_result.cutoffs == [last - pd.Timedelta(weeks=52 + 4 * k) for k in (2, 1, 0)]
    assert set(backtest_result.models) == {
        "seasonal_naive", "moving_average", "tsb", "lightgbm", "xgboost", "auto_ets", "prophet"
    }  # fmt: skip
    product = preds[preds["level"] == "product"]
    # the launched product has no history at any cutoff: absent; the 30 others, 52 steps each
    assert product.groupby(["cutoff", "unique_id"]).size().eq(52).all()
    assert product["unique_id"].nunique() == 30
    assert product[list(spec.product_models)].notna().all().all()
    assert product[["auto_ets", "prophet"]].isna().all().all()  # aggregate-only models
    aggregates = preds[preds["level"] != "product"]
    assert aggregates[backtest_result.models].notna().all().all()
    assert sorted(aggregates["unique_id"].unique()) == ["drinks", "food", "home", "total"]
    # category actuals are the sums of their products' actuals (the new product included)
    sums = attach_categories(weekly, categories_for(weekly)).groupby(["category", "ds"])["y"].sum()
    category = preds[preds["level"] == "category"].set_index(["unique_id", "ds"])["y"]
    np.testing.assert_allclose(category.to_numpy(), sums.loc[category.index].to_numpy())


def test_backtest_window_does_not_depend_on_later_data(
    weekly: pd.DataFrame, spec: ml.ForecastSpec, inputs: ml.ModelInputs
) -> None:
    """What happens after a cutoff cannot change the forecasts made at that cutoff."""
    small = ml.ForecastSpec(
        num_threads=1, horizon=8, aggregate_models=("seasonal_naive",), product_models=(
            "seasonal_naive", "lightgbm"
        )
    )  # fmt: skip
    cutoff = weekly["ds"].max() - pd.Timedelta(weeks=20)
    altered = weekly.copy()
    altered.loc[altered["ds"] > cutoff, "y"] *= 10
    runs = [ml.backtest(frame, small, inputs, cutoffs=[cutoff]) for frame in (weekly, altered)]
    models = ["seasonal_naive", "lightgbm"]
    a, b = (run.predictions.set_index(["level", "unique_id", "ds"]) for run in runs)
    pd.testing.assert_frame_equal(a[models], b[models])
    assert not np.allclose(a["y"], b["y"])  # the actuals did change


def test_ensemble_beats_every_base_model_at_product_and_category_level(
    evaluation: ml.Evaluation,
) -> None:
    for level in ("product", "category"):
        board = evaluation.leaderboard(level).set_index("model")
        others = board.drop(index=ml.ENSEMBLE)
        assert board.loc[ml.ENSEMBLE, "wape"] < others["wape"].min(), level
        assert board.loc[ml.ENSEMBLE, "mase"] < others["mase"].min(), level
    metrics = evaluation.metrics
    assert list(metrics.columns) == ml.METRIC_COLUMNS
    ens = metrics[metrics["model"] == ml.ENSEMBLE]
    assert ens[["coverage_80", "coverage_95", "width_80", "width_95"]].notna().all().all()
    others = metrics[metrics["model"] != ml.ENSEMBLE]
    assert others["coverage_80"].isna().all()


def test_intervals_cover_the_backtest_near_their_nominal_rate(evaluation: ml.Evaluation) -> None:
    product = evaluation.leaderboard("product").set_index("model").loc[ml.ENSEMBLE]
    assert product["coverage_80"] == pytest.approx(0.80, abs=0.07)
    assert product["coverage_95"] == pytest.approx(0.95, abs=0.05)
    assert product["width_95"] > product["width_80"] > 0


def test_weights_are_convex_per_level(ensemble_model: ml.EnsembleModel) -> None:
    sums = ensemble_model.weights.groupby("level")["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert (ensemble_model.weights["weight"] >= 0).all()
    product_models = set(ensemble_model.weights.loc[lambda w: w["level"] == "product", "model"])
    assert "prophet" not in product_models  # not a product model


def test_forecast_adds_up_across_levels(
    forecast_result: ml.ForecastResult, categories: pd.DataFrame
) -> None:
    steps = forecast_result.steps
    assert list(steps.columns) == ml.FORECAST_COLUMNS
    products = attach_categories(forecast_result.level("product"), categories)
    by_category = products.groupby(["category", "ds"])["yhat"].sum()
    category = forecast_result.level("category").set_index(["unique_id", "ds"])["yhat"]
    np.testing.assert_allclose(category.loc[by_category.index].to_numpy(), by_category.to_numpy())
    total = forecast_result.level("total").set_index("ds")["yhat"]
    cat_sum = forecast_result.level("category").groupby("ds")["yhat"].sum()
    np.testing.assert_allclose(total.loc[cat_sum.index].to_numpy(), cat_sum.to_numpy())
    assert steps.groupby(["level", "unique_id"]).size().eq(52).all()


def test_intervals_are_ordered_and_non_negative(forecast_result: ml.ForecastResult) -> None:
    for frame in (forecast_result.steps, forecast_result.windows):
        assert (frame["lo_95"] <= frame["lo_80"]).all()
        assert (frame["lo_80"] <= frame["yhat"]).all()
        assert (frame["yhat"] <= frame["hi_80"]).all()
        assert (frame["hi_80"] <= frame["hi_95"]).all()
        assert (frame["lo_95"] >= 0).all()


def test_window_totals_have_their_own_narrower_intervals(
    forecast_result: ml.ForecastResult,
) -> None:
    windows = forecast_result.windows
    assert set(windows["window"]) == {"week", "month", "year"}
    steps = forecast_result.level("product")
    year = windows[(windows["level"] == "product") & (windows["window"] == "year")]
    year = year.set_index("unique_id")
    summed = steps.groupby("unique_id")[["yhat", "lo_80", "hi_80"]].sum()
    np.testing.assert_allclose(year["yhat"], summed.loc[year.index, "yhat"])
    # calibrated on year totals: narrower than adding 52 per-week intervals
    width_window = (year["hi_80"] - year["lo_80"]).sum()
    width_summed = (summed["hi_80"] - summed["lo_80"]).loc[year.index].sum()
    assert width_window < width_summed


def test_new_product_gets_the_flagged_category_fallback(
    forecast_result: ml.ForecastResult, weekly: pd.DataFrame, categories: pd.DataFrame
) -> None:
    product = forecast_result.level("product")
    cold = product[product["cold_start"]]
    assert set(cold["unique_id"]) == {COLD_PRODUCT}
    assert not product.loc[product["unique_id"] != COLD_PRODUCT, "cold_start"].any()
    # its forecast follows its category's shape at its share of the category's recent sales
    category = categories.set_index("unique_id").loc[COLD_PRODUCT, "category"]
    cat = forecast_result.level("category")
    cat = cat[cat["unique_id"] == category].set_index("ds")["yhat"]
    ratio = cold.set_index("ds")["yhat"] / cat.loc[cold["ds"]]
    recent = weekly[weekly["ds"] >= weekly.loc[weekly["unique_id"] == COLD_PRODUCT, "ds"].min()]
    recent = recent.merge(categories, on="unique_id")
    share = (
        recent.loc[recent["unique_id"] == COLD_PRODUCT, "y"].sum()
        / recent.loc[recent["category"] == category, "y"].sum()
    )
    # scaled to the reconciled category together with the other products: close to the share
    assert ratio.to_numpy() == pytest.approx(share, rel=0.2)
    assert cold["yhat"].gt(0).all()


def test_top_products_use_the_window_intervals(
    forecast_result: ml.ForecastResult, weekly: pd.DataFrame, categories: pd.DataFrame
) -> None:
    windows = forecast_result.windows
    product_windows = windows[windows["level"] == "product"]
    top = ml.top_products(
        forecast_result.level("product"),
        weekly,
        categories,
        top_n=3,
        window_totals=product_windows,
    )
    assert len(top) == 3 * 3 * 3
    first = top[(top["time_period"] == "month") & (top["rank"] == 1)].iloc[0]
    months = product_windows[product_windows["window"] == "month"]
    match = months[months["unique_id"] == first["product_id"]].iloc[0]
    assert first["lower_80"] == pytest.approx(match["lo_80"])
    assert first["upper_80"] == pytest.approx(match["hi_80"])
    assert first["predicted_units"] == pytest.approx(match["yhat"])


@pytest.mark.parametrize("method", ["middle_out", "wls_var", "wls_struct", "bottom_up"])
def test_every_reconciliation_gives_coherent_backtest_forecasts(
    backtest_result: ml.BacktestResult,
    spec: ml.ForecastSpec,
    categories: pd.DataFrame,
    method: str,
) -> None:
    from forecast_pipeline.ml.engine import ensemble_predictions

    chosen = dataclasses.replace(spec, reconciliation=method)
    model = ml.fit_ensemble(backtest_result, chosen, categories)
    preds = ensemble_predictions(backtest_result, model, chosen, categories)
    products = attach_categories(preds[preds["level"] == "product"], categories)
    sums = products.groupby(["cutoff", "category", "ds"])[ml.ENSEMBLE].sum()
    category = preds[preds["level"] == "category"].set_index(["cutoff", "unique_id", "ds"])
    np.testing.assert_allclose(
        category.loc[sums.index, ml.ENSEMBLE].to_numpy(), sums.to_numpy(), rtol=1e-9
    )
    assert (preds[ml.ENSEMBLE] >= 0).all()
