"""Point-in-time indicator values: publication lags, vintages, gaps and the leakage guarantee."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.indicators.point_in_time import (
    AS_OF_COLUMNS,
    DEFAULT_PUBLICATION_LAGS,
    PUBLICATION_LAGS,
    PublicationLag,
    as_of,
    feature_name,
    indicator_features,
    with_publication_dates,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CPI_FILE = SHARED_DATA / "macro" / "fred_CPIAUCSL.csv"
UNRATE_FILE = SHARED_DATA / "macro" / "fred_UNRATE.csv"
GSPC_FILE = SHARED_DATA / "market" / "sp500_gspc_daily_close_yahoo.csv"


def observations(rows: list[tuple]) -> pd.DataFrame:
    """Build observations from (series_id, observation_date, value, published_date, frequency)."""
    frame = pd.DataFrame(
        rows, columns=["series_id", "observation_date", "value", "published_date", "frequency"]
    )
    frame["observation_date"] = pd.to_datetime(frame["observation_date"])
    frame["published_date"] = pd.to_datetime(frame["published_date"])
    frame["value"] = frame["value"].astype("float64")
    frame["source"] = "fred"
    return frame


def one(result: pd.DataFrame, date: str, series_id: str) -> pd.Series:
    """The single as-of row of ``series_id`` on ``date``."""
    rows = result[(result["as_of"] == pd.Timestamp(date)) & (result["series_id"] == series_id)]
    assert len(rows) == 1
    return rows.iloc[0]


# --- publication lags -----------------------------------------------------------------------


def test_lag_table_covers_the_platform_series() -> None:
    assert set(PUBLICATION_LAGS) == {
        "CPIAUCSL",
        "UNRATE",
        "UMCSENT",
        "RSXFS",
        "A191RL1Q225SBEA",
        "^GSPC",
        "^VIX",
        "XRT",
    }
    assert {s: PUBLICATION_LAGS[s].days for s in ("^GSPC", "^VIX", "XRT")} == dict.fromkeys(
        ("^GSPC", "^VIX", "XRT"), 1
    )
    assert DEFAULT_PUBLICATION_LAGS["monthly"].days == 45
    assert DEFAULT_PUBLICATION_LAGS["quarterly"].days == 90


@pytest.mark.parametrize(
    ("series_id", "frequency", "observed", "published"),
    [
        # CPI March 2024: 03-31 + 13 days = Saturday 04-13 -> Monday 04-15 (mid April).
        ("CPIAUCSL", "monthly", "2024-03-01", "2024-04-15"),
        ("CPIAUCSL", "monthly", "2024-01-01", "2024-02-13"),
        # UNRATE: first Friday of the next month (2024-11-01 is itself a Friday).
        ("UNRATE", "monthly", "2024-03-01", "2024-04-05"),
        ("UNRATE", "monthly", "2024-10-01", "2024-11-01"),
        ("UMCSENT", "monthly", "2024-03-01", "2024-03-31"),
        ("RSXFS", "monthly", "2024-03-01", "2024-04-16"),
        # Quarterly GDP: quarter end + 30 days; Q2 2022 lands on Saturday 07-30 -> 08-01.
        ("A191RL1Q225SBEA", "quarterly", "2024-01-01", "2024-04-30"),
        ("A191RL1Q225SBEA", "quarterly", "2023-10-01", "2024-01-30"),
        ("A191RL1Q225SBEA", "quarterly", "2022-04-01", "2022-08-01"),
        ("^GSPC", "daily", "2024-04-05", "2024-04-06"),
        ("XRT", "daily", "2024-04-05", "2024-04-06"),
        # Unknown series: conservative defaults by frequency.
        ("FOO", "monthly", "2024-03-01", "2024-05-15"),
        ("FOO", "quarterly", "2024-01-01", "2024-06-29"),
        ("FOO", "daily", "2024-04-05", "2024-04-06"),
    ],
)
def test_publication_lags_are_applied(
    series_id: str, frequency: str, observed: str, published: str
) -> None:
    filled = with_publication_dates(observations([(series_id, observed, 1.0, None, frequency)]))
    assert filled.loc[0, "published_date"] == pd.Timestamp(published)
    assert filled["published_date"].dtype == "datetime64[ns]"


def test_real_vintages_are_left_untouched() -> None:
    raw = observations(
        [
            ("CPIAUCSL", "2024-03-01", 312.1, "2024-04-10", "monthly"),
            ("CPIAUCSL", "2024-03-01", 312.2, "2024-05-15", "monthly"),
            ("CPIAUCSL", "2024-04-01", 313.0, None, "monthly"),
        ]
    )
    filled = with_publication_dates(raw)
    assert list(filled["published_date"]) == [
        pd.Timestamp("2024-04-10"),
        pd.Timestamp("2024-05-15"),
        pd.Timestamp("2024-05-13"),  # 04-30 + 13 days
    ]
    assert raw["published_date"].isna().sum() == 1  # the input is not modified
    pd.testing.assert_frame_equal(
        filled.drop(columns="published_date"), raw.drop(columns="published_date")
    )


def test_unknown_series_without_frequency_is_an_error() -> None:
    with pytest.raises(ValueError, match="no documented publication lag"):
        with_publication_dates(observations([("FOO", "2024-03-01", 1.0, None, "weekly")]))


def test_publication_lag_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="frequency"):
        PublicationLag("weekly", 3)
    with pytest.raises(ValueError, match="days"):
        PublicationLag("monthly", -1)


# --- as_of -------------------------------------------------------------------------------------


def test_as_of_requires_publication_dates() -> None:
    raw = observations([("CPIAUCSL", "2024-03-01", 312.1, None, "monthly")])
    with pytest.raises(ValueError, match="with_publication_dates"):
        as_of(raw, ["2024-06-03"])


def test_revision_is_used_only_from_its_publication_date() -> None:
    obs = observations(
        [
            ("CPIAUCSL", "2024-02-01", 311.0, "2024-03-12", "monthly"),
            ("CPIAUCSL", "2024-03-01", 312.1, "2024-04-10", "monthly"),  # first release
            ("CPIAUCSL", "2024-03-01", 312.9, "2024-05-15", "monthly"),  # revision
        ]
    )
    result = as_of(obs, ["2024-04-09", "2024-04-10", "2024-05-14", "2024-05-15", "2024-06-03"])
    assert list(result.columns) == list(AS_OF_COLUMNS)
    assert list(result["value"]) == [311.0, 312.1, 312.1, 312.9, 312.9]
    assert (
        list(result["published_date"])
        == pd.to_datetime(
            ["2024-03-12", "2024-04-10", "2024-04-10", "2024-05-15", "2024-05-15"]
        ).tolist()
    )
    row = one(result, "2024-05-14", "CPIAUCSL")
    assert row["observation_date"] == pd.Timestamp("2024-03-01")
    assert row["age_days"] == (pd.Timestamp("2024-05-14") - pd.Timestamp("2024-03-01")).days


def test_latest_observation_wins_over_a_later_revision_of_an_older_one() -> None:
    obs = observations(
        [
            ("UNRATE", "2024-02-01", 3.9, "2024-03-08", "monthly"),
            ("UNRATE", "2024-03-01", 3.8, "2024-04-05", "monthly"),
            ("UNRATE", "2024-02-01", 4.0, "2024-04-20", "monthly"),  # revision of February
        ]
    )
    row = one(as_of(obs, ["2024-04-22"]), "2024-04-22", "UNRATE")
    assert (row["value"], row["observation_date"]) == (3.8, pd.Timestamp("2024-03-01"))


def test_gaps_are_skipped() -> None:
    """CPI with no October 2025 value: September stays the known value until November is out."""
    obs = with_publication_dates(
        observations(
            [
                ("CPIAUCSL", "2025-09-01", 324.368, None, "monthly"),
                ("CPIAUCSL", "2025-10-01", np.nan, None, "monthly"),
                ("CPIAUCSL", "2025-11-01", 325.031, None, "monthly"),
            ]
        )
    )
    # September: 10-13; October (empty): 11-13; November: 12-15 (12-13 is a Saturday).
    result = as_of(obs, ["2025-11-17", "2025-12-15"])
    assert list(result["value"]) == [324.368, 325.031]
    assert list(result["observation_date"]) == pd.to_datetime(["2025-09-01", "2025-11-01"]).tolist()


def test_fred_missing_marker_is_skipped() -> None:
    """FRED writes '.' for a missing value; parsed to NaN it is skipped like any gap."""
    raw = pd.DataFrame(
        {
            "series_id": "UNRATE",
            "observation_date": pd.to_datetime(["2025-08-01", "2025-09-01", "2025-10-01"]),
            "value": pd.to_numeric(pd.Series(["4.3", "4.4", "."]), errors="coerce"),
            "published_date": pd.NaT,
            "source": "fred",
            "frequency": "monthly",
        }
    )
    obs = with_publication_dates(raw)
    row = one(as_of(obs, ["2025-11-10"]), "2025-11-10", "UNRATE")  # October due 11-07
    assert (row["value"], row["observation_date"]) == (4.4, pd.Timestamp("2025-09-01"))


def test_nothing_published_yet_gives_nan_not_an_error() -> None:
    obs = observations(
        [
            ("CPIAUCSL", "2024-03-01", 312.1, "2024-04-10", "monthly"),
            ("^GSPC", "2024-04-05", 5204.3, "2024-04-05", "daily"),
        ]
    )
    result = as_of(obs, ["2024-04-01", "2024-04-08"], series=["CPIAUCSL", "^GSPC", "ABSENT"])
    assert list(result["series_id"]) == ["CPIAUCSL", "^GSPC", "ABSENT"] * 2
    early = result[result["as_of"] == pd.Timestamp("2024-04-01")]
    assert early["value"].isna().all()
    assert early["observation_date"].isna().all() and early["age_days"].isna().all()
    later = result[result["as_of"] == pd.Timestamp("2024-04-08")].set_index("series_id")
    assert later.loc["^GSPC", "value"] == 5204.3
    assert later.loc["^GSPC", "age_days"] == 3.0
    assert np.isnan(later.loc["CPIAUCSL", "value"])  # March CPI is out only on 04-10
    assert np.isnan(later.loc["ABSENT", "value"])


def test_market_close_counts_from_the_next_day() -> None:
    """Lag 1: a close is usable from the next day, so a Monday-morning run sees Friday's."""
    obs = with_publication_dates(
        observations(
            [
                ("^GSPC", "2024-04-04", 5147.2, None, "daily"),
                ("^GSPC", "2024-04-05", 5204.3, None, "daily"),
                ("^GSPC", "2024-04-08", 5202.4, None, "daily"),
            ]
        )
    )
    result = as_of(obs, ["2024-04-05", "2024-04-07", "2024-04-08", "2024-04-09"])
    assert list(result["value"]) == [5147.2, 5204.3, 5204.3, 5202.4]


