"""Tables for automation: schedules and their runs, inbound hooks, outbound webhooks, outbox.

Functions here run inside a transaction their caller owns (``AutomationStore`` or the
``Store`` itself). The one the ``Store`` calls is :func:`on_task_status`: it runs in the
same transaction as every task status change and writes what that change causes (webhook
deliveries, a schedule run's outcome, a notification record), so a crash can never keep
the status and lose the delivery, or the other way round.

Secrets (hook and endpoint signing secrets) are stored as they are: the Standard Webhooks
scheme needs the secret itself to verify and to sign. They are protected as the database is
(an owner-only 0600 SQLite file; PostgreSQL's own access control) and never logged, shown
after creation, or put in a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store import events as _events
from errand.store.ids import new_id
from errand.store.records import JsonObject, TaskRecord, TaskStatus
from errand.store.schema import UtcDateTime, decode_object, encode_json, metadata

schedules = Table(
    "schedules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("prompt", Text, nullable=False),
    Column("timing_kind", String(8), nullable=False),
    Column("timing", String(200), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("request", Text, nullable=False),
    Column("missed", String(8), nullable=False),
    Column("max_runs", Integer, nullable=True),
    Column("runs", Integer, nullable=False, server_default="0"),
    Column("notify", Boolean, nullable=False),
    Column("token_budget", Integer, nullable=True),
    Column("paused", Boolean, nullable=False),
    Column("next_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_schedules_next_at", "next_at"),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "schedule_id", String(32), ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False
    ),
    Column("due_at", UtcDateTime, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("missed_count", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False),
    Column("task_id", String(32), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime, nullable=True),
    UniqueConstraint("schedule_id", "due_at", "reason"),
    Index("ix_schedule_runs_state", "state"),
    Index("ix_schedule_runs_task_id", "task_id"),
)

hooks = Table(
    "hooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("prompt_template", Text, nullable=False),
    Column("request", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

hook_receipts = Table(
    "hook_receipts",
    metadata,
    Column("hook_id", String(32), ForeignKey("hooks.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("hook_id", "message_id"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", String(200), nullable=False),
    Column(
        "schedule_id", String(32), ForeignKey("schedules.id", ondelete="CASCADE"), nullable=True
    ),
    Column("allow_private", Boolean, nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "endpoint_id",
        String(32),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event", String(32), nullable=False),
    Column("task_id", String(32), nullable=True),
    Column("payload", Text, nullable=False),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_endpoint_id", "endpoint_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "delivery_id",
        String(40),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    PrimaryKeyConstraint("delivery_id", "number"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("task_id", String(32), nullable=True),
    Column("schedule_id", String(32), nullable=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("dispatched_at", UtcDateTime, nullable=True),
    Index("ix_notifications_delivered_at", "delivered_at"),
    Index("ix_notifications_dispatched_at", "dispatched_at"),
)


class RunState(StrEnum):
    """Where one occurrence of a schedule is.

    ``pending`` rows are written before the schedule's next time advances; ``starting`` is
    claimed (a task is being created); ``started`` has its task. ``skipped`` and ``refused``
    (intake said no: a folder no longer allowed ...) are final without a task.
    """

    PENDING = "pending"
    STARTING = "starting"
    STARTED = "started"
    SKIPPED = "skipped"
    REFUSED = "refused"


class RunReason(StrEnum):
    SCHEDULED = "scheduled"
    MISSED = "missed"
    MANUAL = "manual"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


TASK_EVENTS: dict[TaskStatus, str] = {
    TaskStatus.COMPLETED: "task.completed",
    TaskStatus.FAILED: "task.failed",
    TaskStatus.CANCELLED: "task.cancelled",
    TaskStatus.WAITING: "task.needs_you",
}
"""The webhook event each task status causes; other statuses cause none."""

RUN_REF_PREFIX = "schedule-run:"
"""A schedule run's task is created with the source ref ``schedule-run:<run id>``."""

EVENT_NAMES = frozenset(TASK_EVENTS.values()) | {"schedule.refused", "webhook.test"}


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A stored schedule. ``request`` holds the task's folders, domains and model as JSON."""

    id: str
    name: str
    prompt: str
    timing_kind: str
    timing: str
    tz: str
    request: JsonObject
    missed: str
    max_runs: int | None
    runs: int
    notify: bool
    token_budget: int | None
    paused: bool
    next_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleRunRecord:
    """One occurrence of a schedule; ``tokens`` is what its task spent (None before it ran)."""

    id: str
    schedule_id: str
    due_at: datetime
    reason: RunReason
    missed_count: int
    state: RunState
    task_id: str | None
    outcome: str | None
    error: str | None
    created_at: datetime
    claimed_at: datetime | None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class HookRecord:
    """An inbound hook; ``secret`` is never shown after it was created."""

    id: str
    name: str
    prompt_template: str
    request: JsonObject
    created_at: datetime
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class HookReceipt:
    """The first answer given to one ``webhook-id``, replayed for redeliveries."""

    status: int
    body: str


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """An outbound webhook endpoint; ``secret`` is never shown after it was created."""

    id: str
    url: str
    events: tuple[str, ...]
    schedule_id: str | None
    allow_private: bool
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One message in the outbox; ``id`` is its ``webhook-id``, the same on every attempt."""

    id: str
    endpoint_id: str
    event: str
    task_id: str | None
    payload: JsonObject
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try at sending a delivery: the receiver's status (or the error) and the latency."""

    delivery_id: str
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """Something to tell the user: a task needs them, finished or failed, or a schedule's
    run could not start. Written in the transaction of the change that causes it; the
    notifier writes one delivery per channel (``dispatched_at``) and stamps
    ``delivered_at`` when the first channel took it."""

    id: str
    kind: str
    task_id: str | None
    schedule_id: str | None
    title: str
    body: str
    created_at: datetime
    delivered_at: datetime | None
    dispatched_at: datetime | None = None


