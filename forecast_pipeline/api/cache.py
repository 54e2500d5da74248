"""Responses kept in memory per published run, with their ETags.

A cached body belongs to exactly one run (the run its rows came from), so a response never
mixes runs; entries of older runs are dropped as soon as a newer run's response is stored.
The ETag is derived from the run and the request, so clients revalidate with
``If-None-Match`` and get ``304 Not Modified`` until the next publication.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class CachedResponse:
    run_id: str
    body: bytes
    etag: str


def request_key(request: Request) -> str:
    """The path and the sorted, encoded query parameters: equal requests share one entry."""
    query = urlencode(sorted(request.query_params.multi_items()))
    return f"{quote(request.url.path)}?{query}"


def etag_for(run_id: str, key: str) -> str:
    return '"' + hashlib.sha256(f"{run_id}|{key}".encode()).hexdigest()[:24] + '"'


class ResponseCache:
    """At most ``max_entries`` bodies, least recently used dropped first."""

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], CachedResponse] = OrderedDict()
        self._run_id: str | None = None

    def get(self, run_id: str, key: str) -> CachedResponse | None:
        entry = self._entries.get((run_id, key))
        if entry is not None:
            self._entries.move_to_end((run_id, key))
        return entry

    def put(self, run_id: str, key: str, body: bytes) -> CachedResponse:
        if run_id != self._run_id:  # a newer run: the older entries will never be served
            self._entries.clear()
            self._run_id = run_id
        entry = CachedResponse(run_id, body, etag_for(run_id, key))
        self._entries[(run_id, key)] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def cached_response(request: Request, entry: CachedResponse, max_age: int) -> Response:
    """``304`` when the client holds this representation, else the JSON body."""
    headers = {
        "ETag": entry.etag,
        # private: the responses are behind a key, shared caches must not hand them out
        "Cache-Control": f"private, max-age={max_age}",
        "X-Forecast-Run": entry.run_id,
    }
    if entry.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
