"""Task options from ``errand.toml``, the same for every entry point (CLI, gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from errand.agent.approvals import ApprovalPolicy, Verdict
from errand.agent.loop import TaskOptions
from errand.agent.toolsets import ToolsetFactory, ToolsetRequest, builtin_toolsets, with_browser
from errand.config import data_dir
from errand.events import McpServerChanged, NetworkDecided, event_item
from errand.mcp import McpConfig, ServerHealth, approval_rules
from errand.sandbox import NetworkDecision
from errand.store import Store
from errand.tasks import TaskSpec
from errand.tools import Toolset


def options_from_config(config: Mapping[str, Any], spec: TaskSpec | None = None) -> TaskOptions:
    """Read ``[approvals]``, ``[skills] trusted = ["/path", ...]`` (folders whose
    ``.agents/skills`` may be loaded when they are granted to ``spec``'s task),
    ``[browser] enabled = true`` (every task gets the browser; screenshots go to the data
    directory's ``artifacts``; ``start_early = false`` starts it on the first browser call
    instead of as the task begins; ``memory_mb`` caps each task's browser, 1024 by default)
    and ``[folders.NAME] review = true`` (folders whose changes are held for review; NAME is
    the folder's name).

    Raises:
        ValueError: a malformed table, in one sentence.
    """
    approvals = ApprovalPolicy.from_toml(config.get("approvals", {}))
    skills = config.get("skills", {})
    trusted_raw = skills.get("trusted", []) if isinstance(skills, Mapping) else []
    if not isinstance(trusted_raw, list) or not all(isinstance(p, str) for p in trusted_raw):
        raise ValueError("skills.trusted must be a list of folder paths")
    trusted_paths = {Path(p).expanduser().resolve() for p in trusted_raw}
    granted = spec.folders if spec is not None else ()
    trusted = frozenset(g.name for g in granted if Path(g.path).resolve() in trusted_paths)
    folders = config.get("folders", {})
    if not isinstance(folders, Mapping):
        raise ValueError("[folders] must be a table of folder names, e.g. [folders.taxes]")
    review = set()
    for name, table in folders.items():
        flag = table.get("review", False) if isinstance(table, Mapping) else None
        if not isinstance(flag, bool):
            raise ValueError(f"folders.{name}.review must be true or false")
        if flag:
            review.add(str(name))
    options = replace(
        TaskOptions(),
        approvals=approvals,
        trusted_folders=trusted,
        review_folders=frozenset(review),
    )
    browser = config.get("browser", {})
    if not isinstance(browser, Mapping):
        browser = {}
    enabled = browser.get("enabled", False)
    early = browser.get("start_early", True)
    memory_mb = browser.get("memory_mb", 1024)
    if not isinstance(enabled, bool):
        raise ValueError("browser.enabled must be true or false")
    if not isinstance(early, bool):
        raise ValueError("browser.start_early must be true or false")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < 256:
        raise ValueError("browser.memory_mb must be a whole number of megabytes, at least 256")
    options = replace(options, browser_start_early=early, browser_memory_mb=memory_mb)
    if enabled:
        options = replace(options, toolsets=browser_toolsets(options))
    return options


def browser_toolsets(options: TaskOptions) -> ToolsetFactory:
    """The built-in tools and the browser, with the browser settings of ``options``."""
    return with_browser(
        data_dir() / "artifacts",
        start_early=options.browser_start_early,
        memory_mb=options.browser_memory_mb,
    )


def options_for_spec(
    config: Mapping[str, Any], mcp: McpConfig, spec: TaskSpec, *, store: Store
) -> TaskOptions:
    """A task's options as ``errand.toml`` and the task's own spec make them: the settings
    of :func:`options_from_config`, plus the toolsets the task asked for in
    ``spec.toolsets`` (``browser``; ``mcp:NAME`` for each MCP server it uses, which it then
    needs: one that fails fails the task). A server removed from ``errand.toml`` since the
    task was accepted fails it too, as a server that failed to start, with that reason.
    """
    options = options_from_config(config, spec)
    if "browser" in spec.toolsets and options.toolsets is builtin_toolsets:
        options = replace(options, toolsets=browser_toolsets(options))
    named = [name.removeprefix("mcp:") for name in spec.toolsets if name.startswith("mcp:")]
    chosen = [name for name in named if name in mcp.servers]
    gone = [name for name in named if name not in mcp.servers]
    if named:
        options = with_mcp_servers(options, mcp, chosen, store=store, required=True, gone=gone)
    return options


def with_mcp_servers(
    options: TaskOptions,
    config: McpConfig,
    chosen: Sequence[str] | None,
    *,
    store: Store,
    required: bool,
    gone: Sequence[str] = (),
) -> TaskOptions:
    """Add the MCP servers a task uses to its toolsets, and their approval settings to its
    approval rules (under the user's own ``[approvals]`` rules).

    ``chosen`` names servers (``None``: every configured one); ``required`` says the task
    named them, so one that fails fails the task; ``gone`` names servers the task named that
    are no longer configured (each is reported failed, and fails the task). Each server's state
    changes are recorded in the task's log as ``mcp.server`` events.

    Raises:
        McpConfigError: ``chosen`` names a server that is not configured.
    """
    servers = config.select(chosen)
    if not servers and not gone:
        return options
    base = options.toolsets

    def toolsets(request: ToolsetRequest) -> Sequence[Toolset]:
        from errand.mcp import McpServers, allowed_folders

        async def record(health: ServerHealth) -> None:
            event = McpServerChanged(
                server=health.server,
                state=health.state.value,
                tools=health.tools,
                reason=health.reason,
                skipped=health.skipped,
                at=health.at,
            )
            await store.append_event(request.task_id, *event_item(event))

        async def record_decision(decision: NetworkDecision) -> None:
            event = NetworkDecided(
                call_id=decision.call_id,
                host=decision.host,
                port=decision.port,
                verdict=str(decision.verdict),
                reason=decision.reason,
            )
            await store.append_event(request.task_id, *event_item(event))

        def decided(decision: NetworkDecision) -> None:
            # The proxy decides synchronously; the event is written by a kept task.
            task = asyncio.ensure_future(record_decision(decision))
            writes.add(task)
            task.add_done_callback(writes.discard)

        writes: set[asyncio.Task[None]] = set()
        hub = McpServers(
            servers,
            allowed=lambda: allowed_folders(store),
            budget=config.tool_budget,
            required=required,
            on_health=record,
            on_decision=decided,
            gone=gone,
        )
        return [*base(request), *hub.toolsets()]

    rules = {**approval_rules(config), **options.approvals.tools}
    approvals = replace(options.approvals, tools={k: Verdict(v) for k, v in rules.items()})
    return replace(options, toolsets=toolsets, approvals=approvals)
