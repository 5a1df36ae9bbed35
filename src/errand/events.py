"""Every event of a task's log, typed, and the one place events become stored JSON and back.

A task's log (the store's ``events`` table, the SSE stream, ``errand sessions show``) holds
one entry per thing that happened: a ``type`` such as ``tool.call`` and a JSON ``payload``.
Each type is a frozen model here whose fields are exactly the payload's keys; the
:data:`TaskEvent` union is discriminated by ``type``. Writers build a model and store
``event.type`` with its ``payload()`` (the store does so for the events it writes itself:
``task.created``, ``task.status``, ``approval.*``, ``question.*``); readers call
:func:`parse_event` (or ``EventRecord.event``) and match on the class, never on string keys.
The wire format is documented for the web app in ``docs/api.md`` ("Event types").

This module sits at the bottom of the layering (beside the store, which writes some of these
events itself), so every layer can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    _omit_when_none: ClassVar[frozenset[str]] = frozenset()

    def payload(self) -> dict[str, JsonValue]:
        """The JSON object stored and streamed as this event's ``payload``."""
        data: dict[str, JsonValue] = self.model_dump(mode="json", exclude={"type"})
        for key in self._omit_when_none:
            if data.get(key) is None:
                data.pop(key, None)
        return data


class TaskCreated(_Event):
    """The task was stored (written by the store)."""

    type: Literal["task.created"] = "task.created"
    title: str | None = None
    prompt: str
    model: str
    source: str


class TaskStatusChanged(_Event):
    """The task's status changed (written by the store with the change itself)."""

    type: Literal["task.status"] = "task.status"
    status: str
    previous: str
    error: str | None = None
    exit_code: int | None = None
    reason: str | None = None

    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"error", "exit_code", "reason"})


class UserMessage(_Event):
    """A message from the user after the task's prompt (a follow-up)."""

    type: Literal["message.user"] = "message.user"
    text: str


class MessageDelta(_Event):
    """A piece of the model's reply text as it streams; the ``message`` event follows."""

    type: Literal["message.delta"] = "message.delta"
    text: str


class CallRequest(BaseModel):
    """One tool call as the model made it (``arguments`` is its JSON text, as sent)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    arguments: str


class AssistantMessage(_Event):
    """The model's whole reply: its text and the tool calls it made."""

    type: Literal["message"] = "message"
    text: str
    tool_calls: tuple[CallRequest, ...] = ()
    stop_reason: str | None = None


class UsageRecorded(_Event):
    """The tokens one model call used (written with the reply it belongs to)."""

    type: Literal["usage"] = "usage"
    model: str
    input_tokens: int
    output_tokens: int


class ToolCalled(_Event):
    """A tool call is about to be handled; ``summary`` and ``kind`` say what it would do
    (empty when the call could not even be described, e.g. an unknown tool)."""

    type: Literal["tool.call"] = "tool.call"
    call_id: str
    tool: str
    arguments: str
    summary: str = ""
    kind: str = ""


class ToolResulted(_Event):
    """What the model was told about a call. ``content`` is cut to a size for the log
    (``truncated`` says so); ``files`` are sandbox paths the call wrote; ``duration`` is in
    seconds. ``interrupted`` (present only when true) marks the result Errand recorded for
    a call that a crash or shutdown stopped before or while it ran."""

    type: Literal["tool.result"] = "tool.result"
    call_id: str
    tool: str
    is_error: bool
    content: str
    truncated: bool = False
    files: tuple[str, ...] = ()
    duration: float = 0.0
    interrupted: bool = False

    def payload(self) -> dict[str, JsonValue]:
        data = super().payload()
        if not self.interrupted:
            del data["interrupted"]
        return data


class NetworkDecided(_Event):
    """The egress proxy allowed or refused a connection of a call (``verdict``: ``allow``
    or ``deny``), and why."""

    type: Literal["network.decision"] = "network.decision"
    call_id: str
    host: str
    port: int
    verdict: str
    reason: str


class ApprovalRequested(_Event):
    """A call waits for the user's yes or no. ``action`` is what will run, as shown to the
    user (``tool``, ``kind``, ``summary`` and, by kind, ``arguments``, ``workdir``,
    ``folder``, ``domain``, ``port``); ``digest`` binds a decision to exactly that."""

    type: Literal["approval.requested"] = "approval.requested"
    approval_id: str
    tool_call_id: str
    action: dict[str, JsonValue]
    digest: str
    expires_at: str | None = None

    @property
    def summary(self) -> str:
        """The action's one-line summary ('' if absent)."""
        value = self.action.get("summary")
        return value if isinstance(value, str) else ""


