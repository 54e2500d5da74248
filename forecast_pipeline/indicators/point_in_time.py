"""Point-in-time (as-of) indicator values: what was known on a forecast origin, and no more.

Observations use the long layout of ``warehouse.indicator_observations``: ``series_id``,
``observation_date`` (period start for monthly / quarterly series, trading day for daily ones),
``value`` (NaN = missing), ``published_date`` (first day the value was known; NaT when the source
gave no vintage), ``source`` and ``frequency`` (``daily`` | ``monthly`` | ``quarterly``). One
observation may appear in several vintages (revisions) with different ``published_date``.

* :func:`with_publication_dates` fills missing ``published_date`` from documented publication
  lags (:data:`PUBLICATION_LAGS`, or a conservative default per frequency).
* :func:`as_of` returns, for each date D and series, the latest non-missing observation published
  on or before D, in its latest vintage published on or before D.
* :func:`indicator_features` pivots that into one row per forecast origin, one column per series.

Publication lags (applied only where ``published_date`` is NaT; real vintages are kept). The
publication day is ``period end + days`` (period end = last day of the month / quarter, or the
trading day itself for daily series), then moved forward as stated:

=================  ===========================================  ===========================
series_id          rule                                         source
=================  ===========================================  ===========================
CPIAUCSL           month end + 13 days, weekend -> Monday       BLS CPI release schedule
                   (CPI for March 2024 -> 2024-04-15; the       (bls.gov/schedule/
                   release is usually the 10th-15th)            news_release/cpi.htm)
UNRATE             first Friday of the next month               BLS Employment Situation
                   (March 2024 -> 2024-04-05)                   (bls.gov/schedule/
                                                                news_release/empsit.htm)
UMCSENT            last day of the same month (the final        University of Michigan
                   reading comes out on the last or second-     Surveys of Consumers
                   to-last Friday; month end is the safe side)  (sca.isr.umich.edu)
RSXFS              month end + 16 days, weekend -> Monday       Census Advance Monthly
                                                                Retail Trade (census.gov/
                                                                retail/release_schedule)
A191RL1Q225SBEA    quarter end + 30 days, weekend -> Monday     BEA GDP advance estimate
                   (Q1 2024 -> 2024-04-30)                      (bea.gov/news/schedule)
^GSPC, ^VIX, XRT   the next calendar day (the close is known     exchange close
                   after the market shuts; weekly runs start
                   on Monday morning, so Friday's close)
other daily        the next calendar day                        default (conservative)
other monthly      month end + 45 days                          default (conservative)
other quarterly    quarter end + 90 days                        default (conservative)
=================  ===========================================  ===========================

Caveats of imputed dates: they are rules, not vintages. Release calendars shift (holidays,
the BLS moving a jobs report to the second Friday, the autumn-2025 federal shutdown), and a
source without vintages (FRED's current series, not ALFRED) carries the *latest revised* value,
which the rules date at the *first* release. Real vintages in ``published_date`` are always
preferred and are never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "AS_OF_COLUMNS",
    "DEFAULT_PUBLICATION_LAGS",
    "PUBLICATION_LAGS",
    "PublicationLag",
    "as_of",
    "feature_name",
    "indicator_features",
    "with_publication_dates",
]

AS_OF_COLUMNS: tuple[str, ...] = (
    "as_of",
    "series_id",
    "value",
    "observation_date",
    "published_date",
    "age_days",
)
_REQUIRED = ("series_id", "observation_date", "value", "published_date")
_FREQUENCIES = ("daily", "monthly", "quarterly")


@dataclass(frozen=True)
class PublicationLag:
    """When the value of one period becomes known, relative to the period's last day.

    Attributes:
        frequency: ``daily``, ``monthly`` or ``quarterly``; defines the period of an observation
            (the trading day, the month or the calendar quarter containing ``observation_date``).
        days: calendar days added to the period's last day.
        weekday: when set (Monday = 0 ... Friday = 4), the date is then moved forward to the
            next such weekday (unchanged if it already is one).
        business_day: move a Saturday or Sunday forward to the next Monday.
        rule: the release rule in words.
        reference: where the rule comes from.
    """

    frequency: str
    days: int
    weekday: int | None = None
    business_day: bool = False
    rule: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        if self.frequency not in _FREQUENCIES:
            raise ValueError(f"frequency must be one of {_FREQUENCIES}, got {self.frequency!r}")
        if self.days < 0:
            raise ValueError(f"days must be >= 0, got {self.days}")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be in 0..6, got {self.weekday}")

    def period_end(self, observation_dates: Any) -> pd.DatetimeIndex:
        """Last day of the period (trading day, month or quarter) of each observation date."""
        dates = pd.DatetimeIndex(pd.to_datetime(observation_dates)).normalize()
        if self.frequency == "monthly":
            return dates + pd.offsets.MonthEnd(0)
        if self.frequency == "quarterly":
            return dates + pd.offsets.QuarterEnd(0)
        return dates

    def published_dates(self, observation_dates: Any) -> pd.DatetimeIndex:
        """Publication day of each observation date under this rule (NaT stays NaT)."""
        published = self.period_end(observation_dates) + pd.Timedelta(days=self.days)
        if self.weekday is not None:
            ahead = (self.weekday - published.dayofweek.to_numpy()) % 7
            published = published + pd.to_timedelta(ahead, unit="D")
        if self.business_day:
            ahead = np.select(
                [published.dayofweek == 5, published.dayofweek == 6], [2, 1], default=0
            )
            published = published + pd.to_timedelta(ahead, unit="D")
        return pd.DatetimeIndex(published.astype("datetime64[ns]"))


_MARKET_CLOSE = PublicationLag(
    "daily",
    1,
    rule="the close is known after the market shuts: usable from the next day",
    reference="exchange close",
)

PUBLICATION_LAGS: Mapping[str, PublicationLag] = MappingProxyType(
    {
        "CPIAUCSL": PublicationLag(
            "monthly",
            13,
            business_day=True,
            rule="CPI: month end + 13 days (mid next month), weekend -> Monday",
            reference="BLS CPI release schedule, bls.gov/schedule/news_release/cpi.htm",
        ),
        "UNRATE": PublicationLag(
            "monthly",
            1,
            weekday=4,
            rule="Employment Situation: first Friday of the next month",
            reference="BLS release schedule, bls.gov/schedule/news_release/empsit.htm",
        ),
        "UMCSENT": PublicationLag(
            "monthly",
            0,
            rule="final Michigan sentiment: last (or second-to-last) Friday; use month end",
            reference="University of Michigan Surveys of Consumers, sca.isr.umich.edu",
        ),
        "RSXFS": PublicationLag(
            "monthly",
            16,
            business_day=True,
            rule="advance retail sales: month end + 16 days, weekend -> Monday",
            reference="Census Advance Monthly Retail Trade, census.gov/retail/release_schedule",
        ),
        "A191RL1Q225SBEA": PublicationLag(
            "quarterly",
            30,
            business_day=True,
            rule="real GDP growth, advance estimate: quarter end + 30 days, weekend -> Monday",
            reference="BEA release schedule, bea.gov/news/schedule",
        ),
        "^GSPC": _MARKET_CLOSE,
        "^VIX": _MARKET_CLOSE,
        "XRT": _MARKET_CLOSE,
    }
)
"""Documented publication lags of the platform's series (see the module docstring table)."""

