"""Showing a task's event log in the terminal, live or replayed.

The same renderer serves ``errand run`` (following the log as it grows) and ``errand
sessions show`` (replaying it), so a replay looks exactly like the run did.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from errand.events import (
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    GrantsChanged,
    McpServerChanged,
    MessageDelta,
    NetworkDecided,
    QuestionAnswered,
    QuestionAsked,
    TaskStatusChanged,
    ToolCalled,
    ToolResulted,
)
from errand.store import EventRecord, Store, TaskStatus

_FOLDED_LINES = 4
_FINAL = {s.value for s in TaskStatus if s.is_terminal} | {TaskStatus.INTERRUPTED.value}


class EventPrinter:
    """Prints events as a person reads them; tool output is folded to a few lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._in_text = False

    def show(self, event: EventRecord) -> None:
        match event.event:
            case MessageDelta(text=text):
                self.console.print(escape(text), end="")
                self._in_text = True
            case AssistantMessage(text=text):
                if self._in_text:
                    self.console.print()
                elif text:
                    self.console.print(escape(text))
                self._in_text = False
            case ToolCalled(tool=tool, summary=summary, arguments=arguments):
                self.console.print(f"[cyan]▸ {escape(tool)}[/] {escape(summary or arguments)}")
            case ToolResulted() as result:
                self._result(result)
            case NetworkDecided(verdict="deny", host=host, reason=reason):
                self.console.print(f"  [yellow]network refused[/] {escape(host)}: {escape(reason)}")
            case ApprovalRequested() as requested:
                self.console.print(f"[magenta]? approval needed:[/] {escape(requested.summary)}")
            case ApprovalDecided(status=status, decided_by=decided_by):
                self.console.print(f"  [magenta]{escape(status)}[/] by {escape(decided_by or '')}")
            case QuestionAsked(text=text):
                self.console.print(f"[magenta]? {escape(text)}[/]")
            case QuestionAnswered(answer=answer):
                self.console.print(f"  answer: {escape(answer)}")
            case TaskStatusChanged(status=status) as changed if status in _FINAL:
                self._status(changed)
            case McpServerChanged(state="ready") as ready:
                note = f" ({len(ready.skipped)} left out)" if ready.skipped else ""
                self.console.print(
                    f"[dim]MCP server {escape(ready.server)}: ready with {ready.tools} tools"
                    f"{escape(note)}[/]"
                )
            case McpServerChanged(state="failed", server=server, reason=reason):
                self.console.print(
                    f"[red]MCP server {escape(server)} failed:[/] {escape(reason or '')}"
                )
            case GrantsChanged(changes=changes):
                for lost in changes:
                    now = "read-only" if lost.mode else "no longer available"
                    self.console.print(
                        f"[yellow]folder {escape(lost.folder)} {now}:[/] {escape(lost.reason)}"
                    )
            case _:
                pass

    def _result(self, result: ToolResulted) -> None:
        lines = result.content.rstrip("\n").splitlines()
        style = "red" if result.is_error else "dim"
        for line in lines[:_FOLDED_LINES]:
            self.console.print(f"  [{style}]{escape(line)}[/]")
        if len(lines) > _FOLDED_LINES:
            self.console.print(f"  [dim]… {len(lines) - _FOLDED_LINES} more lines[/]")

    def _status(self, changed: TaskStatusChanged) -> None:
        colour = "green" if changed.status == "completed" else "red"
        tail = f": {escape(changed.error)}" if changed.error else ""
        self.console.print(f"[{colour}]● {changed.status}[/]{tail}")


def print_json(event: EventRecord, out: TextIO = sys.stdout) -> None:
    """One JSON line per event."""
    out.write(
        json.dumps(
            {
                "task_id": event.task_id,
                "seq": event.seq,
                "type": event.type,
                "at": event.at.isoformat(),
                "payload": event.payload,
            }
        )
        + "\n"
    )
    out.flush()


async def follow(
    store: Store,
    task_id: str,
    show: EventPrinter | None,
    *,
    as_json: bool,
    after: int = 0,
    until_final: bool = True,
) -> int:
    """Print the task's events after ``after``; with ``until_final``, keep following until
    the task reaches a final status. Returns the last sequence number printed."""
    while True:
        events = await store.wait_for_events(task_id, after, timeout=1.0)
        for event in events:
            if as_json:
                print_json(event)
            elif show is not None:
                show.show(event)
            after = event.seq
            if _ends_task(event):
                return after
        if not events and not until_final:
            return after


def _ends_task(event: EventRecord) -> bool:
    changed = event.event
    return isinstance(changed, TaskStatusChanged) and changed.status in _FINAL
