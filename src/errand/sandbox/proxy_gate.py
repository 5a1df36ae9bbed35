"""What the egress proxy's protocol front ends (HTTP, SOCKS5) may ask of the proxy.

A front end parses its protocol and relays bytes; it decides nothing itself. It asks the
:class:`EgressGate` who is calling (:meth:`~EgressGate.authenticate`), whether a target may be
reached (:meth:`~EgressGate.decide`), and for a connection to exactly the addresses that were
judged (:meth:`~EgressGate.connect`). Malformed input it records through
:meth:`~EgressGate.record` or turns away with the :class:`Refused` that :func:`refuse` makes, so
that every refusal is in the proxy's decision record.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from errand.sandbox.addresses import IPAddress
from errand.sandbox.audit import Verdict


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    """Sizes and timeouts (seconds) that bound every read and wait of the proxy."""

    head_bytes: int = 16 * 1024
    response_head_bytes: int = 64 * 1024
    head_timeout: float = 10.0
    resolve_timeout: float = 5.0
    connect_timeout: float = 10.0
    ask_timeout: float = 120.0
    idle_timeout: float = 900.0
    max_connections: int = 512
    max_credentials: int = 4096
    max_decisions: int = 10_000


class Refused(Exception):
    """A connection the proxy turns away; the decision is already recorded.

    ``http_status`` and ``socks_code`` are what each front end answers with.
    """

    def __init__(self, reason: str, *, http_status: int = 403, socks_code: int = 0x02) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.socks_code = socks_code


class EgressGate(Protocol):
    """The proxy as its front ends see it; :class:`errand.sandbox.proxy.EgressProxy` is one."""

    @property
    def limits(self) -> ProxyLimits: ...

    def record(self, call_id: str, host: str, port: int, verdict: Verdict, reason: str) -> None:
        """Add a decision to the record; ``call_id`` and ``host`` are empty when unknown."""
        ...

    def authenticate(self, username: bytes, password: bytes) -> str | None:
        """The call id of a valid credential, else None."""
        ...

    async def decide(self, call_id: str, host: str, port: int) -> list[IPAddress]:
        """Judge a normalised target and return the addresses to try, in order.

        Raises:
            Refused: the target is denied; the decision has been recorded.
        """
        ...

    async def connect(
        self, addresses: list[IPAddress], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to the first reachable judged address; never resolves anything.

        The proxy tracks the connection until it is handed back with :meth:`release`.

        Raises:
            OSError: none of them accepted in time (TimeoutError included).
        """
        ...

    def release(self, upstream: asyncio.StreamWriter) -> None:
        """Close a connection made by :meth:`connect` and stop tracking it."""
        ...


def refuse(
    gate: EgressGate,
    call_id: str,
    host: str,
    port: int,
    reason: str,
    *,
    http_status: int = 403,
    socks_code: int = 0x02,
) -> Refused:
    """Record a denial through ``gate`` and return the :class:`Refused` for the caller to raise."""
    gate.record(call_id, host, port, Verdict.DENY, reason)
    return Refused(reason, http_status=http_status, socks_code=socks_code)
