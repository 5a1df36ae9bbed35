"""The host-side egress proxy: the sandbox's only way out to the network.

One listening socket serves HTTP (``CONNECT`` tunnels and absolute-URI requests) and SOCKS5;
the first byte tells them apart (0x05 is SOCKS5). The socket is handed to :meth:`EgressProxy.serve`
already listening, typically created inside the session's network namespace, while the proxy's
own outgoing connections leave from the host.

Every connection must carry a credential made by :meth:`EgressProxy.new_credential` for one tool
call (Basic ``Proxy-Authorization`` for HTTP, RFC 1929 for SOCKS5). Its target is then decided
in this order, before any DNS lookup: denied domains, allowed domains, approvals the user gave
earlier in the session, and finally the user's answer when someone can be asked. An allowed name
is resolved once; each address is judged by :mod:`errand.sandbox.addresses` and the proxy
connects to exactly the address it judged. Every decision is recorded with a reason a person and
the model can read.

This module holds the proxy's state and decisions; the protocol front ends
(:mod:`~errand.sandbox.proxy_http`, :mod:`~errand.sandbox.proxy_socks`) reach it only through the
:class:`~errand.sandbox.proxy_gate.EgressGate` contract, and relay bytes with
:mod:`~errand.sandbox.proxy_relay`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from errand.sandbox.addresses import HostAddresses, IPAddress, refusal_reason
from errand.sandbox.audit import AskUser, DecisionSink, NetworkDecision, Verdict
from errand.sandbox.hostnames import is_ip_literal, parse_domain_pattern
from errand.sandbox.policy import NetworkPolicy
from errand.sandbox.proxy_gate import ProxyLimits, refuse
from errand.sandbox.proxy_http import serve_http
from errand.sandbox.proxy_socks import serve_socks

__all__ = ["EgressProxy", "ProxyLimits", "Resolver", "host_egress", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Resolve ``(host, port)`` to addresses, in the order to try them."""

_log = logging.getLogger(__name__)

_MAX_ADDRESSES = 4


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve with the event loop's ``getaddrinfo``, keeping its order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True, slots=True)
class _Credential:
    password: bytes
    call_id: str


