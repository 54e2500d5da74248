"""Prices over time: list price changes, promotion spells, Black Friday deals and clearances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast_pipeline.sample.catalogue import Catalogue, price_point
from forecast_pipeline.sample.config import STREAM_PRICES, STREAM_PROMOTIONS, SampleConfig, make_rng

PROMOTIONS_PER_YEAR = 3.0  # mean number of promotion spells per product and year
PROMOTION_DAYS = (3, 10)  # inclusive range of a spell's length
DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30])
BLACK_FRIDAY_SHARE = 0.35  # share of products on a deal from Black Friday to Cyber Monday
BLACK_FRIDAY_DISCOUNTS = np.array([0.20, 0.25, 0.30])
BLACK_FRIDAY_DAYS = 4  # Friday, Saturday, Sunday, Cyber Monday
CLEARANCE_DAYS = 14  # discontinued products are marked down for their last two weeks
CLEARANCE_DISCOUNT = 0.30
POST_PROMOTION_DAYS = 7  # customers who stocked up buy less in the following week
POST_PROMOTION_DIP = 0.85
LIST_PRICE_ELASTICITY_SHARE = 0.3  # permanent price changes move demand less than promotions


@dataclass(frozen=True)
class PricePlan:
    """Prices and price-driven demand effects per (product, day).

    Attributes:
        list_price: Regular shelf price.
        discount: Fractional price cut on promotion days, 0 otherwise.
        unit_price: Price paid, ``list_price * (1 - discount)`` rounded to cents.
        demand_multiplier: Effect of promotions, post-promotion dips and list price changes.
    """

    list_price: np.ndarray
    discount: np.ndarray
    unit_price: np.ndarray
    demand_multiplier: np.ndarray

    @property
    def on_promotion(self) -> np.ndarray:
        """True on days a product is sold at a promotional price."""
        return self.discount > 0


def _list_prices(rng: np.random.Generator, base_price: np.ndarray, n_days: int) -> np.ndarray:
    """Regular price per (product, day): 0, 1 or 2 permanent changes per product.

    Most changes are increases of 3-12% (inflation); about a quarter are cuts of 5-15%. New prices
    are snapped to retail price points and always differ from the previous price.
    """
    n_products = len(base_price)
    n_changes = rng.choice(3, size=n_products, p=[0.35, 0.40, 0.25])
    lo, hi = min(30, n_days // 4), max(min(30, n_days // 4) + 1, n_days - 30)
    change_days = np.sort(rng.integers(lo, hi, size=(n_products, 2)), axis=1)
    increase = rng.uniform(size=(n_products, 2)) < 0.75
    factor = np.where(
        increase,
        rng.uniform(1.03, 1.12, size=(n_products, 2)),
        rng.uniform(0.85, 0.95, size=(n_products, 2)),
    )

    day = np.arange(n_days)[None, :]
    list_price = np.repeat(base_price[:, None], n_days, axis=1)
    previous = base_price
    for j in range(2):
        proposed = price_point(previous * factor[:, j])
        step = np.where(previous >= 10.0, 1.0, 0.5) * np.where(increase[:, j], 1.0, -1.0)
        new = np.where(proposed == previous, np.round(previous + step, 2), proposed)
        new = np.where(new <= 0.49, previous, new)
        applies = (j < n_changes)[:, None] & (day >= change_days[:, j : j + 1])
        list_price = np.where(applies, new[:, None], list_price)
        previous = np.where(j < n_changes, new, previous)
    return list_price


def _spell_cells(
    product: np.ndarray, start: np.ndarray, length: np.ndarray, n_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand spells (product, first day, length) into (product, day, spell number) cells."""
    total = int(length.sum())
    spell = np.repeat(np.arange(len(length)), length)
    offset = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
    day = start[spell] + offset
    keep = (day >= 0) & (day < n_days)
    return product[spell][keep], day[keep], spell[keep]


def build_price_plan(
    config: SampleConfig, catalogue: Catalogue, black_fridays: np.ndarray
) -> PricePlan:
    """Lay out list prices, promotions and their demand effects for every product and day."""
    n_days = config.n_days
    n_products = catalogue.n_products
    list_price = _list_prices(make_rng(config.seed, STREAM_PRICES), catalogue.base_price, n_days)

    rng = make_rng(config.seed, STREAM_PROMOTIONS)
    discount = np.zeros((n_products, n_days))
    dip = np.ones((n_products, n_days))

    # Random promotion spells, a few per product and year.
    n_spells = rng.poisson(PROMOTIONS_PER_YEAR * n_days / 365.25, size=n_products)
    product = np.repeat(np.arange(n_products), n_spells)
    start = rng.integers(0, n_days, size=len(product))
    length = rng.integers(PROMOTION_DAYS[0], PROMOTION_DAYS[1] + 1, size=len(product))
    spell_discount = rng.choice(DISCOUNTS, size=len(product))
    p, d, s = _spell_cells(product, start, length, n_days)
    np.maximum.at(discount, (p, d), spell_discount[s])
    p, d, _ = _spell_cells(
        product, start + length, np.full_like(length, POST_PROMOTION_DAYS), n_days
    )
    np.minimum.at(dip, (p, d), POST_PROMOTION_DIP)

    # Black Friday to Cyber Monday deals on a share of the catalogue.
    for bf in black_fridays:
        chosen = np.flatnonzero(rng.uniform(size=n_products) < BLACK_FRIDAY_SHARE)
        deal = rng.choice(BLACK_FRIDAY_DISCOUNTS, size=len(chosen))
        days = slice(bf, min(bf + BLACK_FRIDAY_DAYS, n_days))
        discount[chosen, days] = np.maximum(discount[chosen, days], deal[:, None])

    # Clearance markdown before a product is withdrawn.
    stopped = np.flatnonzero(catalogue.discontinued)
    p, d, _ = _spell_cells(
        stopped,
        catalogue.stop_day[stopped] - CLEARANCE_DAYS,
        np.full(len(stopped), CLEARANCE_DAYS),
        n_days,
    )
    discount[p, d] = np.maximum(discount[p, d], CLEARANCE_DISCOUNT)

    dip = np.where(discount > 0, 1.0, dip)
    unit_price = np.round(list_price * (1.0 - discount), 2)
    elasticity = catalogue.elasticity[:, None]
    promotion_uplift = (1.0 - discount) ** (-elasticity)
    list_effect = (list_price / catalogue.base_price[:, None]) ** (
        -LIST_PRICE_ELASTICITY_SHARE * elasticity
    )
    return PricePlan(
        list_price=list_price,
        discount=discount,
        unit_price=unit_price,
        demand_multiplier=promotion_uplift * dip * list_effect,
    )
