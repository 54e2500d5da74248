from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml import BASELINE, GLOBAL_GBM, MODELS, ForecastSpec, default_lgbm_params
from forecast_pipeline.ml.models import forecast_models, lgbm_regressor
from forecast_pipeline_tests.ml.synthetic import make_weekly


def test_spec_defaults_and_lgbm_settings() -> None:
    spec = ForecastSpec()
    assert (spec.freq, spec.horizon, spec.season_length) == ("W-MON", 52, 52)
    assert (spec.n_windows, spec.step_size, spec.lags) == (3, 4, (1, 2, 3, 4, 52))
    assert (spec.num_threads, spec.seed) == (2, 0)
    params = lgbm_regressor(dataclasses.replace(spec, seed=7, num_threads=3)).get_params()
    assert (params["random_state"], params["n_jobs"], params["verbosity"]) == (7, 3, -1)
    # the spec owns a copy of the parameters
    custom = {**default_lgbm_params(), "n_estimators": 5}
    small = ForecastSpec(lgbm_params=custom)
    custom["n_estimators"] = 1000
    assert small.lgbm_params["n_estimators"] == 5
    with pytest.raises(ValueError):
        ForecastSpec(horizon=0)


def test_forecasts_are_deterministic_across_thread_counts() -> None:
    series = make_weekly(n_series=6, n_weeks=80, seed=3)
    spec = ForecastSpec(horizon=8, lags=(1, 2, 52))
    one = forecast_models(series, dataclasses.replace(spec, num_threads=1))
    two = forecast_models(series, dataclasses.replace(spec, num_threads=2))
    pd.testing.assert_frame_equal(one, two)
    assert list(one.columns) == ["unique_id", "ds", *MODELS]
    assert (one.groupby("unique_id").size() == 8).all()


def test_baseline_is_seasonal_naive_with_naive_fallback() -> None:
    ds = pd.date_range("2023-01-02", periods=60, freq="W-MON")
    long_y = np.arange(60, dtype=float)
    series = pd.concat(
        [
            pd.DataFrame({"unique_id": "long", "ds": ds, "y": long_y}),
            # only 3 weeks of history: no value one season back -> last value
            pd.DataFrame({"unique_id": "short", "ds": ds[-3:], "y": [4.0, 5.0, 6.0]}),
        ]
    )
    spec = ForecastSpec(horizon=52, num_threads=1)
    fcst = forecast_models(series, spec, [BASELINE]).set_index(["unique_id", "ds"])[BASELINE]
    assert fcst.loc["long"].tolist() == long_y[-52:].tolist()
    # "short": steps 50-52 fall one season after its 3 observations; the others have no
    # seasonal value and take the last observation
    assert fcst.loc["short"].tolist() == [6.0] * 49 + [4.0, 5.0, 6.0]


def test_unknown_model_is_rejected() -> None:
    series = make_weekly(n_series=2, n_weeks=60)
    with pytest.raises(ValueError, match="unknown models"):
        forecast_models(series, ForecastSpec(horizon=2), [GLOBAL_GBM, "arima"])
