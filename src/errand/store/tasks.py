"""The ``tasks`` table and the queries on it.

Functions here run inside a transaction their caller owns (the ``Store`` facade), so several
of them compose into one atomic write. The row also holds two counters, ``last_seq`` and
``message_count``: bumping them with ``UPDATE ... RETURNING`` both allocates the next event
sequence number (or transcript position) and locks the task's row, which is what keeps
numbering gapless when writers race, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    FromClause,
    Index,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from errand.store.errors import InvalidTransition, TaskNotFound
from errand.store.records import ALLOWED_TRANSITIONS, TaskRecord, TaskStatus
from errand.store.schema import UtcDateTime, metadata
from errand.tasks import TaskSpec

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("status", String(16), nullable=False),
    # ``model`` and ``source`` copy the spec's, for listing and filtering without parsing it.
    Column("model", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("spec", Text, nullable=False),
    # What the user should look at in a finished task (a JSON list of short sentences).
    Column("attention", Text, nullable=False, server_default="[]"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("last_seq", Integer, nullable=False, server_default="0"),
    Column("message_count", Integer, nullable=False, server_default="0"),
    # Which worker holds the task and until when (renewed by its heartbeat).
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UtcDateTime, nullable=True),
    # The worker that must run the task (its folders are there), copied from the spec
    # (``TaskSpec.runs_on``) so claims filter on it in SQL; NULL: any runner.
    Column("worker", String(128), nullable=True),
    Index("ix_tasks_status_id", "status", "id"),
    Index("ix_tasks_lease_expires_at", "lease_expires_at"),
)

# The statements every task's life runs most often, built once: building a statement and
# its cache key costs more Python than running it. The values are parameters.
_INSERT = tasks.insert()
_BY_ID = select(tasks).where(tasks.c.id == bindparam("task_id"))
_EXISTS = select(tasks.c.id).where(tasks.c.id == bindparam("task_id"))
_ADVANCE = {
    counter.name: update(tasks)
    .where(tasks.c.id == bindparam("task_id"))
    .values({counter.name: counter + bindparam("count", type_=Integer)})
    .returning(counter)
    for counter in (tasks.c.last_seq, tasks.c.message_count)
}
"""``UPDATE ... RETURNING`` of each counter: allocating a task's next event numbers or
transcript positions (see the module's opening)."""

UNFINISHED = (TaskStatus.RUNNING, TaskStatus.WAITING)
"""Statuses that mean a worker is attached; after a crash nobody is."""

LEASE_LOST = "Errand stopped while this task ran; resume it to continue"
"""The error of a task whose runner stopped renewing its lease (a crash, a lost host)."""


def to_record(row: Row[tuple[object, ...]], *, now: datetime | None = None) -> TaskRecord:
    """The task as the row holds it; given ``now``, as readers see it: a running or waiting
    task whose lease ran out is ``interrupted`` at once, before any process records it."""
    m = row._mapping
    status, error = TaskStatus(m["status"]), m["error"]
    expires = m["lease_expires_at"]
    if now is not None and status in UNFINISHED and expires is not None and expires < now:
        status, error = TaskStatus.INTERRUPTED, LEASE_LOST
    return TaskRecord(
        id=m["id"],
        title=m["title"],
        prompt=m["prompt"],
        status=status,
        spec=TaskSpec.parse(m["spec"]),
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        error=error,
        exit_code=m["exit_code"],
        last_seq=m["last_seq"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        attention=_sentences(m["attention"]),
    )


def _sentences(text: str | None) -> tuple[str, ...]:
    """The ``attention`` column as sentences (an unreadable value reads as none)."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


async def insert(
    conn: AsyncConnection,
    *,
    task_id: str,
    title: str,
    prompt: str,
    spec: TaskSpec,
    now: datetime,
) -> None:
    """Add a queued task with an empty log and transcript."""
    values = {
        "id": task_id,
        "title": title,
        "prompt": prompt,
        "status": TaskStatus.QUEUED.value,
        "model": spec.model,
        "source": spec.source.kind.value,
        "worker": spec.runs_on,
        "spec": spec.to_json(),
        "created_at": now,
        "last_seq": 0,
        "message_count": 0,
    }
    await conn.execute(_INSERT, values)


async def get(conn: AsyncConnection, task_id: str, *, now: datetime | None = None) -> TaskRecord:
    """The task (as readers see it at ``now``, when given: see :func:`to_record`).

    Raises ``TaskNotFound``."""
    row = (await conn.execute(_BY_ID, {"task_id": task_id})).first()
    if row is None:
        raise TaskNotFound(task_id)
    return to_record(row, now=now)


async def exists(conn: AsyncConnection, task_id: str) -> bool:
    found = await conn.execute(_EXISTS, {"task_id": task_id})
    return found.first() is not None


async def ids_with_prefix(conn: AsyncConnection, prefix: str, limit: int) -> list[str]:
    """Up to ``limit`` task ids that start with ``prefix``, in id order."""
    query = (
        select(tasks.c.id)
        .where(tasks.c.id.startswith(prefix, autoescape=True))
        .order_by(tasks.c.id)
        .limit(limit)
    )
    return [str(row[0]) for row in (await conn.execute(query)).all()]


def page(
    conn: Connection,
    *,
    statuses: Collection[TaskStatus],
    limit: int,
    before: str | None,
    after: str | None,
    now: datetime,
) -> list[TaskRecord]:
    """Up to ``limit`` tasks, newest first, as readers see them at ``now`` (a lapsed lease
    reads as ``interrupted``, in the filter too).

    ``before`` keeps tasks older than that id (the next page); ``after`` keeps tasks newer
    than it, taking the ones closest to it, so polling with the newest id seen never skips any.
    """
    rows = page_rows(
        conn, (tasks,), statuses=statuses, limit=limit, before=before, after=after, now=now
    )
    return [to_record(row, now=now) for row in rows]


def page_rows(
    conn: Connection,
    columns: Sequence[FromClause | ColumnElement[Any]],
    *,
    statuses: Collection[TaskStatus],
    limit: int,
    before: str | None,
    after: str | None,
    now: datetime,
) -> list[Row[Any]]:
    """The rows :func:`page` reads, selecting ``columns`` (``tasks`` and more of each task)."""
    query = _page_query(tuple(columns), frozenset(statuses), before is not None, after is not None)
    values = {"limit": limit, "before": before, "after": after, "now": now}
    rows = list(conn.execute(query, values).all())
    if after is not None:
        rows.reverse()
    return rows


@functools.lru_cache(maxsize=256)
def _page_query(
    columns: tuple[FromClause | ColumnElement[Any], ...],
    statuses: frozenset[TaskStatus],
    before: bool,
    after: bool,
) -> Select[Any]:
    """The statement of :func:`page_rows` for pages of one shape, built once.

    Building a statement and its cache key costs more than running it; the values
    (``limit``, ``before``, ``after``, ``now``) are parameters.
    """
    query = select(*columns)
    if statuses:
        query = query.where(_seen_in(statuses, bindparam("now", type_=UtcDateTime)))
    if before:
        query = query.where(tasks.c.id < bindparam("before"))
    if after:
        query = query.where(tasks.c.id > bindparam("after")).order_by(tasks.c.id.asc())
    else:
        query = query.order_by(tasks.c.id.desc())
    return query.limit(bindparam("limit", type_=Integer))


def _seen_in(statuses: Collection[TaskStatus], now: ColumnElement[datetime]) -> ColumnElement[bool]:
    """Whether a task reads as one of ``statuses`` at ``now`` (see :func:`to_record`)."""
    lapsed = and_(tasks.c.status.in_([s.value for s in UNFINISHED]), tasks.c.lease_expires_at < now)
    live = or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at >= now)
    plain = [s.value for s in statuses if s not in UNFINISHED]
    active = [s.value for s in statuses if s in UNFINISHED]
    wanted: list[ColumnElement[bool]] = []
    if plain:
        wanted.append(tasks.c.status.in_(plain))
    if active:
        wanted.append(and_(tasks.c.status.in_(active), live))
    if TaskStatus.INTERRUPTED in statuses:
        wanted.append(lapsed)
    return or_(*wanted)


async def transition(
    conn: AsyncConnection,
    task_id: str,
    status: TaskStatus,
    *,
    error: str | None,
    exit_code: int | None,
    now: datetime,
) -> tuple[TaskRecord, TaskStatus]:
    """Move a task to ``status`` and allocate the sequence number of its ``task.status`` event.

    Returns the updated task (its ``last_seq`` is the allocated number) and the status it had.
    Entering ``running`` stamps ``started_at`` once; a final status stamps ``finished_at``.
    ``error`` and ``exit_code`` replace the task's (None clears them).

    Raises:
        TaskNotFound: no such task.
        InvalidTransition: ``ALLOWED_TRANSITIONS`` forbids the move.
    """
    current = (await conn.execute(select(tasks.c.status).where(tasks.c.id == task_id))).first()
    if current is None:
        raise TaskNotFound(task_id)
    previous = TaskStatus(current[0])
    if status not in ALLOWED_TRANSITIONS[previous]:
        raise InvalidTransition(task_id, previous.value, status.value)
    values: dict[str, object] = {"status": status.value, "last_seq": tasks.c.last_seq + 1}
    if status is TaskStatus.RUNNING:
        values["started_at"] = func.coalesce(tasks.c.started_at, literal(now, UtcDateTime))
    if status.is_terminal:
        values["finished_at"] = now
    # The error and exit code are those of the status entered: a task that runs again no
    # longer carries the error of the stop it resumed from.
    values["error"] = error
    values["exit_code"] = exit_code
    if status not in UNFINISHED:
        values["lease_owner"] = None
        values["lease_expires_at"] = None
    # The status guard makes a concurrent writer (PostgreSQL) that got there first win cleanly.
    row = (
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.status == previous.value)
            .values(values)
            .returning(*tasks.c)
        )
    ).first()
    if row is None:
        latest = await get(conn, task_id)
        raise InvalidTransition(task_id, latest.status.value, status.value)
    return to_record(row), previous


async def status_for_update(conn: AsyncConnection, task_id: str) -> TaskStatus:
    """The task's status, its row locked until the transaction ends (PostgreSQL).

    Raises:
        TaskNotFound: no such task.
    """
    row = (
        await conn.execute(select(tasks.c.status).where(tasks.c.id == task_id).with_for_update())
    ).first()
    if row is None:
        raise TaskNotFound(task_id)
    return TaskStatus(row[0])


async def next_seq(conn: AsyncConnection, task_id: str, count: int = 1) -> int:
    """Allocate the task's next ``count`` event sequence numbers; returns the first.

    The row stays locked until commit, which is what serialises appends per task.

    Raises:
        TaskNotFound: no such task.
    """
    return await _advance(conn, task_id, tasks.c.last_seq, count)


async def reserve_positions(conn: AsyncConnection, task_id: str, count: int) -> int:
    """Reserve ``count`` transcript positions; returns the first (positions start at 1).

    Raises:
        TaskNotFound: no such task.
    """
    return await _advance(conn, task_id, tasks.c.message_count, count)


async def _advance(conn: AsyncConnection, task_id: str, counter: Column[int], count: int) -> int:
    """Add ``count`` to one of the task's counters in place; returns the first new value."""
    values = {"task_id": task_id, "count": count}
    row = (await conn.execute(_ADVANCE[counter.name], values)).first()
    if row is None:
        raise TaskNotFound(task_id)
    return int(row[0]) - count + 1


async def claim_next(
    conn: AsyncConnection,
    *,
    owner: str,
    expires_at: datetime,
    now: datetime,
    workers: Collection[str] = (),
    task_id: str | None = None,
) -> TaskRecord | None:
    """Move the oldest queued task (or ``task_id``, if it is queued) to ``running`` under a
    lease for ``owner``, or None.

    Without ``task_id`` only tasks this runner may run are taken: those with no place (no
    folders) and those placed on one of ``workers`` (the folders' labels it serves); tasks
    whose folders are on another worker are skipped in the query, never claimed and let go.
    The queued row is picked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL): racing workers
    each get a different task without waiting on each other. On SQLite the single writer
    already serialises claims. ``last_seq`` is bumped for the caller's ``task.status`` event.
    """
    queued = select(tasks.c.id).where(tasks.c.status == TaskStatus.QUEUED.value)
    if task_id is not None:
        queued = queued.where(tasks.c.id == task_id)
    else:
        anywhere = tasks.c.worker.is_(None)
        queued = queued.where(or_(anywhere, tasks.c.worker.in_(list(workers))))
    oldest = (
        queued.order_by(tasks.c.id).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    )
    row = (
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == oldest, tasks.c.status == TaskStatus.QUEUED.value)
            .values(
                status=TaskStatus.RUNNING.value,
                started_at=func.coalesce(tasks.c.started_at, literal(now, UtcDateTime)),
                lease_owner=owner,
                lease_expires_at=expires_at,
                last_seq=tasks.c.last_seq + 1,
            )
            .returning(*tasks.c)
        )
    ).first()
    return None if row is None else to_record(row)


