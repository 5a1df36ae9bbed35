"""A test host in a network namespace: a reachable, non-loopback server for network tests.

The egress proxy refuses loopback by policy, so tests that need an "allowed" server build one
here, on :class:`errand.evals.NamespaceHost` (which ``errand eval`` serves its local sites
from): a network namespace joined to the host by a veth pair, with the host side at
``10.254.N.1/30`` and the namespace side at ``10.254.N.2/30``. Everything is removed on exit,
also when the test fails. Traffic only ever goes to these addresses, never anywhere else.

Needs root and ``ip netns``; :func:`nethost_or_skip` turns their absence into a pytest skip.
"""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from errand.evals import NamespaceHost, NetHostUnavailable

__all__ = ["NetHostUnavailable", "TestHost", "nethost_or_skip"]

_READY_TIMEOUT = 10.0
_COMMAND_TIMEOUT = 10.0

# Runs inside the namespace with the standard library only. Answers every request with a known
# body that echoes what the server saw, so tests can check what the proxy forwarded.
_SERVER = r"""
import http.server, sys

class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self):
        body = self._body()
        seen = [
            "errand test host",
            "method: " + self.command,
            "path: " + self.path,
            "host: " + str(self.headers.get("Host")),
            "proxy-authorization: " + str(self.headers.get("Proxy-Authorization")),
            "connection: " + str(self.headers.get("Connection")),
            "body: " + body.decode("latin-1"),
        ]
        out = ("\n".join(seen) + "\n").encode("latin-1")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Echo)
print("ready", flush=True)
server.serve_forever()
"""


class TestHost(NamespaceHost):
    """A :class:`~errand.evals.NamespaceHost` that can also run the echo HTTP server.

    Use as a context manager; :meth:`start_http_server` starts the echo server inside it.
    """

    __test__ = False  # not a test class, despite the name

    http_port = 8080

    def __init__(self) -> None:
        super().__init__()
        self._servers: list[subprocess.Popen[str]] = []

    def start_http_server(self) -> None:
        """Start the echo HTTP server at ``address:http_port`` and wait until it listens.

        Raises:
            NetHostUnavailable: it did not report ready within a few seconds.
        """
        argv = self.command([sys.executable, "-I", "-c", _SERVER])
        server = subprocess.Popen(
            [*argv, str(self.address), str(self.http_port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._servers.append(server)
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], _READY_TIMEOUT)
        line = server.stdout.readline() if ready else ""
        if line.strip() != "ready":
            server.kill()
            _, err = server.communicate(timeout=_COMMAND_TIMEOUT)
            raise NetHostUnavailable(f"the test host's server did not start: {err.strip()}")

    def close(self) -> None:
        """Stop the servers and remove the namespace and veth pair; safe to call twice."""
        for server in self._servers:
            server.kill()
            server.communicate(timeout=_COMMAND_TIMEOUT)
        self._servers.clear()
        super().close()


@contextmanager
def nethost_or_skip(*, http_server: bool = True) -> Iterator[TestHost]:
    """A :class:`TestHost` (with its echo server running), or a pytest skip saying why not."""
    try:
        host = TestHost().__enter__()
    except NetHostUnavailable as exc:
        pytest.skip(f"no namespace test host on this machine: {exc}")
    try:
        if http_server:
            try:
                host.start_http_server()
            except NetHostUnavailable as exc:
                pytest.skip(f"no namespace test host on this machine: {exc}")
        yield host
    finally:
        host.close()
