"""``errand sessions prune``: old finished tasks go with everything they hold; the database
shrinks; unfinished tasks stay whatever their age."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from errand.store import TaskStatus, open_store
from errand.tasks import TaskSpec

OLD = "2020-01-01 00:00:00.000000"


def errand(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def make_tasks(database: Path) -> dict[str, str]:
    """An old finished task with a big log, an old running one, an old interrupted one and a
    recent finished one; returns their ids by role."""

    async def build() -> dict[str, str]:
        store = await open_store(f"sqlite+aiosqlite:///{database}")
        ids: dict[str, str] = {}
        try:
            for role in ("old_done", "old_failed", "old_running", "old_interrupted", "recent"):
                task = await store.create_task(f"{role} errand", spec=TaskSpec(model="script:x"))
                ids[role] = task.id
                await store.set_task_status(task.id, TaskStatus.RUNNING)
                for n in range(200 if role.startswith("old_") else 1):
                    await store.append_event(task.id, "message.delta", {"text": f"{n} " * 500})
            await store.set_task_status(ids["old_done"], TaskStatus.COMPLETED, exit_code=0)
            await store.set_task_status(ids["old_failed"], TaskStatus.FAILED, error="boom")
            await store.set_task_status(ids["old_interrupted"], TaskStatus.INTERRUPTED)
            await store.set_task_status(ids["recent"], TaskStatus.COMPLETED, exit_code=0)
        finally:
            await store.aclose()
        return ids

    ids = asyncio.run(build())
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE tasks SET created_at = ?, finished_at = CASE WHEN finished_at IS NULL "
            "THEN NULL ELSE ? END WHERE id != ?",
            (OLD, OLD, ids["recent"]),
        )
    return ids


def count(database: Path, table: str, task_id: str) -> int:
    with sqlite3.connect(database) as db:
        column = "id" if table == "tasks" else "task_id"
        query = f"SELECT count(*) FROM {table} WHERE {column} = ?"  # noqa: S608 - fixed names
        row = db.execute(query, (task_id,)).fetchone()
        return int(row[0])


def test_prune_removes_old_finished_tasks_with_their_logs_and_compacts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    database = home / "errand.db"
    ids = make_tasks(database)
    before = database.stat().st_size
    assert count(database, "events", ids["old_done"]) > 100

    pruned = errand(home, "sessions", "prune", "--older-than", "90d")
    assert pruned.returncode == 0, pruned.stderr
    assert "Removed 2 task(s)" in pruned.stdout
    assert "Kept 2 older task(s) that have not ended" in pruned.stdout
    for role in ("old_done", "old_failed"):
        assert count(database, "tasks", ids[role]) == 0
        assert count(database, "events", ids[role]) == 0
    for role in ("old_running", "old_interrupted", "recent"):
        assert count(database, "tasks", ids[role]) == 1
        assert count(database, "events", ids[role]) > 0
    assert database.stat().st_size < before * 0.75, (before, database.stat().st_size)
    listed = errand(home, "sessions", "list")
    assert ids["recent"] in listed.stdout and ids["old_done"] not in listed.stdout


def test_prune_refuses_a_malformed_age(tmp_path: Path) -> None:
    answer = errand(tmp_path / "home", "sessions", "prune", "--older-than", "soon")
    assert answer.returncode == 2
    assert "not an age like 90d" in answer.stderr
