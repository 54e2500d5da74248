"""Daily sales of the synthetic merchant at the (date, store_id, product_id) grain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast_pipeline.sample.catalogue import Catalogue, build_catalogue, life_cycle_factor
from forecast_pipeline.sample.config import STREAM_DEMAND, STREAM_UNITS, SampleConfig, make_rng
from forecast_pipeline.sample.promotions import build_price_plan
from forecast_pipeline.sample.seasonality import build_day_effects

SALES_COLUMNS: tuple[str, ...] = (
    "date",
    "store_id",
    "product_id",
    "product_name",
    "category",
    "units",
    "unit_price",
    "revenue",
    "on_promotion",
)

# Slow, mean-reverting drift of each product's popularity (weekly AR(1) on the log scale).
DRIFT_PHI = 0.97
DRIFT_WEEKLY_SIGMA = 0.04
# Day-to-day store traffic shocks (weather, local events), shared by all products of a store.
STORE_SHOCK_SIGMA = 0.07


def _popularity_drift(rng: np.random.Generator, n_products: int, n_days: int) -> np.ndarray:
    """Log popularity drift per (product, day): a stationary weekly AR(1), linearly interpolated."""
    n_weeks = n_days // 7 + 2
    shocks = rng.standard_normal((n_products, n_weeks)) * DRIFT_WEEKLY_SIGMA
    level = np.empty((n_products, n_weeks))
    level[:, 0] = shocks[:, 0] / np.sqrt(1.0 - DRIFT_PHI**2)
    for week in range(1, n_weeks):
        level[:, week] = DRIFT_PHI * level[:, week - 1] + shocks[:, week]
    position = np.arange(n_days) / 7.0
    week = position.astype(np.int64)
    frac = position - week
    return level[:, week] * (1.0 - frac) + level[:, week + 1] * frac


def _expected_units(
    config: SampleConfig, catalogue: Catalogue
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Return expected units per (product, day) in S01, unit prices, promotion flags and dates."""
    effects = build_day_effects(config, catalogue.profiles)
    plan = build_price_plan(config, catalogue, effects.black_friday)
    rng = make_rng(config.seed, STREAM_DEMAND)
    log_mu = effects.log_multiplier[catalogue.category_index] + _popularity_drift(
        rng, catalogue.n_products, config.n_days
    )
    mu = (
        catalogue.base_demand[:, None]
        * np.exp(log_mu)
        * life_cycle_factor(catalogue, config.n_days)
        * plan.demand_multiplier
        * effects.open_day[None, :]
    )
    return mu, plan.unit_price, plan.on_promotion, effects.dates


def _draw_units(
    rng: np.random.Generator, catalogue: Catalogue, mu: np.ndarray, n_stores: int
) -> np.ndarray:
    """Draw negative-binomial units per (day, store, product) around the expected demand."""
    n_products, n_days = mu.shape
    shock = np.exp(STORE_SHOCK_SIGMA * rng.standard_normal((n_days, n_stores, 1)))
    mean = mu.T[:, None, :] * catalogue.store_product_scale[None, :, :] * shock
    shape = catalogue.dispersion[None, None, :]
    gamma = rng.gamma(shape, 1.0 / shape, size=(n_days, n_stores, n_products))
    return rng.poisson(mean * gamma)


def generate_daily_sales(config: SampleConfig) -> pd.DataFrame:
    """Generate the merchant's daily sales for ``config``, deterministically from ``config.seed``.

    One row per (date, store_id, product_id) with at least one unit sold, sorted by that key, like
    a real point-of-sale export. Columns, in order: ``date`` (datetime64[ns] at midnight),
    ``store_id``, ``product_id``, ``product_name``, ``category`` (str), ``units`` (int64, >= 1),
    ``unit_price`` (float64, cents), ``revenue`` (float64, ``units * unit_price`` rounded to cents)
    and ``on_promotion`` (bool).

    Demand combines per-category weekday, yearly and holiday seasonality and trends, product
    velocity tiers (fast, medium and slow intermittent movers), launches with ramp-ups,
    discontinuations with clearances, promotions with price cuts and uplifts, list price changes
    and store size.
    """
    catalogue = build_catalogue(config)
    mu, unit_price, on_promotion, dates = _expected_units(config, catalogue)
    rng = make_rng(config.seed, STREAM_UNITS)
    units = _draw_units(rng, catalogue, mu, config.n_stores)

    day, store, product = np.nonzero(units)
    sold = units[day, store, product].astype(np.int64)
    price = unit_price[product, day]
    frame = pd.DataFrame(
        {
            "date": dates[day],
            "store_id": catalogue.store_ids[store],
            "product_id": catalogue.product_ids[product],
            "product_name": catalogue.product_names[product],
            "category": catalogue.category_names[catalogue.category_index[product]],
            "units": sold,
            "unit_price": price,
            "revenue": np.round(sold * price, 2),
            "on_promotion": on_promotion[product, day],
        },
        columns=list(SALES_COLUMNS),
    )
    return frame
