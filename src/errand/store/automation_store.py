"""``AutomationStore``: the store's queries for schedules, hooks, webhooks and the outbox.

A thin wrapper over an open ``Store`` that shares its connections::

    automation = AutomationStore(store)
    await automation.add_schedule(NewSchedule(...), now=now)

Every method is one transaction. Times are passed in (``now``), so the scheduler's
injected clock decides what is due. Secrets arrive already encrypted by the caller.

The batch writes the scheduler and the deliverer make (``advance_many``, ``claim_runs``,
``link_runs``, ``record_attempts``) take a fixed number of statements whatever the batch's
size: each statement is a round trip to the database's thread through the event loop, and
the one writer connection is held for all of them, so a running task's next event waits for
a whole batch transaction. Measured in ``benchmarks/automation.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from errand.store import automation as tables
from errand.store.automation import (
    AttemptRecord,
    DeliveryRecord,
    DeliveryState,
    EndpointRecord,
    HookReceipt,
    HookRecord,
    NotificationRecord,
    RunReason,
    RunState,
    ScheduleRecord,
    ScheduleRunRecord,
)
from errand.store.errors import StoreError
from errand.store.ids import new_id
from errand.store.records import JsonInputObject, JsonObject
from errand.store.schema import require_object
from errand.store.store import MAX_PAGE, Store
from errand.store.usage import usage as usage_table


class NameTaken(StoreError, ValueError):
    """A schedule or hook already has this name."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"a {kind} is already named {name!r}")
        self.name = name


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """What ``add_schedule`` stores; ``next_at`` is its first occurrence (UTC)."""

    name: str
    prompt: str
    timing_kind: str
    timing: str
    tz: str
    request: JsonInputObject
    missed: str
    max_runs: int | None
    notify: bool
    token_budget: int | None
    next_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewRun:
    """An occurrence to record when a schedule advances."""

    due_at: datetime
    reason: RunReason
    state: RunState
    missed_count: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Advance:
    """One schedule to move to ``next_at``, recording ``runs``."""

    schedule: ScheduleRecord
    next_at: datetime | None
    runs: tuple[NewRun, ...]


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One attempt to record, and where its delivery goes next."""

    attempt: AttemptRecord
    state: DeliveryState
    next_attempt_at: datetime | None


class AutomationStore:
    """Schedules and their runs, hooks and their receipts, endpoints and their outbox."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- schedules ---------------------------------------------------------------------------

    async def add_schedule(self, new: NewSchedule, *, now: datetime) -> ScheduleRecord:
        """Raises ``NameTaken``."""
        schedule_id = new_id()
        try:
            async with self._store._write() as conn:
                await conn.execute(
                    tables.schedules.insert().values(
                        id=schedule_id,
                        name=new.name,
                        prompt=new.prompt,
                        timing_kind=new.timing_kind,
                        timing=new.timing,
                        tz=new.tz,
                        request=require_object(new.request, what="request"),
                        missed=new.missed,
                        max_runs=new.max_runs,
                        runs=0,
                        notify=new.notify,
                        token_budget=new.token_budget,
                        paused=False,
                        next_at=new.next_at,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise NameTaken("schedule", new.name) from exc
        found = await self.get_schedule(new.name)
        assert found is not None
        return found

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        """The schedule named ``name`` (or with that id), or None."""
        table = tables.schedules
        async with self._store._read() as conn:
            row = (
                await conn.execute(
                    select(table).where((table.c.name == name) | (table.c.id == name))
                )
            ).first()
        return tables.schedule_record(row) if row is not None else None

    async def list_schedules(self) -> list[ScheduleRecord]:
        table = tables.schedules
        async with self._store._read() as conn:
            rows = await conn.execute(select(table).order_by(table.c.name))
            return [tables.schedule_record(row) for row in rows]

    async def set_paused(
        self, schedule_id: str, *, paused: bool, next_at: datetime | None = None
    ) -> None:
        """Pause, or resume with a fresh ``next_at`` (what was due while paused is not run)."""
        values: dict[str, object] = {"paused": paused}
        if not paused:
            values["next_at"] = next_at
        async with self._store._write() as conn:
            await conn.execute(
                update(tables.schedules).where(tables.schedules.c.id == schedule_id).values(values)
            )

    async def remove_schedule(self, schedule_id: str) -> bool:
        async with self._store._write() as conn:
            await conn.execute(
                delete(tables.schedule_runs).where(
                    tables.schedule_runs.c.schedule_id == schedule_id
                )
            )
            await conn.execute(
                delete(tables.webhook_endpoints).where(
                    tables.webhook_endpoints.c.schedule_id == schedule_id
                )
            )
            result = await conn.execute(
                delete(tables.schedules).where(tables.schedules.c.id == schedule_id)
            )
        return bool(result.rowcount)

    async def due_schedules(self, *, now: datetime, limit: int = 200) -> list[ScheduleRecord]:
        """Unpaused schedules whose next time has come, earliest first."""
        table = tables.schedules
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.paused.is_(False), table.c.next_at <= now)
                .order_by(table.c.next_at)
                .limit(max(1, min(limit, MAX_PAGE)))
            )
            return [tables.schedule_record(row) for row in rows]

    async def advance(
        self,
        schedule: ScheduleRecord,
        *,
        next_at: datetime | None,
        runs: Sequence[NewRun],
        now: datetime,
    ) -> bool:
        """Record ``runs`` and move the schedule to ``next_at``, atomically.

        Only if the schedule still has the ``next_at`` it was read with: a second scheduler
        (or a tick racing a pause) finds it moved and records nothing. Returns whether it
        advanced. Runs that will start count towards ``max_runs``.
        """
        return bool(await self.advance_many([Advance(schedule, next_at, tuple(runs))], now=now))

    async def advance_many(self, advances: Sequence[Advance], *, now: datetime) -> list[str]:
        """``advance`` for several schedules in one transaction; returns the ids advanced.

        Each schedule is guarded on its own: one that moved meanwhile is left out, the others
        still advance.
        """
        table = tables.schedules
        if not advances:
            return []
        by_id = {item.schedule.id: item for item in advances}
        async with self._store._write() as conn:
            # Locked where the database can (PostgreSQL); SQLite's writer already holds the
            # only write lock (BEGIN IMMEDIATE), so nothing moves between read and update.
            current = await conn.execute(
                select(table.c.id, table.c.next_at, table.c.paused)
                .where(table.c.id.in_(by_id))
                .with_for_update()
            )
            moving = [
                by_id[row.id]
                for row in current
                if not row.paused and row.next_at == by_id[row.id].schedule.next_at
            ]
            if not moving:
                return []
            await conn.execute(
                update(table)
                .where(table.c.id == bindparam("schedule_id"))
                .values(
                    next_at=bindparam("new_next_at"), runs=table.c.runs + bindparam("starting")
                ),
                [
                    {
                        "schedule_id": item.schedule.id,
                        "new_next_at": item.next_at,
                        "starting": sum(1 for run in item.runs if run.state is RunState.PENDING),
                    }
                    for item in moving
                ],
            )
            rows = [
                {
                    "id": new_id(),
                    "schedule_id": item.schedule.id,
                    "due_at": run.due_at,
                    "reason": run.reason.value,
                    "missed_count": run.missed_count,
                    "state": run.state.value,
                    "error": run.error,
                    "created_at": now,
                }
                for item in moving
                for run in item.runs
            ]
            if rows:
                await conn.execute(tables.schedule_runs.insert(), rows)
        return [item.schedule.id for item in moving]

    async def add_manual_run(self, schedule_id: str, *, now: datetime) -> ScheduleRunRecord:
        """A ``run now`` occurrence, pending; it does not move the schedule's next time."""
        run_id = new_id()
        async with self._store._write() as conn:
            await conn.execute(
                tables.schedule_runs.insert().values(
                    id=run_id,
                    schedule_id=schedule_id,
                    due_at=now,
                    reason=RunReason.MANUAL.value,
                    missed_count=0,
                    state=RunState.PENDING.value,
                    created_at=now,
                )
            )
            row = (
                await conn.execute(
                    select(tables.schedule_runs).where(tables.schedule_runs.c.id == run_id)
                )
            ).one()
        return tables.run_record(row)

    async def runs_in_state(self, state: RunState, *, limit: int = 200) -> list[ScheduleRunRecord]:
        """Runs in ``state``, oldest due first."""
        table = tables.schedule_runs
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.state == state.value)
                .order_by(table.c.due_at, table.c.id)
                .limit(max(1, min(limit, MAX_PAGE)))
            )
            return [tables.run_record(row) for row in rows]

    async def claim_run(self, run_id: str, *, now: datetime) -> bool:
        """``pending`` → ``starting``; False if another process claimed it first."""
        return bool(await self.claim_runs([run_id], now=now))

    async def claim_runs(self, run_ids: Sequence[str], *, now: datetime) -> list[str]:
        """Claim several pending runs in one transaction; returns those this call claimed."""
        table = tables.schedule_runs
        if not run_ids:
            return []
        async with self._store._write() as conn:
            pending = await conn.execute(
                select(table.c.id)
                .where(table.c.id.in_(run_ids), table.c.state == RunState.PENDING.value)
                .with_for_update()
            )
            claimed = set(pending.scalars())
            if claimed:
                await conn.execute(
                    update(table)
                    .where(table.c.id.in_(claimed), table.c.state == RunState.PENDING.value)
                    .values(state=RunState.STARTING.value, claimed_at=now)
                )
        return [run_id for run_id in run_ids if run_id in claimed]

    async def link_run(self, run_id: str, task_id: str) -> None:
        """``starting`` → ``started`` with its task."""
        await self.link_runs([(run_id, task_id)])

    async def link_runs(self, links: Sequence[tuple[str, str]]) -> None:
        """``link_run`` for several ``(run id, task id)`` pairs in one transaction."""
        table = tables.schedule_runs
        if not links:
            return
        async with self._store._write() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == bindparam("run_id"))
                .values(state=RunState.STARTED.value, task_id=bindparam("linked_task")),
                [{"run_id": run_id, "linked_task": task_id} for run_id, task_id in links],
            )

    async def refuse_run(
        self, run: ScheduleRunRecord, error: str, *, payload: JsonObject, now: datetime
    ) -> None:
        """The run could not start: record why, and tell whoever the schedule tells."""
        table = tables.schedule_runs
        async with self._store._write() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == run.id)
                .values(state=RunState.REFUSED.value, error=error)
            )
            await tables.enqueue(
                conn,
                event="schedule.refused",
                payload=payload,
                now=now,
                task_id=None,
                schedule_id=run.schedule_id,
            )
            notify = (
                await conn.execute(
                    select(tables.schedules.c.notify, tables.schedules.c.name).where(
                        tables.schedules.c.id == run.schedule_id
                    )
                )
            ).first()
            if notify is not None and notify.notify:
                await conn.execute(
                    tables.notifications.insert().values(
                        id=new_id(),
                        kind="schedule.refused",
                        schedule_id=run.schedule_id,
                        title=f"Schedule {notify.name} could not run",
                        body=error[:2000],
                        created_at=now,
                    )
                )

    async def runs_of(self, schedule_id: str, *, limit: int = 20) -> list[ScheduleRunRecord]:
        """The schedule's newest runs first, with the tokens each run's task spent."""
        runs = tables.schedule_runs
        spent = (
            select(
                usage_table.c.task_id,
                func.sum(usage_table.c.input_tokens + usage_table.c.output_tokens).label("tokens"),
            )
            .group_by(usage_table.c.task_id)
            .subquery()
        )
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(runs, spent.c.tokens)
                .outerjoin(spent, spent.c.task_id == runs.c.task_id)
                .where(runs.c.schedule_id == schedule_id)
                .order_by(runs.c.due_at.desc(), runs.c.id.desc())
                .limit(max(1, min(limit, MAX_PAGE)))
            )
            return [
                tables.run_record(row, int(row.tokens) if row.tokens is not None else None)
                for row in rows
            ]

    async def budgeted_runs(self) -> list[tuple[ScheduleRunRecord, int]]:
        """Started runs without an outcome whose schedule sets a token budget."""
        runs, table = tables.schedule_runs, tables.schedules
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(runs, table.c.token_budget)
                .join(table, table.c.id == runs.c.schedule_id)
                .where(
                    runs.c.state == RunState.STARTED.value,
                    runs.c.outcome.is_(None),
                    table.c.token_budget.is_not(None),
                )
                .limit(MAX_PAGE)
            )
            return [(tables.run_record(row), int(row.token_budget)) for row in rows]

    async def schedule_of_task(self, task_id: str) -> ScheduleRecord | None:
        """The schedule whose run ``task_id`` is, if any."""
        runs, table = tables.schedule_runs, tables.schedules
        async with self._store._read() as conn:
            row = (
                await conn.execute(
                    select(table)
                    .join(runs, runs.c.schedule_id == table.c.id)
                    .where(runs.c.task_id == task_id)
                )
            ).first()
        return tables.schedule_record(row) if row is not None else None

    # -- inbound hooks -----------------------------------------------------------------------

    async def add_hook(
        self,
        name: str,
        *,
        prompt_template: str,
        request: JsonInputObject,
        secret: str,
        now: datetime,
    ) -> HookRecord:
        """Raises ``NameTaken``."""
        try:
            async with self._store._write() as conn:
                await conn.execute(
                    tables.hooks.insert().values(
                        id=new_id(),
                        name=name,
                        prompt_template=prompt_template,
                        request=require_object(request, what="request"),
                        secret=secret,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise NameTaken("hook", name) from exc
        found = await self.get_hook(name)
        assert found is not None
        return found

    async def get_hook(self, name: str) -> HookRecord | None:
        async with self._store._read() as conn:
            row = (
                await conn.execute(select(tables.hooks).where(tables.hooks.c.name == name))
            ).first()
        return tables.hook_record(row) if row is not None else None

    async def list_hooks(self) -> list[HookRecord]:
        async with self._store._read() as conn:
            rows = await conn.execute(select(tables.hooks).order_by(tables.hooks.c.name))
            return [tables.hook_record(row) for row in rows]

    async def set_hook_secret(self, hook_id: str, secret: str) -> None:
        async with self._store._write() as conn:
            await conn.execute(
                update(tables.hooks).where(tables.hooks.c.id == hook_id).values(secret=secret)
            )

    async def remove_hook(self, hook_id: str) -> bool:
        async with self._store._write() as conn:
            await conn.execute(
                delete(tables.hook_receipts).where(tables.hook_receipts.c.hook_id == hook_id)
            )
            result = await conn.execute(delete(tables.hooks).where(tables.hooks.c.id == hook_id))
        return bool(result.rowcount)

    async def reserve_receipt(
        self, hook_id: str, message_id: str, *, now: datetime
    ) -> HookReceipt | None:
        """Claim ``message_id`` for this hook; None if claimed now, else the stored receipt.

        A receipt with status 0 is still being handled by whoever claimed it first.
        """
        table = tables.hook_receipts
        try:
            async with self._store._write() as conn:
                await conn.execute(
                    table.insert().values(
                        hook_id=hook_id, message_id=message_id, status=0, body="", received_at=now
                    )
                )
        except IntegrityError:
            async with self._store._read() as conn:
                row = (
                    await conn.execute(
                        select(table.c.status, table.c.body).where(
                            table.c.hook_id == hook_id, table.c.message_id == message_id
                        )
                    )
                ).one()
            return HookReceipt(status=row.status, body=row.body)
        return None

    async def settle_receipt(
        self, hook_id: str, message_id: str, *, status: int, body: str
    ) -> None:
        """Store the answer given to a claimed ``message_id``."""
        table = tables.hook_receipts
        async with self._store._write() as conn:
            await conn.execute(
                update(table)
                .where(table.c.hook_id == hook_id, table.c.message_id == message_id)
                .values(status=status, body=body)
            )

    async def forget_receipt(self, hook_id: str, message_id: str) -> None:
        """Drop a claim whose request was not accepted, so a corrected resend is handled."""
        table = tables.hook_receipts
        async with self._store._write() as conn:
            await conn.execute(
                delete(table).where(table.c.hook_id == hook_id, table.c.message_id == message_id)
            )

    # -- outbound webhooks -------------------------------------------------------------------

    async def add_endpoint(
        self,
        url: str,
        *,
        events: Sequence[str],
        schedule_id: str | None,
        allow_private: bool,
        secret: str,
        now: datetime,
    ) -> EndpointRecord:
        endpoint_id = new_id()
        async with self._store._write() as conn:
            await conn.execute(
                tables.webhook_endpoints.insert().values(
                    id=endpoint_id,
                    url=url,
                    events=",".join(events),
                    schedule_id=schedule_id,
                    allow_private=allow_private,
                    secret=secret,
                    created_at=now,
                )
            )
        found = await self.get_endpoint(endpoint_id)
        assert found is not None
        return found

    async def get_endpoint(self, endpoint_id: str) -> EndpointRecord | None:
        table = tables.webhook_endpoints
        async with self._store._read() as conn:
            row = (await conn.execute(select(table).where(table.c.id == endpoint_id))).first()
        return tables.endpoint_record(row) if row is not None else None

    async def list_endpoints(self) -> list[EndpointRecord]:
        table = tables.webhook_endpoints
        async with self._store._read() as conn:
            rows = await conn.execute(select(table).order_by(table.c.created_at, table.c.id))
            return [tables.endpoint_record(row) for row in rows]

    async def remove_endpoint(self, endpoint_id: str) -> bool:
        async with self._store._write() as conn:
            ids = select(tables.webhook_deliveries.c.id).where(
                tables.webhook_deliveries.c.endpoint_id == endpoint_id
            )
            await conn.execute(
                delete(tables.webhook_attempts).where(
                    tables.webhook_attempts.c.delivery_id.in_(ids)
                )
            )
            await conn.execute(
                delete(tables.webhook_deliveries).where(
                    tables.webhook_deliveries.c.endpoint_id == endpoint_id
                )
            )
            result = await conn.execute(
                delete(tables.webhook_endpoints).where(tables.webhook_endpoints.c.id == endpoint_id)
            )
        return bool(result.rowcount)

    async def enqueue_test(self, endpoint_id: str, *, now: datetime) -> DeliveryRecord | None:
        """Put a ``webhook.test`` message for one endpoint in the outbox (None if disabled)."""
        payload: JsonObject = {
            "type": "webhook.test",
            "timestamp": now.isoformat(),
            "data": {"message": "A test delivery from Errand."},
        }
        async with self._store._write() as conn:
            count = await tables.enqueue(
                conn,
                event="webhook.test",
                payload=payload,
                now=now,
                task_id=None,
                schedule_id=None,
                only_endpoint=endpoint_id,
            )
            if not count:
                return None
            row = (
                await conn.execute(
                    select(tables.webhook_deliveries)
                    .where(tables.webhook_deliveries.c.endpoint_id == endpoint_id)
                    .order_by(tables.webhook_deliveries.c.id.desc())
                    .limit(1)
                )
            ).one()
        return tables.delivery_record(row)

    async def due_deliveries(
        self, *, now: datetime, limit: int = 50
    ) -> list[tuple[DeliveryRecord, EndpointRecord]]:
        """Pending deliveries whose time has come, oldest first, with their endpoints."""
        deliveries, endpoints = tables.webhook_deliveries, tables.webhook_endpoints
        async with self._store._read() as conn:
            rows = list(
                await conn.execute(
                    select(deliveries)
                    .where(
                        deliveries.c.state == DeliveryState.PENDING.value,
                        deliveries.c.next_attempt_at <= now,
                    )
                    .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
                    .limit(max(1, min(limit, MAX_PAGE)))
                )
            )
            found = [tables.delivery_record(row) for row in rows]
            wanted = {d.endpoint_id for d in found}
            by_id = {
                row.id: tables.endpoint_record(row)
                for row in await conn.execute(select(endpoints).where(endpoints.c.id.in_(wanted)))
            }
        return [(d, by_id[d.endpoint_id]) for d in found if d.endpoint_id in by_id]

    async def next_delivery_at(self) -> datetime | None:
        """When the earliest pending delivery is due, if any is pending."""
        table = tables.webhook_deliveries
        async with self._store._read() as conn:
            row = (
                await conn.execute(
                    select(func.min(table.c.next_attempt_at)).where(
                        table.c.state == DeliveryState.PENDING.value
                    )
                )
            ).first()
        return row[0] if row is not None else None

    async def record_attempts(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Log attempts and move their deliveries on, all in one transaction."""
        table = tables.webhook_deliveries
        if not outcomes:
            return
        async with self._store._write() as conn:
            await conn.execute(
                tables.webhook_attempts.insert(),
                [
                    {
                        "delivery_id": o.attempt.delivery_id,
                        "number": o.attempt.number,
                        "at": o.attempt.at,
                        "status_code": o.attempt.status_code,
                        "error": o.attempt.error,
                        "latency_ms": o.attempt.latency_ms,
                    }
                    for o in outcomes
                ],
            )
            await conn.execute(
                update(table)
                .where(
                    table.c.id == bindparam("delivery_id"),
                    table.c.state == DeliveryState.PENDING.value,
                )
                .values(
                    state=bindparam("new_state"),
                    attempts=bindparam("number"),
                    next_attempt_at=bindparam("next_at"),
                    finished_at=bindparam("finished"),
                ),
                [
                    {
                        "delivery_id": o.attempt.delivery_id,
                        "new_state": o.state.value,
                        "number": o.attempt.number,
                        "next_at": o.next_attempt_at,
                        "finished": None if o.state is DeliveryState.PENDING else o.attempt.at,
                    }
                    for o in outcomes
                ],
            )

    async def disable_endpoint(self, endpoint_id: str, reason: str, *, now: datetime) -> None:
        """Stop delivering to an endpoint; its pending deliveries are marked failed."""
        table = tables.webhook_deliveries
        async with self._store._write() as conn:
            await conn.execute(
                update(tables.webhook_endpoints)
                .where(tables.webhook_endpoints.c.id == endpoint_id)
                .values(disabled_at=now, disabled_reason=reason)
            )
            await conn.execute(
                update(table)
                .where(
                    table.c.endpoint_id == endpoint_id,
                    table.c.state == DeliveryState.PENDING.value,
                )
                .values(state=DeliveryState.FAILED.value, finished_at=now, next_attempt_at=None)
            )

    async def deliveries_of(
        self, endpoint_id: str, *, limit: int = 50
    ) -> list[tuple[DeliveryRecord, list[AttemptRecord]]]:
        """The endpoint's newest deliveries first, each with every attempt in order."""
        deliveries, attempts = tables.webhook_deliveries, tables.webhook_attempts
        async with self._store._read() as conn:
            found = [
                tables.delivery_record(row)
                for row in await conn.execute(
                    select(deliveries)
                    .where(deliveries.c.endpoint_id == endpoint_id)
                    .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
                    .limit(max(1, min(limit, MAX_PAGE)))
                )
            ]
            tried: dict[str, list[AttemptRecord]] = {d.id: [] for d in found}
            if found:
                for row in await conn.execute(
                    select(attempts)
                    .where(attempts.c.delivery_id.in_(list(tried)))
                    .order_by(attempts.c.delivery_id, attempts.c.number)
                ):
                    tried[row.delivery_id].append(tables.attempt_record(row))
        return [(d, tried[d.id]) for d in found]

    # -- notifications -----------------------------------------------------------------------

    async def notifications(self, *, undelivered: bool = True) -> list[NotificationRecord]:
        """Notification records oldest first (those no channel delivered yet, by default)."""
        table = tables.notifications
        query = select(table).order_by(table.c.created_at, table.c.id).limit(MAX_PAGE)
        if undelivered:
            query = query.where(table.c.delivered_at.is_(None))
        async with self._store._read() as conn:
            return [tables.notification_record(row) for row in await conn.execute(query)]
