"""MCP connectors: any MCP server's tools beside Errand's own, each server in its own sandbox.

Public surface: :func:`mcp_config` reads ``[mcp]`` from ``errand.toml`` into an
:class:`McpConfig` of :class:`ServerConfig` (:func:`add_server` and :func:`remove_server` edit
the file); :func:`server_launcher` starts a stdio server in its sandbox (:func:`sandboxed`) or
reaches a remote one through an egress proxy (:func:`proxied`); :class:`McpServers` gives a
task one toolset per server (and ``find_tools`` when
their schemas exceed the budget); :func:`check_server` starts one server and reports what it
offers or exactly what failed; :data:`HEALTH` holds every started server's
:class:`ServerHealth`; :func:`approval_rules` turns the servers' approval settings into
approval rules by tool name.

The configuration and health parts load without the MCP SDK; the rest loads it on first use,
so the gateway and ``errand --help`` do not pay for it until a server is started.
:func:`load_sdk` loads it ahead, before tasks run, when servers are configured.
"""

from typing import TYPE_CHECKING

from errand.mcp.config import (
    Approval,
    McpConfig,
    McpConfigError,
    ServerConfig,
    ServerFolder,
    add_server,
    approval_rules,
    mcp_config,
    remove_server,
    server_config,
)
from errand.mcp.health import HEALTH, HealthBoard, HealthSink, ServerHealth, ServerState

if TYPE_CHECKING:
    from errand.mcp.check import CheckReport, check_server
    from errand.mcp.connection import RemoteLink, ServerConnection, ServerFailed, unsandboxed
    from errand.mcp.launch import (
        AllowedFolders,
        allowed_folders,
        sandboxed,
        server_launcher,
        server_policy,
    )
    from errand.mcp.listing import McpTool, exposed_name
    from errand.mcp.remote import proxied
    from errand.mcp.toolsets import FIND_TOOLS, McpServers

_LAZY = {
    "CheckReport": "check",
    "check_server": "check",
    "ServerConnection": "connection",
    "ServerFailed": "connection",
    "unsandboxed": "connection",
    "RemoteLink": "connection",
    "server_launcher": "launch",
    "proxied": "remote",
    "AllowedFolders": "launch",
    "allowed_folders": "launch",
    "sandboxed": "launch",
    "server_policy": "launch",
    "McpTool": "listing",
    "exposed_name": "listing",
    "FIND_TOOLS": "toolsets",
    "McpServers": "toolsets",
}


def load_sdk() -> None:
    """Load the MCP SDK and the modules that use it now, not when the first server starts.

    Call it before the event loop runs tasks: the first import takes seconds on a busy
    machine, and made inside a running task it would stall the loop (and the heartbeats that
    keep the task's lease) for that long.
    """
    import importlib

    for module in ("toolsets", "remote", "check"):
        importlib.import_module(f"errand.mcp.{module}")


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'errand.mcp' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"errand.mcp.{module}"), name)


__all__ = [
    "FIND_TOOLS",
    "HEALTH",
    "AllowedFolders",
    "Approval",
    "CheckReport",
    "HealthBoard",
    "HealthSink",
    "McpConfig",
    "McpConfigError",
    "McpServers",
    "McpTool",
    "RemoteLink",
    "ServerConfig",
    "ServerConnection",
    "ServerFailed",
    "ServerFolder",
    "ServerHealth",
    "ServerState",
    "add_server",
    "allowed_folders",
    "approval_rules",
    "check_server",
    "exposed_name",
    "load_sdk",
    "mcp_config",
    "proxied",
    "remove_server",
    "sandboxed",
    "server_config",
    "server_launcher",
    "server_policy",
    "unsandboxed",
]