# --- indicator_features ----------------------------------------------------------------------


def test_indicator_features_layout() -> None:
    obs = observations(
        [
            ("CPIAUCSL", "2024-02-01", 311.0, "2024-03-12", "monthly"),
            ("^GSPC", "2024-04-05", 5204.3, "2024-04-05", "daily"),
        ]
    )
    features = indicator_features(obs, ["2024-04-08", "2024-03-04"], series=["^GSPC", "CPIAUCSL"])
    assert list(features.columns) == [
        "origin",
        "ind__GSPC",
        "ind__GSPC_age_days",
        "ind_CPIAUCSL",
        "ind_CPIAUCSL_age_days",
    ]
    assert list(features["origin"]) == pd.to_datetime(["2024-03-04", "2024-04-08"]).tolist()
    assert features["ind__GSPC"].isna().tolist() == [True, False]
    assert np.isnan(features.loc[0, "ind_CPIAUCSL"])  # February CPI is out only on 03-12
    assert features.loc[1, "ind_CPIAUCSL"] == 311.0
    assert features.loc[1, "ind_CPIAUCSL_age_days"] == 67.0
    assert features.loc[1, "ind__GSPC_age_days"] == 3.0


def test_feature_names_are_sanitised_and_must_not_collide() -> None:
    assert feature_name("^GSPC") == "ind__GSPC"
    assert feature_name("A191RL1Q225SBEA") == "ind_A191RL1Q225SBEA"
    obs = observations([("^X", "2024-01-02", 1.0, "2024-01-02", "daily")])
    with pytest.raises(ValueError, match="collide"):
        indicator_features(obs, ["2024-01-08"], series=["^X", "_X"])


