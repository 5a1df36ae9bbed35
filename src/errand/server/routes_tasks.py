"""Task routes: create, list, read, cancel, follow up, resume (docs/api.md "Tasks").

A new task's folders are chosen by name among those the computer's owner allows, never by
host path, with at most the allowed mode; its domains and model are validated the same way
the CLI validates them. Only then is it stored ``queued`` and handed to the runner, so a
refused request changes nothing.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from errand.access import FolderError, FolderRequest, Principal, grants_for
from errand.models import InvalidScript, UnknownProvider, resolve_model
from errand.sandbox import FolderMode, NetworkPolicy, SandboxPolicy
from errand.server.errors import ApiError
from errand.server.gateway import (
    Gateway,
    GatewayDep,
    TasksRead,
    TasksWrite,
)
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.server.task_views import TaskView
from errand.store import (
    TaskSource,
    TaskStatus,
)

router = APIRouter(prefix="/api/v1", tags=["tasks"], route_class=IdempotentRoute)
_idempotent = [Depends(idempotent)]

MAX_PROMPT_CHARS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FolderChoice(_Strict):
    name: str = Field(min_length=1, max_length=128)
    mode: Literal["ro", "rw"] = "ro"


class TaskCreate(_Strict):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    folders: list[FolderChoice] = Field(default_factory=list, max_length=20)
    allow_domains: list[str] = Field(default_factory=list, max_length=100)
    model: str | None = Field(default=None, min_length=3, max_length=200)
    review: bool = False
    """Hold the task's changes to its folders for review instead of applying them."""


class FollowUp(_Strict):
    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)


class TaskPage(BaseModel):
    tasks: list[TaskView]
    next_before: str | None


@router.post("/tasks", status_code=201, response_model=TaskView, dependencies=_idempotent)
async def create_task(body: TaskCreate, gateway: GatewayDep, principal: TasksWrite) -> TaskView:
    """Start a task: stored ``queued`` and handed to the runner."""
    policy = await _policy_for(gateway, body)
    model = _model_for(gateway, body.model)
    task = await gateway.store.create_task(
        body.prompt,
        model=model,
        source=_source_of(principal),
        policy={"sandbox": policy.model_dump(mode="json"), "review": body.review},
    )
    await gateway.runner.submit(task.id)
    return (await gateway.views([task]))[0]


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    gateway: GatewayDep,
    principal: TasksRead,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> TaskPage:
    """Tasks newest first; page with ``before=<next_before>``."""
    tasks = await gateway.store.list_tasks(status=status, limit=limit + 1, before=before)
    more = len(tasks) > limit
    tasks = tasks[:limit]
    return TaskPage(
        tasks=await gateway.views(tasks),
        next_before=tasks[-1].id if more and tasks else None,
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


async def _policy_for(gateway: Gateway, body: TaskCreate) -> SandboxPolicy:
    """The task's sandbox policy: the allowed folders chosen by name, the configured limits
    and network rules widened by the requested domains. Raises ApiError (400) otherwise."""
    requests = [FolderRequest(choice.name, FolderMode(choice.mode)) for choice in body.folders]
    try:
        grants = await grants_for(gateway.store, requests)
    except FolderError as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    base = gateway.config.base_policy
    try:
        network = NetworkPolicy(
            allow_domains=(*base.network.allow_domains, *body.allow_domains),
            deny_domains=base.network.deny_domains,
            allow_cidrs=base.network.allow_cidrs,
        )
    except ValidationError as exc:
        raise ApiError(400, "invalid_domain", _first_error(exc)) from exc
    try:
        return SandboxPolicy(folders=tuple(grants), network=network, limits=base.limits)
    except ValidationError as exc:  # e.g. two allowed folders, one inside the other
        raise ApiError(400, "invalid_folder", _first_error(exc)) from exc


def _model_for(gateway: Gateway, requested: str | None) -> str:
    spec = requested or gateway.config.default_model or os.environ.get("ERRAND_MODEL")
    if not spec:
        raise ApiError(
            400, "no_model", "No model is configured on the computer; name one in the request."
        )
    if spec.strip().lower().startswith("script:") and not gateway.config.allow_scripted_models:
        raise ApiError(400, "unknown_model", "Scripted models are only for local testing.")
    try:
        resolve_model(spec)
    except (UnknownProvider, InvalidScript) as exc:
        raise ApiError(400, "unknown_model", str(exc)) from exc
    return spec


def _source_of(principal: Principal) -> TaskSource:
    return TaskSource.PHONE if principal.kind == "device" else TaskSource.API


def _first_error(exc: ValidationError) -> str:
    problems = exc.errors()
    message = str(problems[0].get("msg", "")) if problems else ""
    return message.removeprefix("Value error, ") or "An allowed folder cannot be used now."
