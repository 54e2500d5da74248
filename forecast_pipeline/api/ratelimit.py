"""Per-key rate limits: a fixed one-minute window per key.

With a Redis URL the counters live in Redis, shared by every API replica (``INCR`` and
``EXPIRE`` in one transaction); without one they live in the process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets (0 when allowed)


def _decide(count: int, limit: int, now: float) -> Decision:
    reset = WINDOW_SECONDS - (now % WINDOW_SECONDS)
    allowed = count <= limit
    return Decision(allowed, limit, max(limit - count, 0), 0 if allowed else math.ceil(reset))


class RateLimiter(Protocol):
    async def hit(self, key_id: str, limit: int) -> Decision: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Counters in this process (one API replica)."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}

    async def hit(self, key_id: str, limit: int) -> Decision:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        if len(self._counts) > 10_000:  # forget finished windows
            self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
        count = self._counts.get((key_id, window), 0) + 1
        self._counts[(key_id, window)] = count
        return _decide(count, limit, now)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Counters in Redis, shared by every replica using the same Redis."""

    def __init__(self, url: str, prefix: str = "forecast_api:ratelimit", clock: Any = time.time):
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix
        self._clock = clock

    async def hit(self, key_id: str, limit: int) -> Decision:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        name = f"{self._prefix}:{key_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(name).expire(name, WINDOW_SECONDS * 2).execute()
        return _decide(int(count), limit, now)

    async def close(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
