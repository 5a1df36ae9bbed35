"""Requests first (errand.priority): background work waits for the requests being answered,
never for long, and never when it is a request's own work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from errand.priority import Foreground, in_background, yield_to_requests
from errand.store import Store, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

# Long enough that a step that waited for it could never pass for one that did not.
FOREVER = 120.0


def background_step(foreground: Foreground) -> asyncio.Task[None]:
    """One step of background work deferring to ``foreground``, started now."""

    async def step() -> None:
        in_background(foreground)
        await yield_to_requests()

    return asyncio.ensure_future(step())


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def test_background_work_goes_on_at_once_when_no_request_is_answered() -> None:
    foreground = Foreground(max_delay=FOREVER, fresh_for=FOREVER)
    await asyncio.wait_for(background_step(foreground), 10)


async def test_background_work_waits_until_the_request_is_answered() -> None:
    foreground = Foreground(max_delay=FOREVER, fresh_for=FOREVER)
    ticket = foreground.begin()
    step = background_step(foreground)
    await until(lambda: foreground.deferred == 1, "the step waits")
    for _ in range(50):
        await asyncio.sleep(0)
    assert not step.done()
    foreground.end(ticket)
    await asyncio.wait_for(step, 10)
    assert foreground.deferred == 0


async def test_a_stream_of_requests_delays_background_work_by_max_delay_at_most() -> None:
    foreground = Foreground(max_delay=0.05)
    foreground.begin()  # never answered
    started = time.monotonic()
    await asyncio.wait_for(background_step(foreground), 10)
    assert time.monotonic() - started >= 0.05


async def test_a_request_answered_for_long_no_longer_holds_background_work() -> None:
    now = [100.0]
    foreground = Foreground(max_delay=FOREVER, fresh_for=0.25, clock=lambda: now[0])
    foreground.begin()  # a long poll, say
    fresh = foreground.busy
    now[0] += 0.3
    assert (fresh, foreground.busy) == (True, False)
    await asyncio.wait_for(background_step(foreground), 10)


async def test_a_requests_own_work_never_waits() -> None:
    foreground = Foreground(max_delay=FOREVER, fresh_for=FOREVER)
    foreground.begin()
    in_background(None)
    await asyncio.wait_for(yield_to_requests(), 10)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


async def test_the_stores_writes_in_background_wait_for_requests(store: Store) -> None:
    task = await store.create_task("write", spec=TaskSpec(model="script:x"))
    foreground = Foreground(max_delay=FOREVER, fresh_for=FOREVER)
    ticket = foreground.begin()
    # A request's own write goes through although a request is being answered.
    await asyncio.wait_for(store.append_event(task.id, "note.added", {"by": "request"}), 10)

    async def background_write() -> None:
        in_background(foreground)
        await store.append_event(task.id, "note.added", {"by": "task"})

    write = asyncio.ensure_future(background_write())
    await until(lambda: foreground.deferred == 1, "the write waits")
    assert [e.payload.get("by") for e in await store.events(task.id)][-1] == "request"
    foreground.end(ticket)
    await asyncio.wait_for(write, 10)
    assert [e.payload.get("by") for e in await store.events(task.id)][-1] == "task"


async def test_a_background_write_cancelled_while_waiting_writes_nothing(store: Store) -> None:
    task = await store.create_task("write", spec=TaskSpec(model="script:x"))
    before = len(await store.events(task.id))
    foreground = Foreground(max_delay=FOREVER, fresh_for=FOREVER)
    foreground.begin()

    async def background_write() -> None:
        in_background(foreground)
        await store.append_event(task.id, "note.added", {"by": "task"})

    write = asyncio.ensure_future(background_write())
    await until(lambda: foreground.deferred == 1, "the write waits")
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert len(await store.events(task.id)) == before
