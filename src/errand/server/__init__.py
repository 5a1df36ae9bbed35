"""The gateway: the HTTP API (docs/api.md), its live streams, pairing and access.

The public surface is below. Its names load on first use, so that ``errand tokens`` and
``errand devices`` (which need only :mod:`errand.access`) do not load the web framework:

* ``build_gateway(store, runner, pairing, config)``, ``build_automation``, ``create_app``;
* ``bind_socket(host, port)`` and ``GatewayServer(gateway, sock)`` with ``start()`` /
  ``stop()``, how ``errand serve``, tests and benchmarks run it;
* ``GatewayConfig``, ``Gateway``, ``clients_answer`` (the runner's responder),
  ``SecuritySettings`` and ``StreamSettings``;
* exposure: ``plan(...)`` of names and origins, ``bind_host_for``, ``start_tailscale_serve`` /
  ``stop_tailscale_serve`` and ``ExposureError``;
* one gateway per home: ``ServeLock``, ``AlreadyServing``, ``SERVER_FILE``.

Who may use it (credentials, pairing, allowed folders) lives in :mod:`errand.access`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from errand.server.app import build_automation, build_gateway, create_app
    from errand.server.exposure import (
        ExposureError,
        bind_host_for,
        plan,
        start_tailscale_serve,
        stop_tailscale_serve,
    )
    from errand.server.gateway import Gateway, GatewayConfig, clients_answer
    from errand.server.instance import SERVER_FILE, AlreadyServing, ServeLock
    from errand.server.running import GatewayServer, bind_socket
    from errand.server.security import SecuritySettings
    from errand.server.sse import StreamSettings

_HOMES = {
    "app": ("build_automation", "build_gateway", "create_app"),
    "exposure": (
        "ExposureError",
        "bind_host_for",
        "plan",
        "start_tailscale_serve",
        "stop_tailscale_serve",
    ),
    "gateway": ("Gateway", "GatewayConfig", "clients_answer"),
    "instance": ("SERVER_FILE", "AlreadyServing", "ServeLock"),
    "running": ("GatewayServer", "bind_socket"),
    "security": ("SecuritySettings",),
    "sse": ("StreamSettings",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "SERVER_FILE",
    "AlreadyServing",
    "ExposureError",
    "Gateway",
    "GatewayConfig",
    "GatewayServer",
    "SecuritySettings",
    "ServeLock",
    "StreamSettings",
    "bind_host_for",
    "bind_socket",
    "build_automation",
    "build_gateway",
    "clients_answer",
    "create_app",
    "plan",
    "start_tailscale_serve",
    "stop_tailscale_serve",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
