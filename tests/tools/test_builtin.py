"""The built-in toolset behind a toolbox: schemas for the model, and invocation that never
crashes a task."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, Field

from errand.models.types import ToolCall
from errand.skills import SkillCatalog, parse_skill
from errand.tools import (
    Action,
    ActionKind,
    ActivateSkill,
    BuiltinToolset,
    Toolbox,
    ToolContext,
    ToolError,
    ToolOutput,
    default_tools,
)
from tools.tool_harness import Harness


class EchoArgs(BaseModel):
    text: str = Field(description="What to say.")
    times: int | None = Field(default=None, ge=1, description="How often.")


class Echo:
    """A tool whose behaviour the test picks through its argument."""

    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "Echo text."
    Args: ClassVar[type[BaseModel]] = EchoArgs

    def __init__(self) -> None:
        self.seen_call_ids: list[str] = []

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, EchoArgs)
        if args.text == "undescribable":
            raise ToolError("cannot say that")
        return Action(self.name, ActionKind.READ, args.text)

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, EchoArgs)
        self.seen_call_ids.append(ctx.call_id)
        match args.text:
            case "crash":
                raise KeyError("boom")
            case "expected":
                raise ToolError("that file is gone")
            case "hang":
                await asyncio.sleep(3600)
        return ToolOutput(args.text * (args.times or 1))


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def registry(echo: Echo) -> Toolbox:
    return Toolbox([BuiltinToolset([echo])], output_cap=1000)


def call(arguments: str, name: str = "echo") -> ToolCall:
    return ToolCall("c1", name, arguments)


async def test_a_valid_call_runs_with_the_calls_id(
    registry: Toolbox, echo: Echo, harness: Harness
) -> None:
    out = await registry.invoke(call('{"text": "hi", "times": 2}'), harness.ctx)
    assert out == ToolOutput("hihi")
    assert echo.seen_call_ids == ["c1"]
    assert harness.ctx.call_id == ""  # the shared context is not changed


async def test_an_unknown_tool_lists_the_tools(registry: Toolbox, harness: Harness) -> None:
    out = await registry.invoke(call("{}", name="rm_rf"), harness.ctx)
    assert out == ToolOutput("There is no tool 'rm_rf'. Tools: echo.", is_error=True)


async def test_malformed_json_is_an_error_the_model_can_fix(
    registry: Toolbox, harness: Harness
) -> None:
    out = await registry.invoke(call('{"text": "hi"'), harness.ctx)
    assert out.is_error
    assert "are not valid JSON" in out.content
    listed = await registry.invoke(call("[1, 2]"), harness.ctx)
    assert listed.is_error and "must be a JSON object" in listed.content


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{}", "Invalid arguments for echo: text: Field required. Fix them and call again."),
        ('{"text": 5}', "text: Input should be a valid string"),
        ('{"text": "a", "times": 0}', "times: Input should be greater than or equal to 1"),
    ],
)
async def test_schema_violations_are_reported_in_one_line(
    registry: Toolbox, harness: Harness, arguments: str, expected: str
) -> None:
    out = await registry.invoke(call(arguments), harness.ctx)
    assert out.is_error
    assert expected in out.content
    assert "\n" not in out.content


async def test_unknown_arguments_are_refused_by_the_real_tools(harness: Harness) -> None:
    out = await harness.call("read_file", path="a.txt", start=3)
    assert out.is_error
    assert "start: Extra inputs are not permitted" in out.content


async def test_exceptions_inside_a_tool_become_error_outputs(
    registry: Toolbox, harness: Harness
) -> None:
    crash = await registry.invoke(call('{"text": "crash"}'), harness.ctx)
    assert crash == ToolOutput("echo failed: KeyError: 'boom'", is_error=True)
    expected = await registry.invoke(call('{"text": "expected"}'), harness.ctx)
    assert expected == ToolOutput("that file is gone", is_error=True)


async def test_cancellation_propagates(registry: Toolbox, harness: Harness) -> None:
    task = asyncio.create_task(registry.invoke(call('{"text": "hang"}'), harness.ctx))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_long_output_keeps_head_and_tail(registry: Toolbox, harness: Harness) -> None:
    out = await registry.invoke(call(json.dumps({"text": "0123456789", "times": 500})), harness.ctx)
    assert len(out.content) <= 1000
    assert out.content.startswith("0123456789")
    assert out.content.endswith("0123456789")
    assert "characters cut ...]" in out.content
    cut = int(out.content.split("[... ")[1].split(" ")[0])
    assert len(out.content) - len(f"\n[... {cut} characters cut ...]\n") + cut == 5000


async def test_describe_returns_the_action_or_an_error_output(
    registry: Toolbox, harness: Harness
) -> None:
    assert await registry.describe(call('{"text": "ls"}'), harness.ctx) == Action(
        "echo", ActionKind.READ, "ls"
    )
    assert await registry.describe(call('{"text": "undescribable"}'), harness.ctx) == ToolOutput(
        "cannot say that", is_error=True
    )
    invalid = await registry.describe(call("{}"), harness.ctx)
    assert isinstance(invalid, ToolOutput) and invalid.is_error


def test_two_tools_with_one_name_are_refused(echo: Echo) -> None:
    with pytest.raises(ValueError, match="two tools are named 'echo'"):
        BuiltinToolset([echo, Echo()])


async def test_specs_are_lean_json_schemas(registry: Toolbox, harness: Harness) -> None:
    (spec,) = await registry.specs(harness.ctx)
    assert spec.name == "echo" and spec.description == "Echo text."
    assert spec.input_schema == {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "What to say."},
            "times": {"type": "integer", "minimum": 1, "description": "How often."},
        },
        "required": ["text"],
    }


def _skill_catalog(tmp_path: Path) -> SkillCatalog:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: notes\ndescription: Keep notes.\n---\nBody.\n", encoding="utf-8"
    )
    return SkillCatalog((parse_skill(folder, strict=False),))


def test_the_standard_tools_and_their_schemas_fit_the_prompt_budget(tmp_path: Path) -> None:
    builtin = BuiltinToolset(default_tools(_skill_catalog(tmp_path)))
    assert builtin.names == (
        "list_files",
        "read_file",
        "search_files",
        "write_file",
        "edit_file",
        "run_shell",
        "fetch_url",
        "ask_user",
        "activate_skill",
    )
    specs = [
        {"name": s.name, "description": s.description, "input_schema": s.input_schema}
        for s in builtin.tool_defs()
    ]
    assert len(json.dumps(specs)) < 5000
    assert "title" not in json.dumps(specs)


def test_activate_skill_is_left_out_without_skills() -> None:
    names = [tool.name for tool in default_tools(SkillCatalog())]
    assert ActivateSkill.name not in names
    assert [tool.name for tool in default_tools()] == names
