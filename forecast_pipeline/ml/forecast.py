"""Final forecast of the chosen model with conformal intervals."""

from __future__ import annotations

import pandas as pd

from forecast_pipeline.ml.backtest import BacktestResult, check_series
from forecast_pipeline.ml.intervals import (
    INTERVAL_LEVELS,
    add_intervals,
    conformal_quantiles,
    conformity_scores,
)
from forecast_pipeline.ml.metrics import cutoff_scales, robust_scale
from forecast_pipeline.ml.models import MODELS, forecast_models
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = ["FORECAST_COLUMNS", "fit_forecast"]

FORECAST_COLUMNS = [
    "unique_id",
    "ds",
    "step",
    "yhat",
    *[f"{side}_{level}" for level in INTERVAL_LEVELS for side in ("lo", "hi")],
]


def fit_forecast(
    series: pd.DataFrame, spec: ForecastSpec, model: str, backtest_result: BacktestResult
) -> pd.DataFrame:
    """Fit ``model`` on all of ``series`` and forecast ``spec.horizon`` steps after the last date.

    Intervals are split-conformal (see :mod:`forecast_pipeline.ml.intervals`): the backtest
    residuals of ``model`` (all windows), each divided by its product's in-sample seasonal-naive
    MAE at that cutoff, give per horizon step the 80 % and 95 % quantiles ``q``; the interval
    is ``yhat -/+ q * scale`` with ``scale`` the product's in-sample seasonal-naive MAE on the
    full history. Scores of all products are pooled, and each product's interval width is
    proportional to its own typical error, so small and large products get intervals of
    matching relative scale.

    Args:
        series: gap-free long frame ``unique_id``, ``ds``, ``y``.
        spec: forecast configuration (the one used for the backtest).
        model: one of :data:`~forecast_pipeline.ml.models.MODELS`.
        backtest_result: backtest containing ``model``'s predictions.

    Returns:
        ``unique_id``, ``ds``, ``step`` (1..horizon), ``yhat`` (clipped at 0), ``lo_80``,
        ``hi_80``, ``lo_95``, ``hi_95`` (clipped at 0), sorted by ``unique_id``, ``step``;
        ``lo_95 <= lo_80 <= yhat <= hi_80 <= hi_95``.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    series = check_series(series)
    # Residual scales are recomputed from `series` (the data the backtest ran on), so a
    # BacktestResult rebuilt from stored predictions and metrics works as well.
    scales = cutoff_scales(series, backtest_result.cutoffs, spec.season_length, robust=True)
    scores = conformity_scores(backtest_result, model, scales)
    quantiles = conformal_quantiles(scores, spec.horizon)
    fcst = forecast_models(series, spec, [model]).rename(columns={model: "yhat"})
    fcst = fcst.sort_values(["unique_id", "ds"], ignore_index=True)
    fcst["step"] = fcst.groupby("unique_id").cumcount() + 1
    fcst["yhat"] = fcst["yhat"].clip(lower=0.0)
    fcst = fcst.merge(robust_scale(series, spec.season_length), on="unique_id", how="left")
    fcst = add_intervals(fcst, quantiles)
    return fcst[FORECAST_COLUMNS]
