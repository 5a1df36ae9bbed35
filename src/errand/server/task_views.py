"""Tasks as the API shows them (docs/api.md "Tasks"): the task object and how it is built.

Host paths never appear: a task's folders are shown by name and mode only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from errand.store import Store, TaskRecord, TaskSummary
from errand.tasks import SourceKind, TaskStatus, waiting_for

LIVE_FOR_S = 1.0
"""How long the gateway trusts its last read of which runners are alive. Runners renew
their rows every few seconds and are read as stopped only after their lease (15 s)."""


class FolderView(BaseModel):
    name: str
    mode: Literal["ro", "rw"]


class UsageView(BaseModel):
    input_tokens: int
    output_tokens: int


class TaskView(BaseModel):
    """A task as docs/api.md shows it."""

    id: str
    title: str
    prompt: str
    status: TaskStatus
    model: str
    source: SourceKind
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    exit_code: int | None
    attention: list[str]
    """What went wrong on the way, even in a completed task ("2 steps failed")."""
    last_seq: int
    folders: list[FolderView]
    allow_domains: list[str]
    pending_approvals: int
    pending_questions: int
    usage: UsageView
    runs_on: str | None = None
    """The worker that must run it, the one its folders are on (``serve``: the gateway's own
    runner); null: any runner."""
    waiting_for: str | None = None
    """Why a queued task has not started, when this gateway cannot run it itself: one
    sentence naming the worker it waits for and saying whether that worker is running."""


class TaskViews:
    """Builds the API's task objects; one per gateway.

    A task's summary (its usage, pending approvals and questions) is read with it: a page
    of tasks and their summaries is one statement (``Store.list_tasks_summarized``).
    """

    def __init__(self, store: Store, *, runs_here: frozenset[str] = frozenset()) -> None:
        """``runs_here``: the worker labels the gateway's own runner serves (none with
        ``--no-runner``); a queued task placed elsewhere says which worker it waits for."""
        self.store = store
        self._runs_here = runs_here
        self._live: tuple[float, frozenset[str]] | None = None

    async def __call__(self, tasks: Sequence[TaskRecord]) -> list[TaskView]:
        """The task objects for ``tasks``, in the same order."""
        if not tasks:
            return []
        summaries = await self.store.task_summaries(task.id for task in tasks)
        return await self.build([(task, summaries[task.id]) for task in tasks])

    async def build(self, summarized: Sequence[tuple[TaskRecord, TaskSummary]]) -> list[TaskView]:
        """The task objects for tasks read with their summaries, in the same order.

        Which runners are alive is read only when a queued task among them is one this
        gateway does not run itself (``waiting_for``).
        """
        live: frozenset[str] = frozenset()
        if any(self._runs_elsewhere(task) for task, _ in summarized):
            live = await self._live_labels()
        views = []
        for task, summary in summarized:
            folders, domains = _policy_summary(task)
            views.append(
                TaskView(
                    id=task.id,
                    title=task.title,
                    prompt=task.prompt,
                    status=task.status,
                    model=task.model,
                    source=task.source.kind,
                    created_at=task.created_at.isoformat(),
                    started_at=task.started_at.isoformat() if task.started_at else None,
                    finished_at=task.finished_at.isoformat() if task.finished_at else None,
                    error=task.error,
                    exit_code=task.exit_code,
                    attention=list(task.attention),
                    last_seq=task.last_seq,
                    folders=folders,
                    allow_domains=domains,
                    pending_approvals=summary.pending_approvals,
                    pending_questions=summary.pending_questions,
                    usage=UsageView(
                        input_tokens=summary.usage.input_tokens,
                        output_tokens=summary.usage.output_tokens,
                    ),
                    runs_on=task.spec.runs_on,
                    waiting_for=(
                        waiting_for(task.spec.runs_on, live) if self._runs_elsewhere(task) else None
                    ),
                )
            )
        return views

    async def _live_labels(self) -> frozenset[str]:
        """The labels live runners serve, read at most once per ``LIVE_FOR_S``: a gateway
        whose tasks all run on workers would otherwise read them for every POST and GET."""
        now = time.monotonic()
        if self._live is None or now - self._live[0] >= LIVE_FOR_S:
            self._live = (now, await self.store.live_worker_labels())
        return self._live[1]

    def _runs_elsewhere(self, task: TaskRecord) -> bool:
        """Whether ``task`` is queued for a runner other than this gateway's own."""
        if task.status is not TaskStatus.QUEUED:
            return False
        place = task.spec.runs_on
        return not self._runs_here if place is None else place not in self._runs_here


def _policy_summary(task: TaskRecord) -> tuple[list[FolderView], list[str]]:
    """Folder names and modes and allowed domains from the task's spec (never host paths)."""
    spec = task.spec
    folders = [FolderView(name=g.name, mode=g.mode.value) for g in spec.folders]
    return folders, list(spec.network.allow_domains)
