"""Yahoo Finance daily closes through ``yfinance``, in the long indicator frame.

What ``yfinance`` 1.x does (read from its source):

* ``Ticker(symbol, session=...).history(start=, end=, ...)`` first looks up the exchange
  timezone (``GET /v8/finance/chart/{symbol}?range=1d&interval=1d``, cached in a SQLite file
  under the user cache folder and in an in-process LRU), then fetches the bars with
  ``GET /v8/finance/chart/{symbol}?period1=&period2=&interval=1d&includePrePost=False&
  events=div,splits,capitalGains`` (JSON; ``end`` is exclusive). Before that it obtains a
  cookie and crumb (``fc.yahoo.com``, ``/v1/test/getcrumb``).
* The session must be a ``curl_cffi`` or ``requests`` ``Session`` (checked with
  ``isinstance``); without one, yfinance creates a ``curl_cffi`` session impersonating
  Chrome. That is the replay seam: tests pass a ``requests.Session`` subclass answering
  from recorded bodies, so nothing touches the network.
* By default errors are logged and an empty frame returned; ``raise_errors=True`` (still
  supported, deprecated in favour of the global ``yf.config.debug.hide_exceptions``) makes
  them raise, which is used here per call so no global configuration is changed.
* HTTP 429 becomes ``YFRateLimitError`` (the ``Retry-After`` header is not kept); other
  error statuses are retried once by yfinance with another cookie strategy, then the body
  is parsed: Yahoo's ``{"chart": {"error": {"description": "No data found, ..."}}}`` becomes
  ``YFPricesMissingError`` (or ``YFTzMissingError`` when the timezone lookup already failed,
  as for an unknown symbol); a non-JSON body (a 5xx page) raises a JSON decoding error.
* Date ranges in the past are fetched through an in-process LRU of responses, so a 5xx
  answer would be replayed on retry: the cache is cleared before each retry.

Choices:

* ``value`` is Yahoo's ``Close`` with ``auto_adjust=False``: split-adjusted by Yahoo itself
  (a 4:1 split does not show as a jump) but not dividend-adjusted. Dividend adjustment
  (``auto_adjust=True``, Yahoo's ``adjclose``) rewrites every past value whenever a new
  dividend is paid, so it is not point-in-time; for an index (^GSPC) both are the same, for
  an ETF such as XRT the unadjusted close drops by the dividend on ex-dates. Pass
  ``auto_adjust=True`` for a total-return view.
* Bars with a null close are dropped (yfinance already drops all-null bars): a null bar is
  not a trading-day observation, and a NaN row would invent a trading day.
* ``end`` is inclusive here (one day is added for yfinance), like FRED's window.
* ``published_date`` is the trading day itself (the close is known that evening).
"""

from __future__ import annotations

import json
import logging
import random
import time
import warnings
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd
import yfinance
from yfinance.data import YfData
from yfinance.exceptions import (
    YFDataException,
    YFPricesMissingError,
    YFRateLimitError,
    YFTickerMissingError,
    YFTzMissingError,
)

from forecast_pipeline.indicators.frame import observations_frame
from forecast_pipeline.indicators.retry import (
    IndicatorSourceError,
    RetryPolicy,
    call_with_retries,
)

__all__ = ["YahooSource", "is_retryable_yahoo", "yahoo_reason"]

_log = logging.getLogger(__name__)

DateLike = str | date | datetime | pd.Timestamp


