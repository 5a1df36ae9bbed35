"""The typed values the store takes and returns.

Rows never leave the store as mappings: each table has a frozen record here. JSON columns
(event payloads, approval actions, transcript messages) come back as fresh
``JsonObject`` values decoded for that call, so a caller may keep or change them freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from errand.events import TaskEvent, UnknownEvent, parse_event
from errand.tasks import ALLOWED_TRANSITIONS, TaskSource, TaskSpec, TaskStatus

__all__ = ["ALLOWED_TRANSITIONS", "TaskSource", "TaskStatus"]  # re-exported for the store

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A decoded JSON value, as the store returns it."""

JsonObject: TypeAlias = dict[str, JsonValue]

JsonInput: TypeAlias = (
    bool | int | float | str | Sequence["JsonInput"] | Mapping[str, "JsonInput"] | None
)
"""A JSON value as callers may pass it (any sequence or mapping; read-only views welcome)."""

JsonInputObject: TypeAlias = Mapping[str, JsonInput]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class FollowUpDelivery(StrEnum):
    """What became of a message the user sent to a task (``Store.request_follow_up``)."""

    PENDING = "pending"
    """The task is running: its loop takes the message in before its next model call."""
    ANSWERED = "answered"
    """The task was waiting for an answer to its question: the message is the answer."""
    QUEUED = "queued"
    """The task was not running: it is queued to run again, the message next in line."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim on a task by the runner ``owner``, lasting ``seconds`` unless renewed."""

    owner: str
    seconds: float


class QuestionStatus(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task. ``last_seq`` is the sequence number of its newest event (0 before any);
    ``spec`` is the typed task (model, folders, network, limits, source), parsed once here.

    ``lease_owner`` names the worker holding a running or waiting task it claimed, and
    ``lease_expires_at`` when that claim runs out unless the worker's heartbeat renews it.

    ``attention`` says what went wrong on the way even when the task completed (``"2 steps
    failed"``, ``"1 approval expired"``; :func:`errand.tasks.attention`), kept current by
    the store in the same commits as what caused it.
    """

    id: str
    title: str
    prompt: str
    status: TaskStatus
    spec: TaskSpec
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    exit_code: int | None
    last_seq: int
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    attention: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """``PROVIDER:MODEL``."""
        return self.spec.model

    @property
    def source(self) -> TaskSource:
        return self.spec.source


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of a task's event log; ``seq`` starts at 1 and has no gaps."""

    task_id: str
    seq: int
    type: str
    payload: JsonObject
    at: datetime

    @property
    def event(self) -> TaskEvent | UnknownEvent:
        """The typed event (:mod:`errand.events`); :class:`UnknownEvent` for a type this
        version does not know."""
        return parse_event(self.type, self.payload)


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """A risky step waiting for (or given) the user's yes or no.

    ``digest`` is the SHA-256 of the canonical JSON of ``action``: a decision can name it so
    that it only applies to exactly the action the user was shown.
    """

    id: str
    task_id: str
    tool_call_id: str
    action: JsonObject
    digest: str
    status: ApprovalStatus
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
    reason: str | None = None
    """Why the user denied it, in their words (told to the model); None if they gave none."""


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    """A question the agent asked the user, and the answer once given."""

    id: str
    task_id: str
    text: str
    status: QuestionStatus
    answer: str | None
    answered_by: str | None
    created_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Tokens one model call consumed."""

    task_id: str
    model: str
    input_tokens: int
    output_tokens: int
    at: datetime


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Tokens summed over a task's model calls."""

    calls: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """What a task list shows beside a task: its tokens and its open requests."""

    usage: UsageTotals
    pending_approvals: int
    pending_questions: int


NO_SUMMARY = TaskSummary(UsageTotals(calls=0, input_tokens=0, output_tokens=0), 0, 0)
"""The summary of a task with no model calls and no open requests, such as a new one."""
