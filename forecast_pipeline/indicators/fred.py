"""FRED (St. Louis Fed) series through ``fredapi``, in the long indicator frame.

What ``fredapi`` 0.5.x does (read from its source):

* URLs are ``https://api.stlouisfed.org/fred/<endpoint>?series_id=...`` with
  ``&api_key=...`` appended last; no ``file_type`` is sent, so FRED answers in **XML**
  (``<observations ...><observation realtime_start= realtime_end= date= value=/>``).
* Every request goes through the private ``Fred.__fetch_data`` (mangled
  ``_Fred__fetch_data``), which calls ``urllib.request.urlopen(url)`` with **no timeout**
  and, on an HTTP error, parses the XML error body and raises a bare
  ``ValueError(message)``: the status code (400 vs 429 vs 500) and ``Retry-After`` are
  lost, and a non-XML error body (a proxy's HTML 502) raises ``ParseError`` instead.
* ``"."`` (FRED's missing value) becomes ``NaN``.
* ``get_series_all_releases`` requests ``realtime_start=1776-07-04&realtime_end=9999-12-31``
  (every vintage) and cannot be limited to an observation window, so the window is applied
  here after parsing; it keeps ``realtime_start`` and drops ``realtime_end``.
* ``Fred.__init__`` reads ``FRED_API_KEY``/``HTTP_PROXY``/``HTTPS_PROXY`` from the
  environment and may install a process-wide urllib opener.

The seam: :class:`_TransportFred` subclasses ``Fred`` and overrides ``_Fred__fetch_data``
only; URL building and XML parsing stay fredapi's. The override sends the request through
a :data:`Transport` callable (``(url, timeout) -> HttpResponse``; default
:func:`urllib_transport`), keeps the status code and ``Retry-After`` as
:class:`~forecast_pipeline.indicators.retry.HttpStatusError`, and enforces
``RetryPolicy.timeout``. Tests pass a fake transport with recorded bodies; nothing is
monkeypatched, and no environment variable is read (``Fred.__init__`` is not called).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
from fredapi import Fred

from forecast_pipeline.indicators.frame import Frequency, empty_observations, observations_frame
from forecast_pipeline.indicators.retry import (
    HttpStatusError,
    IndicatorSourceError,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)

__all__ = [
    "FRED_FREQUENCIES",
    "FredSource",
    "HttpResponse",
    "Transport",
    "is_retryable_fred",
    "parse_fred_error",
    "urllib_transport",
]

_log = logging.getLogger(__name__)

DateLike = str | date | datetime | pd.Timestamp | None

FRED_FREQUENCIES: Mapping[str, Frequency] = {"D": "daily", "M": "monthly", "Q": "quarterly"}
"""FRED ``frequency_short`` codes this project models; W, BW, SA and A are not mapped."""

_SERIES_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class HttpResponse:
    """What a transport returns: status, raw body and headers (lower-case names)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


Transport = Callable[[str, float], HttpResponse]
"""``(url, timeout_seconds) -> HttpResponse``; raises only for network failures."""


def urllib_transport(url: str, timeout: float) -> HttpResponse:
    """GET ``url`` with urllib (what fredapi uses), returning error statuses instead of raising."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return HttpResponse(response.status, response.read(), headers)
    except urllib.error.HTTPError as exc:
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        return HttpResponse(exc.code, exc.read() or b"", headers)


def parse_fred_error(body: bytes) -> str:
    """The message of a FRED error body: XML ``<error message=...>``, JSON, or raw text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        pass
    else:
        if root.get("message"):
            return str(root.get("message"))
    try:
        parsed = json.loads(text)
    except ValueError:
        pass
    else:
        if isinstance(parsed, dict) and parsed.get("error_message"):
            return str(parsed["error_message"])
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text).strip()[:200] or "(empty body)"


