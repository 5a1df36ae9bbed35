"""Toolsets, and the toolbox that routes a task's tool calls over them.

A :class:`Toolset` is a set of tools a task can offer, each with a raw JSON Schema: the
built-in tools are one (:class:`~errand.tools.builtin.BuiltinToolset`), the browser and each
MCP server are others. A :class:`Toolbox` holds a task's toolsets, lists their tools for the
model (refusing two tools with one name), routes each call to the toolset that offers it, caps
what the model is told, and closes every toolset when the task ends. Approval is a wrapper
around a toolset (:class:`errand.agent.Approving`), never part of one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from errand.models import JsonValue, ToolCall, ToolSpec
from errand.tools.base import Action, ToolContext, ToolOutput
from errand.tools.text_output import cut_middle

OUTPUT_CAP = 30_000
"""Characters of one tool output the model receives; longer output keeps head and tail."""


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A tool as the model sees it: its name, description and raw JSON Schema (an object)."""

    name: str
    description: str
    input_schema: Mapping[str, JsonValue]


class Toolset(Protocol):
    """A set of tools a task can offer.

    Started when the task first needs it (listing the tools may start it: an MCP server must
    connect to say what it has), stopped by :meth:`aclose` when the task ends. Calls reach a
    toolset with ``ctx.call_id`` set to the call's id.
    """

    name: str
    """Names the toolset in messages: ``"builtin"``, ``"browser"``, ``"mcp:git"``."""

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        """The tools offered, in the order the model should see them."""
        ...

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        """What ``call`` would do (for approval), computed without side effects; an error
        output when it cannot run as sent (the output is returned to the model as is)."""
        ...

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        """Run ``call``. Never raises except :class:`asyncio.CancelledError`: expected
        failures are outputs with ``is_error`` set."""
        ...

    async def aclose(self) -> None:
        """Stop what the toolset started (idempotent)."""
        ...


class ToolsetFailed(Exception):
    """A toolset the task needs could not start; the message says which and why, in one
    sentence (the task fails with it rather than run without the tools)."""


class DuplicateTool(ValueError):
    """Two toolsets (or one twice) offer a tool of the same name; the task cannot say which
    the model means."""


class Toolbox:
    """A task's toolsets: listing, routing by tool name, an output cap, and closing.

    Tools are listed once, on first need; a toolset that is never listed is never started.
    ``close()`` closes every toolset, each even if another fails.
    """

    def __init__(self, toolsets: Sequence[Toolset], *, output_cap: int = OUTPUT_CAP) -> None:
        self.toolsets = tuple(toolsets)
        self.output_cap = output_cap
        self._routes: dict[str, Toolset] | None = None
        self._defs: list[ToolDef] = []

    async def list_tools(self, ctx: ToolContext) -> list[ToolDef]:
        """Every toolset's tools, in toolset order.

        Raises:
            DuplicateTool: two tools share a name (the message names both toolsets).
        """
        if self._routes is None:
            routes: dict[str, Toolset] = {}
            defs: list[ToolDef] = []
            for toolset in self.toolsets:
                for tool in await toolset.list_tools(ctx):
                    if tool.name in routes:
                        raise DuplicateTool(
                            f"two tools are named {tool.name!r} "
                            f"(in {routes[tool.name].name} and {toolset.name})"
                        )
                    routes[tool.name] = toolset
                    defs.append(tool)
            self._routes, self._defs = routes, defs
        return list(self._defs)

    async def specs(self, ctx: ToolContext) -> list[ToolSpec]:
        """The tools as the model adapters take them."""
        return [ToolSpec(t.name, t.description, t.input_schema) for t in await self.list_tools(ctx)]

    @property
    def names(self) -> tuple[str, ...]:
        """The names listed so far (empty before :meth:`list_tools`)."""
        return tuple(self._routes or ())

    async def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        """What ``call`` would do, or the error output when it cannot run as sent."""
        routed = await self._route(call, ctx)
        if isinstance(routed, ToolOutput):
            return routed
        return routed.describe(call, dataclasses.replace(ctx, call_id=call.id))

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        """Run ``call`` on the toolset that offers it; never raises except for cancellation.

        The toolset sees a copy of ``ctx`` with ``call_id`` set to the call's id (the copy
        shares ``extra_mounts``, so skills activated by one call serve later ones). Output
        longer than the cap keeps its head and tail.
        """
        routed = await self._route(call, ctx)
        if isinstance(routed, ToolOutput):
            return routed
        output = await routed.invoke(call, dataclasses.replace(ctx, call_id=call.id))
        if len(output.content) > self.output_cap:
            output = dataclasses.replace(
                output, content=cut_middle(output.content, self.output_cap)
            )
        return output

    async def aclose(self) -> None:
        """Close every toolset (each even if an earlier one fails; the first error is
        raised after all were tried)."""
        failure: BaseException | None = None
        for toolset in self.toolsets:
            try:
                await toolset.aclose()
            except BaseException as exc:  # close the rest first
                failure = failure or exc
        if failure is not None:
            raise failure

    async def _route(self, call: ToolCall, ctx: ToolContext) -> Toolset | ToolOutput:
        await self.list_tools(ctx)
        assert self._routes is not None
        toolset = self._routes.get(call.name)
        if toolset is None:
            names = ", ".join(self._routes) or "none"
            return ToolOutput(f"There is no tool {call.name!r}. Tools: {names}.", is_error=True)
        return toolset
