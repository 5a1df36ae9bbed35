"""Token usage: recorded per model call, summed per task."""

from __future__ import annotations

import pytest

from errand.store import InvalidPayload, Store, TaskNotFound, UsageRecord, UsageTotals
from errand.store.schema import utc_now
from errand.tasks import TaskSpec

MODEL = "anthropic:test-model"


async def test_usage_is_summed_per_task_and_logged(store: Store) -> None:
    task = await store.create_task("count", spec=TaskSpec(model=MODEL))
    other = await store.create_task("other", spec=TaskSpec(model=MODEL))
    assert await store.usage_totals(task.id) == UsageTotals(
        calls=0, input_tokens=0, output_tokens=0
    )
    await _record(store, task.id, 1200, 80)
    await _record(store, task.id, 1500, 20)
    await _record(store, other.id, 9, 9)
    assert await store.usage_totals(task.id) == UsageTotals(
        calls=2, input_tokens=2700, output_tokens=100
    )
    usage_events = [e for e in await store.events(task.id) if e.type == "usage"]
    assert [e.payload["input_tokens"] for e in usage_events] == [1200, 1500]


async def test_bad_counts_and_unknown_tasks_change_nothing(store: Store) -> None:
    task = await store.create_task("strict", spec=TaskSpec(model=MODEL))
    with pytest.raises(InvalidPayload):
        await _record(store, task.id, -1, 0)
    with pytest.raises(TaskNotFound):
        await _record(store, "missing", 1, 1)
    with pytest.raises(TaskNotFound):
        await store.usage_totals("missing")
    assert (await store.usage_totals(task.id)).calls == 0


async def _record(store: Store, task_id: str, input_tokens: int, output_tokens: int) -> None:
    usage = UsageRecord(task_id, MODEL, input_tokens, output_tokens, at=utc_now())
    await store.record_step(task_id, events=[], messages=[], usage=usage)
