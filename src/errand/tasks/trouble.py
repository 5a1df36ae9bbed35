"""What a task's user should look at even when it completed: steps that failed, were denied,
went unanswered or were cut short by a crash.

A task that ends ``completed`` may still have had trouble on the way; its record carries
:func:`attention` sentences (``["2 steps failed", "1 approval expired"]``) so that every
reader (the phone's task list, ``errand sessions list``, the API) shows them without reading
the log. The store counts; this module says it, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trouble:
    """Counts of what went wrong in a task, each step counted once under its cause.

    ``failed``: tool calls whose result was an error for a reason of their own (not a
    refusal, an unanswered approval or a crash, which have their own counts). ``denied``:
    calls the user (or the approval policy's "nobody can answer") refused. ``expired``:
    approvals nobody answered in time. ``interrupted``: calls Errand stopped before or
    while they ran.
    """

    failed: int = 0
    denied: int = 0
    expired: int = 0
    interrupted: int = 0


def attention(trouble: Trouble) -> tuple[str, ...]:
    """Short sentences for what went wrong, most actionable first; empty when nothing did."""
    said = (
        _count(trouble.failed, "step failed", "steps failed"),
        _count(trouble.denied, "step denied", "steps denied"),
        _count(trouble.expired, "approval expired", "approvals expired"),
        _count(trouble.interrupted, "step interrupted", "steps interrupted"),
    )
    return tuple(sentence for sentence in said if sentence)


def _count(number: int, one: str, many: str) -> str:
    if number <= 0:
        return ""
    return f"{number} {one if number == 1 else many}"
