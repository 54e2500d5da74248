"""Calendar effects on demand: weekday pattern, yearly seasonality, trends and holidays.

Everything here is a log-multiplier per (category, day); ``sales.py`` turns it into demand.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd

from forecast_pipeline.sample.categories import CategoryProfile
from forecast_pipeline.sample.config import SampleConfig

# Monday..Sunday multipliers of an average category (weekend peak, quiet Tuesday).
WEEKDAY_MULTIPLIERS = (0.86, 0.83, 0.88, 0.95, 1.10, 1.30, 1.16)
# Day of year (0-based, mid-month) at which each monthly multiplier applies.
_MID_MONTH_DAY = np.array(
    [15.5, 45.0, 74.5, 105.0, 135.5, 166.0, 196.5, 227.5, 258.0, 288.5, 319.0, 349.5]
)
_YEAR_LENGTH = 365.25

# Black Friday week, relative to Thanksgiving (scaled per category).
BLACK_FRIDAY_WEEK = {-3: 1.08, -2: 1.08, -1: 1.10, 1: 2.6, 2: 1.6, 3: 1.3, 4: 2.0, 5: 1.15}
THANKSGIVING_MULTIPLIER = 0.55  # most shoppers are at home
# December gift run-up, ramping from the first to the second value over Dec 1-23 (scaled per
# category).
CHRISTMAS_RAMP = (1.05, 1.7)
CHRISTMAS_EVE_MULTIPLIER = 1.3
AFTER_CHRISTMAS = {26: 1.45, 27: 1.12, 28: 1.12, 29: 1.12, 30: 1.12, 31: 0.95}
NEW_YEARS_DAY_MULTIPLIER = 0.6
# Other public holidays from the `holidays` package: days before and the day itself.
HOLIDAY_WINDOW = {-2: 1.08, -1: 1.08, 0: 1.2}
INDEPENDENCE_DAY_WINDOW = {-3: 1.15, -2: 1.15, -1: 1.15, 0: 0.85}


@dataclass(frozen=True)
class DayEffects:
    """Calendar effects over the sample's days.

    Attributes:
        dates: The days of the sample, ``config.start`` to ``config.end``.
        log_multiplier: (n_categories, n_days) log demand multiplier of each category per day.
        open_day: (n_days,) False on days the stores are closed (Christmas Day).
        black_friday: Day indices of the Black Fridays inside the period.
    """

    dates: pd.DatetimeIndex
    log_multiplier: np.ndarray
    open_day: np.ndarray
    black_friday: np.ndarray


def thanksgiving(year: int) -> datetime.date:
    """US Thanksgiving: the fourth Thursday of November of ``year``."""
    first = datetime.date(year, 11, 1)
    first_thursday = first + datetime.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + datetime.timedelta(days=21)


def _add(series: np.ndarray, start: datetime.date, day: datetime.date, factor: float) -> None:
    """Add ``log(factor)`` to ``series`` on ``day`` when the day lies in the series' range."""
    i = (day - start).days
    if 0 <= i < len(series):
        series[i] += np.log(factor)


def _yearly(profiles: tuple[CategoryProfile, ...], dates: pd.DatetimeIndex) -> np.ndarray:
    """Smooth yearly seasonality per category, interpolated periodically between mid-months."""
    day_of_year = dates.dayofyear.to_numpy() - 0.5
    out = np.empty((len(profiles), len(dates)))
    for c, profile in enumerate(profiles):
        log_month = np.log(np.asarray(profile.monthly))
        log_month -= log_month.mean()
        out[c] = np.interp(day_of_year, _MID_MONTH_DAY, log_month, period=_YEAR_LENGTH)
    return out


def _event_series(
    config: SampleConfig, n_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Log effects of Black Friday week, the Christmas run-up and other holidays, plus closures."""
    start = config.start
    black_friday = np.zeros(n_days)
    christmas = np.zeros(n_days)
    common = np.zeros(n_days)
    open_day = np.ones(n_days, dtype=bool)
    black_fridays: list[int] = []
    handled: set[datetime.date] = set()
    years = range(start.year - 1, config.end.year + 2)

    for year in years:
        tg = thanksgiving(year)
        _add(common, start, tg, THANKSGIVING_MULTIPLIER)
        for offset, factor in BLACK_FRIDAY_WEEK.items():
            _add(black_friday, start, tg + datetime.timedelta(days=offset), factor)
        handled.update(tg + datetime.timedelta(days=o) for o in range(-3, 6))
        bf_index = (tg - start).days + 1
        if 0 <= bf_index < n_days:
            black_fridays.append(bf_index)

        lo, hi = np.log(CHRISTMAS_RAMP[0]), np.log(CHRISTMAS_RAMP[1])
        for day in range(1, 24):
            i = (datetime.date(year, 12, day) - start).days
            if 0 <= i < n_days:
                christmas[i] += lo + (hi - lo) * (day - 1) / 22
        _add(christmas, start, datetime.date(year, 12, 24), CHRISTMAS_EVE_MULTIPLIER)
        xmas = (datetime.date(year, 12, 25) - start).days
        if 0 <= xmas < n_days:
            open_day[xmas] = False
        for day, factor in AFTER_CHRISTMAS.items():
            _add(common, start, datetime.date(year, 12, day), factor)
        _add(common, start, datetime.date(year, 1, 1), NEW_YEARS_DAY_MULTIPLIER)
        handled.update(datetime.date(year, 12, d) for d in range(20, 32))
        handled.add(datetime.date(year, 1, 1))

    public = holidays.country_holidays(config.country, years=list(years))
    for day, name in sorted(public.items()):
        if day in handled or "observed" in name.lower():
            continue
        window = INDEPENDENCE_DAY_WINDOW if name == "Independence Day" else HOLIDAY_WINDOW
        for offset, factor in window.items():
            _add(common, start, day + datetime.timedelta(days=offset), factor)

    return black_friday, christmas, common, open_day, black_fridays


def build_day_effects(config: SampleConfig, profiles: tuple[CategoryProfile, ...]) -> DayEffects:
    """Compute the per-category, per-day log demand multiplier for ``config``'s date range.

    The multiplier sums the weekday pattern (scaled by each category's weekend strength), yearly
    seasonality, the category trend, Black Friday / Cyber Monday and Christmas effects (scaled by
    category sensitivity) and effects around the country's public holidays.
    """
    dates = pd.date_range(config.start, config.end, freq="D").astype("datetime64[ns]")
    n_days = len(dates)

    weekday = np.log(np.asarray(WEEKDAY_MULTIPLIERS))
    weekday -= weekday.mean()
    weekday_by_day = weekday[dates.dayofweek.to_numpy()]
    years_elapsed = np.arange(n_days) / _YEAR_LENGTH

    black_friday, christmas, common, open_day, black_fridays = _event_series(config, n_days)

    weekend = np.array([p.weekend_strength for p in profiles])[:, None]
    growth = np.log1p(np.array([p.annual_growth for p in profiles]))[:, None]
    bf_sens = np.array([p.black_friday_sensitivity for p in profiles])[:, None]
    xmas_sens = np.array([p.christmas_sensitivity for p in profiles])[:, None]

    log_multiplier = (
        weekend * weekday_by_day[None, :]
        + _yearly(profiles, dates)
        + growth * years_elapsed[None, :]
        + bf_sens * black_friday[None, :]
        + xmas_sens * christmas[None, :]
        + common[None, :]
    )
    return DayEffects(
        dates=dates,
        log_multiplier=log_multiplier,
        open_day=open_day,
        black_friday=np.asarray(black_fridays, dtype=np.int64),
    )
