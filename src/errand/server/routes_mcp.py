"""MCP servers and their health (docs/api.md "MCP servers").

Each configured server with its state as this gateway last saw it: not started, starting,
ready with its number of tools (and what its listing had left out), or failed with the
reason. Commands and host paths stay on the computer; folders are shown by name and mode.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from errand.mcp import HEALTH
from errand.server.gateway import GatewayDep, TasksRead
from errand.server.idempotency import IdempotentRoute

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)


class McpFolderView(BaseModel):
    name: str
    mode: Literal["ro", "rw"]


class McpServerView(BaseModel):
    name: str
    transport: Literal["stdio", "http"]
    state: Literal["not_started", "starting", "ready", "failed", "stopped"]
    tools: int
    reason: str | None
    skipped: list[str]
    folders: list[McpFolderView]
    allow_domains: list[str]
    approval: Literal["allow", "ask", "deny"]
    checked_at: float | None


class McpServerList(BaseModel):
    servers: list[McpServerView]


@router.get("/mcp", response_model=McpServerList, tags=["mcp"])
async def list_mcp_servers(gateway: GatewayDep, principal: TasksRead) -> McpServerList:
    """The configured MCP servers and the state each was last seen in."""
    views = []
    for server in gateway.config.mcp.servers.values():
        health = HEALTH.get(server.name)
        views.append(
            McpServerView(
                name=server.name,
                transport="stdio" if server.command else "http",
                state=health.state.value,
                tools=health.tools,
                reason=health.reason,
                skipped=list(health.skipped),
                folders=[
                    McpFolderView(name=f.name, mode="rw" if f.mode == "rw" else "ro")
                    for f in server.folders
                ],
                allow_domains=list(server.allow_domains),
                approval=server.approval.value,
                checked_at=health.at or None,
            )
        )
    return McpServerList(servers=views)
