"""Exogenous features and the global models: values, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml import Exogenous, ForecastSpec, indicator_yoy, period_prices
from forecast_pipeline.ml.exogenous import future_exogenous
from forecast_pipeline.ml.frames import weekly_series
from forecast_pipeline.ml.gbm import LIGHTGBM, XGBOOST, build_mlforecast, gbm_forecasts
from forecast_pipeline_tests.ml.synthetic import categories_for, make_weekly

START = pd.Timestamp("2022-01-03")
N_DAYS = 7 * 140
CUTOFF = START + pd.Timedelta(weeks=100)  # a Monday: last training week of the backtest window


def _daily(seed: int = 0) -> pd.DataFrame:
    """Six products with daily sales, prices and promotion spells that lift sales."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=N_DAYS, freq="D")
    frames = []
    for i in range(6):
        promo = (dates.dayofyear // 7 + i) % 9 == 0
        price = np.where(promo, 8.0, 10.0) + i
        units = rng.poisson(np.where(promo, 30, 12) * (1 + 0.3 * np.sin(dates.dayofyear / 58)))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "product_id": f"p{i}",
                    "units": units,
                    "unit_price": price,
                    "on_promotion": promo,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _observations() -> pd.DataFrame:
    """A monthly indicator published two weeks after each month ends."""
    months = pd.date_range("2020-12-01", periods=44, freq="MS")
    return pd.DataFrame(
        {
            "series_id": "UMCSENT",
            "observation_date": months,
            "value": 70.0 + np.arange(len(months), dtype=float),
            "published_date": months + pd.offsets.MonthEnd(0) + pd.Timedelta(days=14),
        }
    )


def _exogenous(daily: pd.DataFrame, observations: pd.DataFrame, series: pd.DataFrame) -> Exogenous:
    dates = pd.date_range(
        series["ds"].min(), series["ds"].max() + pd.Timedelta(weeks=1), freq="W-MON"
    )
    return Exogenous(
        per_series=period_prices(daily, series, "W-MON"),
        shared=indicator_yoy(observations, dates, pd.DateOffset(weeks=52)),
    )


def _perturb_after(daily: pd.DataFrame, observations: pd.DataFrame, when: pd.Timestamp):
    """Everything that happens from ``when`` on changes: sales, prices, promotions, and the
    indicator values published from then on."""
    daily = daily.copy()
    later = daily["date"] >= when
    daily.loc[later, "units"] = daily.loc[later, "units"] * 5 + 100
    daily.loc[later, "unit_price"] = 1.0
    daily.loc[later, "on_promotion"] = True
    observations = observations.copy()
    published_later = observations["published_date"] > when
    observations.loc[published_later, "value"] = -1000.0
    return daily, observations


def test_period_prices_are_weighted_and_relative_to_recent_highs() -> None:
    daily = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-08", "2024-01-15"]),
            "product_id": "a",
            "units": [1, 3, 2, 0],
            "unit_price": [10.0, 6.0, 10.0, np.nan],
            "on_promotion": [False, True, False, False],
        }
    )
    series = weekly_series(daily, pd.Timestamp("2024-01-22"))
    prices = period_prices(daily, series, "W-MON").set_index("ds")
    # week 1: (10*1 + 6*3) / 4 units = 7.0; half of its rows on promotion
    assert prices.loc["2024-01-01", "price"] == pytest.approx(7.0)
    assert prices.loc["2024-01-01", "promo_share"] == pytest.approx(0.5)
    assert prices.loc["2024-01-01", "relative_price"] == pytest.approx(1.0)
    assert prices.loc["2024-01-08", "price"] == pytest.approx(10.0)
    # the price rose back: 10 / max(7, 10) = 1; week 3 has no price and carries it forward
    assert prices.loc["2024-01-15", "price"] == pytest.approx(10.0)
    assert period_prices(daily.drop(columns="unit_price"), series, "W-MON") is None


def test_indicator_change_uses_only_published_values() -> None:
    observations = _observations()
    dates = pd.DatetimeIndex(["2023-01-02", "2023-01-16"])
    yoy = indicator_yoy(observations, dates, pd.DateOffset(weeks=52)).set_index("ds")
    # On 2023-01-02 the latest published month is November 2022 (published 2022-12-14):
    # value 70 + 23 = 93; 52 weeks earlier (2022-01-03) November 2021 (value 81) was the latest.
    assert yoy.loc["2023-01-02", "ind_UMCSENT_yoy"] == pytest.approx(93 / 81 - 1)
    # December 2022 is published on 2023-01-14: visible from 2023-01-16 on, not before.
    assert yoy.loc["2023-01-16", "ind_UMCSENT_yoy"] == pytest.approx(94 / 82 - 1)


