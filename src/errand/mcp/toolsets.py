"""The MCP servers of one task, offered to the model as toolsets.

:class:`McpServers` starts the task's servers together when the model's tool list is first
needed (each in its own sandbox, see :mod:`errand.mcp.launch`), reports each server's state
(:mod:`errand.mcp.health`), and gives one toolset per server (``mcp:<server>``, tools named
``mcp__<server>__<tool>``) plus ``find_tools`` when the servers' schemas together exceed the
prompt budget: then each MCP tool is listed with its one-line description and an open schema,
and the model loads the parameters it needs with ``find_tools``.

A server the task named that fails to start fails the task with the reason
(:class:`~errand.tools.ToolsetFailed`); one it got by default is reported and left out. A
server the task named that is no longer configured (removed from ``errand.toml`` while the
task waited) fails it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import ClassVar

from errand.mcp.config import ServerConfig
from errand.mcp.connection import Launcher, ServerConnection, ServerFailed, ToolCallFailed
from errand.mcp.health import HEALTH, HealthBoard, HealthSink, ServerHealth, ServerState
from errand.mcp.launch import AllowedFolders, server_launcher, server_policy
from errand.mcp.listing import McpTool, listing
from errand.mcp.results import tool_output
from errand.models import JsonValue, MalformedToolArguments, ToolCall
from errand.sandbox import DecisionSink, SandboxPolicy
from errand.tools import (
    Action,
    ActionKind,
    ToolContext,
    ToolDef,
    ToolOutput,
    Toolset,
    ToolsetFailed,
)

FIND_TOOLS = "find_tools"
_FIND_LIMIT = 8
_OPEN_SCHEMA: Mapping[str, JsonValue] = {"type": "object", "additionalProperties": True}
_SUMMARY_ARGS = 160

LauncherFactory = Callable[[ServerConfig, SandboxPolicy], Launcher]


class McpServers:
    """The servers one task may use.

    ``required`` says the task named them (a failure then fails the task); ``allowed`` loads
    the owner's allowed folders; ``budget`` the characters of schemas shown in full; ``gone``
    names servers the task named that are no longer configured (each reported failed).
    """

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        allowed: Callable[[], Awaitable[AllowedFolders]],
        budget: int,
        required: bool = False,
        on_health: HealthSink | None = None,
        on_decision: DecisionSink | None = None,
        board: HealthBoard = HEALTH,
        launcher: LauncherFactory | None = None,
        gone: Sequence[str] = (),
    ) -> None:
        self.servers = tuple(servers)
        self.gone = tuple(gone)
        self._load_allowed = allowed
        self._allowed: AllowedFolders = {}
        self._budget = budget
        self._required = required
        self._on_health = on_health
        self._on_decision = on_decision
        self._board = board
        self._launcher = launcher or self._sandboxed
        self._lock = asyncio.Lock()
        self._started = False
        self._connections: dict[str, ServerConnection] = {}
        self._tools: dict[str, tuple[McpTool, ...]] = {}
        self._failed: dict[str, str] = {}
        self.lean = False

    def toolsets(self) -> list[Toolset]:
        """One toolset per server, then ``find_tools`` (which offers nothing unless needed)."""
        sets: list[Toolset] = [ServerToolset(self, server) for server in self.servers]
        if self.servers or self.gone:
            sets.append(FindTools(self))
        return sets

    async def start(self, ctx: ToolContext) -> None:
        """Start every server (once, together) and decide whether schemas are shown in full.

        Raises:
            ToolsetFailed: a server the task named did not start.
        """
        async with self._lock:
            if not self._started:
                self._started = True
                self._allowed = await self._load_allowed()
                for name in self.gone:
                    await self._report_gone(name)
                await asyncio.gather(*(self._start_one(s, ctx.policy) for s in self.servers))
                total = sum(t.schema_chars for tools in self._tools.values() for t in tools)
                self.lean = total > self._budget
        if self._required and self._failed:
            name, reason = next(iter(self._failed.items()))
            raise ToolsetFailed(f"the task needs MCP server {name}, which failed: {reason}")

    def tools(self, server: str) -> tuple[McpTool, ...]:
        return self._tools.get(server, ())

    def all_tools(self) -> list[McpTool]:
        return [tool for tools in self._tools.values() for tool in tools]

    def connection(self, server: str) -> ServerConnection | None:
        return self._connections.get(server)

    async def stop(self, server: str) -> None:
        """Stop one server (idempotent)."""
        connection = self._connections.pop(server, None)
        if connection is not None:
            await connection.aclose()
            if server not in self._failed:
                await self._report(ServerHealth(server, ServerState.STOPPED))

    async def _start_one(self, config: ServerConfig, task: SandboxPolicy) -> None:
        await self._report(ServerHealth(config.name, ServerState.STARTING))
        try:
            connection = ServerConnection(config, self._launcher(config, task))
            self._connections[config.name] = connection
            found = listing(config.name, await connection.start())
        except ServerFailed as exc:
            self._connections.pop(config.name, None)
            self._failed[config.name] = str(exc)
            await self._report(ServerHealth(config.name, ServerState.FAILED, reason=str(exc)))
            return
        self._tools[config.name] = found.tools
        await self._report(
            ServerHealth(
                config.name, ServerState.READY, tools=len(found.tools), skipped=found.skipped
            )
        )

    async def _report_gone(self, name: str) -> None:
        reason = f"MCP server {name} is no longer configured in errand.toml"
        self._failed[name] = reason
        health = ServerHealth(name, ServerState.FAILED, reason=reason)
        # The task's log only: the board shows configured servers, and this one is not.
        if self._on_health is not None:
            with contextlib.suppress(Exception):
                await self._on_health(health)

    def _sandboxed(self, config: ServerConfig, task: SandboxPolicy) -> Launcher:
        policy = server_policy(config, self._allowed, task)
        return server_launcher(config, policy, on_decision=self._on_decision)

    async def _report(self, health: ServerHealth) -> None:
        self._board.report(health)
        if self._on_health is not None:
            with contextlib.suppress(Exception):
                await self._on_health(health)


class ServerToolset:
    """One MCP server's tools (a :class:`~errand.tools.Toolset`)."""

    def __init__(self, hub: McpServers, config: ServerConfig) -> None:
        self.hub = hub
        self.config = config
        self.name = config.toolset_name

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        await self.hub.start(ctx)
        if self.hub.lean:
            return [
                ToolDef(
                    tool.name,
                    f"{tool.summary} (parameters: call {FIND_TOOLS} first)",
                    _OPEN_SCHEMA,
                )
                for tool in self.hub.tools(self.config.name)
            ]
        return [
            ToolDef(tool.name, tool.description, tool.input_schema)
            for tool in self.hub.tools(self.config.name)
        ]

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        tool = self._tool(call.name)
        if tool is None:
            return ToolOutput(f"There is no tool {call.name!r}.", is_error=True)
        try:
            call.arguments()
        except MalformedToolArguments as exc:
            return ToolOutput(str(exc), is_error=True)
        args = " ".join(call.arguments_json.split())
        if len(args) > _SUMMARY_ARGS:
            args = args[: _SUMMARY_ARGS - 1] + "…"
        return Action(
            tool=call.name,
            kind=ActionKind.MCP,
            summary=f"MCP server {self.config.name}: {tool.remote_name} {args}",
        )

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        tool = self._tool(call.name)
        connection = self.hub.connection(self.config.name)
        if tool is None or connection is None:
            return ToolOutput(f"There is no tool {call.name!r}.", is_error=True)
        try:
            arguments = call.arguments()
            result = await connection.call(tool.remote_name, dict(arguments))
        except MalformedToolArguments as exc:
            return ToolOutput(str(exc), is_error=True)
        except ServerFailed as exc:
            return ToolOutput(f"{call.name} failed: {exc}.", is_error=True)
        except ToolCallFailed as exc:
            return ToolOutput(f"{call.name} failed: {exc}", is_error=True)
        return tool_output(call.name, result)

    async def aclose(self) -> None:
        await self.hub.stop(self.config.name)

    def _tool(self, name: str) -> McpTool | None:
        return next((t for t in self.hub.tools(self.config.name) if t.name == name), None)


