"""Top products per category and category outlook over the first weeks/months/year of the
forecast.

Both tables compare the forecast of a window of ``N`` periods (week = 1, month = 4, year = 52)
with the same number of actual periods

* just before the origin (``previous_units``, ``change_pct``, ``trend``), and
* one season earlier (``last_year_units``, ``change_vs_last_year_pct``): the periods
  ``[origin - season_length, origin - season_length + N)``.

``trend`` is ``"flat"`` when ``|change_pct| < flat_threshold``, else ``"up"``/``"down"``;
when ``previous_units`` is 0 it is ``"up"`` if anything is predicted, else ``"flat"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from forecast_pipeline.ml.metrics import attach_categories

__all__ = [
    "ACTIONS",
    "DEFAULT_WINDOWS",
    "OUTLOOK_COLUMNS",
    "RANKING_COLUMNS",
    "category_outlook",
    "top_products",
]

DEFAULT_WINDOWS: Mapping[str, int] = MappingProxyType({"week": 1, "month": 4, "year": 52})
ACTIONS: tuple[str, ...] = ("stock_up", "hold", "reduce")
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
    "unit_price",
    "predicted_revenue",
    "last_year_units",
    "change_vs_last_year_pct",
    "action",
    "cold_start",
]
OUTLOOK_COLUMNS = [
    "level",
    "category",
    "time_period",
    "predicted_units",
    "lower_80",
    "upper_80",
    "lower_95",
    "upper_95",
    "previous_units",
    "change_pct",
    "last_year_units",
    "change_vs_last_year_pct",
    "trend",
]
_OUTLOOK_LEVELS = ("category", "total")
_WINDOW_INPUT = ["level", "unique_id", "window", "n_steps", "yhat", "lo_80", "hi_80"]


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
    prices: pd.DataFrame | None = None,
    season_length: int = 52,
) -> pd.DataFrame:
    """Rank products within each category by predicted units over the first steps of the forecast.

    For each ``time_period`` name ``p`` with ``N = windows[p]`` steps (e.g. ``"month": 4``
    weeks), products are ranked by ``predicted_units`` = sum of ``yhat`` over forecast steps
    ``1..N`` (ties broken by product id), and the ``top_n`` best of each category are kept.
    The "start" of a product is its first forecast date (step 1).

    * ``lower_80``/``upper_80``: the 80 % interval of the window total, calibrated on backtest
      window totals, from ``window_totals`` (``unique_id``, ``window``, ``lo_80``, ``hi_80``:
      the product rows of :attr:`~forecast_pipeline.ml.engine.ForecastResult.windows`). Without
      it, the sums of the per-step bounds, which assume perfectly correlated errors and are
      wider than a calibrated window interval.
    * ``previous_units``: actual units over the ``N`` periods just before the start (periods
      missing from ``history`` count as 0).
    * ``change_pct``: ``predicted_units / previous_units - 1`` as a fraction (0.25 = +25 %),
      NaN when ``previous_units`` is 0.
    * ``trend``: ``"flat"`` when ``|change_pct| < flat_threshold``, else ``"up"``/``"down"``;
      when ``previous_units`` is 0 it is ``"up"`` if ``predicted_units > 0``, else ``"flat"``.
    * ``unit_price``: the product's last known price before its start (the last non-null
      ``price`` of ``prices`` with ``ds`` before the start), NaN when unknown or without
      ``prices``.
    * ``predicted_revenue``: ``predicted_units * unit_price``: assumes today's price holds
      over the whole window; NaN when the price is unknown.
    * ``last_year_units``: actual units over the same ``N`` periods one season earlier,
      ``[start - season_length, start - season_length + N)`` (missing periods count as 0).
      NaN when the product's history does not reach back that far (its first ``history``
      period is after the start of that window, or it has no history) or when that window
      does not end before the start (``season_length < N``).
    * ``change_vs_last_year_pct``: ``predicted_units / last_year_units - 1``, NaN when
      ``last_year_units`` is 0 or NaN.
    * ``action``: the trend, acted on only when the 80 % interval of the window total is
      confident about it. With ``prev = previous_units`` and ``t = flat_threshold``:

      - ``"stock_up"`` when ``trend == "up"`` and ``lower_80 >= prev * (1 - t)`` and
        ``lower_80 > 0``: even the pessimistic bound is no worse than flat (and sells
        something, which matters for products without previous sales);
      - ``"reduce"`` when ``trend == "down"`` and ``upper_80 <= prev * (1 + t)``: even the
        optimistic bound is no better than flat;
      - ``"hold"`` otherwise: flat trend, an interval that straddles the flat band on the
        wrong side, or a missing bound.

      With a calibrated interval each call is right with about 90 % probability (one side of
      an 80 % interval).
    * ``cold_start``: True when any of the product's forecast steps in the window is flagged
      ``cold_start`` (a category-share forecast); False when ``forecasts`` has no such column.

    A window longer than the forecast horizon is skipped with a warning. Products missing from
    ``categories`` are ranked in the category ``"unknown"``.

    Args:
        forecasts: product rows of :attr:`~forecast_pipeline.ml.engine.ForecastResult.steps`
            (``unique_id``, ``ds``, ``step``, ``yhat``, ``lo_80``, ``hi_80``, optionally
            ``cold_start``).
        history: the series the forecast was fitted on (``unique_id``, ``ds``, ``y``).
        categories: ``unique_id`` -> ``category``.
        top_n: products kept per (category, time_period).
        windows: time_period name -> number of forecast steps.
        flat_threshold: relative change below which the trend is ``"flat"``.
        freq: frequency of the series (steps are converted to dates with it).
        window_totals: calibrated window-total intervals (see above).
        prices: ``unique_id``, ``ds``, ``price`` per product and period, as
            :func:`~forecast_pipeline.ml.exogenous.period_prices` returns; ``None`` when the
            sales carry no prices.
        season_length: one season in periods of ``freq`` (52 for weekly series, 364 for
            daily ones).

    Returns:
        Columns :data:`RANKING_COLUMNS`, sorted by category, time_period (in ``windows``
        order) and rank.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    _check_settings(flat_threshold, season_length)
    offset = pd.tseries.frequencies.to_offset(freq)
    fcst = attach_categories(forecasts, categories)
    fcst["cold_start"] = fcst["cold_start"].eq(True) if "cold_start" in fcst.columns else False
    starts = fcst.loc[fcst["step"] == 1].set_index("unique_id")["ds"]
    horizon = int(fcst["step"].max()) if not fcst.empty else 0
    hist = history.loc[history["unique_id"].isin(starts.index), ["unique_id", "ds", "y"]]
    unit_price = _last_prices(prices, starts)

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
            cold_start=("cold_start", "any"),
        )
        if window_totals is not None:
            bounds = window_totals.loc[
                window_totals["window"] == period, ["unique_id", "lo_80", "hi_80"]
            ].rename(columns={"lo_80": "lower_80", "hi_80": "upper_80"})
            summed = summed.drop(columns=["lower_80", "upper_80"]).merge(
                bounds, on="unique_id", how="left"
            )
        past = _past_windows(hist, starts, offset, n_steps, season_length)
        summed = summed.join(past, on="unique_id")
        summed = summed.sort_values(
            ["category", "predicted_units", "unique_id"], ascending=[True, False, True]
        )
        summed["rank"] = summed.groupby("category").cumcount() + 1
        frames.append(summed[summed["rank"] <= top_n].assign(time_period=period))

    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RANKING_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out = _add_comparisons(out, flat_threshold)
    out["unit_price"] = out["unique_id"].map(unit_price).astype(float)
    out["predicted_revenue"] = out["predicted_units"] * out["unit_price"]
    out["action"] = _action(out, flat_threshold)
    out["cold_start"] = out["cold_start"].astype(bool)
    out = out.rename(columns={"unique_id": "product_id"})
    out = _sort(out, ["category", "time_period", "rank"], {"time_period": list(windows)})
    out["rank"] = out["rank"].astype("int64")
    return out[RANKING_COLUMNS]


