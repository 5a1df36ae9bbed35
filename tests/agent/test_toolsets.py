"""A task's toolsets come from its options: offered to the model, gated, closed at the end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.test_loop import new_task, script
from errand.agent import (
    ApprovalPolicy,
    TaskOptions,
    ToolsetFactory,
    ToolsetRequest,
    Verdict,
    builtin_toolsets,
    run_task,
)
from errand.models import JsonValue, ToolCall
from errand.store import Store, TaskStatus, open_store
from errand.tools import Action, ActionKind, ToolContext, ToolDef, ToolOutput, Toolset
from sqlite_db import migrated_sqlite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


class Notes:
    """A toolset from outside the built-in tools, with a raw JSON Schema."""

    name = "notes"

    def __init__(self) -> None:
        self.listed = 0
        self.closed = 0
        self.notes: list[str] = []
        self.requests: list[ToolsetRequest] = []

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        self.listed += 1
        schema: dict[str, JsonValue] = {
            "type": "object",
            "properties": {"text": {"type": "string"}},
        }
        return [ToolDef("take_note", "Keep a note.", schema)]

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        return Action("take_note", ActionKind.WRITE, f"note {call.arguments().get('text')}")

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        self.notes.append(str(call.arguments().get("text")))
        return ToolOutput(f"noted for task {ctx.task_id} in call {ctx.call_id}")

    async def aclose(self) -> None:
        self.closed += 1


def with_notes(notes: Notes) -> ToolsetFactory:
    def factory(request: ToolsetRequest) -> list[Toolset]:
        notes.requests.append(request)
        return [*builtin_toolsets(request), notes]

    return factory


TURNS: list[dict[str, Any]] = [
    {"tool_calls": [{"id": "n1", "name": "take_note", "arguments": {"text": "milk"}}]},
    {"text": "done"},
]


async def test_a_toolset_from_the_options_is_offered_called_and_closed(
    store: Store, tmp_path: Path
) -> None:
    notes = Notes()
    task_id = await new_task(store, tmp_path)
    outcome = await run_task(
        store, task_id, script(tmp_path, TURNS), options=TaskOptions(toolsets=with_notes(notes))
    )
    assert outcome.status is TaskStatus.COMPLETED
    assert notes.notes == ["milk"]
    assert notes.listed == 1 and notes.closed == 1
    assert [r.task_id for r in notes.requests] == [task_id]
    (result,) = [e.payload for e in await store.events(task_id) if e.type == "tool.result"]
    assert result["content"] == f"noted for task {task_id} in call n1"
    (call,) = [e.payload for e in await store.events(task_id) if e.type == "tool.call"]
    assert call["summary"] == "note milk" and call["kind"] == "write"


async def test_the_approval_policy_wraps_every_toolset(store: Store, tmp_path: Path) -> None:
    notes = Notes()
    task_id = await new_task(store, tmp_path)
    options = TaskOptions(
        toolsets=with_notes(notes), approvals=ApprovalPolicy(tools={"take_note": Verdict.DENY})
    )
    await run_task(store, task_id, script(tmp_path, TURNS), options=options)
    assert notes.notes == []
    (result,) = [e.payload for e in await store.events(task_id) if e.type == "tool.result"]
    assert result["is_error"] is True
    assert "not allowed by the user's approval policy" in str(result["content"])
    assert notes.closed == 1


async def test_two_toolsets_offering_one_name_stop_the_task_with_a_reason(
    store: Store, tmp_path: Path
) -> None:
    task_id = await new_task(store, tmp_path)

    def twice(request: ToolsetRequest) -> list[Toolset]:
        return [Notes(), Notes()]

    outcome = await run_task(
        store, task_id, script(tmp_path, TURNS), options=TaskOptions(toolsets=twice)
    )
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error is not None and "two tools are named 'take_note'" in outcome.error
