"""A host in a network namespace: a reachable, non-loopback place to serve local sites.

The egress proxy refuses loopback by policy, so an errand that needs the web gets its sites
from here: a network namespace joined to this computer by a veth pair, with this side at
``10.254.N.1/30`` and the namespace side at ``10.254.N.2/30``. ``N`` is claimed by creating
the veth (which fails when another process holds it), so concurrent runs do not collide.
Everything is removed on :meth:`NamespaceHost.close`, and hosts left by killed processes are
removed by the next one. Traffic only ever goes to these addresses. Needs root and ``ip``.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from types import TracebackType
from typing import Self

_IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
_FIRST, _LAST = 1, 250
_COMMAND_TIMEOUT = 10.0
_PREFIX = "errand-test-"


class NetHostUnavailable(RuntimeError):
    """This machine cannot build a namespace host; the message says why."""


class NamespaceHost:
    """A network namespace reachable from this computer at :attr:`address`.

    Use as a context manager; :meth:`command` wraps an argv to run inside the namespace.
    """

    def __init__(self) -> None:
        self.index = 0
        self.namespace = ""
        self._veth = ""

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The /30 that holds both ends of the veth pair."""
        return ipaddress.IPv4Network(f"10.254.{self.index}.0/30")

    @property
    def address(self) -> ipaddress.IPv4Address:
        """The namespace side: where servers started with :meth:`command` listen."""
        return ipaddress.IPv4Address(f"10.254.{self.index}.2")

    @property
    def host_address(self) -> ipaddress.IPv4Address:
        """This computer's side of the veth pair (one of its own addresses while it lives)."""
        return ipaddress.IPv4Address(f"10.254.{self.index}.1")

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return [_IP, "netns", "exec", self.namespace, *argv]

    def __enter__(self) -> Self:
        """Build the namespace.

        Raises:
            NetHostUnavailable: not root, no ``ip``, or no free veth pair.
        """
        if os.geteuid() != 0:
            raise NetHostUnavailable("building a namespace host needs root")
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
        remove_stale_hosts()
        pid = os.getpid()
        last_error = ""
        for index in range(_FIRST, _LAST + 1):
            veth = f"errth{index}h"
            result = _ip("link", "add", veth, "type", "veth", "peer", "name", f"errth{index}n")
            if result.returncode == 0:
                self.index, self._veth = index, veth
                self.namespace = f"{_PREFIX}{pid}-{index}"
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

    def close(self) -> None:
        """Remove the namespace and veth pair (their processes' sockets go with them); safe
        to call twice. Processes started inside must be stopped by whoever started them."""
        if self._veth:
            _ip("link", "del", self._veth)
            self._veth = ""
        if self.namespace:
            _ip("netns", "del", self.namespace)
            self.namespace = ""


def remove_stale_hosts() -> None:
    """Remove namespace hosts left behind by processes that were killed before cleaning up."""
    listing = _ip("netns", "list")
    for line in listing.stdout.splitlines():
        name = line.split(" ", 1)[0]
        parts = name.split("-")
        if len(parts) != 4 or not name.startswith(_PREFIX):
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
