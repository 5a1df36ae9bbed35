"""The tools Errand's agent can call: files, search, shell, web fetch, questions, skills.

Public surface: :class:`ToolRegistry` (specs for the model, safe invocation) built from
:func:`default_tools`; the contract :class:`Tool` with :class:`ToolContext`,
:class:`Action`/:class:`ActionKind` and :class:`ToolOutput`; :class:`ToolError` for expected
failures; :func:`resolve_path` for mapping model paths to granted folders.
"""

from errand.tools.ask import AskUser
from errand.tools.base import Action, ActionKind, Tool, ToolContext, ToolMap, ToolOutput
from errand.tools.errors import ToolError
from errand.tools.file_read import ListFiles, ReadFile
from errand.tools.file_write import EditFile, WriteFile
from errand.tools.html_text import html_to_text
from errand.tools.paths import GrantPath, resolve_path
from errand.tools.registry import OUTPUT_CAP, ToolRegistry, default_tools
from errand.tools.search import SearchFiles
from errand.tools.shell import RunShell
from errand.tools.skill import ActivateSkill
from errand.tools.web import FetchUrl

__all__ = [
    "OUTPUT_CAP",
    "Action",
    "ActionKind",
    "ActivateSkill",
    "AskUser",
    "EditFile",
    "FetchUrl",
    "GrantPath",
    "ListFiles",
    "ReadFile",
    "RunShell",
    "SearchFiles",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolMap",
    "ToolOutput",
    "ToolRegistry",
    "WriteFile",
    "default_tools",
    "html_to_text",
    "resolve_path",
]
