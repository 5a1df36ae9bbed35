"""The list of runners: an idle worker is as visible as a busy one, a dead one shows as
stopped once its heartbeat is overdue, and a queued task says whether its worker runs."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from errand.server.task_views import TaskViews
from errand.store import Store, TaskStatus
from errand.store.schema import utc_now
from errand.store.workers import KEEP_STOPPED, workers
from errand.tasks import GATEWAY_WORKER, FolderGrantSpec, TaskSpec

MODEL = "script:turns.json"


def _on(worker: str | None) -> TaskSpec:
    folder = FolderGrantSpec(name="shared", path="/srv/shared", worker=worker)
    return TaskSpec(model=MODEL, folders=(folder,))


async def test_a_heartbeat_lists_the_runner_with_where_it_runs_and_what_it_holds(
    store: Store,
) -> None:
    await store.renew_worker("nas/1", name="nas", labels={"nas"}, concurrency=3, alive_seconds=30)
    [idle] = await store.list_workers()
    assert (idle.id, idle.name, idle.labels, idle.concurrency) == (
        "nas/1",
        "nas",
        frozenset({"nas"}),
        3,
    )
    assert (idle.host, idle.pid) == (socket.gethostname(), os.getpid())
    assert idle.alive and idle.running == 0

    first = await store.create_task("one", spec=TaskSpec(model=MODEL))
    await store.create_task("two", spec=TaskSpec(model=MODEL))
    assert await store.claim_next_task("nas/1", lease_seconds=30, workers={"nas"})
    assert await store.claim_next_task("nas/1", lease_seconds=30, workers={"nas"})
    await store.set_task_status(first.id, TaskStatus.COMPLETED)
    began = idle.started_at
    await store.renew_worker("nas/1", name="nas", labels={"nas"}, concurrency=3, alive_seconds=30)
    [busy] = await store.list_workers()
    assert busy.running == 1 and busy.started_at == began and busy.alive_until > idle.alive_until
    assert await store.live_worker_labels() == {"nas"}


async def test_an_overdue_heartbeat_reads_stopped_and_a_clean_stop_unlists(store: Store) -> None:
    await store.renew_worker("dead/1", name="dead", labels={"dead"}, concurrency=1, alive_seconds=0)
    await store.renew_worker(
        "gw/1", name=GATEWAY_WORKER, labels={GATEWAY_WORKER, "den"}, concurrency=2, alive_seconds=30
    )
    listed = {worker.name: worker.alive for worker in await store.list_workers()}
    assert listed == {"dead": False, GATEWAY_WORKER: True}
    assert await store.live_worker_labels() == {GATEWAY_WORKER, "den"}

    await store.remove_worker("gw/1")
    assert [worker.name for worker in await store.list_workers()] == ["dead"]
    assert await store.live_worker_labels() == frozenset()


async def test_runners_dead_for_longer_than_a_day_are_forgotten(store: Store) -> None:
    await store.renew_worker("old/1", name="old", labels={"old"}, concurrency=1, alive_seconds=0)
    await store.renew_worker("new/1", name="new", labels={"new"}, concurrency=1, alive_seconds=0)
    long_ago = utc_now() - KEEP_STOPPED - timedelta(minutes=1)
    async with store._write() as conn:
        await conn.execute(
            workers.update().where(workers.c.id == "old/1").values(alive_until=long_ago)
        )
    await store.renew_worker("nas/1", name="nas", labels={"nas"}, concurrency=1, alive_seconds=30)
    assert sorted(worker.name for worker in await store.list_workers()) == ["nas", "new"]


async def test_a_queued_task_says_whether_the_runner_it_waits_for_is_running(
    store: Store,
) -> None:
    on_pi = await store.create_task("pi's", spec=_on("pi"))
    on_gateway = await store.create_task("gateway's", spec=_on(None))
    anywhere = await store.create_task("no folders", spec=TaskSpec(model=MODEL))
    shown = [on_pi, on_gateway, anywhere]

    # A gateway with no runner of its own (`errand serve --no-runner`), no worker alive.
    # (Each check is a new gateway's view: one trusts its read of the runners for a second.)
    assert [view.waiting_for for view in await TaskViews(store)(shown)] == [
        "Waits for the worker 'pi', which is not running: start `errand worker --name pi` on "
        "the computer that has its folders.",
        "Waits for the gateway's own runner: its folders are on the gateway's computer, and "
        "`errand serve --no-runner` runs no tasks.",
        "Waits for a worker: none is running. Start `errand worker` on a computer that "
        "reaches the database.",
    ]

    await store.renew_worker("pi/1", name="pi", labels={"pi"}, concurrency=1, alive_seconds=30)
    assert [view.waiting_for for view in await TaskViews(store)(shown)] == [
        "Runs on the worker 'pi' once it has room: its folders are there.",
        "Waits for the gateway's own runner: its folders are on the gateway's computer, and "
        "`errand serve --no-runner` runs no tasks.",
        None,
    ]

    # A gateway that runs tasks itself says nothing of the ones it runs.
    own = TaskViews(store, runs_here=frozenset({GATEWAY_WORKER}))
    assert [view.waiting_for for view in await own(shown)] == [
        "Runs on the worker 'pi' once it has room: its folders are there.",
        None,
        None,
    ]
