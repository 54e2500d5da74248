"""The synthetic product catalogue: categories, names, sales velocity, prices and life cycles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast_pipeline.sample.categories import CATEGORY_PROFILES, CategoryProfile
from forecast_pipeline.sample.config import STREAM_CATALOGUE, STREAM_STORES, SampleConfig, make_rng

# Velocity tiers: share of the catalogue, median daily units in the largest store, spread of that
# level (log scale) and the negative-binomial shape (small shape = lumpy, intermittent demand).
TIER_FAST, TIER_MEDIUM, TIER_SLOW = 0, 1, 2
TIER_SHARES = (0.12, 0.38, 0.50)
TIER_MEDIAN_UNITS = (22.0, 2.2, 0.15)
TIER_LOG_SPREAD = (0.35, 0.45, 0.6)
TIER_DISPERSION = (8.0, 2.5, 0.6)

LAUNCH_SHARE = 0.15  # products launched part way through the period
DISCONTINUED_SHARE = 0.10  # products withdrawn before the end
EARLIEST_LAUNCH_DAY = 91  # launches happen more than 90 days after the start
LATEST_DISCONTINUATION_MARGIN = 90  # withdrawn at least this many days before the end
WIND_DOWN_DAYS = 45  # demand fades over this many days before a withdrawal

# The largest store sells 1.0x the base demand, the next ones less (S02 ~ 0.62x, S03 ~ 0.45x, ...).
STORE_SIZE_DECAY = 0.6
SMALL_STORE_RANGE_SHARE = 0.85  # share of the catalogue carried by stores other than S01


@dataclass(frozen=True)
class Catalogue:
    """Per-product attributes (arrays of length ``n_products``) and per-store attributes.

    Day indices count from ``config.start`` (day 0). ``launch_day`` is the first day a product can
    sell and ``stop_day`` the first day it no longer can (``n_days`` when it is never withdrawn);
    ``discontinued`` marks the products withdrawn before the end.
    """

    product_ids: np.ndarray
    product_names: np.ndarray
    category_index: np.ndarray
    category_names: np.ndarray
    profiles: tuple[CategoryProfile, ...]
    tier: np.ndarray
    base_demand: np.ndarray
    dispersion: np.ndarray
    base_price: np.ndarray
    elasticity: np.ndarray
    launch_day: np.ndarray
    ramp_days: np.ndarray
    stop_day: np.ndarray
    discontinued: np.ndarray
    store_ids: np.ndarray
    store_product_scale: np.ndarray  # (n_stores, n_products), 0 where a store does not stock it

    @property
    def n_products(self) -> int:
        """Number of products in the catalogue."""
        return len(self.product_ids)


def price_point(price: np.ndarray) -> np.ndarray:
    """Snap raw prices to retail price points: ``x.99`` from $10 up, ``x.49``/``x.99`` below."""
    price = np.asarray(price, dtype=float)
    high = np.floor(price) + 0.99
    low = np.floor(price * 2.0) / 2.0 + 0.49
    return np.round(np.where(price >= 10.0, high, low), 2)


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` items over ``len(weights)`` groups by weight, at least one per group."""
    n_groups = len(weights)
    shares = weights / weights.sum() * (total - n_groups)
    counts = np.floor(shares).astype(np.int64)
    remainder = total - n_groups - counts.sum()
    order = np.argsort(-(shares - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts + 1


def _product_names(rng: np.random.Generator, profile: CategoryProfile, count: int) -> list[str]:
    """Draw ``count`` distinct "<brand> <item>" names for one category."""
    combos = [f"{brand} {item}" for brand in profile.brands for item in profile.items]
    order = rng.permutation(len(combos))
    names = []
    for i in range(count):
        name = combos[order[i % len(combos)]]
        generation = i // len(combos)
        names.append(name if generation == 0 else f"{name} Gen {generation + 1}")
    return names


def _tiers(
    rng: np.random.Generator, category_index: np.ndarray, fast_weight: np.ndarray
) -> np.ndarray:
    """Assign velocity tiers with fixed counts, spread over the categories.

    Fixed counts keep every tier present in small catalogues. Each product gets a jittered rank
    within its own category, so every category gets its share of fast and slow movers; the rank is
    stretched by ``1 / fast_weight`` of the category when picking fast movers, so strongly seasonal
    categories hold fewer of them.
    """
    n_products = len(category_index)
    n_fast = min(max(1, round(TIER_SHARES[TIER_FAST] * n_products)), n_products)
    n_slow = min(max(1, round(TIER_SHARES[TIER_SLOW] * n_products)), n_products - n_fast)
    position = np.empty(n_products)
    for c in np.unique(category_index):
        members = rng.permutation(np.flatnonzero(category_index == c))
        position[members] = (np.arange(len(members)) + rng.uniform()) / len(members)
    tiers = np.full(n_products, TIER_MEDIUM, dtype=np.int64)
    fast = np.argsort(position / fast_weight[category_index], kind="stable")[:n_fast]
    tiers[fast] = TIER_FAST
    rest = np.setdiff1d(np.arange(n_products), fast)
    slow = rest[np.argsort(-position[rest], kind="stable")[:n_slow]]
    tiers[slow] = TIER_SLOW
    return tiers


def _life_cycles(
    rng: np.random.Generator, tier: np.ndarray, n_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose launch day, ramp-up length and stop day per product.

    A fixed share of products launch after ``EARLIEST_LAUNCH_DAY`` and ramp up over 2-8 weeks;
    a fixed, disjoint share are withdrawn at least ``LATEST_DISCONTINUATION_MARGIN`` days before
    the end. Best sellers (fast movers) are not withdrawn. When the period is too short for
    either, no products get them.
    """
    n_products = len(tier)
    launch_day = np.zeros(n_products, dtype=np.int64)
    ramp_days = np.ones(n_products, dtype=np.int64)
    stop_day = np.full(n_products, n_days, dtype=np.int64)

    order = rng.permutation(n_products)
    launch_hi = int(n_days * 0.7)
    n_launch = max(1, round(LAUNCH_SHARE * n_products)) if n_products >= 2 else 0
    if launch_hi <= EARLIEST_LAUNCH_DAY + 30:
        n_launch = 0
    launched = order[:n_launch]
    launch_day[launched] = rng.integers(EARLIEST_LAUNCH_DAY, launch_hi, size=n_launch)
    ramp_days[launched] = rng.integers(14, 57, size=n_launch)

    stop_lo = int(n_days * 0.3)
    stop_hi = n_days - LATEST_DISCONTINUATION_MARGIN
    n_stop = max(1, round(DISCONTINUED_SHARE * n_products)) if n_products >= 3 else 0
    if stop_hi <= stop_lo + 30:
        n_stop = 0
    candidates = order[n_launch:]
    candidates = candidates[tier[candidates] != TIER_FAST]
    stopped = candidates[:n_stop]
    n_stop = len(stopped)
    stop_day[stopped] = rng.integers(stop_lo, stop_hi, size=n_stop)
    return launch_day, ramp_days, stop_day


def build_catalogue(config: SampleConfig) -> Catalogue:
    """Build the product catalogue and store ranges for ``config`` (deterministic by seed)."""
    rng = make_rng(config.seed, STREAM_CATALOGUE)
    profiles = CATEGORY_PROFILES[: config.n_categories]
    n_products = config.n_products

    # Uneven category sizes: profile weights perturbed per seed.
    weights = np.array([p.weight for p in profiles]) * rng.gamma(8.0, 0.125, size=len(profiles))
    counts = _allocate(n_products, weights)
    category_index = rng.permutation(np.repeat(np.arange(len(profiles)), counts))

    names = np.empty(n_products, dtype=object)
    for c, profile in enumerate(profiles):
        members = np.flatnonzero(category_index == c)
        names[members] = _product_names(rng, profile, len(members))

    tier = _tiers(rng, category_index, np.array([p.fast_mover_weight for p in profiles]))
    median = np.asarray(TIER_MEDIAN_UNITS)[tier]
    spread = np.asarray(TIER_LOG_SPREAD)[tier]
    base_demand = median * np.exp(spread * rng.standard_normal(n_products))
    dispersion = np.asarray(TIER_DISPERSION)[tier]

    low = np.array([p.price_range[0] for p in profiles])[category_index]
    high = np.array([p.price_range[1] for p in profiles])[category_index]
    position = rng.uniform(size=n_products)
    # Fast movers sit in the cheaper half of their category's range.
    position = np.where(tier == TIER_FAST, position * 0.5, position)
    base_price = price_point(np.exp(np.log(low) + position * (np.log(high) - np.log(low))))
    elasticity = rng.uniform(1.2, 2.5, size=n_products)

    launch_day, ramp_days, stop_day = _life_cycles(rng, tier, config.n_days)

    store_rng = make_rng(config.seed, STREAM_STORES)
    n_stores = config.n_stores
    size = 1.0 / (1.0 + STORE_SIZE_DECAY * np.arange(n_stores))
    affinity = np.exp(0.15 * store_rng.standard_normal((n_stores, len(profiles))))
    affinity[0] = 1.0
    carried = store_rng.uniform(size=(n_stores, n_products)) < SMALL_STORE_RANGE_SHARE
    carried[0] = True
    carried[:, tier == TIER_FAST] = True
    store_product_scale = size[:, None] * affinity[:, category_index] * carried

    return Catalogue(
        product_ids=np.array(config.product_ids, dtype=object),
        product_names=names,
        category_index=category_index,
        category_names=np.array([p.name for p in profiles], dtype=object),
        profiles=profiles,
        tier=tier,
        base_demand=base_demand,
        dispersion=dispersion,
        base_price=base_price,
        elasticity=elasticity,
        launch_day=launch_day,
        ramp_days=ramp_days,
        stop_day=stop_day,
        discontinued=stop_day < config.n_days,
        store_ids=np.array(config.store_ids, dtype=object),
        store_product_scale=store_product_scale,
    )


def life_cycle_factor(catalogue: Catalogue, n_days: int) -> np.ndarray:
    """Demand multiplier per (product, day) for launches, ramp-ups and wind-downs.

    Zero before launch and from the stop day on; rises as ``1 - exp(-age / ramp)`` after a
    launch; fades linearly to 30% over the ``WIND_DOWN_DAYS`` before a withdrawal.
    """
    day = np.arange(n_days)[None, :]
    age = day - catalogue.launch_day[:, None]
    ramp = np.where(
        catalogue.launch_day[:, None] > 0,
        1.0 - np.exp(-(age + 1) / catalogue.ramp_days[:, None]),
        1.0,
    )
    to_stop = catalogue.stop_day[:, None] - day
    fade = np.where(
        catalogue.discontinued[:, None],
        np.clip(0.3 + 0.7 * (to_stop - 1) / WIND_DOWN_DAYS, 0.3, 1.0),
        1.0,
    )
    active = (age >= 0) & (to_stop > 0)
    return np.where(active, ramp * fade, 0.0)
