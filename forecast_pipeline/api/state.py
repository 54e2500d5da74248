"""What the running API holds: the pool, the run it serves, the caches and the rate limiter,
and the dependencies the routes use (a connection, the caller's key, a cached response)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from starlette.responses import Response

from forecast_pipeline.api.cache import ResponseCache, cached_response, request_key
from forecast_pipeline.api.keys import ApiKey, lookup_key
from forecast_pipeline.api.models import Problem, ValidationProblem
from forecast_pipeline.api.ratelimit import RateLimiter
from forecast_pipeline.api.runs import PublishedRun, RunTracker
from forecast_pipeline.api.settings import ApiSettings

# What a route computes on a cache miss: the body and the run its rows came from.
Builder = Callable[[AsyncConnection, PublishedRun], Awaitable[tuple[BaseModel, str]]]


@dataclass
class ApiState:
    settings: ApiSettings
    pool: AsyncConnectionPool
    runs: RunTracker
    limiter: RateLimiter
    cache: ResponseCache = field(default_factory=ResponseCache)
    _keys: dict[str, tuple[float, ApiKey | None]] = field(default_factory=dict)
    _lookups: dict[str, asyncio.Future[ApiKey | None]] = field(default_factory=dict)

    def cached_key(self, raw: str) -> tuple[bool, ApiKey | None]:
        """Whether the record of a key is cached (looked up less than ``key_cache_seconds``
        ago), and the record (``None`` for an unknown key). Past 80% of that age the key is
        looked up again in the background, once: under steady traffic the record is renewed
        before it expires, and no request waits for the database."""
        hit = self._keys.get(raw)
        if hit is None:
            return False, None
        age = time.monotonic() - hit[0]
        if age >= self.settings.key_cache_seconds:
            return False, None
        if age >= 0.8 * self.settings.key_cache_seconds:
            self._start_lookup(raw)
        return True, hit[1]

    async def key(self, raw: str) -> ApiKey | None:
        """The record of a presented key, reused for ``key_cache_seconds``; requests arriving
        while it is looked up wait for that one lookup (no stampede on the pool)."""
        cached, record = self.cached_key(raw)
        if cached:
            return record
        return await asyncio.shield(self._start_lookup(raw))  # a cancelled request leaves it

    def _start_lookup(self, raw: str) -> asyncio.Future[ApiKey | None]:
        lookup = self._lookups.get(raw)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(raw))
            self._lookups[raw] = lookup
            lookup.add_done_callback(lambda done: self._forget(raw, done))
        return lookup

    def _forget(self, raw: str, lookup: asyncio.Future[ApiKey | None]) -> None:
        self._lookups.pop(raw, None)
        if not lookup.cancelled():
            lookup.exception()  # a failed refresh nobody awaited is not logged as unretrieved

    async def _lookup(self, raw: str) -> ApiKey | None:
        now = time.monotonic()
        async with self.pool.connection() as conn:
            record = await lookup_key(conn, raw)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[raw] = (now, record)
        return record

    async def serve(self, request: Request, build: Builder) -> Response:
        """The response for ``request`` from the run being served, computed once per run."""
        run = self.runs.current
        if run is None:
            raise HTTPException(status_code=404, detail="no forecast has been published yet")
        key = request_key(request)
        entry = self.cache.get(run.run_id, key)
        if entry is None:
            async with self.pool.connection() as conn:
                body, seen = await build(conn, run)
                if seen != run.run_id:  # published meanwhile: follow it (the rows are new)
                    await self.runs.refresh(conn)
            body_bytes = body.model_dump_json().encode()
            max_age = self.settings.cache_max_age_seconds
            entry = self.cache.put(seen, key, body_bytes, max_age, request.scope.get("route"))
        return cached_response(request, entry)


async def api_state(request: Request) -> ApiState:  # async: no thread hop
    return request.app.state.api


State = Annotated[ApiState, Depends(api_state)]

# What the routes behind a key may answer besides 200 (for their OpenAPI operations).
KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing, unknown or revoked API key."},
    422: {"model": ValidationProblem, "description": "Invalid parameters."},
    429: {"model": Problem, "description": "Over the key's rate limit (see Retry-After)."},
}


async def connection(state: State) -> AsyncIterator[AsyncConnection]:
    async with state.pool.connection() as conn:
        yield conn


Connection = Annotated[AsyncConnection, Depends(connection)]


async def require_key(request: Request, state: State) -> ApiKey | None:
    """The caller's API key (``X-API-Key`` or ``Authorization: Bearer``), within its rate
    limit; 401 without a valid key, 429 with ``Retry-After`` over the limit."""
    if not state.settings.require_api_key:
        return None
    raw = request.headers.get("x-api-key")
    if raw is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        raw = token.strip() if scheme.lower() == "bearer" else None
    challenge = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
    if not raw:
        raise HTTPException(401, "missing API key: send it in the X-API-Key header", challenge)
    key = await state.key(raw)
    if key is None:
        raise HTTPException(401, "invalid API key", challenge)
    if not key.active:
        raise HTTPException(401, f"API key {key.key_id} was revoked", challenge)
    limit = key.rate_limit_per_minute or state.settings.rate_limit_per_minute
    decision = await state.limiter.hit(key.key_id, limit)
    if not decision.allowed:
        raise HTTPException(
            429,
            f"rate limit of {limit} requests per minute exceeded for key {key.key_id}",
            {"Retry-After": str(decision.retry_after), "X-RateLimit-Limit": str(limit)},
        )
    request.state.key_id = key.key_id
    return key
