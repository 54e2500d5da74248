from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml import (
    BASELINE,
    GLOBAL_GBM,
    METRIC_COLUMNS,
    MODELS,
    BacktestResult,
    ForecastSpec,
    backtest,
    backtest_cutoffs,
)
from forecast_pipeline.ml.metrics import series_scale


def test_cutoffs_are_shared_and_where_the_spec_puts_them(
    backtest_result: BacktestResult, weekly: pd.DataFrame, spec: ForecastSpec
) -> None:
    last = weekly["ds"].max()
    expected = [last - pd.Timedelta(weeks=spec.horizon + k * spec.step_size) for k in (2, 1, 0)]
    assert backtest_cutoffs(weekly, spec) == expected
    assert backtest_result.cutoffs == expected

    preds = backtest_result.predictions
    assert list(preds.columns) == ["unique_id", "ds", "cutoff", "y", *MODELS]
    # both models forecast every (series, cutoff, ds) row: same cutoffs, same points
    assert preds[list(MODELS)].notna().all().all()
    n_series = weekly["unique_id"].nunique()
    assert len(preds) == n_series * spec.horizon * spec.n_windows
    for cutoff, window in preds.groupby("cutoff"):
        assert window["ds"].min() == cutoff + pd.Timedelta(weeks=1)
        assert window["ds"].max() == cutoff + pd.Timedelta(weeks=spec.horizon)
    # actuals are the real values
    merged = preds.merge(weekly, on=["unique_id", "ds"], suffixes=("", "_true"))
    np.testing.assert_array_equal(merged["y"], merged["y_true"])
    assert (preds[list(MODELS)] >= 0).all().all()

    # metrics: every model x level x (each cutoff + overall)
    metrics = backtest_result.metrics
    assert list(metrics.columns) == METRIC_COLUMNS
    for model in MODELS:
        for level in ("product", "category", "total"):
            rows = metrics[(metrics["model"] == model) & (metrics["level"] == level)]
            assert sorted(rows["cutoff"].dropna()) == expected
            assert rows["cutoff"].isna().sum() == 1


def test_backtest_does_not_leak_future_values(
    weekly: pd.DataFrame,
    spec: ForecastSpec,
    categories: pd.DataFrame,
    backtest_result: BacktestResult,
) -> None:
    first_cutoff = backtest_result.cutoffs[0]
    altered = weekly.copy()
    after = altered["ds"] > first_cutoff
    altered.loc[after, "y"] *= 10.0

    altered_result = backtest(altered, spec, categories)

    def window(result: BacktestResult, cutoff: pd.Timestamp) -> pd.DataFrame:
        preds = result.predictions
        keep = preds["cutoff"] == cutoff
        return preds.loc[keep, ["unique_id", "ds", *MODELS]].reset_index(drop=True)

    # forecasts made at the first cutoff only saw data up to it: bit-for-bit identical
    pd.testing.assert_frame_equal(
        window(altered_result, first_cutoff), window(backtest_result, first_cutoff)
    )
    # ... while the last window, which sees 8 altered weeks (x10) in its history, moves up
    later = backtest_result.cutoffs[-1]
    original_later = window(backtest_result, later)
    altered_later = window(altered_result, later)
    for model in MODELS:
        ratio = altered_later[model].sum() / original_later[model].sum()
        assert ratio > 1.5, f"{model} should react to the altered history (ratio {ratio:.2f})"


def test_metrics_are_sane_and_gbm_beats_baseline(backtest_result: BacktestResult) -> None:
    metrics = backtest_result.metrics
    numeric = metrics[["mae", "rmse", "wape", "mase"]]
    assert np.isfinite(numeric.to_numpy()).all()
    assert (numeric > 0).all().all()
    assert (metrics["rmse"] >= metrics["mae"]).all()
    assert np.isfinite(metrics["bias"]).all()

    for level in ("product", "category", "total"):
        board = backtest_result.leaderboard(level)
        assert list(board["model"]) == [GLOBAL_GBM, BASELINE], level
        assert board["wape"].is_monotonic_increasing
        assert backtest_result.best_model(level) == GLOBAL_GBM
    product = backtest_result.leaderboard("product").set_index("model")
    # a clear trend + yearly seasonality: the global model wins clearly on WAPE and MASE
    assert product.loc[GLOBAL_GBM, "wape"] < 0.9 * product.loc[BASELINE, "wape"]
    assert product.loc[GLOBAL_GBM, "mase"] < product.loc[BASELINE, "mase"]
    # the seasonal naive lags one year of growth behind: it under-forecasts
    assert product.loc[BASELINE, "bias"] < 0

    with pytest.raises(ValueError):
        backtest_result.leaderboard("store")


