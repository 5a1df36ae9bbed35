"""The notifier: turns notification records into pushes to devices and ntfy messages.

Two steps, each one store transaction per pass:

1. **dispatch** each new notification record: one delivery per subscribed device whose
   chosen kinds include it (``suppressed`` at once when the app is open and visible on that
   device: the app shows the news itself) and one for ntfy when configured; the record is
   marked dispatched in the same transaction, so a restart never dispatches it twice.
2. **deliver** pending deliveries: encrypt, sign, POST. 2xx is ``sent``; 404 or 410 from a
   push service means the subscription is gone, so it is deleted (``gone``); 429, 5xx and
   network errors are retried after 5 s, 1 min and 5 min, then ``failed``; other answers
   fail at once. A delivery whose subscription was removed meanwhile (the device revoked,
   push turned off) is ``dropped`` without a request; one whose endpoint is no longer an
   allowed push service is ``failed`` without a request and its subscription deleted.

A crash between sending and recording leaves that one delivery pending, so it is sent again
after the restart; the app shows a push with the same notification id only once.
Notifications older than ``max_age`` when the notifier first sees them (written while no
gateway ran) are dropped as stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from errand.access import DEVICE_INACTIVE_AFTER
from errand.notify.channels import NtfyChannel, PushMessage, Sent, WebPushChannel
from errand.notify.endpoints import EndpointRefused, check_push_endpoint
from errand.notify.presence import Presence
from errand.store import (
    Channel,
    DeliveryOutcome,
    Dispatch,
    DueDelivery,
    NewDelivery,
    NotificationRecord,
    NotifyState,
    PushStore,
    Store,
    StoreError,
    SubscriptionRecord,
)

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("needs_you", "finished", "failed")
"""The kinds of news a device can turn on and off."""
KIND_OF_EVENT = {
    "task.needs_you": "needs_you",
    "task.completed": "finished",
    "task.cancelled": "finished",
    "task.failed": "failed",
    "schedule.refused": "failed",
}
RETRY_DELAYS = (timedelta(seconds=5), timedelta(minutes=1), timedelta(minutes=5))
MAX_AGE = timedelta(hours=1)
BATCH = 50
PASS_GAP_S = 0.1
"""The least time from one pass's start to the next: a burst of task changes (a hundred
tasks posted in a second) then costs ten passes, not a hundred, and a push waits at most
this much longer."""

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """Dispatches and delivers notifications in the background (``start``/``aclose``);
    ``run_once`` does one pass (tests call it directly)."""

    def __init__(
        self,
        store: Store,
        *,
        web_push: WebPushChannel | None,
        ntfy: NtfyChannel | None = None,
        presence: Presence | None = None,
        clock: Clock = _now,
        interval: float = 1.0,
        max_age: timedelta = MAX_AGE,
        push_services: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._push = PushStore(store)
        self.web_push = web_push
        self.ntfy = ntfy
        self.presence = presence or Presence()
        self._clock = clock
        self._interval = interval
        self._max_age = max_age
        self.push_services = push_services
        """Push service origins accepted beyond the well-known ones (tests, private)."""
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._loop_task = asyncio.ensure_future(self._run())
        self._watch_task = asyncio.ensure_future(self._watch())

    async def aclose(self) -> None:
        for task in (self._watch_task, self._loop_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._watch_task = None
        for channel in (self.web_push, self.ntfy):
            if channel is not None:
                await channel.aclose()

    async def _watch(self) -> None:
        """Wake at once when any task changes status (that is when notifications appear)."""
        while True:
            try:
                changed = await self._store.wait_for_task_list_change(timeout=30)
            except StoreError:
                changed = False
            if changed:
                self._wake.set()
            else:
                await asyncio.sleep(self._interval)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            began = loop.time()
            try:
                busy = await self.run_once()
            except (StoreError, OSError):
                log.exception("the notifier's pass failed; retrying")
                busy = 0
            if busy >= BATCH:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            await asyncio.sleep(began + PASS_GAP_S - loop.time())

    async def run_once(self) -> int:
        """Dispatch new notifications, then try every delivery due; returns how many of
        each were handled."""
        dispatched = await self.dispatch_new()
        tried = await self.deliver_due()
        return dispatched + tried

    async def dispatch_new(self) -> int:
        notes = await self._push.undispatched(limit=BATCH)
        if not notes:
            return 0
        now = self._clock()
        subscriptions = (
            await self._push.live_subscriptions(seen_after=now - DEVICE_INACTIVE_AFTER)
            if self.web_push
            else []
        )
        plans = [self._plan(note, subscriptions, now) for note in notes]
        return await self._push.dispatch(plans, now=now)

    def _plan(
        self, note: NotificationRecord, subscriptions: list[SubscriptionRecord], now: datetime
    ) -> Dispatch:
        kind = KIND_OF_EVENT.get(note.kind)
        if kind is None:
            return Dispatch(note.id, ())
        stale = now - note.created_at > self._max_age
        deliveries: list[NewDelivery] = []
        for sub in subscriptions:
            if kind not in sub.kinds:
                continue
            if stale:
                state, error = NotifyState.DROPPED, "stale: written while no gateway ran"
            elif self.presence.visible(sub.device_id):
                state, error = NotifyState.SUPPRESSED, None
            else:
                state, error = NotifyState.PENDING, None
            deliveries.append(
                NewDelivery(Channel.WEB_PUSH, state, sub.id, sub.device_id, error=error)
            )
        if self.ntfy is not None:
            state = NotifyState.DROPPED if stale else NotifyState.PENDING
            deliveries.append(NewDelivery(Channel.NTFY, state))
        return Dispatch(note.id, tuple(deliveries))

    async def deliver_due(self) -> int:
        due = await self._push.due_deliveries(now=self._clock(), limit=BATCH)
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(item) for item in due))
        await self._push.record(outcomes)
        return len(due)

    async def _attempt(self, item: DueDelivery) -> DeliveryOutcome:
        delivery, note = item.delivery, item.notification
        message = PushMessage(
            notification_id=note.id,
            kind=KIND_OF_EVENT.get(note.kind, "finished"),
            task_id=note.task_id,
            title=note.title,
        )
        number = delivery.attempts + 1
        if delivery.channel is Channel.WEB_PUSH:
            if item.subscription is None or self.web_push is None:
                return DeliveryOutcome(
                    delivery.id,
                    note.id,
                    NotifyState.DROPPED,
                    delivery.attempts,
                    self._clock(),
                    error="the device's subscription was removed",
                )
            try:  # checked again: the allowed push services may have changed since
                check_push_endpoint(item.subscription.endpoint, extra_origins=self.push_services)
            except EndpointRefused as exc:
                return DeliveryOutcome(
                    delivery.id,
                    note.id,
                    NotifyState.FAILED,
                    number,
                    self._clock(),
                    error=str(exc),
                    prune_subscription=item.subscription.id,
                )
            sent = await self.web_push.send(item.subscription, message)
            if sent.status in (404, 410):
                return DeliveryOutcome(
                    delivery.id,
                    note.id,
                    NotifyState.GONE,
                    number,
                    self._clock(),
                    status_code=sent.status,
                    prune_subscription=item.subscription.id,
                )
        elif self.ntfy is not None:
            sent = await self.ntfy.send(message)
        else:
            sent = Sent(None, "ntfy is no longer configured")
            number = len(RETRY_DELAYS) + 1
        return self._outcome(item, sent, number)

    def _outcome(self, item: DueDelivery, sent: Sent, number: int) -> DeliveryOutcome:
        now = self._clock()
        delivery = item.delivery
        if sent.ok:
            state, next_at = NotifyState.SENT, None
        elif _retryable(sent) and number <= len(RETRY_DELAYS):
            state, next_at = NotifyState.PENDING, now + RETRY_DELAYS[number - 1]
        else:
            state, next_at = NotifyState.FAILED, None
        return DeliveryOutcome(
            delivery.id,
            item.notification.id,
            state,
            number,
            now,
            next_attempt_at=next_at,
            status_code=sent.status,
            error=sent.error,
        )


def _retryable(sent: Sent) -> bool:
    return sent.status is None or sent.status == 429 or sent.status >= 500
