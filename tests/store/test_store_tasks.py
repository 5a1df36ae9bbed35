"""Tasks: creation, lookup, paging, status transitions and recovery after a crash."""

from __future__ import annotations

import pytest

from errand.store import (
    ALLOWED_TRANSITIONS,
    InvalidPayload,
    InvalidTransition,
    Store,
    TaskNotFound,
    TaskStatus,
)
from errand.tasks import FolderGrantSpec, NetworkSpec, SourceKind, TaskSource, TaskSpec

MODEL = "anthropic:test-model"


async def test_a_new_task_is_queued_and_its_log_starts_with_task_created(store: Store) -> None:
    spec = TaskSpec(
        model=MODEL,
        folders=(FolderGrantSpec(name="docs", path="/home/me/docs"),),
        network=NetworkSpec(allow_domains=("example.org",)),
        source=TaskSource(kind=SourceKind.PHONE, ref="dev1"),
        max_steps=40,
    )
    task = await store.create_task("Sort my invoices\nby month, please", spec=spec)
    assert task.status is TaskStatus.QUEUED
    assert task.title == "Sort my invoices"
    assert task.spec == spec
    assert (task.source.kind, task.spec.max_steps, task.last_seq) == (SourceKind.PHONE, 40, 1)
    assert task.created_at.tzinfo is not None
    assert task.started_at is None and task.finished_at is None
    assert await store.get_task(task.id) == task
    [created] = await store.events(task.id)
    assert (created.seq, created.type) == (1, "task.created")
    assert created.payload["prompt"] == "Sort my invoices\nby month, please"
    assert created.payload["source"] == "phone"


async def test_long_first_lines_make_short_titles(store: Store) -> None:
    task = await store.create_task("word " * 100, spec=TaskSpec(model=MODEL))
    assert len(task.title) <= 80
    assert task.title.endswith("…")


async def test_ids_are_url_safe(store: Store) -> None:
    task = await store.create_task("x", spec=TaskSpec(model=MODEL))
    assert task.id.isalnum() and task.id == task.id.lower()


async def test_unknown_task_raises_task_not_found(store: Store) -> None:
    with pytest.raises(TaskNotFound):
        await store.get_task("nope")
    with pytest.raises(TaskNotFound):
        await store.set_task_status("nope", TaskStatus.RUNNING)


@pytest.mark.parametrize(("prompt", "title"), [("", None), ("  \n ", None), ("x", "t" * 201)])
async def test_bad_task_input_is_refused_and_stores_nothing(
    store: Store, prompt: str, title: str | None
) -> None:
    with pytest.raises(InvalidPayload):
        await store.create_task(prompt, spec=TaskSpec(model=MODEL), title=title)
    assert await store.list_tasks() == []


async def test_listing_pages_newest_first_without_gaps_or_repeats(store: Store) -> None:
    created = [await store.create_task(f"task {n}", spec=TaskSpec(model=MODEL)) for n in range(25)]
    newest_first = [task.id for task in reversed(created)]

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await store.list_tasks(limit=10, before=cursor)
        if not page:
            break
        seen.extend(task.id for task in page)
        cursor = page[-1].id
    assert seen == newest_first

    newer = await store.list_tasks(after=created[19].id, limit=3)
    assert [task.id for task in newer] == [created[22].id, created[21].id, created[20].id]


async def test_listing_filters_by_status(store: Store) -> None:
    queued = await store.create_task("stays queued", spec=TaskSpec(model=MODEL))
    running = await store.create_task("runs", spec=TaskSpec(model=MODEL))
    await store.set_task_status(running.id, TaskStatus.RUNNING)
    assert [t.id for t in await store.list_tasks(status=TaskStatus.RUNNING)] == [running.id]
    both = await store.list_tasks(status=[TaskStatus.RUNNING, TaskStatus.QUEUED])
    assert [t.id for t in both] == [running.id, queued.id]


async def test_a_task_runs_then_completes_with_timestamps_and_status_events(store: Store) -> None:
    task = await store.create_task("run me", spec=TaskSpec(model=MODEL))
    running = await store.set_task_status(task.id, TaskStatus.RUNNING)
    assert running.started_at is not None and running.finished_at is None
    await store.set_task_status(task.id, TaskStatus.WAITING)
    again = await store.set_task_status(task.id, TaskStatus.RUNNING)
    assert again.started_at == running.started_at
    done = await store.set_task_status(task.id, TaskStatus.COMPLETED, exit_code=0)
    assert done.status is TaskStatus.COMPLETED
    assert done.finished_at is not None and done.exit_code == 0

    log = await store.events(task.id)
    statuses = [
        (e.payload["previous"], e.payload["status"]) for e in log if e.type == "task.status"
    ]
    assert statuses == [
        ("queued", "running"),
        ("running", "waiting"),
        ("waiting", "running"),
        ("running", "completed"),
    ]
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert done.last_seq == len(log)


async def test_failure_records_the_error(store: Store) -> None:
    task = await store.create_task("fail", spec=TaskSpec(model=MODEL))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    failed = await store.set_task_status(
        task.id, TaskStatus.FAILED, error="model unreachable", exit_code=1
    )
    assert (failed.error, failed.exit_code) == ("model unreachable", 1)
    assert (await store.events(task.id))[-1].payload["error"] == "model unreachable"


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (start, target)
        for start in TaskStatus
        for target in TaskStatus
        if target not in ALLOWED_TRANSITIONS[start]
        and start in (TaskStatus.QUEUED, TaskStatus.COMPLETED, TaskStatus.CANCELLED)
    ],
)
async def test_forbidden_transitions_raise_and_change_nothing(
    store: Store, start: TaskStatus, target: TaskStatus
) -> None:
    task = await store.create_task("transition", spec=TaskSpec(model=MODEL))
    paths = {
        TaskStatus.QUEUED: [],
        TaskStatus.COMPLETED: [TaskStatus.RUNNING, TaskStatus.COMPLETED],
        TaskStatus.CANCELLED: [TaskStatus.CANCELLED],
    }
    for step in paths[start]:
        await store.set_task_status(task.id, step)
    before = await store.get_task(task.id)
    with pytest.raises(InvalidTransition) as caught:
        await store.set_task_status(task.id, target)
    assert (caught.value.current, caught.value.requested) == (start.value, target.value)
    assert await store.get_task(task.id) == before
    assert len(await store.events(task.id)) == before.last_seq


async def test_finished_tasks_cannot_be_restarted(store: Store) -> None:
    task = await store.create_task("once", spec=TaskSpec(model=MODEL))
    await store.set_task_status(task.id, TaskStatus.CANCELLED)
    with pytest.raises(InvalidTransition):
        await store.set_task_status(task.id, TaskStatus.RUNNING)


async def test_an_interrupted_task_can_be_queued_again(store: Store) -> None:
    task = await store.create_task("resume me", spec=TaskSpec(model=MODEL))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    await store.set_task_status(task.id, TaskStatus.INTERRUPTED)
    resumed = await store.set_task_status(task.id, TaskStatus.QUEUED)
    assert resumed.status is TaskStatus.QUEUED
