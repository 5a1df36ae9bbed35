"""Requests first: the tasks ``errand serve`` runs do not keep its answers waiting.

The gateway answers the phone and the API on the same event loop that runs tasks, and a
task's steps (a claim, a model turn's records, the commit that ends it) each hold the loop
for a while. Under load those steps, not the requests themselves, made the slowest answers
(POST /tasks p99 about 60 ms with tasks running against about 30 ms without).

So task work defers to requests: :class:`Foreground` knows which requests the gateway is
answering, and before each write to the store (and before a task sets its sandbox up), work
marked :func:`in_background` (the runner's) waits until none is, for at most ``max_delay``
(50 ms). The wait is bounded, so a stream of requests slows tasks down without ever stopping
them, and a request that waits for a task (cancelling it) holds it back by that much at most;
requests answered for more than ``fresh_for`` (a long poll, a slow upload) no longer count.

Writes made for a request (an approval, a cancel, a follow-up) are never deferred: only
work that runs in a context marked background is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from contextvars import ContextVar

MAX_DELAY_S = 0.05
"""The longest one step of task work waits for requests."""
FRESH_FOR_S = 0.25
"""A request answered for longer than this (a long poll, an upload) no longer holds tasks."""


class Foreground:
    """The requests a gateway is answering now, which background work lets go first."""

    def __init__(
        self,
        *,
        max_delay: float = MAX_DELAY_S,
        fresh_for: float = FRESH_FOR_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_delay = max_delay
        self.fresh_for = fresh_for
        self._clock = clock
        self._answering: dict[int, float] = {}
        self._tickets = itertools.count()
        self._eased = asyncio.Event()
        self.deferred = 0
        """How many steps of background work are waiting for requests now."""

    def begin(self) -> int:
        """A request is being answered; returns the ticket :meth:`end` takes."""
        ticket = next(self._tickets)
        self._answering[ticket] = self._clock()
        return ticket

    def end(self, ticket: int) -> None:
        """The request's answer has started (or it failed); a second call does nothing."""
        if self._answering.pop(ticket, None) is not None:
            self._eased.set()

    @property
    def busy(self) -> bool:
        """Whether a request begun less than ``fresh_for`` ago is being answered."""
        since = self._clock() - self.fresh_for
        return any(began > since for began in self._answering.values())

    async def let_requests_go_first(self) -> None:
        """Return once no request is being answered, or after ``max_delay``."""
        if not self.busy:
            return
        deadline = self._clock() + self.max_delay
        self.deferred += 1
        try:
            while self.busy:
                left = deadline - self._clock()
                if left <= 0:
                    return
                self._eased.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._eased.wait(), left)
        finally:
            self.deferred -= 1


_background: ContextVar[Foreground | None] = ContextVar("errand_background", default=None)


def in_background(foreground: Foreground | None) -> None:
    """Mark the current task's work (and the tasks it starts) as background work that
    defers to ``foreground``'s requests; None marks nothing."""
    _background.set(foreground)


async def yield_to_requests() -> None:
    """In background work, wait as :meth:`Foreground.let_requests_go_first`; elsewhere,
    return at once. The store calls it before each write."""
    foreground = _background.get()
    if foreground is not None:
        await foreground.let_requests_go_first()
