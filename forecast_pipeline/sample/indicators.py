"""Synthetic macro-economic and market indicators for the offline demo.

The series mimic FRED and market data in identifiers, frequency, publication lag and value range,
but are random walks drawn from ``config.seed``; ``source`` is always ``"synthetic"``.
"""

from __future__ import annotations

import holidays
import numpy as np
import pandas as pd

from forecast_pipeline.sample.config import STREAM_INDICATORS, SampleConfig, make_rng

INDICATOR_COLUMNS: tuple[str, ...] = (
    "series_id",
    "observation_date",
    "value",
    "published_date",
    "source",
    "frequency",
)
MONTHLY_SERIES: tuple[str, ...] = ("CPIAUCSL", "UNRATE", "UMCSENT", "RSXFS")
QUARTERLY_SERIES: tuple[str, ...] = ("A191RL1Q225SBEA",)
DAILY_SERIES: tuple[str, ...] = ("^GSPC", "^VIX", "XRT")
INDICATOR_SERIES: tuple[str, ...] = MONTHLY_SERIES + QUARTERLY_SERIES + DAILY_SERIES
HISTORY_YEARS = 2  # indicators start this many years before the sales
TRADING_DAYS_PER_YEAR = 252


def _next_business_day(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Move Saturdays and Sundays forward to the following Monday."""
    rolled = np.busday_offset(days.values.astype("datetime64[D]"), 0, roll="forward")
    return pd.DatetimeIndex(rolled.astype("datetime64[ns]"))


def _ar1(rng: np.random.Generator, n: int, mean: float, phi: float, sigma: float) -> np.ndarray:
    """Draw a stationary AR(1) path of length ``n`` around ``mean`` (persistence ``phi``)."""
    shocks = rng.standard_normal(n) * sigma
    deviation = np.empty(n)
    level = shocks[0] / np.sqrt(1.0 - phi**2)
    deviation[0] = level
    for i in range(1, n):
        level = phi * level + shocks[i]
        deviation[i] = level
    return mean + deviation


def _frame(
    series_id: str,
    observed: pd.DatetimeIndex,
    values: np.ndarray,
    published: pd.DatetimeIndex,
    frequency: str,
) -> pd.DataFrame:
    """Assemble one series in the output layout."""
    return pd.DataFrame(
        {
            "series_id": series_id,
            "observation_date": observed.astype("datetime64[ns]"),
            "value": np.asarray(values, dtype=np.float64),
            "published_date": published.astype("datetime64[ns]"),
            "source": "synthetic",
            "frequency": frequency,
        },
        columns=list(INDICATOR_COLUMNS),
    )


def _monthly(rng: np.random.Generator, months: pd.DatetimeIndex, anchor: int) -> list[pd.DataFrame]:
    """CPI, unemployment, consumer sentiment and retail sales, observed on the first of a month.

    ``anchor`` is the index of the month in which the sales sample starts; CPI is scaled to be
    about 300 there and retail sales about 620 billion dollars.
    """
    n = len(months)
    month_end = months + pd.offsets.MonthEnd(0)
    next_month = months + pd.offsets.MonthBegin(1)
    frames = []

    inflation = _ar1(rng, n, 0.03 / 12, 0.8, 0.0012)
    cpi = np.cumprod(1.0 + inflation)
    cpi = 300.0 * cpi / cpi[anchor]
    published = _next_business_day(month_end + pd.Timedelta(days=13))
    frames.append(_frame("CPIAUCSL", months, np.round(cpi, 3), published, "monthly"))

    unemployment = np.clip(_ar1(rng, n, 4.1, 0.9, 0.1), 3.5, 5.0)
    days_to_friday = (4 - next_month.dayofweek.to_numpy()) % 7
    published = next_month + pd.to_timedelta(days_to_friday, unit="D")
    frames.append(_frame("UNRATE", months, np.round(unemployment, 1), published, "monthly"))

    sentiment = np.clip(_ar1(rng, n, 70.0, 0.85, 3.0), 50.0, 95.0)
    days_back_to_friday = (month_end.dayofweek.to_numpy() - 4) % 7
    published = month_end - pd.to_timedelta(days_back_to_friday, unit="D")
    frames.append(_frame("UMCSENT", months, np.round(sentiment, 1), published, "monthly"))

    growth = 0.035 / 12 + rng.standard_normal(n) * 0.006
    retail = np.exp(np.cumsum(growth))
    retail = 620_000.0 * retail / retail[anchor]
    published = _next_business_day(month_end + pd.Timedelta(days=16))
    frames.append(_frame("RSXFS", months, np.round(retail), published, "monthly"))
    return frames


def _quarterly(rng: np.random.Generator, quarters: pd.DatetimeIndex) -> pd.DataFrame:
    """Annualised real GDP growth in percent, observed on the first day of each quarter."""
    growth = _ar1(rng, len(quarters), 2.2, 0.4, 1.3)
    quarter_end = quarters + pd.offsets.QuarterEnd(0)
    published = _next_business_day(quarter_end + pd.Timedelta(days=30))
    return _frame("A191RL1Q225SBEA", quarters, np.round(growth, 1), published, "quarterly")


def _daily(rng: np.random.Generator, days: pd.DatetimeIndex, anchor: int) -> list[pd.DataFrame]:
    """S&P 500, VIX and the retail ETF XRT on trading days, published the same day.

    The index is a geometric random walk (7%/yr drift, 16%/yr volatility) scaled to about 4,400
    on trading day ``anchor`` (the first of the sales sample); the VIX mean-reverts around 16 and
    rises when the index falls; XRT (about 65 at the anchor) follows the index with a beta of 1.2.
    """
    n = len(days)
    dt = 1.0 / TRADING_DAYS_PER_YEAR
    market = rng.standard_normal(n)
    gspc_ret = (0.07 - 0.5 * 0.16**2) * dt + 0.16 * np.sqrt(dt) * market
    gspc = np.exp(np.cumsum(gspc_ret))
    gspc = 4_400.0 * gspc / gspc[anchor]

    vix_noise = -0.7 * market + np.sqrt(1.0 - 0.7**2) * rng.standard_normal(n)
    log_vix = np.empty(n)
    level = np.log(16.0)
    for i in range(n):
        level += 0.04 * (np.log(16.0) - level) + 0.07 * vix_noise[i]
        log_vix[i] = level
    vix = np.clip(np.exp(log_vix), 9.0, 80.0)

    idio = 0.011 * rng.standard_normal(n)
    xrt = np.exp(np.cumsum(1.2 * gspc_ret - 0.03 * dt + idio))
    xrt = 65.0 * xrt / xrt[anchor]
    return [
        _frame("^GSPC", days, np.round(gspc, 2), days, "daily"),
        _frame("^VIX", days, np.round(vix, 2), days, "daily"),
        _frame("XRT", days, np.round(xrt, 2), days, "daily"),
    ]


def indicator_window(config: SampleConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the first and last observation day: ``config.start`` - 2 years, ``config.end``."""
    first = pd.Timestamp(config.start) - pd.DateOffset(years=HISTORY_YEARS)
    return first, pd.Timestamp(config.end)


def generate_indicators(config: SampleConfig) -> pd.DataFrame:
    """Generate synthetic macro and market indicators over [start - 2 years, end].

    Columns: ``series_id``, ``observation_date``, ``value``, ``published_date``, ``source``
    (always ``"synthetic"``) and ``frequency`` (``monthly``, ``quarterly`` or ``daily``).

    Monthly and quarterly series are observed on the first day of their period; the period must
    start inside the window. Publication lags: CPIAUCSL month end + 13 days, UNRATE first Friday
    of the next month, UMCSENT last Friday of the month, RSXFS month end + 16 days,
    A191RL1Q225SBEA quarter end + 30 days (weekend dates move to Monday). ^GSPC, ^VIX and XRT
    are observed and published on NYSE trading days. Only values published on or before
    ``config.end`` are returned, as a download made on that day would hold. Sorted by series_id
    and observation_date; deterministic by ``config.seed``.
    """
    rng = make_rng(config.seed, STREAM_INDICATORS)
    first, last = indicator_window(config)

    months = pd.date_range(first + pd.offsets.MonthBegin(0), last, freq="MS")
    anchor_month = pd.Timestamp(config.start.year, config.start.month, 1)
    anchor = int(np.clip(months.searchsorted(anchor_month), 0, len(months) - 1))
    quarters = pd.date_range(first + pd.offsets.QuarterBegin(0, startingMonth=1), last, freq="QS")
    years = range(first.year, last.year + 1)
    closed = np.array(
        sorted(holidays.financial_holidays("NYSE", years=list(years))), dtype="datetime64[D]"
    )
    business = pd.bdate_range(first, last)
    trading = business[~np.isin(business.values.astype("datetime64[D]"), closed)]

    anchor_day = int(np.clip(trading.searchsorted(pd.Timestamp(config.start)), 0, len(trading) - 1))
    frames = [
        *_monthly(rng, months, anchor),
        _quarterly(rng, quarters),
        *_daily(rng, trading, anchor_day),
    ]
    out = pd.concat(frames, ignore_index=True)
    out = out[out["published_date"] <= last]
    return out.sort_values(["series_id", "observation_date"], kind="stable").reset_index(drop=True)
