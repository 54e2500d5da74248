"""Backoff, jitter, Retry-After and error classification of ``call_with_retries``."""

from __future__ import annotations

import random
import urllib.error
from collections.abc import Callable

import pytest

from forecast_pipeline.indicators.fred import is_retryable_fred
from forecast_pipeline.indicators.retry import (
    HttpStatusError,
    IndicatorSourceError,
    RetryPolicy,
    backoff_delay,
    call_with_retries,
    parse_retry_after,
)


def script(*outcomes: object) -> tuple[Callable[[], object], list[int]]:
    """A function failing with the given exceptions, in order, then returning the last value."""
    calls: list[int] = []

    def fn() -> object:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return fn, calls


NO_JITTER = RetryPolicy(jitter=0.0)


def run(fn: Callable[[], object], policy: RetryPolicy = NO_JITTER, **kw: object):
    sleeps: list[float] = []
    result = call_with_retries(
        fn, policy, is_retryable=is_retryable_fred, sleep=sleeps.append, series_id="UNRATE", **kw
    )
    return result, sleeps


def test_success_first_time_does_not_sleep() -> None:
    fn, calls = script("ok")
    assert run(fn) == ("ok", [])
    assert len(calls) == 1


def test_exponential_backoff_without_jitter() -> None:
    fn, calls = script(HttpStatusError(503, "x"), HttpStatusError(500, "x"), OSError("x"), "ok")
    result, sleeps = run(fn)
    assert result == "ok"
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(calls) == 4


def test_backoff_is_capped_at_max_delay() -> None:
    policy = RetryPolicy(attempts=5, base_delay=4.0, max_delay=8.0, jitter=0.0)
    fn, _ = script(*[HttpStatusError(500, "x")] * 4, "ok")
    assert run(fn, policy)[1] == [4.0, 8.0, 8.0, 8.0]


def test_jitter_adds_up_to_the_fraction_and_is_reproducible_with_a_seed() -> None:
    policy = RetryPolicy(jitter=0.25)
    fn, _ = script(HttpStatusError(500, "x"), HttpStatusError(500, "x"), "ok")
    _, sleeps = run(fn, policy, rng=random.Random(0))
    rng = random.Random(0)
    assert sleeps == [backoff_delay(policy, 1, rng), backoff_delay(policy, 2, rng)]
    assert 0.5 <= sleeps[0] <= 0.625
    assert 1.0 <= sleeps[1] <= 1.25


def test_retry_after_replaces_the_backoff() -> None:
    fn, calls = script(HttpStatusError(429, "Too Many Requests", retry_after=7.0), "ok")
    assert run(fn) == ("ok", [7.0])
    assert len(calls) == 2


def test_retry_after_longer_than_allowed_fails_at_once() -> None:
    fn, calls = script(HttpStatusError(429, "slow down", retry_after=3600.0), "ok")
    with pytest.raises(IndicatorSourceError, match="retry after 3600 s") as info:
        run(fn)
    assert len(calls) == 1
    assert info.value.attempts == 1


def test_client_error_is_not_retried_and_names_the_series() -> None:
    cause = HttpStatusError(400, "Bad Request.  The series does not exist.")
    fn, calls = script(cause, "never")
    sleeps: list[float] = []
    with pytest.raises(IndicatorSourceError) as info:
        call_with_retries(
            fn, RetryPolicy(), is_retryable=is_retryable_fred, sleep=sleeps.append, series_id="XX"
        )
    assert len(calls) == 1
    assert sleeps == []
    assert info.value.series_id == "XX"
    assert "The series does not exist" in info.value.reason
    assert str(info.value).startswith("XX: ")
    assert info.value.__cause__ is cause


def test_gives_up_after_the_last_attempt_with_the_cause_chained() -> None:
    errors = [HttpStatusError(502, f"bad gateway {i}") for i in range(4)]
    fn, calls = script(*errors)
    with pytest.raises(IndicatorSourceError, match="gave up after 4 attempts") as info:
        run(fn)
    assert len(calls) == 4
    assert info.value.attempts == 4
    assert info.value.__cause__ is errors[-1]


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("timed out"),
        ConnectionResetError("reset"),
        urllib.error.URLError("connection refused"),
        HttpStatusError(429, "rate"),
        HttpStatusError(500, "oops"),
    ],
)
def test_transient_errors_are_retried(error: BaseException) -> None:
    fn, calls = script(error, "ok")
    assert run(fn)[0] == "ok"
    assert len(calls) == 2


@pytest.mark.parametrize("error", [HttpStatusError(404, "nf"), ValueError("parse"), KeyError("k")])
def test_other_errors_are_not_retried(error: BaseException) -> None:
    fn, calls = script(error, "ok")
    with pytest.raises(IndicatorSourceError):
        run(fn)
    assert len(calls) == 1


def test_indicator_source_error_passes_through_unchanged() -> None:
    original = IndicatorSourceError("ABC", "already explained")
    fn, _ = script(original)
    with pytest.raises(IndicatorSourceError) as info:
        run(fn)
    assert info.value is original


def test_before_retry_runs_between_attempts() -> None:
    hook: list[int] = []
    fn, _ = script(HttpStatusError(500, "x"), HttpStatusError(500, "x"), "ok")
    run(fn, before_retry=lambda: hook.append(1))
    assert hook == [1, 1]


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0


def test_policy_defaults_and_validation() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.base_delay, policy.max_delay) == (4, 0.5, 8.0)
    with pytest.raises(AttributeError):
        policy.attempts = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2.0)
