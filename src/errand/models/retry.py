"""Retrying a model stream, but only while nothing has reached the caller.

The SDKs' own retries are switched off (``max_retries=0``) and this one loop is used for
every dialect, so that backoff is configurable (tests run with a tiny base), Retry-After is
honoured up to a cap, a connection dropped before the response starts is retried too, and a
stream that breaks after output was delivered is never silently replayed: re-sending would
duplicate text the user has already seen, so it becomes a `ModelProtocolError` instead.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass

from errand.models.errors import ModelError, ModelProtocolError
from errand.models.types import StreamEvent


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one model call.

    `attempts` counts the first try. The delay before retry *n* (1-based) is
    ``backoff_base * 2**(n-1)`` with up to 25 % jitter, or the server's Retry-After when
    it gives one, both capped at `max_delay`. `timeout` bounds each HTTP attempt (seconds,
    applied by the SDK to connect and to each read).
    """

    attempts: int = 4
    backoff_base: float = 0.5
    max_delay: float = 30.0
    timeout: float = 600.0

    def delay_before_retry(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry_number` (1 for the first retry)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        backoff = self.backoff_base * 2.0 ** (retry_number - 1)
        return min(backoff * (1 + random.random() / 4), self.max_delay)


async def stream_with_retries(
    open_attempt: Callable[[], AsyncGenerator[StreamEvent, None]], policy: RetryPolicy
) -> AsyncGenerator[StreamEvent, None]:
    """Yield the events of the first attempt that succeeds.

    `open_attempt` starts one fresh attempt each time it is called. An attempt that fails
    with a retryable `ModelError` before yielding anything is retried after a delay; once
    `policy.attempts` are used up the last error is raised, saying so.

    Raises:
        ModelProtocolError: a retryable failure happened after events were yielded.
        ModelError: any non-retryable failure, or the last retryable one.
    """
    attempts = max(1, policy.attempts)
    for attempt in range(1, attempts + 1):
        delivered = False
        try:
            # aclosing: an attempt owns an HTTP response; close it even when our own
            # consumer stops early, not whenever the garbage collector gets to it.
            async with aclosing(open_attempt()) as events:
                async for event in events:
                    delivered = True
                    yield event
            return
        except ModelError as error:
            if not error.retryable:
                raise
            if delivered:
                raise ModelProtocolError(
                    f"The stream from {error.provider} broke after output had begun "
                    f"({error.message.rstrip('.')}); the turn was not retried to avoid "
                    "repeating it.",
                    provider=error.provider,
                ) from error
            if attempt == attempts:
                raise error.after_attempts(attempts) from error
            await asyncio.sleep(policy.delay_before_retry(attempt, error.retry_after))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait from ``retry-after-ms`` or ``retry-after`` (seconds).

    HTTP-date values are not honoured (None): the APIs we speak send seconds.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None
