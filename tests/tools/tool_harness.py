"""Shared pieces of the tool tests: the session's paths, a fake user, and a call helper."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from errand.models.types import ToolCall
from errand.sandbox.policy import FolderGrant, FolderMode, SandboxPolicy
from errand.tools import BuiltinToolset, Toolbox, ToolContext, ToolOutput

SESSION = "t1"
WORK = f"/sessions/{SESSION}/mnt/work"
DOCS = f"/sessions/{SESSION}/mnt/docs"


@dataclass
class Asked:
    """What the fake user was asked, and what it answers."""

    answer: str = "blue"
    questions: list[str] = field(default_factory=list)

    async def __call__(self, question: str) -> str:
        self.questions.append(question)
        return self.answer


@dataclass
class Harness:
    """The folders on the host, the context, the built-in toolset and a toolbox over it (the
    way the agent loop calls), and a one-line way to call."""

    work: Path
    docs: Path
    ctx: ToolContext
    builtin: BuiltinToolset
    toolbox: Toolbox
    asked: Asked
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def call_of(self, tool: str, /, **arguments: object) -> ToolCall:
        return ToolCall(f"call-{next(self._ids)}", tool, json.dumps(arguments))

    async def call(self, tool: str, /, **arguments: object) -> ToolOutput:
        return await self.toolbox.invoke(self.call_of(tool, **arguments), self.ctx)


MakeHarness = Callable[..., Awaitable[Harness]]


def build_policy(work: Path, docs: Path, **fields: object) -> SandboxPolicy:
    return SandboxPolicy.model_validate(
        {
            "session": SESSION,
            "folders": (
                FolderGrant(path=work, mode=FolderMode.READ_WRITE),
                FolderGrant(path=docs, mode=FolderMode.READ_ONLY),
            ),
            **fields,
        }
    )