# --- the leakage test ----------------------------------------------------------------------


def random_vintages(seed: int) -> pd.DataFrame:
    """Monthly, quarterly and daily series with 1-3 vintages per observation at random lags.

    Every (series, observation, vintage) has a distinct publication date and a distinct value, so
    the brute-force answer is unambiguous; about 10% of the values are missing.
    """
    rng = np.random.default_rng(seed)
    periods = {
        "M_ONE": ("monthly", pd.date_range("2020-01-01", "2022-12-01", freq="MS")),
        "Q^TWO": ("quarterly", pd.date_range("2020-01-01", "2022-10-01", freq="QS")),
        "D_THREE": ("daily", pd.bdate_range("2021-06-01", "2022-06-30")),
    }
    rows = []
    for series_id, (frequency, dates) in periods.items():
        for observed in dates:
            published = observed + pd.Timedelta(days=int(rng.integers(0, 70)))
            for _ in range(int(rng.integers(1, 4))):
                value = np.nan if rng.random() < 0.1 else float(rng.normal()) + len(rows)
                rows.append((series_id, observed, value, published, frequency))
                published += pd.Timedelta(days=int(rng.integers(1, 120)))
    return observations(rows)


def brute_force_as_of(rows: list[tuple], origin: pd.Timestamp, use_published: bool = True) -> tuple:
    """Reference answer by scanning every row of one series: (value, observed, published).

    ``rows`` holds (observation_date, published_date, value). ``use_published=False`` gives the
    look-ahead answer of an implementation keying on ``observation_date`` (used as a guard).
    """
    best = None
    for observed, published, value in rows:
        known_on = published if use_published else observed
        if known_on > origin or np.isnan(value):
            continue
        if best is None or (observed, published) > best[:2]:
            best = (observed, published, value)
    if best is None:
        return (np.nan, pd.NaT, pd.NaT)
    return (best[2], best[0], best[1])


