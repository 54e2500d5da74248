"""Realised accuracy: published forecasts scored against the actuals that arrived later.

Scores are kept as additive components per published run, level, category and horizon (one
target week at a time), so that any grouping of them (a category over a quarter, every
category at horizon 1, ...) gives exact pooled metrics:

* ``wape`` = sum ``|yhat - y|`` / sum ``y``; ``bias`` = sum ``(yhat - y)`` / sum ``y``
  (positive = over-forecast);
* ``mase`` = mean over scored series of ``|yhat - y| / scale``, the scale being the series'
  in-sample seasonal-naive MAE on the weekly history up to the run's forecast week
  (:func:`forecast_pipeline.ml.metrics.robust_scale`);
* ``coverage_80`` / ``coverage_95`` = share of series whose actual fell inside the interval.

Series forecast but without sales in the target week count as 0 units sold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast_pipeline.ml.metrics import cutoff_scales

__all__ = [
    "COMPONENT_COLUMNS",
    "KEY_COLUMNS",
    "SEASON_LENGTH",
    "fill_weeks",
    "forecast_scales",
    "metrics_from_components",
    "score_forecasts",
]

SEASON_LENGTH = 52
KEY_COLUMNS = ["run_id", "forecast_week", "model_version", "level", "category", "horizon"]
COMPONENT_COLUMNS = [
    "n_series",
    "actual_units",
    "forecast_units",
    "abs_error",
    "error",
    "scaled_abs_error",
    "scaled_series",
    "in_80",
    "in_95",
]
_FORECAST_COLUMNS = [
    "run_id",
    "forecast_week",
    "model_version",
    "series_id",
    "category",
    "step",
    "units",
    "lower_80",
    "upper_80",
    "lower_95",
    "upper_95",
]


def fill_weeks(weekly: pd.DataFrame, last_week: pd.Timestamp) -> pd.DataFrame:
    """``weekly`` (``series_id``, ``ds``, ``y``; weeks with sales only) made gap free: every
    week from each series' first one to ``last_week``, missing weeks as 0 units."""
    if weekly.empty:
        return weekly.loc[:, ["series_id", "ds", "y"]]
    frames = []
    for series_id, part in weekly.groupby("series_id", sort=True):
        weeks = pd.date_range(part["ds"].min(), last_week, freq="W-MON")
        y = part.set_index("ds")["y"].reindex(weeks, fill_value=0.0)
        frames.append(pd.DataFrame({"series_id": series_id, "ds": weeks, "y": y.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def forecast_scales(
    weekly_history: pd.DataFrame, forecast_weeks: Sequence[pd.Timestamp]
) -> pd.DataFrame:
    """The MASE scale of every series as of each forecast week.

    ``weekly_history`` has ``series_id``, ``ds`` (Monday), ``y``, gap free from each series'
    first sale. Returns ``series_id``, ``forecast_week``, ``scale`` (finite, > 0).
    """
    history = weekly_history.rename(columns={"series_id": "unique_id"})
    scales = cutoff_scales(history, list(forecast_weeks), SEASON_LENGTH, robust=True)
    return scales.rename(columns={"unique_id": "series_id", "cutoff": "forecast_week"})


def score_forecasts(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    scales: pd.DataFrame,
    level: str,
) -> pd.DataFrame:
    """Score the forecasts of one target week at one level.

    Args:
        forecasts: ``run_id``, ``forecast_week``, ``model_version``, ``series_id`` (product,
            category or ``total``), ``category``, ``step``, ``units`` and the 80%/95% bounds.
        actuals: ``series_id``, ``units`` sold in the target week (absent series sold 0).
        scales: ``series_id``, ``forecast_week``, ``scale`` from :func:`forecast_scales`;
            series without a scale (no history at the forecast week) count in every component
            but the scaled error and ``scaled_series``, the MASE's denominator.
        level: ``product``, ``category`` or ``total``, written to the ``level`` column.

    Returns:
        One row per run, category and horizon: :data:`KEY_COLUMNS` then
        :data:`COMPONENT_COLUMNS`.
    """
    missing = set(_FORECAST_COLUMNS) - set(forecasts.columns)
    if missing:
        raise ValueError(f"forecasts frame is missing columns {sorted(missing)}")
    if forecasts.empty:
        return pd.DataFrame(columns=KEY_COLUMNS + COMPONENT_COLUMNS)
    sold = actuals.groupby("series_id")["units"].sum()
    frame = forecasts.assign(
        actual=forecasts["series_id"].map(sold).fillna(0.0).astype(float),
        forecast_week=pd.to_datetime(forecasts["forecast_week"]),
    )
    scale = scales.assign(forecast_week=pd.to_datetime(scales["forecast_week"]))
    frame = frame.merge(scale, on=["series_id", "forecast_week"], how="left")
    err = frame["units"] - frame["actual"]
    frame = frame.assign(
        level=level,
        horizon=frame["step"].astype(int),
        n_series=1,
        actual_units=frame["actual"],
        forecast_units=frame["units"],
        abs_error=err.abs(),
        error=err,
        scaled_abs_error=(err.abs() / frame["scale"]).fillna(0.0),
        scaled_series=frame["scale"].notna().astype(int),
        in_80=frame["actual"].between(frame["lower_80"], frame["upper_80"]).astype(int),
        in_95=frame["actual"].between(frame["lower_95"], frame["upper_95"]).astype(int),
    )
    return frame.groupby(KEY_COLUMNS, sort=True)[COMPONENT_COLUMNS].sum().reset_index()


def metrics_from_components(components: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Pooled metrics of ``components`` grouped by ``by``: ``wape``, ``bias``, ``mase``,
    ``coverage_80``, ``coverage_95``, with ``n_series``, ``actual_units`` and
    ``forecast_units``."""
    grouped = components.groupby(list(by), sort=True)
    sums = grouped[COMPONENT_COLUMNS].sum().reset_index()
    actual = sums["actual_units"].where(sums["actual_units"] > 0)
    scaled = sums["scaled_series"].where(sums["scaled_series"] > 0)
    return (
        sums[list(by)]
        .assign(
            wape=sums["abs_error"] / actual,
            bias=sums["error"] / actual,
            mase=sums["scaled_abs_error"] / scaled,
            coverage_80=sums["in_80"] / sums["n_series"],
            coverage_95=sums["in_95"] / sums["n_series"],
            n_series=sums["n_series"].astype(int),
            actual_units=sums["actual_units"],
            forecast_units=sums["forecast_units"],
        )
        .replace([np.inf, -np.inf], np.nan)
    )
