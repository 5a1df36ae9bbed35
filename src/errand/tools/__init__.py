"""The tools Errand's agent can call: files, search, shell, web fetch, questions, skills.

Public surface: a task's tools come from :class:`Toolset` objects (tools as :class:`ToolDef`
with raw JSON Schemas) routed by a :class:`Toolbox` (name routing, :data:`OUTPUT_CAP`, close
at the end); the built-in tools are the :class:`BuiltinToolset` of :func:`default_tools`, each
a :class:`Tool` with a pydantic ``Args`` model. Every call gets a :class:`ToolContext`, is
described as an :class:`Action` (:class:`ActionKind`) for approval, and returns a
:class:`ToolOutput`; :class:`ToolError` marks expected failures; :func:`resolve_path` maps
model paths to granted folders.
"""

from errand.tools.ask import AskUser
from errand.tools.base import Action, ActionKind, Tool, ToolContext, ToolMap, ToolOutput
from errand.tools.builtin import BuiltinToolset, default_tools, lean_schema
from errand.tools.errors import ToolError
from errand.tools.file_read import ListFiles, ReadFile
from errand.tools.file_write import EditFile, WriteFile
from errand.tools.html_text import html_to_text
from errand.tools.paths import GrantPath, resolve_path, show_path
from errand.tools.search import SearchFiles
from errand.tools.shell import RunShell
from errand.tools.skill import ActivateSkill
from errand.tools.toolset import (
    OUTPUT_CAP,
    DuplicateTool,
    Toolbox,
    ToolDef,
    Toolset,
    ToolsetFailed,
)
from errand.tools.web import FetchUrl, checked_host

__all__ = [
    "OUTPUT_CAP",
    "Action",
    "ActionKind",
    "ActivateSkill",
    "AskUser",
    "BuiltinToolset",
    "DuplicateTool",
    "EditFile",
    "FetchUrl",
    "GrantPath",
    "ListFiles",
    "ReadFile",
    "RunShell",
    "SearchFiles",
    "Tool",
    "ToolContext",
    "ToolDef",
    "ToolError",
    "ToolMap",
    "ToolOutput",
    "Toolbox",
    "Toolset",
    "ToolsetFailed",
    "WriteFile",
    "checked_host",
    "default_tools",
    "html_to_text",
    "lean_schema",
    "resolve_path",
    "show_path",
]
