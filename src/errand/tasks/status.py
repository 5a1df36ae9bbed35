"""A task's statuses, which of them are final, and Errand's exit codes: each said once, here.

A task is ``queued`` until a worker takes it, ``running`` (or ``waiting`` for the user) while
one works on it, and ends ``completed``, ``failed`` or ``cancelled``. ``interrupted`` means
the worker stopped (Errand shut down, or the process died and its lease ran out); the task
can be resumed from its transcript. Every other module asks here rather than listing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum


class TaskStatus(StrEnum):
    """Where a task is in its life. ``completed``, ``failed`` and ``cancelled`` are final."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        """Final: the task ended and only a new message from the user reopens it."""
        return self in FINAL

    @property
    def is_active(self) -> bool:
        """A worker holds the task (``running`` or ``waiting``)."""
        return self in ACTIVE

    @property
    def is_settled(self) -> bool:
        """Nothing works on the task now and nothing will unless someone acts: final, or
        interrupted. A watcher of one run stops at a settled status."""
        return self in FINAL or self is TaskStatus.INTERRUPTED


FINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)
"""The statuses a task ends in."""

ACTIVE: frozenset[TaskStatus] = frozenset({TaskStatus.RUNNING, TaskStatus.WAITING})
"""The statuses of a task a worker holds (and must keep its lease on)."""

ALLOWED_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.FAILED, TaskStatus.CANCELLED}),
    TaskStatus.RUNNING: frozenset(
        {
            TaskStatus.WAITING,
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.INTERRUPTED,
        }
    ),
    TaskStatus.WAITING: frozenset(
        {
            TaskStatus.RUNNING,
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.INTERRUPTED,
        }
    ),
    # An interrupted task resumes from its transcript: back to the queue or straight to a worker.
    TaskStatus.INTERRUPTED: frozenset(
        {TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    # A follow-up message from the user reopens a finished task: back to the queue.
    TaskStatus.COMPLETED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.FAILED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.QUEUED}),
}
"""Which status each status may move to; anything else is refused by the store."""


class ExitCode(IntEnum):
    """Errand's exit status contract, for ``errand run`` and a task's recorded ``exit_code``."""

    OK = 0
    FAILED = 1
    USAGE = 2
    TIMEOUT = 124
    SANDBOX = 125
    CANCELLED = 130
