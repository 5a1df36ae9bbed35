"""The runner contract: what the gateway and the CLI ask of whatever runs tasks.

Tasks from every entry point are created ``queued`` in the store (the single queue); a runner
takes them from there. One process with an in-process runner serves a single computer; a
later backend runs tasks on several hosts through PostgreSQL with the same contract.
"""

from __future__ import annotations

from typing import Protocol


class TaskRunner(Protocol):
    """Runs the store's queued tasks, at most ``concurrency`` at a time."""

    async def start(self) -> None:
        """Mark tasks a crash left running as interrupted, then start taking queued tasks."""
        ...

    async def submit(self, task_id: str) -> None:
        """Tell the runner a queued task is waiting (the store holds it already)."""
        ...

    async def cancel(self, task_id: str) -> bool:
        """Stop a queued or running task: the model call and the sandboxed command are
        stopped and the task is recorded as cancelled. False when it had already ended."""
        ...

    async def follow_up(self, task_id: str, text: str) -> None:
        """Give a task another message from the user; it is stored before this returns
        (so before the gateway acknowledges it) and the task's loop reads it from the store.

        A queued task keeps its request first in its transcript and gets the message after it;
        a running task reads it before its next model call; a finished one is reopened and
        continues from its transcript. Each (re)start re-checks the task's folder grants."""
        ...

    async def resume(self, task_id: str) -> None:
        """Queue an interrupted task again; it continues from its transcript."""
        ...

    async def aclose(self) -> None:
        """Stop: running tasks are stopped and recorded as interrupted; nothing is lost."""
        ...
