"""FredSource against recorded FRED XML bodies through a fake transport (no network)."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from forecast_pipeline.indicators.frame import COLUMNS
from forecast_pipeline.indicators.fred import FredSource, parse_fred_error
from forecast_pipeline.indicators.retry import HttpStatusError, IndicatorSourceError, RetryPolicy

from .replay import Canned, FakeFredTransport, fixture_bytes

KEY = "0123456789abcdef0123456789abcdef"
NO_JITTER = RetryPolicy(jitter=0.0, timeout=12.5)


def ok(name: str) -> Canned:
    return Canned(200, fixture_bytes(f"fred/{name}"))


def source(
    script: list[Canned], info: str | None = "series_UNRATE.xml", policy: RetryPolicy = NO_JITTER
) -> tuple[FredSource, FakeFredTransport, list[float]]:
    transport = FakeFredTransport(script, ok(info) if info else None)
    sleeps: list[float] = []
    return FredSource(KEY, policy, transport=transport, sleep=sleeps.append), transport, sleeps


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def assert_schema(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["observation_date"].dtype) == "datetime64[ns]"
    assert str(frame["published_date"].dtype) == "datetime64[ns]"
    assert frame["value"].dtype == "float64"


def test_latest_values_without_vintages() -> None:
    fred, transport, sleeps = source([ok("observations_UNRATE.xml")])
    frame = fred.observations("UNRATE", "2020-01-01", "2020-04-01", vintages=False)
    assert_schema(frame)
    assert list(frame["observation_date"].dt.strftime("%Y-%m-%d")) == [
        "2020-01-01",
        "2020-02-01",
        "2020-03-01",
        "2020-04-01",
    ]
    assert list(frame["value"]) == [3.6, 3.5, 4.4, 14.7]
    assert frame["published_date"].isna().all()
    assert set(frame["series_id"]) == {"UNRATE"}
    assert set(frame["source"]) == {"fred"}
    assert set(frame["frequency"]) == {"monthly"}
    assert sleeps == []
    # fredapi asks for XML (no file_type), with the window and our api key appended last.
    (url,) = transport.observation_urls
    assert url.startswith("https://api.stlouisfed.org/fred/series/observations?series_id=UNRATE")
    params = query(url)
    assert params["observation_start"] == "2020-01-01"
    assert params["observation_end"] == "2020-04-01"
    assert params["api_key"] == KEY
    assert "file_type" not in params
    assert transport.timeouts == [12.5, 12.5]


def test_dot_is_a_missing_value() -> None:
    fred, _, _ = source([ok("observations_OILPRICE_missing_dot.xml")], info="series_OILPRICE.xml")
    frame = fred.observations("OILPRICE", "2013-04-01", "2013-07-01", vintages=False)
    assert len(frame) == 4
    june = frame.loc[frame["observation_date"] == "2013-06-01", "value"].item()
    assert math.isnan(june)
    assert frame["value"].notna().sum() == 3


def test_empty_result_is_an_empty_frame() -> None:
    fred, _, _ = source([ok("observations_empty.xml")])
    for vintages in (False, True):
        frame = fred.observations("UNRATE", "2050-01-01", None, vintages=vintages)
        assert frame.empty
        assert_schema(frame)


def test_vintages_give_one_row_per_realtime_period() -> None:
    fred, transport, _ = source([ok("observations_GDPC1_vintages.xml")], info="series_GDPC1.xml")
    frame = fred.observations("GDPC1", "2019-01-01", "2019-12-31")
    assert_schema(frame)
    assert set(frame["frequency"]) == {"quarterly"}
    q2 = frame[frame["observation_date"] == "2019-04-01"]
    assert list(q2["value"]) == [19023.8, 19022.5, 19020.6]
    assert list(q2["published_date"].dt.strftime("%Y-%m-%d")) == [
        "2019-07-26",
        "2019-08-29",
        "2019-09-26",
    ]
    assert len(frame) == 6
    params = query(transport.observation_urls[0])
    assert params["realtime_start"] == "1776-07-04"
    assert params["realtime_end"] == "9999-12-31"


def test_vintages_are_cut_to_the_observation_window() -> None:
    fred, _, _ = source([ok("observations_GDPC1_vintages.xml")], info="series_GDPC1.xml")
    frame = fred.observations("GDPC1", "2019-07-01", "2019-07-01")
    assert list(frame["value"]) == [19121.1, 19141.7]
    assert (frame["observation_date"] == pd.Timestamp("2019-07-01")).all()


def test_bad_series_id_fails_at_once_with_one_request() -> None:
    bad = Canned(400, fixture_bytes("fred/error_400_bad_series_id.xml"))
    transport = FakeFredTransport([bad])
    sleeps: list[float] = []
    fred = FredSource(KEY, NO_JITTER, transport=transport, sleep=sleeps.append)
    with pytest.raises(IndicatorSourceError) as info:
        fred.observations("bad_series_id", "2020-01-01", "2020-12-31")
    assert len(transport.urls) == 1
    assert sleeps == []
    assert info.value.series_id == "bad_series_id"
    assert "bad_series_id" in str(info.value)
    assert "Invalid value for variable series_id" in str(info.value)
    assert KEY not in str(info.value)
    assert isinstance(info.value.__cause__, HttpStatusError)
    assert info.value.__cause__.status == 400


def test_series_that_does_not_exist_fails_at_once() -> None:
    missing = Canned(400, fixture_bytes("fred/error_400_series_does_not_exist.xml"))
    transport = FakeFredTransport([missing])
    fred = FredSource(KEY, NO_JITTER, transport=transport, sleep=lambda s: None)
    with pytest.raises(IndicatorSourceError, match=r"NOSUCHSERIES: .*does not exist"):
        fred.observations("NOSUCHSERIES", None, None)
    assert len(transport.urls) == 1


def test_429_is_retried_after_the_retry_after_delay() -> None:
    limited = Canned(429, fixture_bytes("fred/error_429_rate_limit.xml"), {"Retry-After": "3"})
    fred, transport, sleeps = source([limited, ok("observations_UNRATE.xml")])
    frame = fred.observations("UNRATE", "2020-01-01", "2020-04-01", vintages=False)
    assert len(frame) == 4
    assert len(transport.observation_urls) == 2
    assert sleeps == [3.0]


def test_429_without_retry_after_uses_the_backoff() -> None:
    limited = Canned(429, fixture_bytes("fred/error_429_rate_limit.xml"))
    fred, transport, sleeps = source([limited, limited, ok("observations_UNRATE.xml")])
    fred.observations("UNRATE", "2020-01-01", "2020-04-01", vintages=False)
    assert len(transport.observation_urls) == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("status", "fixture"), [(500, "error_500_internal.xml"), (503, "error_503_gateway.html")]
)
def test_5xx_is_retried_then_succeeds(status: int, fixture: str) -> None:
    failure = Canned(status, fixture_bytes(f"fred/{fixture}"))
    fred, transport, sleeps = source([failure, ok("observations_GDPC1_vintages.xml")])
    frame = fred.observations("GDPC1", None, None, frequency="monthly")
    assert len(frame) == 6
    assert len(transport.observation_urls) == 2
    assert sleeps == [0.5]


def test_5xx_every_time_gives_up_after_the_policy_attempts() -> None:
    failure = Canned(500, fixture_bytes("fred/error_500_internal.xml"))
    fred, transport, sleeps = source([failure])
    with pytest.raises(IndicatorSourceError, match=r"gave up after 4 attempts.*500") as info:
        fred.observations("UNRATE", None, None)
    assert len(transport.observation_urls) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert info.value.attempts == 4
    assert isinstance(info.value.__cause__, HttpStatusError)


def test_timeout_is_retried() -> None:
    answers = iter([TimeoutError("timed out"), fixture_bytes("fred/observations_UNRATE.xml")])
    info = fixture_bytes("fred/series_UNRATE.xml")
    calls: list[str] = []

    def transport(url: str, timeout: float):
        from forecast_pipeline.indicators.fred import HttpResponse

        calls.append(url)
        if "/fred/series?" in url:
            return HttpResponse(200, info)
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return HttpResponse(200, answer)

    sleeps: list[float] = []
    fred = FredSource(KEY, NO_JITTER, transport=transport, sleep=sleeps.append)
    assert len(fred.observations("UNRATE", None, None, vintages=False)) == 4
    assert sleeps == [0.5]


def test_frequency_comes_from_series_info_or_the_argument() -> None:
    fred, _, _ = source([ok("observations_UNRATE.xml")], info="series_GNPCA.xml")
    with pytest.raises(IndicatorSourceError, match="unsupported FRED frequency A"):
        fred.observations("GNPCA", None, None, vintages=False)
    frame = fred.observations("GNPCA", None, None, vintages=False, frequency="quarterly")
    assert set(frame["frequency"]) == {"quarterly"}
    monthly, _, _ = source([ok("observations_UNRATE.xml")])
    with pytest.raises(IndicatorSourceError, match="monthly, not daily"):
        monthly.observations("UNRATE", None, None, frequency="daily")


def test_unsafe_series_id_is_rejected_without_a_request() -> None:
    fred, transport, _ = source([ok("observations_UNRATE.xml")])
    with pytest.raises(IndicatorSourceError, match="not a valid FRED series id"):
        fred.observations("UNRATE&units=chg", None, None)
    assert transport.urls == []


def test_an_injected_fred_client_is_used_as_is() -> None:
    class StubFred:
        def get_series_info(self, series_id: str) -> pd.Series:
            return pd.Series({"frequency_short": "D"})

        def get_series(self, series_id: str, **kwargs: object) -> pd.Series:
            return pd.Series({pd.Timestamp("2024-01-02"): 5.33})

    frame = FredSource("", fred=StubFred()).observations("DFF", None, None, vintages=False)
    assert list(frame["value"]) == [5.33]
    assert set(frame["frequency"]) == {"daily"}


def test_parse_fred_error_shapes() -> None:
    assert parse_fred_error(fixture_bytes("fred/error_429_rate_limit.xml")).startswith(
        "Too Many Requests"
    )
    assert parse_fred_error(b'{"error_code":400,"error_message":"Bad Request."}') == "Bad Request."
    assert "503 Service Temporarily Unavailable" in parse_fred_error(
        fixture_bytes("fred/error_503_gateway.html")
    )
    assert parse_fred_error(b"") == "(empty body)"
