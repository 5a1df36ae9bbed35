"""The contract every tool implements, and what a tool receives when it runs.

A tool declares its arguments as a pydantic model (from which its JSON schema is made),
describes what a call would do before it runs (so that approvals are bound to exactly that),
and runs with a :class:`ToolContext`. Cross-cutting behaviour (argument validation, approval,
output caps, error capture) wraps tools in :mod:`errand.tools.registry`; it is not a flag
inside each tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol

from pydantic import BaseModel

from errand.sandbox import ExtraMount, GrantedRoot, Sandbox, SandboxPolicy


class ActionKind(StrEnum):
    """What kind of effect a tool call has; approval rules are written in these terms."""

    READ = "read"
    WRITE = "write"
    SHELL = "shell"
    NETWORK = "network"
    SEND = "send"
    """Sends what the task holds (a form's fields) to a domain outside the task's allowed list;
    the summary shows what would be sent."""
    ASK = "ask"
    SKILL = "skill"
    MCP = "mcp"
    """A call to a tool of an MCP server (run in the server's own sandbox)."""


@dataclass(frozen=True, slots=True)
class Action:
    """Exactly what a call will do, shown to whoever approves it.

    ``folder`` is the grant name a file action touches, ``domain`` the host a network
    action reaches; ``summary`` is one line a person can read on a phone. A write over a file
    that exists sets ``replaces``, and ``diff`` (a unified diff from the file's current text)
    when that text is small enough to show.
    """

    tool: str
    kind: ActionKind
    summary: str
    folder: str | None = None
    domain: str | None = None
    replaces: bool = False
    diff: str | None = None


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What the model is told; ``files`` lists paths (as the sandbox sees them) written."""

    content: str
    is_error: bool = False
    files: tuple[str, ...] = ()


AskUser = Callable[[str], Awaitable[str]]
"""Ask the user a question and wait for the answer (the task shows as waiting meanwhile)."""


@dataclass
class ToolContext:
    """Everything a tool may use. One per task; ``call_id`` is set for each call."""

    sandbox: Sandbox
    policy: SandboxPolicy
    roots: Mapping[str, GrantedRoot]
    ask_user: AskUser
    call_id: str = ""
    task_id: str = ""
    """The task the tools work for (empty outside a task, e.g. in ``errand sandbox``)."""
    extra_mounts: list[ExtraMount] = field(default_factory=list)
    """Read-only mounts added to every later command (activated skills' folders)."""


class Tool(Protocol):
    """A tool the model can call."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        """What this call would do, computed without side effects."""
        ...

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        """Do it. Expected failures return ``ToolOutput(is_error=True)``; anything raised is
        turned into a tool error by the registry, never a crash of the task."""
        ...


ToolMap = Mapping[str, Tool]
