"""The deliverer: sends the outbox's webhook deliveries, signed, until each succeeds or fails.

Deliveries are written to the outbox in the same transaction as the event that causes them
(see ``errand.store``), so nothing here can lose one: a crash between sending and recording
only means the receiver may see the same ``webhook-id`` twice, which Standard Webhooks
receivers deduplicate. Each attempt is recorded (status or error, latency). A failed attempt
is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; then the delivery is failed.
A ``410 Gone`` disables the endpoint.

Every attempt resolves the endpoint's host and checks the address it is about to connect
to (private and loopback addresses only for endpoints added with ``allow_private``), then
connects to that very address, so DNS cannot swap in another between check and connect.
Redirects are not followed.

The sending itself runs on a thread of its own (``errand.automation.sending``); the store is
read and written here, on the caller's loop, in one transaction per pass of at most
``BATCH`` deliveries, ``concurrency`` of them in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook

import errand
from errand.automation.sending import SendingLoop
from errand.automation.timing import Clock, system_clock
from errand.automation.webhooks import Resolver, check_address, resolve, split_url
from errand.store import (
    AttemptOutcome,
    AttemptRecord,
    AutomationStore,
    DeliveryRecord,
    DeliveryState,
    EndpointRecord,
    JsonObject,
    Store,
    StoreError,
)

log = logging.getLogger(__name__)

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""Wait after the first, second ... failed attempt; one more failure and it is failed."""
BATCH = 20
TIMEOUT_SECONDS = 15.0
MAX_ERROR = 300


class Deliverer:
    """Sends due deliveries in the background (``start``/``aclose``), ``concurrency`` at once."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        base_url: str | None = None,
        concurrency: int = 4,
        interval: float = 1.0,
        timeout: float = TIMEOUT_SECONDS,
        resolver: Resolver = resolve,
    ) -> None:
        self._store = AutomationStore(store)
        self._clock = clock
        self._base_url = base_url.rstrip("/") if base_url else None
        self._limit = asyncio.Semaphore(concurrency)
        self._interval = interval
        self._resolver = resolver
        self._sending = SendingLoop(timeout=timeout)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._loop_task = asyncio.ensure_future(self._run())

    async def aclose(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self._sending.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                sent = await self.deliver_due()
            except (StoreError, OSError):
                log.exception("the webhook deliverer's pass failed; retrying")
                sent = 0
            if sent >= BATCH:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def deliver_due(self) -> int:
        """Attempt every delivery due now (at most ``BATCH``); returns how many were tried.

        The attempts of one pass are recorded in one transaction, so a busy outbox costs
        running tasks one store write per pass, not one per delivery.
        """
        due = await self._store.due_deliveries(now=self._clock(), limit=BATCH)
        outcomes = await asyncio.gather(*(self._attempt(d, e) for d, e in due))
        await self._store.record_attempts([o for o in outcomes if o is not None])
        for outcome, (_, endpoint) in zip(outcomes, due, strict=True):
            if outcome is not None and outcome.attempt.status_code == 410:
                await self._store.disable_endpoint(
                    endpoint.id, "the receiver answered 410 Gone", now=outcome.attempt.at
                )
        return len(due)

    async def _attempt(
        self, delivery: DeliveryRecord, endpoint: EndpointRecord
    ) -> AttemptOutcome | None:
        if endpoint.disabled_at is not None:
            return None
        async with self._limit:
            started = time.monotonic()
            status, error = await self._send(delivery, endpoint)
            latency = int((time.monotonic() - started) * 1000)
        now = self._clock()
        number = delivery.attempts + 1
        attempt = AttemptRecord(
            delivery_id=delivery.id,
            number=number,
            at=now,
            status_code=status,
            error=error,
            latency_ms=latency,
        )
        if status is not None and 200 <= status < 300:
            state, next_at = DeliveryState.DELIVERED, None
        elif number > len(RETRY_DELAYS) or status == 410:
            state, next_at = DeliveryState.FAILED, None
        else:
            state, next_at = DeliveryState.PENDING, now + RETRY_DELAYS[number - 1]
        return AttemptOutcome(attempt, state, next_at)

    async def _send(
        self, delivery: DeliveryRecord, endpoint: EndpointRecord
    ) -> tuple[int | None, str | None]:
        """POST the delivery; returns the receiver's status, or None and why it failed.

        The work runs on the sending loop's thread (``errand.automation.sending``), so a
        burst of deliveries does not delay running tasks' events on this loop.
        """
        return await self._sending.run(lambda client: self._post(client, delivery, endpoint))

    async def _post(
        self, client: httpx.AsyncClient, delivery: DeliveryRecord, endpoint: EndpointRecord
    ) -> tuple[int | None, str | None]:
        try:
            scheme, host, port = split_url(endpoint.url)
        except ValueError as exc:
            return None, str(exc)
        try:
            addresses = await self._resolver(host, port)
        except OSError as exc:
            return None, f"{host} does not resolve: {exc}"[:MAX_ERROR]
        target = None
        for address in addresses:
            reason = check_address(host, address, allow_private=endpoint.allow_private)
            if reason is not None:
                return None, reason[:MAX_ERROR]
            target = target or address
        if target is None:
            return None, f"{host} resolves to no address"
        body = json.dumps(self._with_links(delivery.payload), separators=(",", ":"))
        # Signed with the wall clock: receivers judge the timestamp against theirs.
        signed_at = datetime.now(UTC)
        signature = Webhook(endpoint.secret).sign(delivery.id, signed_at, body)
        parts = urlsplit(endpoint.url)
        literal = f"[{target}]" if target.version == 6 else str(target)
        pinned = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        default_port = port == (443 if scheme == "https" else 80)
        headers = {
            "host": host if default_port else f"{host}:{port}",
            "content-type": "application/json",
            "user-agent": f"Errand-Webhooks/{errand.__version__}",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": signature,
        }
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        try:
            response = await client.post(
                pinned, content=body.encode(), headers=headers, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        return response.status_code, None

    def _with_links(self, payload: JsonObject) -> JsonObject:
        data = payload.get("data")
        if self._base_url is None or not isinstance(data, dict):
            return payload
        links = data.get("links")
        if not isinstance(links, dict):
            return payload
        absolute: JsonObject = {
            key: f"{self._base_url}{value}" if isinstance(value, str) else value
            for key, value in links.items()
        }
        return {**payload, "data": {**data, "links": absolute}}
