"""A task waiting for its user: shown waiting while any request is open, whichever ends first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.agent import TaskUser
from errand.store import QuestionRecord, QuestionStatus, Store, TaskStatus, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite


class _AnswersLater:
    async def approval_requested(self, approval: object) -> None:
        return None

    async def question_asked(self, question: QuestionRecord) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


async def settles(store: Store, task_id: str, pending: int, status: TaskStatus) -> bool:
    """Whether ``pending`` questions are open and the task shows ``status``, soon."""
    for _ in range(500):
        questions = await store.list_questions(task_id=task_id, status=QuestionStatus.PENDING)
        if len(questions) == pending and (await store.get_task(task_id)).status is status:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_the_task_shows_waiting_until_its_last_open_request_is_settled(
    store: Store,
) -> None:
    task = await store.create_task("two at once", spec=TaskSpec(model="script:x"))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    waiting: list[bool] = []
    user = TaskUser(
        store,
        task.id,
        _AnswersLater(),
        auto_approve=False,
        approval_timeout=60,
        question_timeout=60,
        waiting=waiting.append,
    )
    first = asyncio.ensure_future(user.ask("Which one?"))
    second = asyncio.ensure_future(user.ask("And the colour?"))
    assert await settles(store, task.id, 2, TaskStatus.WAITING)
    one, _ = await store.list_questions(task_id=task.id)
    await store.answer_question(one.id, "the first")
    assert await first == "the first"
    # The first answer's wait is over; the other still holds the task waiting.
    assert (await store.get_task(task.id)).status is TaskStatus.WAITING
    assert waiting[-1] is True
    (other,) = await store.list_questions(task_id=task.id, status=QuestionStatus.PENDING)
    await store.answer_question(other.id, "blue")
    assert await second == "blue"
    assert (await store.get_task(task.id)).status is TaskStatus.RUNNING
    assert waiting[-1] is False
