"""The toolbox: a task's tools from several toolsets, routed by name, capped, closed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from errand.models.types import JsonValue, ToolCall
from errand.sandbox import Sandbox, SandboxPolicy
from errand.tools import (
    Action,
    ActionKind,
    DuplicateTool,
    Toolbox,
    ToolContext,
    ToolDef,
    ToolOutput,
)


class Recording:
    """A toolset whose tools answer with their name and the call's id, and which records
    whether it was started and closed."""

    def __init__(self, name: str, tools: Sequence[str], *, fail_close: bool = False) -> None:
        self.name = name
        self._tools = tools
        self._fail_close = fail_close
        self.started = False
        self.closed = 0
        self.seen: list[str] = []

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        self.started = True
        schema: dict[str, JsonValue] = {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "x-raw": True,
        }
        return [ToolDef(tool, f"{tool} of {self.name}", schema) for tool in self._tools]

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        return Action(call.name, ActionKind.READ, f"{self.name} {ctx.call_id}")

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        self.seen.append(ctx.call_id)
        size = call.arguments().get("n", 1)
        assert isinstance(size, int)
        return ToolOutput(f"{call.name}@{self.name}:" + "x" * size)

    async def aclose(self) -> None:
        self.closed += 1
        if self._fail_close:
            raise RuntimeError(f"{self.name} would not stop")


@pytest.fixture
def ctx() -> ToolContext:
    policy = SandboxPolicy()
    return ToolContext(sandbox=Sandbox(policy), policy=policy, roots={}, ask_user=_no_answer)


async def _no_answer(question: str) -> str:
    return ""


async def test_tools_are_listed_in_toolset_order_with_their_raw_schemas(ctx: ToolContext) -> None:
    first, second = Recording("builtin", ["read", "write"]), Recording("mcp:git", ["git_log"])
    box = Toolbox([first, second])
    assert not first.started and not second.started  # nothing starts before it is needed
    specs = await box.specs(ctx)
    assert [s.name for s in specs] == ["read", "write", "git_log"]
    assert specs[2].description == "git_log of mcp:git"
    assert specs[2].input_schema["x-raw"] is True
    assert box.names == ("read", "write", "git_log")


async def test_calls_reach_the_toolset_that_offers_them_with_the_calls_id(
    ctx: ToolContext,
) -> None:
    first, second = Recording("builtin", ["read"]), Recording("browser", ["click"])
    box = Toolbox([first, second])
    out = await box.invoke(ToolCall("c7", "click", "{}"), ctx)
    assert out == ToolOutput("click@browser:x")
    assert second.seen == ["c7"] and first.seen == []
    assert await box.describe(ToolCall("c8", "read", "{}"), ctx) == Action(
        "read", ActionKind.READ, "builtin c8"
    )
    assert ctx.call_id == ""  # the task's context is not changed


async def test_an_unknown_tool_lists_every_toolsets_tools(ctx: ToolContext) -> None:
    box = Toolbox([Recording("builtin", ["read"]), Recording("browser", ["click"])])
    out = await box.invoke(ToolCall("c1", "rm_rf", "{}"), ctx)
    assert out == ToolOutput("There is no tool 'rm_rf'. Tools: read, click.", is_error=True)
    assert await box.describe(ToolCall("c1", "rm_rf", "{}"), ctx) == out


async def test_two_tools_with_one_name_are_refused_naming_both_toolsets(
    ctx: ToolContext,
) -> None:
    box = Toolbox([Recording("builtin", ["read"]), Recording("mcp:files", ["read"])])
    with pytest.raises(DuplicateTool, match=r"'read' \(in builtin and mcp:files\)"):
        await box.specs(ctx)


async def test_the_output_cap_applies_to_every_toolset(ctx: ToolContext) -> None:
    box = Toolbox([Recording("mcp:big", ["dump"])], output_cap=200)
    out = await box.invoke(ToolCall("c1", "dump", '{"n": 5000}'), ctx)
    assert len(out.content) <= 200
    assert out.content.startswith("dump@mcp:big:xxx") and "characters cut" in out.content


async def test_closing_closes_every_toolset_even_when_one_fails(ctx: ToolContext) -> None:
    failing, other = Recording("browser", ["a"], fail_close=True), Recording("mcp:x", ["b"])
    box = Toolbox([failing, other])
    with pytest.raises(RuntimeError, match="browser would not stop"):
        await box.aclose()
    assert failing.closed == 1 and other.closed == 1
