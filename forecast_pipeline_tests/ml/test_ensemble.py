"""Ensemble weights and conformal calibration on controlled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml.ensemble import apply_weights, fit_level_weights, fit_weights
from forecast_pipeline.ml.intervals import calibrate, horizon_buckets


def test_weights_recover_the_mix_that_generated_the_actuals() -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.uniform(10, 100, size=(3, 2000))
    y = 0.7 * a + 0.3 * b
    weights = fit_weights(y, np.column_stack([a, b, c]), ["a", "b", "c"])
    assert weights["a"] == pytest.approx(0.7, abs=0.01)
    assert weights["b"] == pytest.approx(0.3, abs=0.01)
    assert weights["c"] == pytest.approx(0.0, abs=0.01)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_ensemble_is_never_worse_than_its_best_member_in_sample() -> None:
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 50, size=500)
    preds = np.column_stack([y + rng.normal(0, 5, 500), y + rng.normal(3, 8, 500)])
    weights = fit_weights(y, preds, ["good", "biased"])
    combined = preds @ np.array([weights["good"], weights["biased"]])
    best_single = min(np.abs(y - preds[:, k]).sum() for k in range(2))
    assert np.abs(y - combined).sum() <= best_single + 1e-9


def test_level_weights_only_use_models_forecasting_every_point() -> None:
    frame = pd.DataFrame(
        {
            "level": ["product"] * 3 + ["category"] * 3,
            "y": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0],
            "m1": [1.0, 2.0, 3.0, 12.0, 18.0, 33.0],
            "prophet": [np.nan] * 3 + [10.0, 20.0, 30.0],
        }
    )
    weights = fit_level_weights(frame, ["m1", "prophet"])
    product = weights[weights["level"] == "product"].set_index("model")["weight"]
    category = weights[weights["level"] == "category"].set_index("model")["weight"]
    assert product.to_dict() == {"m1": 1.0}
    assert category["prophet"] == pytest.approx(1.0)
    combined = apply_weights(frame, weights)
    np.testing.assert_allclose(combined, [1, 2, 3, 10, 20, 30], atol=1e-3)


def test_horizon_buckets_grow_along_the_year() -> None:
    buckets = horizon_buckets(52)
    edges = [int(np.flatnonzero(buckets == b)[0]) + 1 for b in np.unique(buckets)]
    assert edges == [1, 2, 5, 14, 27]


def _gaussian_backtest(rng: np.random.Generator, n_series: int, cutoffs: list[pd.Timestamp]):
    """Series with constant level 100 and N(0, 10) errors: the naive scale is about 11.3."""
    rows, hist = [], []
    for uid in range(n_series):
        ds = pd.date_range("2020-01-06", periods=200, freq="W-MON")
        y = 100 + rng.normal(0, 10, size=ds.size)
        hist.append(pd.DataFrame({"level": "product", "unique_id": f"s{uid}", "ds": ds, "y": y}))
        for cutoff in cutoffs:
            after = (ds > cutoff) & (ds <= cutoff + pd.Timedelta(weeks=12))
            rows.append(
                pd.DataFrame(
                    {
                        "level": "product",
                        "unique_id": f"s{uid}",
                        "cutoff": cutoff,
                        "step": np.arange(1, after.sum() + 1),
                        "y": y[after],
                        "model": 100.0,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True), pd.concat(hist, ignore_index=True)


def test_calibrated_intervals_cover_fresh_data_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(2)
    cutoffs = [pd.Timestamp("2022-01-03") + pd.Timedelta(weeks=4 * k) for k in range(3)]
    preds, hist = _gaussian_backtest(rng, 200, cutoffs)
    cal = calibrate(preds, "model", hist, horizon=12, season_length=52, windows={"month": 4})
    q80 = cal.steps.set_index("step")["q_80"]
    scale = 10 * np.sqrt(2) * np.sqrt(2 / np.pi)  # E|e_t - e_(t-52)| for N(0, 10) noise
    # |e| < q * scale with probability 80 %: q * scale ~ 1.2816 * 10
    assert q80.iloc[0] * scale == pytest.approx(12.8, rel=0.1)
    # month totals of 4 independent errors: sd 20, so the 80 % half-width is about 25.6
    q_month = cal.windows.set_index("window").loc["month", "q_80"]
    assert q_month * scale == pytest.approx(25.6, rel=0.12)
    # far narrower than adding four per-step half-widths (51.3)
    assert q_month < 4 * q80.iloc[0] * 0.6
