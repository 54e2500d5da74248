"""YahooSource against recorded Yahoo chart bodies through a replaying session (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yfinance
from yfinance.data import YfData

from forecast_pipeline.indicators.frame import COLUMNS
from forecast_pipeline.indicators.retry import IndicatorSourceError, RetryPolicy
from forecast_pipeline.indicators.yahoo import YahooSource

from .replay import Canned, ReplaySession, fixture_bytes

NO_JITTER = RetryPolicy(jitter=0.0)


@pytest.fixture(autouse=True)
def _isolated_yfinance(tmp_path: Path) -> Iterator[None]:
    """Keep yfinance's SQLite caches in a temporary folder and its response LRU empty."""
    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    YfData.cache_get.cache_clear()
    yield
    YfData.cache_get.cache_clear()


def ok(name: str) -> Canned:
    return Canned(200, fixture_bytes(f"yahoo/{name}"))


def make(
    history: list[Canned], tz: Canned | None = None, **kwargs: object
) -> tuple[YahooSource, ReplaySession, list[float]]:
    session = ReplaySession(history, tz)
    sleeps: list[float] = []
    return YahooSource(NO_JITTER, session=session, sleep=sleeps.append, **kwargs), session, sleeps


def dates(frame: pd.DataFrame) -> list[str]:
    return list(frame["observation_date"].dt.strftime("%Y-%m-%d"))


def test_null_bar_is_dropped_and_shape_is_the_long_frame() -> None:
    src, session, sleeps = make([ok("chart_GSPC_null_bar.json")])
    frame = src.observations("^GSPC", "2020-01-02", "2020-01-08")
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["observation_date"].dtype) == "datetime64[ns]"
    assert str(frame["published_date"].dtype) == "datetime64[ns]"
    assert frame["value"].dtype == "float64"
    assert dates(frame) == ["2020-01-02", "2020-01-03", "2020-01-07", "2020-01-08"]
    assert list(frame["value"]) == [3257.85, 3234.85, 3237.18, 3253.05]
    assert (frame["published_date"] == frame["observation_date"]).all()
    assert set(frame["source"]) == {"yahoo"} and set(frame["frequency"]) == {"daily"}
    assert sleeps == []
    # One history request: end is inclusive here, so yfinance gets end + 1 day (exclusive).
    (params,) = session.history_calls
    assert params["interval"] == "1d"
    assert pd.Timestamp(params["period1"], unit="s", tz="UTC").tz_convert(
        "America/New_York"
    ) == pd.Timestamp("2020-01-02", tz="America/New_York")
    assert pd.Timestamp(params["period2"], unit="s", tz="UTC").tz_convert(
        "America/New_York"
    ) == pd.Timestamp("2020-01-09", tz="America/New_York")


def test_split_does_not_break_the_series() -> None:
    src, _, _ = make([ok("chart_NVDA_split.json")])
    frame = src.observations("NVDA", "2021-07-16", "2021-07-22")
    assert dates(frame) == ["2021-07-16", "2021-07-19", "2021-07-20", "2021-07-21", "2021-07-22"]
    # Yahoo's close is already split-adjusted: no 4x jump around the 2021-07-20 split.
    assert list(frame["value"]) == [181.61, 187.80, 186.12, 194.10, 195.94]
    ratios = frame["value"].pct_change().dropna().abs()
    assert (ratios < 0.1).all()


def test_etf_close_is_not_dividend_adjusted_by_default() -> None:
    src, _, _ = make([ok("chart_XRT_dividend.json")])
    frame = src.observations("XRT", "2019-12-18", "2019-12-23")
    assert list(frame["value"]) == [44.40, 44.63, 44.25, 44.31]


def test_auto_adjust_gives_the_dividend_adjusted_close() -> None:
    src, _, _ = make([ok("chart_XRT_dividend.json")], auto_adjust=True)
    frame = src.observations("XRT", "2019-12-18", "2019-12-23")
    assert list(frame["value"].round(2)) == [44.20, 44.43, 44.25, 44.31]


def test_unknown_symbol_no_data_found_fails_without_retry() -> None:
    no_data = Canned(404, fixture_bytes("yahoo/chart_no_data_found.json"))
    src, session, sleeps = make([no_data])
    with pytest.raises(IndicatorSourceError) as info:
        src.observations("NOSUCH", "2020-01-02", "2020-01-08")
    assert info.value.series_id == "NOSUCH"
    assert "NOSUCH" in str(info.value)
    assert "no data found" in str(info.value).lower()
    assert info.value.attempts == 1
    assert sleeps == []
    assert session.history_calls == []  # yfinance stops at the timezone lookup


def test_range_without_data_carries_yahoos_reason() -> None:
    error = Canned(400, fixture_bytes("yahoo/chart_data_doesnt_exist.json"))
    src, session, sleeps = make([error], tz=ok("chart_GSPC_null_bar.json"))
    with pytest.raises(IndicatorSourceError, match=r"\^GSPC: no data: Data doesn't exist"):
        src.observations("^GSPC", "2000-01-01", "2000-01-04")
    assert sleeps == []
    assert len(session.history_calls) == 2  # yfinance re-asks once with another cookie mode


def test_window_without_bars_is_an_error() -> None:
    src, _, sleeps = make([ok("chart_GSPC_weekend_empty.json")], tz=ok("chart_GSPC_null_bar.json"))
    with pytest.raises(IndicatorSourceError, match="no data"):
        src.observations("^GSPC", "2020-01-04", "2020-01-05")
    assert sleeps == []


def test_rate_limit_is_retried_then_succeeds() -> None:
    limited = Canned(429, b"Too Many Requests", {"Retry-After": "5"})
    src, session, sleeps = make(
        [limited, limited, ok("chart_GSPC_null_bar.json")], tz=ok("chart_GSPC_null_bar.json")
    )
    frame = src.observations("^GSPC", "2020-01-02", "2020-01-08")
    assert len(frame) == 4
    # yfinance itself re-asks once before raising YFRateLimitError (dropping Retry-After),
    # so two 429 answers make one failed attempt of ours, followed by the backoff.
    assert len(session.history_calls) == 3
    assert sleeps == [0.5]


def test_5xx_is_retried_then_succeeds_and_the_cached_error_is_not_replayed() -> None:
    down = Canned(502, fixture_bytes("yahoo/error_502.html"))
    src, session, sleeps = make(
        [down, down, down, down, ok("chart_NVDA_split.json")], tz=ok("chart_NVDA_split.json")
    )
    frame = src.observations("NVDA", "2021-07-16", "2021-07-22")
    assert len(frame) == 5
    assert len(session.history_calls) == 5
    assert sleeps == [0.5, 1.0]


def test_5xx_every_time_gives_up() -> None:
    down = Canned(502, fixture_bytes("yahoo/error_502.html"))
    src, _, sleeps = make([down], tz=ok("chart_NVDA_split.json"))
    with pytest.raises(IndicatorSourceError, match="NVDA: gave up after 4 attempts") as info:
        src.observations("NVDA", "2021-07-16", "2021-07-22")
    assert sleeps == [0.5, 1.0, 2.0]
    assert info.value.__cause__ is not None


def test_end_before_start_is_rejected() -> None:
    src, session, _ = make([ok("chart_NVDA_split.json")])
    with pytest.raises(ValueError):
        src.observations("NVDA", "2021-07-22", "2021-07-16")
    assert session.calls == []
