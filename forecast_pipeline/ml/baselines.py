"""Statistical baselines fitted one series at a time with statsforecast.

Every model forecasts ``spec.horizon`` steps after the end of each series and gives one output
column named by its constant. Forecasts are raw (not clipped at zero).

* :data:`SEASONAL_NAIVE` - the value one season (``spec.season_length`` steps) earlier
  (``SeasonalNaive``). Series with less than one season of history repeat their last value
  (``Naive``).
* :data:`MOVING_AVERAGE` - the mean of the last :func:`moving_average_window` values
  (``WindowAverage``): the last 4 weeks of weekly data, the last 7 days of daily data. Series
  shorter than the window use the mean of all their values (``HistoricAverage``).
* :data:`AUTO_ETS` - exponential smoothing on the seasonally adjusted series (``MSTL``): an STL
  decomposition with period ``spec.season_length`` removes the seasonal component, ``AutoETS``
  with ``model="ZZN"`` (additive or multiplicative error; no, additive or damped trend; chosen
  by AICc) forecasts the rest, and the last season of the seasonal component is repeated on
  top. The STL smoothers are evaluated every few points (the default jumps of R's ``stl``,
  :func:`stl_jumps`): the decomposition is about three times faster, the forecasts as accurate.
  Why not ``AutoETS(season_length=52)``: statsforecast does fit seasonal ETS with a period of
  52 (R's ``ets`` refuses periods above 24; statsforecast only skips its interval simulation),
  but the 51 extra initial seasonal states make AICc reject every seasonal model on three
  years of weekly data, so the yearly pattern is silently dropped, and it is about 13 times
  slower. Measured on the weekly Superstore quantities (52 weeks ahead, WAPE averaged over
  three cutoffs, categories / sub-categories): this model 0.299 / 0.545, ``AutoETS`` with
  period 52 0.521 / 0.587, non-seasonal ``AutoETS`` 0.644 / 0.587, seasonal naive 0.362 /
  0.610. Series with fewer than two seasons of history (or a ``season_length`` of 1) get
  ``AutoETS(model="ZZN")`` on the raw series, without seasonality; series with fewer than
  :data:`MIN_ETS_OBSERVATIONS` points, which ETS cannot fit, get the moving average.
* :data:`TSB` - Teunter-Syntetos-Babai for intermittent demand: simple exponential smoothing
  of the non-zero demand sizes (``alpha_d`` = :data:`TSB_ALPHA_DEMAND`) times simple
  exponential smoothing of the probability of a non-zero value, updated every period
  (``alpha_p`` = :data:`TSB_ALPHA_PROBABILITY`). Unlike Croston, ADIDA or IMAPA the forecast
  decays while a product does not sell, so discontinued products fade out. The smoothing
  constants were chosen on the weekly product series of the Superstore sample (97.5% zero
  weeks), where a small ``alpha_p`` forecasts best.

Any value a model cannot produce is replaced on purpose: seasonal naive by naive, auto ETS and
TSB by the moving average. When auto ETS fails on a series long enough to fit it, a
:class:`BaselineFallbackWarning` names the number of series affected.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import (
    MSTL,
    AutoETS,
    HistoricAverage,
    Naive,
    NaNModel,
    SeasonalNaive,
    WindowAverage,
)
from statsforecast.models import TSB as TSBModel

from forecast_pipeline.ml.spec import ForecastSpec

__all__ = [
    "AUTO_ETS",
    "BASELINE_MODELS",
    "MIN_ETS_OBSERVATIONS",
    "MOVING_AVERAGE",
    "SEASONAL_NAIVE",
    "TSB",
    "TSB_ALPHA_DEMAND",
    "TSB_ALPHA_PROBABILITY",
    "BaselineFallbackWarning",
    "baseline_forecasts",
    "moving_average_window",
    "stl_jumps",
]

SEASONAL_NAIVE = "seasonal_naive"
MOVING_AVERAGE = "moving_average"
AUTO_ETS = "auto_ets"
TSB = "tsb"
BASELINE_MODELS: tuple[str, ...] = (SEASONAL_NAIVE, MOVING_AVERAGE, AUTO_ETS, TSB)

TSB_ALPHA_DEMAND = 0.2
TSB_ALPHA_PROBABILITY = 0.02
MIN_ETS_OBSERVATIONS = 7  # AutoETS raises "tiny datasets" below 7 points

_NAIVE = "_naive"
_HISTORIC = "_historic_average"
_KEYS = ["unique_id", "ds"]
# Seasonal LOESS window of statsforecast's ``mstl`` for a single period (7 + 4 * 1).
_STL_SEASONAL_WINDOW = 11


class BaselineFallbackWarning(UserWarning):
    """A baseline model failed on some series; their forecasts are the moving average."""


def moving_average_window(season_length: int) -> int:
    """Number of trailing values averaged by :data:`MOVING_AVERAGE`.

    One full season when it is short (at most 13 steps: daily data with ``season_length`` 7
    averages the last 7 days, so the weekday pattern cancels out); otherwise a thirteenth of
    the season, about a month of a year (weekly data with ``season_length`` 52: the last 4
    weeks).
    """
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    if season_length <= 13:
        return season_length
    return max(1, round(season_length / 13))


def stl_jumps(period: int) -> dict[str, int]:
    """STL jump settings of :data:`AUTO_ETS`: R ``stl``'s defaults, ``ceil(window / 10)``.

    The windows are statsmodels' defaults for ``period`` with the seasonal window of 11 used by
    statsforecast's ``MSTL``; for ``period`` 52 the jumps are 2 (seasonal), 10 (trend) and 6
    (low pass).
    """
    trend = math.ceil(1.5 * period / (1 - 1.5 / _STL_SEASONAL_WINDOW))
    trend += trend % 2 == 0
    low_pass = period + 1
    low_pass += low_pass % 2 == 0
    return {
        "seasonal_jump": math.ceil(_STL_SEASONAL_WINDOW / 10),
        "trend_jump": math.ceil(trend / 10),
        "low_pass_jump": math.ceil(low_pass / 10),
    }


def baseline_forecasts(
    train: pd.DataFrame,
    spec: ForecastSpec,
    models: Sequence[str] = BASELINE_MODELS,
    *,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Fit each model on each series of ``train`` and forecast ``spec.horizon`` steps.

    Args:
        train: long frame ``unique_id``, ``ds``, ``y`` (gap free, finite ``y``); other columns
            are ignored.
        spec: forecast configuration (``freq``, ``horizon``, ``season_length``).
        models: names among :data:`BASELINE_MODELS`.
        n_jobs: processes for :data:`AUTO_ETS`, the only model slow enough to gain from them
            (the others always run in-process).

    Returns:
        ``unique_id``, ``ds`` and one float column of raw point forecasts per model (in the
        order of ``models``), one row per series and step, sorted by ``unique_id``, ``ds``.
        There are no missing values.

    Warns:
        BaselineFallbackWarning: when auto ETS failed on series long enough to be fitted.
    """
    unknown = [m for m in models if m not in BASELINE_MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; expected a subset of {list(BASELINE_MODELS)}")
    if not models:
        raise ValueError("no model requested")
    missing = {"unique_id", "ds", "y"} - set(train.columns)
    if missing:
        raise ValueError(f"train is missing columns {sorted(missing)}")
    if train.empty:
        raise ValueError("train has no rows")
    train = train.loc[:, ["unique_id", "ds", "y"]].sort_values(_KEYS, ignore_index=True)
    train["y"] = train["y"].astype("float64")
    if not np.isfinite(train["y"]).all():
        raise ValueError("train.y must be finite (no NaN or infinity)")

    sizes = train.groupby("unique_id", observed=True, sort=False).size()
    fcst = _simple_forecasts(train, spec)
    moving_average = fcst[MOVING_AVERAGE].fillna(fcst[_HISTORIC])
    fcst[MOVING_AVERAGE] = moving_average
    short = fcst["unique_id"].isin(sizes.index[sizes < spec.season_length])
    fcst[SEASONAL_NAIVE] = fcst[SEASONAL_NAIVE].mask(short).fillna(fcst[_NAIVE])
    fcst[TSB] = fcst[TSB].fillna(moving_average)
    if AUTO_ETS in models:
        ets = _auto_ets_forecasts(train, sizes, spec, n_jobs)
        failed = ets.loc[ets[AUTO_ETS].isna(), "unique_id"].unique()
        if len(failed):
            warnings.warn(
                f"{AUTO_ETS} failed on {len(failed)} series (e.g. {failed[0]!r}); "
                f"using {MOVING_AVERAGE} for them",
                BaselineFallbackWarning,
                stacklevel=2,
            )
        fcst = fcst.merge(ets, on=_KEYS, how="left")
        fcst[AUTO_ETS] = fcst[AUTO_ETS].fillna(moving_average)
    out = fcst[[*_KEYS, *models]].sort_values(_KEYS, ignore_index=True)
    values = out[list(models)].to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        raise RuntimeError("baseline forecasts contain non-finite values")
    return out.astype(dict.fromkeys(models, "float64"))


def _forecast(
    train: pd.DataFrame, spec: ForecastSpec, models: list[Any], *, n_jobs: int = 1, **kwargs: Any
) -> pd.DataFrame:
    sf = StatsForecast(models=models, freq=spec.freq, n_jobs=n_jobs, **kwargs)
    with warnings.catch_warnings():
        # Short series: "Historical data (n) is shorter than season_length" (their seasonal naive
        # is replaced by the naive forecast) and the ETS residual variance of a model with as
        # many parameters as points ("divide by zero", not used for point forecasts).
        warnings.filterwarnings("ignore", message="Historical data", category=UserWarning)
        warnings.filterwarnings("ignore", message="divide by zero", category=RuntimeWarning)
        return sf.forecast(df=train, h=spec.horizon)


def _simple_forecasts(train: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    window = moving_average_window(spec.season_length)
    models = [
        SeasonalNaive(season_length=spec.season_length, alias=SEASONAL_NAIVE),
        Naive(alias=_NAIVE),
        WindowAverage(window_size=window, alias=MOVING_AVERAGE),
        HistoricAverage(alias=_HISTORIC),
        TSBModel(alpha_d=TSB_ALPHA_DEMAND, alpha_p=TSB_ALPHA_PROBABILITY, alias=TSB),
    ]
    return _forecast(train, spec, models)


def _auto_ets_forecasts(
    train: pd.DataFrame, sizes: pd.Series, spec: ForecastSpec, n_jobs: int
) -> pd.DataFrame:
    """Auto ETS forecasts of the series with enough history to fit it; NaN where a fit failed.

    ``sizes`` is the number of points of each series of ``train``.
    """
    groups: list[tuple[pd.Index, Any]] = []
    fittable = sizes >= MIN_ETS_OBSERVATIONS
    if spec.season_length >= 2:
        seasonal = sizes >= 2 * spec.season_length
        mstl = MSTL(
            season_length=spec.season_length,
            trend_forecaster=AutoETS(model="ZZN"),
            stl_kwargs=stl_jumps(spec.season_length),
            alias=AUTO_ETS,
        )
        groups.append((sizes.index[seasonal], mstl))
        fittable &= ~seasonal
    groups.append((sizes.index[fittable], AutoETS(model="ZZN", alias=AUTO_ETS)))
    parts = [
        _forecast(
            train[train["unique_id"].isin(ids)],
            spec,
            [model],
            n_jobs=n_jobs,
            fallback_model=NaNModel(),
        )
        for ids, model in groups
        if len(ids)
    ]
    if not parts:
        return train.iloc[:0][_KEYS].assign(**{AUTO_ETS: np.nan})
    ets = pd.concat(parts, ignore_index=True)
    ets[AUTO_ETS] = ets[AUTO_ETS].astype("float64").where(np.isfinite(ets[AUTO_ETS]))
    return ets
