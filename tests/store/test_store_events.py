"""Event logs: gapless numbering under concurrency, and waiting for new events."""

from __future__ import annotations

import asyncio
import time

import pytest

from errand.store import InvalidPayload, Store, TaskNotFound
from errand.tasks import TaskSpec

MODEL = "script:turns.json"


async def test_appends_get_the_next_sequence_number_and_come_back_as_written(
    store: Store,
) -> None:
    task = await store.create_task("log", spec=TaskSpec(model=MODEL))
    first = await store.append_event(task.id, "message.delta", {"text": "Hel"})
    second = await store.append_event(task.id, "tool.call", {"name": "read", "args": [1, None]})
    assert (first.seq, second.seq) == (2, 3)
    log = await store.events(task.id, after_seq=1)
    assert log == [first, second]
    assert log[1].payload == {"name": "read", "args": [1, None]}
    assert (await store.get_task(task.id)).last_seq == 3


async def test_concurrent_appends_across_tasks_are_gapless_and_unique(store: Store) -> None:
    tasks = [await store.create_task(f"task {n}", spec=TaskSpec(model=MODEL)) for n in range(5)]

    async def append(n: int) -> None:
        await store.append_event(tasks[n % 5].id, "message.delta", {"n": n})

    await asyncio.gather(*(append(n) for n in range(200)))

    for index, task in enumerate(tasks):
        log = await store.events(task.id)
        assert [event.seq for event in log] == list(range(1, 42))
        written = sorted(int(str(e.payload["n"])) for e in log if e.type == "message.delta")
        assert written == list(range(index, 200, 5))


async def test_events_pages_by_sequence_number(store: Store) -> None:
    task = await store.create_task("paged", spec=TaskSpec(model=MODEL))
    for n in range(10):
        await store.append_event(task.id, "message.delta", {"n": n})
    page = await store.events(task.id, after_seq=3, limit=4)
    assert [event.seq for event in page] == [4, 5, 6, 7]
    assert await store.events(task.id, after_seq=11) == []


async def test_appending_to_an_unknown_task_raises_and_writes_nothing(store: Store) -> None:
    with pytest.raises(TaskNotFound):
        await store.append_event("missing", "message", {"text": "x"})
    with pytest.raises(TaskNotFound):
        await store.events("missing")


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("", {}),
        ("Tool.Call", {}),
        ("tool call", {}),
        ("x" * 65, {}),
        ("task.status", {"status": "completed"}),
        ("approval.decided", {"status": "approved"}),
        ("message", {"n": float("inf")}),
        ("message", {"n": {1, 2}}),
        ("message", ["not", "an", "object"]),
    ],
)
async def test_malformed_events_are_refused_and_the_log_is_unchanged(
    store: Store, event_type: str, payload: object
) -> None:
    task = await store.create_task("strict", spec=TaskSpec(model=MODEL))
    with pytest.raises(InvalidPayload):
        await store.append_event(task.id, event_type, payload)  # type: ignore[arg-type]
    assert len(await store.events(task.id)) == 1
    assert (await store.get_task(task.id)).last_seq == 1


async def test_wait_returns_at_once_when_events_already_exist(store: Store) -> None:
    task = await store.create_task("ready", spec=TaskSpec(model=MODEL))
    found = await store.wait_for_events(task.id, after_seq=0, timeout=5)
    assert [event.type for event in found] == ["task.created"]


async def test_wait_wakes_when_an_event_is_appended(store: Store) -> None:
    task = await store.create_task("live", spec=TaskSpec(model=MODEL))

    async def append_later() -> None:
        await asyncio.sleep(0.05)
        await store.append_event(task.id, "message.delta", {"text": "hi"})

    writer = asyncio.create_task(append_later())
    started = time.monotonic()
    # A poll interval longer than the timeout proves the wake-up came from the append.
    found = await store.wait_for_events(task.id, after_seq=1, timeout=5, poll_interval=30)
    elapsed = time.monotonic() - started
    await writer
    assert [event.seq for event in found] == [2]
    assert elapsed < 2


async def test_wait_times_out_with_no_events(store: Store) -> None:
    task = await store.create_task("quiet", spec=TaskSpec(model=MODEL))
    started = time.monotonic()
    assert await store.wait_for_events(task.id, after_seq=1, timeout=0.2) == []
    assert 0.15 <= time.monotonic() - started < 2


async def test_wait_on_an_unknown_task_raises(store: Store) -> None:
    with pytest.raises(TaskNotFound):
        await store.wait_for_events("missing", after_seq=0, timeout=1)


async def test_many_waiters_all_wake_on_one_append(store: Store) -> None:
    task = await store.create_task("crowd", spec=TaskSpec(model=MODEL))
    waiters = [
        asyncio.create_task(store.wait_for_events(task.id, 1, timeout=5, poll_interval=30))
        for _ in range(20)
    ]
    await asyncio.sleep(0.05)
    await store.append_event(task.id, "message", {"text": "done"})
    results = await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
    assert all([event.seq for event in found] == [2] for found in results)


async def test_closing_the_store_ends_waits(store: Store) -> None:
    task = await store.create_task("closing", spec=TaskSpec(model=MODEL))
    waiter = asyncio.create_task(store.wait_for_events(task.id, 1, timeout=30, poll_interval=30))
    await asyncio.sleep(0.05)
    await store.aclose()
    assert await asyncio.wait_for(waiter, timeout=5) == []
