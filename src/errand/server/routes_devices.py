"""Devices, allowed folders and models (docs/api.md "Devices", "Folders and models").

Folders are shown by name and mode only: which host path a name stands for stays on the
computer. Revoking a device takes effect at once; its open streams notice within a second
(they re-check their credential), and revoking the caller's own device is "forget this
device".
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from errand.access import list_folders as list_allowed_folders
from errand.models import known_providers
from errand.server.errors import ApiError
from errand.server.gateway import DevicesScope, GatewayDep, TasksRead
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.store import AccessStore

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


class FolderList(BaseModel):
    folders: list[FolderView]


class ProviderView(BaseModel):
    name: str
    example: str
    configured: bool


class ModelList(BaseModel):
    default: str | None
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
        folders=[FolderView(name=f.name, mode="rw" if f.mode == "rw" else "ro") for f in folders]
    )


@router.get("/models", response_model=ModelList, tags=["models"])
async def list_models(gateway: GatewayDep, principal: TasksRead) -> ModelList:
    """The default model and the providers a task may name."""
    providers = [
        ProviderView(
            name=p.name,
            example=p.example,
            configured=bool(os.environ.get(_KEYS[p.name])) if p.name in _KEYS else True,
        )
        for p in known_providers()
        if p.name != "script" or gateway.intake.config.allow_scripted_models
    ]
    default = gateway.intake.config.default_model
    return ModelList(default=default, providers=providers)
