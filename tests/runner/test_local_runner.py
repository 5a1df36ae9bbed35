"""The in-process runner over a real store, real sandboxes and the scripted model."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from errand.access import add_folder
from errand.intake import FolderChoice, Intake, IntakeSettings, TaskRequest
from errand.models import ModelAdapter, ScriptedModel
from errand.priority import Foreground
from errand.runner import LocalRunner
from errand.sandbox import FolderMode
from errand.store import Store, TaskStatus, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

SLOW = [
    {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 0.5"}}]},
    {"text": "done"},
]


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


def scripts(tmp_path: Path, turns: list[Any]) -> Any:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
    path.write_text(json.dumps({"turns": turns}), encoding="utf-8")

    def factory(spec: str) -> ModelAdapter:
        return ScriptedModel.from_file(path)

    return factory


async def statuses(store: Store, ids: list[str]) -> set[TaskStatus]:
    return {(await store.get_task(t)).status for t in ids}


async def wait_status(
    store: Store, task_id: str, *statuses: TaskStatus, timeout: float = 20
) -> TaskStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = (await store.get_task(task_id)).status
        if status in statuses:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"task stayed {status}")
        await asyncio.sleep(0.05)


async def test_queued_tasks_run_at_most_concurrency_at_a_time(store: Store, tmp_path: Path) -> None:
    runner = LocalRunner(store, concurrency=2, model_factory=scripts(tmp_path, SLOW))
    await runner.start()
    ids = [(await store.create_task(f"t{i}", spec=TaskSpec(model="script:x"))).id for i in range(4)]
    for task_id in ids:
        await runner.submit(task_id)
    peak = 0
    for _ in range(200):
        peak = max(peak, len(runner.running))
        if await statuses(store, ids) == {TaskStatus.COMPLETED}:
            break
        await asyncio.sleep(0.02)
    await runner.aclose()
    assert peak == 2
    assert await statuses(store, ids) == {TaskStatus.COMPLETED}


async def test_cancel_running_and_queued(store: Store, tmp_path: Path) -> None:
    turns = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 30"}}]},
        {"text": "never"},
    ]
    runner = LocalRunner(store, concurrency=1, model_factory=scripts(tmp_path, turns))
    await runner.start()
    first = (await store.create_task("first", spec=TaskSpec(model="script:x"))).id
    second = (await store.create_task("second", spec=TaskSpec(model="script:x"))).id
    await runner.submit(first)
    await wait_status(store, first, TaskStatus.RUNNING)
    assert await runner.cancel(second) is True
    assert await runner.cancel(first) is True
    assert (await store.get_task(first)).status is TaskStatus.CANCELLED
    assert (await store.get_task(second)).status is TaskStatus.CANCELLED
    assert await runner.cancel(first) is False
    await runner.aclose()


async def test_a_follow_up_reopens_a_finished_task(store: Store, tmp_path: Path) -> None:
    turns = [{"text": "First answer."}, {"text": "Second answer, to the follow-up."}]
    runner = LocalRunner(store, model_factory=scripts(tmp_path, turns))
    await runner.start()
    task_id = (await store.create_task("hello", spec=TaskSpec(model="script:x"))).id
    await runner.submit(task_id)
    await wait_status(store, task_id, TaskStatus.COMPLETED)
    await runner.follow_up(task_id, "and then?")
    await wait_status(store, task_id, TaskStatus.RUNNING, TaskStatus.COMPLETED)
    await wait_status(store, task_id, TaskStatus.COMPLETED)
    await runner.aclose()
    roles = [m["role"] for m in await store.transcript(task_id)]
    assert roles == ["user", "assistant", "user", "assistant"]
    types = [e.type for e in await store.events(task_id)]
    assert "message.user" in types


async def test_a_follow_up_reaches_a_running_task_before_its_next_step(
    store: Store, tmp_path: Path
) -> None:
    # The first command waits for a file the test creates once the follow-up is stored, so
    # the follow-up surely arrives mid-step, however fast or slow the machine.
    signal = tmp_path / "signal"
    signal.mkdir()
    await add_folder(store, signal, name="signal", mode=FolderMode.READ_ONLY)
    wait = 'until [ -e "$HOME/mnt/signal/go" ]; do sleep 0.05; done'
    turns = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": wait}}]},
        {"text": "saw it"},
    ]
    factory = scripts(tmp_path, turns)
    settings = IntakeSettings(default_model="script:x", allow_scripted_models=True)
    task_id = (
        await Intake(store, config=settings).submit(
            TaskRequest(prompt="hello", folders=[FolderChoice("signal", FolderMode.READ_ONLY)])
        )
    ).id
    runner = LocalRunner(store, model_factory=factory)
    await runner.start()
    await runner.submit(task_id)
    seen = 0
    while not any(e.type == "tool.call" for e in await store.events(task_id)):
        found = await store.wait_for_events(task_id, seen, timeout=30)
        assert found, "the task never called its tool"
        seen = found[-1].seq
    await runner.follow_up(task_id, "also do this")
    (signal / "go").touch()
    await wait_status(store, task_id, TaskStatus.COMPLETED)
    await runner.aclose()
    roles = [m["role"] for m in await store.transcript(task_id)]
    assert roles == ["user", "assistant", "tool", "user", "assistant"]


async def test_shutdown_interrupts_and_resume_continues(store: Store, tmp_path: Path) -> None:
    turns = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 30"}}]},
        {"expect_tool_results": [{"is_error": True}], "text": "resumed"},
    ]
    factory = scripts(tmp_path, turns)
    runner = LocalRunner(store, model_factory=factory)
    await runner.start()
    task_id = (await store.create_task("long", spec=TaskSpec(model="script:x"))).id
    await runner.submit(task_id)
    for _ in range(100):
        if "tool.call" in [e.type for e in await store.events(task_id)]:
            break
        await asyncio.sleep(0.05)
    await runner.aclose()
    assert (await store.get_task(task_id)).status is TaskStatus.INTERRUPTED
    again = LocalRunner(store, model_factory=factory)
    await again.start()
    assert (await store.get_task(task_id)).status is TaskStatus.INTERRUPTED
    await again.resume(task_id)
    await wait_status(store, task_id, TaskStatus.COMPLETED)
    await again.aclose()


async def test_start_marks_tasks_left_running_interrupted(store: Store, tmp_path: Path) -> None:
    task_id = (await store.create_task("crashed", spec=TaskSpec(model="script:x"))).id
    await store.set_task_status(task_id, TaskStatus.RUNNING)
    runner = LocalRunner(store, model_factory=scripts(tmp_path, SLOW))
    await runner.start()
    assert (await store.get_task(task_id)).status is TaskStatus.INTERRUPTED
    await runner.aclose()


async def test_an_unknown_model_fails_the_task(store: Store) -> None:
    runner = LocalRunner(store)
    await runner.start()
    task_id = (await store.create_task("x", spec=TaskSpec(model="nosuch:model"))).id
    await runner.submit(task_id)
    assert await wait_status(store, task_id, TaskStatus.FAILED) is TaskStatus.FAILED
    await runner.aclose()


class _AnswersLater:
    """A responder like a phone's: told of each request, it answers through the store later."""

    async def approval_requested(self, approval: Any) -> None:
        return None

    async def question_asked(self, question: Any) -> None:
        return None


