"""Typed task events: one model per type, the stored JSON they make, and reading it back."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from rich.console import Console

from errand.cli.render import EventPrinter
from errand.events import (
    EVENT_TYPES,
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    BudgetExceeded,
    CallRequest,
    GrantLost,
    GrantsChanged,
    McpServerChanged,
    MessageDelta,
    NetworkDecided,
    QuestionAnswered,
    QuestionAsked,
    TaskCreated,
    TaskEvent,
    TaskStatusChanged,
    ToolCalled,
    ToolResulted,
    UnknownEvent,
    UsageRecorded,
    UserMessage,
    event_item,
    parse_event,
)
from errand.store import EventRecord, Store, TaskStatus, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

EXAMPLES: list[TaskEvent] = [
    TaskCreated(title="t", prompt="do it", model="scripted:x", source="cli"),
    TaskStatusChanged(status="failed", previous="running", error="no", exit_code=1),
    UserMessage(text="also this"),
    MessageDelta(text="Look"),
    AssistantMessage(
        text="Looking",
        tool_calls=(CallRequest(id="c1", name="read_file", arguments='{"path": "a"}'),),
        stop_reason="tool_use",
    ),
    UsageRecorded(model="scripted:x", input_tokens=10, output_tokens=3),
    ToolCalled(call_id="c1", tool="read_file", arguments="{}", summary="read a", kind="read"),
    ToolResulted(
        call_id="c1",
        tool="read_file",
        is_error=False,
        content="hi",
        truncated=False,
        files=("/sessions/t/mnt/w/a",),
        duration=0.25,
    ),
    NetworkDecided(call_id="c1", host="example.org", port=443, verdict="deny", reason="unlisted"),
    ApprovalRequested(
        approval_id="a1",
        tool_call_id="c1",
        action={"tool": "run_shell", "kind": "shell", "summary": "rm -rf build"},
        digest="d" * 64,
        expires_at=None,
    ),
    ApprovalDecided(approval_id="a1", status="approved", decided_by="phone"),
    QuestionAsked(question_id="q1", text="Which colour?"),
    QuestionAnswered(question_id="q1", answer="blue", answered_by="cli"),
    BudgetExceeded(tokens=12, budget=10, message="stopped"),
    McpServerChanged(server="git", state="ready", tools=3, skipped=("tool 'x': bad",), at=1.5),
    GrantsChanged(
        changes=(GrantLost(folder="notes", was="rw", reason="the owner no longer shares it"),),
        message="[Errand: You no longer have access to the folder 'notes'.]",
    ),
]


def test_every_type_is_covered_once_by_the_examples_and_the_union() -> None:
    members = typing.get_args(typing.get_args(TaskEvent)[0])
    assert [m.model_fields["type"].default for m in members] == list(EVENT_TYPES)
    assert [e.type for e in EXAMPLES] == list(EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_each_event_survives_its_stored_json(event: TaskEvent) -> None:
    type_, payload = event_item(event)
    assert "type" not in payload
    assert parse_event(type_, payload) == event


def test_the_wire_format_is_the_documented_one() -> None:
    assert ToolCalled(call_id="c", tool="t", arguments="{}").payload() == {
        "call_id": "c",
        "tool": "t",
        "arguments": "{}",
        "summary": "",
        "kind": "",
    }
    assert AssistantMessage(
        text="", tool_calls=(CallRequest(id="1", name="n", arguments="{}"),)
    ).payload() == {
        "text": "",
        "tool_calls": [{"id": "1", "name": "n", "arguments": "{}"}],
        "stop_reason": None,
    }
    # A status change says only what applies.
    assert TaskStatusChanged(status="running", previous="queued").payload() == {
        "status": "running",
        "previous": "queued",
    }


def test_unknown_types_and_misshapen_payloads_are_kept_not_fatal() -> None:
    assert parse_event("tool.progress", {"pct": 5}) == UnknownEvent(
        type="tool.progress", data={"pct": 5}
    )
    odd = parse_event("tool.result", {"call_id": "c1"})
    assert isinstance(odd, UnknownEvent) and odd.payload() == {"call_id": "c1"}
    # Keys a newer writer adds are ignored by this reader.
    assert parse_event("message.user", {"text": "hi", "from": "chat"}) == UserMessage(text="hi")


def test_docs_list_every_event_type_with_its_fields() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| (.*?) \|", text, flags=re.MULTILINE))
    for example in EXAMPLES:
        assert example.type in rows, f"{example.type} is not documented in docs/api.md"
        for field in example.payload():
            assert f"`{field}`" in rows[example.type], f"{example.type}.{field} undocumented"


async def test_the_terminal_shows_a_replayed_log(tmp_path: Path) -> None:
    store: Store = await open_store(migrated_sqlite(tmp_path / "e.db"))
    try:
        task = await store.create_task("Read a file", spec=TaskSpec(model="scripted:x"))
        for event in EXAMPLES[2:9]:
            if not isinstance(event, UsageRecorded):  # the store writes that one itself
                await store.append_event(task.id, *event_item(event))
        (grants,) = [e for e in EXAMPLES if isinstance(e, GrantsChanged)]
        await store.append_event(task.id, *event_item(grants))
        await store.set_task_status(task.id, TaskStatus.RUNNING)
        await store.set_task_status(task.id, TaskStatus.FAILED, error="it broke", exit_code=1)
        records: list[EventRecord] = await store.events(task.id)
    finally:
        await store.aclose()
    console = Console(record=True, width=100, color_system=None)
    printer = EventPrinter(console)
    for record in records:
        printer.show(record)
    shown = console.export_text()
    assert shown.splitlines() == [
        "Look",
        "▸ read_file read a",
        "  hi",
        "  network refused example.org: unlisted",
        "folder notes no longer available: the owner no longer shares it",
        "● failed: it broke",
    ]
