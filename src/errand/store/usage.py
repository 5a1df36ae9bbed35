"""The ``usage`` table: tokens per model call, summed per task on demand."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.records import UsageRecord, UsageTotals
from errand.store.schema import UtcDateTime, metadata

usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "task_id",
        String(32),
        ForeignKey("tasks.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("model", String(200), nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)


async def insert(conn: AsyncConnection, record: UsageRecord) -> None:
    await conn.execute(
        usage.insert().values(
            task_id=record.task_id,
            model=record.model,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            at=record.at,
        )
    )


async def totals(conn: AsyncConnection, task_id: str) -> UsageTotals:
    row = (
        await conn.execute(
            select(
                func.count(usage.c.id),
                func.coalesce(func.sum(usage.c.input_tokens), 0),
                func.coalesce(func.sum(usage.c.output_tokens), 0),
            ).where(usage.c.task_id == task_id)
        )
    ).one()
    return UsageTotals(calls=int(row[0]), input_tokens=int(row[1]), output_tokens=int(row[2]))
