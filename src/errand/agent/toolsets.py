"""Which toolsets a task gets: a factory on the task's options, built-in tools by default.

Whoever runs a task (the runner, ``errand run``) chooses the toolsets by passing a
:data:`ToolsetFactory` in :class:`~errand.agent.TaskOptions`; the loop calls it once per run
with what it knows about the task and wraps every toolset in the approval policy, so a new
toolset (the browser, an MCP server) is added without touching the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from errand.agent.approvals import ApprovalPolicy, Approver, Approving
from errand.skills import SkillCatalog
from errand.tools import BuiltinToolset, Toolbox, ToolContext, Toolset, default_tools


@dataclass(frozen=True)
class ToolsetRequest:
    """What a toolset factory knows about the task it equips."""

    task_id: str
    context: ToolContext
    """The task's tool context: its sandbox session, policy and granted folders."""
    skills: SkillCatalog
    """The skills discovered for the task (the built-in ``activate_skill`` offers them)."""


ToolsetFactory = Callable[[ToolsetRequest], Sequence[Toolset]]
"""Builds a task's toolsets; they start when first listed and are closed when the task ends."""


def builtin_toolsets(request: ToolsetRequest) -> list[Toolset]:
    """The default: Errand's built-in tools only."""
    return [BuiltinToolset(default_tools(request.skills))]


def task_toolbox(
    factory: ToolsetFactory,
    request: ToolsetRequest,
    approvals: ApprovalPolicy,
    approver: Approver,
) -> Toolbox:
    """The task's toolbox: every toolset ``factory`` gives, wrapped in the approval policy."""
    return Toolbox([Approving(toolset, approvals, approver) for toolset in factory(request)])


def with_browser(
    artifacts: Path, *, start_early: bool = True, memory_mb: int = 1024
) -> ToolsetFactory:
    """The built-in tools and the browser; each task's screenshots are saved under
    ``artifacts/<task id>/``. With ``start_early`` the browser starts in the background as
    the task begins (its first browser call then finds it ready), else on first use;
    ``memory_mb`` caps the memory of each task's browser."""

    def build(request: ToolsetRequest) -> list[Toolset]:
        # Playwright loads only for tasks that may browse (the gateway stays lean).
        from errand.browser import BrowserToolset

        folder = artifacts / (request.task_id or "no-task")
        browser = BrowserToolset(
            request.context, artifacts=folder, start_early=start_early, memory_mb=memory_mb
        )
        return [*builtin_toolsets(request), browser]

    return build
