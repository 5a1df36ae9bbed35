"""The files a task wrote: listed and downloaded (docs/api.md "Tasks").

Only files the task itself reported writing (the ``files`` of its ``tool.result`` events)
are listed or served, and they are read through :class:`~errand.sandbox.GrantedRoot` of the
task's own folders: a sandbox path is mapped to a folder of the task's policy, and
everything is opened beneath that folder without following a final symlink. No host path
is ever taken from the request.
"""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from errand.access import list_folders
from errand.config import data_dir
from errand.events import ToolResulted
from errand.sandbox import GrantedRoot, PathRefused
from errand.server.errors import ApiError
from errand.server.gateway import Gateway, GatewayDep, TasksRead
from errand.store import TaskRecord
from errand.tasks import GATEWAY_WORKER, place_of, recheck_grants

router = APIRouter(prefix="/api/v1", tags=["files"])

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
ARTIFACTS_PREFIX = "/artifacts/"
_MAX_FILES = 1000
_MAX_EVENT_PAGES = 20


class FileView(BaseModel):
    path: str
    folder: str
    name: str
    size: int
    mtime: str


class FileList(BaseModel):
    files: list[FileView]


@dataclass(frozen=True)
class _Mount:
    name: str
    host_path: Path
    prefix: str  # the folder's path inside the sandbox, with a trailing slash
    errand_own: bool = False  # a directory Errand keeps itself (artifacts), not a grant


@router.get("/tasks/{task_id}/files", response_model=FileList)
async def list_files(task_id: str, gateway: GatewayDep, principal: TasksRead) -> FileList:
    """Files the task wrote that still exist, in the order it first wrote them."""
    task = await gateway.store.get_task(task_id)
    paths = await _written_paths(gateway, task_id)
    mounts = await _mounts(gateway, task)
    return FileList(files=await asyncio.to_thread(_stat_all, paths, mounts))


@router.get(
    "/tasks/{task_id}/files/content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes."}},
)
async def download_file(
    task_id: str,
    gateway: GatewayDep,
    principal: TasksRead,
    path: Annotated[str, Query(min_length=1, max_length=4096)],
) -> Response:
    """The bytes of a file the task wrote, as an attachment."""
    task = await gateway.store.get_task(task_id)
    if path not in await _written_paths(gateway, task_id):
        raise ApiError(404, "file_not_found", "This task did not write that file.")
    located = _locate(path, await _mounts(gateway, task))
    if located is None:
        raise ApiError(404, "file_not_found", "That file is not in one of the task's folders.")
    mount, rel = located
    data, more = await asyncio.to_thread(_read, mount, rel)
    if more:
        raise ApiError(413, "file_too_large", "The file is too large to download here.")
    name = posixpath.basename(path) or "file"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _written_paths(gateway: Gateway, task_id: str) -> list[str]:
    seen: dict[str, None] = {}
    after = 0
    for _ in range(_MAX_EVENT_PAGES):
        page = await gateway.store.events(task_id, after_seq=after, limit=1000)
        for event in page:
            result = event.event
            if not isinstance(result, ToolResulted):
                continue
            for item in result.files:
                if len(seen) < _MAX_FILES:
                    seen.setdefault(item, None)
        if len(page) < 1000:
            break
        after = page[-1].seq
    return list(seen)


async def _mounts(gateway: Gateway, task: TaskRecord) -> list[_Mount]:
    """Where the task's files may be read now: artifacts Errand itself saved for the task
    (``/artifacts/NAME``, see errand.browser), then its folders re-checked against the
    allowed folders, so a folder removed or narrowed since the task ran serves nothing."""
    mounts = [
        _Mount("artifacts", data_dir() / "artifacts" / task.id, ARTIFACTS_PREFIX, errand_own=True)
    ]
    allowed = await list_folders(gateway.store)
    spec, _ = recheck_grants(task.spec, allowed)
    # A worker's folder is on its host: the same path here is another folder, never served.
    here = {GATEWAY_WORKER, *gateway.runner.folder_workers}
    # The agent runs each task in a sandbox session named after the task.
    mounts += [
        _Mount(g.name, Path(g.path), spec.mount_path(task.id, g.name) + "/")
        for g in spec.folders
        if place_of(g.worker) in here
    ]
    return mounts


def _locate(path: str, mounts: list[_Mount]) -> tuple[_Mount, str] | None:
    normal = posixpath.normpath(path)
    if normal != path.rstrip("/") or ".." in normal.split("/"):
        return None
    for mount in mounts:
        if normal.startswith(mount.prefix):
            return mount, normal[len(mount.prefix) :]
    return None


def _stat_all(paths: list[str], mounts: list[_Mount]) -> list[FileView]:
    views = []
    roots: dict[str, GrantedRoot | None] = {}
    try:
        for path in paths:
            located = _locate(path, mounts)
            if located is None:
                continue
            mount, rel = located
            if mount.name not in roots:
                try:
                    roots[mount.name] = GrantedRoot(
                        mount.host_path, writable=False, errand_own=mount.errand_own
                    )
                except OSError:
                    roots[mount.name] = None
            root = roots[mount.name]
            if root is None:
                continue
            try:
                entry = root.stat(rel)
            except (OSError, ValueError):
                continue  # removed since, or refused: not listed
            if entry.kind != "file":
                continue
            views.append(
                FileView(
                    path=path,
                    folder=mount.name,
                    name=posixpath.basename(rel),
                    size=entry.size,
                    mtime=datetime.fromtimestamp(entry.mtime, UTC).isoformat(),
                )
            )
    finally:
        for root in roots.values():
            if root is not None:
                root.close()
    return views


def _read(mount: _Mount, rel: str) -> tuple[bytes, bool]:
    try:
        with GrantedRoot(mount.host_path, writable=False, errand_own=mount.errand_own) as root:
            return root.read_bytes(rel, max_bytes=MAX_DOWNLOAD_BYTES)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PathRefused) as exc:
        raise ApiError(404, "file_not_found", "That file cannot be read any more.") from exc
