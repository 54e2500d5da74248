"""Top products per category over the first weeks/months/year of the forecast."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from forecast_pipeline.ml.metrics import attach_categories

__all__ = ["DEFAULT_WINDOWS", "RANKING_COLUMNS", "top_products"]

DEFAULT_WINDOWS: Mapping[str, int] = MappingProxyType({"week": 1, "month": 4, "year": 52})
RANKING_COLUMNS = [
    "category",
    "time_period",
    "rank",
    "product_id",
    "predicted_units",
    "lower_80",
    "upper_80",
    "previous_units",
    "change_pct",
    "trend",
]


def top_products(
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    categories: pd.DataFrame,
    *,
    top_n: int = 10,
    windows: Mapping[str, int] = DEFAULT_WINDOWS,
    flat_threshold: float = 0.05,
    freq: str = "W-MON",
    window_totals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rank products within each category by predicted units over the first steps of the forecast.

    For each ``time_period`` name ``p`` with ``N = windows[p]`` steps (e.g. ``"month": 4``
    weeks), products are ranked by ``predicted_units`` = sum of ``yhat`` over forecast steps
    ``1..N`` (ties broken by product id), and the ``top_n`` best of each category are kept.

    * ``lower_80``/``upper_80``: the 80 % interval of the window total, calibrated on backtest
      window totals, from ``window_totals`` (``unique_id``, ``window``, ``lo_80``, ``hi_80``:
      the product rows of :attr:`~forecast_pipeline.ml.engine.ForecastResult.windows`). Without
      it, the sums of the per-step bounds, which assume perfectly correlated errors and are
      wider than a calibrated window interval.
    * ``previous_units``: actual units over the ``N`` periods just before the product's first
      forecast date (periods missing from ``history`` count as 0).
    * ``change_pct``: ``predicted_units / previous_units - 1`` as a fraction (0.25 = +25 %),
      NaN when ``previous_units`` is 0.
    * ``trend``: ``"flat"`` when ``|change_pct| < flat_threshold``, else ``"up"``/``"down"``;
      when ``previous_units`` is 0 it is ``"up"`` if ``predicted_units > 0``, else ``"flat"``.

    A window longer than the forecast horizon is skipped with a warning. Products missing from
    ``categories`` are ranked in the category ``"unknown"``.

    Args:
        forecasts: output of :func:`~forecast_pipeline.ml.forecast.fit_forecast`.
        history: the series the forecast was fitted on (``unique_id``, ``ds``, ``y``).
        categories: ``unique_id`` -> ``category``.
        top_n: products kept per (category, time_period).
        windows: time_period name -> number of forecast steps.
        flat_threshold: relative change below which the trend is ``"flat"``.
        freq: frequency of the series (steps are converted to dates with it).
        window_totals: calibrated window-total intervals (see above).

    Returns:
        Columns :data:`RANKING_COLUMNS`, sorted by category, time_period (in ``windows``
        order) and rank.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    if flat_threshold < 0:
        raise ValueError(f"flat_threshold must be >= 0, got {flat_threshold}")
    offset = pd.tseries.frequencies.to_offset(freq)
    fcst = attach_categories(forecasts, categories)
    starts = fcst.loc[fcst["step"] == 1].set_index("unique_id")["ds"]
    horizon = int(fcst["step"].max()) if not fcst.empty else 0
    hist = history.loc[history["unique_id"].isin(starts.index), ["unique_id", "ds", "y"]]
    hist = hist.assign(start=hist["unique_id"].map(starts))

    frames = []
    for period, n_steps in windows.items():
        if n_steps < 1:
            raise ValueError(f"window {period!r} must span at least one step, got {n_steps}")
        if n_steps > horizon:
            warnings.warn(
                f"window {period!r} ({n_steps} steps) exceeds the forecast horizon ({horizon}); "
                "skipped",
                stacklevel=2,
            )
            continue
        window = fcst[fcst["step"] <= n_steps]
        summed = window.groupby(["category", "unique_id"], as_index=False).agg(
            predicted_units=("yhat", "sum"),
            lower_80=("lo_80", "sum"),
            upper_80=("hi_80", "sum"),
        )
        if window_totals is not None:
            bounds = window_totals.loc[
                window_totals["window"] == period, ["unique_id", "lo_80", "hi_80"]
            ].rename(columns={"lo_80": "lower_80", "hi_80": "upper_80"})
            summed = summed.drop(columns=["lower_80", "upper_80"]).merge(
                bounds, on="unique_id", how="left"
            )
        in_prev = (hist["ds"] < hist["start"]) & (hist["ds"] >= hist["start"] - offset * n_steps)
        previous = hist[in_prev].groupby("unique_id")["y"].sum()
        summed["previous_units"] = summed["unique_id"].map(previous).fillna(0.0)
        summed = summed.sort_values(
            ["category", "predicted_units", "unique_id"], ascending=[True, False, True]
        )
        summed["rank"] = summed.groupby("category").cumcount() + 1
        frames.append(summed[summed["rank"] <= top_n].assign(time_period=period))

    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RANKING_COLUMNS})
    out = pd.concat(frames, ignore_index=True).rename(columns={"unique_id": "product_id"})
    prev = out["previous_units"].to_numpy(dtype=float)
    pred = out["predicted_units"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(prev != 0, pred / prev - 1.0, np.nan)
    out["change_pct"] = change
    out["trend"] = np.select(
        [
            prev == 0,
            np.abs(change) < flat_threshold,
            change > 0,
        ],
        [np.where(pred > 0, "up", "flat"), "flat", "up"],
        default="down",
    )
    order = {name: i for i, name in enumerate(windows)}
    out = out.sort_values(
        ["category", "time_period", "rank"],
        key=lambda col: col.map(order) if col.name == "time_period" else col,
        ignore_index=True,
    )
    out["rank"] = out["rank"].astype("int64")
    return out[RANKING_COLUMNS]
