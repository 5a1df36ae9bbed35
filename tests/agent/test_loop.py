"""The agent loop with the scripted model, the real sandbox and a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from errand.agent import ApprovalPolicy, TaskOptions, Verdict, run_task
from errand.models import ScriptedModel
from errand.sandbox import FolderGrant
from errand.store import (
    ApprovalRecord,
    ApprovalStatus,
    QuestionRecord,
    Store,
    TaskStatus,
    open_store,
)
from errand.tasks import FolderGrantSpec, GrantOrigin, NetworkSpec, TaskSpec
from errand.tools import ActionKind
from sqlite_db import migrated_sqlite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


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


async def new_task(store: Store, folder: Path | None, prompt: str = "do it", **kw: Any) -> str:
    folders = [FolderGrant.parse(f"{folder}:rw")] if folder else []
    spec = TaskSpec(
        model="script:x",
        folders=tuple(FolderGrantSpec.of(g, GrantOrigin.HOST) for g in folders),
        **kw,
    )
    task = await store.create_task(prompt, spec=spec)
    return task.id


def running_commands_with(marker: bytes) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


async def types(store: Store, task_id: str) -> list[str]:
    return [e.type for e in await store.events(task_id)]


async def test_a_task_writes_through_the_sandboxed_tool_and_is_recorded(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    model = script(
        tmp_path,
        [
            {
                "text": "Writing.",
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "hello.txt", "content": "hi"}}
                ],
                "usage": [100, 10],
            },
            {
                "expect_tool_results": [{"contains": "hello.txt", "is_error": False}],
                "tool_calls": [{"name": "run_shell", "arguments": {"command": "cat hello.txt"}}],
            },
            {"expect_tool_results": [{"contains": "hi"}], "text": "Done.", "usage": [200, 5]},
        ],
    )
    task_id = await new_task(store, folder)
    outcome = await run_task(store, task_id, model)
    assert outcome.status is TaskStatus.COMPLETED and outcome.exit_code == 0
    assert (folder / "hello.txt").read_text(encoding="utf-8") == "hi"
    seen = await types(store, task_id)
    assert seen[0] == "task.created" and seen[-1] == "task.status"
    assert seen.count("tool.call") == 2 and seen.count("tool.result") == 2
    events = await store.events(task_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    transcript = await store.transcript(task_id)
    assert [m["role"] for m in transcript] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    totals = await store.usage_totals(task_id)
    assert totals.input_tokens == 300
    assert (await store.get_task(task_id)).status is TaskStatus.COMPLETED


async def test_bad_tool_calls_become_errors_the_model_sees(store: Store, tmp_path: Path) -> None:
    model = script(
        tmp_path,
        [
            {
                "tool_calls": [
                    {"name": "read_file", "arguments_raw": '{"path": '},
                    {"name": "no_such_tool", "arguments": {}},
                    {"name": "read_file", "arguments": {"path": "/etc/passwd"}},
                ]
            },
            {
                "expect_tool_results": [
                    {"contains": "not valid JSON", "is_error": True},
                    {"contains": "no tool", "is_error": True},
                    {"contains": "", "is_error": True},
                ],
                "text": "Those failed.",
            },
        ],
    )
    task_id = await new_task(store, tmp_path)
    outcome = await run_task(store, task_id, model)
    assert outcome.status is TaskStatus.COMPLETED


class Answering:
    """A responder that answers through the store, as a phone or terminal would."""

    def __init__(self, store: Store, *, approve: bool, answer: str = "blue") -> None:
        self.store, self.approve, self.answer = store, approve, answer
        self.approvals: list[ApprovalRecord] = []

    async def approval_requested(self, approval: ApprovalRecord) -> None:
        self.approvals.append(approval)
        await asyncio.sleep(0.05)
        await self.store.decide_approval(
            approval.id, approve=self.approve, decided_by="test", digest=approval.digest
        )

    async def question_asked(self, question: QuestionRecord) -> None:
        await self.store.answer_question(question.id, self.answer, answered_by="test")


ASK_SHELL = ApprovalPolicy(kinds={**ApprovalPolicy().kinds, ActionKind.SHELL: Verdict.ASK})


@pytest.mark.parametrize("approve", [True, False])
async def test_approval_is_asked_bound_to_the_command_and_obeyed(
    store: Store, tmp_path: Path, approve: bool
) -> None:
    model = script(
        tmp_path,
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo approved-run"}}]},
            {
                "expect_tool_results": [
                    {
                        "contains": "approved-run" if approve else "did not approve",
                        "is_error": not approve,
                    }
                ],
                "text": "ok",
            },
        ],
    )
    responder = Answering(store, approve=approve)
    task_id = await new_task(store, tmp_path)
    outcome = await run_task(
        store, task_id, model, responder=responder, options=TaskOptions(approvals=ASK_SHELL)
    )
    assert outcome.status is TaskStatus.COMPLETED
    (approval,) = responder.approvals
    assert approval.action["summary"] == "echo approved-run"
    statuses = [
        e.payload.get("status") for e in await store.events(task_id) if e.type == "task.status"
    ]
    assert "waiting" in statuses
    stored = await store.get_approval(approval.id)
    assert stored.status is (ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED)


async def test_nobody_to_ask_means_denied_and_yes_means_approved(
    store: Store, tmp_path: Path
) -> None:
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo ran"}}]},
        {"text": "ok"},
    ]
    denied = await new_task(store, tmp_path)
    await run_task(store, denied, script(tmp_path, turns), options=TaskOptions(approvals=ASK_SHELL))
    approved = await new_task(store, tmp_path)
    await run_task(
        store,
        approved,
        script(tmp_path, turns),
        options=TaskOptions(approvals=ASK_SHELL, auto_approve=True),
    )
    results = {}
    for task_id in (denied, approved):
        results[task_id] = next(
            e.payload for e in await store.events(task_id) if e.type == "tool.result"
        )
    assert results[denied]["is_error"] is True
    assert "ran" in str(results[approved]["content"])


async def test_a_question_waits_for_the_answer(store: Store, tmp_path: Path) -> None:
    model = script(
        tmp_path,
        [
            {"tool_calls": [{"name": "ask_user", "arguments": {"question": "Which colour?"}}]},
            {"expect_tool_results": [{"contains": "teal"}], "text": "Teal it is."},
        ],
    )
    task_id = await new_task(store, tmp_path)
    outcome = await run_task(
        store, task_id, model, responder=Answering(store, approve=True, answer="teal")
    )
    assert outcome.status is TaskStatus.COMPLETED
    assert "question.answered" in await types(store, task_id)


async def test_an_unlisted_domain_asks_through_the_proxy(store: Store, tmp_path: Path) -> None:
    model = script(
        tmp_path,
        [
            {
                "tool_calls": [
                    {
                        "name": "run_shell",
                        "arguments": {"command": "curl -sS -m 5 http://unlisted.test/"},
                    }
                ]
            },
            {"text": "ok"},
        ],
    )
    task = await store.create_task(
        "fetch",
        spec=TaskSpec(model="script:x", network=NetworkSpec(allow_domains=("listed.test",))),
    )
    responder = Answering(store, approve=False)
    outcome = await run_task(store, task.id, model, responder=responder)
    assert outcome.status is TaskStatus.COMPLETED
    (approval,) = responder.approvals
    assert approval.action["domain"] == "unlisted.test"
    decisions = [e.payload for e in await store.events(task.id) if e.type == "network.decision"]
    assert decisions and decisions[-1]["verdict"] == "deny"


async def test_running_out_of_steps_fails_with_a_reason(store: Store, tmp_path: Path) -> None:
    turn = {"tool_calls": [{"name": "list_files", "arguments": {}}]}
    task_id = await new_task(store, tmp_path, max_steps=2)
    outcome = await run_task(store, task_id, script(tmp_path, [turn, turn, turn]))
    assert outcome.status is TaskStatus.FAILED and outcome.exit_code == 1
    assert outcome.error is not None and "2 steps" in outcome.error


async def test_timeout_fails_with_124(store: Store, tmp_path: Path) -> None:
    model = script(
        tmp_path,
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 30"}}]},
            {"text": "never"},
        ],
    )
    task_id = await new_task(store, tmp_path)
    outcome = await run_task(store, task_id, model, options=TaskOptions(timeout=1.5))
    assert outcome.exit_code == 124
    assert (await store.get_task(task_id)).status is TaskStatus.FAILED


async def test_cancelling_records_cancelled_and_stops_the_command(
    store: Store, tmp_path: Path
) -> None:
    model = script(
        tmp_path,
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 33.3"}}]},
            {"text": "never"},
        ],
    )
    task_id = await new_task(store, tmp_path)
    running = asyncio.ensure_future(run_task(store, task_id, model))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if "tool.call" in await types(store, task_id):
            break
    await asyncio.sleep(0.2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (await store.get_task(task_id)).status is TaskStatus.CANCELLED
    assert not running_commands_with(b"33.3")


async def test_an_interrupted_task_resumes_from_its_transcript(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    model = script(
        tmp_path,
        [
            {
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "a.txt", "content": "1"}}
                ]
            },
            {
                "expect_tool_results": [{"contains": "Interrupted", "is_error": True}],
                "text": "Resumed after the interruption.",
            },
        ],
    )
    task_id = await new_task(store, folder)
    # Simulate a crash after the model asked for the tool but before it ran.
    await store.set_task_status(task_id, TaskStatus.RUNNING)
    await store.append_messages(
        task_id,
        [
            {"role": "user", "parts": [{"type": "text", "text": "do it"}]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "call_1_1", "name": "write_file", "arguments": "{}"}
                ],
            },
        ],
    )
    await store.set_task_status(task_id, TaskStatus.INTERRUPTED)
    outcome = await run_task(store, task_id, model)
    assert outcome.status is TaskStatus.COMPLETED