async def test_tasks_waiting_for_their_user_leave_room_for_others(
    store: Store, tmp_path: Path
) -> None:
    asks = tmp_path / "asks.json"
    asks.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "ask_user", "arguments": {"question": "Which?"}}]},
                    {"text": "Thanks."},
                ]
            }
        ),
        encoding="utf-8",
    )
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"turns": [{"text": "Here you are."}]}), encoding="utf-8")

    def factory(spec: str) -> ModelAdapter:
        return ScriptedModel.from_file(asks if spec == "script:asks" else answers)

    runner = LocalRunner(
        store,
        concurrency=1,
        model_factory=factory,
        responder_factory=lambda task: _AnswersLater(),
    )
    await runner.start()
    try:
        asking = [
            (await store.create_task(f"asks {i}", spec=TaskSpec(model="script:asks"))).id
            for i in range(2)
        ]
        for task_id in asking:
            await runner.submit(task_id)
            await wait_status(store, task_id, TaskStatus.WAITING)
        # Two unanswered questions on a runner of one: the next task still runs.
        plain = (await store.create_task("plain", spec=TaskSpec(model="script:plain"))).id
        await runner.submit(plain)
        assert await wait_status(store, plain, TaskStatus.COMPLETED) is TaskStatus.COMPLETED
        for task_id in asking:
            (question,) = await store.list_questions(task_id=task_id)
            await store.answer_question(question.id, "the blue one")
        for task_id in asking:
            assert await wait_status(store, task_id, TaskStatus.COMPLETED) is TaskStatus.COMPLETED
    finally:
        await runner.aclose()


async def test_tasks_let_the_gateways_requests_go_first(store: Store, tmp_path: Path) -> None:
    foreground = Foreground(max_delay=120, fresh_for=120)
    runner = LocalRunner(
        store, model_factory=scripts(tmp_path, [{"text": "done"}]), foreground=foreground
    )
    await runner.start()
    answering = foreground.begin()
    task_id = (await store.create_task("later", spec=TaskSpec(model="script:x"))).id
    await runner.submit(task_id)
    for _ in range(1000):
        if foreground.deferred:
            break
        await asyncio.sleep(0.005)
    assert foreground.deferred == 1  # its claim waits for the request
    assert (await store.get_task(task_id)).status is TaskStatus.QUEUED
    foreground.end(answering)
    await wait_status(store, task_id, TaskStatus.COMPLETED)
    await runner.aclose()
