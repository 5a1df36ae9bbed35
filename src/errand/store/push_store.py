"""``PushStore``: the store's queries for device push subscriptions and notification deliveries.

A thin wrapper over an open ``Store`` sharing its connections; every method is one
transaction, with times passed in. See ``errand.store.push`` for how a notification moves
from its record to its deliveries.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from errand.store import automation as auto_tables
from errand.store import push as tables
from errand.store.access import devices
from errand.store.automation import NotificationRecord, notification_record
from errand.store.ids import new_id
from errand.store.push import (
    Channel,
    NotifyDeliveryRecord,
    NotifyState,
    SubscriptionRecord,
)
from errand.store.store import MAX_PAGE, Store


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One delivery to write when a notification is dispatched."""

    channel: Channel
    state: NotifyState
    subscription_id: str | None = None
    device_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A notification and the deliveries it gets (none is fine: nobody wants it)."""

    notification_id: str
    deliveries: tuple[NewDelivery, ...]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one try at a delivery gave, and where the delivery goes next.

    ``prune`` removes the delivery's subscription (the push service said it is gone).
    """

    delivery_id: str
    notification_id: str
    state: NotifyState
    attempts: int
    at: datetime
    next_attempt_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None
    prune_subscription: str | None = None


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A pending delivery whose time has come, with its notification and (Web Push) the
    subscription it goes to (None once the subscription was removed)."""

    delivery: NotifyDeliveryRecord
    notification: NotificationRecord
    subscription: SubscriptionRecord | None


class PushStore:
    """Subscriptions per device, and the deliveries of notifications."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- subscriptions -----------------------------------------------------------------------

    async def save_subscription(
        self,
        device_id: str,
        *,
        endpoint: str,
        p256dh: str,
        auth: str,
        kinds: Collection[str],
        now: datetime,
    ) -> SubscriptionRecord | None:
        """Set the device's subscription (replacing any it had); None if the device is
        unknown or revoked."""
        table = tables.push_subscriptions
        async with self._store._write() as conn:
            alive = (
                await conn.execute(
                    select(devices.c.id).where(
                        devices.c.id == device_id, devices.c.revoked_at.is_(None)
                    )
                )
            ).first()
            if alive is None:
                return None
            await conn.execute(delete(table).where(table.c.device_id == device_id))
            await conn.execute(
                table.insert().values(
                    id=new_id(),
                    device_id=device_id,
                    endpoint=endpoint,
                    p256dh=p256dh,
                    auth=auth,
                    kinds=",".join(sorted(kinds)),
                    created_at=now,
                )
            )
        return await self.subscription_of(device_id)

    async def subscription_of(self, device_id: str) -> SubscriptionRecord | None:
        table = tables.push_subscriptions
        async with self._store._read() as conn:
            row = (await conn.execute(select(table).where(table.c.device_id == device_id))).first()
        return tables.subscription_record(row) if row is not None else None

    async def set_kinds(self, device_id: str, kinds: Collection[str]) -> bool:
        """Change which kinds of news the device's subscription wants; False without one."""
        table = tables.push_subscriptions
        async with self._store._write() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.device_id == device_id)
                .values(kinds=",".join(sorted(kinds)))
            )
        return bool(result.rowcount)

    async def remove_subscription(self, device_id: str) -> bool:
        table = tables.push_subscriptions
        async with self._store._write() as conn:
            result = await conn.execute(delete(table).where(table.c.device_id == device_id))
        return bool(result.rowcount)

    async def live_subscriptions(
        self, *, seen_after: datetime | None = None
    ) -> list[SubscriptionRecord]:
        """Subscriptions of devices that are not revoked (and, with ``seen_after``, were used
        since then: an expired device gets nothing), oldest first."""
        table = tables.push_subscriptions
        query = (
            select(table)
            .join(devices, devices.c.id == table.c.device_id)
            .where(devices.c.revoked_at.is_(None))
        )
        if seen_after is not None:
            query = query.where(devices.c.last_seen_at > seen_after)
        async with self._store._read() as conn:
            rows = await conn.execute(
                query.order_by(table.c.created_at, table.c.id).limit(MAX_PAGE)
            )
            return [tables.subscription_record(row) for row in rows]

    # -- notifications and their deliveries --------------------------------------------------

    async def undispatched(self, *, limit: int = 50) -> list[NotificationRecord]:
        """Notifications whose deliveries are not written yet, oldest first."""
        table = auto_tables.notifications
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.dispatched_at.is_(None))
                .order_by(table.c.created_at, table.c.id)
                .limit(max(1, min(limit, MAX_PAGE)))
            )
            return [notification_record(row) for row in rows]

    async def dispatch(self, dispatches: Sequence[Dispatch], *, now: datetime) -> int:
        """Write the deliveries of each notification and mark it dispatched, in one
        transaction. A notification another process dispatched meanwhile is left alone.
        Returns how many this call dispatched."""
        notes, table = auto_tables.notifications, tables.notification_deliveries
        done = 0
        async with self._store._write() as conn:
            for item in dispatches:
                claimed = await conn.execute(
                    update(notes)
                    .where(notes.c.id == item.notification_id, notes.c.dispatched_at.is_(None))
                    .values(dispatched_at=now)
                )
                if not claimed.rowcount:
                    continue
                done += 1
                rows = [
                    {
                        "id": new_id(),
                        "notification_id": item.notification_id,
                        "channel": d.channel.value,
                        "subscription_id": d.subscription_id,
                        "device_id": d.device_id,
                        "state": d.state.value,
                        "attempts": 0,
                        "next_attempt_at": now if d.state is NotifyState.PENDING else None,
                        "error": d.error,
                        "created_at": now,
                        "finished_at": None if d.state is NotifyState.PENDING else now,
                    }
                    for d in item.deliveries
                ]
                if rows:
                    await conn.execute(table.insert(), rows)
        return done

    async def due_deliveries(self, *, now: datetime, limit: int = 50) -> list[DueDelivery]:
        """Pending deliveries whose time has come, oldest first."""
        table, notes = tables.notification_deliveries, auto_tables.notifications
        subs = tables.push_subscriptions
        async with self._store._read() as conn:
            found = [
                tables.notify_delivery_record(row)
                for row in await conn.execute(
                    select(table)
                    .where(
                        table.c.state == NotifyState.PENDING.value,
                        table.c.next_attempt_at <= now,
                    )
                    .order_by(table.c.next_attempt_at, table.c.id)
                    .limit(max(1, min(limit, MAX_PAGE)))
                )
            ]
            if not found:
                return []
            note_ids = {d.notification_id for d in found}
            by_note = {
                row.id: notification_record(row)
                for row in await conn.execute(select(notes).where(notes.c.id.in_(note_ids)))
            }
            sub_ids = {d.subscription_id for d in found if d.subscription_id is not None}
            by_sub = {
                row.id: tables.subscription_record(row)
                for row in await conn.execute(
                    select(subs)
                    .join(devices, devices.c.id == subs.c.device_id)
                    .where(subs.c.id.in_(sub_ids), devices.c.revoked_at.is_(None))
                )
            }
        return [
            DueDelivery(
                d,
                by_note[d.notification_id],
                by_sub.get(d.subscription_id) if d.subscription_id else None,
            )
            for d in found
            if d.notification_id in by_note
        ]

    async def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Record what each try gave, prune gone subscriptions and stamp the notifications
        that reached someone, all in one transaction."""
        if not outcomes:
            return
        table, notes = tables.notification_deliveries, auto_tables.notifications
        subs = tables.push_subscriptions
        async with self._store._write() as conn:
            for o in outcomes:
                await conn.execute(
                    update(table)
                    .where(table.c.id == o.delivery_id, table.c.state == NotifyState.PENDING.value)
                    .values(
                        state=o.state.value,
                        attempts=o.attempts,
                        next_attempt_at=o.next_attempt_at,
                        status_code=o.status_code,
                        error=o.error,
                        finished_at=None if o.state is NotifyState.PENDING else o.at,
                    )
                )
                if o.prune_subscription is not None:
                    await conn.execute(delete(subs).where(subs.c.id == o.prune_subscription))
                if o.state is NotifyState.SENT:
                    await conn.execute(
                        update(notes)
                        .where(notes.c.id == o.notification_id, notes.c.delivered_at.is_(None))
                        .values(delivered_at=o.at)
                    )

    async def deliveries_of(self, notification_id: str) -> list[NotifyDeliveryRecord]:
        """The notification's deliveries, in the order they were written."""
        table = tables.notification_deliveries
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.notification_id == notification_id)
                .order_by(table.c.created_at, table.c.id)
            )
            return [tables.notify_delivery_record(row) for row in rows]

    async def notifications_of(self, task_id: str) -> list[NotificationRecord]:
        """The task's notification records, oldest first."""
        table = auto_tables.notifications
        async with self._store._read() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.task_id == task_id)
                .order_by(table.c.created_at, table.c.id)
                .limit(MAX_PAGE)
            )
            return [notification_record(row) for row in rows]
