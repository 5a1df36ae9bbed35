"""Removing old finished tasks, and giving their space back.

A task that ended (completed, failed, cancelled) before a cutoff is deleted with everything
that belongs to it: its events, transcript, approvals, questions and usage go with it by the
schema's ``ON DELETE CASCADE``. Tasks that have not ended (queued, running, waiting,
interrupted and resumable) are never deleted, however old. SQLite is then compacted with
``VACUUM``; PostgreSQL's autovacuum reclaims the space by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from errand.store.database import BUSY_TIMEOUT_MS
from errand.store.records import TaskStatus
from errand.store.tasks import tasks

FINISHED = tuple(status.value for status in TaskStatus if status.is_terminal)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune did: tasks deleted, and older tasks kept because they have not ended."""

    deleted: int
    kept_unfinished: int


async def delete_finished_before(conn: AsyncConnection, cutoff: datetime) -> PruneResult:
    """Delete tasks that ended before ``cutoff`` (with what cascades); count those kept."""
    kept = (
        await conn.execute(
            select(func.count())
            .select_from(tasks)
            .where(tasks.c.created_at < cutoff, tasks.c.status.not_in(FINISHED))
        )
    ).scalar_one()
    gone = await conn.execute(
        delete(tasks).where(tasks.c.status.in_(FINISHED), tasks.c.finished_at < cutoff)
    )
    return PruneResult(deleted=int(gone.rowcount or 0), kept_unfinished=int(kept))


async def compact(engine: AsyncEngine) -> None:
    """Give freed pages back to the file system (SQLite ``VACUUM``; nothing on PostgreSQL).

    VACUUM rewrites the whole file, which can take seconds, and may wait for another
    process's write: it gets a connection of its own on aiosqlite's thread (the store's own
    run on the event loop), in autocommit mode, since VACUUM cannot run in a transaction.
    """
    if engine.dialect.name != "sqlite":
        return
    path = str(engine.url.database)
    wait = BUSY_TIMEOUT_MS / 1000
    async with aiosqlite.connect(path, isolation_level=None, timeout=wait) as driver:
        await driver.execute("VACUUM")
        # In WAL mode the compacted pages reach the file only at a checkpoint.
        await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
