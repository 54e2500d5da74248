"""Holiday and retail-event features of weekly and daily periods, computed from dates only.

The features depend on nothing but the date, so they are known for future periods too and can be
given to mlforecast as ``date_features`` (:func:`calendar_feature_functions`) or joined to any
frame by date (:func:`calendar_frame`).

A period starts at ``ds`` and spans ``L`` days: ``[ds, ds + L - 1]``, with ``L = 7`` for
``freq="W-MON"`` (``ds`` must be a Monday) and ``L = 1`` for ``freq="D"``. Times of day are
ignored. Features, all floats:

* ``holiday_days``: number of distinct public-holiday dates of ``country`` inside the period, as
  listed by the ``holidays`` package with its defaults (public category, observed days included,
  so a holiday on a weekend and its weekday substitute count as two). 0 to 7 for weekly periods,
  0 or 1 for daily ones.
* for every retail event ``E`` of :data:`RETAIL_EVENTS`:

  * ``in_period_<E>``: 1.0 when an occurrence of ``E`` lies inside the period (for daily periods:
    the day is the event), else 0.0;
  * ``days_to_<E>``: 0 when ``E`` lies inside the period, otherwise the days from ``ds`` to the
    next occurrence (``next - ds``);
  * ``days_since_<E>``: 0 when ``E`` lies inside the period, otherwise the days from the last
    occurrence before ``ds`` to ``ds`` (``ds - last``).

  Both distances are capped at :data:`MAX_EVENT_DISTANCE` (183 days, half a year): the events are
  yearly, so beyond half a year the other distance is the informative one, and the cap keeps the
  features bounded whatever the date range.

Example (``freq="W-MON"``, Black Friday 2024 is Friday 2024-11-29): the week of 2024-11-18 has
``days_to_black_friday = 11``, the week of 2024-11-25 has ``in_period_black_friday = 1`` and both
distances 0, the week of 2024-12-02 has ``days_since_black_friday = 3``.

Plain calendar attributes (week of year, month, day of week) are not repeated here: the models
get them as mlforecast's string date features.

Retail events (dates the same in every country, so one definition serves all of them):

* ``black_friday``: the Friday after the fourth Thursday of November (US Thanksgiving), the
  biggest promotion day of the year, adopted by retailers in most European countries too;
* ``cyber_monday``: the Monday after Black Friday, the online counterpart, which closes the
  promotion weekend and can fall in the following week;
* ``christmas``: 25 December, the end of the gifting peak and a closing day; its weekday, and
  therefore its position in a week, shifts every year, which week of year cannot express;
* ``easter``: Western Easter Sunday (:func:`dateutil.easter.easter`), which moves between
  22 March and 25 April, so no fixed week or month captures the confectionery and food peak
  around it.

Performance: values are computed once per distinct date and mapped back, because mlforecast calls
date features on the unique training dates but, while predicting, on one date per series and step.
Holiday calendars and event dates are cached per (country, year) and (event, year).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd
from dateutil.easter import easter

__all__ = [
    "FREQ_PERIOD_DAYS",
    "MAX_EVENT_DISTANCE",
    "RETAIL_EVENTS",
    "CalendarFeature",
    "calendar_feature_functions",
    "calendar_feature_names",
    "calendar_frame",
    "retail_event_dates",
]

RETAIL_EVENTS: tuple[str, ...] = ("black_friday", "cyber_monday", "christmas", "easter")
MAX_EVENT_DISTANCE = 183
FREQ_PERIOD_DAYS: dict[str, int] = {"W-MON": 7, "D": 1}
_EVENT_PREFIXES = ("in_period_", "days_to_", "days_since_")
_MONDAY = 0


def calendar_feature_names() -> list[str]:
    """Column names of the calendar features, in the order of :func:`calendar_frame`."""
    names = ["holiday_days"]
    for event in RETAIL_EVENTS:
        names.extend(f"{prefix}{event}" for prefix in _EVENT_PREFIXES)
    return names


def _event_date(event: str, year: int) -> dt.date:
    if event == "black_friday":
        first = dt.date(year, 11, 1)
        first_thursday = 1 + (3 - first.weekday()) % 7
        return dt.date(year, 11, first_thursday + 21 + 1)
    if event == "cyber_monday":
        return _event_date("black_friday", year) + dt.timedelta(days=3)
    if event == "christmas":
        return dt.date(year, 12, 25)
    if event == "easter":
        return easter(year)
    raise ValueError(f"unknown retail event {event!r}; expected one of {list(RETAIL_EVENTS)}")


def retail_event_dates(event: str, years: Iterable[int]) -> list[pd.Timestamp]:
    """Dates of a retail event (one of :data:`RETAIL_EVENTS`) in the given years, sorted.

    Raises:
        ValueError: if ``event`` is not a known retail event.
    """
    return [pd.Timestamp(_event_date(event, year)) for year in sorted(set(years))]


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


@lru_cache(maxsize=256)
def _event_days(event: str, first_year: int, last_year: int) -> np.ndarray:
    days = np.array(
        [_epoch_day(_event_date(event, y)) for y in range(first_year, last_year + 1)],
        dtype=np.int64,
    )
    days.flags.writeable = False
    return days


@lru_cache(maxsize=1024)
def _holiday_days_of_year(country: str, year: int) -> tuple[int, ...]:
    try:
        calendar = holidays.country_holidays(country, years=year)
    except (NotImplementedError, KeyError) as err:
        raise ValueError(
            f"unknown country {country!r}: the holidays package ({holidays.__version__}) has no "
            "calendar for it; use an ISO 3166-1 alpha-2 code such as 'US', 'GB', 'DE' or 'FR'"
        ) from err
    return tuple(_epoch_day(day) for day in calendar)


@lru_cache(maxsize=256)
def _holiday_days(country: str, first_year: int, last_year: int) -> np.ndarray:
    # A substitute day can fall in another year than its holiday (1 January 2022 was observed on
    # 31 December 2021): the neighbouring years are read too, so it is found whichever year lists
    # it. Days outside the range do no harm, the counts look up windows by date.
    days = np.unique(
        np.fromiter(
            (
                day
                for year in range(first_year - 1, last_year + 2)
                for day in _holiday_days_of_year(country, year)
            ),
            dtype=np.int64,
        )
    )
    days.flags.writeable = False
    return days


def _check_freq(freq: str) -> int:
    if freq not in FREQ_PERIOD_DAYS:
        raise ValueError(f"freq must be one of {list(FREQ_PERIOD_DAYS)}, got {freq!r}")
    return FREQ_PERIOD_DAYS[freq]


def _check_country(country: str) -> str:
    code = country.upper()
    _holiday_days_of_year(code, 2000)
    return code


def _year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _unique_days(index: pd.DatetimeIndex, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Distinct epoch days of ``index`` (validated for ``freq``) and the inverse positions."""
    if index.hasnans:
        raise ValueError("dates contain missing values (NaT)")
    if index.tz is not None:
        index = index.tz_localize(None)
    days = index.values.astype("datetime64[D]").astype(np.int64)
    if len(days) and (days == days[0]).all():
        # while predicting, mlforecast passes one (usually identical) date per series
        inverse, uniques = np.zeros(len(days), dtype=np.intp), days[:1]
    else:
        inverse, uniques = pd.factorize(days)
    if freq == "W-MON":
        # 1970-01-01 was a Thursday (weekday 3)
        bad = (uniques + 3) % 7 != _MONDAY
        if bad.any():
            first_bad = pd.Timestamp(uniques[bad][0], unit="D").date()
            raise ValueError(
                f"weekly (W-MON) dates must be Mondays; {first_bad} is a {first_bad.strftime('%A')}"
            )
    return uniques, inverse


