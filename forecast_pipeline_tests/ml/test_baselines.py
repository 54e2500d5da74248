from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import NaNModel

from forecast_pipeline.ml import ForecastSpec, baselines
from forecast_pipeline.ml.baselines import (
    AUTO_ETS,
    BASELINE_MODELS,
    MOVING_AVERAGE,
    SEASONAL_NAIVE,
    TSB,
    TSB_ALPHA_DEMAND,
    TSB_ALPHA_PROBABILITY,
    BaselineFallbackWarning,
    baseline_forecasts,
    moving_average_window,
)

WEEKS = pd.date_range("2022-01-03", periods=60, freq="W-MON")


def _series(uid: str, y: list[float] | np.ndarray, ds: pd.DatetimeIndex = WEEKS) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": uid, "ds": ds[-len(y) :], "y": np.asarray(y, dtype=float)})


def _seasonal_weekly(n_weeks: int, seed: int) -> np.ndarray:
    """Clean yearly pattern (+-40%) on a slow trend with 3% noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_weeks)
    mean = 100 * (1 + 0.002 * t) * (1 + 0.4 * np.sin(2 * np.pi * t / 52 + seed))
    return mean * (1 + 0.03 * rng.standard_normal(n_weeks))


def _ses(x: np.ndarray, alpha: float) -> float:
    level = x[0]
    for value in x[1:]:
        level += alpha * (value - level)
    return float(level)


def test_seasonal_naive_repeats_last_season_and_short_series_repeat_last_value() -> None:
    train = pd.concat([_series("long", np.arange(60.0)), _series("short", [4.0, 5.0, 6.0])])
    fcst = baseline_forecasts(train, ForecastSpec(horizon=52), [SEASONAL_NAIVE])
    long = fcst[fcst["unique_id"] == "long"]
    np.testing.assert_array_equal(long[SEASONAL_NAIVE], np.arange(8.0, 60.0))
    assert list(long["ds"]) == list(pd.date_range(WEEKS[-1], periods=53, freq="W-MON")[1:])
    assert (fcst.loc[fcst["unique_id"] == "short", SEASONAL_NAIVE] == 6.0).all()


def test_moving_average_is_the_mean_of_the_last_window() -> None:
    assert moving_average_window(52) == 4
    assert moving_average_window(7) == 7
    weekly = pd.concat(
        [_series("a", [50.0, 1.0, 2.0, 3.0, 10.0]), _series("short", [4.0, 5.0, 6.0])]
    )
    fcst = baseline_forecasts(weekly, ForecastSpec(horizon=3), [MOVING_AVERAGE])
    assert fcst[MOVING_AVERAGE].tolist() == [4.0] * 3 + [5.0] * 3

    days = pd.date_range("2024-03-01", periods=10, freq="D")
    daily = _series("d", [100.0, 100.0, 100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], days)
    fcst = baseline_forecasts(daily, ForecastSpec.daily(), [MOVING_AVERAGE])
    assert len(fcst) == 28
    assert (fcst[MOVING_AVERAGE] == 4.0).all()


def test_all_models_give_complete_sorted_output_on_awkward_series() -> None:
    rng = np.random.default_rng(1)
    intermittent = np.where(rng.random(60) < 0.8, 0.0, rng.poisson(4, 60))
    train = pd.concat(
        [
            _series("z_seasonal", _seasonal_weekly(60, seed=0)),
            _series("c_three", [3.0, 1.0, 2.0]),
            _series("b_one", [7.0]),
            _series("a_zeros", np.zeros(60)),
            _series("d_intermittent", intermittent),
            _series("e_twenty", rng.poisson(10, 20)),
        ]
    ).assign(category="food")  # extra columns are ignored
    spec = ForecastSpec(horizon=13)
    fcst = baseline_forecasts(train.sample(frac=1, random_state=0), spec)

    assert list(fcst.columns) == ["unique_id", "ds", *BASELINE_MODELS]
    assert len(fcst) == 6 * 13
    assert fcst.equals(fcst.sort_values(["unique_id", "ds"], ignore_index=True))
    assert (fcst.groupby("unique_id").size() == 13).all()
    assert not fcst.isna().any().any()
    assert (fcst[list(BASELINE_MODELS)].dtypes == "float64").all()
    zeros = fcst[fcst["unique_id"] == "a_zeros"]
    assert (zeros[list(BASELINE_MODELS)] == 0.0).all().all()
    # a single point: every model repeats it
    assert (fcst.loc[fcst["unique_id"] == "b_one", list(BASELINE_MODELS)] == 7.0).all().all()
    # too short for ETS: the moving average (mean of all three points)
    three = fcst[fcst["unique_id"] == "c_three"]
    assert (three[AUTO_ETS] == 2.0).all()
    with pytest.raises(ValueError, match="unknown models"):
        baseline_forecasts(train, spec, ["prophet"])


def test_tsb_forecast_is_constant_positive_and_below_the_nonzero_mean() -> None:
    y = np.array([0, 0, 5, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0, 6, 0, 0, 2, 0, 0] * 3, dtype=float)
    fcst = baseline_forecasts(_series("x", y), ForecastSpec(horizon=8), [TSB])[TSB]
    nonzero = y[y > 0]
    expected = _ses((y > 0).astype(float), TSB_ALPHA_PROBABILITY) * _ses(nonzero, TSB_ALPHA_DEMAND)
    np.testing.assert_allclose(fcst, expected, rtol=1e-6)
    assert fcst.nunique() == 1
    assert 0 < fcst.iloc[0] < nonzero.mean()


def test_auto_ets_keeps_the_yearly_seasonality() -> None:
    ds = pd.date_range("2020-01-06", periods=208, freq="W-MON")
    full = pd.concat([_series(f"s{i}", _seasonal_weekly(208, seed=i), ds) for i in range(2)])
    cutoff = ds[156]
    train, test = full[full["ds"] < cutoff], full[full["ds"] >= cutoff]
    fcst = baseline_forecasts(train, ForecastSpec(), [MOVING_AVERAGE, AUTO_ETS])
    scored = test.merge(fcst, on=["unique_id", "ds"], validate="1:1")
    assert len(scored) == 2 * 52

    def wape(model: str) -> float:
        return float((scored[model] - scored["y"]).abs().sum() / scored["y"].sum())

    # ignoring the +-40% yearly swing costs a WAPE of about 0.25
    assert wape(AUTO_ETS) < 0.08
    assert wape(AUTO_ETS) < wape(MOVING_AVERAGE) / 3


def test_failed_auto_ets_falls_back_to_the_moving_average_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken(NaNModel):
        def forecast(self, *args: object, **kwargs: object) -> dict[str, np.ndarray]:
            raise RuntimeError("optimizer diverged")

    monkeypatch.setattr(baselines, "MSTL", lambda **kwargs: Broken(alias=kwargs["alias"]))
    ds = pd.date_range("2020-01-06", periods=120, freq="W-MON")
    train = pd.concat([_series("long", _seasonal_weekly(120, seed=0), ds), _series("b", [1.0] * 9)])
    with pytest.warns(BaselineFallbackWarning, match="auto_ets failed on 1 series"):
        fcst = baseline_forecasts(train, ForecastSpec(horizon=4), [MOVING_AVERAGE, AUTO_ETS])
    assert fcst[AUTO_ETS].tolist() == fcst[MOVING_AVERAGE].tolist()


def test_parallel_auto_ets_matches_single_process() -> None:
    ds = pd.date_range("2020-01-06", periods=110, freq="W-MON")
    train = pd.concat([_series(f"s{i}", _seasonal_weekly(110, seed=i), ds) for i in range(3)])
    spec = ForecastSpec(horizon=6)
    one = baseline_forecasts(train, spec, [AUTO_ETS])
    two = baseline_forecasts(train, spec, [AUTO_ETS], n_jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_rejects_non_finite_targets() -> None:
    with pytest.raises(ValueError, match="finite"):
        baseline_forecasts(_series("x", [1.0, np.nan, 2.0]), ForecastSpec(horizon=2))
