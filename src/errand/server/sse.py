"""Server-Sent Events: a task's log as a live stream, and the task list's changes.

A task stream reads the store, never a queue of its own: it sends the events after the
client's last seen sequence number (``Last-Event-ID``), then waits on the store for more.
So a reconnecting client gets exactly what it missed, nothing twice, and a slow client
costs one page of events in memory at most (the response waits for each write).

Every stream re-checks its caller's credential at least once a second and ends when the
device or token is revoked, when the gateway shuts down, or (task streams) after the task's
final ``task.status`` event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from errand.events import TaskStatusChanged
from errand.store import EventRecord, Store, TaskRecord, TaskStatus

log = logging.getLogger(__name__)

StillAllowed = Callable[[], Awaitable[bool]]
"""Whether the stream's caller may still read (False once its credential is revoked)."""

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""Response headers for streams: never cached, never buffered by a proxy in front."""


@dataclass(frozen=True)
class StreamSettings:
    """Timing of streams. The defaults follow docs/api.md; tests shorten them."""

    heartbeat_seconds: float = 15.0
    recheck_seconds: float = 1.0
    page_size: int = 200
    task_list_poll_seconds: float = 0.5
    task_list_size: int = 50
    subscriber_backlog: int = 256


def format_event(event: EventRecord) -> bytes:
    """One SSE message: ``id`` the sequence number, ``event`` the type, ``data`` the JSON."""
    data = {
        "seq": event.seq,
        "type": event.type,
        "at": event.at.isoformat(),
        "payload": event.payload,
    }
    return message(event.type, json.dumps(data, separators=(",", ":")), event_id=str(event.seq))


def message(event: str, data: str, *, event_id: str | None = None) -> bytes:
    """An SSE message; ``data`` must be one line (JSON without newlines is)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


KEEPALIVE = b": keepalive\n\n"


def is_final(event: EventRecord) -> bool:
    """Whether ``event`` ends the task (a ``task.status`` into a final status)."""
    changed = event.event
    return isinstance(changed, TaskStatusChanged) and changed.status in _FINAL


_FINAL = frozenset(s.value for s in TaskStatus if s.is_terminal)


async def task_events(
    store: Store,
    task_id: str,
    *,
    after: int,
    still_allowed: StillAllowed,
    closing: asyncio.Event,
    settings: StreamSettings,
) -> AsyncIterator[bytes]:
    """The SSE bytes of task ``task_id``'s log after sequence number ``after``, then live.

    Ends after the final ``task.status`` event (at once if the task had ended and the
    client has seen everything), when ``still_allowed`` says no, or when ``closing`` is set.
    """
    loop = asyncio.get_running_loop()
    last = max(after, 0)
    task = await store.get_task(task_id)
    if task.status.is_terminal and task.last_seq <= last:
        return
    next_heartbeat = loop.time() + settings.heartbeat_seconds
    next_check = loop.time() + settings.recheck_seconds
    while not closing.is_set():
        now = loop.time()
        wait = max(0.0, min(next_heartbeat, next_check) - now)
        batch = await store.wait_for_events(
            task_id, last, timeout=wait, limit=settings.page_size, poll_interval=wait or 0.01
        )
        for event in batch:
            yield format_event(event)
            last = event.seq
            if is_final(event):
                return
        now = loop.time()
        if now >= next_check:
            next_check = now + settings.recheck_seconds
            if not await still_allowed():
                return
        if batch:
            next_heartbeat = now + settings.heartbeat_seconds
        elif now >= next_heartbeat:
            next_heartbeat = now + settings.heartbeat_seconds
            yield KEEPALIVE


TaskView = Callable[[Sequence[TaskRecord]], Awaitable[Sequence[BaseModel]]]
"""Turns task records into the API's task objects (a page at a time)."""


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[bytes]
    overflowed: bool = False


@dataclass(eq=False)
class TaskListWatcher:
    """One poller shared by every ``GET /events`` stream.

    While anyone listens it reads the newest tasks whenever the store says a task was created
    or changed status (any process's, on PostgreSQL), and at least every
    ``task_list_poll_seconds`` otherwise, and hands each subscriber the tasks that are new or
    whose status changed. A subscriber that
    falls ``subscriber_backlog`` messages behind is dropped (its stream ends; the client
    reconnects and reloads the list) so one stalled phone cannot grow the server's memory.

    A new stream's first list and its subscription are one step under ``_turn``, which the
    poller's rounds take too: the others are first brought up to that same read, so every
    change after it reaches every stream, whatever the timing.
    """

    store: Store
    view: TaskView
    settings: StreamSettings
    _subscribers: set[_Subscriber] = field(default_factory=set)
    _seen: dict[str, str] = field(default_factory=dict)
    _poller: asyncio.Task[None] | None = None
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def stream(
        self, *, still_allowed: StillAllowed, closing: asyncio.Event
    ) -> AsyncGenerator[bytes, None]:
        """SSE bytes: the newest tasks as they are now, ``event: listed`` once they are all
        sent, then each change as ``event: task``."""
        subscriber = _Subscriber(asyncio.Queue(maxsize=self.settings.subscriber_backlog))
        async with self._turn:
            current = await self.store.list_tasks(limit=self.settings.task_list_size)
            if self._poller is None or self._poller.done():
                self._seen = {t.id: t.status.value for t in current}
                self._poller = asyncio.ensure_future(self._poll())
            else:
                await self._publish_changes(current)
            self._subscribers.add(subscriber)
        views = await self.view(current)
        for view in views:
            yield message("task", view.model_dump_json())
        # What follows is news: a client that tells its user of changes starts here.
        yield message("listed", json.dumps({"tasks": len(views)}))
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + self.settings.heartbeat_seconds
        try:
            while not closing.is_set() and not subscriber.overflowed:
                timeout = min(self.settings.recheck_seconds, next_heartbeat - loop.time())
                try:
                    async with asyncio.timeout(max(timeout, 0.0)):
                        chunk = await subscriber.queue.get()
                    yield chunk
                    next_heartbeat = loop.time() + self.settings.heartbeat_seconds
                except TimeoutError:
                    if loop.time() >= next_heartbeat:
                        next_heartbeat = loop.time() + self.settings.heartbeat_seconds
                        yield KEEPALIVE
                if not await still_allowed():
                    return
        finally:
            self._subscribers.discard(subscriber)

    async def aclose(self) -> None:
        """Stop polling (streams end on their own ``closing`` event)."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def _poll(self) -> None:
        try:
            while self._subscribers:
                poll = self.settings.task_list_poll_seconds
                await self.store.wait_for_task_list_change(timeout=poll, poll_interval=poll)
                async with self._turn:
                    await self._publish_changes(
                        await self.store.list_tasks(limit=self.settings.task_list_size)
                    )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the task list watcher stopped")
            for subscriber in self._subscribers:
                subscriber.overflowed = True

    async def _publish_changes(self, tasks: list[TaskRecord]) -> None:
        """Send every subscriber the tasks of ``tasks`` (the newest, as just read) whose
        status differs from what they were last sent."""
        changed = [t for t in tasks if self._seen.get(t.id) != t.status.value]
        self._seen = {t.id: t.status.value for t in tasks}
        if not changed:
            return
        views = await self.view(list(reversed(changed)))  # oldest change first
        chunks = [message("task", v.model_dump_json()) for v in views]
        for subscriber in list(self._subscribers):
            for chunk in chunks:
                try:
                    subscriber.queue.put_nowait(chunk)
                except asyncio.QueueFull:
                    subscriber.overflowed = True
                    break
