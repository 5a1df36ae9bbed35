"""A test host in a network namespace: a reachable, non-loopback server for network tests.

The egress proxy refuses loopback by policy, so tests that need an "allowed" server build one
here: a network namespace joined to the host by a veth pair, with the host side at
``10.254.N.1/30`` and the namespace side at ``10.254.N.2/30``. ``N`` is claimed by creating the
veth (which fails when another test process holds it), so concurrent test runs do not collide.
Everything is removed on exit, also when the test fails. Traffic only ever goes to these
addresses, never anywhere else.

Needs root and ``ip netns``; :func:`nethost_or_skip` turns their absence into a pytest skip.
"""

from __future__ import annotations

import ipaddress
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import pytest

_IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
_FIRST, _LAST = 1, 250
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


class NetHostUnavailable(RuntimeError):
    """This machine cannot build a namespace test host; the message says why."""


class TestHost:
    """A network namespace reachable from the host at :attr:`address` over a veth pair.

    Use as a context manager; :meth:`start_http_server` starts the echo server inside it.
    """

    __test__ = False  # not a test class, despite the name

    http_port = 8080

    def __init__(self) -> None:
        self.index = 0
        self.namespace = ""
        self._veth = ""
        self._servers: list[subprocess.Popen[str]] = []

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The /30 that holds both ends of the veth pair."""
        return ipaddress.IPv4Network(f"10.254.{self.index}.0/30")

    @property
    def address(self) -> ipaddress.IPv4Address:
        """The namespace side: where the test host's servers listen."""
        return ipaddress.IPv4Address(f"10.254.{self.index}.2")

    @property
    def host_address(self) -> ipaddress.IPv4Address:
        """The host side of the veth pair: one of this computer's own addresses while it lives."""
        return ipaddress.IPv4Address(f"10.254.{self.index}.1")

    def __enter__(self) -> Self:
        if os.geteuid() != 0:
            raise NetHostUnavailable("building a namespace test host needs root")
        try:
            self._claim()
            self._configure()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _claim(self) -> None:
        _remove_stale_hosts()
        pid = os.getpid()
        last_error = ""
        for index in range(_FIRST, _LAST + 1):
            veth = f"errth{index}h"
            result = _ip("link", "add", veth, "type", "veth", "peer", "name", f"errth{index}n")
            if result.returncode == 0:
                self.index, self._veth = index, veth
                self.namespace = f"errand-test-{pid}-{index}"
                return
            last_error = result.stderr.strip()
            if "exists" not in last_error:
                break
        raise NetHostUnavailable(f"cannot create a veth pair: {last_error or 'all taken'}")

    def _configure(self) -> None:
        steps = [
            ("netns", "add", self.namespace),
            ("link", "set", f"errth{self.index}n", "netns", self.namespace),
            ("addr", "add", f"{self.host_address}/30", "dev", self._veth),
            ("link", "set", self._veth, "up"),
            ("-n", self.namespace, "addr", "add", f"{self.address}/30", "dev",
             f"errth{self.index}n"),
            ("-n", self.namespace, "link", "set", f"errth{self.index}n", "up"),
            ("-n", self.namespace, "link", "set", "lo", "up"),
        ]  # fmt: skip
        for step in steps:
            result = _ip(*step)
            if result.returncode != 0:
                raise NetHostUnavailable(f"ip {' '.join(step)} failed: {result.stderr.strip()}")

    def start_http_server(self) -> None:
        """Start the echo HTTP server at ``address:http_port`` and wait until it listens.

        Raises:
            NetHostUnavailable: it did not report ready within a few seconds.
        """
        argv = [_IP, "netns", "exec", self.namespace, sys.executable, "-I", "-c", _SERVER]
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
        if self._veth:
            _ip("link", "del", self._veth)
            self._veth = ""
        if self.namespace:
            _ip("netns", "del", self.namespace)
            self.namespace = ""


def _remove_stale_hosts() -> None:
    """Remove test hosts left behind by test processes that were killed before cleaning up."""
    listing = _ip("netns", "list")
    for line in listing.stdout.splitlines():
        name = line.split(" ", 1)[0]
        parts = name.split("-")
        if len(parts) != 4 or name[: len("errand-test-")] != "errand-test-":
            continue
        pid, index = parts[2], parts[3]
        if not (pid.isdigit() and index.isdigit()) or os.path.exists(f"/proc/{pid}"):
            continue
        _ip("link", "del", f"errth{index}h")
        _ip("netns", "del", name)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_IP, *args], capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess([_IP, *args], 1, "", str(exc))


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
