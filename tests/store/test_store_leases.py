"""Worker leases: claims never collide, heartbeats keep tasks, dead workers' tasks are freed,
and cancels and follow-ups are addressed to whichever worker holds a task."""

from __future__ import annotations

import asyncio

from errand.store import (
    FollowUpDelivery,
    JsonInput,
    Lease,
    QuestionStatus,
    Store,
    TaskStatus,
    open_store,
)
from errand.tasks import GATEWAY_WORKER, FolderGrantSpec, TaskSpec

MODEL = "script:turns.json"


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


def _on(worker: str | None, tmp: str = "/srv/shared") -> TaskSpec:
    """A task using a folder of ``worker`` (None: of the gateway's computer)."""
    folder = FolderGrantSpec(name="shared", path=tmp, worker=worker)
    return TaskSpec(model=MODEL, folders=(folder,))


async def test_a_claim_skips_tasks_whose_folders_are_on_another_worker(store: Store) -> None:
    on_laptop = await store.create_task("laptop's", spec=_on("laptop"))
    on_gateway = await store.create_task("gateway's", spec=_on(None))
    anywhere = await store.create_task("no folders", spec=TaskSpec(model=MODEL))
    on_nas = await store.create_task("nas's", spec=_on("nas"))
    taken = []
    while task := await store.claim_next_task("nas/1", lease_seconds=30, workers={"nas"}):
        taken.append(task.id)
    assert taken == [anywhere.id, on_nas.id]  # oldest first, the others never touched
    for task_id in (on_laptop.id, on_gateway.id):
        left = await store.get_task(task_id)
        assert left.status is TaskStatus.QUEUED and left.lease_owner is None
        assert [e.type for e in await store.events(task_id)] == ["task.created"]
    assert await store.claim_next_task("w/1", lease_seconds=30) is None  # no folders served
    served = await store.claim_next_task("serve/1", lease_seconds=30, workers={GATEWAY_WORKER})
    assert served is not None and served.id == on_gateway.id
    laptop = await store.claim_next_task("laptop/1", lease_seconds=30, workers={"laptop"})
    assert laptop is not None and laptop.id == on_laptop.id


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
    await store.claim_next_task("alive", lease_seconds=30)
    await store.claim_next_task("dead", lease_seconds=0)  # lapsed at once: no heartbeat came
    await store.set_task_status(leased_alone.id, TaskStatus.RUNNING)  # an in-process runner's
    await store.set_task_status(kept.id, TaskStatus.WAITING)
    assert await store.renew_leases("alive", lease_seconds=30) == {kept.id}
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


async def test_a_lapsed_lease_reads_as_interrupted_at_once_and_stays_so(store: Store) -> None:
    dead = await store.create_task("dead", spec=TaskSpec(model=MODEL))
    alive = await store.create_task("alive", spec=TaskSpec(model=MODEL))
    await store.claim_next_task("gone", lease_seconds=0)  # its process died at once
    await store.claim_next_task("here", lease_seconds=30)
    # Nobody recorded anything yet, and every reader already sees it interrupted.
    seen = await store.get_task(dead.id)
    assert seen.status is TaskStatus.INTERRUPTED and seen.error
    assert [t.id for t in await store.list_tasks(status=TaskStatus.INTERRUPTED)] == [dead.id]
    assert [t.id for t in await store.list_tasks(status=TaskStatus.RUNNING)] == [alive.id]
    listed = {t.id: t.status for t in await store.list_tasks()}
    assert listed == {dead.id: TaskStatus.INTERRUPTED, alive.id: TaskStatus.RUNNING}
    # Its runner cannot take it back; the first reaper records it.
    assert await store.renew_leases("gone", lease_seconds=30) == set()
    assert await store.interrupt_expired_leases() == [dead.id]
    statuses = [e.payload["status"] for e in await store.events(dead.id) if e.type == "task.status"]
    assert statuses == ["running", "interrupted"]
    assert (await store.get_task(dead.id)).status is TaskStatus.INTERRUPTED


