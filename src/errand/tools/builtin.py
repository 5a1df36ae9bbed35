"""The built-in tools as one toolset.

:class:`BuiltinToolset` offers the :class:`~errand.tools.base.Tool` classes (each with a
pydantic ``Args`` model, from which its JSON Schema is derived) and turns a model's
:class:`~errand.models.types.ToolCall` into a :class:`~errand.tools.base.ToolOutput` whatever
happens: malformed JSON, arguments that break the schema, an expected failure
(:class:`ToolError`) or an unexpected exception all become error outputs the model can read.
Only cancellation propagates: a stopped task must stop.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from errand.models import JsonValue, MalformedToolArguments, ToolCall
from errand.skills import SkillCatalog
from errand.tools.ask import AskUser
from errand.tools.base import Action, Tool, ToolContext, ToolOutput
from errand.tools.errors import ToolError
from errand.tools.file_read import ListFiles, ReadFile
from errand.tools.file_write import EditFile, WriteFile
from errand.tools.search import SearchFiles
from errand.tools.shell import RunShell
from errand.tools.skill import ActivateSkill
from errand.tools.toolset import ToolDef
from errand.tools.web import FetchUrl

_MAX_REPORTED_ERRORS = 3
_NOISE_KEYS = frozenset({"title"})


def default_tools(catalog: SkillCatalog | None = None) -> list[Tool]:
    """The standard tools; ``activate_skill`` only when the catalog has skills (an empty one
    would cost prompt space and offer nothing)."""
    tools: list[Tool] = [
        ListFiles(),
        ReadFile(),
        SearchFiles(),
        WriteFile(),
        EditFile(),
        RunShell(),
        FetchUrl(),
        AskUser(),
    ]
    if catalog is not None and len(catalog) > 0:
        tools.append(ActivateSkill(catalog))
    return tools


class BuiltinToolset:
    """Tools implemented in Errand itself, by name; a :class:`~errand.tools.Toolset`.

    Raises:
        ValueError: (at construction) two tools share a name.
    """

    name = "builtin"

    def __init__(self, tools: Sequence[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools are named {tool.name!r}")
            self._tools[tool.name] = tool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def tool_defs(self) -> list[ToolDef]:
        """What the model is told about each tool: name, description, a lean JSON schema."""
        return [
            ToolDef(tool.name, tool.description, lean_schema(tool.Args))
            for tool in self._tools.values()
        ]

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        return self.tool_defs()

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        """What ``call`` would do, or the error output when it cannot run as sent."""
        parsed = self._parse(call)
        if isinstance(parsed, ToolOutput):
            return parsed
        tool, args = parsed
        try:
            return tool.describe(args, dataclasses.replace(ctx, call_id=call.id))
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        except Exception as exc:  # any failure becomes a readable error
            return _unexpected(tool.name, exc)

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        """Run ``call``; never raises except for cancellation. The tool sees ``ctx`` with
        ``call_id`` set to the call's id."""
        parsed = self._parse(call)
        if isinstance(parsed, ToolOutput):
            return parsed
        tool, args = parsed
        try:
            return await tool.run(args, dataclasses.replace(ctx, call_id=call.id))
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        # CancelledError is a BaseException, so it passes through: a stopped task stops.
        except Exception as exc:  # any failure becomes a readable error
            return _unexpected(tool.name, exc)

    async def aclose(self) -> None:
        """Nothing to stop: built-in tools hold no processes of their own."""

    def _parse(self, call: ToolCall) -> tuple[Tool, BaseModel] | ToolOutput:
        tool = self._tools.get(call.name)
        if tool is None:
            names = ", ".join(self._tools) or "none"
            return ToolOutput(f"There is no tool {call.name!r}. Tools: {names}.", is_error=True)
        try:
            return tool, tool.Args.model_validate(call.arguments())
        except MalformedToolArguments as exc:
            return ToolOutput(str(exc), is_error=True)
        except ValidationError as exc:
            return ToolOutput(_validation_message(call.name, exc), is_error=True)


def _unexpected(name: str, exc: Exception) -> ToolOutput:
    return ToolOutput(f"{name} failed: {type(exc).__name__}: {exc}", is_error=True)


def _validation_message(name: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(problems)
    tail = f" (and {more} more)" if more > 0 else ""
    return f"Invalid arguments for {name}: {'; '.join(problems)}{tail}. Fix them and call again."


@functools.cache
def lean_schema(args: type[BaseModel]) -> dict[str, JsonValue]:
    """The JSON Schema of an arguments model as the model is shown it: no titles, no ``null``
    defaults, optional fields without their ``null`` branch.

    Made once per model class (pydantic takes milliseconds, and every step of every task
    lists its tools); the schema is shared, so callers must not change it.
    """
    schema = _trim(args.model_json_schema())
    assert isinstance(schema, dict)
    return schema


def _trim(node: JsonValue) -> JsonValue:
    """Drop what the model does not need: titles, ``null`` defaults, and the ``null`` branch
    of optional fields (omitting the field says the same)."""
    if isinstance(node, list):
        return [_trim(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, JsonValue] = {}
    for key, value in node.items():
        if key in _NOISE_KEYS and not isinstance(value, dict):
            continue
        if key == "default" and value is None:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _trim(prop) for name, prop in value.items()}
            continue
        out[key] = _trim(value)
    branches = out.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1 and isinstance(kept[0], dict):
            del out["anyOf"]
            out = {**kept[0], **out}
    return out
