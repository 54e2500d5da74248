from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml import RANKING_COLUMNS, top_products

START = pd.Timestamp("2024-03-04")  # first forecast week (Monday)
HORIZON = 4
WINDOWS = {"week": 1, "month": 4}

# per-step point forecast of each product
YHAT = {"a1": 10.0, "a2": 30.0, "a3": 20.0, "a4": 0.0, "b1": 5.0, "b2": 5.0}
# actuals of the 4 weeks before START (oldest first); b1 has no history at all
HISTORY = {
    "a1": [1.0, 1.0, 1.0, 10.0],
    "a2": [20.0, 20.0, 20.0, 20.0],
    "a3": [40.0, 40.0, 40.0, 40.0],
    "a4": [0.0, 0.0, 0.0, 0.0],
    "b2": [5.2, 5.2, 5.2, 5.2],
}


@pytest.fixture()
def forecasts() -> pd.DataFrame:
    rows = []
    for uid, yhat in YHAT.items():
        for step in range(1, HORIZON + 1):
            rows.append(
                {
                    "unique_id": uid,
                    "ds": START + pd.Timedelta(weeks=step - 1),
                    "step": step,
                    "yhat": yhat,
                    "lo_80": 0.5 * yhat,
                    "hi_80": 1.5 * yhat,
                    "lo_95": 0.25 * yhat,
                    "hi_95": 2.0 * yhat,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture()
def history() -> pd.DataFrame:
    frames = []
    for uid, values in HISTORY.items():
        # an older week (outside every window) that must not be counted
        end = START - pd.Timedelta(weeks=1)
        ds = pd.date_range(end=end, periods=len(values) + 1, freq="W-MON")
        frames.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": [1000.0, *values]}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture()
def categories() -> pd.DataFrame:
    return pd.DataFrame({"unique_id": list(YHAT), "category": ["A", "A", "A", "A", "B", "B"]})


def _row(result: pd.DataFrame, period: str, product: str) -> pd.Series:
    match = result[(result["time_period"] == period) & (result["product_id"] == product)]
    assert len(match) == 1, (period, product)
    return match.iloc[0]


def test_history_fixture_is_weekly_mondays(history: pd.DataFrame) -> None:
    assert (history["ds"].dt.dayofweek == 0).all()
    assert history["ds"].max() == START - pd.Timedelta(weeks=1)


def test_ranks_within_category_and_window(
    forecasts: pd.DataFrame, history: pd.DataFrame, categories: pd.DataFrame
) -> None:
    result = top_products(forecasts, history, categories, top_n=2, windows=WINDOWS)
    assert list(result.columns) == RANKING_COLUMNS
    assert len(result) == 2 * 2 * 2  # categories x windows x top_n
    for (category, period), part in result.groupby(["category", "time_period"]):
        assert part["rank"].tolist() == [1, 2], (category, period)
        assert part["predicted_units"].is_monotonic_decreasing
    week_a = result[(result["category"] == "A") & (result["time_period"] == "week")]
    assert week_a["product_id"].tolist() == ["a2", "a3"]
    # ties are broken by product id
    week_b = result[(result["category"] == "B") & (result["time_period"] == "week")]
    assert week_b["product_id"].tolist() == ["b1", "b2"]
    # window order follows the mapping, categories are sorted
    assert result["time_period"].tolist()[:4] == ["week", "week", "month", "month"]
    assert result["category"].tolist() == ["A"] * 4 + ["B"] * 4


def test_window_sums_previous_units_and_trends(
    forecasts: pd.DataFrame, history: pd.DataFrame, categories: pd.DataFrame
) -> None:
    result = top_products(forecasts, history, categories, top_n=10, windows=WINDOWS)
    assert len(result) == 2 * len(YHAT)  # top_n larger than every category: all products

    a2 = _row(result, "month", "a2")
    assert a2["predicted_units"] == pytest.approx(120.0)
    assert a2["lower_80"] == pytest.approx(60.0)
    assert a2["upper_80"] == pytest.approx(180.0)
    assert a2["previous_units"] == pytest.approx(80.0)
    assert a2["change_pct"] == pytest.approx(0.5)
    assert a2["trend"] == "up"

    a3 = _row(result, "week", "a3")
    assert a3["previous_units"] == pytest.approx(40.0)
    assert a3["change_pct"] == pytest.approx(-0.5)
    assert a3["trend"] == "down"

    # same product, different window: previous units follow the window length
    assert _row(result, "week", "a1")["trend"] == "flat"  # 10 vs 10
    a1_month = _row(result, "month", "a1")
    assert a1_month["previous_units"] == pytest.approx(13.0)
    assert a1_month["trend"] == "up"

    # within the flat threshold (-3.8 %)
    b2 = _row(result, "week", "b2")
    assert b2["change_pct"] == pytest.approx(5.0 / 5.2 - 1)
    assert b2["trend"] == "flat"
    b2_strict = top_products(forecasts, history, categories, windows=WINDOWS, flat_threshold=0.01)
    assert _row(b2_strict, "week", "b2")["trend"] == "down"

    # no previous sales: change is NaN, "up" if anything is predicted, else "flat"
    b1 = _row(result, "week", "b1")
    assert b1["previous_units"] == 0.0
    assert np.isnan(b1["change_pct"])
    assert b1["trend"] == "up"
    a4 = _row(result, "month", "a4")
    assert np.isnan(a4["change_pct"])
    assert a4["trend"] == "flat"


def test_top_n_and_windows_beyond_horizon(
    forecasts: pd.DataFrame, history: pd.DataFrame, categories: pd.DataFrame
) -> None:
    with pytest.warns(UserWarning, match="year"):
        result = top_products(forecasts, history, categories, top_n=1)
    assert set(result["time_period"]) == {"week", "month"}
    assert (result["rank"] == 1).all()
    assert result.groupby(["category", "time_period"]).size().eq(1).all()
    assert set(result["product_id"]) == {"a2", "b1"}
