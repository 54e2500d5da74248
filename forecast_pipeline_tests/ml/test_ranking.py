from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline.ml import RANKING_COLUMNS, top_products
from forecast_pipeline.ml.ranking import OUTLOOK_COLUMNS, category_outlook
from forecast_pipeline.ml.reconciliation import aggregate_levels

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
def product_categories() -> pd.DataFrame:
    return pd.DataFrame({"unique_id": list(YHAT), "category": ["A", "A", "A", "A", "B", "B"]})


def _row(result: pd.DataFrame, period: str, product: str) -> pd.Series:
    match = result[(result["time_period"] == period) & (result["product_id"] == product)]
    assert len(match) == 1, (period, product)
    return match.iloc[0]


def test_history_fixture_is_weekly_mondays(history: pd.DataFrame) -> None:
    assert (history["ds"].dt.dayofweek == 0).all()
    assert history["ds"].max() == START - pd.Timedelta(weeks=1)


def test_ranks_within_category_and_window(
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    result = top_products(forecasts, history, product_categories, top_n=2, windows=WINDOWS)
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
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    result = top_products(forecasts, history, product_categories, top_n=10, windows=WINDOWS)
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
    b2_strict = top_products(
        forecasts, history, product_categories, windows=WINDOWS, flat_threshold=0.01
    )
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
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    with pytest.warns(UserWarning, match="year"):
        result = top_products(forecasts, history, product_categories, top_n=1)
    assert set(result["time_period"]) == {"week", "month"}
    assert (result["rank"] == 1).all()
    assert result.groupby(["category", "time_period"]).size().eq(1).all()
    assert set(result["product_id"]) == {"a2", "b1"}


def _weeks(offset: int) -> pd.Timestamp:
    """The Monday ``offset`` weeks after START (negative: before)."""
    return START + pd.Timedelta(weeks=offset)


def _steps(yhat: dict[str, float], horizon: int) -> pd.DataFrame:
    """Forecast rows with a constant per-step ``yhat`` and bounds at 0.5x / 1.5x."""
    rows = [
        {
            "unique_id": uid,
            "ds": _weeks(step - 1),
            "step": step,
            "yhat": value,
            "lo_80": 0.5 * value,
            "hi_80": 1.5 * value,
        }
        for uid, value in yhat.items()
        for step in range(1, horizon + 1)
    ]
    return pd.DataFrame(rows)


def test_new_columns_are_appended_in_order() -> None:
    assert RANKING_COLUMNS[:10] == [
        "category",
        "time_period",
        "rank",
        "product_id",
        "predicted_units",
        "lower_80",
        "upper_80",
        "previous_units",
        "change_pct",
        "trend",
    ]
    assert RANKING_COLUMNS[10:] == [
        "unit_price",
        "predicted_revenue",
        "last_year_units",
        "change_vs_last_year_pct",
        "action",
        "cold_start",
    ]


def test_unit_price_and_revenue(
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    prices = pd.DataFrame(
        {
            "unique_id": ["a1", "a1", "a1", "a1", "a2", "a2", "b2"],
            "ds": [
                _weeks(-3),
                _weeks(-2),
                _weeks(-1),
                _weeks(0),
                _weeks(-1),
                _weeks(0),
                _weeks(-5),
            ],
            # a1: last week has no price (carried from 2.0), the forecast week's 99 is ignored
            "price": [1.5, 2.0, np.nan, 99.0, 3.0, 50.0, 0.5],
        }
    )
    result = top_products(forecasts, history, product_categories, windows=WINDOWS, prices=prices)
    a1 = _row(result, "month", "a1")
    assert a1["unit_price"] == pytest.approx(2.0)
    assert a1["predicted_revenue"] == pytest.approx(40.0 * 2.0)
    a2 = _row(result, "week", "a2")
    assert a2["unit_price"] == pytest.approx(3.0)
    assert a2["predicted_revenue"] == pytest.approx(30.0 * 3.0)
    assert _row(result, "month", "a2")["predicted_revenue"] == pytest.approx(120.0 * 3.0)
    assert _row(result, "week", "b2")["unit_price"] == pytest.approx(0.5)  # old but known
    # no price at all: NaN, not 0
    a3 = _row(result, "week", "a3")
    assert np.isnan(a3["unit_price"]) and np.isnan(a3["predicted_revenue"])

    without = top_products(forecasts, history, product_categories, windows=WINDOWS)
    assert without["unit_price"].isna().all() and without["predicted_revenue"].isna().all()
    # the prices never change the ranking or the other columns
    pd.testing.assert_frame_equal(
        without.drop(columns=["unit_price", "predicted_revenue"]),
        result.drop(columns=["unit_price", "predicted_revenue"]),
    )
    with pytest.raises(ValueError, match="price"):
        top_products(
            forecasts,
            history,
            product_categories,
            windows=WINDOWS,
            prices=prices.drop(columns="price"),
        )


def _long_history() -> pd.DataFrame:
    """60 weeks of ``old`` (5 units a week 52..49 weeks back, 10 otherwise), ``young`` from 50
    weeks back, ``quiet``: a sale 60 weeks back, then nothing until 40 weeks back."""
    weeks = [_weeks(k) for k in range(-60, 0)]
    old = [5.0 if -52 <= k < -48 else 10.0 for k in range(-60, 0)]
    frames = [
        pd.DataFrame({"unique_id": "old", "ds": weeks, "y": old}),
        pd.DataFrame({"unique_id": "young", "ds": weeks[10:], "y": 4.0}),
        pd.DataFrame({"unique_id": "quiet", "ds": [weeks[0], *weeks[20:]], "y": 3.0}),
    ]
    return pd.concat(frames, ignore_index=True)


def test_last_year_units_and_change() -> None:
    forecasts = _steps({"old": 12.0, "young": 4.0, "quiet": 3.0}, HORIZON)
    categories = pd.DataFrame({"unique_id": ["old", "young", "quiet"], "category": "A"})
    result = top_products(forecasts, _long_history(), categories, windows=WINDOWS)

    old_week = _row(result, "week", "old")
    assert old_week["last_year_units"] == pytest.approx(5.0)  # the week 52 weeks back
    assert old_week["change_vs_last_year_pct"] == pytest.approx(12.0 / 5.0 - 1)
    assert old_week["previous_units"] == pytest.approx(10.0)
    old_month = _row(result, "month", "old")
    assert old_month["last_year_units"] == pytest.approx(20.0)  # weeks -52..-49
    assert old_month["change_vs_last_year_pct"] == pytest.approx(48.0 / 20.0 - 1)

    # history starting after the window: unknown, not 0
    for period in WINDOWS:
        young = _row(result, period, "young")
        assert np.isnan(young["last_year_units"])
        assert np.isnan(young["change_vs_last_year_pct"])
        assert young["previous_units"] > 0
    # history reaching back but nothing sold then: 0, and the change is undefined
    quiet = _row(result, "month", "quiet")
    assert quiet["last_year_units"] == 0.0
    assert np.isnan(quiet["change_vs_last_year_pct"])


def test_season_length_sets_the_last_year_window(
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    result = top_products(forecasts, history, product_categories, windows=WINDOWS, season_length=4)
    # a1 sold 1, 1, 1, 10 over the 4 weeks before START
    assert _row(result, "week", "a1")["last_year_units"] == pytest.approx(1.0)
    assert _row(result, "week", "a1")["change_vs_last_year_pct"] == pytest.approx(9.0)
    # one season = the window: the same weeks as previous_units
    assert _row(result, "month", "a1")["last_year_units"] == pytest.approx(13.0)
    # the default season (52 weeks) is beyond this 5-week history
    default = top_products(forecasts, history, product_categories, windows=WINDOWS)
    assert default["last_year_units"].isna().all()
    # a season shorter than the window would overlap the forecast: unknown
    short = top_products(forecasts, history, product_categories, windows=WINDOWS, season_length=2)
    assert short.loc[short["time_period"] == "month", "last_year_units"].isna().all()
    assert _row(short, "week", "a1")["last_year_units"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="season_length"):
        top_products(forecasts, history, product_categories, season_length=0)


def test_action_follows_the_trend_when_the_interval_agrees() -> None:
    # previous week: 100 units for every product with history; flat band +-5 %
    cases = {
        # product: (yhat, lo_80, hi_80, expected trend, expected action)
        "up_sure": (120.0, 96.0, 150.0, "up", "stock_up"),  # 96 >= 95
        "up_straddle": (120.0, 90.0, 150.0, "up", "hold"),  # 90 < 95
        "down_sure": (80.0, 60.0, 104.0, "down", "reduce"),  # 104 <= 105
        "down_straddle": (80.0, 60.0, 110.0, "down", "hold"),  # 110 > 105
        "flat": (102.0, 98.0, 104.0, "flat", "hold"),
        "no_bounds": (120.0, np.nan, np.nan, "up", "hold"),  # no calibrated interval
        "new_sure": (5.0, 1.0, 9.0, "up", "stock_up"),  # no previous sales, sells for sure
        "new_maybe": (5.0, 0.0, 9.0, "up", "hold"),  # no previous sales, may sell nothing
    }
    forecasts = _steps({uid: case[0] for uid, case in cases.items()}, 1)
    history = pd.DataFrame(
        {"unique_id": [uid for uid in cases if not uid.startswith("new")], "ds": _weeks(-1)}
    ).assign(y=100.0)
    categories = pd.DataFrame({"unique_id": list(cases), "category": "A"})
    totals = pd.DataFrame(
        {
            "unique_id": list(cases),
            "window": "week",
            "lo_80": [case[1] for case in cases.values()],
            "hi_80": [case[2] for case in cases.values()],
        }
    )
    result = top_products(
        forecasts, history, categories, windows={"week": 1}, window_totals=totals
    ).set_index("product_id")
    assert set(result["action"]) == {"stock_up", "hold", "reduce"}
    for uid, (_, _, _, trend, action) in cases.items():
        assert result.loc[uid, "trend"] == trend, uid
        assert result.loc[uid, "action"] == action, uid
    # a wider flat band makes the interval agree: 90 >= 100 * (1 - 0.15)
    wide = top_products(
        forecasts,
        history,
        categories,
        windows={"week": 1},
        window_totals=totals,
        flat_threshold=0.15,
    ).set_index("product_id")
    assert wide.loc["up_straddle", "action"] == "stock_up"
    assert wide.loc["down_straddle", "action"] == "reduce"  # -20 %, 110 <= 115


def test_cold_start_flag_per_window(
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    # the column is optional
    assert not top_products(forecasts, history, product_categories, windows=WINDOWS)[
        "cold_start"
    ].any()
    flagged = forecasts.assign(cold_start=False)
    flagged.loc[(flagged["unique_id"] == "b1"), "cold_start"] = True
    flagged.loc[(flagged["unique_id"] == "a1") & (flagged["step"] == 3), "cold_start"] = True
    result = top_products(flagged, history, product_categories, windows=WINDOWS)
    assert result["cold_start"].dtype == bool
    assert _row(result, "week", "b1")["cold_start"]
    assert _row(result, "month", "b1")["cold_start"]
    assert not _row(result, "week", "a1")["cold_start"]  # flagged step 3 is outside the week
    assert _row(result, "month", "a1")["cold_start"]
    assert result["cold_start"].sum() == 3


def test_empty_windows_keep_every_column(
    forecasts: pd.DataFrame, history: pd.DataFrame, product_categories: pd.DataFrame
) -> None:
    with pytest.warns(UserWarning, match="year"):
        result = top_products(forecasts, history, product_categories, windows={"year": 52})
    assert result.empty
    assert list(result.columns) == RANKING_COLUMNS


# --- category outlook -------------------------------------------------------------------

OUTLOOK_PERIODS = {"week": 1, "month": 4}


@pytest.fixture()
def hierarchy_history() -> pd.DataFrame:
    """Category A: 60 weeks, 5 a week 52..49 weeks back, 10 otherwise; B: 4 a week over the
    last 10 weeks; the total is their sum; a product row that must be ignored."""
    weeks = [_weeks(k) for k in range(-60, 0)]
    a = pd.Series([5.0 if -52 <= k < -48 else 10.0 for k in range(-60, 0)], index=weeks)
    b = pd.Series(4.0, index=weeks[-10:])
    total = a.add(b, fill_value=0.0)
    frames = [
        pd.DataFrame({"level": "category", "unique_id": "A", "ds": a.index, "y": a.to_numpy()}),
        pd.DataFrame({"level": "category", "unique_id": "B", "ds": b.index, "y": b.to_numpy()}),
        pd.DataFrame({"level": "total", "unique_id": "total", "ds": total.index, "y": total}),
        pd.DataFrame({"level": "product", "unique_id": "A", "ds": weeks, "y": 1000.0}),
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture()
def window_frame() -> pd.DataFrame:
    rows = [
        # level, unique_id, window, n_steps, yhat
        ("total", "total", "month", 4, 64.0),
        ("category", "B", "month", 4, 12.0),
        ("category", "A", "week", 1, 12.0),
        ("total", "total", "week", 1, 16.1),
        ("category", "B", "week", 1, 4.1),
        ("category", "A", "month", 4, 48.0),
        ("category", "A", "year", 52, 600.0),  # not asked for
        ("product", "A", "week", 1, 999.0),  # product rows are ignored
    ]
    frame = pd.DataFrame(rows, columns=["level", "unique_id", "window", "n_steps", "yhat"])
    return frame.assign(
        lo_80=0.9 * frame["yhat"],
        hi_80=1.1 * frame["yhat"],
        lo_95=0.8 * frame["yhat"],
        hi_95=1.2 * frame["yhat"],
    )


def test_category_outlook_figures(
    window_frame: pd.DataFrame, hierarchy_history: pd.DataFrame
) -> None:
    out = category_outlook(window_frame, hierarchy_history, periods=OUTLOOK_PERIODS)
    assert list(out.columns) == OUTLOOK_COLUMNS
    assert list(zip(out["level"], out["category"], out["time_period"], strict=True)) == [
        ("category", "A", "week"),
        ("category", "A", "month"),
        ("category", "B", "week"),
        ("category", "B", "month"),
        ("total", "total", "week"),
        ("total", "total", "month"),
    ]
    rows = out.set_index(["category", "time_period"])

    a_week = rows.loc[("A", "week")]
    assert a_week["predicted_units"] == pytest.approx(12.0)
    assert a_week["lower_80"] == pytest.approx(10.8)
    assert a_week["upper_80"] == pytest.approx(13.2)
    assert a_week["lower_95"] == pytest.approx(9.6)
    assert a_week["upper_95"] == pytest.approx(14.4)
    assert a_week["previous_units"] == pytest.approx(10.0)
    assert a_week["change_pct"] == pytest.approx(0.2)
    assert a_week["last_year_units"] == pytest.approx(5.0)
    assert a_week["change_vs_last_year_pct"] == pytest.approx(1.4)
    assert a_week["trend"] == "up"
    a_month = rows.loc[("A", "month")]
    assert a_month["previous_units"] == pytest.approx(40.0)
    assert a_month["last_year_units"] == pytest.approx(20.0)
    assert a_month["change_vs_last_year_pct"] == pytest.approx(48.0 / 20.0 - 1)

    # B: +2.5 % is flat; 10 weeks of history do not reach last year
    b_week = rows.loc[("B", "week")]
    assert b_week["previous_units"] == pytest.approx(4.0)
    assert b_week["change_pct"] == pytest.approx(0.025)
    assert b_week["trend"] == "flat"
    assert np.isnan(b_week["last_year_units"])
    assert np.isnan(b_week["change_vs_last_year_pct"])
    b_month = rows.loc[("B", "month")]
    assert b_month["change_pct"] == pytest.approx(-0.25)
    assert b_month["trend"] == "down"

    # total = A + B
    t_week = rows.loc[("total", "week")]
    assert t_week["previous_units"] == pytest.approx(14.0)
    assert t_week["change_pct"] == pytest.approx(16.1 / 14.0 - 1)
    assert t_week["last_year_units"] == pytest.approx(5.0)
    assert t_week["change_vs_last_year_pct"] == pytest.approx(16.1 / 5.0 - 1)
    t_month = rows.loc[("total", "month")]
    assert t_month["previous_units"] == pytest.approx(56.0)
    assert t_month["change_pct"] == pytest.approx(64.0 / 56.0 - 1)
    assert t_month["trend"] == "up"
    assert t_month["last_year_units"] == pytest.approx(20.0)

    # a stricter threshold turns B's week into a trend
    strict = category_outlook(
        window_frame, hierarchy_history, periods=OUTLOOK_PERIODS, flat_threshold=0.01
    ).set_index(["category", "time_period"])
    assert strict.loc[("B", "week"), "trend"] == "up"


def test_category_outlook_bad_input(
    window_frame: pd.DataFrame, hierarchy_history: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match="quarter"):
        category_outlook(window_frame, hierarchy_history, periods={"week": 1, "quarter": 13})
    # the default periods include the year, which only category A has... and no total
    only_week = window_frame[window_frame["window"] == "week"]
    with pytest.raises(ValueError, match="month"):
        category_outlook(only_week, hierarchy_history)
    with pytest.raises(ValueError, match="n_steps"):
        category_outlook(window_frame, hierarchy_history, periods={"week": 1, "month": 5})
    with pytest.raises(ValueError, match="lo_95"):
        category_outlook(
            window_frame.drop(columns="lo_95"), hierarchy_history, periods=OUTLOOK_PERIODS
        )
    products_only = hierarchy_history[hierarchy_history["level"] == "product"]
    with pytest.raises(ValueError, match="history"):
        category_outlook(window_frame, products_only, periods=OUTLOOK_PERIODS)
    with pytest.raises(ValueError, match="flat_threshold"):
        category_outlook(
            window_frame, hierarchy_history, periods=OUTLOOK_PERIODS, flat_threshold=-0.1
        )


def test_category_outlook_on_a_forecast(
    forecast_result: ml.ForecastResult,
    weekly: pd.DataFrame,
    categories: pd.DataFrame,
    spec: ml.ForecastSpec,
) -> None:
    history = aggregate_levels(weekly, categories, ["y"])
    out = category_outlook(forecast_result.windows, history, periods=spec.interval_windows)
    n_series = categories["category"].nunique() + 1
    assert len(out) == n_series * len(spec.interval_windows)
    assert out["lower_95"].le(out["lower_80"]).all()
    assert out["lower_80"].le(out["predicted_units"]).all()
    assert out["predicted_units"].le(out["upper_80"]).all()
    assert out["upper_80"].le(out["upper_95"]).all()
    last = weekly["ds"].max()
    total_week = out[(out["level"] == "total") & (out["time_period"] == "week")].iloc[0]
    assert total_week["previous_units"] == pytest.approx(
        weekly.loc[weekly["ds"] == last, "y"].sum()
    )
    # 170 weeks of history: last year is known for every series
    assert out["last_year_units"].notna().all()
    year_ago = weekly[
        (weekly["ds"] > last - pd.Timedelta(weeks=52))
        & (weekly["ds"] <= last - pd.Timedelta(weeks=48))
    ]
    total_month = out[(out["level"] == "total") & (out["time_period"] == "month")].iloc[0]
    assert total_month["last_year_units"] == pytest.approx(year_ago["y"].sum())
