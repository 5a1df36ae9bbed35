"""Devices, allowed folders and models (docs/api.md "Devices", "Folders and models").

Folders are shown by name and mode only: which host path a name stands for stays on the
computer. A phone may add a file to a read-write folder (``errand.access.save_upload``
chooses its safe, free name); the body is the file's bytes, limited by the security
middleware before it is read. Revoking a device takes effect at once; its open streams
notice within a second (they re-check their credential), and revoking the caller's own
device is "forget this device".
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from errand.access import FolderError, save_upload
from errand.access import list_folders as list_allowed_folders
from errand.models import known_providers
from errand.server.errors import ApiError
from errand.server.gateway import DevicesScope, GatewayDep, TasksRead, TasksWrite
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.store import AccessStore
from errand.tasks import GATEWAY_WORKER

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)

_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


class DeviceView(BaseModel):
    id: str
    name: str
    created_at: str
    last_seen_at: str
    current: bool


class DeviceList(BaseModel):
    devices: list[DeviceView]


class FolderView(BaseModel):
    name: str
    mode: Literal["ro", "rw"]
    worker: str | None = None
    """The worker whose folder it is (tasks using it run there); null: the gateway's."""


class FolderList(BaseModel):
    folders: list[FolderView]


class UploadView(BaseModel):
    folder: str
    name: str
    """The file's name at the top of the folder (made safe, numbered if the name was taken)."""
    size: int


class ProviderView(BaseModel):
    name: str
    example: str
    configured: bool


class ModelList(BaseModel):
    default: str | None
    models: list[str]
    """The models to pick from: the default first, then ``models`` in ``errand.toml``."""
    providers: list[ProviderView]


@router.get("/devices", response_model=DeviceList, tags=["devices"])
async def list_devices(gateway: GatewayDep, principal: DevicesScope) -> DeviceList:
    """Paired devices that are not revoked, oldest first; ``current`` marks the caller."""
    devices = await AccessStore(gateway.store).list_devices()
    return DeviceList(
        devices=[
            DeviceView(
                id=d.id,
                name=d.name,
                created_at=d.created_at.isoformat(),
                last_seen_at=d.last_seen_at.isoformat(),
                current=principal.kind == "device" and principal.id == d.id,
            )
            for d in devices
        ]
    )


@router.delete(
    "/devices/{device_id}",
    status_code=204,
    response_class=Response,
    tags=["devices"],
    dependencies=[Depends(idempotent)],
)
async def revoke_device(device_id: str, gateway: GatewayDep, principal: DevicesScope) -> Response:
    """Revoke a device (the caller's own: forget this device)."""
    if not await AccessStore(gateway.store).revoke_device(device_id, now=datetime.now(UTC)):
        raise ApiError(404, "device_not_found", "There is no such paired device.")
    return Response(status_code=204)


@router.get("/folders", response_model=FolderList, tags=["folders"])
async def list_folders(gateway: GatewayDep, principal: TasksRead) -> FolderList:
    """The folders the computer's owner allows, with the most a task may get."""
    folders = await list_allowed_folders(gateway.store)
    return FolderList(
        folders=[
            FolderView(name=f.name, mode="rw" if f.mode == "rw" else "ro", worker=f.worker)
            for f in folders
        ]
    )


_UPLOAD_STATUS = {
    "unknown_folder": 404,
    "folder_mode_not_allowed": 403,
    "file_too_large": 413,
    "folder_unavailable": 409,
}


@router.post(
    "/folders/{folder}/files",
    status_code=201,
    response_model=UploadView,
    tags=["folders"],
    dependencies=[Depends(idempotent)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_file(
    folder: str,
    request: Request,
    gateway: GatewayDep,
    principal: TasksWrite,
    name: Annotated[str, Query(min_length=1, max_length=1024)],
) -> UploadView:
    """Add a file (the body's bytes) to the top of the allowed read-write folder ``folder``
    as ``name``, made safe; an existing file is never replaced (``photo (2).jpg``)."""
    data = await request.body()
    if not data:
        raise ApiError(400, "empty_file", "The file is empty; nothing was saved.")
    try:
        here = {GATEWAY_WORKER, *gateway.runner.folder_workers}
        saved = await save_upload(gateway.store, folder, name, data, here=here)
    except FolderError as exc:
        raise ApiError(_UPLOAD_STATUS.get(exc.code, 400), exc.code, _sentence(exc.message)) from exc
    return UploadView(folder=saved.folder, name=saved.name, size=saved.size)


def _sentence(message: str) -> str:
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else text + "."


@router.get("/models", response_model=ModelList, tags=["models"])
async def list_models(gateway: GatewayDep, principal: TasksRead) -> ModelList:
    """The default model, the configured models to pick from, and the providers a task may
    name."""
    providers = [
        ProviderView(
            name=p.name,
            example=p.example,
            configured=bool(os.environ.get(_KEYS[p.name])) if p.name in _KEYS else True,
        )
        for p in known_providers()
        if p.name != "script" or gateway.intake.config.allow_scripted_models
    ]
    settings = gateway.intake.config
    return ModelList(
        default=settings.default_model, models=list(settings.models), providers=providers
    )
