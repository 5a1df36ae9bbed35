"""The runner contract: what the gateway and the CLI ask of whatever runs tasks.

Tasks from every entry point are created ``queued`` in the store (the single queue); a runner
takes them from there under a lease it renews while it runs them, so a task whose process
died reads as ``interrupted`` to every reader once its lease runs out. One process with an
in-process runner serves a single computer; workers run tasks on several hosts through
PostgreSQL with the same contract.

Everything a runner is asked to do goes through the store first, so it holds whichever
process runs the task and survives a crash: the user's messages are stored (and shown) before
the caller is answered, and the task's loop reads them from the store before each model
call, in the order of the task's log, never from the runner's memory.
"""

from __future__ import annotations

from typing import Protocol


class TaskRunner(Protocol):
    """Runs the store's queued tasks, at most ``concurrency`` at a time."""

    @property
    def folder_workers(self) -> frozenset[str]:
        """The worker labels whose folders this runner has: tasks placed on one of them
        (``TaskSpec.runs_on``) it runs; tasks placed elsewhere wait for that worker."""
        ...

    async def start(self) -> None:
        """Record tasks whose runner died (lease run out) as interrupted, then start taking
        queued tasks."""
        ...

    async def submit(self, task_id: str) -> None:
        """Tell the runner a queued task is waiting (the store holds it already)."""
        ...

    async def cancel(self, task_id: str) -> bool:
        """Stop a queued or running task: the model call and the sandboxed command are
        stopped and the task is recorded as cancelled. False when it had already ended."""
        ...

    async def follow_up(self, task_id: str, text: str) -> None:
        """Give a task another message from the user; it is stored and shown (``message.user``)
        before this returns, so before the gateway acknowledges it.

        A task waiting for the answer to its question takes the message as the answer. Any
        other message waits in the store until the task's loop takes it into the transcript
        before its next model call, in the order of the log: a running task at once (also
        when it completes meanwhile: it runs again for the message), a queued task after its
        request, a finished or interrupted one when it is reopened (queued again now), a
        task whose process crashed after the message was accepted when it is resumed. Each
        (re)start, and each message taken in, re-checks the task's folder grants: a folder
        removed or narrowed since is dropped or narrowed, and the task told."""
        ...

    async def resume(self, task_id: str) -> None:
        """Queue an interrupted task again; it continues from its transcript."""
        ...

    async def aclose(self) -> None:
        """Stop: running tasks are stopped and recorded as interrupted; nothing is lost."""
        ...
