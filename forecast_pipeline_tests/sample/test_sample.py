"""Tests of the synthetic sales, upload files and indicators in ``forecast_pipeline.sample``."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.sample import (
    SALES_COLUMNS,
    SampleConfig,
    generate_daily_sales,
    generate_indicators,
    write_sales_uploads,
)
from forecast_pipeline.sample.seasonality import thanksgiving

SMALL = SampleConfig(
    seed=11,
    n_products=20,
    n_stores=1,
    start=datetime.date(2024, 1, 1),
    end=datetime.date(2025, 6, 30),
)
EXPECTED_DTYPES = {
    "date": "datetime64[ns]",
    "units": "int64",
    "unit_price": "float64",
    "revenue": "float64",
    "on_promotion": "bool",
}
STRING_COLUMNS = ("store_id", "product_id", "product_name", "category")
INDICATOR_IDS = {
    "CPIAUCSL",
    "UNRATE",
    "UMCSENT",
    "RSXFS",
    "A191RL1Q225SBEA",
    "^GSPC",
    "^VIX",
    "XRT",
}


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    """Sales of the small configuration, generated once for the module."""
    return generate_daily_sales(SMALL)


@pytest.fixture(scope="module")
def catalogue_sales() -> pd.DataFrame:
    """Sales of a 60-product catalogue, enough products per category to see its seasonality."""
    return generate_daily_sales(dataclasses.replace(SMALL, n_products=60))


@pytest.fixture(scope="module")
def two_store_sales() -> pd.DataFrame:
    """Sales of a small two-store configuration."""
    return generate_daily_sales(dataclasses.replace(SMALL, n_stores=2, n_products=30))


def daily_units(frame: pd.DataFrame) -> pd.Series:
    """Total units per calendar day, with zero on days without any sale."""
    totals = frame.groupby("date")["units"].sum()
    days = pd.date_range(SMALL.start, SMALL.end, freq="D")
    return totals.reindex(days, fill_value=0)


def test_same_seed_gives_identical_frame(sales: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_daily_sales(SMALL), sales)


def test_different_seed_gives_different_frame(sales: pd.DataFrame) -> None:
    other = generate_daily_sales(dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert not other.equals(sales)


def test_columns_and_dtypes(sales: pd.DataFrame) -> None:
    assert list(sales.columns) == list(SALES_COLUMNS)
    for column, dtype in EXPECTED_DTYPES.items():
        assert str(sales[column].dtype) == dtype, column
    for column in STRING_COLUMNS:
        assert pd.api.types.is_string_dtype(sales[column]), column
        assert sales[column].map(type).eq(str).all(), column
    assert (sales["date"] == sales["date"].dt.normalize()).all()
    assert sales["date"].min() >= pd.Timestamp(SMALL.start)
    assert sales["date"].max() <= pd.Timestamp(SMALL.end)


def test_grain_is_unique_and_sorted(sales: pd.DataFrame) -> None:
    key = ["date", "store_id", "product_id"]
    assert not sales.duplicated(key).any()
    assert sales.equals(sales.sort_values(key).reset_index(drop=True))


def test_identifiers(two_store_sales: pd.DataFrame) -> None:
    assert sorted(two_store_sales["store_id"].unique()) == ["S01", "S02"]
    assert two_store_sales["product_id"].str.fullmatch(r"P\d{4}").all()
    names = two_store_sales.groupby("product_id")[["product_name", "category"]].nunique()
    assert (names == 1).all().all(), "a product keeps one name and one category"


def test_units_and_revenue(sales: pd.DataFrame) -> None:
    assert (sales["units"] >= 1).all()
    assert (sales["unit_price"] > 0).all()
    assert np.allclose(sales["unit_price"], sales["unit_price"].round(2), rtol=0, atol=1e-9)
    expected = (sales["units"] * sales["unit_price"]).round(2)
    assert np.allclose(sales["revenue"], expected, rtol=0, atol=1e-9)


def test_weekend_sells_more_than_weekdays(sales: pd.DataFrame) -> None:
    per_day = daily_units(sales)
    weekend = per_day.index.dayofweek >= 5
    assert per_day[weekend].mean() > 1.1 * per_day[~weekend].mean()


def test_fourth_quarter_beats_second_quarter(sales: pd.DataFrame) -> None:
    per_day = daily_units(sales)
    q2 = per_day["2024-04-01":"2024-06-30"].mean()
    q4 = per_day["2024-10-01":"2024-12-31"].mean()
    assert q4 > 1.1 * q2


def test_category_seasonality(catalogue_sales: pd.DataFrame) -> None:
    month = catalogue_sales["date"].dt.month
    in_2024 = catalogue_sales["date"].dt.year == 2024

    def units_per_day(mask: pd.Series, category: str) -> float:
        rows = catalogue_sales[mask & (catalogue_sales["category"] == category)]
        return rows["units"].sum() / catalogue_sales.loc[mask, "date"].nunique()

    toys_december = units_per_day(in_2024 & (month == 12), "Toys")
    toys_mid_year = units_per_day(in_2024 & month.between(4, 9), "Toys")
    assert toys_december > 1.5 * toys_mid_year
    garden_season = units_per_day(month.between(4, 7), "Garden")
    garden_winter = units_per_day(month.isin([10, 11, 12, 1]), "Garden")
    assert garden_season > 1.5 * garden_winter


def test_black_friday_spike(sales: pd.DataFrame) -> None:
    per_day = daily_units(sales)
    black_friday = pd.Timestamp(thanksgiving(2024)) + pd.Timedelta(days=1)
    assert black_friday == pd.Timestamp("2024-11-29")
    around = per_day[black_friday - pd.Timedelta(days=7) : black_friday + pd.Timedelta(days=7)]
    assert per_day[black_friday] > 1.5 * around.drop(black_friday).mean()


def test_christmas_day_is_closed(sales: pd.DataFrame) -> None:
    assert not (sales["date"] == pd.Timestamp("2024-12-25")).any()


def test_mix_of_fast_and_slow_movers(sales: pd.DataFrame) -> None:
    n_days = SMALL.n_days
    selling_days = sales.groupby("product_id")["date"].nunique()
    units_per_selling_day = sales.groupby("product_id")["units"].mean()
    assert (selling_days < 0.3 * n_days).any(), "expected slow intermittent movers"
    assert (selling_days > 0.75 * n_days).any(), "expected products selling on most days"
    assert (units_per_selling_day >= 10).any(), "expected fast movers selling tens of units a day"
    assert (units_per_selling_day < 2).any()


def test_launches_and_discontinuations(sales: pd.DataFrame) -> None:
    first_sale = sales.groupby("product_id")["date"].min()
    last_sale = sales.groupby("product_id")["date"].max()
    assert (first_sale > pd.Timestamp(SMALL.start) + pd.Timedelta(days=90)).any()
    assert (last_sale < pd.Timestamp(SMALL.end) - pd.Timedelta(days=90)).any()


def test_promotions_cut_prices(sales: pd.DataFrame) -> None:
    assert sales["on_promotion"].any() and not sales["on_promotion"].all()
    regular = sales[~sales["on_promotion"]].groupby("product_id")["unit_price"].median()
    promoted = sales[sales["on_promotion"]].groupby("product_id")["unit_price"].median()
    both = regular.index.intersection(promoted.index)
    ratio = promoted[both] / regular[both]
    assert ((ratio >= 0.65) & (ratio <= 0.95)).mean() > 0.8


def test_larger_store_sells_more(two_store_sales: pd.DataFrame) -> None:
    per_store = two_store_sales.groupby("store_id")["units"].sum()
    assert per_store["S01"] > 1.2 * per_store["S02"]


def test_upload_files(tmp_path: Path, sales: pd.DataFrame) -> None:
    paths = write_sales_uploads(tmp_path, SMALL)
    assert [p.name for p in paths] == [
        "sales_2024_q1.csv",
        "sales_2024_q2.csv",
        "sales_2024_q3.csv",
        "sales_2024_q4.csv",
        "sales_2025_q1.csv",
        "sales_2025_q2.csv",
    ]
    assert paths == sorted(paths)
    assert sorted(tmp_path.iterdir()) == paths

    frames = []
    for path in paths:
        text = path.read_bytes().decode("utf-8")
        assert "\r" not in text
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == list(SALES_COLUMNS)
        assert {row[-1] for row in rows[1:]} <= {"true", "false"}
        frame = pd.read_csv(io.StringIO(text), dtype={"on_promotion": str})
        year, quarter = int(path.stem[6:10]), int(path.stem[-1])
        dates = pd.to_datetime(frame["date"], format="%Y-%m-%d")
        assert (dates.dt.year == year).all() and (dates.dt.quarter == quarter).all()
        key = frame[["date", "store_id", "product_id"]]
        assert key.equals(key.sort_values(list(key.columns)).reset_index(drop=True))
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    assert len(combined) == len(sales)
    assert combined["units"].sum() == sales["units"].sum()
    assert combined["revenue"].sum() == pytest.approx(sales["revenue"].sum())
    assert (combined["on_promotion"] == "true").sum() == sales["on_promotion"].sum()
    assert combined["date"].tolist() == sales["date"].dt.strftime("%Y-%m-%d").tolist()


def test_uploads_are_byte_stable_and_not_rewritten(tmp_path: Path) -> None:
    first = write_sales_uploads(tmp_path / "a", SMALL)
    second = write_sales_uploads(tmp_path / "b", SMALL)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]

    past = 1_000_000_000
    for path in first:
        os.utime(path, (past, past))
    again = write_sales_uploads(tmp_path / "a", SMALL)
    assert again == first
    assert all(p.stat().st_mtime == past for p in again), "identical files must not be rewritten"

    changed = first[0]
    changed.write_bytes(b"stale")
    write_sales_uploads(tmp_path / "a", SMALL)
    assert changed.read_bytes() == second[0].read_bytes()


def test_uploads_differ_between_seeds(tmp_path: Path) -> None:
    one = write_sales_uploads(tmp_path / "a", SMALL)
    two = write_sales_uploads(tmp_path / "b", dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert [p.read_bytes() for p in one] != [p.read_bytes() for p in two]


@pytest.fixture(scope="module")
def indicators() -> pd.DataFrame:
    """Generate the indicators of the small configuration once for the module."""
    return generate_indicators(SMALL)


def test_indicators_layout(indicators: pd.DataFrame) -> None:
    assert list(indicators.columns) == [
        "series_id",
        "observation_date",
        "value",
        "published_date",
        "source",
        "frequency",
    ]
    assert str(indicators["observation_date"].dtype) == "datetime64[ns]"
    assert str(indicators["published_date"].dtype) == "datetime64[ns]"
    assert str(indicators["value"].dtype) == "float64"
    assert set(indicators["series_id"]) == INDICATOR_IDS
    assert (indicators["source"] == "synthetic").all()
    assert indicators["value"].notna().all()
    frequency = indicators.groupby("series_id")["frequency"].unique().map(tuple).to_dict()
    assert frequency == {
        "CPIAUCSL": ("monthly",),
        "UNRATE": ("monthly",),
        "UMCSENT": ("monthly",),
        "RSXFS": ("monthly",),
        "A191RL1Q225SBEA": ("quarterly",),
        "^GSPC": ("daily",),
        "^VIX": ("daily",),
        "XRT": ("daily",),
    }
    assert not indicators.duplicated(["series_id", "observation_date"]).any()


def test_indicator_dates(indicators: pd.DataFrame) -> None:
    window_start = pd.Timestamp(SMALL.start) - pd.DateOffset(years=2)
    assert indicators["observation_date"].min() >= window_start
    assert indicators["observation_date"].max() <= pd.Timestamp(SMALL.end)
    assert (indicators["published_date"] >= indicators["observation_date"]).all()
    periodic = indicators[indicators["frequency"] != "daily"]
    assert (periodic["published_date"] > periodic["observation_date"]).all()
    assert (periodic["observation_date"].dt.day == 1).all()
    quarterly = periodic[periodic["frequency"] == "quarterly"]
    assert quarterly["observation_date"].dt.month.isin([1, 4, 7, 10]).all()
    daily = indicators[indicators["frequency"] == "daily"]
    assert (daily["published_date"] == daily["observation_date"]).all()
    assert (daily["observation_date"].dt.dayofweek < 5).all()
    assert not (daily["observation_date"] == pd.Timestamp("2024-12-25")).any()
    unrate = indicators[indicators["series_id"] == "UNRATE"]["published_date"]
    assert (unrate.dt.dayofweek == 4).all() and (unrate.dt.day <= 7).all()


def test_indicator_values_are_plausible(indicators: pd.DataFrame) -> None:
    values = indicators.groupby("series_id")["value"]
    cpi = indicators[indicators["series_id"] == "CPIAUCSL"]["value"].to_numpy()
    assert cpi.min() > 250 and cpi.max() < 350 and cpi[-1] > cpi[0]
    assert values.min()["UNRATE"] >= 3.5 and values.max()["UNRATE"] <= 5.0
    assert values.min()["^VIX"] > 5 and values.min()["^GSPC"] > 1000


def test_indicators_deterministic(indicators: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_indicators(SMALL), indicators)
    other = generate_indicators(dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert not other["value"].equals(indicators["value"])


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SampleConfig(n_products=3, n_categories=8)
    with pytest.raises(ValueError):
        SampleConfig(start=datetime.date(2025, 1, 2), end=datetime.date(2025, 1, 1))
    with pytest.raises(ValueError):
        SampleConfig(n_stores=0)
    with pytest.raises(ValueError):
        SampleConfig(country="XX")
    assert SampleConfig(country="DE").country == "DE"
