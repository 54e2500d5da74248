from __future__ import annotations

import holidays
import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml import ForecastSpec
from forecast_pipeline.ml.baselines import MOVING_AVERAGE, baseline_forecasts
from forecast_pipeline.ml.prophet_model import PROPHET, prophet_forecasts

WEEKS = pd.date_range("2020-01-06", periods=208, freq="W-MON")
CUTOFF = WEEKS[156]


def _black_friday_weeks(ds: pd.DatetimeIndex) -> pd.DataFrame:
    """``ds`` plus a 0/1 flag for the week (labelled by its Monday) containing Black Friday."""
    mondays = []
    for year in sorted(set(ds.year)):
        november = pd.Timestamp(year=year, month=11, day=1)
        thanksgiving = november + pd.Timedelta(days=(3 - november.dayofweek) % 7 + 21)
        mondays.append(thanksgiving - pd.Timedelta(days=3))
    return pd.DataFrame({"ds": ds, "black_friday": ds.isin(mondays).astype(float)})


def _weekly(flag: pd.Series | None = None, *, seed: int = 0) -> pd.DataFrame:
    """One weekly series: level 200, trend +0.3%/week, yearly swing +-30%, 4% noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(WEEKS))
    y = 200 * (1 + 0.003 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 52.18))
    y *= 1 + 0.04 * rng.standard_normal(len(t))
    if flag is not None:
        y *= 1 + 0.8 * flag.to_numpy()
    return pd.DataFrame({"unique_id": "total", "ds": WEEKS, "y": y})


def _wape(fcst: pd.DataFrame, actual: pd.DataFrame, column: str) -> float:
    scored = actual.merge(fcst, on=["unique_id", "ds"], validate="1:1")
    assert len(scored) == len(actual)
    return float((scored[column] - scored["y"]).abs().sum() / scored["y"].sum())


def test_black_friday_helper_flags_the_right_weeks() -> None:
    flags = _black_friday_weeks(WEEKS)
    flagged = flags.loc[flags["black_friday"] == 1, "ds"].dt.strftime("%Y-%m-%d").tolist()
    # Black Friday 2020-11-27, 2021-11-26, 2022-11-25, 2023-11-24
    assert flagged == ["2020-11-23", "2021-11-22", "2022-11-21", "2023-11-20"]


def test_weekly_forecast_follows_trend_and_yearly_seasonality() -> None:
    series = _weekly()
    train, test = series[series["ds"] < CUTOFF], series[series["ds"] >= CUTOFF]
    spec = ForecastSpec()
    fcst = prophet_forecasts(train, spec)

    assert list(fcst.columns) == ["unique_id", "ds", PROPHET]
    assert fcst["ds"].tolist() == test["ds"].tolist()
    moving_average = baseline_forecasts(train, spec, [MOVING_AVERAGE])
    # without the yearly pattern the error is about 0.2 (the moving average's)
    assert _wape(fcst, test, PROPHET) < 0.08
    assert _wape(fcst, test, PROPHET) < _wape(moving_average, test, MOVING_AVERAGE) / 2


def test_regressor_effect_is_picked_up() -> None:
    regressors = _black_friday_weeks(WEEKS)
    series = _weekly(regressors["black_friday"], seed=1)
    train = series[series["ds"] < CUTOFF]
    fcst = prophet_forecasts(train, ForecastSpec(), regressors=regressors).set_index("ds")[PROPHET]

    flagged = regressors.loc[(regressors["black_friday"] == 1) & (regressors["ds"] >= CUTOFF), "ds"]
    week = flagged.iloc[0]
    neighbours = fcst[[week - pd.Timedelta(weeks=1), week + pd.Timedelta(weeks=1)]]
    assert fcst[week] > 1.4 * neighbours.max()


def test_repeated_calls_give_identical_forecasts() -> None:
    series = _weekly(seed=2).iloc[:120]
    spec = ForecastSpec(horizon=8, seed=3)
    pd.testing.assert_frame_equal(prophet_forecasts(series, spec), prophet_forecasts(series, spec))


def test_missing_regressor_dates_are_named() -> None:
    regressors = _black_friday_weeks(WEEKS)
    train = _weekly().iloc[:100]
    spec = ForecastSpec(horizon=4)
    future_gap = regressors[regressors["ds"] != WEEKS[102]]
    with pytest.raises(ValueError, match=str(WEEKS[102].date())):
        prophet_forecasts(train, spec, regressors=future_gap)
    history_gap = regressors[regressors["ds"] != WEEKS[10]]
    with pytest.raises(ValueError, match=str(WEEKS[10].date())):
        prophet_forecasts(train, spec, regressors=history_gap)
    too_short = regressors[regressors["ds"] < WEEKS[103]]
    with pytest.raises(ValueError, match=str(WEEKS[103].date())):
        prophet_forecasts(train, spec, regressors=too_short)


def test_daily_forecast_has_weekday_pattern_and_us_holidays() -> None:
    days = pd.date_range("2023-01-02", periods=500, freq="D")
    rng = np.random.default_rng(4)
    weekday = np.array([1.0, 1.0, 1.1, 1.2, 1.5, 1.8, 0.6])[days.dayofweek]
    us_holidays = holidays.country_holidays("US", years=[2023, 2024])
    closed = np.array([d in us_holidays for d in days.date])
    y = 50 * weekday * np.where(closed, 0.2, 1.0) * (1 + 0.05 * rng.standard_normal(len(days)))
    train = pd.DataFrame({"unique_id": "total", "ds": days, "y": y})
    fcst = prophet_forecasts(train, ForecastSpec.daily(), country="US").set_index("ds")[PROPHET]

    assert len(fcst) == 28
    assert fcst.index.tolist() == list(pd.date_range(days[-1], periods=29, freq="D")[1:])
    # Saturday peak and Sunday trough within the first forecast week
    week = fcst.iloc[:7]
    assert week.idxmax().day_name() == "Saturday"
    assert week.idxmin().day_name() == "Sunday"
    # Memorial Day 2024 (a Monday) is forecast well below the Monday before it
    assert fcst[pd.Timestamp("2024-05-27")] < 0.5 * fcst[pd.Timestamp("2024-05-20")]
