"""Answers for tool calls that a crash or a shutdown interrupted, told as they happened.

A step's results reach the transcript in one commit after its last call, so a task stopped
in the middle of a step resumes with calls that have no result, which no provider accepts.
Each gets an answer from what the task's log shows of it: the result it had already logged
(it ran to the end), or a sentence saying it never started, or that it was stopped while it
ran and may have partly happened. The loop records those sentences as ``tool.result``
events (``interrupted``) with the answer in the transcript, in one commit, so the log, the
phone and ``errand sessions show`` say exactly what the model was told, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from errand.events import (
    ApprovalDecided,
    ApprovalRequested,
    TaskEvent,
    ToolCalled,
    ToolResulted,
    UnknownEvent,
)
from errand.models import Message, ToolCall, ToolResult

BEFORE_IT_RAN = (
    "Interrupted before this ran: Errand stopped before starting it, so it had no effect."
)
WAITING_FOR_APPROVAL = (
    "Interrupted before this ran: Errand stopped while it waited for the user's approval, "
    "so it had no effect."
)
WHILE_IT_RAN = (
    "Interrupted while this ran: Errand stopped before it finished, so it may have partly "
    "happened. Check its effect before relying on it or running it again."
)
RESULT_CUT = "\n[Errand: the rest of this result was lost when Errand stopped.]"


@dataclass
class CallProgress:
    """How far each tool call got, as the task's log tells it."""

    called: set[str] = field(default_factory=set)
    results: dict[str, ToolResulted] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)
    """Calls that waited for the user's approval of the call itself (not of a connection
    the call made while running)."""
    approved: set[str] = field(default_factory=set)

    @classmethod
    def from_log(cls, events: Iterable[TaskEvent | UnknownEvent]) -> CallProgress:
        progress = cls()
        approval_calls: dict[str, str] = {}
        for event in events:
            match event:
                case ToolCalled(call_id=call_id):
                    progress.called.add(call_id)
                case ToolResulted(call_id=call_id) as result:
                    progress.results[call_id] = result
                case ApprovalRequested(approval_id=approval, tool_call_id=call_id) as asked:
                    if asked.action.get("kind") != "network":
                        approval_calls[approval] = call_id
                        progress.asked.add(call_id)
                case ApprovalDecided(approval_id=approval, status="approved"):
                    if approval in approval_calls:
                        progress.approved.add(approval_calls[approval])
                case _:
                    pass
        return progress


def answer_interrupted(
    step: tuple[ToolCall, ...], progress: CallProgress
) -> tuple[Message, list[ToolResulted]]:
    """The tool message answering ``step``'s calls, and the ``tool.result`` events to log
    for those that had none (those that had one are answered with it, not logged twice)."""
    results: list[ToolResult] = []
    logged: list[ToolResulted] = []
    for call in step:
        earlier = progress.results.get(call.id)
        if earlier is not None:
            content = earlier.content + (RESULT_CUT if earlier.truncated else "")
            results.append(ToolResult(call.id, content, earlier.is_error))
            continue
        if call.id not in progress.called:
            sentence = BEFORE_IT_RAN
        elif call.id in progress.asked and call.id not in progress.approved:
            sentence = WAITING_FOR_APPROVAL
        else:
            sentence = WHILE_IT_RAN
        results.append(ToolResult(call.id, sentence, is_error=True))
        logged.append(
            ToolResulted(
                call_id=call.id,
                tool=call.name,
                is_error=True,
                content=sentence,
                interrupted=True,
            )
        )
    return Message(role="tool", parts=tuple(results)), logged