DEFAULT_PUBLICATION_LAGS: Mapping[str, PublicationLag] = MappingProxyType(
    {
        "daily": PublicationLag(
            "daily", 1, rule="unknown daily series: the next day", reference="default"
        ),
        "monthly": PublicationLag(
            "monthly", 45, rule="unknown monthly series: month end + 45 days", reference="default"
        ),
        "quarterly": PublicationLag(
            "quarterly",
            90,
            rule="unknown quarterly series: quarter end + 90 days",
            reference="default",
        ),
    }
)
"""Conservative lags by frequency for series absent from :data:`PUBLICATION_LAGS`."""


def _check_columns(observations: pd.DataFrame, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in observations.columns]
    if missing:
        raise ValueError(f"observations lack column(s) {missing}")


def _publication_lag(series_id: str, frequency: str | None) -> PublicationLag:
    """The documented lag of ``series_id``, else the default for its ``frequency``."""
    lag = PUBLICATION_LAGS.get(series_id)
    if lag is not None:
        return lag
    if frequency not in DEFAULT_PUBLICATION_LAGS:
        raise ValueError(
            f"series {series_id!r} has no documented publication lag and an unknown "
            f"frequency {frequency!r}; expected one of {_FREQUENCIES}"
        )
    return DEFAULT_PUBLICATION_LAGS[frequency]


