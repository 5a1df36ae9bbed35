"""The model transcript: kept in order so an interrupted task can resume from it."""

from __future__ import annotations

import asyncio

import pytest

from errand.store import InvalidPayload, JsonObject, Store, TaskNotFound
from errand.tasks import TaskSpec

MODEL = "script:turns.json"


async def test_messages_come_back_in_order_and_intact(store: Store) -> None:
    task = await store.create_task("chat", spec=TaskSpec(model=MODEL))
    user: JsonObject = {"role": "user", "content": [{"type": "text", "text": "hi ünïcode"}]}
    reply: JsonObject = {
        "role": "assistant",
        "content": [{"type": "tool_call", "id": "c1", "args": {}}],
    }
    assert await store.append_messages(task.id, [user]) == 1
    assert await store.append_messages(task.id, [reply, user]) == 3
    assert await store.transcript(task.id) == [user, reply, user]


async def test_concurrent_appends_lose_no_message(store: Store) -> None:
    task = await store.create_task("busy", spec=TaskSpec(model=MODEL))
    await asyncio.gather(*(store.append_messages(task.id, [{"n": n}, {"n": n}]) for n in range(25)))
    transcript = await store.transcript(task.id)
    assert len(transcript) == 50
    assert sorted(int(str(m["n"])) for m in transcript) == sorted(list(range(25)) * 2)


async def test_bad_messages_and_unknown_tasks_change_nothing(store: Store) -> None:
    task = await store.create_task("strict", spec=TaskSpec(model=MODEL))
    with pytest.raises(InvalidPayload):
        await store.append_messages(task.id, [{"ok": 1}, {"bad": float("nan")}])
    with pytest.raises(TaskNotFound):
        await store.append_messages("missing", [{"role": "user"}])
    with pytest.raises(TaskNotFound):
        await store.transcript("missing")
    assert await store.transcript(task.id) == []
    assert await store.append_messages(task.id, []) == 0
