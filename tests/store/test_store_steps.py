"""``record_step``: a whole agent step (events, transcript, usage) in one commit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from errand.store import InvalidPayload, Store, TaskNotFound, UsageRecord
from errand.tasks import TaskSpec


async def test_a_step_lands_whole(store: Store) -> None:
    task = await store.create_task("do it", spec=TaskSpec(model="script:x"))
    usage = UsageRecord(task.id, "script:x", 12, 3, datetime.now(UTC))
    records = await store.record_step(
        task.id,
        events=[("message.delta", {"text": "hi"}), ("message", {"text": "hi"})],
        messages=[{"role": "assistant", "parts": []}],
        usage=usage,
    )
    assert [r.type for r in records] == ["message.delta", "message", "usage"]
    assert [r.seq for r in records] == [2, 3, 4]
    assert len(await store.transcript(task.id)) == 1
    assert (await store.usage_totals(task.id)).input_tokens == 12


async def test_a_bad_step_changes_nothing(store: Store) -> None:
    task = await store.create_task("do it", spec=TaskSpec(model="script:x"))
    with pytest.raises(InvalidPayload):
        await store.record_step(
            task.id,
            events=[("message", {"text": "ok"}), ("Not A Type", {})],
            messages=[{"role": "assistant", "parts": []}],
        )
    assert [e.type for e in await store.events(task.id)] == ["task.created"]
    assert await store.transcript(task.id) == []
    with pytest.raises(TaskNotFound):
        await store.record_step("nope", events=[("message", {})])


async def test_a_write_whose_caller_is_cancelled_still_lands_whole(store: Store) -> None:
    import asyncio

    task = await store.create_task("do it", spec=TaskSpec(model="script:x"))

    async def many() -> None:
        for i in range(200):
            await store.append_event(task.id, "message.delta", {"text": str(i)})

    writer = asyncio.ensure_future(many())
    await asyncio.sleep(0.05)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    await store.append_event(task.id, "message", {"text": "after"})
    events = await store.events(task.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "message"