async def renew_leases(
    conn: AsyncConnection, *, owner: str, expires_at: datetime, now: datetime
) -> set[str]:
    """Extend every lease ``owner`` holds; returns the ids of the tasks it still holds.

    A lease that ran out is not renewed: readers have shown its task interrupted since, and
    it stays so (its runner must stop)."""
    rows = await conn.execute(
        update(tasks)
        .where(
            tasks.c.lease_owner == owner,
            tasks.c.status.in_([status.value for status in UNFINISHED]),
            tasks.c.lease_expires_at >= now,
        )
        .values(lease_expires_at=expires_at)
        .returning(tasks.c.id)
    )
    return {row[0] for row in rows}


async def expired_lease_ids(
    conn: AsyncConnection, *, now: datetime, unleased: bool = False, task_id: str | None = None
) -> Sequence[str]:
    """Running or waiting tasks whose lease ran out (with ``unleased``, also those run
    without a lease), locked for this transaction (others noticing at once skip them);
    only ``task_id``'s when given."""
    lapsed = tasks.c.lease_expires_at < now
    if unleased:
        lapsed = or_(lapsed, tasks.c.lease_expires_at.is_(None))
    query = select(tasks.c.id).where(
        tasks.c.status.in_([status.value for status in UNFINISHED]), lapsed
    )
    if task_id is not None:
        query = query.where(tasks.c.id == task_id)
    rows = await conn.execute(query.order_by(tasks.c.id).with_for_update(skip_locked=True))
    return [row[0] for row in rows]