def schedule_record(row: Row[tuple[object, ...]]) -> ScheduleRecord:
    m = row._mapping
    return ScheduleRecord(
        id=m["id"],
        name=m["name"],
        prompt=m["prompt"],
        timing_kind=m["timing_kind"],
        timing=m["timing"],
        tz=m["tz"],
        request=decode_object(m["request"]),
        missed=m["missed"],
        max_runs=m["max_runs"],
        runs=m["runs"],
        notify=bool(m["notify"]),
        token_budget=m["token_budget"],
        paused=bool(m["paused"]),
        next_at=m["next_at"],
        created_at=m["created_at"],
    )


def run_record(row: Row[tuple[object, ...]], tokens: int | None = None) -> ScheduleRunRecord:
    m = row._mapping
    return ScheduleRunRecord(
        id=m["id"],
        schedule_id=m["schedule_id"],
        due_at=m["due_at"],
        reason=RunReason(m["reason"]),
        missed_count=m["missed_count"],
        state=RunState(m["state"]),
        task_id=m["task_id"],
        outcome=m["outcome"],
        error=m["error"],
        created_at=m["created_at"],
        claimed_at=m["claimed_at"],
        tokens=tokens,
    )


def hook_record(row: Row[tuple[object, ...]]) -> HookRecord:
    m = row._mapping
    return HookRecord(
        id=m["id"],
        name=m["name"],
        prompt_template=m["prompt_template"],
        request=decode_object(m["request"]),
        created_at=m["created_at"],
        secret=m["secret"],
    )


def endpoint_record(row: Row[tuple[object, ...]]) -> EndpointRecord:
    m = row._mapping
    return EndpointRecord(
        id=m["id"],
        url=m["url"],
        events=tuple(e for e in str(m["events"]).split(",") if e),
        schedule_id=m["schedule_id"],
        allow_private=bool(m["allow_private"]),
        created_at=m["created_at"],
        disabled_at=m["disabled_at"],
        disabled_reason=m["disabled_reason"],
        secret=m["secret"],
    )


