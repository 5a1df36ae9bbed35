"""The ``events`` table: each task's append-only log.

The primary key is ``(task_id, seq)``; ``seq`` comes from the task row's counter
(``tasks.next_seq``) inside the same transaction as the insert, so numbers start at 1, never
repeat and never skip, whoever appends and however many at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, Row, String, Table, Text, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store import tasks
from errand.store.errors import InvalidPayload
from errand.store.records import EventRecord
from errand.store.schema import UtcDateTime, decode_object, metadata

events = Table(
    "events",
    metadata,
    Column(
        "task_id",
        String(32),
        ForeignKey("tasks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Built once (see ``errand.store.tasks``): every event is inserted with the first, and
# every stream and waiting runner reads with the second.
_INSERT = events.insert()
_AFTER = (
    select(events)
    .where(events.c.task_id == bindparam("task_id"), events.c.seq > bindparam("after_seq"))
    .order_by(events.c.seq)
    .limit(bindparam("limit", type_=Integer))
)

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_TYPE_LENGTH = 64


STORE_WRITTEN_TYPES = {
    "task.created": "create_task",
    "task.status": "set_task_status",
    "approval.requested": "create_approval",
    "approval.decided": "decide_approval",
    "question.asked": "create_question",
    "question.answered": "answer_question",
    "usage": "record_step",
    "task.cancel_requested": "request_cancel",
    "task.follow_up": "request_follow_up",
}
"""Event types the store writes itself, with the method that writes each."""


def check_type(event_type: str) -> None:
    """Accept dotted lowercase names such as ``tool.call`` that the store does not own.

    Raises:
        InvalidPayload: a malformed name (a typo should fail loudly, not pollute the log), or
            one of ``STORE_WRITTEN_TYPES`` (its rows and its log entry must agree).
    """
    if len(event_type) > MAX_TYPE_LENGTH or not _EVENT_TYPE.match(event_type):
        raise InvalidPayload(
            f"event type {event_type!r} must be dotted lowercase words, e.g. 'tool.call'"
        )
    owner = STORE_WRITTEN_TYPES.get(event_type)
    if owner is not None:
        raise InvalidPayload(f"{event_type!r} events are written by Store.{owner}; call that")


def to_record(row: Row[tuple[object, ...]]) -> EventRecord:
    m = row._mapping
    return EventRecord(
        task_id=m["task_id"],
        seq=m["seq"],
        type=m["type"],
        payload=decode_object(m["payload"]),
        at=m["at"],
    )


async def insert_at(
    conn: AsyncConnection, task_id: str, seq: int, event_type: str, payload_json: str, at: datetime
) -> EventRecord:
    """Insert an event whose ``seq`` the caller already allocated in this transaction."""
    row = {"task_id": task_id, "seq": seq, "type": event_type, "payload": payload_json, "at": at}
    await conn.execute(_INSERT, row)
    return EventRecord(
        task_id=task_id, seq=seq, type=event_type, payload=decode_object(payload_json), at=at
    )


async def append(
    conn: AsyncConnection, task_id: str, event_type: str, payload_json: str, at: datetime
) -> EventRecord:
    """Allocate the next ``seq`` and insert the event: two statements, no reads.

    Raises:
        TaskNotFound: no such task.
    """
    seq = await tasks.next_seq(conn, task_id)
    return await insert_at(conn, task_id, seq, event_type, payload_json, at)


async def append_many(
    conn: AsyncConnection,
    task_id: str,
    items: Sequence[tuple[str, str]],
    at: datetime,
) -> list[EventRecord]:
    """Append ``(type, payload_json)`` items with consecutive numbers: two statements in all.

    Raises:
        TaskNotFound: no such task.
    """
    first = await tasks.next_seq(conn, task_id, len(items))
    rows = [
        {"task_id": task_id, "seq": first + offset, "type": kind, "payload": text, "at": at}
        for offset, (kind, text) in enumerate(items)
    ]
    await conn.execute(_INSERT, rows)
    return [
        EventRecord(
            task_id=task_id,
            seq=first + offset,
            type=kind,
            payload=decode_object(text),
            at=at,
        )
        for offset, (kind, text) in enumerate(items)
    ]


async def after(
    conn: AsyncConnection, task_id: str, after_seq: int, limit: int
) -> list[EventRecord]:
    """Up to ``limit`` events with ``seq > after_seq``, in order."""
    values = {"task_id": task_id, "after_seq": after_seq, "limit": limit}
    rows = await conn.execute(_AFTER, values)
    return [to_record(row) for row in rows]
