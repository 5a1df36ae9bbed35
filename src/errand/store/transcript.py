"""The ``messages`` table: the model transcript of each task, in order.

A task that was interrupted resumes by reading its transcript back; messages are canonical
message objects (the agent's typed messages, dumped to JSON) and are never rewritten.
Positions come from the task row's ``message_count``, allocated in the writing transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store import tasks
from errand.store.records import JsonObject
from errand.store.schema import UtcDateTime, decode_object, metadata

messages = Table(
    "messages",
    metadata,
    Column(
        "task_id",
        String(32),
        ForeignKey("tasks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("message", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

_INSERT = messages.insert()
"""Built once (see ``errand.store.tasks``): every message is inserted with it."""


async def append(
    conn: AsyncConnection, task_id: str, messages_json: Sequence[str], at: datetime
) -> int:
    """Append encoded messages; returns how many the transcript holds now.

    Raises:
        TaskNotFound: no such task.
    """
    first = await tasks.reserve_positions(conn, task_id, len(messages_json))
    await conn.execute(
        _INSERT,
        [
            {"task_id": task_id, "position": first + offset, "message": text, "at": at}
            for offset, text in enumerate(messages_json)
        ],
    )
    return first + len(messages_json) - 1


async def read(conn: AsyncConnection, task_id: str) -> list[JsonObject]:
    rows = await conn.execute(
        select(messages.c.message)
        .where(messages.c.task_id == task_id)
        .order_by(messages.c.position)
    )
    return [decode_object(row[0]) for row in rows]