def delivery_record(row: Row[tuple[object, ...]]) -> DeliveryRecord:
    m = row._mapping
    return DeliveryRecord(
        id=m["id"],
        endpoint_id=m["endpoint_id"],
        event=m["event"],
        task_id=m["task_id"],
        payload=decode_object(m["payload"]),
        state=DeliveryState(m["state"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        created_at=m["created_at"],
        finished_at=m["finished_at"],
    )


def attempt_record(row: Row[tuple[object, ...]]) -> AttemptRecord:
    m = row._mapping
    return AttemptRecord(
        delivery_id=m["delivery_id"],
        number=m["number"],
        at=m["at"],
        status_code=m["status_code"],
        error=m["error"],
        latency_ms=m["latency_ms"],
    )


def notification_record(row: Row[tuple[object, ...]]) -> NotificationRecord:
    m = row._mapping
    return NotificationRecord(
        id=m["id"],
        kind=m["kind"],
        task_id=m["task_id"],
        schedule_id=m["schedule_id"],
        title=m["title"],
        body=m["body"],
        created_at=m["created_at"],
        delivered_at=m["delivered_at"],
        dispatched_at=m["dispatched_at"],
    )


def new_delivery_id() -> str:
    """A ``webhook-id``: ``msg_`` and a fresh id, as Standard Webhooks senders spell them."""
    return f"msg_{new_id()}"


async def enqueue(
    conn: AsyncConnection,
    *,
    event: str,
    payload: JsonObject,
    now: datetime,
    task_id: str | None,
    schedule_id: str | None,
    only_endpoint: str | None = None,
) -> int:
    """Write one outbox row per enabled endpoint subscribed to ``event``; returns how many.

    An endpoint limited to a schedule only receives events of that schedule's runs.
    """
    query = select(webhook_endpoints).where(webhook_endpoints.c.disabled_at.is_(None))
    if only_endpoint is not None:
        query = query.where(webhook_endpoints.c.id == only_endpoint)
    else:
        query = query.where(
            or_(
                webhook_endpoints.c.schedule_id.is_(None),
                webhook_endpoints.c.schedule_id == schedule_id,
            )
        )
    endpoints = [endpoint_record(row) for row in await conn.execute(query)]
    rows = [
        {
            "id": new_delivery_id(),
            "endpoint_id": endpoint.id,
            "event": event,
            "task_id": task_id,
            "payload": encode_json(payload, what="payload"),
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint in endpoints
        if only_endpoint is not None or event in endpoint.events
    ]
    if rows:
        await conn.execute(webhook_deliveries.insert(), rows)
    return len(rows)


async def on_task_status(conn: AsyncConnection, record: TaskRecord, now: datetime) -> None:
    """What a task's move to ``record.status`` causes, written in the status's transaction.

    Deliveries for every subscribed endpoint; for a schedule's run, its outcome; and a
    notification record when the task needs the user (at most one a minute per task),
    finished or failed (a cancelled schedule run too, when its schedule asked to be told).
    """
    event = TASK_EVENTS.get(record.status)
    if event is None:
        return
    # Found by the ref the task was created with, not by the run's task_id: the task may
    # change status before the scheduler has linked it to its run.
    ref = _source_ref(record)
    by = (
        schedule_runs.c.id == ref.removeprefix(RUN_REF_PREFIX)
        if ref is not None and ref.startswith(RUN_REF_PREFIX)
        else schedule_runs.c.task_id == record.id
    )
    run = (
        await conn.execute(select(schedule_runs.c.id, schedule_runs.c.schedule_id).where(by))
    ).first()
    schedule_id = run.schedule_id if run is not None else None
    schedule_name: str | None = None
    notify = False
    if run is not None:
        found = (
            await conn.execute(
                select(schedules.c.name, schedules.c.notify).where(schedules.c.id == schedule_id)
            )
        ).first()
        if found is not None:
            schedule_name, notify = found.name, bool(found.notify)
        await conn.execute(
            update(schedule_runs)
            .where(schedule_runs.c.id == run.id)
            .values(
                task_id=record.id,
                state=RunState.STARTED.value,
                **({"outcome": record.status.value} if record.status.is_terminal else {}),
            )
        )
    summary = await _summary(conn, record)
    payload: JsonObject = {
        "type": event,
        "timestamp": now.isoformat(),
        "data": {
            "task_id": record.id,
            "title": record.title,
            "status": record.status.value,
            "summary": summary,
            "error": record.error,
            "schedule": schedule_name,
            "links": {"api": f"/api/v1/tasks/{record.id}", "app": f"/#/tasks/{record.id}"},
        },
    }
    await enqueue(
        conn, event=event, payload=payload, now=now, task_id=record.id, schedule_id=schedule_id
    )
    if _worth_telling(record.status, schedule_notify=notify) and not await _told_lately(
        conn, record, event, now
    ):
        await conn.execute(
            notifications.insert().values(
                id=new_id(),
                kind=event,
                task_id=record.id,
                schedule_id=schedule_id,
                title=record.title[:200],
                body=(summary or record.error or record.status.value)[:2000],
                created_at=now,
            )
        )


NEEDS_YOU_EVERY = timedelta(minutes=1)
"""At most one "needs you" notification per task in this time (a task asking several
questions in a row buzzes the phone once)."""


def _worth_telling(status: TaskStatus, *, schedule_notify: bool) -> bool:
    """Every task that needs the user, finished or failed is told; a cancelled one only when
    its schedule asked to be told (the user usually cancelled it)."""
    if status in (TaskStatus.WAITING, TaskStatus.COMPLETED, TaskStatus.FAILED):
        return True
    return schedule_notify and status.is_terminal


async def _told_lately(
    conn: AsyncConnection, record: TaskRecord, event: str, now: datetime
) -> bool:
    if record.status is not TaskStatus.WAITING:
        return False
    found = await conn.execute(
        select(notifications.c.id)
        .where(
            notifications.c.task_id == record.id,
            notifications.c.kind == event,
            notifications.c.created_at > now - NEEDS_YOU_EVERY,
        )
        .limit(1)
    )
    return found.first() is not None


async def _summary(conn: AsyncConnection, record: TaskRecord) -> str | None:
    """The task's last words to the user (its newest ``message`` with text), shortened."""
    if not record.status.is_terminal and record.status is not TaskStatus.WAITING:
        return None
    table = _events.events
    rows = await conn.execute(
        select(table.c.payload)
        .where(and_(table.c.task_id == record.id, table.c.type == "message"))
        .order_by(table.c.seq.desc())
        .limit(5)
    )
    for row in rows:
        text = decode_object(row.payload).get("text")
        if isinstance(text, str) and text.strip():
            return text if len(text) <= 1000 else text[:999] + "…"
    return None


def _source_ref(record: TaskRecord) -> str | None:
    """The source ref the task was submitted with, if any."""
    return record.source.ref
