"""A server's tool listing turned into tools the model may see, and what was left out.

A listing is untrusted input. Each tool is kept only if its name can be exposed as
``mcp__<server>__<tool>`` (the characters model APIs accept, at most 64), its input schema is
a valid JSON Schema object (checked against the meta-schema) of bounded size, and the server
stays under a bounded number of tools; everything dropped is reported with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mcp_types as types
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from errand.models import JsonValue

MAX_TOOLS = 128
"""Tools kept from one server; a model cannot choose well among more."""
MAX_SCHEMA_CHARS = 16_000
"""The largest input schema kept (as compact JSON)."""
MAX_DESCRIPTION_CHARS = 1_024
MAX_NAME_CHARS = 64
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class McpTool:
    """A server's tool as Errand exposes it."""

    name: str
    """The exposed name, ``mcp__<server>__<tool>``."""
    remote_name: str
    """The server's own name for it (what ``tools/call`` is sent)."""
    description: str
    input_schema: Mapping[str, JsonValue]

    @property
    def summary(self) -> str:
        """The first line of the description, for the short listing."""
        first = self.description.strip().splitlines()[0] if self.description.strip() else ""
        return first[:160]

    @property
    def schema_chars(self) -> int:
        return len(json.dumps(self.input_schema, separators=(",", ":")))


@dataclass(frozen=True, slots=True)
class Listing:
    """The kept tools and one sentence per tool (or group) left out."""

    tools: tuple[McpTool, ...]
    skipped: tuple[str, ...]


def exposed_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>`` with characters model APIs refuse replaced by ``_``."""
    return f"mcp__{server}__{_NAME_CHARS.sub('_', tool)}"


def schema_problem(schema: object) -> str | None:
    """Why ``schema`` is not a usable tool input schema, or None when it is."""
    if not isinstance(schema, dict):
        return "its input schema is not a JSON object"
    if schema.get("type", "object") != "object":
        return "its input schema does not describe an object"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the root"
        return f"its input schema is not valid JSON Schema ({exc.message[:160]} at {where})"
    except Exception as exc:  # a hostile schema may break the checker itself
        return f"its input schema cannot be checked ({type(exc).__name__})"
    return None


def listing(server: str, tools: Sequence[types.Tool]) -> Listing:
    """Turn a server's listing into exposed tools, in the server's order."""
    kept: list[McpTool] = []
    skipped: list[str] = []
    names: set[str] = set()
    for tool in tools:
        if len(kept) >= MAX_TOOLS:
            skipped.append(
                f"{len(tools) - MAX_TOOLS} more tools (a server may offer at most {MAX_TOOLS})"
            )
            break
        name = exposed_name(server, tool.name)
        problem = schema_problem(tool.input_schema)
        if problem is None and len(name) > MAX_NAME_CHARS:
            problem = f"its name is too long (over {MAX_NAME_CHARS} characters as {name[:40]}…)"
        if problem is None and name in names:
            problem = f"its name clashes with another tool's as {name}"
        if problem is None:
            size = len(json.dumps(tool.input_schema, separators=(",", ":")))
            if size > MAX_SCHEMA_CHARS:
                problem = f"its input schema is {size} characters (at most {MAX_SCHEMA_CHARS})"
        if problem is not None:
            skipped.append(f"tool {tool.name[:80]!r}: {problem}")
            continue
        names.add(name)
        schema: dict[str, JsonValue] = {"type": "object", **tool.input_schema}
        kept.append(
            McpTool(
                name=name,
                remote_name=tool.name,
                description=(tool.description or tool.title or tool.name)[:MAX_DESCRIPTION_CHARS],
                input_schema=schema,
            )
        )
    return Listing(tools=tuple(kept), skipped=tuple(skipped))