class FindTools:
    """``find_tools``: the full parameters of MCP tools, when only their names are listed."""

    name = "mcp:find_tools"
    description: ClassVar[str] = (
        "Show the parameters (JSON Schema) of MCP tools before calling them. "
        "query: a tool's exact name, or words from its name or description."
    )

    def __init__(self, hub: McpServers) -> None:
        self.hub = hub

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        await self.hub.start(ctx)
        if not self.hub.lean:
            return []
        schema: dict[str, JsonValue] = {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "Name or words."}},
            "required": ["query"],
            "additionalProperties": False,
        }
        return [ToolDef(FIND_TOOLS, self.description, schema)]

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        return Action(tool=call.name, kind=ActionKind.READ, summary="look up MCP tool parameters")

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        try:
            query = call.arguments().get("query")
        except MalformedToolArguments as exc:
            return ToolOutput(str(exc), is_error=True)
        if not isinstance(query, str) or not query.strip():
            return ToolOutput("find_tools needs a query: a tool name or words.", is_error=True)
        found = _search(self.hub.all_tools(), query)
        if not found:
            names = ", ".join(t.name for t in self.hub.all_tools()[:40])
            return ToolOutput(f"No MCP tool matches {query!r}. Tools: {names}.", is_error=True)
        lines = [
            json.dumps(
                {"name": t.name, "description": t.description, "input_schema": t.input_schema},
                ensure_ascii=False,
            )
            for t in found[:_FIND_LIMIT]
        ]
        more = len(found) - _FIND_LIMIT
        if more > 0:
            lines.append(f"({more} more match; narrow the query)")
        return ToolOutput("\n".join(lines))

    async def aclose(self) -> None:
        return None


def _search(tools: list[McpTool], query: str) -> list[McpTool]:
    text = query.strip().lower()
    exact = [t for t in tools if t.name.lower() == text or t.remote_name.lower() == text]
    if exact:
        return exact
    words = text.split()
    return [t for t in tools if all(w in f"{t.name} {t.description}".lower() for w in words)]
