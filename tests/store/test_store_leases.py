"""Worker leases: claims never collide, heartbeats keep tasks, dead workers' tasks are freed,
and cancels and follow-ups are addressed to whichever worker holds a task."""

from __future__ import annotations

import asyncio

from errand.store import Store, TaskStatus, open_store
from errand.tasks import TaskSpec

MODEL = "script:turns.json"
USER = {"role": "user", "content": "and then?"}


async def test_a_claim_takes_the_oldest_queued_task_under_a_lease(store: Store) -> None:
    first = await store.create_task("first", spec=TaskSpec(model=MODEL))
    await store.create_task("second", spec=TaskSpec(model=MODEL))
    claimed = await store.claim_next_task("w1", lease_seconds=30)
    assert claimed is not None and claimed.id == first.id
    assert claimed.status is TaskStatus.RUNNING and claimed.lease_owner == "w1"
    assert claimed.lease_expires_at is not None and claimed.started_at is not None
    log = await store.events(first.id)
    assert [(e.seq, e.type) for e in log] == [(1, "task.created"), (2, "task.status")]
    assert log[-1].payload == {"status": "running", "previous": "queued", "worker": "w1"}


async def test_nothing_queued_means_no_claim(store: Store) -> None:
    task = await store.create_task("taken", spec=TaskSpec(model=MODEL))
    await store.set_task_status(task.id, TaskStatus.CANCELLED)
    assert await store.claim_next_task("w1", lease_seconds=30) is None


async def test_racing_workers_each_get_different_tasks(store: Store, db_url: str) -> None:
    created = {(await store.create_task(f"t{n}", spec=TaskSpec(model=MODEL))).id for n in range(20)}
    workers = [await open_store(db_url) for _ in range(4)]
    try:

        async def claim_all(worker: Store, name: str) -> list[str]:
            got: list[str] = []
            while (task := await worker.claim_next_task(name, lease_seconds=30)) is not None:
                got.append(task.id)
            return got

        results = await asyncio.gather(*(claim_all(w, f"w{n}") for n, w in enumerate(workers)))
    finally:
        for worker in workers:
            await worker.aclose()
    claimed = [task_id for got in results for task_id in got]
    assert sorted(claimed) == sorted(created)  # each task exactly once
    for task_id in created:
        log = await store.events(task_id)
        assert [e.seq for e in log] == [1, 2]


async def test_a_heartbeat_keeps_a_task_and_a_lapsed_lease_frees_it(store: Store) -> None:
    kept = await store.create_task("kept", spec=TaskSpec(model=MODEL))
    lost = await store.create_task("lost", spec=TaskSpec(model=MODEL))
    leased_alone = await store.create_task("no lease", spec=TaskSpec(model=MODEL))
    await store.claim_next_task("alive", lease_seconds=0.2)
    await store.claim_next_task("dead", lease_seconds=0.2)
    await store.set_task_status(leased_alone.id, TaskStatus.RUNNING)  # an in-process runner's
    await store.set_task_status(kept.id, TaskStatus.WAITING)
    assert await store.renew_leases("alive", lease_seconds=30) == {kept.id}
    await asyncio.sleep(0.3)  # past the 0.2 s leases; only the renewed one lives on
    assert await store.interrupt_expired_leases() == [lost.id]
    freed = await store.get_task(lost.id)
    assert freed.status is TaskStatus.INTERRUPTED and freed.lease_owner is None
    assert str((await store.events(lost.id))[-1].payload["reason"]).startswith("The worker")
    assert (await store.get_task(kept.id)).status is TaskStatus.WAITING
    assert (await store.get_task(leased_alone.id)).status is TaskStatus.RUNNING
    assert await store.renew_leases("dead", lease_seconds=30) == set()
    assert await store.interrupt_expired_leases() == []


async def test_a_cancel_reaches_the_worker_through_the_log_or_ends_a_waiting_task(
    store: Store,
) -> None:
    running = await store.create_task("running", spec=TaskSpec(model=MODEL))
    queued = await store.create_task("queued", spec=TaskSpec(model=MODEL))
    await store.claim_next_task("w1", lease_seconds=30)
    assert await store.request_cancel(running.id, requested_by="phone") is True
    last = (await store.events(running.id))[-1]
    assert (last.type, last.payload) == ("task.cancel_requested", {"requested_by": "phone"})
    assert (await store.get_task(running.id)).status is TaskStatus.RUNNING  # the worker acts
    assert await store.request_cancel(queued.id) is True
    assert (await store.get_task(queued.id)).status is TaskStatus.CANCELLED
    assert await store.request_cancel(queued.id) is False


async def test_a_follow_up_goes_to_the_running_task_or_reopens_a_finished_one(
    store: Store,
) -> None:
    task = await store.create_task("talk", spec=TaskSpec(model=MODEL))
    await store.claim_next_task("w1", lease_seconds=30)
    assert await store.request_follow_up(task.id, "and then?", message=USER) is True
    assert (await store.events(task.id))[-1].payload == {"text": "and then?"}
    assert await store.transcript(task.id) == []
    await store.set_task_status(task.id, TaskStatus.COMPLETED)
    assert await store.request_follow_up(task.id, "and then?", message=USER) is False
    reopened = await store.get_task(task.id)
    assert reopened.status is TaskStatus.QUEUED and reopened.lease_owner is None
    assert await store.transcript(task.id) == [USER]
    assert [e.type for e in await store.events(task.id)][-2:] == ["message.user", "task.status"]