def test_metric_values_match_their_definitions(
    backtest_result: BacktestResult, weekly: pd.DataFrame, categories: pd.DataFrame
) -> None:
    preds = backtest_result.predictions
    metrics = backtest_result.metrics.set_index(["model", "level"])
    overall = metrics[metrics["cutoff"].isna()]

    err = preds[GLOBAL_GBM] - preds["y"]
    product = overall.loc[(GLOBAL_GBM, "product")]
    assert product["wape"] == pytest.approx(err.abs().sum() / preds["y"].abs().sum())
    assert product["bias"] == pytest.approx(err.sum() / preds["y"].sum())
    assert product["mae"] == pytest.approx(err.abs().mean())
    assert product["rmse"] == pytest.approx(np.sqrt((err**2).mean()))

    # total level: sum over products first, then score (errors partly cancel)
    total = preds.groupby(["cutoff", "ds"])[["y", GLOBAL_GBM]].sum()
    total_err = total[GLOBAL_GBM] - total["y"]
    assert overall.loc[(GLOBAL_GBM, "total"), "wape"] == pytest.approx(
        total_err.abs().sum() / total["y"].sum()
    )
    assert overall.loc[(GLOBAL_GBM, "total"), "wape"] < product["wape"]

    # category level
    with_cat = preds.merge(categories, on="unique_id")
    by_cat = with_cat.groupby(["category", "cutoff", "ds"])[["y", BASELINE]].sum()
    cat_err = by_cat[BASELINE] - by_cat["y"]
    assert overall.loc[(BASELINE, "category"), "mae"] == pytest.approx(cat_err.abs().mean())

    # MASE: per (series, cutoff) MAE over the in-sample seasonal-naive MAE up to the cutoff
    expected = []
    for (uid, cutoff), part in preds.groupby(["unique_id", "cutoff"]):
        hist = weekly[(weekly["unique_id"] == uid) & (weekly["ds"] <= cutoff)]["y"].to_numpy()
        scale = np.abs(hist[52:] - hist[:-52]).mean()
        expected.append((part[BASELINE] - part["y"]).abs().mean() / scale)
    assert overall.loc[(BASELINE, "product"), "mase"] == pytest.approx(np.mean(expected))


def test_series_scale_falls_back_to_lag_one_for_short_history() -> None:
    ds = pd.date_range("2024-01-01", periods=60, freq="W-MON")
    long_y = np.arange(60, dtype=float) ** 1.5
    short_y = np.array([1.0, 4.0, 2.0, 8.0])
    history = pd.concat(
        [
            pd.DataFrame({"unique_id": "long", "ds": ds, "y": long_y}),
            pd.DataFrame({"unique_id": "short", "ds": ds[:4], "y": short_y}),
            pd.DataFrame({"unique_id": "single", "ds": ds[:1], "y": [3.0]}),
        ]
    )
    scale = series_scale(history, season_length=52).set_index("unique_id")["scale"]
    assert scale["long"] == pytest.approx(np.abs(long_y[52:] - long_y[:-52]).mean())
    assert scale["short"] == pytest.approx(np.abs(np.diff(short_y)).mean())
    assert np.isnan(scale["single"])


def test_backtest_handles_products_launched_late(
    weekly: pd.DataFrame, categories: pd.DataFrame
) -> None:
    spec = ForecastSpec(horizon=8, n_windows=2, step_size=4)
    last = weekly["ds"].max()
    # launched 9 weeks before the end: after the first cutoff (last - 12 weeks), two weeks of
    # history at the second one (last - 8 weeks); not in `categories` either
    new = pd.DataFrame(
        {
            "unique_id": "new",
            "ds": pd.date_range(end=last, periods=10, freq="W-MON"),
            "y": np.arange(10, dtype=float) + 5,
        }
    )
    series = pd.concat([weekly[weekly["unique_id"].isin(["p00", "p01", "p02"])], new])
    result = backtest(series, spec, categories)
    preds = result.predictions
    first, second = result.cutoffs
    assert "new" not in set(preds.loc[preds["cutoff"] == first, "unique_id"])
    new_preds = preds[(preds["cutoff"] == second) & (preds["unique_id"] == "new")]
    assert len(new_preds) == spec.horizon
    assert new_preds[list(MODELS)].notna().all().all()
    metrics = result.metrics
    assert set(metrics["level"]) == {"product", "category", "total"}
    assert np.isfinite(metrics["wape"]).all()
