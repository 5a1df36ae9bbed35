"""Each MCP server's state, as the owner and the tasks see it.

A server is ``starting``, ``ready`` (with its number of tools and what was left out of its
listing), ``failed`` (with one sentence saying why) or ``stopped``. Every state change is
reported to the task that started the server (an event in its log) and to the process-wide
:data:`HEALTH` board, which ``GET /api/v1/mcp`` and the phone's settings screen read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum


class ServerState(StrEnum):
    NOT_STARTED = "not_started"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ServerHealth:
    """One server's state at ``at`` (seconds since the epoch)."""

    server: str
    state: ServerState
    tools: int = 0
    reason: str | None = None
    skipped: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)

    @property
    def line(self) -> str:
        """One line for a terminal or a phone."""
        match self.state:
            case ServerState.READY:
                note = f" ({len(self.skipped)} left out)" if self.skipped else ""
                return f"MCP server {self.server}: ready with {self.tools} tools{note}"
            case ServerState.FAILED:
                return f"MCP server {self.server} failed: {self.reason}"
            case _:
                return f"MCP server {self.server}: {self.state.value.replace('_', ' ')}"


HealthSink = Callable[[ServerHealth], Awaitable[None]]
"""Told of every state change of a task's servers (the task's event log, for instance)."""


class HealthBoard:
    """The latest state of every server this process has started (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, ServerHealth] = {}

    def report(self, health: ServerHealth) -> None:
        with self._lock:
            self._latest[health.server] = health

    def get(self, server: str) -> ServerHealth:
        with self._lock:
            return self._latest.get(server) or ServerHealth(server, ServerState.NOT_STARTED, at=0)

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()


HEALTH = HealthBoard()
"""This process's board (the gateway and the tasks it runs share it)."""
