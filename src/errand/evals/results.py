"""What a grader sees of one finished task, and the verdict it gives.

A task's ``grade.py`` defines ``grade(result: TaskResult) -> Grade``. :class:`TaskResult`
holds the outcome a user would check: the folders as the task left them (beside the files
the task started with), the task's event log as typed events, what the local site received,
and how the task ended. Graders judge outcomes in files and events; the model's answer is
there for tasks whose outcome is an answer, never as evidence that something was done.
:class:`Checks` builds a :class:`Grade` with partial credit from several named checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from errand.events import (
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    NetworkDecided,
    QuestionAsked,
    TaskEvent,
    ToolCalled,
    ToolResulted,
    UnknownEvent,
)
from errand.store import TaskStatus

_MAX_READ_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Grade:
    """A grader's verdict: ``passed``, one sentence saying why, and ``score`` in [0, 1]
    (partial credit; 1.0 for a pass unless the grader says otherwise)."""

    passed: bool
    reason: str
    score: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError("a grade's score must be between 0 and 1")

    @classmethod
    def pass_(cls, reason: str = "all checks passed") -> Grade:
        return cls(True, reason, 1.0)

    @classmethod
    def fail(cls, reason: str, score: float = 0.0) -> Grade:
        return cls(False, reason, score)


@dataclass
class Checks:
    """Named checks that add up to a grade: passed when every check holds, scored by the
    share that hold, and the reason names the first that failed.

    Use ``checks.expect(condition, "what should hold")`` for each outcome, then
    ``return checks.grade()``.
    """

    _failed: list[str] = field(default_factory=list)
    _count: int = 0

    def expect(self, condition: bool, what: str) -> bool:
        """Record a check; returns ``condition`` so later checks can depend on it."""
        self._count += 1
        if not condition:
            self._failed.append(what)
        return condition

    def grade(self) -> Grade:
        if self._count == 0:
            raise ValueError("a grade needs at least one check")
        if not self._failed:
            return Grade.pass_(f"all {self._count} checks passed")
        held = self._count - len(self._failed)
        more = f" (and {len(self._failed) - 1} more)" if len(self._failed) > 1 else ""
        return Grade.fail(f"failed: {self._failed[0]}{more}", held / self._count)


@dataclass(frozen=True)
class SiteRequest:
    """One request the task's local site received: method, path (with query) and body."""

    method: str
    path: str
    body: str


@dataclass(frozen=True)
class Verified:
    """How one of the task's ``verify`` commands ended: its exit code and its output
    (stdout then stderr, cut to 64 KiB)."""

    exit_code: int
    output: str


@dataclass(frozen=True)
class TaskResult:
    """One finished task as its grader sees it.

    ``folders`` maps each granted folder's name to its copy as the task left it;
    ``starting`` to the task's starting files (unchanged); ``events`` is the whole log;
    ``site_requests`` what the task's local site received (paths relative to the site);
    ``verified`` the outcomes of the task's ``verify`` commands, by name.
    """

    task: str
    status: TaskStatus
    exit_code: int | None
    error: str | None
    events: tuple[TaskEvent | UnknownEvent, ...]
    folders: Mapping[str, Path]
    starting: Mapping[str, Path]
    site_requests: tuple[SiteRequest, ...] = ()
    verified: Mapping[str, Verified] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status is TaskStatus.COMPLETED

    @property
    def answer(self) -> str:
        """The model's last words (its final message's text)."""
        messages = [e for e in self.events if isinstance(e, AssistantMessage)]
        return messages[-1].text if messages else ""

    def tool_calls(self, tool: str | None = None) -> list[ToolCalled]:
        """The tool calls handled, in order (only ``tool``'s when given)."""
        return [
            e for e in self.events if isinstance(e, ToolCalled) and (tool is None or e.tool == tool)
        ]

    def tool_results(self, tool: str | None = None) -> list[ToolResulted]:
        return [
            e
            for e in self.events
            if isinstance(e, ToolResulted) and (tool is None or e.tool == tool)
        ]

    def approvals_requested(self) -> list[ApprovalRequested]:
        return [e for e in self.events if isinstance(e, ApprovalRequested)]

    def approvals_decided(self) -> list[ApprovalDecided]:
        return [e for e in self.events if isinstance(e, ApprovalDecided)]

    def questions(self) -> list[QuestionAsked]:
        return [e for e in self.events if isinstance(e, QuestionAsked)]

    def network(self, verdict: str | None = None) -> list[NetworkDecided]:
        """The egress proxy's decisions (``allow`` or ``deny`` only, when given)."""
        return [
            e
            for e in self.events
            if isinstance(e, NetworkDecided) and (verdict is None or e.verdict == verdict)
        ]

    def read(self, folder: str, path: str) -> str | None:
        """The text of ``path`` in ``folder`` as the task left it; None if it is not a file."""
        return _read(self.folders[folder] / path)

    def files(self, folder: str) -> dict[str, bytes]:
        """Every file in ``folder`` as the task left it, by ``/``-separated relative path."""
        return _snapshot(self.folders[folder])

    def starting_files(self, folder: str) -> dict[str, bytes]:
        """The files ``folder`` started with."""
        root = self.starting.get(folder)
        return _snapshot(root) if root is not None else {}

    def unchanged(self, folder: str) -> bool:
        """Whether ``folder`` holds exactly the files it started with, byte for byte."""
        return self.files(folder) == self.starting_files(folder)

    def posted(self, path: str | None = None) -> list[SiteRequest]:
        """Requests other than GET and HEAD the site received (to ``path`` only, when given)."""
        return [
            r
            for r in self.site_requests
            if r.method not in ("GET", "HEAD") and (path is None or r.path == path)
        ]


def _read(path: Path) -> str | None:
    if not path.is_file() or path.is_symlink():
        return None
    with path.open("rb") as fh:
        return fh.read(_MAX_READ_BYTES).decode("utf-8", errors="replace")


def _snapshot(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(root).as_posix()] = path.read_bytes()[:_MAX_READ_BYTES]
    return found