def test_leakage_every_value_was_published_by_its_origin() -> None:
    """Features as of each origin match a row-by-row scan and use only values published by then.

    The data is built so that ignoring ``published_date`` (e.g. keying on ``observation_date``)
    changes many answers; the guard below makes sure of it, so the comparison fails for such a bug.
    """
    obs = random_vintages(seed=20240601)
    series = ["M_ONE", "Q^TWO", "D_THREE"]
    rng = np.random.default_rng(7)
    mondays = pd.date_range("2019-12-30", "2023-06-26", freq="W-MON")
    extra = pd.Timestamp("2019-12-01") + pd.to_timedelta(rng.integers(0, 1300, 40), unit="D")
    origins = mondays.append(extra)

    features = indicator_features(obs, origins, series=series).set_index("origin")
    long = as_of(obs, origins, series=series).set_index(["as_of", "series_id"])
    rows_of = {
        s: list(zip(g["observation_date"], g["published_date"], g["value"], strict=True))
        for s, g in obs.groupby("series_id")
    }

    look_ahead_differs = 0
    for origin in features.index:
        for series_id in series:
            value, observed, published = brute_force_as_of(rows_of[series_id], origin)
            got = long.loc[(origin, series_id)]
            feature = features.loc[origin, feature_name(series_id)]
            age = features.loc[origin, f"{feature_name(series_id)}_age_days"]
            if np.isnan(value):
                assert np.isnan(got["value"]) and np.isnan(feature), (origin, series_id)
                assert np.isnan(age) and pd.isna(got["published_date"]), (origin, series_id)
            else:
                assert got["published_date"] <= origin, (origin, series_id)
                assert (got["value"], got["observation_date"], got["published_date"]) == (
                    value,
                    observed,
                    published,
                ), (origin, series_id)
                assert feature == value, (origin, series_id)
                assert age == (origin - observed).days, (origin, series_id)
            leaked = brute_force_as_of(rows_of[series_id], origin, use_published=False)[0]
            look_ahead_differs += not (leaked == value or (np.isnan(leaked) and np.isnan(value)))
    assert look_ahead_differs > 100, "the data must make look-ahead detectable"


