from __future__ import annotations

import pandas as pd
import pytest

from forecast_pipeline.ml import daily_series, weekly_series

ORIGIN = pd.Timestamp("2024-02-05")  # a Monday


def _sales(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "store_id", "product_id", "units"])


@pytest.fixture()
def raw() -> pd.DataFrame:
    return _sales(
        [
            # product a: two stores on the same days, a gap of two weeks, sales in origin week
            ("2024-01-03", "s1", "a", 2.0),  # Wed of week 2024-01-01
            ("2024-01-03", "s2", "a", 3.0),
            ("2024-01-07", "s1", "a", 1.0),  # Sun, same week
            ("2024-01-29", "s2", "a", 4.0),  # Mon of week 2024-01-29 (last full week)
            ("2024-02-05", "s1", "a", 100.0),  # origin week: excluded
            ("2024-02-11", "s1", "a", 100.0),  # Sunday of origin week: excluded
            # product b: zero-unit rows before its first sale, a single sale
            ("2024-01-02", "s1", "b", 0.0),
            ("2024-01-16", "s1", "b", 7.0),
            # product c: only sells from the origin week on -> absent
            ("2024-02-06", "s1", "c", 5.0),
        ]
    )


def test_weekly_series_labels_sums_and_zero_fills(raw: pd.DataFrame) -> None:
    out = weekly_series(raw, ORIGIN)

    assert list(out.columns) == ["unique_id", "ds", "y"]
    assert (out["ds"].dt.dayofweek == 0).all(), "weeks must be labelled by their Monday"
    assert out["y"].dtype == "float64"

    a = out[out["unique_id"] == "a"].set_index("ds")["y"]
    expected_weeks = pd.date_range("2024-01-01", "2024-01-29", freq="W-MON")
    assert list(a.index) == list(expected_weeks)
    # 2 + 3 (two stores) + 1 (Sunday of the same week), two zero weeks, then 4
    assert a.tolist() == [6.0, 0.0, 0.0, 0.0, 4.0]

    b = out[out["unique_id"] == "b"].set_index("ds")["y"]
    # starts at the week of the first positive sale, zero-filled up to the last full week
    assert list(b.index) == list(pd.date_range("2024-01-15", "2024-01-29", freq="W-MON"))
    assert b.tolist() == [7.0, 0.0, 0.0]


def test_weekly_series_excludes_origin_week(raw: pd.DataFrame) -> None:
    out = weekly_series(raw, ORIGIN)
    assert out["ds"].max() == ORIGIN - pd.Timedelta(days=7)
    assert "c" not in set(out["unique_id"])
    assert out["y"].sum() == pytest.approx(6 + 4 + 7)


def test_weekly_series_every_product_ends_at_last_full_week(raw: pd.DataFrame) -> None:
    out = weekly_series(raw, ORIGIN)
    last = out.groupby("unique_id")["ds"].max()
    assert (last == ORIGIN - pd.Timedelta(days=7)).all()
    assert out.equals(out.sort_values(["unique_id", "ds"], ignore_index=True))


def test_weekly_series_requires_monday_origin(raw: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="Monday"):
        weekly_series(raw, pd.Timestamp("2024-02-06"))


def test_daily_series_sums_stores_and_fills_days(raw: pd.DataFrame) -> None:
    origin = pd.Timestamp("2024-01-10")
    out = daily_series(raw, origin)
    a = out[out["unique_id"] == "a"].set_index("ds")["y"]
    assert a.index.min() == pd.Timestamp("2024-01-03")
    assert a.index.max() == origin - pd.Timedelta(days=1)
    assert len(a) == 7  # Jan 3..9, no gaps
    assert a.loc["2024-01-03"] == 5.0
    assert a.loc["2024-01-07"] == 1.0
    assert a.sum() == 6.0
    assert "b" not in set(out["unique_id"])  # first sale on Jan 16