def test_features_and_forecasts_do_not_see_past_the_cutoff() -> None:
    """Changing everything after the cutoff leaves the training features and the forecasts
    made at the cutoff unchanged: no feature leaks the future."""
    spec = ForecastSpec(horizon=8, num_threads=1)
    origin = CUTOFF + pd.Timedelta(weeks=1)
    daily, observations = _daily(), _observations()
    altered_daily, altered_obs = _perturb_after(daily, observations, origin)
    runs = []
    for d, obs in ((daily, observations), (altered_daily, altered_obs)):
        series = weekly_series(d, START + pd.Timedelta(days=N_DAYS))
        exog = _exogenous(d, obs, series)
        train = series[series["ds"] <= CUTOFF]
        features = exog.restricted(origin).training_frame(train)
        fcst = gbm_forecasts(
            train, spec, [LIGHTGBM, XGBOOST], categories=categories_for(series), exog=exog
        )
        runs.append((series, features, fcst))
    (series, features, fcst), (altered_series, altered_features, altered_fcst) = runs
    # the perturbation is real: the data after the cutoff differs
    assert not series["y"].equals(altered_series["y"])
    assert set(features.columns) >= {"price", "relative_price", "promo_share", "ind_UMCSENT_yoy"}
    pd.testing.assert_frame_equal(features, altered_features)
    pd.testing.assert_frame_equal(fcst, altered_fcst)


def test_promotions_move_the_global_forecast() -> None:
    """With prices and promotions as features the model learns the promotion lift."""
    spec = ForecastSpec(horizon=4, num_threads=1, lags=(1, 2, 52))
    daily = _daily()
    series = weekly_series(daily, START + pd.Timedelta(days=N_DAYS))
    exog = Exogenous(per_series=period_prices(daily, series, "W-MON"))
    mlf = build_mlforecast(spec, [LIGHTGBM])
    frame = exog.training_frame(series)
    mlf.fit(frame, static_features=[])
    importance = dict(
        zip(mlf.ts.features_order_, mlf.models_[LIGHTGBM].feature_importances_, strict=True)
    )
    assert importance["promo_share"] > 0
    assert {"holiday_days", "days_to_black_friday", "lag52"} <= set(importance)


def test_global_models_trained_on_a_sample_forecast_every_product() -> None:
    series = make_weekly(n_series=12, n_weeks=120)
    spec = ForecastSpec(horizon=6, num_threads=1, max_train_series=5)
    runs = [gbm_forecasts(series, spec, [LIGHTGBM]) for _ in range(2)]
    fcst = runs[0]
    assert fcst["unique_id"].nunique() == 12
    assert fcst.groupby("unique_id").size().eq(6).all()
    pd.testing.assert_frame_equal(runs[0], runs[1])  # the sample is seeded
    everyone = gbm_forecasts(series, ForecastSpec(horizon=6, num_threads=1), [LIGHTGBM])
    # a different model (fewer products learnt from), but forecasts of the same scale
    assert not np.allclose(fcst[LIGHTGBM], everyone[LIGHTGBM])
    by_product = fcst.groupby("unique_id")[LIGHTGBM].mean()
    reference = everyone.groupby("unique_id")[LIGHTGBM].mean()
    np.testing.assert_allclose(by_product, reference, rtol=0.35)


def test_future_values_are_those_known_at_the_origin() -> None:
    weeks = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    per_series = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": weeks,
            "price": np.arange(20, dtype=float),
            "relative_price": 1.0,
            "promo_share": [1.0] * 7 + [0.0] * 13,  # the last 13 weeks without promotion
        }
    )
    per_series.loc[per_series.index[-1], "promo_share"] = 0.65
    shared = pd.DataFrame({"ds": weeks, "ind_X_yoy": np.linspace(0, 0.19, 20)})
    origin = weeks[-1] + pd.Timedelta(weeks=1)
    future = pd.DataFrame({"unique_id": "a", "ds": pd.date_range(origin, periods=3, freq="W-MON")})
    later = Exogenous(per_series=per_series, shared=shared)
    values = future_exogenous(later, future, origin)
    assert values["price"].tolist() == [19.0] * 3  # last known price holds
    assert values["promo_share"].tolist() == pytest.approx([0.05] * 3)  # mean of last 13 weeks
    assert values["ind_X_yoy"].tolist() == pytest.approx([0.19] * 3)