def test_as_of_scales_to_decades_of_daily_data() -> None:
    """10 daily series x 30 years x 500 origins: far below a second (loose bound for CI)."""
    days = pd.bdate_range("1995-01-02", "2024-12-31")
    rng = np.random.default_rng(0)
    obs = pd.concat(
        [
            pd.DataFrame(
                {
                    "series_id": f"S{i}",
                    "observation_date": days,
                    "value": rng.normal(size=len(days)),
                    "published_date": days + pd.Timedelta(days=1),
                    "source": "synthetic",
                    "frequency": "daily",
                }
            )
            for i in range(10)
        ],
        ignore_index=True,
    )
    origins = pd.date_range("2015-01-05", periods=500, freq="W-MON")
    features = indicator_features(obs, origins)
    assert features.shape == (500, 21)
    assert features.filter(regex="_age_days$").eq(3.0).all().all()  # Friday's close on Monday


# --- opt-in: real series ---------------------------------------------------------------------


def fred_observations(path: Path, series_id: str) -> pd.DataFrame:
    """A FRED ``date,value`` file (blank = missing) as observations without vintages."""
    raw = pd.read_csv(path, parse_dates=["date"])
    return pd.DataFrame(
        {
            "series_id": series_id,
            "observation_date": raw["date"],
            "value": pd.to_numeric(raw["value"], errors="coerce"),
            "published_date": pd.NaT,
            "source": "fred",
            "frequency": "monthly",
        }
    )


@pytest.mark.reference_data
@pytest.mark.skipif(
    not all(p.is_file() for p in (CPI_FILE, UNRATE_FILE, GSPC_FILE)),
    reason=f"reference series under {SHARED_DATA} are absent",
)
def test_reference_series_as_of_values() -> None:
    """Real FRED / Yahoo files, no vintages, publication dates from the lag table.

    Hand-checked against the files:

    * CPIAUCSL as of 2024-04-01 = 311.022, the February 2024 value: February was due
      2024-03-13 (02-29 + 13 days), March (312.107) only 2024-04-15 (03-31 + 13 = Saturday
      04-13 -> Monday).
    * UNRATE as of 2025-11-15 = 4.4, the September 2025 value (due 2025-10-03, first Friday of
      October): October 2025 is blank in the file (skipped, it would be due 2025-11-07) and
      November (4.6) is due 2025-12-05.
    * ^GSPC as of Monday 2025-09-01 (Labor Day, NYSE closed) = 6460.259765625, the close of
      Friday 2025-08-29; the next close in the file is Tuesday 2025-09-02 (6415.54).
    """
    gspc = pd.read_csv(GSPC_FILE, parse_dates=["Date"])
    obs = pd.concat(
        [
            fred_observations(CPI_FILE, "CPIAUCSL"),
            fred_observations(UNRATE_FILE, "UNRATE"),
            pd.DataFrame(
                {
                    "series_id": "^GSPC",
                    "observation_date": gspc["Date"],
                    "value": gspc["Close"].astype("float64"),
                    "published_date": pd.NaT,
                    "source": "yahoo",
                    "frequency": "daily",
                }
            ),
        ],
        ignore_index=True,
    )
    obs = with_publication_dates(obs)
    result = as_of(obs, ["2024-04-01", "2025-11-15", "2025-09-01"])

    cpi = one(result, "2024-04-01", "CPIAUCSL")
    assert cpi["value"] == 311.022
    assert (cpi["observation_date"], cpi["published_date"]) == (
        pd.Timestamp("2024-02-01"),
        pd.Timestamp("2024-03-13"),
    )
    unrate = one(result, "2025-11-15", "UNRATE")
    assert unrate["value"] == 4.4
    assert (unrate["observation_date"], unrate["published_date"]) == (
        pd.Timestamp("2025-09-01"),
        pd.Timestamp("2025-10-03"),
    )
    sp500 = one(result, "2025-09-01", "^GSPC")
    assert sp500["value"] == pytest.approx(6460.259765625)
    assert sp500["observation_date"] == pd.Timestamp("2025-08-29")
    assert sp500["age_days"] == 3.0
