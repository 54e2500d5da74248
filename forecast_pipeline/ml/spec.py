"""Forecast configuration shared by every step of the model layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["ForecastSpec", "default_lgbm_params"]


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
        num_threads: threads for LightGBM and mlforecast feature computation.
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
    num_threads: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        # Copy mutable inputs so the spec cannot be changed through a caller's reference.
        object.__setattr__(self, "lags", tuple(int(lag) for lag in self.lags))
        object.__setattr__(self, "rolling_windows", tuple(int(w) for w in self.rolling_windows))
        object.__setattr__(self, "date_features", tuple(self.date_features))
        object.__setattr__(self, "lgbm_params", dict(self.lgbm_params))
        pd.tseries.frequencies.to_offset(self.freq)  # raises on an unknown alias
        for name in ("horizon", "season_length", "n_windows", "step_size", "num_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"ForecastSpec.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lags or min(self.lags) < 1:
            raise ValueError(f"ForecastSpec.lags must be non-empty positive ints, got {self.lags}")
        if any(w < 1 for w in self.rolling_windows):
            raise ValueError(f"ForecastSpec.rolling_windows must be >= 1: {self.rolling_windows}")

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
        }
        params.update(overrides)
        return cls(**params)

    @property
    def offset(self) -> pd.DateOffset:
        """The pandas offset of :attr:`freq`."""
        return pd.tseries.frequencies.to_offset(self.freq)
