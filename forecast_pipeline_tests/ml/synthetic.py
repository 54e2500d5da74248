"""Synthetic sales data generators for the ml tests (numpy only, seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd

N_SERIES = 30
N_WEEKS = 170
CATEGORIES = ("food", "drinks", "home")


def make_weekly(
    n_series: int = N_SERIES,
    n_weeks: int = N_WEEKS,
    *,
    seed: int = 0,
    start: str = "2021-01-04",
    trend: float = 0.006,
    noise: float = 0.12,
) -> pd.DataFrame:
    """Weekly series with an upward trend, yearly seasonality and multiplicative noise.

    Levels differ by more than an order of magnitude between series.
    """
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=n_weeks, freq="W-MON")
    t = np.arange(n_weeks)
    frames = []
    for i in range(n_series):
        level = rng.uniform(10, 300)
        amplitude = rng.uniform(0.25, 0.5)
        phase = rng.uniform(0, 2 * np.pi)
        slope = trend * rng.uniform(0.5, 1.5)
        mean = level * (1 + slope * t) * (1 + amplitude * np.sin(2 * np.pi * t / 52 + phase))
        y = np.maximum(mean * (1 + noise * rng.standard_normal(n_weeks)), 0).round()
        frames.append(pd.DataFrame({"unique_id": f"p{i:02d}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def categories_for(series: pd.DataFrame) -> pd.DataFrame:
    """Assign products round-robin to :data:`CATEGORIES`."""
    ids = sorted(series["unique_id"].unique())
    return pd.DataFrame(
        {"unique_id": ids, "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(len(ids))]}
    )


def make_daily_sales(
    n_series: int = 10, n_days: int = 400, *, seed: int = 0, start: str = "2023-01-02"
) -> pd.DataFrame:
    """Raw daily sales (``date``, ``store_id``, ``product_id``, ``units``) from two stores.

    Each product has a day-of-week pattern and a slow trend; the two stores split its sales.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_days, freq="D")
    t = np.arange(n_days)
    frames = []
    for i in range(n_series):
        level = rng.uniform(5, 60)
        weekday_profile = rng.uniform(0.6, 1.6, size=7)
        mean = level * weekday_profile[dates.dayofweek] * (1 + 0.001 * t)
        units = rng.poisson(mean)
        share = rng.uniform(0.3, 0.7)
        store_a = rng.binomial(units, share)
        for store, values in (("s1", store_a), ("s2", units - store_a)):
            frames.append(
                pd.DataFrame(
                    {"date": dates, "store_id": store, "product_id": f"d{i:02d}", "units": values}
                )
            )
    return pd.concat(frames, ignore_index=True)