def with_publication_dates(observations: pd.DataFrame) -> pd.DataFrame:
    """Return a copy in which every NaT ``published_date`` is imputed from publication lags.

    Rows with a real ``published_date`` (a vintage) are left untouched. For a missing one the
    series' rule in :data:`PUBLICATION_LAGS` applies (period end + lag, e.g. CPIAUCSL for March
    2024, ``observation_date`` 2024-03-01, becomes 2024-04-15: 2024-03-31 + 13 days is a
    Saturday); series not listed use :data:`DEFAULT_PUBLICATION_LAGS` by their ``frequency``
    column. ``observation_date`` and ``published_date`` are returned as ``datetime64[ns]``.

    Raises:
        ValueError: a required column is missing, or an unlisted series with a NaT publication
            date has no usable ``frequency``.
    """
    _check_columns(observations, ("series_id", "observation_date", "published_date"))
    out = observations.copy()
    out["observation_date"] = pd.to_datetime(out["observation_date"]).astype("datetime64[ns]")
    out["published_date"] = pd.to_datetime(out["published_date"]).astype("datetime64[ns]")
    todo = out["published_date"].isna() & out["observation_date"].notna()
    if not todo.any():
        return out
    pending = out.loc[todo]
    if "frequency" in out.columns:
        frequency = pending["frequency"]
    else:
        frequency = pd.Series(None, index=pending.index, dtype=object)
    keys = pd.DataFrame({"series_id": pending["series_id"], "frequency": frequency})
    for (series_id, freq), index in keys.groupby(
        ["series_id", "frequency"], dropna=False, sort=False
    ).groups.items():
        lag = _publication_lag(str(series_id), None if pd.isna(freq) else str(freq))
        out.loc[index, "published_date"] = lag.published_dates(
            out.loc[index, "observation_date"]
        ).to_numpy()
    return out


def _as_datetime_index(dates: Sequence[Any] | pd.DatetimeIndex, what: str) -> pd.DatetimeIndex:
    """Unique, sorted, tz-naive ``datetime64[ns]`` dates."""
    index = pd.DatetimeIndex(pd.to_datetime(list(dates)))
    if index.tz is not None:
        raise ValueError(f"{what} must be tz-naive dates")
    if index.hasnans:
        raise ValueError(f"{what} contain missing dates")
    return pd.DatetimeIndex(index.unique().sort_values().astype("datetime64[ns]"))


