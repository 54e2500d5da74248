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
    """``weekly`` (``series_id``, ``ds`` (Mondays), ``y``; weeks with sales only, one row per
    series and week) made gap free: every week from each series' first one to ``last_week``,
    missing weeks as 0 units; rows after ``last_week`` are left out. Sorted by series and week.
    """
    last = np.datetime64(pd.Timestamp(last_week), "ns")
    frame = weekly.loc[:, ["series_id", "ds", "y"]]
    frame = frame[frame["ds"].to_numpy("datetime64[ns]") <= last]
    if frame.empty:
        return frame.reset_index(drop=True)
    codes, ids = pd.factorize(frame["series_id"], sort=True)
    week = np.timedelta64(7, "D")
    ds = frame["ds"].to_numpy("datetime64[ns]")
    first = pd.Series(ds).groupby(codes).min().to_numpy("datetime64[ns]")
    lengths = (last - first) // week + 1
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    y = np.zeros(int(lengths.sum()))
    y[offsets[codes] + (ds - first[codes]) // week] = frame["y"].to_numpy(float)
    within = np.arange(len(y)) - np.repeat(offsets, lengths)
    return pd.DataFrame(
        {
            "series_id": np.repeat(ids.to_numpy(), lengths),
            "ds": np.repeat(first, lengths) + within * week,
            "y": y,
        }
    )


def forecast_scales(
    weekly_history: pd.DataFrame, forecast_weeks: Sequence[pd.Timestamp]
) -> pd.DataFrame:
    """The MASE scale of every series as of each forecast week: equal to
    ``cutoff_scales(history, forecast_weeks, SEASON_LENGTH, robust=True)``
    (:func:`forecast_pipeline.ml.metrics.robust_scale` of the history up to each week) but in
    one pass over the history instead of one per week.

    Per series, running sums (and counts) of ``|y_t - y_{t-52}|``, ``|y_t - y_{t-1}|`` and
    ``|y_t|`` are read at the series' last week on or before each forecast week: the scale is
    the seasonal-naive MAE; with no seasonal difference yet (at most 52 weeks known) the
    lag-1 naive MAE; where that is zero or undefined (a single week, a flat history) the mean
    ``|y|``; then 1.

    ``weekly_history`` has ``series_id``, ``ds`` (Monday), ``y``, gap free from each series'
    first sale. Returns ``series_id``, ``forecast_week``, ``scale`` (finite, > 0), by forecast
    week then series; series without history at a forecast week are absent.
    """
    cutoffs = np.sort(pd.to_datetime(pd.Series(forecast_weeks)).unique())
    columns = ["series_id", "forecast_week", "scale"]
    if weekly_history.empty or cutoffs.size == 0:
        return pd.DataFrame(columns=columns)
    # one row per series, its weeks left-aligned (position 0 = first week), padded with NaN/NaT
    codes, ids = pd.factorize(weekly_history["series_id"], sort=True)
    ds = weekly_history["ds"].to_numpy("datetime64[ns]")
    order = np.lexsort((ds, codes))
    codes, ds = codes[order], ds[order]
    lengths = np.bincount(codes, minlength=len(ids))
    position = np.arange(len(codes)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    shape = (len(ids), int(lengths.max()))
    y = np.full(shape, np.nan)
    y[codes, position] = weekly_history["y"].to_numpy(float)[order]
    weeks = np.full(shape, np.datetime64("NaT", "ns"))
    weeks[codes, position] = ds
    # per cutoff, the series known then and the position of their last week on or before it
    known = np.stack([(weeks <= c).sum(axis=1) for c in cutoffs.astype("datetime64[ns]")]) - 1
    cutoff, series = np.nonzero(known >= 0)
    last = known[cutoff, series]
    raw = _running_mean(_lagged_abs_diff(y, SEASON_LENGTH), series, last)
    raw = np.where(np.isnan(raw), _running_mean(_lagged_abs_diff(y, 1), series, last), raw)
    level = _running_mean(np.abs(y), series, last)
    with np.errstate(invalid="ignore"):
        scale = np.where(raw > 0, raw, np.where(level > 0, level, 1.0))
    return pd.DataFrame(
        {
            "series_id": ids.to_numpy()[series],
            "forecast_week": pd.DatetimeIndex(cutoffs[cutoff]),
            "scale": scale,
        }
    )


def _lagged_abs_diff(y: np.ndarray, lag: int) -> np.ndarray:
    """``|y_t - y_{t-lag}|`` along each row of ``y``; NaN for the first ``lag`` columns."""
    out = np.full(y.shape, np.nan)
    out[:, lag:] = np.abs(y[:, lag:] - y[:, :-lag])
    return out


def _running_mean(values: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Mean of the non-NaN ``values`` of each row up to and including ``columns`` (as pandas'
    mean skips NaN), at (``rows``, ``columns``); NaN where there is none."""
    finite = ~np.isnan(values)
    total = np.cumsum(np.where(finite, values, 0.0), axis=1)[rows, columns]
    count = np.cumsum(finite, axis=1)[rows, columns]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


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
