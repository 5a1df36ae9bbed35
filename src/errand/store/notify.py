"""In-process wake-ups for readers waiting on a task's event log.

The store publishes a task's newest sequence number after the event's transaction has
committed, so a woken reader always finds the event in the database. Waking is a hint, not
a delivery: readers re-read the log, which is also why a wake-up can never be "missed" in a
way that loses an event. Writers in other processes do not reach this notifier; readers
cover them by re-reading at a modest interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class EventNotifier:
    """Tracks who waits on which task and wakes them when that task's log grows."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._closed = False

    @contextmanager
    def listen(self, task_id: str) -> Iterator[asyncio.Event]:
        """Register interest in ``task_id`` for the duration of the ``with`` block.

        Register before reading the log: an append that commits between the read and the
        wait then still sets the returned event.
        """
        signal = asyncio.Event()
        if self._closed:
            signal.set()
        waiters = self._waiters.setdefault(task_id, set())
        waiters.add(signal)
        try:
            yield signal
        finally:
            waiters.discard(signal)
            if not waiters and self._waiters.get(task_id) is waiters:
                del self._waiters[task_id]

    def publish(self, task_id: str) -> None:
        """Wake everyone waiting on ``task_id`` (call only after the commit)."""
        for signal in self._waiters.get(task_id, ()):
            signal.set()

    def close(self) -> None:
        """Wake every waiter for good: the store is closing."""
        self._closed = True
        for waiters in self._waiters.values():
            for signal in waiters:
                signal.set()

    @property
    def closed(self) -> bool:
        return self._closed
