"""Questions the agent asks: stored, answered once, closed when the task ends."""

from __future__ import annotations

import asyncio

import pytest

from errand.store import (
    AlreadyAnswered,
    InvalidPayload,
    QuestionNotFound,
    QuestionStatus,
    Store,
    TaskNotFound,
    TaskStatus,
)
from errand.tasks import TaskSpec

MODEL = "script:turns.json"


async def test_a_question_is_asked_answered_and_logged(store: Store) -> None:
    task = await store.create_task("ask me", spec=TaskSpec(model=MODEL))
    question = await store.create_question(task.id, "Which folder holds the invoices?")
    assert question.status is QuestionStatus.PENDING and question.answer is None
    answered = await store.answer_question(question.id, "~/Documents/bills", answered_by="phone")
    assert (answered.status, answered.answer) == (QuestionStatus.ANSWERED, "~/Documents/bills")
    assert answered.answered_at is not None
    log = await store.events(task.id)
    assert [e.type for e in log[-2:]] == ["question.asked", "question.answered"]
    assert log[-1].payload["answer"] == "~/Documents/bills"


async def test_only_the_first_answer_counts(store: Store) -> None:
    task = await store.create_task("race", spec=TaskSpec(model=MODEL))
    question = await store.create_question(task.id, "Yes or no?")

    async def answer(text: str) -> bool:
        try:
            await store.answer_question(question.id, text)
        except AlreadyAnswered:
            return False
        return True

    outcomes = await asyncio.gather(*(answer(f"answer {n}") for n in range(10)))
    assert outcomes.count(True) == 1
    stored = await store.get_question(question.id)
    assert stored.answer == f"answer {outcomes.index(True)}"


async def test_ending_a_task_cancels_its_open_questions(store: Store) -> None:
    task = await store.create_task("ends", spec=TaskSpec(model=MODEL))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    question = await store.create_question(task.id, "Still there?")
    await store.set_task_status(task.id, TaskStatus.FAILED, error="gave up")
    assert (await store.get_question(question.id)).status is QuestionStatus.CANCELLED
    with pytest.raises(AlreadyAnswered):
        await store.answer_question(question.id, "yes")


async def test_listing_questions_by_task_and_status(store: Store) -> None:
    task = await store.create_task("list", spec=TaskSpec(model=MODEL))
    first = await store.create_question(task.id, "one?")
    second = await store.create_question(task.id, "two?")
    await store.answer_question(first.id, "1")
    pending = await store.list_questions(task_id=task.id, status=QuestionStatus.PENDING)
    assert [q.id for q in pending] == [second.id]


async def test_bad_question_input_changes_nothing(store: Store) -> None:
    task = await store.create_task("strict", spec=TaskSpec(model=MODEL))
    with pytest.raises(TaskNotFound):
        await store.create_question("missing", "hello?")
    with pytest.raises(InvalidPayload):
        await store.create_question(task.id, "  ")
    with pytest.raises(QuestionNotFound):
        await store.answer_question("missing", "x")
    assert await store.list_questions() == []
    assert len(await store.events(task.id)) == 1
