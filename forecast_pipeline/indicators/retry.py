"""Retries with exponential backoff and jitter for the indicator clients (no Dagster, no I/O).

The policy is data (:class:`RetryPolicy`); the loop (:func:`call_with_retries`) takes the
clock (``sleep``) and the randomness (``rng``) as arguments so tests record the delays
instead of sleeping. Whether an error is worth retrying is the caller's decision
(``is_retryable``), because each source reports HTTP failures differently.

A delay the server asks for (``Retry-After`` on an HTTP 429) is honoured: any exception
with a numeric ``retry_after`` attribute (seconds) replaces the computed backoff for that
wait, unless it exceeds ``RetryPolicy.max_retry_after``, in which case the call fails at once
rather than blocking a worker for minutes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "HttpStatusError",
    "IndicatorSourceError",
    "RetryPolicy",
    "backoff_delay",
    "call_with_retries",
    "describe_error",
    "parse_retry_after",
]

T = TypeVar("T")

_log = logging.getLogger(__name__)


class IndicatorSourceError(RuntimeError):
    """A series could not be fetched: ``series_id`` names it, ``reason`` says why.

    ``attempts`` is how many calls were made before giving up (1 for errors that are
    not retried, such as an unknown series id).
    """

    def __init__(self, series_id: str, reason: str, *, attempts: int = 1) -> None:
        super().__init__(f"{series_id}: {reason}")
        self.series_id = series_id
        self.reason = reason
        self.attempts = attempts


class HttpStatusError(Exception):
    """An HTTP response with status >= 400, as a transport reports it.

    ``message`` is the server's explanation (for FRED the ``message`` attribute of its
    ``<error>`` body); ``retry_after`` is the ``Retry-After`` header in seconds, if any.
    """

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """429 (rate limited) and 5xx are transient; other 4xx are the caller's mistake."""
        return self.status == 429 or self.status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header value; ``None`` if absent or an HTTP date."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request.

    attempts: total calls, including the first (1 disables retries).
    base_delay: seconds before the first retry; doubles on each further retry.
    max_delay: cap of the exponential backoff, in seconds.
    jitter: fraction of the delay drawn at random and added to it (0.25 = up to +25 %),
        so that many workers retrying together spread out.
    timeout: seconds a single HTTP request may take before it counts as failed.
    max_retry_after: the longest server-requested wait (``Retry-After``) to honour.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    timeout: float = 30.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.timeout <= 0:
            raise ValueError("delays must be >= 0 and timeout > 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Delay before retry number ``retry_number`` (1 = the first retry), with jitter."""
    delay = min(policy.max_delay, policy.base_delay * 2 ** (retry_number - 1))
    return delay + delay * policy.jitter * rng.random()


def describe_error(exc: BaseException) -> str:
    """``"TypeName: message"`` for an exception (the default failure reason)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    is_retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    series_id: str = "<unknown series>",
    before_retry: Callable[[], None] | None = None,
    describe: Callable[[BaseException], str] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying errors ``is_retryable`` accepts.

    Non-retryable errors fail at once; retryable ones are retried up to
    ``policy.attempts`` calls in total, waiting :func:`backoff_delay` (or the error's
    ``retry_after``) in between. Every failure surfaces as :class:`IndicatorSourceError`
    naming ``series_id``, with the last error chained as ``__cause__``; an
    ``IndicatorSourceError`` raised by ``fn`` passes through unchanged.

    ``rng`` defaults to a fresh, system-seeded ``random.Random`` (pass ``random.Random(0)``
    for reproducible jitter). ``before_retry`` runs before each retry (e.g. to drop a
    library's response cache so the retry really goes to the network).
    """
    rng = rng if rng is not None else random.Random()
    _reason = describe if describe is not None else describe_error
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except IndicatorSourceError:
            raise
        except Exception as exc:
            if not is_retryable(exc):
                raise IndicatorSourceError(series_id, _reason(exc), attempts=attempt) from exc
            if attempt == policy.attempts:
                raise IndicatorSourceError(
                    series_id,
                    f"gave up after {attempt} attempts: {_reason(exc)}",
                    attempts=attempt,
                ) from exc
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(retry_after, int | float):
                if retry_after > policy.max_retry_after:
                    raise IndicatorSourceError(
                        series_id,
                        f"server asked to retry after {retry_after:g} s "
                        f"(more than {policy.max_retry_after:g} s): {_reason(exc)}",
                        attempts=attempt,
                    ) from exc
                delay = float(retry_after)
            else:
                delay = backoff_delay(policy, attempt, rng)
            _log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                series_id,
                attempt,
                policy.attempts,
                _reason(exc),
                delay,
            )
            sleep(delay)
            if before_retry is not None:
                before_retry()
    raise AssertionError("unreachable")  # pragma: no cover
