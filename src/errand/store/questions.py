"""The ``questions`` table: what the agent asked the user, and the answer.

Like approvals, the first answer wins: answering is a conditional update on ``pending``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Row, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.errors import AlreadyAnswered, QuestionNotFound
from errand.store.records import QuestionRecord, QuestionStatus
from errand.store.schema import UtcDateTime, metadata

questions = Table(
    "questions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("task_id", String(32), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("answer", Text, nullable=True),
    Column("answered_by", String(200), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime, nullable=True),
    Index("ix_questions_task_id_status", "task_id", "status"),
)


def to_record(row: Row[tuple[object, ...]]) -> QuestionRecord:
    m = row._mapping
    return QuestionRecord(
        id=m["id"],
        task_id=m["task_id"],
        text=m["text"],
        status=QuestionStatus(m["status"]),
        answer=m["answer"],
        answered_by=m["answered_by"],
        created_at=m["created_at"],
        answered_at=m["answered_at"],
    )


async def insert(
    conn: AsyncConnection, *, question_id: str, task_id: str, text: str, now: datetime
) -> QuestionRecord:
    values = {
        "id": question_id,
        "task_id": task_id,
        "text": text,
        "status": QuestionStatus.PENDING.value,
        "created_at": now,
    }
    row = (await conn.execute(questions.insert().values(values).returning(*questions.c))).one()
    return to_record(row)


async def get(conn: AsyncConnection, question_id: str) -> QuestionRecord:
    """Raises ``QuestionNotFound``."""
    row = (await conn.execute(select(questions).where(questions.c.id == question_id))).first()
    if row is None:
        raise QuestionNotFound(question_id)
    return to_record(row)


async def answer(
    conn: AsyncConnection,
    question_id: str,
    text: str,
    *,
    answered_by: str | None,
    now: datetime,
) -> QuestionRecord:
    """Record the first answer to a pending question.

    Raises:
        QuestionNotFound: no such question.
        AlreadyAnswered: it was answered or cancelled before.
    """
    row = (
        await conn.execute(
            update(questions)
            .where(
                questions.c.id == question_id,
                questions.c.status == QuestionStatus.PENDING.value,
            )
            .values(
                status=QuestionStatus.ANSWERED.value,
                answer=text,
                answered_by=answered_by,
                answered_at=now,
            )
            .returning(*questions.c)
        )
    ).first()
    if row is not None:
        return to_record(row)
    current = await get(conn, question_id)
    raise AlreadyAnswered(question_id, current.status.value)


async def cancel_pending(conn: AsyncConnection, task_id: str, *, now: datetime) -> int:
    """Close the task's pending questions (its task ended); returns how many."""
    result = await conn.execute(
        update(questions)
        .where(
            questions.c.task_id == task_id,
            questions.c.status == QuestionStatus.PENDING.value,
        )
        .values(status=QuestionStatus.CANCELLED.value, answered_at=now)
    )
    return int(result.rowcount)


async def listing(
    conn: AsyncConnection,
    *,
    task_id: str | None,
    statuses: Sequence[QuestionStatus],
    limit: int,
) -> list[QuestionRecord]:
    """Oldest first, up to ``limit``."""
    query = select(questions)
    if task_id is not None:
        query = query.where(questions.c.task_id == task_id)
    if statuses:
        query = query.where(questions.c.status.in_([status.value for status in statuses]))
    rows = await conn.execute(query.order_by(questions.c.id).limit(limit))
    return [to_record(row) for row in rows]
