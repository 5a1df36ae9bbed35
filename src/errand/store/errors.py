"""The exceptions the store raises.

Every one of them is raised before anything is written (or inside a transaction that is then
rolled back), so a caller that catches one knows the store is unchanged.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of everything the store raises on purpose."""


class StoreClosed(StoreError):
    """The store was closed; open a new one."""


class StoreConfigError(StoreError, ValueError):
    """The database URL cannot be used; the message says what to change."""


class InvalidPayload(StoreError, ValueError):
    """A payload, policy or message is not plain JSON (finite numbers, string keys)."""


class TaskNotFound(StoreError, LookupError):
    """No task has this id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id


class InvalidTransition(StoreError):
    """The task cannot move from its current status to the requested one."""

    def __init__(self, task_id: str, current: str, requested: str) -> None:
        super().__init__(f"task {task_id!r} is {current}; it cannot become {requested}")
        self.task_id = task_id
        self.current = current
        self.requested = requested


class ApprovalNotFound(StoreError, LookupError):
    """No approval has this id."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(f"no approval with id {approval_id!r}")
        self.approval_id = approval_id


class AlreadyDecided(StoreError):
    """The approval was decided before (the first decision wins) or has expired."""

    def __init__(self, approval_id: str, status: str) -> None:
        super().__init__(f"approval {approval_id!r} is already {status}")
        self.approval_id = approval_id
        self.status = status


class ApprovalExpired(AlreadyDecided):
    """The approval's deadline passed before anyone decided; it is now ``expired``."""


class DigestMismatch(StoreError):
    """The decision was made about a different action than the one stored."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(
            f"approval {approval_id!r} was decided against an action that is not the one stored"
        )
        self.approval_id = approval_id


class QuestionNotFound(StoreError, LookupError):
    """No question has this id."""

    def __init__(self, question_id: str) -> None:
        super().__init__(f"no question with id {question_id!r}")
        self.question_id = question_id


class AlreadyAnswered(StoreError):
    """The question was answered (or closed) before; the first answer wins."""

    def __init__(self, question_id: str, status: str) -> None:
        super().__init__(f"question {question_id!r} is already {status}")
        self.question_id = question_id
        self.status = status


class StoreUnavailable(StoreError):
    """The database cannot be opened or written at all (a read-only place, no permission);
    the message names the file and says what to do."""


class DatabaseDamaged(StoreError):
    """The database file is not a readable database (garbage, truncated). Nothing was written
    to it; the message names the file and says how to recover."""


class StoreFull(StoreError):
    """A write failed because the disk (or the database's quota) is full. The transaction was
    rolled back; the same write succeeds once space is freed."""
