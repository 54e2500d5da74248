"""Forecast configuration shared by every step of the model layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["ForecastSpec", "default_lgbm_params", "default_xgb_params"]


def default_lgbm_params() -> dict[str, Any]:
    """Default LightGBM hyper-parameters: small, fast and deterministic.

    ``random_state``, ``n_jobs`` and ``verbosity`` are not part of this mapping: they are always
    taken from :class:`ForecastSpec` (``seed``, ``num_threads``) and forced to ``-1`` respectively.
    """
    return {
        "n_estimators": 100,
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_child_samples": 20,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "deterministic": True,
        "force_row_wise": True,
    }


def default_xgb_params() -> dict[str, Any]:
    """Default XGBoost hyper-parameters (histogram trees, shallow, deterministic).

    ``random_state`` and ``n_jobs`` come from :class:`ForecastSpec` like for LightGBM.
    """
    return {
        "n_estimators": 150,
        "learning_rate": 0.08,
        "max_depth": 6,
        "min_child_weight": 5.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "tree_method": "hist",
    }


@dataclass(frozen=True)
class ForecastSpec:
    """Everything that defines how series are modelled, backtested and forecast.

    The defaults describe the weekly grain (weeks labelled by their Monday, one year ahead);
    :meth:`daily` gives the daily grain.

    Attributes:
        freq: pandas frequency alias of the series.
        horizon: number of steps forecast (and scored in each backtest window).
        season_length: seasonal period in steps (seasonal-naive baseline, MASE scale).
        n_windows: number of rolling-origin backtest windows.
        step_size: steps between consecutive backtest cutoffs.
        lags: target lags used as LightGBM features.
        rolling_windows: window sizes of rolling means of the lag-1 target (LightGBM features).
        date_features: calendar features (pandas ``DatetimeIndex`` attribute names; ``"week"``
            is the ISO week number). Yearly features (week, month) only help with at least
            two years of history: each value must be seen more than once in training.
        lgbm_params: the complete LightGBM hyper-parameters (default
            :func:`default_lgbm_params`; to change one, pass
            ``{**default_lgbm_params(), "n_estimators": 50}``). ``seed`` and ``num_threads``
            override any ``random_state``/``n_jobs`` given here; ``verbosity`` is always -1.
        xgb_params: the complete XGBoost hyper-parameters (default :func:`default_xgb_params`).
        country: ISO country code of the public holidays used as calendar features.
        calendar_features: the holiday and retail-event features of
            :mod:`forecast_pipeline.ml.calendar` given to the global models (``None``: all).
        product_models: models fitted on every product series (see
            :mod:`forecast_pipeline.ml.models` for the names).
        aggregate_models: models fitted directly on the category and total series; at those
            levels every product model also contributes its bottom-up sum.
        reconciliation: how the levels are made to add up: ``"middle_out"`` (the category
            forecasts are kept, the total is reconciled with them by variance-weighted least
            squares and products are scaled to their category) or a method of
            :data:`~forecast_pipeline.ml.reconciliation.RECONCILIATION_METHODS`.
        cold_start_steps: products with fewer steps of history than this at the origin get the
            category-based fallback forecast (and the ``cold_start`` flag).
        interval_windows: named windows (``name -> number of steps from the origin``) whose
            totals get their own calibrated intervals, e.g. the week, month and year ahead;
            windows longer than ``horizon`` are left out.
        max_train_steps: the global models learn from at most this many of the latest steps
            of each series (plus the lags they need); ``None`` keeps the whole history.
        max_train_series: the global models learn from a seeded sample of at most this many
            products and forecast every product from its own history (one model across
            products generalises to the rest; this bounds the training cost of very large
            catalogues); ``None`` trains on all of them.
        num_threads: threads for LightGBM, XGBoost and mlforecast feature computation.
        seed: random seed for every stochastic component.
    """

    freq: str = "W-MON"
    horizon: int = 52
    season_length: int = 52
    n_windows: int = 3
    step_size: int = 4
    lags: tuple[int, ...] = (1, 2, 3, 4, 52)
    rolling_windows: tuple[int, ...] = (4, 13)
    date_features: tuple[str, ...] = ("week", "month")
    lgbm_params: Mapping[str, Any] = field(default_factory=default_lgbm_params, hash=False)
    xgb_params: Mapping[str, Any] = field(default_factory=default_xgb_params, hash=False)
    country: str = "US"
    calendar_features: tuple[str, ...] | None = None
    product_models: tuple[str, ...] = (
        "seasonal_naive",
        "moving_average",
        "tsb",
        "lightgbm",
        "xgboost",
    )
    aggregate_models: tuple[str, ...] = ("seasonal_naive", "auto_ets", "prophet")
    cold_start_steps: int = 8
    reconciliation: str = "middle_out"
    interval_windows: Mapping[str, int] = field(
        default_factory=lambda: {"week": 1, "month": 4, "year": 52}, hash=False
    )
    max_train_steps: int | None = None
    max_train_series: int | None = 20_000
    num_threads: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        # Copy mutable inputs so the spec cannot be changed through a caller's reference.
        object.__setattr__(self, "lags", tuple(int(lag) for lag in self.lags))
        object.__setattr__(self, "rolling_windows", tuple(int(w) for w in self.rolling_windows))
        object.__setattr__(self, "date_features", tuple(self.date_features))
        object.__setattr__(self, "lgbm_params", dict(self.lgbm_params))
        object.__setattr__(self, "xgb_params", dict(self.xgb_params))
        object.__setattr__(self, "product_models", tuple(self.product_models))
        if self.calendar_features is not None:
            object.__setattr__(self, "calendar_features", tuple(self.calendar_features))
        object.__setattr__(self, "aggregate_models", tuple(self.aggregate_models))
        pd.tseries.frequencies.to_offset(self.freq)  # raises on an unknown alias
        for name in (
            "horizon",
            "season_length",
            "n_windows",
            "step_size",
            "num_threads",
            "cold_start_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ForecastSpec.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lags or min(self.lags) < 1:
            raise ValueError(f"ForecastSpec.lags must be non-empty positive ints, got {self.lags}")
        if any(w < 1 for w in self.rolling_windows):
            raise ValueError(f"ForecastSpec.rolling_windows must be >= 1: {self.rolling_windows}")
        if self.reconciliation not in ("middle_out", "wls_var", "wls_struct", "bottom_up"):
            raise ValueError(f"unknown ForecastSpec.reconciliation {self.reconciliation!r}")
        if not self.product_models:
            raise ValueError("ForecastSpec.product_models must name at least one model")
        bad = {k: v for k, v in self.interval_windows.items() if v < 1}
        if bad:
            raise ValueError(f"ForecastSpec.interval_windows must span >= 1 step: {bad}")
        # Windows longer than the horizon cannot be forecast: they are left out.
        windows = {k: int(v) for k, v in self.interval_windows.items() if v <= self.horizon}
        object.__setattr__(self, "interval_windows", windows)
        if self.max_train_series is not None and self.max_train_series < 1:
            raise ValueError(
                f"ForecastSpec.max_train_series must be >= 1, got {self.max_train_series}"
            )
        if self.max_train_steps is not None and self.max_train_steps < 1:
            raise ValueError(
                f"ForecastSpec.max_train_steps must be >= 1, got {self.max_train_steps}"
            )

    @classmethod
    def daily(cls, **overrides: Any) -> ForecastSpec:
        """Daily grain: 28 days ahead, weekly seasonality, one backtest cutoff per week.

        Keyword arguments override individual fields, e.g. ``ForecastSpec.daily(horizon=14)``.
        """
        params: dict[str, Any] = {
            "freq": "D",
            "horizon": 28,
            "season_length": 7,
            "step_size": 7,
            "lags": (1, 7, 14, 28),
            "rolling_windows": (7, 28),
            # Only the weekday: with about a year of daily history, week-of-year/month values
            # are each seen once and the model overfits them (measured on synthetic data).
            "date_features": ("dayofweek",),
            "cold_start_steps": 28,
            # The holiday count and event-day flags only: distances to yearly events, like
            # week-of-year, are seen once in a year of daily history and get overfit.
            "calendar_features": (
                "holiday_days",
                "in_period_black_friday",
                "in_period_cyber_monday",
                "in_period_christmas",
                "in_period_easter",
            ),
            "interval_windows": {"day": 1, "week": 7, "month": 28},
        }
        params.update(overrides)
        return cls(**params)

    @property
    def offset(self) -> pd.DateOffset:
        """The pandas offset of :attr:`freq`."""
        return pd.tseries.frequencies.to_offset(self.freq)
