"""The ``approvals`` table: risky steps that wait for the user's decision.

A decision is one conditional ``UPDATE ... WHERE status = 'pending'``: of two racing
deciders exactly one changes the row, and the other is told the approval is already decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Row, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.errors import AlreadyDecided, ApprovalExpired, ApprovalNotFound
from errand.store.records import ApprovalRecord, ApprovalStatus
from errand.store.schema import UtcDateTime, decode_object, metadata

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("task_id", String(32), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("tool_call_id", String(200), nullable=False),
    Column("action", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("reason", Text, nullable=True),
    Index("ix_approvals_task_id_status", "task_id", "status"),
    Index("ix_approvals_status_expires_at", "status", "expires_at"),
)


def to_record(row: Row[tuple[object, ...]]) -> ApprovalRecord:
    m = row._mapping
    return ApprovalRecord(
        id=m["id"],
        task_id=m["task_id"],
        tool_call_id=m["tool_call_id"],
        action=decode_object(m["action"]),
        digest=m["digest"],
        status=ApprovalStatus(m["status"]),
        decided_by=m["decided_by"],
        created_at=m["created_at"],
        decided_at=m["decided_at"],
        expires_at=m["expires_at"],
        reason=m["reason"],
    )


async def insert(
    conn: AsyncConnection,
    *,
    approval_id: str,
    task_id: str,
    tool_call_id: str,
    action_json: str,
    digest: str,
    now: datetime,
    expires_at: datetime | None,
) -> ApprovalRecord:
    values = {
        "id": approval_id,
        "task_id": task_id,
        "tool_call_id": tool_call_id,
        "action": action_json,
        "digest": digest,
        "status": ApprovalStatus.PENDING.value,
        "created_at": now,
        "expires_at": expires_at,
    }
    row = (await conn.execute(approvals.insert().values(values).returning(*approvals.c))).one()
    return to_record(row)


async def get(conn: AsyncConnection, approval_id: str) -> ApprovalRecord:
    """Raises ``ApprovalNotFound``."""
    row = (await conn.execute(select(approvals).where(approvals.c.id == approval_id))).first()
    if row is None:
        raise ApprovalNotFound(approval_id)
    return to_record(row)


async def decide(
    conn: AsyncConnection,
    approval_id: str,
    status: ApprovalStatus,
    *,
    decided_by: str,
    now: datetime,
    reason: str | None = None,
) -> ApprovalRecord:
    """Record the first decision on a pending, unexpired approval (with the user's
    ``reason`` for a denial, if they gave one).

    Raises:
        ApprovalNotFound: no such approval.
        ApprovalExpired: its deadline passed while it was pending (nothing is written here;
            the caller records the expiry with ``expire`` in a transaction of its own).
        AlreadyDecided: somebody decided first.
    """
    pending = approvals.c.status == ApprovalStatus.PENDING.value
    in_time = (approvals.c.expires_at.is_(None)) | (approvals.c.expires_at > now)
    row = (
        await conn.execute(
            update(approvals)
            .where(approvals.c.id == approval_id, pending, in_time)
            .values(status=status.value, decided_by=decided_by, decided_at=now, reason=reason)
            .returning(*approvals.c)
        )
    ).first()
    if row is not None:
        return to_record(row)
    current = await get(conn, approval_id)
    if current.status is ApprovalStatus.PENDING:
        raise ApprovalExpired(approval_id, ApprovalStatus.EXPIRED.value)
    raise AlreadyDecided(approval_id, current.status.value)


async def expire(
    conn: AsyncConnection,
    *,
    now: datetime,
    task_id: str | None = None,
    approval_id: str | None = None,
    only_overdue: bool = True,
    decided_by: str | None = None,
) -> list[ApprovalRecord]:
    """Mark pending approvals expired and return them.

    ``only_overdue`` keeps those whose deadline passed; without it every pending approval
    of ``task_id`` expires (its task stopped, so nobody will act on the answer; the caller
    then says so in ``decided_by``).
    """
    query = update(approvals).where(approvals.c.status == ApprovalStatus.PENDING.value)
    if only_overdue:
        query = query.where(approvals.c.expires_at.is_not(None), approvals.c.expires_at <= now)
    if task_id is not None:
        query = query.where(approvals.c.task_id == task_id)
    if approval_id is not None:
        query = query.where(approvals.c.id == approval_id)
    rows = await conn.execute(
        query.values(
            status=ApprovalStatus.EXPIRED.value, decided_by=decided_by, decided_at=now
        ).returning(*approvals.c)
    )
    return sorted((to_record(row) for row in rows), key=lambda record: record.id)


async def listing(
    conn: AsyncConnection,
    *,
    task_id: str | None,
    statuses: Sequence[ApprovalStatus],
    limit: int,
) -> list[ApprovalRecord]:
    """Oldest first, up to ``limit``."""
    query = select(approvals)
    if task_id is not None:
        query = query.where(approvals.c.task_id == task_id)
    if statuses:
        query = query.where(approvals.c.status.in_([status.value for status in statuses]))
    rows = await conn.execute(query.order_by(approvals.c.id).limit(limit))
    return [to_record(row) for row in rows]
