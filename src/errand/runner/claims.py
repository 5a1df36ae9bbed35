"""Which process is running which task, so a crash is noticed without touching live tasks.

Several Errand processes may share one store: ``errand serve`` and any number of ``errand
run``. Each writes a claim file for every task it runs (its pid and that process's start
time, so a reused pid is not mistaken for the owner). When a process starts, tasks shown as
running or waiting whose owner is gone were interrupted by a crash: they are marked so, never
left "running".
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from errand.config import data_dir
from errand.sandbox import process_start_time
from errand.store import InvalidTransition, Store, TaskStatus

_INTERRUPTED = "Errand stopped while this task ran; resume it to continue"


class TaskClaims:
    """Claim files under ``<data dir>/running``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or data_dir() / "running"
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def claim(self, task_id: str) -> None:
        """Record that this process runs ``task_id``."""
        me = os.getpid()
        temp = self.directory / f".{task_id}.{me}"
        temp.write_text(f"{me} {process_start_time(me)}\n", encoding="utf-8")
        temp.replace(self.directory / task_id)

    def release(self, task_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / task_id).unlink()

    def owner_alive(self, task_id: str) -> bool:
        try:
            pid_text, started = (self.directory / task_id).read_text(encoding="utf-8").split()
        except (OSError, ValueError):
            return False
        return pid_text.isdigit() and process_start_time(int(pid_text)) == started


async def interrupt_orphans(store: Store, claims: TaskClaims) -> list[str]:
    """Mark running or waiting tasks whose owning process is gone as interrupted."""
    found: list[str] = []
    for task in await store.list_tasks(status=[TaskStatus.RUNNING, TaskStatus.WAITING], limit=500):
        # A worker's task is judged by its lease (Store.interrupt_expired_leases), not here.
        if task.lease_owner is not None or claims.owner_alive(task.id):
            continue
        with contextlib.suppress(InvalidTransition):
            await store.set_task_status(task.id, TaskStatus.INTERRUPTED, error=_INTERRUPTED)
            found.append(task.id)
        claims.release(task.id)
    return found
