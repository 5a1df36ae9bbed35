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

from errand.store import EventRecord, JsonValue, Store, TaskStatus

_FOLDED_LINES = 4
_FINAL = {s.value for s in TaskStatus if s.is_terminal} | {TaskStatus.INTERRUPTED.value}


class EventPrinter:
    """Prints events as a person reads them; tool output is folded to a few lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._in_text = False

    def show(self, event: EventRecord) -> None:
        p = event.payload
        match event.type:
            case "message.delta":
                self.console.print(escape(_s(p.get("text"))), end="")
                self._in_text = True
            case "message":
                if self._in_text:
                    self.console.print()
                elif _s(p.get("text")):
                    self.console.print(escape(_s(p.get("text"))))
                self._in_text = False
            case "tool.call":
                summary = _s(p.get("summary")) or _s(p.get("arguments"))
                self.console.print(f"[cyan]▸ {escape(_s(p.get('tool')))}[/] {escape(summary)}")
            case "tool.result":
                self._result(p)
            case "network.decision" if p.get("verdict") == "deny":
                self.console.print(
                    f"  [yellow]network refused[/] {escape(_s(p.get('host')))}: "
                    f"{escape(_s(p.get('reason')))}"
                )
            case "approval.requested":
                action = p.get("action")
                summary = _s(action.get("summary")) if isinstance(action, dict) else ""
                self.console.print(f"[magenta]? approval needed:[/] {escape(summary)}")
            case "approval.decided":
                self.console.print(
                    f"  [magenta]{escape(_s(p.get('status')))}[/] by "
                    f"{escape(_s(p.get('decided_by')))}"
                )
            case "question.asked":
                self.console.print(f"[magenta]? {escape(_s(p.get('text')))}[/]")
            case "question.answered":
                self.console.print(f"  answer: {escape(_s(p.get('answer')))}")
            case "task.status" if p.get("status") in _FINAL:
                self._status(p)
            case _:
                pass

    def _result(self, p: dict[str, JsonValue]) -> None:
        lines = _s(p.get("content")).rstrip("\n").splitlines()
        style = "red" if p.get("is_error") else "dim"
        for line in lines[:_FOLDED_LINES]:
            self.console.print(f"  [{style}]{escape(line)}[/]")
        if len(lines) > _FOLDED_LINES:
            self.console.print(f"  [dim]… {len(lines) - _FOLDED_LINES} more lines[/]")

    def _status(self, p: dict[str, JsonValue]) -> None:
        status = _s(p.get("status"))
        error = _s(p.get("error"))
        colour = "green" if status == "completed" else "red"
        tail = f": {escape(error)}" if error else ""
        self.console.print(f"[{colour}]● {status}[/]{tail}")


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
            if event.type == "task.status" and event.payload.get("status") in _FINAL:
                return after
        if not events and not until_final:
            return after


def _s(value: JsonValue) -> str:
    return "" if value is None else str(value)
