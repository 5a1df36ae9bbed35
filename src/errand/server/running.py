"""Running the gateway's app on uvicorn inside an event loop we own.

``errand serve``, the tests and the benchmark all start the server this way: on a socket
bound beforehand (so port 0 works and the real port is known before the QR link is made),
without uvicorn's signal handling (the caller decides what Ctrl-C does), without trusting
proxy headers, and with a short graceful shutdown: streams end first because
:meth:`GatewayServer.stop` sets ``gateway.closing`` before telling uvicorn to exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn

from errand.server import access_log as access_log_filter
from errand.server.app import create_app
from errand.server.gateway import Gateway

STARTUP_SECONDS = 10.0
SHUTDOWN_SECONDS = 5.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The owner of the loop handles signals; uvicorn must not install or re-raise them.
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises:
        OSError: the address is in use or not available here.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol is named so that asyncio turns Nagle's algorithm off on every accepted
    # connection (it checks ``proto == IPPROTO_TCP``); with it on, a response written as
    # headers then body waited for the client's delayed ACK, 40 ms on each keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class GatewayServer:
    """The gateway's HTTP server on an already bound socket."""

    def __init__(self, gateway: Gateway, sock: socket.socket, *, access_log: bool = True) -> None:
        self.gateway = gateway
        self.socket = sock
        config = uvicorn.Config(
            create_app(gateway),
            log_level="info",
            access_log=access_log,
            proxy_headers=False,
            forwarded_allow_ips="",
            server_header=False,
            timeout_graceful_shutdown=int(SHUTDOWN_SECONDS),
            timeout_keep_alive=30,
            lifespan="on",
            ws="none",
        )
        self._server = _Server(config)
        access_log_filter.install()
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        port: int = self.socket.getsockname()[1]
        return port

    async def start(self) -> None:
        """Serve in the background; returns once the server accepts connections.

        Raises:
            RuntimeError: the server did not start (its error is in the log).
        """
        self._task = asyncio.ensure_future(self._server.serve(sockets=[self.socket]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_SECONDS
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                raise RuntimeError("the gateway's HTTP server did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """End open streams, stop accepting, and wait (bounded) for the server to finish."""
        self.gateway.closing.set()
        self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, SHUTDOWN_SECONDS * 2)
            except TimeoutError:
                self._server.force_exit = True
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        self.socket.close()