def _holiday_count(days: np.ndarray, length: int, country: str) -> np.ndarray:
    years = _year(np.array([days.min(), days.max() + length - 1]))
    table = _holiday_days(country, int(years[0]), int(years[1]))
    inside = np.searchsorted(table, days + length) - np.searchsorted(table, days)
    return inside.astype(np.float64)


def _event_features(days: np.ndarray, length: int, event: str) -> dict[str, np.ndarray]:
    years = _year(np.array([days.min(), days.max()]))
    # yearly events: the previous and the next occurrence lie within a year of any date
    table = _event_days(event, int(years[0]) - 1, int(years[1]) + 1)
    nxt = np.searchsorted(table, days)
    to_next = table[nxt] - days
    since_last = days - table[nxt - 1]
    inside = to_next <= length - 1
    return {
        f"in_period_{event}": inside.astype(np.float64),
        f"days_to_{event}": np.where(inside, 0, np.minimum(to_next, MAX_EVENT_DISTANCE)).astype(
            np.float64
        ),
        f"days_since_{event}": np.where(
            inside, 0, np.minimum(since_last, MAX_EVENT_DISTANCE)
        ).astype(np.float64),
    }


def _features_of_days(
    days: np.ndarray, length: int, country: str, columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """The requested feature columns for distinct epoch ``days``."""
    out: dict[str, np.ndarray] = {}
    if not len(days):
        return {col: np.empty(0, dtype=np.float64) for col in columns}
    if "holiday_days" in columns:
        out["holiday_days"] = _holiday_count(days, length, country)
    for event in RETAIL_EVENTS:
        if any(f"{prefix}{event}" in columns for prefix in _EVENT_PREFIXES):
            out.update(_event_features(days, length, event))
    return {col: out[col] for col in columns}


def calendar_frame(
    dates: pd.DatetimeIndex | Sequence, freq: str, country: str = "US"
) -> pd.DataFrame:
    """Calendar features (module docstring) of the periods starting at ``dates``.

    Args:
        dates: period start dates; duplicates and any order are allowed.
        freq: ``"W-MON"`` (dates must be Mondays) or ``"D"``.
        country: ISO 3166-1 code of the holiday calendar, case-insensitive (alpha-2 such as
            ``"US"``; the ``holidays`` package accepts alpha-3 such as ``"USA"`` too).

    Returns:
        One row per input date, in input order: ``ds`` then the float feature columns of
        :func:`calendar_feature_names`.

    Raises:
        ValueError: for another ``freq``, a weekly date that is not a Monday, missing dates or a
            country the ``holidays`` package does not know.
    """
    length = _check_freq(freq)
    code = _check_country(country)
    index = pd.DatetimeIndex(dates)
    uniques, inverse = _unique_days(index, freq)
    columns = calendar_feature_names()
    values = _features_of_days(uniques, length, code, columns)
    frame = pd.DataFrame({"ds": index})
    for col in columns:
        frame[col] = values[col][inverse]
    return frame


class CalendarFeature:
    """One calendar feature as an mlforecast date feature: ``feature(dates) -> np.ndarray``.

    A module-level class (not a closure) so that fitted MLForecast objects holding it pickle;
    ``__name__`` is the column name mlforecast gives the feature.
    """

    def __init__(self, column: str, freq: str, country: str = "US") -> None:
        if column not in calendar_feature_names():
            raise ValueError(
                f"unknown calendar feature {column!r}; expected one of {calendar_feature_names()}"
            )
        self.__name__ = column
        self.freq = freq
        self.country = country
        self._length = _check_freq(freq)
        self._country = _check_country(country)

    def __call__(self, dates: pd.DatetimeIndex | Sequence) -> np.ndarray:
        uniques, inverse = _unique_days(pd.DatetimeIndex(dates), self.freq)
        values = _features_of_days(uniques, self._length, self._country, [self.__name__])
        return values[self.__name__][inverse]

    def __repr__(self) -> str:
        return f"CalendarFeature({self.__name__!r}, freq={self.freq!r}, country={self.country!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CalendarFeature):
            return NotImplemented
        return (self.__name__, self.freq, self._country) == (
            other.__name__,
            other.freq,
            other._country,
        )

    def __hash__(self) -> int:
        return hash((self.__name__, self.freq, self._country))


def calendar_feature_functions(
    freq: str, country: str = "US"
) -> list[Callable[[pd.DatetimeIndex], np.ndarray]]:
    """The features of :func:`calendar_frame` as picklable mlforecast ``date_features``.

    Each callable takes the dates (a ``DatetimeIndex``, duplicates allowed) and returns a float
    array with the values of the :func:`calendar_frame` column named by its ``__name__``.

    Raises:
        ValueError: as :func:`calendar_frame`, for ``freq`` and ``country`` at construction.
    """
    return [CalendarFeature(col, freq, country) for col in calendar_feature_names()]
