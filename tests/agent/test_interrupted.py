"""Calls a crash interrupted: answered as they happened, recorded once, shown in the log."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from errand.agent import load_transcript, message_to_json, run_task
from errand.agent.interrupted import (
    BEFORE_IT_RAN,
    RESULT_CUT,
    WAITING_FOR_APPROVAL,
    WHILE_IT_RAN,
    CallProgress,
    answer_interrupted,
)
from errand.agent.transcript import unanswered_steps
from errand.events import (
    ApprovalDecided,
    ApprovalRequested,
    TaskEvent,
    ToolCalled,
    ToolResulted,
    event_item,
)
from errand.models import Message, ScriptedModel, ToolCall, ToolResult, user_text
from errand.store import JsonObject, Store, TaskStatus, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

CALLS = (
    ToolCall("c1", "run_shell", "{}"),
    ToolCall("c2", "write_file", "{}"),
    ToolCall("c3", "run_shell", "{}"),
)


def asked(call_id: str, approval_id: str, kind: str = "shell") -> ApprovalRequested:
    return ApprovalRequested(
        approval_id=approval_id,
        tool_call_id=call_id,
        action={"tool": "run_shell", "kind": kind},
        digest="d",
    )


def called(call_id: str) -> ToolCalled:
    return ToolCalled(call_id=call_id, tool="run_shell", arguments="{}")


def answers(events: list[TaskEvent], step: tuple[ToolCall, ...] = CALLS) -> list[str]:
    message, _ = answer_interrupted(step, CallProgress.from_log(events))
    return [part.content for part in message.tool_results]


def test_a_call_that_never_started_had_no_effect() -> None:
    assert answers([]) == [BEFORE_IT_RAN] * 3


def test_a_call_stopped_while_it_ran_may_have_partly_happened() -> None:
    assert answers([called("c1")])[0] == WHILE_IT_RAN
    assert "may have partly happened" in WHILE_IT_RAN


def test_a_call_waiting_for_its_approval_never_ran() -> None:
    got = answers([called("c1"), asked("c1", "a1"), called("c2"), asked("c2", "a2")])
    assert got[:2] == [WAITING_FOR_APPROVAL, WAITING_FOR_APPROVAL]
    approved = ApprovalDecided(approval_id="a1", status="approved", decided_by="phone")
    assert answers([called("c1"), asked("c1", "a1"), approved])[0] == WHILE_IT_RAN


def test_a_call_waiting_for_a_connection_was_already_running() -> None:
    assert answers([called("c1"), asked("c1", "a1", kind="network")])[0] == WHILE_IT_RAN


def test_a_call_whose_result_was_logged_is_answered_with_it_and_not_logged_again() -> None:
    done = ToolResulted(call_id="c1", tool="run_shell", is_error=False, content="42")
    cut = ToolResulted(call_id="c2", tool="write_file", is_error=True, content="x", truncated=True)
    message, logged = answer_interrupted(
        CALLS, CallProgress.from_log([called("c1"), done, called("c2"), cut])
    )
    assert message.tool_results == (
        ToolResult("c1", "42", False),
        ToolResult("c2", "x" + RESULT_CUT, True),
        ToolResult("c3", BEFORE_IT_RAN, True),
    )
    assert [(e.call_id, e.interrupted, e.is_error) for e in logged] == [("c3", True, True)]
    assert event_item(logged[0])[1]["interrupted"] is True
    assert "interrupted" not in event_item(done)[1]


def test_answers_stored_after_a_follow_up_are_read_back_after_their_calls() -> None:
    ask = Message(role="assistant", parts=CALLS[:1])
    answer = Message(role="tool", parts=(ToolResult("c1", BEFORE_IT_RAN, True),))
    rows: list[JsonObject] = [
        json.loads(json.dumps(message_to_json(m)))
        for m in (user_text("do it"), ask, user_text("and also this"), answer)
    ]
    assert unanswered_steps(load_transcript(rows[:3])) == [CALLS[:1]]
    assert load_transcript(rows) == [user_text("do it"), ask, answer, user_text("and also this")]
    assert unanswered_steps(load_transcript(rows)) == []


# -- the loop records them, once -----------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


def script(tmp_path: Path, turns: list[dict[str, Any]]) -> ScriptedModel:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"turns": turns}), encoding="utf-8")
    return ScriptedModel.from_file(path)


async def interrupted_in_a_step(store: Store, *, follow_up: str | None = None) -> str:
    """A task stopped in a step of two calls: the first had started, the second had not."""
    task = await store.create_task("do it", spec=TaskSpec(model="script:x"))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    step = Message(
        role="assistant",
        parts=(ToolCall("call_1_1", "run_shell", "{}"), ToolCall("call_1_2", "run_shell", "{}")),
    )
    await store.record_step(
        task.id,
        events=[event_item(called("call_1_1"))],
        messages=[message_to_json(user_text("do it")), message_to_json(step)],
    )
    await store.set_task_status(task.id, TaskStatus.INTERRUPTED, error="stopped")
    if follow_up is not None:
        await store.request_follow_up(
            task.id, follow_up, message=message_to_json(user_text(follow_up))
        )
    return task.id


@needs_root
async def test_a_resumed_task_records_what_the_model_was_told_and_says_so_once(
    store: Store, tmp_path: Path
) -> None:
    task_id = await interrupted_in_a_step(store)
    model = script(
        tmp_path,
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "true"}}]},
            {
                "expect_tool_results": [
                    {"contains": WHILE_IT_RAN, "is_error": True},
                    {"contains": BEFORE_IT_RAN, "is_error": True},
                ],
                "text": "Checked and done.",
            },
            {"text": "Again."},
        ],
    )
    outcome = await run_task(store, task_id, model)
    assert outcome.status is TaskStatus.COMPLETED
    results = [e.event for e in await store.events(task_id) if e.type == "tool.result"]
    assert [(r.call_id, r.content) for r in results if isinstance(r, ToolResulted)] == [
        ("call_1_1", WHILE_IT_RAN),
        ("call_1_2", BEFORE_IT_RAN),
    ]
    task = await store.get_task(task_id)
    assert (task.error, task.exit_code) == (None, 0)
    assert task.attention == ("2 steps interrupted",)
    # Run again (a follow-up reopens it): nothing is answered or recorded twice.
    await store.request_follow_up(task_id, "again", message=message_to_json(user_text("again")))
    assert (await run_task(store, task_id, model)).status is TaskStatus.COMPLETED
    assert [e.type for e in await store.events(task_id)].count("tool.result") == 2
    transcript = await store.transcript(task_id)
    roles = ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert [m["role"] for m in transcript] == roles


@needs_root
async def test_a_follow_up_sent_while_interrupted_comes_after_the_answers(
    store: Store, tmp_path: Path
) -> None:
    task_id = await interrupted_in_a_step(store, follow_up="and check the disk")
    model = script(tmp_path, [{"text": "unused"}, {"text": "Both done."}])
    outcome = await run_task(store, task_id, model)
    assert outcome.status is TaskStatus.COMPLETED
    order = load_transcript(await store.transcript(task_id))
    assert [m.role for m in order] == ["user", "assistant", "tool", "user", "assistant"]
    assert order[3] == user_text("and check the disk")
    assert [e.type for e in await store.events(task_id)].count("tool.result") == 2
