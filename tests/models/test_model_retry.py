"""Retrying a model stream: only before output, with backoff or the server's Retry-After."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import pytest

from errand.models import (
    Completed,
    Message,
    ModelAuthError,
    ModelProtocolError,
    ModelRateLimited,
    ModelUnavailable,
    RetryPolicy,
    StreamEvent,
    TextDelta,
)
from errand.models.errors import ModelError
from errand.models.retry import retry_after_seconds, stream_with_retries

FAST = RetryPolicy(attempts=3, backoff_base=0.001, max_delay=0.01)
DONE = Completed(Message("assistant", ()), "end_turn")


Attempt = Callable[[], AsyncGenerator[StreamEvent, None]]


def attempts_failing_with(
    *failures: ModelError | None, text: str = ""
) -> tuple[list[int], Attempt]:
    """An `open_attempt` whose n-th call fails with failures[n] (None: succeed)."""
    calls: list[int] = []

    async def open_attempt() -> AsyncGenerator[StreamEvent, None]:
        calls.append(1)
        failure = failures[len(calls) - 1]
        if text:
            yield TextDelta(text)
        if failure is not None:
            raise failure
        yield DONE

    return calls, open_attempt


def unavailable() -> ModelUnavailable:
    return ModelUnavailable("X failed with a server error (HTTP 500).", provider="X")


async def test_retryable_failures_before_output_are_retried() -> None:
    calls, open_attempt = attempts_failing_with(unavailable(), unavailable(), None)

    events = [e async for e in stream_with_retries(open_attempt, FAST)]

    assert events == [DONE]
    assert len(calls) == 3


async def test_exhausted_retries_raise_the_last_error_saying_so() -> None:
    limited = ModelRateLimited("X is rate limiting requests (HTTP 429).", provider="X")
    calls, open_attempt = attempts_failing_with(limited, limited, limited)

    with pytest.raises(ModelRateLimited) as caught:
        _ = [e async for e in stream_with_retries(open_attempt, FAST)]

    assert str(caught.value) == "X is rate limiting requests (HTTP 429); gave up after 3 attempts."
    assert len(calls) == 3


async def test_non_retryable_failures_are_raised_at_once() -> None:
    denied = ModelAuthError("X rejected the API key; check KEY.", provider="X")
    calls, open_attempt = attempts_failing_with(denied, None)

    with pytest.raises(ModelAuthError):
        _ = [e async for e in stream_with_retries(open_attempt, FAST)]

    assert len(calls) == 1


async def test_failure_after_output_is_a_protocol_error_and_not_retried() -> None:
    calls, open_attempt = attempts_failing_with(unavailable(), None, text="partial")
    seen: list[StreamEvent] = []

    with pytest.raises(ModelProtocolError, match="broke after output had begun"):
        async for event in stream_with_retries(open_attempt, FAST):
            seen.append(event)

    assert seen == [TextDelta("partial")]
    assert len(calls) == 1


def test_delay_prefers_retry_after_but_caps_it() -> None:
    policy = RetryPolicy(backoff_base=1.0, max_delay=5.0)

    assert policy.delay_before_retry(1, retry_after=2.0) == 2.0
    assert policy.delay_before_retry(1, retry_after=60.0) == 5.0
    assert 1.0 <= policy.delay_before_retry(1, None) <= 1.25
    assert 2.0 <= policy.delay_before_retry(2, None) <= 2.5
    assert policy.delay_before_retry(10, None) == 5.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_parsing(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds
