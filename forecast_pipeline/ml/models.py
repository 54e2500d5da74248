"""The two models of the walking skeleton and how they are fitted and forecast.

* :data:`BASELINE` - statsforecast ``SeasonalNaive`` (the value one season earlier). For series
  with less than one season of history the missing seasonal positions fall back to the last
  observed value (statsforecast ``Naive``).
* :data:`GLOBAL_GBM` - one LightGBM model shared by all series, trained with mlforecast on
  target lags, rolling means of the lag-1 target and calendar features, forecasting
  recursively. Each series is standardised with its own mean and standard deviation
  (``LocalStandardScaler``, fitted on the training data only) so products of very different
  size share one model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from mlforecast.target_transforms import LocalStandardScaler
from statsforecast import StatsForecast
from statsforecast.models import Naive, SeasonalNaive

from forecast_pipeline.ml.spec import ForecastSpec

__all__ = ["BASELINE", "GLOBAL_GBM", "MODELS", "forecast_models", "lgbm_regressor"]

BASELINE = "seasonal_naive"
GLOBAL_GBM = "lightgbm"
MODELS: tuple[str, ...] = (BASELINE, GLOBAL_GBM)

_NAIVE = "_naive"


def lgbm_regressor(spec: ForecastSpec) -> lgb.LGBMRegressor:
    """The LightGBM regressor described by ``spec`` (seeded, silent, ``spec.num_threads``)."""
    params: dict[str, Any] = dict(spec.lgbm_params)
    params.update(random_state=spec.seed, n_jobs=spec.num_threads, verbosity=-1)
    return lgb.LGBMRegressor(**params)


def forecast_models(
    train: pd.DataFrame, spec: ForecastSpec, models: Sequence[str] = MODELS
) -> pd.DataFrame:
    """Fit ``models`` on ``train`` and forecast ``spec.horizon`` steps after each series' end.

    Only ``train`` is seen by the models: this is the single entry point used both by the
    backtest (with data up to a cutoff) and by the final forecast (with all data).

    Args:
        train: long frame ``unique_id``, ``ds``, ``y`` without gaps.
        spec: forecast configuration.
        models: names among :data:`MODELS`.

    Returns:
        ``unique_id``, ``ds`` and one column of raw (unclipped) point forecasts per model,
        sorted by ``unique_id``, ``ds``.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; expected a subset of {list(MODELS)}")
    if not models:
        raise ValueError("no model requested")
    train = train.loc[:, ["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    out: pd.DataFrame | None = None
    for name in models:
        fcst = _baseline_forecast(train, spec) if name == BASELINE else _gbm_forecast(train, spec)
        out = fcst if out is None else out.merge(fcst, on=["unique_id", "ds"], how="outer")
    assert out is not None
    return out.sort_values(["unique_id", "ds"], ignore_index=True)


def _baseline_forecast(train: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    sf = StatsForecast(
        models=[
            SeasonalNaive(season_length=spec.season_length, alias=BASELINE),
            Naive(alias=_NAIVE),
        ],
        freq=spec.freq,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        # "Historical data (n) is shorter than season_length": handled by the Naive fallback.
        warnings.filterwarnings("ignore", message="Historical data", category=UserWarning)
        fcst = sf.forecast(df=train, h=spec.horizon)
    fcst[BASELINE] = fcst[BASELINE].fillna(fcst[_NAIVE])
    return fcst[["unique_id", "ds", BASELINE]]


def _gbm_forecast(train: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    mlf = MLForecast(
        models={GLOBAL_GBM: lgbm_regressor(spec)},
        freq=spec.freq,
        lags=list(spec.lags),
        lag_transforms={1: [RollingMean(window_size=w) for w in spec.rolling_windows]},
        date_features=list(spec.date_features),
        target_transforms=[LocalStandardScaler()],
        num_threads=spec.num_threads,
    )
    with warnings.catch_warnings():
        # Series shorter than the largest lag give no training rows and forecast with missing
        # lag features (LightGBM handles NaN); mlforecast warns about both.
        warnings.filterwarnings("ignore", message="The following series were dropped")
        warnings.filterwarnings("ignore", message="Found null values")
        mlf.fit(train, static_features=[])
        fcst = mlf.predict(h=spec.horizon)
    fcst[GLOBAL_GBM] = fcst[GLOBAL_GBM].astype("float64")
    if not np.isfinite(fcst[GLOBAL_GBM]).all():
        raise RuntimeError("LightGBM produced non-finite forecasts")
    return fcst[["unique_id", "ds", GLOBAL_GBM]]
