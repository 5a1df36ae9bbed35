"""Crash recovery that never interrupts a task another live process is running."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.runner.claims import TaskClaims, interrupt_orphans
from errand.store import Store, TaskStatus, open_store
from errand.tasks import TaskSpec


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'errand.db'}")
    yield opened
    await opened.aclose()


def exited_pid() -> int:
    """The pid of a process that has ended."""
    finished = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(finished.stdout)


async def running_task(store: Store, status: TaskStatus = TaskStatus.RUNNING) -> str:
    task = await store.create_task("work", spec=TaskSpec(model="script:x"))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    if status is TaskStatus.WAITING:
        await store.set_task_status(task.id, TaskStatus.WAITING)
    return task.id


async def test_only_tasks_whose_owner_is_gone_are_interrupted(store: Store, tmp_path: Path) -> None:
    claims = TaskClaims(tmp_path / "running")
    live = await running_task(store)
    claims.claim(live)
    unclaimed = await running_task(store, TaskStatus.WAITING)
    dead = await running_task(store)
    (tmp_path / "running" / dead).write_text(f"{exited_pid()} 12345\n", encoding="utf-8")
    reused = await running_task(store)
    (tmp_path / "running" / reused).write_text("1 999999999\n", encoding="utf-8")

    found = await interrupt_orphans(store, claims)

    assert set(found) == {unclaimed, dead, reused}
    assert (await store.get_task(live)).status is TaskStatus.RUNNING
    for task_id in found:
        task = await store.get_task(task_id)
        assert task.status is TaskStatus.INTERRUPTED and task.error
        assert not (tmp_path / "running" / task_id).exists()


async def test_release_forgets_the_claim(tmp_path: Path) -> None:
    claims = TaskClaims(tmp_path / "running")
    claims.claim("t1")
    assert claims.owner_alive("t1")
    claims.release("t1")
    claims.release("t1")
    assert not claims.owner_alive("t1")
