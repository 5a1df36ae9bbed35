"""Folders are the worker's own: each task runs on the worker that has its folders.

Three in-process workers over one real PostgreSQL server, each with its own store
connection as a worker process has: a task naming the nas's folder runs on the nas (and sees
that folder's files), the laptop's on the laptop, tasks with no folders on either, and a task
for a worker that is not running waits, saying so, until that worker starts.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from errand.access import add_folder
from errand.intake import FolderChoice, Intake, IntakeSettings, TaskRequest
from errand.models import ModelAdapter, ScriptedModel
from errand.runner import LeaseSettings, Worker
from errand.server.task_views import TaskViews
from errand.store import Store, TaskStatus, open_store
from errand.tasks import SourceKind, TaskSource

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

LEASES = LeaseSettings(lease_seconds=15, check_seconds=5, idle_poll_seconds=5)


def lists_its_folder(tmp_path: Path) -> Callable[[str], ModelAdapter]:
    """The scripted model: list the working directory (the task's first folder), then end."""
    path = tmp_path / "ls.json"
    turns = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "ls"}}]},
        {"text": "done"},
    ]
    path.write_text(json.dumps({"turns": turns}), encoding="utf-8")
    return lambda _model: ScriptedModel.from_file(path)


async def ran(store: Store, task_id: str) -> tuple[str, str]:
    """Which worker (by name) ran the task, and the files its ``ls`` listed."""
    events = await store.events(task_id)
    claims = [
        e.payload["worker"] for e in events if e.type == "task.status" and "worker" in e.payload
    ]
    listing = [e.payload["content"] for e in events if e.type == "tool.result"]
    return str(claims[0]).split("/")[0], str(listing[0]).split("--- stdout ---\n")[-1].strip()


async def completed(store: Store, *task_ids: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        statuses = {(await store.get_task(t)).status for t in task_ids}
        if statuses == {TaskStatus.COMPLETED}:
            return
        if TaskStatus.FAILED in statuses or asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"tasks ended {statuses}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def store(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_each_task_runs_on_the_worker_that_has_its_folders(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    for host in ("nas", "laptop", "pi"):
        (tmp_path / host).mkdir()
        (tmp_path / host / f"on-the-{host}.txt").write_text(host, encoding="utf-8")
        await add_folder(store, tmp_path / host, name=f"{host} files", worker=host)
    intake = Intake(
        store,
        config=IntakeSettings(default_model="script:ls.json", allow_scripted_models=True),
    )

    async def submit(*folders: str) -> str:
        request = TaskRequest(
            prompt="list it",
            folders=[FolderChoice(name) for name in folders],
            source=TaskSource(kind=SourceKind.PHONE),
        )
        return (await intake.submit(request)).id

    model = lists_its_folder(tmp_path)
    async with AsyncExitStack() as stack:

        async def start(name: str) -> Worker:
            own = await open_store(database_url)  # a worker process has its own connection
            stack.push_async_callback(own.aclose)
            worker = Worker(own, name=name, concurrency=2, leases=LEASES, model_factory=model)
            await worker.start()
            stack.push_async_callback(worker.aclose)
            return worker

        # The pi's task is the oldest: the running workers skip it for the newer ones.
        for_pi = await submit("pi files")
        await start("nas")
        await start("laptop")
        for_nas, for_laptop = await submit("nas files"), await submit("laptop files")
        anywhere = [await submit(), await submit()]
        await completed(store, for_nas, for_laptop, *anywhere)
        assert await ran(store, for_nas) == ("nas", "on-the-nas.txt")
        assert await ran(store, for_laptop) == ("laptop", "on-the-laptop.txt")
        for task_id in anywhere:
            assert (await ran(store, task_id))[0] in {"nas", "laptop"}

        waiting = await store.get_task(for_pi)
        assert waiting.status is TaskStatus.QUEUED and waiting.lease_owner is None
        (view,) = await TaskViews(store)([waiting])
        assert view.runs_on == "pi"
        assert view.waiting_for == (
            "Waits for the worker 'pi', which is not running: start `errand worker --name pi` "
            "on the computer that has its folders."
        )
        # The idle workers are listed as alive, each with the label it serves.
        listed = {worker.name: worker for worker in await store.list_workers()}
        assert set(listed) == {"nas", "laptop"}
        assert all(worker.alive and worker.labels == {name} for name, worker in listed.items())

        await start("pi")
        await completed(store, for_pi)
        assert await ran(store, for_pi) == ("pi", "on-the-pi.txt")
        (view,) = await TaskViews(store)([await store.get_task(for_pi)])
        assert view.waiting_for is None