class ApprovalDecided(_Event):
    """An approval was answered or expired (``status``: approved, denied, expired);
    ``reason`` is what the user said when denying, if anything."""

    type: Literal["approval.decided"] = "approval.decided"
    approval_id: str
    status: str
    decided_by: str | None = None
    reason: str | None = None

    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"reason"})


class QuestionAsked(_Event):
    """The agent asked the user a question and waits for the answer."""

    type: Literal["question.asked"] = "question.asked"
    question_id: str
    text: str


class QuestionAnswered(_Event):
    """The user answered a question."""

    type: Literal["question.answered"] = "question.answered"
    question_id: str
    answer: str
    answered_by: str | None = None


class BudgetExceeded(_Event):
    """A scheduled run used more tokens than its budget and is being stopped."""

    type: Literal["budget.exceeded"] = "budget.exceeded"
    tokens: int
    budget: int
    message: str


class McpServerChanged(_Event):
    """An MCP server the task uses changed state: ``starting``, ``ready`` (with its number
    of ``tools`` and what its listing ``skipped``), ``failed`` (with the ``reason``) or
    ``stopped``; ``at`` is seconds since the epoch."""

    type: Literal["mcp.server"] = "mcp.server"
    server: str
    state: str
    tools: int = 0
    reason: str | None = None
    skipped: tuple[str, ...] = ()
    at: float


class GrantLost(BaseModel):
    """One folder a task lost (``mode`` None) or keeps only read-only (``mode`` ``ro``)."""

    model_config = ConfigDict(frozen=True)

    folder: str
    was: str
    mode: str | None = None
    reason: str


class GrantsChanged(_Event):
    """The task's folders were re-checked as a run started and some were removed or
    narrowed on the computer since; ``message`` is what the model was told."""

    type: Literal["grants.changed"] = "grants.changed"
    changes: tuple[GrantLost, ...]
    message: str


TaskEvent = Annotated[
    TaskCreated
    | TaskStatusChanged
    | UserMessage
    | MessageDelta
    | AssistantMessage
    | UsageRecorded
    | ToolCalled
    | ToolResulted
    | NetworkDecided
    | ApprovalRequested
    | ApprovalDecided
    | QuestionAsked
    | QuestionAnswered
    | BudgetExceeded
    | McpServerChanged
    | GrantsChanged,
    Field(discriminator="type"),
]
"""Any event of a task's log whose type Errand knows."""


class UnknownEvent(BaseModel):
    """An event of a type this version does not know, or whose payload does not fit its
    type (an older or newer writer); readers show or skip it, never fail on it."""

    model_config = ConfigDict(frozen=True)

    type: str
    data: dict[str, JsonValue]

    def payload(self) -> dict[str, JsonValue]:
        return dict(self.data)


_ADAPTER: TypeAdapter[TaskEvent] = TypeAdapter(TaskEvent)

EVENT_TYPES: tuple[str, ...] = (
    "task.created",
    "task.status",
    "message.user",
    "message.delta",
    "message",
    "usage",
    "tool.call",
    "tool.result",
    "network.decision",
    "approval.requested",
    "approval.decided",
    "question.asked",
    "question.answered",
    "budget.exceeded",
    "mcp.server",
    "grants.changed",
)
"""Every type :data:`TaskEvent` covers, in the order ``docs/api.md`` lists them."""


def parse_event(type_: str, payload: Mapping[str, JsonValue]) -> TaskEvent | UnknownEvent:
    """The typed event of a stored ``(type, payload)``; :class:`UnknownEvent` when the type
    is not known or the payload does not fit it."""
    if type_ in EVENT_TYPES:
        try:
            return _ADAPTER.validate_python({**payload, "type": type_})
        except ValidationError:
            pass
    return UnknownEvent(type=type_, data=dict(payload))


def event_item(event: TaskEvent) -> tuple[str, dict[str, JsonValue]]:
    """``(type, payload)`` as the store's ``append_event`` and ``record_step`` take them."""
    return event.type, event.payload()