def category_outlook(
    windows: pd.DataFrame,
    history: pd.DataFrame,
    *,
    flat_threshold: float = 0.05,
    freq: str = "W-MON",
    season_length: int = 52,
    periods: Mapping[str, int] = DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Forecast of every category and of the total over each window, against the past.

    For each ``time_period`` ``p`` of ``periods`` (``N = periods[p]`` steps) and each category
    and total series of ``windows``:

    * ``predicted_units``, ``lower_80``, ``upper_80``, ``lower_95``, ``upper_95``: the window
      total and its calibrated intervals (``yhat``, ``lo_80``, ``hi_80``, ``lo_95``,
      ``hi_95``).
    * ``previous_units``: actual units over the ``N`` periods just before the origin (the
      period after the last one of ``history``); missing periods count as 0.
    * ``change_pct``, ``trend``: as in :func:`top_products`.
    * ``last_year_units``, ``change_vs_last_year_pct``: as in :func:`top_products`, over
      ``[origin - season_length, origin - season_length + N)``; NaN when the series' history
      starts after that window does.

    Args:
        windows: :attr:`~forecast_pipeline.ml.engine.ForecastResult.windows` (``level``,
            ``unique_id``, ``window``, ``n_steps``, ``yhat``, ``lo_80``, ``hi_80``,
            ``lo_95``, ``hi_95``); product rows are ignored.
        history: the hierarchy history (``level``, ``unique_id``, ``ds``, ``y``, as
            :func:`~forecast_pipeline.ml.reconciliation.aggregate_levels` returns); only its
            category and total rows are read.
        flat_threshold: relative change below which the trend is ``"flat"``.
        freq: frequency of the series.
        season_length: one season in periods of ``freq``.
        periods: time_period name -> number of steps; every name must be a window of
            ``windows`` with that many steps.

    Returns:
        Columns :data:`OUTLOOK_COLUMNS` (``category`` is the category name, ``"total"`` for
        the total), sorted by level (categories first, then the total), category and
        time_period (in ``periods`` order).

    Raises:
        ValueError: on missing columns, a period absent from ``windows`` or with another
            number of steps, duplicated window rows, or a history without category or total
            rows.
    """
    _check_settings(flat_threshold, season_length)
    _require(windows, [*_WINDOW_INPUT, "lo_95", "hi_95"], "windows")
    _require(history, ["level", "unique_id", "ds", "y"], "history")
    offset = pd.tseries.frequencies.to_offset(freq)
    agg = windows[windows["level"].isin(_OUTLOOK_LEVELS)]
    if agg.duplicated(["level", "unique_id", "window"]).any():
        raise ValueError("windows has duplicated (level, unique_id, window) rows")
    available = agg.groupby("window")["n_steps"].unique()
    unknown = [p for p in periods if p not in available.index]
    if unknown:
        raise ValueError(
            f"periods {unknown} have no category or total rows in windows "
            f"(available: {sorted(available.index)})"
        )
    wrong = {p: n for p, n in periods.items() if list(available[p]) != [n]}
    if wrong:
        found = {p: sorted(int(n) for n in available[p]) for p in wrong}
        raise ValueError(f"periods {wrong} do not match the n_steps of windows {found}")
    hist = history.loc[history["level"].isin(_OUTLOOK_LEVELS), ["level", "unique_id", "ds", "y"]]
    if hist.empty:
        raise ValueError("history has no category or total rows")
    origin = pd.Timestamp(hist["ds"].max()) + offset

    frames = []
    for level in _OUTLOOK_LEVELS:
        level_hist = hist[hist["level"] == level]
        for period, n_steps in periods.items():
            part = agg[(agg["level"] == level) & (agg["window"] == period)]
            origins = pd.Series(origin, index=pd.Index(part["unique_id"], name="unique_id"))
            past = _past_windows(level_hist, origins, offset, n_steps, season_length)
            frames.append(part.join(past, on="unique_id").assign(time_period=period))
    out = pd.concat(frames, ignore_index=True).rename(
        columns={
            "unique_id": "category",
            "yhat": "predicted_units",
            "lo_80": "lower_80",
            "hi_80": "upper_80",
            "lo_95": "lower_95",
            "hi_95": "upper_95",
        }
    )
    out = _add_comparisons(out, flat_threshold)
    out = _sort(
        out,
        ["level", "category", "time_period"],
        {"level": list(_OUTLOOK_LEVELS), "time_period": list(periods)},
    )
    return out[OUTLOOK_COLUMNS]


def _check_settings(flat_threshold: float, season_length: int) -> None:
    if flat_threshold < 0:
        raise ValueError(f"flat_threshold must be >= 0, got {flat_threshold}")
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")


def _require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _past_windows(
    hist: pd.DataFrame,
    origins: pd.Series,
    offset: pd.DateOffset,
    n_steps: int,
    season_length: int,
) -> pd.DataFrame:
    """``previous_units`` and ``last_year_units`` of each series of ``origins`` (``unique_id``
    -> origin) for a window of ``n_steps`` (see :func:`top_products`), indexed like
    ``origins``."""
    return pd.DataFrame(
        {
            "previous_units": _past_units(hist, origins, offset, n_steps, n_steps),
            "last_year_units": _past_units(
                hist, origins, offset, season_length, n_steps, require_history=True
            ),
        }
    )


def _past_units(
    hist: pd.DataFrame,
    origins: pd.Series,
    offset: pd.DateOffset,
    lag: int,
    n_steps: int,
    *,
    require_history: bool = False,
) -> pd.Series:
    """Actual units of each series over ``[origin - lag, origin - lag + n_steps)`` periods.

    Periods missing from ``hist`` (``unique_id``, ``ds``, ``y``) count as 0. With
    ``require_history`` the sum is NaN when the series' first period is after the window start
    (or it has no history) and when the window does not end by the origin.
    """
    dates = pd.DatetimeIndex(origins.dropna().unique())
    first_day = {o: o - offset * lag for o in dates}
    end_day = {o: o if lag == n_steps else first_day[o] + offset * n_steps for o in dates}
    lo = origins.map(first_day)
    hi = origins.map(end_day)
    row_lo = hist["unique_id"].map(lo)
    row_hi = hist["unique_id"].map(hi)
    inside = (hist["ds"] >= row_lo) & (hist["ds"] < row_hi)
    sums = hist[inside].groupby("unique_id")["y"].sum()
    out = pd.Series(origins.index.map(sums), index=origins.index, dtype=float).fillna(0.0)
    if require_history:
        first = origins.index.map(hist.groupby("unique_id")["ds"].min())
        reached = (first <= lo.to_numpy()) & (hi.to_numpy() <= origins.to_numpy())
        out = out.where(reached)
    return out


def _last_prices(prices: pd.DataFrame | None, starts: pd.Series) -> pd.Series:
    """Last non-null ``price`` of each product before its start (``unique_id`` -> date)."""
    if prices is None:
        return pd.Series(dtype=float)
    _require(prices, ["unique_id", "ds", "price"], "prices")
    known = prices.loc[
        prices["unique_id"].isin(starts.index) & prices["price"].notna(),
        ["unique_id", "ds", "price"],
    ]
    known = known[known["ds"] < known["unique_id"].map(starts)]
    return known.sort_values(["unique_id", "ds"]).groupby("unique_id")["price"].last()


def _change(predicted: pd.Series, base: pd.Series) -> np.ndarray:
    """``predicted / base - 1``, NaN where ``base`` is 0 or NaN."""
    pred = predicted.to_numpy(dtype=float)
    ref = base.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ref != 0, pred / ref - 1.0, np.nan)


def _add_comparisons(frame: pd.DataFrame, flat_threshold: float) -> pd.DataFrame:
    """Add ``change_pct``, ``change_vs_last_year_pct`` and ``trend`` from ``predicted_units``,
    ``previous_units`` and ``last_year_units`` (rules in the module docstring)."""
    out = frame.copy()
    change = _change(out["predicted_units"], out["previous_units"])
    out["change_pct"] = change
    out["change_vs_last_year_pct"] = _change(out["predicted_units"], out["last_year_units"])
    prev = out["previous_units"].to_numpy(dtype=float)
    pred = out["predicted_units"].to_numpy(dtype=float)
    out["trend"] = np.select(
        [prev == 0, np.abs(change) < flat_threshold, change > 0],
        [np.where(pred > 0, "up", "flat"), "flat", "up"],
        default="down",
    )
    return out


def _action(frame: pd.DataFrame, flat_threshold: float) -> np.ndarray:
    """``stock_up`` / ``reduce`` / ``hold`` (rule in :func:`top_products`)."""
    prev = frame["previous_units"].to_numpy(dtype=float)
    lower = frame["lower_80"].to_numpy(dtype=float)
    upper = frame["upper_80"].to_numpy(dtype=float)
    trend = frame["trend"].to_numpy()
    stock_up = (trend == "up") & (lower >= prev * (1.0 - flat_threshold)) & (lower > 0)
    reduce = (trend == "down") & (upper <= prev * (1.0 + flat_threshold))
    return np.select([stock_up, reduce], ["stock_up", "reduce"], default="hold")


def _sort(frame: pd.DataFrame, by: list[str], orders: Mapping[str, list[str]]) -> pd.DataFrame:
    """``frame`` sorted by ``by``; the columns of ``orders`` in the given order of values."""
    ranks = {col: {name: i for i, name in enumerate(names)} for col, names in orders.items()}
    return frame.sort_values(
        by,
        key=lambda col: col.map(ranks[col.name]) if col.name in ranks else col,
        ignore_index=True,
    )
