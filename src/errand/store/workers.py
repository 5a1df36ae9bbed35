"""The ``workers`` table: which runners are alive, where, and what they can run.

Every runner that claims tasks (``errand serve``'s own, each ``errand worker``) keeps a row
here with its heartbeat: ``alive_until`` is pushed forward like a task's lease, whether or
not it holds any task. An idle worker is thus as visible as a busy one, and a queued task
can say whether the worker it waits for is running at all. A runner that stops cleanly
deletes its row; one that dies leaves it, shown as stopped, until ``KEEP_STOPPED`` has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.schema import UtcDateTime, metadata
from errand.store.tasks import tasks
from errand.tasks import ACTIVE

KEEP_STOPPED = timedelta(days=1)
"""How long a runner that died without a word is still listed (as stopped)."""

workers = Table(
    "workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    # The worker labels whose tasks it runs, space-separated (labels hold no spaces).
    Column("labels", Text, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("alive_until", UtcDateTime, nullable=False),
    Index("ix_workers_alive_until", "alive_until"),
)


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A runner as its heartbeat last recorded it. ``running`` counts the tasks it holds
    (running, or waiting for their user); ``alive`` is False once its heartbeat is overdue."""

    id: str
    name: str
    labels: frozenset[str]
    host: str
    pid: int
    concurrency: int
    started_at: datetime
    alive_until: datetime
    running: int
    alive: bool


# Built once: every runner's heartbeat makes these, every few seconds.
_RENEW = (
    update(workers)
    .where(workers.c.id == bindparam("worker_id"))
    .values(alive_until=bindparam("alive_until"))
)
_FORGET_STOPPED = delete(workers).where(workers.c.alive_until < bindparam("stopped_before"))
_HOLDING = (
    select(func.count())
    .where(
        tasks.c.lease_owner == workers.c.id,
        tasks.c.status.in_([status.value for status in ACTIVE]),
    )
    .scalar_subquery()
)
_LISTING = select(workers, _HOLDING.label("running")).order_by(workers.c.name, workers.c.started_at)


async def renew(
    conn: AsyncConnection,
    *,
    worker_id: str,
    name: str,
    labels: frozenset[str],
    host: str,
    pid: int,
    concurrency: int,
    now: datetime,
    alive_until: datetime,
) -> None:
    """Record the runner alive until ``alive_until`` (adding its row the first time), and
    forget runners stopped for longer than ``KEEP_STOPPED``."""
    await conn.execute(_FORGET_STOPPED, {"stopped_before": now - KEEP_STOPPED})
    renewed = await conn.execute(_RENEW, {"worker_id": worker_id, "alive_until": alive_until})
    if renewed.rowcount:
        return
    await conn.execute(
        insert(workers).values(
            id=worker_id,
            name=name,
            labels=" ".join(sorted(labels)),
            host=host,
            pid=pid,
            concurrency=concurrency,
            started_at=now,
            alive_until=alive_until,
        )
    )


async def remove(conn: AsyncConnection, worker_id: str) -> None:
    await conn.execute(delete(workers).where(workers.c.id == worker_id))


async def listing(conn: AsyncConnection, *, now: datetime) -> list[WorkerRecord]:
    """Every runner recorded, by name, then oldest first."""
    return [_record(row, now) for row in await conn.execute(_LISTING)]


def _record(row: Row[tuple[object, ...]], now: datetime) -> WorkerRecord:
    m = row._mapping
    return WorkerRecord(
        id=m["id"],
        name=m["name"],
        labels=frozenset(str(m["labels"]).split()),
        host=m["host"],
        pid=int(m["pid"]),
        concurrency=int(m["concurrency"]),
        started_at=m["started_at"],
        alive_until=m["alive_until"],
        running=int(m["running"]),
        alive=m["alive_until"] > now,
    )