async def test_a_task_created_under_a_lease_is_running_for_its_owner_only(store: Store) -> None:
    task = await store.create_task("mine", spec=TaskSpec(model=MODEL), lease=Lease("run/1", 30))
    assert task.status is TaskStatus.RUNNING and task.lease_owner == "run/1"
    assert await store.claim_next_task("serve", lease_seconds=30) is None
    assert await store.claim_task(task.id, "serve", lease_seconds=30) is None
    log = await store.events(task.id)
    assert [(e.type, e.payload.get("status")) for e in log] == [
        ("task.created", None),
        ("task.status", "running"),
    ]


def user(text: str) -> dict[str, JsonInput]:
    return {"role": "user", "parts": [{"type": "text", "text": text}]}


async def test_follow_ups_wait_in_the_store_in_log_order_until_taken_in(store: Store) -> None:
    task = await store.create_task("talk", spec=TaskSpec(model=MODEL), opening=[user("talk")])
    await store.claim_next_task("w1", lease_seconds=30)
    first = await store.request_follow_up(task.id, "one", message=user("one"))
    second = await store.request_follow_up(task.id, "two", message=user("two"))
    assert first is second is FollowUpDelivery.PENDING
    # Shown at once, in the transcript only once the loop takes them.
    shown = [e.payload for e in await store.events(task.id) if e.type == "message.user"]
    assert shown == [{"text": "one"}, {"text": "two"}]
    assert await store.transcript(task.id) == [user("talk")]
    assert await store.take_follow_ups(task.id) == [user("one"), user("two")]
    assert await store.take_follow_ups(task.id) == []
    assert await store.transcript(task.id) == [user("talk"), user("one"), user("two")]


async def test_a_follow_up_the_task_did_not_take_before_completing_runs_it_again(
    store: Store,
) -> None:
    task = await store.create_task("talk", spec=TaskSpec(model=MODEL))
    await store.claim_next_task("w1", lease_seconds=30)
    await store.request_follow_up(task.id, "and then?", message=user("and then?"))
    await store.set_task_status(task.id, TaskStatus.COMPLETED)
    reopened = await store.get_task(task.id)
    assert reopened.status is TaskStatus.QUEUED and reopened.lease_owner is None
    statuses = [e.payload["status"] for e in await store.events(task.id) if e.type == "task.status"]
    assert statuses == ["running", "completed", "queued"]
    assert await store.take_follow_ups(task.id) == [user("and then?")]


async def test_a_follow_up_reopens_a_finished_task_and_reaches_a_dead_ones_resume(
    store: Store,
) -> None:
    done = await store.create_task("done", spec=TaskSpec(model=MODEL))
    await store.set_task_status(done.id, TaskStatus.CANCELLED)
    assert (
        await store.request_follow_up(done.id, "again", message=user("again"))
        is FollowUpDelivery.QUEUED
    )
    assert (await store.get_task(done.id)).status is TaskStatus.QUEUED
    assert await store.take_follow_ups(done.id) == [user("again")]

    dead = await store.create_task("dead", spec=TaskSpec(model=MODEL), lease=Lease("gone", 0))
    assert (
        await store.request_follow_up(dead.id, "still there?", message=user("still there?"))
        is FollowUpDelivery.QUEUED
    )
    statuses = [e.payload["status"] for e in await store.events(dead.id) if e.type == "task.status"]
    assert statuses == ["running", "interrupted", "queued"]
    assert await store.take_follow_ups(dead.id) == [user("still there?")]


async def test_a_message_sent_while_a_question_waits_is_shown_and_answers_it(
    store: Store,
) -> None:
    task = await store.create_task("ask", spec=TaskSpec(model=MODEL))
    await store.claim_next_task("w1", lease_seconds=30)
    question = await store.create_question(task.id, "Which folder?")
    await store.set_task_status(task.id, TaskStatus.WAITING)
    delivery = await store.request_follow_up(task.id, "Downloads", message=user("Downloads"))
    assert delivery is FollowUpDelivery.ANSWERED
    answered = await store.get_question(question.id)
    assert (answered.status, answered.answer, answered.answered_by) == (
        QuestionStatus.ANSWERED,
        "Downloads",
        "message",
    )
    log = [
        (e.type, e.payload.get("text", e.payload.get("answer")))
        for e in await store.events(task.id)
    ]
    assert log[-2:] == [("message.user", "Downloads"), ("question.answered", "Downloads")]
    assert await store.take_follow_ups(task.id) == []  # it went to the question, not twice