def is_retryable_fred(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection failures are transient; anything else is not."""
    if isinstance(exc, HttpStatusError):
        return exc.retryable
    return isinstance(exc, OSError | http.client.HTTPException)


class _TransportFred(Fred):
    """``fredapi.Fred`` whose single HTTP call goes through an injectable transport."""

    def __init__(self, api_key: str, transport: Transport, timeout: float) -> None:
        # Fred.__init__ is not called on purpose: it reads the environment (API key, proxies)
        # and may install a global urllib opener. These are the attributes fredapi uses.
        self.api_key = api_key
        self.proxies = None
        self._transport = transport
        self._timeout = timeout

    def _Fred__fetch_data(self, url: str) -> ET.Element:  # overrides Fred.__fetch_data
        full_url = f"{url}&api_key={urllib.parse.quote(self.api_key, safe='')}"
        response = self._transport(full_url, self._timeout)
        if response.status >= 400:
            raise HttpStatusError(
                response.status,
                parse_fred_error(response.body),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        return ET.fromstring(response.body)


def _timestamp(value: DateLike) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value).normalize()


class FredSource:
    """Observations of FRED series as the long indicator frame.

    ``api_key`` is passed in (never read from the environment). ``transport`` replaces the
    HTTP layer (tests, proxies); ``fred`` replaces the whole client with any object offering
    fredapi's ``get_series``/``get_series_all_releases``/``get_series_info`` (a stock
    ``fredapi.Fred`` works but its HTTP errors are bare ``ValueError``s and are not retried).
    """

    def __init__(
        self,
        api_key: str,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, immutable default
        fred: Any | None = None,
        *,
        transport: Transport = urllib_transport,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        root_url: str | None = None,
    ) -> None:
        if not api_key and fred is None:
            raise ValueError("a FRED api_key is required")
        self.policy = policy
        self._fred = (
            fred if fred is not None else _TransportFred(api_key, transport, policy.timeout)
        )
        if root_url:  # e.g. a mirror or a local replay server
            self._fred.root_url = root_url.rstrip("/")
        self._sleep = sleep
        self._rng = rng

    def _call(self, series_id: str, fn: Callable[[], Any]) -> Any:
        return call_with_retries(
            fn,
            self.policy,
            is_retryable=is_retryable_fred,
            sleep=self._sleep,
            rng=self._rng,
            series_id=series_id,
        )

    def frequency(self, series_id: str, fallback: Frequency | None = None) -> Frequency:
        """The series' frequency from FRED's series info; ``fallback`` when FRED's is unmapped.

        A ``fallback`` that contradicts a mapped FRED frequency is an error (the caller's
        configuration is wrong), as is an unmapped FRED frequency without a fallback.
        """
        info = self._call(series_id, lambda: self._fred.get_series_info(series_id))
        short = str(info.get("frequency_short", "") or "").strip()
        mapped = FRED_FREQUENCIES.get(short)
        if mapped is not None:
            if fallback is not None and fallback != mapped:
                raise IndicatorSourceError(
                    series_id, f"FRED says the series is {mapped}, not {fallback}"
                )
            return mapped
        if fallback is not None:
            return fallback
        name = info.get("frequency", short) or "unknown"
        raise IndicatorSourceError(
            series_id,
            f"unsupported FRED frequency {short or '?'} ({name}); pass frequency= explicitly",
        )

    def observations(
        self,
        series_id: str,
        start: DateLike,
        end: DateLike,
        *,
        vintages: bool = True,
        frequency: Frequency | None = None,
    ) -> pd.DataFrame:
        """Observations dated ``start`` to ``end`` (both inclusive; ``None`` = open).

        With ``vintages`` every real-time period is a row whose ``published_date`` is its
        ``realtime_start`` (a revised observation appears once per vintage); without, the
        latest values with ``published_date`` NaT. ``"."`` becomes NaN. An empty window is
        an empty frame, not an error. Failures raise ``IndicatorSourceError``.
        """
        if not _SERIES_ID.match(series_id):
            raise IndicatorSourceError(series_id, "not a valid FRED series id")
        lo, hi = _timestamp(start), _timestamp(end)
        freq = self.frequency(series_id, frequency)
        if vintages:
            releases = self._call(series_id, lambda: self._fred.get_series_all_releases(series_id))
            if releases is None or len(releases) == 0:
                return empty_observations(series_id, source="fred", frequency=freq)
            dates = pd.to_datetime(releases["date"])
            keep = pd.Series(True, index=releases.index)
            if lo is not None:
                keep &= dates >= lo
            if hi is not None:
                keep &= dates <= hi
            rows = releases[keep]
            return observations_frame(
                series_id,
                list(rows["date"]),
                list(rows["value"]),
                list(rows["realtime_start"]),
                source="fred",
                frequency=freq,
            )
        series = self._call(
            series_id,
            lambda: self._fred.get_series(series_id, observation_start=lo, observation_end=hi),
        )
        if series is None or len(series) == 0:
            return empty_observations(series_id, source="fred", frequency=freq)
        return observations_frame(
            series_id, list(series.index), list(series.values), None, source="fred", frequency=freq
        )
