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
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import hmac
import ipaddress
import logging
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from errand.sandbox.addresses import HostAddresses, IPAddress, refusal_reason
from errand.sandbox.audit import AskUser, DecisionSink, NetworkDecision, Verdict
from errand.sandbox.hostnames import (
    Authority,
    HostnameError,
    is_ip_literal,
    normalize_host,
    parse_authority,
    parse_domain_pattern,
)
from errand.sandbox.policy import NetworkPolicy

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Resolve ``(host, port)`` to addresses, in the order to try them."""

_log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_METHOD = re.compile(r"[A-Z]{1,20}")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)
_MAX_HEADERS = 100
_MAX_ADDRESSES = 4
_CHUNK = 64 * 1024
_REASON_HEADER = "X-Errand-Reason"
_LINGER = 2.0
_STREAM_ERRORS = (OSError, EOFError, asyncio.LimitOverrunError)


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


class _Refused(Exception):
    """A connection the proxy turns away; the decision is already recorded."""

    def __init__(self, reason: str, *, http_status: int = 403, socks_code: int = 0x02) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.socks_code = socks_code


class _BadRequest(Exception):
    """Bytes that are not a request the proxy accepts (a 400, recorded by the caller)."""


@dataclass(frozen=True, slots=True)
class _Credential:
    password: bytes
    call_id: str


@dataclass(frozen=True, slots=True)
class _RequestHead:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name]


class _Activity:
    """When either direction of a relayed connection last moved data."""

    def __init__(self) -> None:
        self.last = time.monotonic()


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
                await self._serve_socks(reader, writer)
            else:
                await self._serve_http(first, reader, writer)
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled; nothing was allowed
        except Exception:
            _log.exception("egress proxy: unexpected failure on a connection")
        finally:
            self._writers.discard(writer)
            writer.close()
            self._tasks.discard(task)

    def _record(self, call_id: str, host: str, port: int, verdict: Verdict, reason: str) -> None:
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

    def _refuse(
        self,
        call_id: str,
        host: str,
        port: int,
        reason: str,
        *,
        http_status: int = 403,
        socks_code: int = 0x02,
    ) -> _Refused:
        self._record(call_id, host, port, Verdict.DENY, reason)
        return _Refused(reason, http_status=http_status, socks_code=socks_code)

    def _authenticate(self, username: bytes, password: bytes) -> str | None:
        """The call id of a valid credential, else None; the password compares in constant time."""
        credential = self._credentials.get(username)
        expected = credential.password if credential is not None else self._dummy_password
        matches = hmac.compare_digest(expected, password)
        return credential.call_id if credential is not None and matches else None

    # -- policy ---------------------------------------------------------------------------

    async def _decide(self, call_id: str, host: str, port: int) -> list[IPAddress]:
        """Judge a normalised target and return the addresses to try, in order.

        Raises:
            _Refused: the target is denied; the decision has been recorded.
        """
        if is_ip_literal(host):
            literal = ipaddress.ip_address(host)
            if not any(
                literal.version == net.version and literal in net
                for net in self.network.allow_cidrs
            ):
                raise self._refuse(
                    call_id, host, port, f"{host} is an IP address outside the allowed ranges"
                )
            addresses = [literal]
            why = f"{host} is in an allowed address range"
        else:
            why = await self._name_verdict(call_id, host, port)
            addresses = await self._resolve(call_id, host, port)
        usable = self._usable(call_id, host, port, addresses)
        self._record(call_id, host, port, Verdict.ALLOW, why)
        return usable

    async def _name_verdict(self, call_id: str, host: str, port: int) -> str:
        if any(pattern.matches(host) for pattern in self._deny):
            raise self._refuse(call_id, host, port, f"{host} is in the denied domains")
        if not self._allow:
            raise self._refuse(
                call_id, host, port, f"no domains are allowed for this session, so not {host}"
            )
        if any(pattern.matches(host) for pattern in self._allow):
            return f"{host} is in the allowed domains"
        if host in self._approved:
            return f"the user allowed {host} earlier in this session"
        if self._ask is None:
            raise self._refuse(call_id, host, port, f"{host} is not in the allowed domains")
        approved, why = await self._ask_once(host, port, call_id)
        if not approved:
            raise self._refuse(call_id, host, port, why)
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
            raise self._refuse(
                call_id, host, port, f"{host} could not be resolved in time", socks_code=0x04
            ) from None
        except (OSError, ValueError, UnicodeError):
            raise self._refuse(
                call_id, host, port, f"{host} could not be resolved", socks_code=0x04
            ) from None
        if not addresses:
            raise self._refuse(
                call_id, host, port, f"{host} resolves to no address", socks_code=0x04
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
            raise self._refuse(call_id, host, port, f"{host} {first_refusal}")
        return usable[:_MAX_ADDRESSES]

    async def _connect(
        self, addresses: list[IPAddress], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to the first reachable checked address; never resolves anything.

        Raises:
            OSError: none of them accepted in time (TimeoutError included).
        """
        failure: OSError = OSError(f"no address to connect to on port {port}")
        async with asyncio.timeout(self.limits.connect_timeout):
            for address in addresses:
                try:
                    return await asyncio.open_connection(
                        str(address),
                        port,
                        flags=socket.AI_NUMERICHOST,
                        limit=self.limits.response_head_bytes,
                    )
                except OSError as exc:
                    failure = exc
        raise failure

    # -- HTTP -----------------------------------------------------------------------------

    async def _serve_http(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            async with asyncio.timeout(self.limits.head_timeout):
                raw = first + await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            self._record("", "", 0, Verdict.DENY, "the request head is too large")
            await _reply(writer, 431, "the request head is larger than the proxy accepts")
            return
        except asyncio.IncompleteReadError:
            self._record(
                "", "", 0, Verdict.DENY, "malformed request: the request head is incomplete"
            )
            await _reply(writer, 400, "malformed request: the request head is incomplete")
            return
        try:
            head = _parse_request_head(raw)
        except _BadRequest as exc:
            self._record("", "", 0, Verdict.DENY, f"malformed request: {exc}")
            await _reply(writer, 400, f"malformed request: {exc}")
            return
        try:
            await self._handle_request(head, reader, writer)
        except _Refused as refusal:
            extra: tuple[tuple[str, str], ...] = ()
            if refusal.http_status == 407:
                extra = (("Proxy-Authenticate", 'Basic realm="errand"'),)
            await _reply(writer, refusal.http_status, refusal.reason, extra)

    async def _handle_request(
        self, head: _RequestHead, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target: Authority | None = None
        path = ""
        target_error = ""
        try:
            target, path = _parse_target(head)
        except (HostnameError, _BadRequest) as exc:
            target_error = str(exc)
        host, port = (target.host, target.port) if target is not None else ("", 0)
        call_id = self._http_credential(head)
        if call_id is None:
            raise self._refuse(
                "", host, port, "the request carried no valid proxy credential", http_status=407
            )
        if target is None:
            raise self._refuse(
                call_id, "", 0, f"bad request target: {target_error}", http_status=400
            )
        self._check_host_header(head, target, call_id)
        framing: int | None = 0
        if head.method != "CONNECT":
            try:
                framing = _body_framing(head)
            except _BadRequest as exc:
                raise self._refuse(call_id, host, port, str(exc), http_status=400) from None
        addresses = await self._decide(call_id, target.host, target.port)
        try:
            upstream_reader, upstream_writer = await self._connect(addresses, target.port)
        except OSError as exc:
            await _reply(writer, 502, f"could not connect to {target}: {_describe(exc)}")
            return
        self._writers.add(upstream_writer)
        try:
            if head.method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await self._relay(reader, writer, upstream_reader, upstream_writer)
            else:
                await self._forward(
                    head, path, framing, reader, writer, upstream_reader, upstream_writer
                )
        finally:
            self._writers.discard(upstream_writer)
            upstream_writer.close()

    def _http_credential(self, head: _RequestHead) -> str | None:
        values = head.values("proxy-authorization")
        if len(values) != 1:
            return None
        scheme, _, token = values[0].partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        username, sep, password = decoded.partition(b":")
        return self._authenticate(username, password) if sep else None

    def _check_host_header(self, head: _RequestHead, target: Authority, call_id: str) -> None:
        hosts = head.values("host")
        if not hosts and head.method == "CONNECT":
            return
        if len(hosts) != 1:
            raise self._refuse(
                call_id,
                target.host,
                target.port,
                "the request needs exactly one Host header",
                http_status=400,
            )
        default_port = target.port if head.method == "CONNECT" else 80
        try:
            stated = parse_authority(hosts[0], default_port=default_port)
        except HostnameError as exc:
            raise self._refuse(
                call_id, target.host, target.port, f"bad Host header: {exc}", http_status=400
            ) from None
        if stated != target:
            raise self._refuse(
                call_id,
                target.host,
                target.port,
                f"the Host header names {stated}, not the request target {target}",
                http_status=400,
            )

    async def _forward(
        self,
        head: _RequestHead,
        path: str,
        framing: int | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        """Send one request to the origin and relay its response; the connection then closes."""
        upstream_writer.write(_origin_request(head, path))
        activity = _Activity()
        body = asyncio.create_task(
            self._send_body(framing, reader, upstream_writer, activity), name="proxy-body"
        )

        def abandon_on_failure(task: asyncio.Task[None]) -> None:
            # A broken request body must not leave the origin waiting for the rest of it.
            if not task.cancelled() and task.exception() is not None:
                upstream_writer.close()

        body.add_done_callback(abandon_on_failure)
        try:
            await self._relay_response(upstream_reader, writer, activity)
        finally:
            body.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_STREAM_ERRORS):
                await body

    async def _send_body(
        self,
        framing: int | None,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        activity: _Activity,
    ) -> None:
        """Copy exactly the request body (``framing`` bytes, or chunked when None)."""
        if framing is None:
            await self._copy_chunked(reader, upstream, activity)
        else:
            remaining = framing
            while remaining > 0:
                data = await self._read_some(reader, min(remaining, _CHUNK), activity)
                if not data:
                    raise EOFError("the request body ended early")
                upstream.write(data)
                await upstream.drain()
                remaining -= len(data)
        await upstream.drain()

    async def _copy_chunked(
        self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter, activity: _Activity
    ) -> None:
        while True:  # one chunk per turn; each read is bounded by the idle timeout
            line = await self._read_line(reader, activity)
            size_text = line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
                raise EOFError("bad chunk size in the request body")
            upstream.write(line)
            size = int(size_text, 16)
            if size == 0:
                for _ in range(_MAX_HEADERS):
                    trailer = await self._read_line(reader, activity)
                    upstream.write(trailer)
                    if trailer == b"\r\n":
                        return
                raise EOFError("too many trailer lines in the request body")
            remaining = size + 2
            while remaining > 0:
                data = await self._read_some(reader, min(remaining, _CHUNK), activity)
                if not data:
                    raise EOFError("the request body ended early")
                upstream.write(data)
                remaining -= len(data)
            await upstream.drain()

    async def _read_line(self, reader: asyncio.StreamReader, activity: _Activity) -> bytes:
        async with asyncio.timeout(self.limits.idle_timeout):
            line = await reader.readuntil(b"\r\n")
        activity.last = time.monotonic()
        return line

    async def _relay_response(
        self,
        upstream: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        activity: _Activity,
    ) -> None:
        for _ in range(10):  # interim 1xx responses precede the final one
            try:
                async with asyncio.timeout(self.limits.idle_timeout):
                    raw = await upstream.readuntil(b"\r\n\r\n")
            except (asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                await _reply(writer, 502, "the origin sent no readable response")
                return
            status_line, _, rest = raw.partition(b"\r\n")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                await _reply(writer, 502, "the origin sent no readable response")
                return
            if parts[1].startswith(b"1") and parts[1] != b"101":
                writer.write(raw)
                await writer.drain()
                continue
            writer.write(status_line + b"\r\n" + _closing_headers(rest))
            await writer.drain()
            await self._pipe(upstream, writer, activity)
            return
        await _reply(writer, 502, "the origin sent too many interim responses")

    # -- SOCKS5 ---------------------------------------------------------------------------

    async def _serve_socks(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            async with asyncio.timeout(self.limits.head_timeout):
                call_id = await self._socks_authenticate(reader, writer)
                if call_id is None:
                    return
                target = await self._socks_request(call_id, reader, writer)
                if target is None:
                    return
            addresses = await self._decide(call_id, target.host, target.port)
        except _Refused as refusal:
            writer.write(_socks_reply(refusal.socks_code))
            await writer.drain()
            return
        try:
            upstream_reader, upstream_writer = await self._connect(addresses, target.port)
        except OSError as exc:
            writer.write(_socks_reply(_socks_failure_code(exc)))
            await writer.drain()
            return
        self._writers.add(upstream_writer)
        try:
            # The bound address is left unspecified: the host's own address is not the
            # sandbox's business.
            writer.write(_socks_reply(0x00))
            await writer.drain()
            await self._relay(reader, writer, upstream_reader, upstream_writer)
        finally:
            self._writers.discard(upstream_writer)
            upstream_writer.close()

    async def _socks_authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str | None:
        count = (await reader.readexactly(1))[0]
        methods = await reader.readexactly(count)
        if 0x02 not in methods:
            self._record(
                "", "", 0, Verdict.DENY, "the SOCKS5 client offered no username/password login"
            )
            writer.write(b"\x05\xff")
            await writer.drain()
            return None
        writer.write(b"\x05\x02")
        await writer.drain()
        version = (await reader.readexactly(1))[0]
        username = await reader.readexactly((await reader.readexactly(1))[0])
        password = await reader.readexactly((await reader.readexactly(1))[0])
        call_id = self._authenticate(username, password) if version == 0x01 else None
        if call_id is None:
            self._record(
                "", "", 0, Verdict.DENY, "the connection carried no valid proxy credential"
            )
            writer.write(b"\x01\x01")
            await writer.drain()
            return None
        writer.write(b"\x01\x00")
        await writer.drain()
        return call_id

    async def _socks_request(
        self, call_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Authority | None:
        version, command, _, address_type = await reader.readexactly(4)
        if version != 0x05:
            self._record(call_id, "", 0, Verdict.DENY, "malformed SOCKS5 request")
            return None
        if address_type == 0x01:
            host_text = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif address_type == 0x04:
            host_text = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        elif address_type == 0x03:
            name = await reader.readexactly((await reader.readexactly(1))[0])
            try:
                host_text = name.decode("utf-8")
            except UnicodeDecodeError:
                raise self._refuse(call_id, "", 0, "the target name is not valid UTF-8") from None
        else:
            raise self._refuse(call_id, "", 0, "unsupported SOCKS5 address type", socks_code=0x08)
        port = int.from_bytes(await reader.readexactly(2), "big")
        if command != 0x01:
            raise self._refuse(
                call_id, "", port, "only SOCKS5 CONNECT is supported", socks_code=0x07
            )
        try:
            host = normalize_host(host_text)
        except HostnameError as exc:
            raise self._refuse(call_id, "", port, f"bad target: {exc}") from None
        if port == 0:
            raise self._refuse(call_id, host, port, "port 0 is not a valid target")
        return Authority(host=host, port=port)

    # -- relaying -------------------------------------------------------------------------

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        """Copy both directions until both have ended or the pair has been idle too long."""
        activity = _Activity()
        outbound = asyncio.create_task(
            self._pipe(reader, upstream_writer, activity), name="proxy-outbound"
        )
        try:
            await self._pipe(upstream_reader, writer, activity)
            # The origin is done; a client that keeps its side open gets a short grace only.
            await asyncio.wait([outbound], timeout=_LINGER)
        finally:
            outbound.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_STREAM_ERRORS):
                await outbound

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, activity: _Activity
    ) -> None:
        while True:  # ends at EOF; _read_some raises once the pair has been idle too long
            data = await self._read_some(source, _CHUNK, activity)
            if not data:
                break
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()

    async def _read_some(
        self, source: asyncio.StreamReader, size: int, activity: _Activity
    ) -> bytes:
        """Read up to ``size`` bytes, waiting while either direction has been active recently.

        Raises:
            TimeoutError: neither direction moved data for ``limits.idle_timeout`` seconds.
        """
        while True:  # each turn waits until the shared idle deadline, which only moves forward
            remaining = activity.last + self.limits.idle_timeout - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the connection was idle for too long")
            try:
                async with asyncio.timeout(remaining):
                    data = await source.read(size)
            except TimeoutError:
                continue
            activity.last = time.monotonic()
            return data


# -- HTTP parsing and rendering (pure functions) ------------------------------------------


def _parse_request_head(raw: bytes) -> _RequestHead:
    """Parse a request head ending in CRLFCRLF, strictly.

    Raises:
        _BadRequest: bare CR or LF, folded or malformed header lines, control characters, an
            unknown HTTP version, or too many headers.
    """
    text = raw[:-4].decode("latin-1")
    lines = text.split("\r\n")
    if any("\r" in line or "\n" in line for line in lines):
        raise _BadRequest("bare CR or LF in the request head")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise _BadRequest("the request line is not 'METHOD TARGET HTTP/1.x'")
    method, target, version = parts
    if not _METHOD.fullmatch(method) or version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest("the request line is not 'METHOD TARGET HTTP/1.x'")
    if not target or not target.isascii() or _has_control(target):
        raise _BadRequest("the request target has control or non-ASCII characters")
    if len(lines) - 1 > _MAX_HEADERS:
        raise _BadRequest("too many header lines")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise _BadRequest("a header line is malformed (or folded)")
        value = value.strip(" \t")
        if _has_control(value.replace("\t", " ")):
            raise _BadRequest(f"header {name} has control characters")
        headers.append((name, value))
    return _RequestHead(method, target, version, tuple(headers))


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def _parse_target(head: _RequestHead) -> tuple[Authority, str]:
    """The target authority and, for absolute-URI requests, the origin-form path.

    Raises:
        _BadRequest: a target form the proxy does not serve.
        HostnameError: an authority that does not parse cleanly.
    """
    if head.method == "CONNECT":
        return parse_authority(head.target), ""
    lowered = head.target.lower()
    if lowered.startswith("https://"):
        raise _BadRequest("https URLs go through CONNECT, not as a plain proxy request")
    if not lowered.startswith("http://"):
        raise _BadRequest("the proxy serves absolute http:// URLs and CONNECT only")
    if "#" in head.target:
        raise _BadRequest("a request target has no fragment")
    rest = head.target[len("http://") :]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    if path.startswith("?") or not path:
        path = "/" + path
    return parse_authority(authority, default_port=80), path


def _body_framing(head: _RequestHead) -> int | None:
    """The request body length, or None when it is chunked.

    Raises:
        _BadRequest: framing that proxies and servers could read differently (smuggling).
    """
    encodings = head.values("transfer-encoding")
    lengths = head.values("content-length")
    if encodings:
        if lengths or len(encodings) != 1 or encodings[0].lower() != "chunked":
            raise _BadRequest("ambiguous request body framing")
        if head.version != "HTTP/1.1":
            raise _BadRequest("chunked bodies need HTTP/1.1")
        return None
    if not lengths:
        return 0
    if len(set(lengths)) != 1 or not re.fullmatch(r"[0-9]{1,18}", lengths[0]):
        raise _BadRequest("bad Content-Length")
    return int(lengths[0])


def _origin_request(head: _RequestHead, path: str) -> bytes:
    """The request as the origin sees it: origin-form target, no proxy or hop-by-hop headers."""
    named = {
        token.strip().lower() for value in head.values("connection") for token in value.split(",")
    }
    lines = [f"{head.method} {path} {head.version}"]
    for name, value in head.headers:
        lowered = name.lower()
        if lowered in _HOP_BY_HOP or lowered in named:
            continue
        lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _closing_headers(rest: bytes) -> bytes:
    """Response header lines without connection management, plus ``Connection: close``."""
    kept = []
    for line in rest.split(b"\r\n"):
        if not line:
            continue
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"connection", b"keep-alive", b"proxy-connection"):
            continue
        kept.append(line)
    kept.append(b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n"


_STATUS_TEXT = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}


async def _reply(
    writer: asyncio.StreamWriter,
    status: int,
    reason: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> None:
    """Answer with a plain-text error whose body (and a header) carries the reason."""
    body = (reason + "\n").encode("utf-8")
    safe = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in reason)[:300]
    lines = [
        f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        f"{_REASON_HEADER}: {safe}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in extra),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body)
    await writer.drain()


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or type(exc).__name__


def _socks_reply(code: int) -> bytes:
    """A SOCKS5 reply with the bound address 0.0.0.0:0."""
    return b"\x05" + bytes([code]) + b"\x00\x01\x00\x00\x00\x00\x00\x00"


def _socks_failure_code(exc: OSError) -> int:
    if isinstance(exc, TimeoutError):
        return 0x06
    if isinstance(exc, ConnectionRefusedError):
        return 0x05
    return 0x04
