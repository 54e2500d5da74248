"""Exogenous features of the global models: prices, promotions and external indicators.

Every feature has a value for each training period (``unique_id``, ``ds``) and one for each
future period, built only from what is known at the forecast origin:

* ``price``: units-weighted mean selling price of the product in the period (the plain mean
  when no units were sold; carried forward over periods without a price). In the future it is
  the last known price: the forecast assumes today's price holds.
* ``relative_price``: ``price`` divided by the highest price of the product over the last
  :data:`PRICE_MEMORY` periods (this one included), so a discount shows up as a value below 1
  whatever the product's price level. It only looks back, never forward.
* ``promo_share``: share of the product's sales rows of the period that were on promotion (0
  when unknown). Future promotions are not known, so the future value is the product's mean
  share over the last :data:`PROMO_MEMORY` periods before the origin (its usual intensity).
* ``ind_<series>_yoy``: for each external indicator, its value as known at the start of the
  period divided by its value as known one season earlier, minus 1 (a year-over-year change
  that does not trend the way raw levels do). "As known" follows the publication lags of
  :mod:`forecast_pipeline.indicators.point_in_time`. In the future every period gets the value
  known at the origin.

The frames here never look past the origin they are given: :func:`future_exogenous` reads
only rows with ``ds < origin`` and indicator values published on or before the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "PRICE_FEATURES",
    "PRICE_MEMORY",
    "PROMO_MEMORY",
    "Exogenous",
    "future_exogenous",
    "indicator_yoy",
    "period_prices",
    "relative_price",
]

PRICE_FEATURES = ("price", "relative_price", "promo_share")
PROMO_MEMORY = 13
PRICE_MEMORY = 13


@dataclass(frozen=True)
class Exogenous:
    """Exogenous inputs of the global models.

    Attributes:
        per_series: ``unique_id``, ``ds`` and per-series features (:data:`PRICE_FEATURES`)
            for the training periods, or ``None`` when the sales carry no prices.
        shared: ``ds`` and features shared by every series (indicator changes) for the
            training periods *and* the forecast origins, or ``None``.
    """

    per_series: pd.DataFrame | None = None
    shared: pd.DataFrame | None = None

    @property
    def columns(self) -> list[str]:
        """Names of the exogenous feature columns, in the order the models see them."""
        cols: list[str] = []
        if self.per_series is not None:
            cols += [c for c in self.per_series.columns if c not in ("unique_id", "ds")]
        if self.shared is not None:
            cols += [c for c in self.shared.columns if c != "ds"]
        return cols

    def training_frame(self, train: pd.DataFrame) -> pd.DataFrame:
        """``train`` (``unique_id``, ``ds``, ``y``) with the features of its periods added.

        Missing values are left as NaN (the tree models handle them).
        """
        out = train.loc[:, ["unique_id", "ds", "y"]]
        if self.per_series is not None:
            out = out.merge(self.per_series, on=["unique_id", "ds"], how="left")
        if self.shared is not None:
            out = out.merge(self.shared, on="ds", how="left")
        return out

    def restricted(self, before: pd.Timestamp) -> Exogenous:
        """The per-series part restricted to periods before ``before`` (a backtest origin).

        The shared part is already point in time (each row holds what was known at its
        ``ds``), so it is kept whole: rows after ``before`` are only ever used as of their
        own date, never to build the features of an earlier period.
        """
        per_series = self.per_series
        if per_series is not None:
            per_series = per_series[per_series["ds"] < before]
        return Exogenous(per_series=per_series, shared=self.shared)


def period_prices(daily: pd.DataFrame, series: pd.DataFrame, freq: str) -> pd.DataFrame | None:
    """Per-period ``price``, ``relative_price`` and ``promo_share`` of every series period.

    Args:
        daily: raw daily sales with ``date``, ``product_id``, ``units`` and optionally
            ``unit_price`` and ``on_promotion``.
        series: the modelled series (``unique_id``, ``ds``): one output row per row of it.
        freq: ``"W-MON"`` (periods labelled by their Monday) or ``"D"``.

    Returns:
        ``unique_id``, ``ds``, :data:`PRICE_FEATURES`; ``None`` when ``daily`` has no price
        at all.
    """
    if "unit_price" not in daily.columns or daily["unit_price"].isna().all():
        return None
    frame = daily.loc[:, ["date", "product_id", "units", "unit_price"]].copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.normalize()
    if freq == "W-MON":
        frame["ds"] = frame["date"] - pd.to_timedelta(frame["date"].dt.dayofweek, unit="D")
    elif freq == "D":
        frame["ds"] = frame["date"]
    else:
        raise ValueError(f"freq must be 'W-MON' or 'D', got {freq!r}")
    promo = daily["on_promotion"] if "on_promotion" in daily.columns else None
    frame["promo"] = 0.0 if promo is None else promo.astype("float64").fillna(0.0).to_numpy()
    priced = frame["unit_price"].notna()
    frame["units_w"] = frame["units"].clip(lower=0).where(priced, 0.0)
    frame["revenue_w"] = frame["unit_price"].fillna(0.0) * frame["units_w"]
    grouped = frame.assign(n_priced=priced.astype(float), price_sum=frame["unit_price"].fillna(0))
    agg = grouped.groupby(["product_id", "ds"], as_index=False).agg(
        units_w=("units_w", "sum"),
        revenue_w=("revenue_w", "sum"),
        n_priced=("n_priced", "sum"),
        price_sum=("price_sum", "sum"),
        promo_share=("promo", "mean"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = agg["revenue_w"] / agg["units_w"]
        plain = agg["price_sum"] / agg["n_priced"]
    agg["price"] = weighted.where(agg["units_w"] > 0, plain)
    agg = agg.rename(columns={"product_id": "unique_id"})[
        ["unique_id", "ds", "price", "promo_share"]
    ]
    out = series.loc[:, ["unique_id", "ds"]].merge(agg, on=["unique_id", "ds"], how="left")
    out = out.sort_values(["unique_id", "ds"], ignore_index=True)
    out["price"] = out.groupby("unique_id")["price"].ffill()
    out["promo_share"] = out["promo_share"].fillna(0.0)
    out["relative_price"] = relative_price(out)
    return out[["unique_id", "ds", *PRICE_FEATURES]]


def relative_price(prices: pd.DataFrame) -> pd.Series:
    """``price`` over its highest value in the last :data:`PRICE_MEMORY` periods of the same
    product (this one included), aligned with ``prices`` (``unique_id``, ``ds``, ``price``,
    sorted by ``unique_id``, ``ds``, default index)."""
    recent_max = (
        prices.groupby("unique_id")["price"]
        .rolling(PRICE_MEMORY, min_periods=1)
        .max()
        .reset_index(level=0, drop=True)
    )
    return prices["price"] / recent_max.where(recent_max > 0)


def indicator_yoy(
    observations: pd.DataFrame, dates: pd.DatetimeIndex | pd.Series, season: pd.DateOffset
) -> pd.DataFrame | None:
    """Year-over-year change of each indicator as known at each date (see module docstring).

    Args:
        observations: indicator observations with ``published_date`` (the warehouse table).
        dates: the period starts (training periods and forecast origins).
        season: one season (52 weeks or 364 days), the distance of the comparison.

    Returns:
        ``ds`` and one ``ind_<series>_yoy`` column per indicator; ``None`` without observations.
    """
    from forecast_pipeline.indicators.point_in_time import indicator_features

    if observations is None or observations.empty:
        return None
    dates = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).drop_duplicates().sort_values())
    series = sorted(observations["series_id"].astype(str).unique())
    now = indicator_features(observations, dates, series)
    then = indicator_features(observations, dates - season, series)
    out = pd.DataFrame({"ds": dates})
    for col in now.columns:
        if col == "origin" or col.endswith("_age_days"):
            continue
        current = now[col].to_numpy(dtype=float)
        previous = then[col].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(previous != 0, current / previous - 1.0, np.nan)
        out[f"{col}_yoy"] = change
    return out


def future_exogenous(
    exog: Exogenous, future: pd.DataFrame, origin: pd.Timestamp
) -> pd.DataFrame | None:
    """Feature values for the future periods ``future`` (``unique_id``, ``ds``), known at
    ``origin`` (the first forecast period).

    Returns ``unique_id``, ``ds`` and :attr:`Exogenous.columns`, or ``None`` when there are no
    exogenous features.
    """
    if not exog.columns:
        return None
    out = future.loc[:, ["unique_id", "ds"]].copy()
    if exog.per_series is not None:
        known = exog.per_series[exog.per_series["ds"] < origin].sort_values(["unique_id", "ds"])
        grouped = known.groupby("unique_id", sort=True)
        latest = grouped[["price", "relative_price"]].last()
        recent = grouped.tail(PROMO_MEMORY)
        latest["promo_share"] = recent.groupby("unique_id", sort=True)["promo_share"].mean()
        out = out.merge(latest.reset_index(), on="unique_id", how="left")
    if exog.shared is not None:
        shared = exog.shared[exog.shared["ds"] <= origin].sort_values("ds")
        if shared.empty:
            values = {c: np.nan for c in shared.columns if c != "ds"}
        else:
            values = shared.iloc[-1].drop("ds").to_dict()
        out = out.assign(**values)
    return out[["unique_id", "ds", *exog.columns]]
