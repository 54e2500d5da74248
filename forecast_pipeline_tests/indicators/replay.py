"""Test doubles that answer HTTP requests from recorded bodies (no network)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from requests.structures import CaseInsensitiveDict

from forecast_pipeline.indicators.fred import HttpResponse

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """Raw bytes of ``fixtures/<name>``."""
    return (FIXTURES / name).read_bytes()


@dataclass
class Canned:
    """One scripted answer: status, body and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class FakeFredTransport:
    """A :data:`~forecast_pipeline.indicators.fred.Transport` answering from a script.

    Requests to ``/fred/series?`` (series info) get ``info``; every other request takes the
    next answer of ``script`` (the last one repeats). ``urls``/``timeouts`` record the calls.
    """

    def __init__(self, script: list[Canned], info: Canned | None = None) -> None:
        self.script = list(script)
        self.info = info
        self.urls: list[str] = []
        self.timeouts: list[float] = []

    def __call__(self, url: str, timeout: float) -> HttpResponse:
        self.urls.append(url)
        self.timeouts.append(timeout)
        if "/fred/series?" in url and self.info is not None:
            answer = self.info
        else:
            answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        headers = {k.lower(): v for k, v in answer.headers.items()}
        return HttpResponse(answer.status, answer.body, headers)

    @property
    def observation_urls(self) -> list[str]:
        return [u for u in self.urls if "/series/observations?" in u]


def _response(status: int, body: bytes, url: str, headers: Mapping[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.url = url
    response.encoding = "utf-8"
    response.headers = CaseInsensitiveDict(headers)
    return response


class ReplaySession(requests.Session):
    """A ``requests.Session`` (so yfinance accepts it) that never opens a socket.

    Chart requests with ``period1`` (the price history) take the next answer of ``history``
    (the last one repeats); other chart requests (yfinance's timezone lookup) get ``tz``;
    cookie and crumb requests succeed; anything else is a 404. ``calls`` records
    ``(method, url, params)``.
    """

    def __init__(self, history: list[Canned], tz: Canned | None = None) -> None:
        super().__init__()
        self.history = list(history)
        self.tz = tz if tz is not None else self.history[-1]
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(  # type: ignore[override]
        self, method: str, url: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        params = dict(params or {})
        self.calls.append((method.upper(), url, params))
        full_url = f"{url}?{urlencode(params)}" if params else url
        if "fc.yahoo.com" in url:
            return _response(200, b"", full_url, {})
        if "/v1/test/getcrumb" in url:
            return _response(200, b"test-crumb", full_url, {"content-type": "text/plain"})
        if "/v8/finance/chart/" in url:
            if "period1" in params:
                answer = self.history.pop(0) if len(self.history) > 1 else self.history[0]
            else:
                answer = self.tz
            return _response(answer.status, answer.body, full_url, answer.headers)
        return _response(404, b"Not Found", full_url, {})

    @property
    def history_calls(self) -> list[dict[str, Any]]:
        """Parameters of the price-history requests, in order."""
        return [p for _, u, p in self.calls if "/v8/finance/chart/" in u and "period1" in p]
