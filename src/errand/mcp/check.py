"""``errand mcp check``: start one server in its sandbox (or reach a remote one through the
egress proxy), list its tools, say what failed."""

from __future__ import annotations

import time
from dataclasses import dataclass

from errand.mcp.config import ServerConfig
from errand.mcp.connection import Launcher, ServerConnection, ServerFailed
from errand.mcp.launch import AllowedFolders, server_launcher, server_policy
from errand.mcp.listing import McpTool, listing


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What a check found: the tools kept, what was left out and why, or the failure."""

    server: str
    seconds: float
    tools: tuple[McpTool, ...] = ()
    skipped: tuple[str, ...] = ()
    failure: str | None = None
    server_name: str | None = None
    """The name and version the server gave in its handshake."""

    @property
    def ok(self) -> bool:
        return self.failure is None


async def check_server(
    config: ServerConfig, allowed: AllowedFolders, *, launcher: Launcher | None = None
) -> CheckReport:
    """Start ``config``'s server as a task would (outside any task: its folders are bounded
    by the allowed folders only), list its tools and stop it."""
    started = time.perf_counter()
    connection: ServerConnection | None = None
    try:
        launch = launcher or server_launcher(config, server_policy(config, allowed))
        connection = ServerConnection(config, launch)
        found = listing(config.name, await connection.start())
    except ServerFailed as exc:
        return CheckReport(config.name, time.perf_counter() - started, failure=str(exc))
    finally:
        if connection is not None:
            await connection.aclose()
    info = connection.server_info
    return CheckReport(
        config.name,
        time.perf_counter() - started,
        tools=found.tools,
        skipped=found.skipped,
        server_name=f"{info.name} {info.version}" if info else None,
    )
