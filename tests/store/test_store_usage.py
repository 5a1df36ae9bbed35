"""Token usage: recorded per model call, summed per task and per page of tasks."""

from __future__ import annotations

import pytest

from errand.store import (
    InvalidPayload,
    Store,
    TaskNotFound,
    TaskSummary,
    UsageRecord,
    UsageTotals,
)
from errand.store.schema import utc_now
from errand.tasks import TaskSpec, TaskStatus

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


async def test_a_page_summary_counts_each_tasks_tokens_and_open_requests(store: Store) -> None:
    busy = await store.create_task("busy", spec=TaskSpec(model=MODEL))
    quiet = await store.create_task("quiet", spec=TaskSpec(model=MODEL))
    await _record(store, busy.id, 100, 7)
    await _record(store, busy.id, 50, 3)
    await _record(store, quiet.id, 1, 1)
    first = await store.create_approval(busy.id, tool_call_id="c1", action={"tool": "a"})
    await store.create_approval(busy.id, tool_call_id="c2", action={"tool": "b"})
    await store.decide_approval(first.id, approve=True, decided_by="test")
    asked = await store.create_question(quiet.id, "Which one?")
    await store.create_question(quiet.id, "And when?")
    await store.answer_question(asked.id, "the red one")

    summaries = await store.task_summaries([busy.id, quiet.id, "missing", busy.id])

    assert list(summaries) == [busy.id, quiet.id, "missing"]
    assert summaries[busy.id] == TaskSummary(UsageTotals(2, 150, 10), 1, 0)
    assert summaries[quiet.id] == TaskSummary(UsageTotals(1, 1, 1), 0, 1)
    assert summaries["missing"] == TaskSummary(UsageTotals(0, 0, 0), 0, 0)
    assert await store.task_summaries([]) == {}


async def test_a_page_of_tasks_is_read_with_each_tasks_summary(store: Store) -> None:
    busy = await store.create_task("busy", spec=TaskSpec(model=MODEL))
    quiet = await store.create_task("quiet", spec=TaskSpec(model=MODEL))
    newest = await store.create_task("newest", spec=TaskSpec(model=MODEL))
    await _record(store, busy.id, 100, 7)
    await _record(store, busy.id, 50, 3)
    await store.create_approval(busy.id, tool_call_id="c1", action={"tool": "a"})
    await store.create_question(quiet.id, "Which one?")
    await store.set_task_status(newest.id, TaskStatus.RUNNING)

    first = await store.list_tasks_summarized(limit=2)
    rest = await store.list_tasks_summarized(limit=2, before=first[-1][0].id)
    running = await store.list_tasks_summarized(status=TaskStatus.RUNNING)

    assert [task.id for task, _ in first] == [newest.id, quiet.id]
    assert [task.id for task, _ in rest] == [busy.id]
    quiet_summary = TaskSummary(UsageTotals(0, 0, 0), 0, 1)
    expected = [(newest.id, TaskSummary(UsageTotals(0, 0, 0), 0, 0)), (quiet.id, quiet_summary)]
    assert [(task.id, summary) for task, summary in first] == expected
    assert [task for task, _ in first] == await store.list_tasks(limit=2)
    assert rest[0][1] == TaskSummary(UsageTotals(2, 150, 10), 1, 0)
    assert [(task.id, task.status) for task, _ in running] == [(newest.id, TaskStatus.RUNNING)]
