"""What a task changed in its folders, and applying, discarding or undoing it (docs/api.md).

The change list comes from the task's change layers (:mod:`errand.sandbox.changes`), which
record every change whatever made it. Applying, discarding and undoing refuse while the task
runs (its overlays may be mounted): 409 ``task_running``.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from errand.config import data_dir
from errand.sandbox import (
    Change,
    FolderLayer,
    open_layers,
    paths_in,
    task_changes_dir,
    text_diff,
)
from errand.server.errors import ApiError
from errand.server.gateway import GatewayDep, TasksRead, TasksWrite
from errand.server.idempotency import idempotent
from errand.store import TaskStatus

router = APIRouter(prefix="/api/v1", tags=["changes"])
_idempotent = [Depends(idempotent)]
_MAX_CHANGES = 5000


class ChangeView(BaseModel):
    folder: str
    path: str
    kind: Literal["created", "modified", "deleted"]
    is_dir: bool
    size_before: int | None
    size_after: int | None
    status: Literal["applied", "held", "conflict", "refused", "undone"]
    reason: str | None
    undo: bool = Field(description="Made by an undo (or a redo) rather than by the task.")
    diff: str | None = Field(description="A unified diff when both sides are small text.")


class ChangeList(BaseModel):
    changes: list[ChangeView]
    truncated: bool


class PathsBody(BaseModel):
    paths: list[str] = Field(default_factory=list, max_length=1000)
    """Only these paths (``folder/path``); all when empty."""


class UndoBody(BaseModel):
    force: bool = False


@router.get("/tasks/{task_id}/changes", response_model=ChangeList)
async def list_changes(task_id: str, gateway: GatewayDep, principal: TasksRead) -> ChangeList:
    """Every change the task made to its read-write folders, oldest first; held changes last."""
    await gateway.store.get_task(task_id)
    return await asyncio.to_thread(_list, task_id)


@router.post("/tasks/{task_id}/changes/apply", response_model=ChangeList, dependencies=_idempotent)
async def apply_changes(
    task_id: str, body: PathsBody, gateway: GatewayDep, principal: TasksWrite
) -> ChangeList:
    """Apply the changes held for review: all, or those at or under ``paths`` (conflicts are
    reported, not forced; the rest stays held)."""
    await _require_idle(gateway, task_id)

    def apply() -> list[Change]:
        done: list[Change] = []
        for layer in _layers(task_id):
            wanted = paths_in(layer, body.paths)
            if wanted != []:
                done += layer.apply(paths=wanted or ())
        return done

    done = await asyncio.to_thread(apply)
    return ChangeList(changes=[_view(None, c, undone=False) for c in done], truncated=False)


@router.post(
    "/tasks/{task_id}/changes/discard", response_model=ChangeList, dependencies=_idempotent
)
async def discard_changes(
    task_id: str, body: PathsBody, gateway: GatewayDep, principal: TasksWrite
) -> ChangeList:
    """Drop held changes (all, or those under ``paths``); the folder is not touched."""
    await _require_idle(gateway, task_id)

    def discard() -> None:
        for layer in _layers(task_id):
            wanted = paths_in(layer, body.paths)
            if wanted != []:
                layer.discard_paths(wanted or ())

    await asyncio.to_thread(discard)
    return await asyncio.to_thread(_list, task_id)


@router.post("/tasks/{task_id}/undo", response_model=ChangeList, dependencies=_idempotent)
async def undo_task(
    task_id: str, body: UndoBody, gateway: GatewayDep, principal: TasksWrite
) -> ChangeList:
    """Put the task's files back as they were before it; files changed since are reported as
    conflicts (not overwritten) unless ``force``. Undoing again redoes."""
    await _require_idle(gateway, task_id)
    done = await asyncio.to_thread(
        lambda: [c for layer in _layers(task_id) for c in layer.undo(force=body.force)]
    )
    return ChangeList(changes=[_view(None, c, undone=False) for c in done], truncated=False)


def _layers(task_id: str) -> list[FolderLayer]:
    return open_layers(task_changes_dir(data_dir(), task_id))


async def _require_idle(gateway: GatewayDep, task_id: str) -> None:
    task = await gateway.store.get_task(task_id)
    if task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
        raise ApiError(409, "task_running", "The task is still running; try once it has ended.")


def _list(task_id: str) -> ChangeList:
    views: list[ChangeView] = []
    for layer in _layers(task_id):
        for item in layer.history():
            views.append(_view(layer, item.change, undone=item.undone))
        views += [_view(layer, change, undone=False) for change in layer.report()]
    return ChangeList(changes=views[:_MAX_CHANGES], truncated=len(views) > _MAX_CHANGES)


def _view(layer: FolderLayer | None, change: Change, *, undone: bool) -> ChangeView:
    return ChangeView(
        folder=change.folder,
        path=change.path,
        kind=change.kind.value,
        is_dir=change.is_dir,
        size_before=change.size_before,
        size_after=change.size_after,
        status="undone" if undone else change.status,
        reason=None if change.reason == "undo" else change.reason,
        undo=change.reason == "undo",
        diff=text_diff(layer, change) if layer is not None else None,
    )