def _http_status(exc: BaseException) -> int | None:
    """The status of a ``requests``/``curl_cffi`` ``HTTPError`` (``raise_for_status``)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable_yahoo(exc: BaseException) -> bool:
    """Rate limits, 5xx, Yahoo-down pages, non-JSON bodies and network errors are transient.

    A missing-data answer (unknown symbol, no bars in the window) and other 4xx are final.
    """
    if isinstance(exc, YFRateLimitError):
        return True
    if isinstance(exc, YFTickerMissingError):
        return False
    status = _http_status(exc)
    if status is not None:
        return status == 429 or status >= 500
    if isinstance(exc, YFDataException | json.JSONDecodeError):
        return True
    name = type(exc).__name__
    if name in {"Timeout", "ConnectTimeout", "ReadTimeout", "ConnectionError", "JSONDecodeError"}:
        return True
    return isinstance(exc, OSError)


def yahoo_reason(exc: BaseException) -> str:
    """A short reason for a yfinance failure, preferring Yahoo's own explanation."""
    if isinstance(exc, YFPricesMissingError) and exc.yahoo_reason:
        return f"no data: {exc.yahoo_reason}"
    if isinstance(exc, YFTzMissingError):
        return "no data found (unknown or delisted symbol: Yahoo has no timezone for it)"
    if isinstance(exc, YFTickerMissingError):
        return f"no data: {exc.rationale}"
    if _http_status(exc) == 404:
        # yfinance falls back to quoteSummary when the timezone lookup failed (an unknown
        # symbol); Yahoo answers that with 404.
        return "no data found (unknown or delisted symbol: HTTP 404 from Yahoo)"
    return f"{type(exc).__name__}: {exc}"


class YahooSource:
    """Daily closes of Yahoo Finance symbols as the long indicator frame.

    ``session`` is handed to ``yfinance.Ticker`` (a ``requests``/``curl_cffi`` session; tests
    pass a replaying one). ``ticker_factory`` replaces ``yfinance.Ticker`` altogether.
    """

    def __init__(
        self,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, immutable default
        *,
        session: Any | None = None,
        auto_adjust: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        ticker_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.policy = policy
        self.auto_adjust = auto_adjust
        self._session = session
        self._sleep = sleep
        self._rng = rng
        self._ticker_factory = ticker_factory or yfinance.Ticker

    def _history(self, symbol: str, start: pd.Timestamp, end_exclusive: pd.Timestamp) -> Any:
        ticker = self._ticker_factory(symbol, session=self._session)
        with warnings.catch_warnings():
            # raise_errors is deprecated in favour of a process-wide switch; keep it local.
            warnings.simplefilter("ignore", DeprecationWarning)
            return ticker.history(
                start=start.strftime("%Y-%m-%d"),
                end=end_exclusive.strftime("%Y-%m-%d"),
                interval="1d",
                auto_adjust=self.auto_adjust,
                actions=True,
                keepna=False,
                timeout=self.policy.timeout,
                raise_errors=True,
            )

    def observations(self, symbol: str, start: DateLike, end: DateLike) -> pd.DataFrame:
        """Trading days ``start`` to ``end`` (inclusive) with the close as ``value``.

        Raises ``IndicatorSourceError`` for an unknown symbol, Yahoo's "No data found", a
        window without any priced bar, or after the retries are used up.
        """
        lo = pd.Timestamp(start).normalize()
        hi = pd.Timestamp(end).normalize()
        if hi < lo:
            raise ValueError(f"end {hi.date()} is before start {lo.date()}")
        history = call_with_retries(
            lambda: self._history(symbol, lo, hi + pd.Timedelta(days=1)),
            self.policy,
            is_retryable=is_retryable_yahoo,
            sleep=self._sleep,
            rng=self._rng,
            series_id=symbol,
            before_retry=YfData.cache_get.cache_clear,
            describe=yahoo_reason,
        )
        if history is None or history.empty or "Close" not in history.columns:
            raise IndicatorSourceError(
                symbol, f"no data: Yahoo returned no bars from {lo.date()} to {hi.date()}"
            )
        closes = history["Close"].dropna()
        if closes.empty:
            raise IndicatorSourceError(
                symbol, f"no data: every bar from {lo.date()} to {hi.date()} has a null close"
            )
        index = pd.DatetimeIndex(closes.index)
        if index.tz is not None:
            index = index.tz_localize(None)
        days = index.normalize()
        return observations_frame(
            symbol, list(days), list(closes.values), list(days), source="yahoo", frequency="daily"
        )
