"""Task routes: create, list, read, cancel, follow up, resume (docs/api.md "Tasks").

A new task goes through :class:`errand.intake.Intake` like every other: its folders are
chosen by name among those the computer's owner allows, never by host path, with at most the
allowed mode; its domains and model are validated as for the CLI. Only then is it stored
``queued`` and handed to the runner, so a refused request changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from errand.access import Principal
from errand.intake import MAX_PROMPT_CHARS, FolderChoice, IntakeError, TaskRequest
from errand.sandbox import FolderMode
from errand.server.errors import ApiError
from errand.server.gateway import GatewayDep, TasksRead, TasksWrite
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.server.task_views import TaskView
from errand.store import NO_SUMMARY
from errand.tasks import SourceKind, TaskSource, TaskStatus

router = APIRouter(prefix="/api/v1", tags=["tasks"], route_class=IdempotentRoute)
_idempotent = [Depends(idempotent)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FolderPick(_Strict):
    name: str = Field(min_length=1, max_length=128)
    mode: Literal["ro", "rw"] = "ro"


class TaskCreate(_Strict):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    folders: list[FolderPick] = Field(default_factory=list, max_length=20)
    allow_domains: list[str] = Field(default_factory=list, max_length=100)
    model: str | None = Field(default=None, min_length=3, max_length=200)
    review: bool = False
    """Hold the task's changes to its folders for review instead of applying them."""
    toolsets: list[str] | None = Field(default=None, max_length=50)
    """Tools beyond the built-in ones: ``browser``, ``mcp:NAME`` for an MCP server."""


class FollowUp(_Strict):
    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)


class TaskPage(BaseModel):
    tasks: list[TaskView]
    next_before: str | None


@router.post("/tasks", status_code=201, response_model=TaskView, dependencies=_idempotent)
async def create_task(body: TaskCreate, gateway: GatewayDep, principal: TasksWrite) -> TaskView:
    """Start a task: stored ``queued`` and handed to the runner."""
    request = TaskRequest(
        prompt=body.prompt,
        folders=[FolderChoice(choice.name, FolderMode(choice.mode)) for choice in body.folders],
        allow_domains=body.allow_domains,
        model=body.model,
        source=_source_of(principal),
        review=body.review,
        toolsets=body.toolsets,
    )
    try:
        task = await gateway.intake.submit(request)
    except IntakeError as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    # The task as it was created: no model call has been made and nothing asked yet.
    return (await gateway.views.build([(task, NO_SUMMARY)]))[0]


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    gateway: GatewayDep,
    principal: TasksRead,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> TaskPage:
    """Tasks newest first; page with ``before=<next_before>``."""
    found = await gateway.store.list_tasks_summarized(status=status, limit=limit + 1, before=before)
    shown = found[:limit]
    return TaskPage(
        tasks=await gateway.views.build(shown),
        next_before=shown[-1][0].id if len(found) > limit else None,
    )


@router.get("/tasks/{task_id}", response_model=TaskView)
async def get_task(task_id: str, gateway: GatewayDep, principal: TasksRead) -> TaskView:
    return (await gateway.views([await gateway.store.get_task(task_id)]))[0]


@router.post(
    "/tasks/{task_id}/cancel", status_code=202, response_model=TaskView, dependencies=_idempotent
)
async def cancel_task(task_id: str, gateway: GatewayDep, principal: TasksWrite) -> TaskView:
    """Stop a queued or running task; a task that has ended is returned unchanged."""
    await gateway.store.get_task(task_id)
    await gateway.runner.cancel(task_id)
    return (await gateway.views([await gateway.store.get_task(task_id)]))[0]


@router.post(
    "/tasks/{task_id}/messages", status_code=202, response_model=TaskView, dependencies=_idempotent
)
async def follow_up(
    task_id: str, body: FollowUp, gateway: GatewayDep, principal: TasksWrite
) -> TaskView:
    """Another message from the user; a finished task is reopened."""
    await gateway.store.get_task(task_id)
    await gateway.runner.follow_up(task_id, body.text)
    return (await gateway.views([await gateway.store.get_task(task_id)]))[0]


@router.post(
    "/tasks/{task_id}/resume", status_code=202, response_model=TaskView, dependencies=_idempotent
)
async def resume_task(task_id: str, gateway: GatewayDep, principal: TasksWrite) -> TaskView:
    """Continue an ``interrupted`` task from its transcript."""
    task = await gateway.store.get_task(task_id)
    if task.status is not TaskStatus.INTERRUPTED:
        raise ApiError(409, "not_interrupted", "Only an interrupted task can be resumed.")
    await gateway.runner.resume(task_id)
    return (await gateway.views([await gateway.store.get_task(task_id)]))[0]


def _source_of(principal: Principal) -> TaskSource:
    kind = SourceKind.PHONE if principal.kind == "device" else SourceKind.API
    return TaskSource(kind=kind, ref=principal.id)