class EgressProxy:
    """The egress proxy of one sandbox session.

    Args:
        session: the session name recorded with each decision.
        network: the session's egress rules.
        on_decision: called with every decision, on the event loop; it must not block.
        ask: asks the user about an unlisted domain; None when nobody can answer.
        resolver: resolves allowed names; defaults to :func:`system_resolver`.
        limits: sizes and timeouts; the defaults suit real use.
        host_addresses: this computer's own addresses, refused as targets.

    :meth:`record`, :meth:`authenticate`, :meth:`decide`, :meth:`connect` and :meth:`release`
    make up the :class:`~errand.sandbox.proxy_gate.EgressGate` its protocol front ends use;
    nothing else has reason to call them.
    """

    def __init__(
        self,
        session: str,
        network: NetworkPolicy,
        *,
        on_decision: DecisionSink | None = None,
        ask: AskUser | None = None,
        resolver: Resolver | None = None,
        limits: ProxyLimits | None = None,
        host_addresses: HostAddresses | None = None,
    ) -> None:
        self.session = session
        self.network = network
        self.limits = limits or ProxyLimits()
        self._on_decision = on_decision
        self._ask = ask
        self._resolver = resolver or system_resolver
        self._host_addresses = host_addresses or HostAddresses()
        self._deny = [parse_domain_pattern(p) for p in network.deny_domains]
        self._allow = [parse_domain_pattern(p) for p in network.allow_domains]
        self._approved: set[str] = set()
        self._asking: dict[str, asyncio.Task[tuple[bool, str]]] = {}
        self._credentials: dict[bytes, _Credential] = {}
        self._dummy_password = secrets.token_hex(16).encode()
        self._decisions: collections.deque[NetworkDecision] = collections.deque(
            maxlen=self.limits.max_decisions
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- public surface -------------------------------------------------------------------

    @property
    def decisions(self) -> list[NetworkDecision]:
        """The most recent decisions (up to ``limits.max_decisions``), oldest first."""
        return list(self._decisions)

    def new_credential(self, call_id: str) -> tuple[str, str]:
        """Make a random ``(username, password)`` for one tool call.

        Connections that present it have their decisions attributed to ``call_id``.

        Raises:
            RuntimeError: more than ``limits.max_credentials`` are live (drop finished ones).
        """
        if len(self._credentials) >= self.limits.max_credentials:
            raise RuntimeError("too many live proxy credentials; drop those of finished calls")
        username = "call-" + secrets.token_hex(8)
        password = secrets.token_hex(16)
        self._credentials[username.encode()] = _Credential(password.encode(), call_id)
        return username, password

    def drop_credential(self, username: str) -> None:
        """Revoke a credential: new connections presenting it are refused from now on."""
        self._credentials.pop(username.encode(), None)

    async def serve(self, listener: socket.socket) -> None:
        """Start accepting on an already listening TCP socket; returns once serving.

        The proxy owns ``listener`` from here on and closes it in :meth:`aclose`.
        """
        if self._server is not None:
            raise RuntimeError("the proxy is already serving")
        self._server = await asyncio.start_server(
            self._accept, sock=listener, limit=self.limits.head_bytes
        )

    async def aclose(self) -> None:
        """Stop accepting and close every relayed connection (waits at most a few seconds)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks) + list(self._asking.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()

    # -- connection handling --------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._tasks) >= self.limits.max_connections:
            writer.close()
            return
        # The server runs this in a task of its own; keeping it lets aclose() cancel it.
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            async with asyncio.timeout(self.limits.head_timeout):
                first = await reader.readexactly(1)
            if first == b"\x05":
                await serve_socks(self, reader, writer)
            else:
                await serve_http(self, first, reader, writer)
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled; nothing was allowed
        except asyncio.CancelledError:
            # Only aclose() cancels these tasks. They end quietly: the server's done-callback
            # (Python 3.11) reads the task's exception and would log a cancelled one as an error.
            pass
        except Exception:
            _log.exception("egress proxy: unexpected failure on a connection")
        finally:
            self._writers.discard(writer)
            writer.close()
            self._tasks.discard(task)

    # -- the EgressGate contract, for the protocol front ends -----------------------------

    def record(self, call_id: str, host: str, port: int, verdict: Verdict, reason: str) -> None:
        """Add a decision to the record and pass it to ``on_decision``."""
        decision = NetworkDecision(
            session=self.session,
            call_id=call_id,
            host=host,
            port=port,
            verdict=verdict,
            reason=reason,
            at=time.time(),
        )
        self._decisions.append(decision)
        if self._on_decision is not None:
            try:
                self._on_decision(decision)
            except Exception:
                _log.exception("egress proxy: the decision sink failed")

    def authenticate(self, username: bytes, password: bytes) -> str | None:
        """The call id of a valid credential, else None; the password compares in constant time."""
        credential = self._credentials.get(username)
        expected = credential.password if credential is not None else self._dummy_password
        matches = hmac.compare_digest(expected, password)
        return credential.call_id if credential is not None and matches else None

    async def decide(self, call_id: str, host: str, port: int) -> list[IPAddress]:
        """Judge a normalised target and return the addresses to try, in order.

        Raises:
            Refused: the target is denied; the decision has been recorded.
        """
        if is_ip_literal(host):
            literal = ipaddress.ip_address(host)
            if not any(
                literal.version == net.version and literal in net
                for net in self.network.allow_cidrs
            ):
                raise refuse(
                    self, call_id, host, port, f"{host} is an IP address outside the allowed ranges"
                )
            addresses = [literal]
            why = f"{host} is in an allowed address range"
        else:
            why = await self._name_verdict(call_id, host, port)
            addresses = await self._resolve(call_id, host, port)
        usable = self._usable(call_id, host, port, addresses)
        self.record(call_id, host, port, Verdict.ALLOW, why)
        return usable

    async def connect(
        self, addresses: list[IPAddress], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to the first reachable checked address; never resolves anything.

        The connection is tracked, so that :meth:`aclose` closes it, until :meth:`release`.

        Raises:
            OSError: none of them accepted in time (TimeoutError included).
        """
        failure: OSError = OSError(f"no address to connect to on port {port}")
        async with asyncio.timeout(self.limits.connect_timeout):
            for address in addresses:
                try:
                    reader, writer = await asyncio.open_connection(
                        str(address),
                        port,
                        flags=socket.AI_NUMERICHOST,
                        limit=self.limits.response_head_bytes,
                    )
                except OSError as exc:
                    failure = exc
                else:
                    self._writers.add(writer)
                    return reader, writer
        raise failure

    def release(self, upstream: asyncio.StreamWriter) -> None:
        """Close a connection made by :meth:`connect` and stop tracking it."""
        self._writers.discard(upstream)
        upstream.close()

    # -- policy ---------------------------------------------------------------------------

    async def _name_verdict(self, call_id: str, host: str, port: int) -> str:
        if any(pattern.matches(host) for pattern in self._deny):
            raise refuse(self, call_id, host, port, f"{host} is in the denied domains")
        if not self._allow:
            raise refuse(
                self, call_id, host, port, f"no domains are allowed for this session, so not {host}"
            )
        if any(pattern.matches(host) for pattern in self._allow):
            return f"{host} is in the allowed domains"
        if host in self._approved:
            return f"the user allowed {host} earlier in this session"
        if self._ask is None:
            raise refuse(self, call_id, host, port, f"{host} is not in the allowed domains")
        approved, why = await self._ask_once(host, port, call_id)
        if not approved:
            raise refuse(self, call_id, host, port, why)
        return why

    async def _ask_once(self, host: str, port: int, call_id: str) -> tuple[bool, str]:
        # Concurrent connections to the same unlisted host share one question to the user.
        pending = self._asking.get(host)
        if pending is None:
            pending = asyncio.create_task(self._ask_user(host, port, call_id))
            self._asking[host] = pending
            pending.add_done_callback(lambda _: self._asking.pop(host, None))
        return await asyncio.shield(pending)

    async def _ask_user(self, host: str, port: int, call_id: str) -> tuple[bool, str]:
        assert self._ask is not None
        try:
            async with asyncio.timeout(self.limits.ask_timeout):
                answer = await self._ask(host, port, call_id)
        except TimeoutError:
            return False, f"nobody answered whether {host} may be reached, so it was not"
        except Exception:
            _log.exception("egress proxy: asking the user about %s failed", host)
            return False, f"asking the user about {host} failed, so it was not allowed"
        if answer is True:
            self._approved.add(host)
            return True, f"the user allowed {host}"
        return False, f"the user did not allow {host}"

    async def _resolve(self, call_id: str, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self.limits.resolve_timeout):
                addresses = await self._resolver(host, port)
        except TimeoutError:
            raise refuse(
                self, call_id, host, port, f"{host} could not be resolved in time", socks_code=0x04
            ) from None
        except (OSError, ValueError, UnicodeError):
            raise refuse(
                self, call_id, host, port, f"{host} could not be resolved", socks_code=0x04
            ) from None
        if not addresses:
            raise refuse(
                self, call_id, host, port, f"{host} resolves to no address", socks_code=0x04
            )
        return addresses

    def _usable(
        self, call_id: str, host: str, port: int, addresses: list[IPAddress]
    ) -> list[IPAddress]:
        own = self._host_addresses.current()
        usable: list[IPAddress] = []
        first_refusal: str | None = None
        for address in addresses:
            why_not = refusal_reason(
                address, allow_cidrs=self.network.allow_cidrs, own_addresses=own
            )
            if why_not is None:
                usable.append(address)
            elif first_refusal is None:
                literal = is_ip_literal(host)
                first_refusal = f"is {why_not}" if literal else f"resolves to {address}, {why_not}"
        if not usable:
            raise refuse(self, call_id, host, port, f"{host} {first_refusal}")
        return usable[:_MAX_ADDRESSES]


@contextlib.asynccontextmanager
async def host_egress(
    session: str,
    network: NetworkPolicy,
    *,
    call_id: str,
    on_decision: DecisionSink | None = None,
    resolver: Resolver | None = None,
) -> AsyncIterator[str]:
    """An egress proxy for a connection Errand itself makes on a sandboxed party's behalf (a
    remote MCP server), judged exactly as the sandbox's connections are.

    The proxy listens on a loopback port of this computer and accepts only one random
    credential, made for ``call_id``; its decisions go to ``on_decision``. Yields the proxy's
    URL with that credential in it (a secret for the block's duration: never log it). The
    proxy closes, with every connection it relays, when the block ends.
    """
    proxy = EgressProxy(session, network, on_decision=on_decision, resolver=resolver)
    # Naming the protocol makes asyncio turn Nagle's algorithm off on accepted connections.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        await proxy.serve(listener)
    except BaseException:
        listener.close()
        raise
    try:
        username, password = proxy.new_credential(call_id)
        yield f"http://{username}:{password}@127.0.0.1:{port}"
    finally:
        await proxy.aclose()
