"""Cached forecast responses served before routing (plain ASGI, the hot path under load).

Between publications nearly every forecast request is answered from
:class:`~forecast_pipeline.api.cache.ResponseCache`. FastAPI's routing, dependency injection
and parameter validation would cost several times what sending the bytes does, so this
middleware answers a ``GET`` from the cache when everything is already known: the run being
served, a cached response for exactly this path and these parameters (only requests that went
through FastAPI once, valid and answered 200, are cached), and a presented key whose record is
cached, active and within its rate limit. Anything else (no key, an unknown or expired key
record, a cache miss, another method) goes to FastAPI unchanged, which authenticates,
validates and fills the caches as before.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from forecast_pipeline.api.cache import not_modified, scope_key

PREFIX = "/api/v1/forecast/"


class CachedResponseMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        state = getattr(scope["app"].state, "api", None)
        run = state.runs.current if state is not None else None
        entry = state.cache.get(run.run_id, scope_key(scope)) if run is not None else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        if state.settings.require_api_key:
            raw = _header(scope, b"x-api-key")  # as require_key reads it
            if raw is None:
                scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
                raw = token.strip() if scheme.lower() == "bearer" else None
            _, key = state.cached_key(raw) if raw else (False, None)
            if key is None or not key.active:  # FastAPI looks it up, or answers 401
                await self.app(scope, receive, send)
                return
            limit = key.rate_limit_per_minute or state.settings.rate_limit_per_minute
            if not (await state.limiter.hit(key.key_id, limit)).allowed:
                await self.app(scope, receive, send)  # FastAPI answers 429 (counted again)
                return
            scope.setdefault("state", {})["key_id"] = key.key_id
        scope["route"] = entry.route  # the metrics count it under its route
        if not_modified(entry, _header(scope, b"if-none-match")):
            headers = entry.raw_headers[2:]  # no content-type, no content-length
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.raw_headers})
        await send({"type": "http.response.body", "body": entry.body})


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), as Starlette's ``headers.get``."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
