"""Responses kept in memory per published run, with their ETags.

A cached body belongs to exactly one run (the run its rows came from), so a response never
mixes runs; entries of older runs are dropped as soon as a newer run's response is stored.
The ETag is derived from the run and the request, so clients revalidate with
``If-None-Match`` and get ``304 Not Modified`` until the next publication.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope


@dataclass(frozen=True)
class CachedResponse:
    run_id: str
    body: bytes
    etag: str
    max_age: int = 60
    route: object = None  # the route that built it (scope["route"]: the metrics' label)
    # the response headers, encoded once (content-type and content-length first)
    raw_headers: list[tuple[bytes, bytes]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in _headers(self).items()),
        ]
        object.__setattr__(self, "raw_headers", headers)


def scope_key(scope: Scope) -> str:
    """The path and the query parameters, encoded and sorted by name (repeated names keep
    their order: the last one is the one used): equal requests share one entry."""
    return _normalised(scope["path"], scope["query_string"])


@functools.lru_cache(maxsize=4096)  # the same requests arrive again and again
def _normalised(path: str, query_string: bytes) -> str:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return f"{quote(path)}?{urlencode(sorted(pairs, key=lambda pair: pair[0]))}"


def request_key(request: Request) -> str:
    return scope_key(request.scope)


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

    def put(
        self, run_id: str, key: str, body: bytes, max_age: int = 60, route: object = None
    ) -> CachedResponse:
        if run_id != self._run_id:  # a newer run: the older entries will never be served
            self._entries.clear()
            self._run_id = run_id
        entry = CachedResponse(run_id, body, etag_for(run_id, key), max_age, route)
        self._entries[(run_id, key)] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def _headers(entry: CachedResponse) -> dict[str, str]:
    return {
        "ETag": entry.etag,
        # private: the responses are behind a key, shared caches must not hand them out
        "Cache-Control": f"private, max-age={entry.max_age}",
        "X-Forecast-Run": entry.run_id,
    }


def cached_response(request: Request, entry: CachedResponse) -> Response:
    """``304`` when the client holds this representation, else the JSON body."""
    headers = _headers(entry)
    if not_modified(entry, request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


def not_modified(entry: CachedResponse, if_none_match: str | None) -> bool:
    return bool(if_none_match) and entry.etag in _etags(if_none_match)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
