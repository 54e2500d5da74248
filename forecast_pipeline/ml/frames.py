"""Turn raw daily sales into long-format series (``unique_id``, ``ds``, ``y``) for the models."""

from __future__ import annotations

import pandas as pd
from utilsforecast.preprocessing import fill_gaps

__all__ = ["SERIES_COLUMNS", "daily_series", "weekly_series"]

SERIES_COLUMNS = ["unique_id", "ds", "y"]
_DAILY_COLUMNS = ("date", "product_id", "units")


def weekly_series(daily: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """Aggregate daily sales into weekly series labelled by the Monday of each week.

    Args:
        daily: columns ``date``, ``product_id``, ``units``; several rows per product and day
            (e.g. one per store) are summed.
        origin: a Monday. Only full weeks strictly before it are kept: the week starting at
            ``origin`` (and anything later) is excluded, so the last week is ``origin - 7 days``.

    Returns:
        ``unique_id`` (the product id), ``ds`` (Monday of the week), ``y`` (float units), one row
        per product and week from the week of the product's first sale (first day with
        ``units > 0`` before ``origin``) up to the last full week, weeks without sales filled
        with explicit zeros. Products without a sale before ``origin`` are absent. Sorted by
        ``unique_id``, ``ds``. The first week of a product may be only partially covered by the
        raw data (sales starting mid-week); it is kept.
    """
    origin = _check_origin(origin)
    if origin.dayofweek != 0:
        raise ValueError(f"origin must be a Monday, got {origin.date()} ({origin.day_name()})")
    frame = _clean_daily(daily, origin)
    frame["ds"] = frame["date"] - pd.to_timedelta(frame["date"].dt.dayofweek, unit="D")
    return _aggregate_and_fill(frame, freq="W-MON", last=origin - pd.Timedelta(days=7))


def daily_series(daily: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """Daily counterpart of :func:`weekly_series`: one row per product and day before ``origin``.

    Units of the same product and day are summed over stores; days between the product's first
    sale and ``origin - 1 day`` without sales are filled with zeros. Sorted by ``unique_id``,
    ``ds``.
    """
    origin = _check_origin(origin)
    frame = _clean_daily(daily, origin)
    frame["ds"] = frame["date"]
    return _aggregate_and_fill(frame, freq="D", last=origin - pd.Timedelta(days=1))


def _check_origin(origin: pd.Timestamp) -> pd.Timestamp:
    origin = pd.Timestamp(origin)
    if origin.tzinfo is not None:
        raise ValueError("origin must be a naive timestamp")
    if origin != origin.normalize():
        raise ValueError(f"origin must be a date (midnight), got {origin}")
    return origin


def _clean_daily(daily: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    missing = [c for c in _DAILY_COLUMNS if c not in daily.columns]
    if missing:
        raise ValueError(f"daily sales frame is missing columns {missing}")
    frame = daily.loc[:, list(_DAILY_COLUMNS)].copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.normalize()
    frame["units"] = frame["units"].astype("float64").fillna(0.0)
    frame = frame[frame["date"] < origin]
    first_sale = frame.loc[frame["units"] > 0].groupby("product_id")["date"].min()
    frame = frame[frame["date"] >= frame["product_id"].map(first_sale)]
    return frame


def _aggregate_and_fill(frame: pd.DataFrame, freq: str, last: pd.Timestamp) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(
            {
                "unique_id": pd.Series([], dtype=object),
                "ds": pd.Series([], dtype="datetime64[ns]"),
                "y": pd.Series([], dtype="float64"),
            }
        )
    weekly = (
        frame.groupby(["product_id", "ds"], as_index=False, sort=True)["units"]
        .sum()
        .rename(columns={"product_id": "unique_id", "units": "y"})
    )
    weekly["ds"] = weekly["ds"].astype("datetime64[ns]")
    filled = fill_gaps(weekly, freq=freq, start="per_serie", end=last)
    filled["y"] = filled["y"].fillna(0.0).astype("float64")
    return filled.sort_values(["unique_id", "ds"], ignore_index=True)[SERIES_COLUMNS]
