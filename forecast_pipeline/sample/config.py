"""Configuration of the synthetic merchant sample and the seeded random streams it draws from."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import holidays
import numpy as np

from forecast_pipeline.sample.categories import CATEGORY_PROFILES

# Independent random streams, one per concern, so that e.g. the indicators do not change when the
# catalogue size changes. The numbers are arbitrary but must never be reused or renumbered,
# otherwise every generated sample changes.
STREAM_CATALOGUE = 1
STREAM_PRICES = 2
STREAM_PROMOTIONS = 3
STREAM_DEMAND = 4
STREAM_STORES = 5
STREAM_INDICATORS = 6
STREAM_UNITS = 7

MAX_STORES = 99


@dataclass(frozen=True)
class SampleConfig:
    """Parameters of the synthetic merchant: catalogue size, stores, date range and seed.

    ``start`` and ``end`` are both inclusive. Generation is a pure function of these fields.
    """

    seed: int = 7
    n_categories: int = 8
    n_products: int = 300
    n_stores: int = 2
    start: datetime.date = datetime.date(2023, 11, 13)
    end: datetime.date = datetime.date(2026, 11, 15)
    country: str = "US"

    def __post_init__(self) -> None:
        """Reject configurations the generator cannot honour, with a message naming the field."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if not 1 <= self.n_categories <= len(CATEGORY_PROFILES):
            raise ValueError(
                f"n_categories must be between 1 and {len(CATEGORY_PROFILES)}, "
                f"got {self.n_categories}"
            )
        if self.n_products < self.n_categories:
            raise ValueError(
                f"n_products ({self.n_products}) must be at least n_categories "
                f"({self.n_categories}) so every category holds a product"
            )
        if not 1 <= self.n_stores <= MAX_STORES:
            raise ValueError(f"n_stores must be between 1 and {MAX_STORES}, got {self.n_stores}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
                raise TypeError(f"{name} must be a datetime.date, got {value!r}")
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        if self.country not in holidays.list_supported_countries():
            raise ValueError(
                f"country must be a country code supported by the holidays package, "
                f"got {self.country!r}"
            )

    @property
    def n_days(self) -> int:
        """Number of calendar days in the inclusive range [start, end]."""
        return (self.end - self.start).days + 1

    @property
    def store_ids(self) -> list[str]:
        """Store identifiers ``S01``, ``S02``, ... from the largest store to the smallest."""
        return [f"S{i + 1:02d}" for i in range(self.n_stores)]

    @property
    def product_ids(self) -> list[str]:
        """Product identifiers ``P0001``, ``P0002``, ... (zero padded so they sort as numbers)."""
        width = max(4, len(str(self.n_products)))
        return [f"P{i + 1:0{width}d}" for i in range(self.n_products)]


def make_rng(seed: int, stream: int) -> np.random.Generator:
    """Return the generator of one random stream of a seed: ``default_rng([seed, stream])``."""
    return np.random.default_rng([seed, stream])
