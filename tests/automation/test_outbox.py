"""Outbound webhooks against a real receiver on loopback that verifies with standardwebhooks:
the outbox is written with the status change, retried on the spec's schedule, and a 410
disables the endpoint."""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta

import pytest

from automation.clock import FakeClock
from automation.receiver import Receiver, running
from errand.automation import RETRY_DELAYS, AutomationError, Deliverer, Webhooks
from errand.automation.template import TaskTemplate
from errand.automation.webhooks import IPAddress
from errand.intake import Intake
from errand.store import AutomationStore, DeliveryState, Store, TaskStatus
from errand.tasks import SourceKind, TaskSource


async def _finish(store: Store, intake: Intake, status: TaskStatus) -> str:
    task = await intake.submit(TaskTemplate().request("say hi", source=_api()))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    await store.set_task_status(
        task.id, status, error="boom" if status is TaskStatus.FAILED else None
    )
    return task.id


def _api() -> TaskSource:
    return TaskSource(kind=SourceKind.API)


async def test_a_finished_task_is_delivered_signed_and_verified_by_the_receiver(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    async with running(Receiver()) as receiver:
        webhooks = Webhooks(store, clock=clock)
        added = await webhooks.add(
            receiver.url, ["task.completed", "task.failed"], allow_private=True
        )
        receiver.secret = added.secret
        task_id = await _finish(store, intake, TaskStatus.COMPLETED)
        deliverer = Deliverer(store, clock=clock, base_url="https://errand.example")
        try:
            assert await deliverer.deliver_due() == 1
        finally:
            await deliverer.aclose()
        [got] = receiver.received
        assert got.verified
        body = json.loads(got.body)
        assert body["type"] == "task.completed"
        assert body["data"]["task_id"] == task_id and body["data"]["status"] == "completed"
        assert body["data"]["links"]["api"] == f"https://errand.example/api/v1/tasks/{task_id}"
        [(delivery, attempts)] = await webhooks.deliveries(added.record.id)
        assert delivery.state is DeliveryState.DELIVERED
        assert [a.status_code for a in attempts] == [200]
        assert delivery.id == got.headers["webhook-id"]


async def test_unsubscribed_events_and_other_schedules_are_not_delivered(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    webhooks = Webhooks(store, clock=clock)
    added = await webhooks.add("http://127.0.0.1:9/x", ["task.failed"], allow_private=True)
    await _finish(store, intake, TaskStatus.COMPLETED)
    assert await webhooks.deliveries(added.record.id) == []
    await _finish(store, intake, TaskStatus.FAILED)
    [(delivery, _)] = await webhooks.deliveries(added.record.id)
    assert delivery.event == "task.failed"


async def test_a_receiver_answering_500_then_200_gets_it_on_the_retry(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    async with running(Receiver(statuses=[500])) as receiver:
        webhooks = Webhooks(store, clock=clock)
        added = await webhooks.add(receiver.url, ["task.completed"], allow_private=True)
        receiver.secret = added.secret
        await _finish(store, intake, TaskStatus.COMPLETED)
        deliverer = Deliverer(store, clock=clock)
        try:
            assert await deliverer.deliver_due() == 1
            assert await deliverer.deliver_due() == 0  # not due again for 5 seconds
            clock.advance(RETRY_DELAYS[0])
            assert await deliverer.deliver_due() == 1
        finally:
            await deliverer.aclose()
        assert len(receiver.unique_ids()) == 1 and len(receiver.received) == 2
        [(delivery, attempts)] = await webhooks.deliveries(added.record.id)
        assert delivery.state is DeliveryState.DELIVERED
        assert [a.status_code for a in attempts] == [500, 200]
        assert all(a.latency_ms >= 0 for a in attempts)


async def test_retries_follow_the_schedule_then_the_delivery_fails_visibly(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    async with running(Receiver(statuses=[503] * 20)) as receiver:
        webhooks = Webhooks(store, clock=clock)
        added = await webhooks.add(receiver.url, ["task.completed"], allow_private=True)
        await _finish(store, intake, TaskStatus.COMPLETED)
        deliverer = Deliverer(store, clock=clock)
        try:
            assert await deliverer.deliver_due() == 1
            for delay in RETRY_DELAYS:
                clock.advance(delay - timedelta(seconds=1))
                assert await deliverer.deliver_due() == 0
                clock.advance(timedelta(seconds=1))
                assert await deliverer.deliver_due() == 1
            clock.advance(timedelta(days=2))
            assert await deliverer.deliver_due() == 0
        finally:
            await deliverer.aclose()
        [(delivery, attempts)] = await webhooks.deliveries(added.record.id)
        assert delivery.state is DeliveryState.FAILED
        assert len(attempts) == len(RETRY_DELAYS) + 1 == len(receiver.received)


async def test_410_gone_disables_the_endpoint(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    async with running(Receiver(statuses=[410])) as receiver:
        webhooks = Webhooks(store, clock=clock)
        added = await webhooks.add(receiver.url, ["task.completed"], allow_private=True)
        await _finish(store, intake, TaskStatus.COMPLETED)
        deliverer = Deliverer(store, clock=clock)
        try:
            await deliverer.deliver_due()
        finally:
            await deliverer.aclose()
        endpoint = await webhooks.get(added.record.id)
        assert endpoint.disabled_at is not None and "410" in (endpoint.disabled_reason or "")
        await _finish(store, intake, TaskStatus.COMPLETED)
        assert len(await webhooks.deliveries(added.record.id)) == 1
        with pytest.raises(AutomationError) as refused:
            await webhooks.test(added.record.id)
        assert refused.value.code == "webhook_disabled"


async def test_loopback_endpoints_need_allow_private(store: Store, clock: FakeClock) -> None:
    webhooks = Webhooks(store, clock=clock)
    with pytest.raises(AutomationError) as refused:
        await webhooks.add("http://127.0.0.1:8080/x", ["task.completed"])
    assert "loopback" in refused.value.message and "--allow-private" in refused.value.message
    with pytest.raises(AutomationError):
        await webhooks.add("http://10.1.2.3/x", ["task.completed"])
    with pytest.raises(AutomationError):
        await webhooks.add("file:///etc/passwd", ["task.completed"])
    with pytest.raises(AutomationError):
        await webhooks.add("https://example.com/x", ["task.exploded"])


async def test_the_deliverer_checks_the_address_again_at_each_attempt(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    async with running(Receiver()) as receiver:
        webhooks = Webhooks(store, clock=clock)
        # A name that resolved to a public address when added, stored as add() would.
        endpoint = await AutomationStore(store).add_endpoint(
            f"http://rebind.example:{receiver.port}/x",
            events=["task.completed"],
            schedule_id=None,
            allow_private=False,
            secret="whsec_" + "A" * 32,
            now=clock.now,
        )
        await _finish(store, intake, TaskStatus.COMPLETED)

        async def rebinding(host: str, port: int) -> list[IPAddress]:
            return [ipaddress.IPv4Address("127.0.0.1")]

        deliverer = Deliverer(store, clock=clock, resolver=rebinding)
        try:
            await deliverer.deliver_due()
        finally:
            await deliverer.aclose()
        assert receiver.received == []
        [(_, [attempt])] = await webhooks.deliveries(endpoint.id)
        assert attempt.status_code is None and "loopback" in (attempt.error or "")
