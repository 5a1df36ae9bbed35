"""Token usage: recorded per model call, summed per task."""

from __future__ import annotations

import pytest

from errand.store import InvalidPayload, Store, TaskNotFound, UsageTotals

MODEL = "anthropic:test-model"


async def test_usage_is_summed_per_task_and_logged(store: Store) -> None:
    task = await store.create_task("count", model=MODEL)
    other = await store.create_task("other", model=MODEL)
    assert await store.usage_totals(task.id) == UsageTotals(
        calls=0, input_tokens=0, output_tokens=0
    )
    await store.record_usage(task.id, model=MODEL, input_tokens=1200, output_tokens=80)
    await store.record_usage(task.id, model=MODEL, input_tokens=1500, output_tokens=20)
    await store.record_usage(other.id, model=MODEL, input_tokens=9, output_tokens=9)
    assert await store.usage_totals(task.id) == UsageTotals(
        calls=2, input_tokens=2700, output_tokens=100
    )
    usage_events = [e for e in await store.events(task.id) if e.type == "usage"]
    assert [e.payload["input_tokens"] for e in usage_events] == [1200, 1500]


async def test_bad_counts_and_unknown_tasks_change_nothing(store: Store) -> None:
    task = await store.create_task("strict", model=MODEL)
    with pytest.raises(InvalidPayload):
        await store.record_usage(task.id, model=MODEL, input_tokens=-1, output_tokens=0)
    with pytest.raises(TaskNotFound):
        await store.record_usage("missing", model=MODEL, input_tokens=1, output_tokens=1)
    with pytest.raises(TaskNotFound):
        await store.usage_totals("missing")
    assert (await store.usage_totals(task.id)).calls == 0