def as_of(
    observations: pd.DataFrame,
    dates: Sequence[Any] | pd.DatetimeIndex,
    series: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Value of each series known on each date, using only what was published by then.

    For a date D and a series: among its rows with ``published_date <= D`` and a non-missing
    value, the latest ``observation_date``; for that observation, the latest vintage published
    on or before D. Missing values (NaN) are skipped, so a gap falls back to the previous known
    observation; a revision is used only from its own publication date (before that, the earlier
    release is). Nothing published yet gives a row with NaN ``value`` and NaT dates.

    Args:
        observations: indicator observations (``series_id``, ``observation_date``, ``value``,
            ``published_date``; other columns are ignored). ``published_date`` must be complete:
            call :func:`with_publication_dates` first when the source gave no vintages.
        dates: the as-of dates (date-like; duplicates are dropped).
        series: series to report, in this order; default: every series in ``observations``
            (sorted). A series absent from ``observations`` yields NaN values.

    Returns:
        Columns :data:`AS_OF_COLUMNS`: ``as_of``, ``series_id``, ``value``, ``observation_date``,
        ``published_date``, ``age_days`` (``as_of - observation_date`` in days, float, NaN when
        there is no value); one row per (date, series), sorted by ``as_of`` then by the order of
        ``series``.

    Raises:
        ValueError: a required column is missing, a ``published_date`` is NaT, or a date is
            missing or tz-aware.
    """
    _check_columns(observations, _REQUIRED)
    frame = pd.DataFrame(
        {
            "series_id": observations["series_id"].astype(str),
            "observation_date": pd.to_datetime(observations["observation_date"]).astype(
                "datetime64[ns]"
            ),
            "value": pd.to_numeric(observations["value"], errors="coerce").astype("float64"),
            "published_date": pd.to_datetime(observations["published_date"]).astype(
                "datetime64[ns]"
            ),
        }
    )
    if frame["published_date"].isna().any():
        unknown = sorted(frame.loc[frame["published_date"].isna(), "series_id"].unique())
        raise ValueError(
            f"published_date is NaT for series {unknown}: call with_publication_dates() first"
        )
    wanted = sorted(frame["series_id"].unique()) if series is None else list(dict.fromkeys(series))
    as_of_dates = _as_datetime_index(dates, "dates")

    known = frame[
        frame["series_id"].isin(wanted) & frame["value"].notna() & frame["observation_date"].notna()
    ]
    # In publication order, a row can be the answer for some date only if no earlier-published
    # row of its series has a later observation_date (a "record"); ties keep the later vintage.
    # The answer on D is then the last record published on or before D.
    known = known.sort_values(
        ["series_id", "published_date", "observation_date"], kind="stable"
    ).reset_index(drop=True)
    running_max = known.groupby("series_id", sort=False)["observation_date"].cummax()
    previous_max = running_max.groupby(known["series_id"], sort=False).shift()
    records = known[previous_max.isna() | (known["observation_date"] >= previous_max)]
    records = records.drop_duplicates(["series_id", "published_date"], keep="last")
    records = records.sort_values("published_date", kind="stable")

    order = {name: i for i, name in enumerate(wanted)}
    grid = pd.DataFrame(
        {
            "as_of": np.repeat(as_of_dates.to_numpy(), len(wanted)),
            "series_id": np.tile(np.asarray(wanted, dtype=object), len(as_of_dates)),
        }
    )
    grid["series_id"] = grid["series_id"].astype(str)
    merged = pd.merge_asof(
        grid.sort_values("as_of", kind="stable"),
        records,
        left_on="as_of",
        right_on="published_date",
        by="series_id",
        direction="backward",
        allow_exact_matches=True,
    )
    merged["age_days"] = (merged["as_of"] - merged["observation_date"]).dt.days.astype("float64")
    merged["_order"] = merged["series_id"].map(order)
    merged = merged.sort_values(["as_of", "_order"], kind="stable").reset_index(drop=True)
    return merged[list(AS_OF_COLUMNS)]


def feature_name(series_id: str) -> str:
    """Feature column of a series: ``ind_`` + the id with non-alphanumerics replaced by ``_``.

    >>> feature_name("^GSPC")
    'ind__GSPC'
    """
    return "ind_" + re.sub(r"[^0-9A-Za-z]", "_", series_id)


def indicator_features(
    observations: pd.DataFrame,
    origins: Sequence[Any] | pd.DatetimeIndex,
    series: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per forecast origin with each series' value as of that origin.

    Args:
        observations: indicator observations with complete ``published_date`` (see
            :func:`as_of`).
        origins: forecast origins (date-like, usually Mondays; duplicates are dropped).
        series: series to include, in this order. Default: every series in ``observations``;
            pass the list explicitly so training rows and the future frame get the same columns.

    Returns:
        ``origin`` (``datetime64[ns]``, sorted) and, per series, ``ind_<id>`` (its value as of the
        origin, NaN if nothing was published yet) and ``ind_<id>_age_days`` (origin minus the
        observation date in days), with ids sanitised by :func:`feature_name`.

    Raises:
        ValueError: two series map to the same column name, or as in :func:`as_of`.
    """
    _check_columns(observations, _REQUIRED)
    wanted = (
        sorted(observations["series_id"].astype(str).unique())
        if series is None
        else list(dict.fromkeys(series))
    )
    names = {s: feature_name(s) for s in wanted}
    if len(set(names.values())) != len(names):
        raise ValueError(f"series ids collide once sanitised: {names}")
    long = as_of(observations, origins, wanted)
    values = long.pivot(index="as_of", columns="series_id", values="value")
    ages = long.pivot(index="as_of", columns="series_id", values="age_days")
    out = pd.DataFrame({"origin": _as_datetime_index(origins, "origins")})
    for s in wanted:
        out[names[s]] = values[s].reindex(out["origin"]).to_numpy(dtype="float64")
        out[f"{names[s]}_age_days"] = ages[s].reindex(out["origin"]).to_numpy(dtype="float64")
    return out
