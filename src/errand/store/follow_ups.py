"""The ``follow_ups`` table: the user's messages to a task, until its loop takes them in.

A follow-up is keyed by the sequence number of the ``message.user`` event that showed it, so
the order the loop takes them in is the order of the task's log. Taking them in appends them
to the transcript and marks them taken in the same transaction: a crash either side of it
neither loses nor repeats one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.schema import UtcDateTime, metadata

follow_ups = Table(
    "follow_ups",
    metadata,
    Column(
        "task_id",
        String(32),
        ForeignKey("tasks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("message", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("taken_at", UtcDateTime, nullable=True),
)

# Built once (see ``errand.store.tasks``): a running task asks it before every step.
_PENDING = (
    select(follow_ups.c.seq, follow_ups.c.message)
    .where(follow_ups.c.task_id == bindparam("task_id"), follow_ups.c.taken_at.is_(None))
    .order_by(follow_ups.c.seq)
)


async def insert(
    conn: AsyncConnection, task_id: str, seq: int, message_json: str, now: datetime
) -> None:
    """Keep an encoded message for the task, shown by its event number ``seq``."""
    await conn.execute(
        follow_ups.insert().values(task_id=task_id, seq=seq, message=message_json, created_at=now)
    )


async def pending(conn: AsyncConnection, task_id: str) -> list[tuple[int, str]]:
    """The task's follow-ups not yet taken in, as (seq, encoded message), in log order."""
    rows = await conn.execute(_PENDING, {"task_id": task_id})
    return [(int(row[0]), str(row[1])) for row in rows]


async def mark_taken(conn: AsyncConnection, task_id: str, seqs: list[int], now: datetime) -> None:
    await conn.execute(
        update(follow_ups)
        .where(follow_ups.c.task_id == task_id, follow_ups.c.seq.in_(seqs))
        .values(taken_at=now)
    )
