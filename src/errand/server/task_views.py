"""Tasks as the API shows them (docs/api.md "Tasks"): the task object and how it is built.

Host paths never appear: a task's folders are shown by name and mode only.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from errand.store import ApprovalStatus, QuestionStatus, Store, TaskRecord
from errand.tasks import SourceKind, TaskStatus, waiting_for


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
    sentence naming the worker it waits for."""


class TaskViews:
    """Builds the API's task objects; one per gateway.

    A page costs two queries (pending approvals and questions, counted for the whole page)
    plus one per task whose usage is not cached. Usage changes only with a ``usage`` event,
    which moves the task's ``last_seq``, so usage cached with the ``last_seq`` it was read
    at is exact while that number stands. The cache holds ``cache_size`` tasks at most.
    """

    def __init__(
        self, store: Store, *, cache_size: int = 4096, runs_here: frozenset[str] = frozenset()
    ) -> None:
        """``runs_here``: the worker labels the gateway's own runner serves (none with
        ``--no-runner``); a queued task placed elsewhere says which worker it waits for."""
        self.store = store
        self._runs_here = runs_here
        self._usage: OrderedDict[str, tuple[int, UsageView]] = OrderedDict()
        self._cache_size = cache_size

    async def __call__(self, tasks: Sequence[TaskRecord]) -> list[TaskView]:
        """The task objects for ``tasks``, in the same order."""
        if not tasks:
            return []
        store = self.store
        approvals = Counter(
            a.task_id for a in await store.list_approvals(status=ApprovalStatus.PENDING, limit=1000)
        )
        questions = Counter(
            q.task_id for q in await store.list_questions(status=QuestionStatus.PENDING, limit=1000)
        )
        views = []
        for task in tasks:
            usage = await self._usage_of(task)
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
                    pending_approvals=approvals[task.id],
                    pending_questions=questions[task.id],
                    usage=usage,
                    runs_on=task.spec.runs_on,
                    waiting_for=self._waiting_for(task),
                )
            )
        return views

    def _waiting_for(self, task: TaskRecord) -> str | None:
        place = task.spec.runs_on
        if task.status is not TaskStatus.QUEUED or place is None or place in self._runs_here:
            return None
        return waiting_for(place)

    async def _usage_of(self, task: TaskRecord) -> UsageView:
        cached = self._usage.get(task.id)
        if cached is not None and cached[0] == task.last_seq:
            self._usage.move_to_end(task.id)
            return cached[1]
        totals = await self.store.usage_totals(task.id)
        usage = UsageView(input_tokens=totals.input_tokens, output_tokens=totals.output_tokens)
        self._usage[task.id] = (task.last_seq, usage)
        self._usage.move_to_end(task.id)
        while len(self._usage) > self._cache_size:
            self._usage.popitem(last=False)
        return usage


def _policy_summary(task: TaskRecord) -> tuple[list[FolderView], list[str]]:
    """Folder names and modes and allowed domains from the task's spec (never host paths)."""
    spec = task.spec
    folders = [FolderView(name=g.name, mode=g.mode.value) for g in spec.folders]
    return folders, list(spec.network.allow_domains)
