"""Automation's batch writes cost running tasks the same whatever the batch's size.

A running task's next event waits for the one writer connection, and each statement of a
transaction holding it is a round trip through the event loop. So a pass of the deliverer or
the scheduler must take a fixed number of statements, not one per delivery or schedule
(under load that was 200-500 ms of held writer per pass; see benchmarks/automation.py). The
statements are counted on the store's writer, so no timing is involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import event

from automation.clock import FakeClock
from automation.receiver import Receiver, running
from errand.automation import Deliverer, Webhooks
from errand.automation.template import TaskTemplate
from errand.intake import Intake
from errand.store import (
    Advance,
    AutomationStore,
    DeliveryState,
    NewRun,
    NewSchedule,
    RunReason,
    RunState,
    Store,
    TaskStatus,
)
from errand.tasks import SourceKind, TaskSource


@contextmanager
def writer_statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements sent on the store's writer connection meanwhile."""
    seen: list[str] = []
    engine = store._db.writer.sync_engine

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _completed_tasks(store: Store, intake: Intake, count: int) -> None:
    for _ in range(count):
        task = await intake.submit(
            TaskTemplate().request("say hi", source=TaskSource(kind=SourceKind.API))
        )
        await store.set_task_status(task.id, TaskStatus.RUNNING)
        await store.set_task_status(task.id, TaskStatus.COMPLETED)


async def test_a_pass_of_twenty_deliveries_writes_as_much_as_a_pass_of_one(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    async with running(Receiver()) as receiver:
        webhooks = Webhooks(store, clock=clock)
        added = await webhooks.add(receiver.url, ["task.completed"], allow_private=True)
        deliverer = Deliverer(store, clock=clock)
        try:
            await _completed_tasks(store, intake, 1)
            with writer_statements(store) as one:
                assert await deliverer.deliver_due() == 1
            await _completed_tasks(store, intake, 20)
            with writer_statements(store) as twenty:
                assert await deliverer.deliver_due() == 20
        finally:
            await deliverer.aclose()
    deliveries = await webhooks.deliveries(added.record.id, limit=50)
    assert [d.state for d, _ in deliveries] == [DeliveryState.DELIVERED] * 21
    assert all(len(attempts) == 1 for _, attempts in deliveries)
    assert len(twenty) == len(one) <= 4


async def test_advancing_claiming_and_linking_twenty_schedules_writes_as_much_as_one(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    automation = AutomationStore(store)
    for n in range(22):
        await automation.add_schedule(_every_hour(f"s{n:02}", clock() + HOUR), now=clock())
    clock.advance(HOUR)
    schedules = await automation.due_schedules(now=clock(), limit=50)
    assert len(schedules) == 22
    await automation.set_paused(schedules[5].id, paused=True)  # after it was read as due
    request = TaskTemplate().request("water the plants", source=TaskSource(kind=SourceKind.API))
    tasks = [(await intake.submit(request)).id for _ in range(21)]

    counts: list[int] = []
    for batch in (schedules[:1], schedules[1:]):
        with writer_statements(store) as statements:
            advanced = await automation.advance_many(
                [
                    Advance(s, clock() + HOUR, (NewRun(clock(), RunReason.SCHEDULED, PENDING),))
                    for s in batch
                ],
                now=clock(),
            )
            pending = await automation.runs_in_state(PENDING, limit=50)
            claimed = await automation.claim_runs([r.id for r in pending], now=clock())
            await automation.link_runs(list(zip(claimed, tasks, strict=False)))
        tasks = tasks[len(claimed) :]
        counts.append(len(statements))
        assert set(advanced) == {s.id for s in batch} - {schedules[5].id}
        assert len(claimed) == len(advanced)
    assert counts[0] == counts[1] <= 9
    started = await automation.runs_in_state(RunState.STARTED, limit=50)
    assert len(started) == 21 and all(r.task_id for r in started)
    paused = await automation.get_schedule(schedules[5].name)
    assert paused is not None and paused.next_at == schedules[5].next_at and paused.runs == 0


HOUR = timedelta(hours=1)
PENDING = RunState.PENDING


def _every_hour(name: str, next_at: datetime) -> NewSchedule:
    return NewSchedule(
        name=name,
        prompt="water the plants",
        timing_kind="every",
        timing="3600",
        tz="UTC",
        request={},
        missed="run-once",
        max_runs=None,
        notify=False,
        token_budget=None,
        next_at=next_at,
    )
