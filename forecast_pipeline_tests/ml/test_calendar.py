"""Holiday and retail-event calendar features, alone and as mlforecast date features."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from mlforecast import MLForecast
from sklearn.linear_model import LinearRegression

from forecast_pipeline.ml.calendar import (
    MAX_EVENT_DISTANCE,
    RETAIL_EVENTS,
    CalendarFeature,
    calendar_feature_functions,
    calendar_feature_names,
    calendar_frame,
    retail_event_dates,
)


def _row(frame: pd.DataFrame, day: str) -> pd.Series:
    rows = frame[frame["ds"] == pd.Timestamp(day)]
    assert len(rows) == 1
    return rows.iloc[0]


def _weekly(start: str, end: str, country: str = "US") -> pd.DataFrame:
    return calendar_frame(pd.date_range(start, end, freq="W-MON"), "W-MON", country)


def _daily(start: str, end: str, country: str = "US") -> pd.DataFrame:
    return calendar_frame(pd.date_range(start, end, freq="D"), "D", country)


def test_retail_event_dates_2024() -> None:
    assert retail_event_dates("black_friday", [2024]) == [pd.Timestamp("2024-11-29")]
    assert retail_event_dates("cyber_monday", [2024]) == [pd.Timestamp("2024-12-02")]
    assert retail_event_dates("christmas", [2024]) == [pd.Timestamp("2024-12-25")]
    assert retail_event_dates("easter", [2025, 2024]) == [
        pd.Timestamp("2024-03-31"),
        pd.Timestamp("2025-04-20"),
    ]


def test_black_friday_is_the_day_after_the_fourth_thursday_of_november() -> None:
    dates = retail_event_dates("black_friday", range(2019, 2027))
    assert [d.strftime("%Y-%m-%d") for d in dates] == [
        "2019-11-29",
        "2020-11-27",
        "2021-11-26",
        "2022-11-25",
        "2023-11-24",
        "2024-11-29",
        "2025-11-28",
        "2026-11-27",
    ]


def test_unknown_retail_event_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown retail event 'prime_day'"):
        retail_event_dates("prime_day", [2024])


def test_weekly_frame_shape_and_columns() -> None:
    frame = _weekly("2024-01-01", "2024-12-30")
    assert list(frame.columns) == ["ds", *calendar_feature_names()]
    assert len(frame) == 53
    assert (frame.drop(columns="ds").dtypes == np.float64).all()
    assert len(calendar_feature_names()) == 1 + 3 * len(RETAIL_EVENTS)


def test_weekly_black_friday_and_cyber_monday() -> None:
    frame = _weekly("2024-11-11", "2024-12-16")
    before = _row(frame, "2024-11-18")
    assert before["in_period_black_friday"] == 0.0
    assert before["days_to_black_friday"] == 11.0  # 2024-11-29 - 2024-11-18

    week = _row(frame, "2024-11-25")
    assert week["in_period_black_friday"] == 1.0
    assert week["days_to_black_friday"] == 0.0
    assert week["days_since_black_friday"] == 0.0
    # Cyber Monday 2024-12-02 is in the next week
    assert week["in_period_cyber_monday"] == 0.0
    assert week["days_to_cyber_monday"] == 7.0

    after = _row(frame, "2024-12-02")
    assert after["in_period_black_friday"] == 0.0
    assert after["days_since_black_friday"] == 3.0  # 2024-12-02 - 2024-11-29
    assert after["days_to_black_friday"] == MAX_EVENT_DISTANCE  # 2025-11-28 is 361 days away
    assert after["in_period_cyber_monday"] == 1.0


def test_distances_are_capped_at_half_a_year() -> None:
    week = _row(_weekly("2024-07-01", "2024-07-01"), "2024-07-01")
    assert week["days_to_christmas"] == 177.0  # 2024-12-25 - 2024-07-01
    assert week["days_since_christmas"] == 183.0  # 2023-12-25 is 189 days before
    frame = _weekly("2015-01-05", "2030-12-30")
    distances = frame.filter(regex="^days_(to|since)_")
    assert distances.to_numpy().min() == 0.0
    assert distances.to_numpy().max() == MAX_EVENT_DISTANCE


def test_daily_christmas() -> None:
    frame = _daily("2024-12-23", "2024-12-27")
    assert frame["in_period_christmas"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert frame["days_to_christmas"].tolist() == [2.0, 1.0, 0.0, 183.0, 183.0]
    assert frame["days_since_christmas"].tolist() == [183.0, 183.0, 0.0, 1.0, 2.0]


def test_weekly_us_holidays() -> None:
    frame = _weekly("2024-06-24", "2024-12-30")
    assert _row(frame, "2024-07-01")["holiday_days"] == 1.0  # Independence Day
    assert _row(frame, "2024-07-08")["holiday_days"] == 0.0
    assert _row(frame, "2024-11-25")["holiday_days"] == 1.0  # Thanksgiving
    assert _row(frame, "2024-12-23")["holiday_days"] == 1.0  # Christmas Day only
    assert _row(frame, "2024-12-30")["holiday_days"] == 1.0  # New Year's Day 2025


def test_observed_days_count_as_holidays_also_across_years() -> None:
    # 2026-07-04 is a Saturday, observed on Friday 2026-07-03
    assert _row(_weekly("2026-06-29", "2026-06-29"), "2026-06-29")["holiday_days"] == 2.0
    # 2022-01-01 is a Saturday, observed on Friday 2021-12-31
    assert _row(_weekly("2021-12-27", "2021-12-27"), "2021-12-27")["holiday_days"] == 2.0


def test_daily_us_holidays() -> None:
    frame = _daily("2024-07-03", "2024-07-05")
    assert frame["holiday_days"].tolist() == [0.0, 1.0, 0.0]


def test_country_changes_the_holidays() -> None:
    us = _row(_daily("2024-10-03", "2024-10-03", "US"), "2024-10-03")
    de = _row(_daily("2024-10-03", "2024-10-03", "DE"), "2024-10-03")
    assert us["holiday_days"] == 0.0
    assert de["holiday_days"] == 1.0  # German Unity Day
    # Christmas Day and the Second Day of Christmas
    assert _row(_weekly("2024-12-23", "2024-12-23", "DE"), "2024-12-23")["holiday_days"] == 2.0
    assert _row(_weekly("2024-12-23", "2024-12-23", "de"), "2024-12-23")["holiday_days"] == 2.0
    # retail events do not depend on the country
    assert us.drop(["holiday_days"]).equals(de.drop(["holiday_days"]))


def test_frame_keeps_input_order_and_duplicates() -> None:
    dates = ["2024-12-02", "2024-11-25", "2024-12-02"]
    frame = calendar_frame(dates, "W-MON")
    assert frame["ds"].tolist() == [pd.Timestamp(d) for d in dates]
    assert frame["in_period_black_friday"].tolist() == [0.0, 1.0, 0.0]
    assert calendar_frame([], "D").shape == (0, 1 + len(calendar_feature_names()))


@pytest.mark.parametrize(
    ("freq", "dates"),
    [
        ("W-MON", pd.date_range("2023-01-02", "2026-12-28", freq="W-MON")),
        ("D", pd.date_range("2023-11-01", "2025-01-31", freq="D")),
    ],
)
def test_functions_match_the_frame(freq: str, dates: pd.DatetimeIndex) -> None:
    # shuffled, with repeats, as mlforecast passes them while predicting (one date per series)
    rng = np.random.default_rng(0)
    sample = pd.DatetimeIndex(dates.values[rng.integers(0, len(dates), 3 * len(dates))])
    frame = calendar_frame(sample, freq, "GB")
    functions = calendar_feature_functions(freq, "GB")
    assert [f.__name__ for f in functions] == calendar_feature_names()
    for function in functions:
        values = function(sample)
        assert isinstance(values, np.ndarray)
        assert values.shape == (len(sample),)
        np.testing.assert_array_equal(values, frame[function.__name__].to_numpy())


def test_functions_pickle() -> None:
    functions = calendar_feature_functions("W-MON", "FR")
    restored = pickle.loads(pickle.dumps(functions))
    assert restored == functions
    assert [f.__name__ for f in restored] == calendar_feature_names()
    dates = pd.date_range("2024-04-29", periods=10, freq="W-MON")
    for original, copy in zip(functions, restored, strict=True):
        np.testing.assert_array_equal(original(dates), copy(dates))
    # Labour Day, Victory in Europe Day and Ascension Day 2024
    assert restored[0](pd.DatetimeIndex(["2024-05-06"])).tolist() == [2.0]
    assert restored[0](pd.DatetimeIndex(["2024-04-29"])).tolist() == [1.0]


def test_mlforecast_fit_preprocess_and_predict() -> None:
    ds = pd.date_range("2024-06-03", "2024-11-25", freq="W-MON")  # 26 weeks
    df = pd.concat(
        [
            pd.DataFrame({"unique_id": uid, "ds": ds, "y": 10.0 * (i + 1) + np.arange(len(ds))})
            for i, uid in enumerate(["a", "b", "c"])
        ],
        ignore_index=True,
    )
    mlf = MLForecast(
        models=[LinearRegression()],
        freq="W-MON",
        lags=[1],
        date_features=calendar_feature_functions("W-MON"),
    )
    prep = mlf.preprocess(df)
    assert mlf.ts.features == ["lag1", *calendar_feature_names()]
    for day, column, value in [
        ("2024-07-01", "holiday_days", 1.0),
        ("2024-11-18", "days_to_black_friday", 11.0),
        ("2024-11-25", "in_period_black_friday", 1.0),
        ("2024-11-25", "days_to_cyber_monday", 7.0),
    ]:
        assert (prep.loc[prep["ds"] == pd.Timestamp(day), column] == value).all()

    mlf.fit(df)
    seen: list[pd.DataFrame] = []

    def keep(features: pd.DataFrame) -> pd.DataFrame:
        seen.append(features.copy())
        return features

    preds = mlf.predict(h=4, before_predict_callback=keep)
    assert len(preds) == 12
    assert preds["ds"].drop_duplicates().tolist() == list(
        pd.date_range("2024-12-02", periods=4, freq="W-MON")
    )
    assert np.isfinite(preds["LinearRegression"]).all()
    # step 1 is the week of 2024-12-02: Cyber Monday, 3 days after Black Friday
    assert (seen[0]["in_period_cyber_monday"] == 1.0).all()
    assert (seen[0]["days_since_black_friday"] == 3.0).all()
    # step 4 is the week of 2024-12-23: Christmas Day
    assert (seen[3]["in_period_christmas"] == 1.0).all()
    assert (seen[3]["holiday_days"] == 1.0).all()
    assert pickle.loads(pickle.dumps(mlf)).predict(h=4).equals(preds)


def test_bad_freq_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"freq must be one of \['W-MON', 'D'\], got 'W'"):
        calendar_frame(["2024-01-01"], "W")
    with pytest.raises(ValueError, match="freq must be one of"):
        calendar_feature_functions("MS")


def test_weekly_dates_must_be_mondays() -> None:
    dates = ["2024-11-25", "2024-11-26", "2024-11-28"]
    with pytest.raises(ValueError, match="must be Mondays; 2024-11-26 is a Tuesday"):
        calendar_frame(dates, "W-MON")
    with pytest.raises(ValueError, match="2024-11-26 is a Tuesday"):
        calendar_feature_functions("W-MON")[0](pd.DatetimeIndex(dates))
    assert len(calendar_frame(dates, "D")) == 3


def test_unknown_country_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown country 'XX'.*ISO 3166-1 alpha-2"):
        calendar_frame(["2024-01-01"], "D", country="XX")
    with pytest.raises(ValueError, match="unknown country 'UNITED STATES'"):
        calendar_feature_functions("D", country="United States")


def test_unknown_feature_and_missing_dates_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown calendar feature 'month'"):
        CalendarFeature("month", "D")
    with pytest.raises(ValueError, match="missing values"):
        calendar_frame(pd.DatetimeIndex(["2024-01-01", None]), "D")
