"""Notifications from task status changes to a phone's push service, attacked where it hurts:
a restart, a push service that forgets a subscription, a revoked device, a busy task, an app
that is open, and a payload that must say nothing secret.

The push service is the edge of the machine: ``fakes.push_service`` checks the VAPID
signature against the gateway's public key and decrypts each payload with the fake
subscription's private key, as a real push service and phone would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from automation.clock import FakeClock
from automation.receiver import Receiver
from automation.receiver import running as receiving
from errand.notify import Notifier, NtfyChannel, Presence, VapidKey, WebPushChannel
from errand.notify import notifier as notifier_module
from errand.store import AccessStore, NotifyState, PushStore, Store, TaskStatus, open_store
from errand.store.access import devices
from errand.store.automation import notifications
from errand.tasks import TaskSpec
from fakes.push_service import FakePushService, FakeSubscription, running
from sqlite_db import migrated_sqlite

SECRET_PROMPT = "Pay the invoice with card 4111 1111 1111 1111"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path / "errand.db")


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def service() -> AsyncIterator[FakePushService]:
    async with running(FakePushService()) as started:
        yield started


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def key(tmp_path: Path) -> VapidKey:
    return VapidKey.load_or_create(tmp_path)


def notifier_for(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock, **kwargs: object
) -> Notifier:
    """A notifier whose Web Push may reach the fake push service (an http loopback origin,
    allowed the way ``[notify] push_services`` allows it)."""
    kwargs.setdefault("push_services", frozenset({service.origin}))
    channel = WebPushChannel(key, subject="mailto:owner@example.com")
    return Notifier(store, web_push=channel, clock=clock, **kwargs)  # type: ignore[arg-type]


async def add_device(store: Store, device_id: str) -> None:
    now = datetime.now(UTC)
    async with store._write() as conn:
        await conn.execute(
            devices.insert().values(
                id=device_id,
                name=f"{device_id}'s phone",
                secret_hash="0" * 64,
                created_at=now,
                last_seen_at=now,
            )
        )


async def subscribe(
    store: Store,
    service: FakePushService,
    device_id: str,
    kinds: tuple[str, ...] = ("needs_you", "finished", "failed"),
) -> FakeSubscription:
    await add_device(store, device_id)
    sub = service.subscribe(device_id)
    saved = await PushStore(store).save_subscription(
        device_id,
        endpoint=sub.endpoint,
        p256dh=sub.p256dh,
        auth=sub.auth_b64,
        kinds=kinds,
        now=datetime.now(UTC),
    )
    assert saved is not None
    return sub


async def waiting_task(store: Store, prompt: str = SECRET_PROMPT) -> str:
    task = await store.create_task(prompt, spec=TaskSpec(model="script:x.json"), title="Pay bills")
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    await store.set_task_status(task.id, TaskStatus.WAITING)
    return task.id


async def test_a_task_that_needs_you_reaches_the_phone_signed_encrypted_and_without_secrets(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    task_id = await waiting_task(store)
    notifier = notifier_for(store, service, key, clock)
    try:
        assert await notifier.run_once() == 2
    finally:
        await notifier.aclose()
    [push] = service.pushes
    assert push.problem is None, push.problem
    assert push.vapid_key == key.public_key
    assert push.claims is not None and push.claims["sub"] == "mailto:owner@example.com"
    assert push.headers["urgency"] == "high"
    assert push.payload is not None
    assert push.payload["kind"] == "needs_you" and push.payload["heading"] == "Needs you"
    assert push.payload["title"] == "Pay bills"
    assert push.payload["url"] == f"/#/tasks/{task_id}"
    assert "4111" not in str(push.payload) and "invoice" not in str(push.payload)
    [note] = await PushStore(store).notifications_of(task_id)
    assert note.delivered_at is not None
    [delivery] = await PushStore(store).deliveries_of(note.id)
    assert delivery.state is NotifyState.SENT and delivery.status_code == 201


async def test_finished_and_failed_tasks_are_told_and_each_kind_can_be_turned_off(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana", kinds=("failed",))
    await subscribe(store, service, "ben", kinds=("finished", "needs_you"))
    done = await store.create_task("sum it", spec=TaskSpec(model="script:x.json"))
    await store.set_task_status(done.id, TaskStatus.RUNNING)
    await store.set_task_status(done.id, TaskStatus.COMPLETED)
    broken = await store.create_task("break it", spec=TaskSpec(model="script:x.json"))
    await store.set_task_status(broken.id, TaskStatus.RUNNING)
    await store.set_task_status(broken.id, TaskStatus.FAILED, error="boom", exit_code=1)
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
    finally:
        await notifier.aclose()
    got = sorted(
        (p.subscription_id, str(p.payload["kind"]) if p.payload else None) for p in service.good()
    )
    assert got == [("ana", "failed"), ("ben", "finished")]


async def test_needs_you_is_sent_once_a_minute_per_task(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    task_id = await waiting_task(store)
    for _ in range(3):  # three more questions in a row
        await store.set_task_status(task_id, TaskStatus.RUNNING)
        await store.set_task_status(task_id, TaskStatus.WAITING)
    assert len(await PushStore(store).notifications_of(task_id)) == 1
    async with store._write() as conn:  # the first was a minute ago
        await conn.execute(
            update(notifications).values(created_at=datetime.now(UTC) - timedelta(seconds=61))
        )
    await store.set_task_status(task_id, TaskStatus.RUNNING)
    await store.set_task_status(task_id, TaskStatus.WAITING)
    assert len(await PushStore(store).notifications_of(task_id)) == 2
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert len(service.good()) == 2


async def test_no_push_while_the_app_is_open_and_visible_on_that_device(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    await subscribe(store, service, "ben")
    now = [0.0]
    presence = Presence(ttl=45, clock=lambda: now[0])
    presence.mark("ana", visible=True)
    task_id = await waiting_task(store)
    notifier = notifier_for(store, service, key, clock, presence=presence)
    try:
        await notifier.run_once()
        assert [p.subscription_id for p in service.pushes] == ["ben"]
        [note] = await PushStore(store).notifications_of(task_id)
        states = {d.device_id: d.state for d in await PushStore(store).deliveries_of(note.id)}
        assert states == {"ana": NotifyState.SUPPRESSED, "ben": NotifyState.SENT}
        # The app went quiet without saying so (killed): after the claim runs out it is told.
        now[0] = 46.0
        await store.set_task_status(task_id, TaskStatus.COMPLETED)
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert sorted(p.subscription_id for p in service.pushes[1:]) == ["ana", "ben"]


@pytest.mark.parametrize("status", [404, 410])
async def test_a_subscription_the_push_service_forgot_is_pruned(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock, status: int
) -> None:
    await subscribe(store, service, "ana")
    service.statuses["ana"] = [status]
    task_id = await waiting_task(store)
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
        assert await PushStore(store).subscription_of("ana") is None
        [note] = await PushStore(store).notifications_of(task_id)
        [delivery] = await PushStore(store).deliveries_of(note.id)
        assert delivery.state is NotifyState.GONE and delivery.status_code == status
        await store.set_task_status(task_id, TaskStatus.COMPLETED)
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert len(service.pushes) == 1


async def test_a_busy_push_service_is_retried_then_the_push_arrives(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    service.statuses["ana"] = [503, 429]
    await waiting_task(store)
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
        assert await notifier.run_once() == 0  # not due yet
        clock.advance(timedelta(seconds=5))
        await notifier.run_once()
        clock.advance(timedelta(minutes=1))
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert [p.status for p in service.pushes] == [503, 429, 201]


async def test_a_revoked_device_loses_its_subscription_at_once_and_gets_nothing(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    await subscribe(store, service, "ben")
    await waiting_task(store)
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.dispatch_new()  # both deliveries are written, none sent yet
        assert await AccessStore(store).revoke_device("ana", now=datetime.now(UTC))
        assert await PushStore(store).subscription_of("ana") is None
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert [p.subscription_id for p in service.pushes] == ["ben"]


async def test_a_restart_neither_sends_twice_nor_loses_a_notification(
    db_url: str, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    store = await open_store(db_url)
    await subscribe(store, service, "ana")
    first = await waiting_task(store)
    notifier = notifier_for(store, service, key, clock)
    await notifier.run_once()
    second = await waiting_task(store, "another errand")
    await notifier.dispatch_new()  # written for sending; the process stops before it sends
    await notifier.aclose()
    await store.aclose()
    store = await open_store(db_url)  # a task goes on (`errand run`) while no gateway runs
    third = await waiting_task(store, "one more")
    await store.aclose()

    store = await open_store(db_url)
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
        await notifier.run_once()
    finally:
        await notifier.aclose()
        await store.aclose()
    sent = [str(p.payload["task_id"]) for p in service.good() if p.payload]
    assert sorted(sent) == sorted([first, second, third])


async def test_news_written_long_before_the_gateway_ran_is_not_pushed_late(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    task_id = await waiting_task(store)
    clock.advance(timedelta(hours=2))
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert service.pushes == []
    [note] = await PushStore(store).notifications_of(task_id)
    [delivery] = await PushStore(store).deliveries_of(note.id)
    assert delivery.state is NotifyState.DROPPED


async def test_ntfy_gets_the_same_notification_with_a_link_to_the_task(
    store: Store, clock: FakeClock
) -> None:
    async with receiving(Receiver()) as receiver:
        ntfy = NtfyChannel(
            f"http://127.0.0.1:{receiver.port}/errand-topic", base_url="https://pc.example.ts.net"
        )
        notifier = Notifier(store, web_push=None, ntfy=ntfy, clock=clock)
        try:
            task_id = await waiting_task(store)
            await notifier.run_once()
            await store.set_task_status(task_id, TaskStatus.COMPLETED)
            await notifier.run_once()
        finally:
            await notifier.aclose()
    first, second = receiver.received
    assert first.headers["title"] == "Errand: Needs you" and first.headers["priority"] == "high"
    assert first.body.decode() == "Pay bills"
    assert first.headers["click"] == f"https://pc.example.ts.net/#/tasks/{task_id}"
    assert second.headers["title"] == "Errand: Finished"
    assert "4111" not in str(first.headers) + first.body.decode()


async def test_a_stored_endpoint_no_longer_allowed_gets_no_request(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")  # accepted while the test service was allowed
    task_id = await waiting_task(store)
    notifier = notifier_for(store, service, key, clock, push_services=frozenset())
    try:
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert service.pushes == []
    [note] = await PushStore(store).notifications_of(task_id)
    [delivery] = await PushStore(store).deliveries_of(note.id)
    assert delivery.state is NotifyState.FAILED and "https" in (delivery.error or "")
    assert await PushStore(store).subscription_of("ana") is None


async def test_revoking_every_device_removes_every_subscription(
    store: Store, service: FakePushService
) -> None:
    await subscribe(store, service, "ana")
    await subscribe(store, service, "ben")
    assert await AccessStore(store).revoke_all_devices(now=datetime.now(UTC)) == 2
    assert await PushStore(store).live_subscriptions() == []
    assert await PushStore(store).subscription_of("ana") is None


async def test_a_device_unused_past_its_expiry_gets_no_push(
    store: Store, service: FakePushService, key: VapidKey, clock: FakeClock
) -> None:
    await subscribe(store, service, "ana")
    await subscribe(store, service, "ben")
    async with store._write() as conn:
        await conn.execute(
            update(devices)
            .where(devices.c.id == "ana")
            .values(last_seen_at=datetime.now(UTC) - timedelta(days=31))
        )
    await waiting_task(store)
    notifier = notifier_for(store, service, key, clock)
    try:
        await notifier.run_once()
    finally:
        await notifier.aclose()
    assert [p.subscription_id for p in service.pushes] == ["ben"]


async def test_a_burst_of_task_changes_is_a_few_passes_and_every_change_still_pushes(
    store: Store,
    service: FakePushService,
    key: VapidKey,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tasks changing back to back must not each cost a pass over the store (two queries on
    the gateway's loop): passes are at least ``PASS_GAP_S`` apart (widened here, so that a
    pass per change cannot pass for coalescing on a slow machine). Nor may coalescing lose
    a change."""
    gap = 0.5
    monkeypatch.setattr(notifier_module, "PASS_GAP_S", gap)
    await subscribe(store, service, "ana")
    notifier = notifier_for(store, service, key, clock, interval=60.0)
    passes = 0
    one_pass = notifier.run_once

    async def counted() -> int:
        nonlocal passes
        passes += 1
        return await one_pass()

    notifier.run_once = counted  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    await notifier.start()
    try:
        began = loop.time()
        task_ids = [await waiting_task(store) for _ in range(30)]
        took, during = loop.time() - began, passes
        await service.wait_for(len(task_ids))
    finally:
        await notifier.aclose()
    assert during <= took / gap + 2, f"{during} passes in {took:.2f} s of changes"
    pushed = sorted(str(push.payload["url"]) for push in service.good() if push.payload)
    assert pushed == sorted(f"/#/tasks/{task_id}" for task_id in task_ids)
