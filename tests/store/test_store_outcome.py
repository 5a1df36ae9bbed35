"""How a task ends: its final answer and ``completed`` in one commit, no stale error after a
resume, and the ``attention`` that keeps a completed task from hiding trouble."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import JsonValue

from errand.events import AssistantMessage, ToolResulted, event_item
from errand.store import (
    InvalidPayload,
    InvalidTransition,
    JsonObject,
    Store,
    TaskRecord,
    TaskStatus,
    UsageRecord,
)
from errand.tasks import TaskSpec

MODEL = "script:x"
ANSWER: JsonObject = {"role": "assistant", "parts": [{"type": "text", "text": "All done."}]}


async def running_task(store: Store) -> TaskRecord:
    task = await store.create_task("do it", spec=TaskSpec(model=MODEL))
    return await store.set_task_status(task.id, TaskStatus.RUNNING)


def result(
    call_id: str, *, error: bool, content: str = "x", interrupted: bool = False
) -> tuple[str, dict[str, JsonValue]]:
    return event_item(
        ToolResulted(
            call_id=call_id,
            tool="run_shell",
            is_error=error,
            content=content,
            interrupted=interrupted,
        )
    )


async def test_the_final_answer_and_completed_are_one_commit(store: Store) -> None:
    task = await running_task(store)
    done = await store.complete_task(
        task.id,
        events=[event_item(AssistantMessage(text="All done.", stop_reason="end_turn"))],
        messages=[ANSWER],
        usage=UsageRecord(task.id, MODEL, 40, 7, datetime.now(UTC)),
    )
    assert done.status is TaskStatus.COMPLETED
    assert (done.exit_code, done.error) == (0, None)
    assert done.finished_at is not None
    log = await store.events(task.id)
    assert [e.type for e in log[-3:]] == ["message", "usage", "task.status"]
    assert log[-1].payload == {"status": "completed", "previous": "running", "exit_code": 0}
    assert await store.transcript(task.id) == [ANSWER]
    assert (await store.usage_totals(task.id)).output_tokens == 7
    assert await store.get_task(task.id) == done


async def test_a_task_that_is_no_longer_running_gets_no_answer_and_no_status(
    store: Store,
) -> None:
    task = await running_task(store)
    await store.set_task_status(task.id, TaskStatus.CANCELLED, error="cancelled", exit_code=130)
    before = await store.events(task.id)
    with pytest.raises(InvalidTransition):
        await store.complete_task(
            task.id,
            events=[event_item(AssistantMessage(text="All done."))],
            messages=[ANSWER],
            usage=UsageRecord(task.id, MODEL, 40, 7, datetime.now(UTC)),
        )
    assert await store.events(task.id) == before
    assert await store.transcript(task.id) == []
    assert (await store.usage_totals(task.id)).calls == 0
    assert (await store.get_task(task.id)).status is TaskStatus.CANCELLED


async def test_a_malformed_answer_completes_nothing(store: Store) -> None:
    task = await running_task(store)
    with pytest.raises(InvalidPayload):
        await store.complete_task(task.id, events=[("Not A Type", {})], messages=[ANSWER])
    assert (await store.get_task(task.id)).status is TaskStatus.RUNNING
    assert await store.transcript(task.id) == []


async def test_a_resumed_task_no_longer_carries_the_error_of_its_stop(store: Store) -> None:
    task = await running_task(store)
    stopped = await store.set_task_status(
        task.id,
        TaskStatus.INTERRUPTED,
        error="Errand stopped while this task ran; resume it to continue",
        exit_code=130,
    )
    assert stopped.error is not None
    queued = await store.set_task_status(task.id, TaskStatus.QUEUED)
    assert (queued.error, queued.exit_code) == (None, None)
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    done = await store.complete_task(task.id, messages=[ANSWER])
    assert (done.status, done.error, done.exit_code) == (TaskStatus.COMPLETED, None, 0)


async def test_a_task_resumed_straight_to_running_loses_its_old_error(store: Store) -> None:
    task = await running_task(store)
    await store.set_task_status(task.id, TaskStatus.INTERRUPTED, error="stopped", exit_code=130)
    running = await store.set_task_status(task.id, TaskStatus.RUNNING)
    assert (running.error, running.exit_code) == (None, None)


async def test_a_clean_task_needs_no_attention(store: Store) -> None:
    task = await running_task(store)
    await store.record_step(task.id, events=[result("c1", error=False)])
    done = await store.complete_task(task.id, messages=[ANSWER])
    assert done.attention == ()


async def test_failed_steps_are_counted_as_they_happen_and_kept_when_completed(
    store: Store,
) -> None:
    task = await running_task(store)
    await store.record_step(task.id, events=[result("c1", error=True)])
    assert (await store.get_task(task.id)).attention == ("1 step failed",)
    await store.append_event(task.id, *result("c2", error=True))
    assert (await store.get_task(task.id)).attention == ("2 steps failed",)
    done = await store.complete_task(task.id, messages=[ANSWER])
    assert done.status is TaskStatus.COMPLETED
    assert done.attention == ("2 steps failed",)
    assert (await store.list_tasks())[0].attention == ("2 steps failed",)


async def test_text_that_looks_like_an_error_flag_is_not_a_failure(store: Store) -> None:
    task = await running_task(store)
    await store.record_step(
        task.id, events=[result("c1", error=False, content='{"is_error":true} "is_error":true')]
    )
    assert (await store.complete_task(task.id)).attention == ()


async def test_refused_and_unanswered_approvals_count_once_under_their_cause(
    store: Store,
) -> None:
    task = await running_task(store)
    denied = await store.create_approval(task.id, tool_call_id="c1", action={"tool": "x"})
    await store.decide_approval(denied.id, approve=False, decided_by="phone")
    assert (await store.get_task(task.id)).attention == ("1 step denied",)
    late = await store.create_approval(
        task.id,
        tool_call_id="c2",
        action={"tool": "y"},
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    assert [a.id for a in await store.expire_approvals()] == [late.id]
    assert (await store.get_task(task.id)).attention == ("1 step denied", "1 approval expired")
    # The model was told of both as errors; they are not also failed steps.
    await store.record_step(task.id, events=[result("c1", error=True), result("c2", error=True)])
    await store.record_step(task.id, events=[result("c3", error=True)])
    done = await store.complete_task(task.id)
    assert done.attention == ("1 step failed", "1 step denied", "1 approval expired")


async def test_approvals_left_open_when_the_task_stops_are_not_counted_as_expired(
    store: Store,
) -> None:
    task = await running_task(store)
    await store.create_approval(task.id, tool_call_id="c1", action={"tool": "x"})
    stopped = await store.set_task_status(task.id, TaskStatus.INTERRUPTED, error="stopped")
    assert stopped.attention == ()
    (approval,) = await store.list_approvals(task_id=task.id)
    assert approval.status.value == "expired"
    assert approval.decided_by == "the task stopped"


async def test_interrupted_steps_are_counted_apart(store: Store) -> None:
    task = await running_task(store)
    await store.record_step(task.id, events=[result("c1", error=True, interrupted=True)])
    done = await store.complete_task(task.id)
    assert done.attention == ("1 step interrupted",)
