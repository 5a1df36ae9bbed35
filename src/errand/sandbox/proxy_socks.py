"""The egress proxy's SOCKS5 front end (RFC 1928), ``CONNECT`` only.

The client must log in with username/password (RFC 1929) using its per-call credential. What
may be reached is the :class:`EgressGate`'s decision; this module only speaks the protocol and
relays. Replies never reveal the proxy's own outgoing address.
"""

from __future__ import annotations

import asyncio
import ipaddress

from errand.sandbox.audit import Verdict
from errand.sandbox.hostnames import Authority, HostnameError, normalize_host
from errand.sandbox.proxy_gate import EgressGate, Refused, refuse
from errand.sandbox.proxy_relay import relay


async def serve_socks(
    gate: EgressGate, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one SOCKS5 connection whose version byte has already been read; it then closes."""
    try:
        async with asyncio.timeout(gate.limits.head_timeout):
            call_id = await _authenticate(gate, reader, writer)
            if call_id is None:
                return
            target = await _request(gate, call_id, reader, writer)
            if target is None:
                return
        addresses = await gate.decide(call_id, target.host, target.port)
    except Refused as refusal:
        writer.write(_reply(refusal.socks_code))
        await writer.drain()
        return
    try:
        upstream_reader, upstream_writer = await gate.connect(addresses, target.port)
    except OSError as exc:
        writer.write(_reply(_failure_code(exc)))
        await writer.drain()
        return
    try:
        # The bound address is left unspecified: the host's own address is not the
        # sandbox's business.
        writer.write(_reply(0x00))
        await writer.drain()
        await relay(reader, writer, upstream_reader, upstream_writer, gate.limits.idle_timeout)
    finally:
        gate.release(upstream_writer)


async def _authenticate(
    gate: EgressGate, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> str | None:
    """The call id of the client's login, or None once the client has been turned away."""
    count = (await reader.readexactly(1))[0]
    methods = await reader.readexactly(count)
    if 0x02 not in methods:
        reason = "the SOCKS5 client offered no username/password login"
        await _turn_away(gate, writer, reason, b"\x05\xff")
        return None
    writer.write(b"\x05\x02")
    await writer.drain()
    version = (await reader.readexactly(1))[0]
    username = await reader.readexactly((await reader.readexactly(1))[0])
    password = await reader.readexactly((await reader.readexactly(1))[0])
    call_id = gate.authenticate(username, password) if version == 0x01 else None
    if call_id is None:
        reason = "the connection carried no valid proxy credential"
        await _turn_away(gate, writer, reason, b"\x01\x01")
        return None
    writer.write(b"\x01\x00")
    await writer.drain()
    return call_id


async def _turn_away(
    gate: EgressGate, writer: asyncio.StreamWriter, reason: str, answer: bytes
) -> None:
    """Record a login refused before any call id is known, and send the client ``answer``."""
    gate.record("", "", 0, Verdict.DENY, reason)
    writer.write(answer)
    await writer.drain()


async def _request(
    gate: EgressGate, call_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Authority | None:
    """The normalised target of a CONNECT request, or None for a malformed one.

    Raises:
        Refused: a request the proxy does not serve; the decision has been recorded.
    """
    version, command, _, address_type = await reader.readexactly(4)
    if version != 0x05:
        gate.record(call_id, "", 0, Verdict.DENY, "malformed SOCKS5 request")
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
            raise refuse(gate, call_id, "", 0, "the target name is not valid UTF-8") from None
    else:
        raise refuse(gate, call_id, "", 0, "unsupported SOCKS5 address type", socks_code=0x08)
    port = int.from_bytes(await reader.readexactly(2), "big")
    if command != 0x01:
        raise refuse(gate, call_id, "", port, "only SOCKS5 CONNECT is supported", socks_code=0x07)
    try:
        host = normalize_host(host_text)
    except HostnameError as exc:
        raise refuse(gate, call_id, "", port, f"bad target: {exc}") from None
    if port == 0:
        raise refuse(gate, call_id, host, port, "port 0 is not a valid target")
    return Authority(host=host, port=port)


def _reply(code: int) -> bytes:
    """A SOCKS5 reply with the bound address 0.0.0.0:0."""
    return b"\x05" + bytes([code]) + b"\x00\x01\x00\x00\x00\x00\x00\x00"


def _failure_code(exc: OSError) -> int:
    if isinstance(exc, TimeoutError):
        return 0x06
    if isinstance(exc, ConnectionRefusedError):
        return 0x05
    return 0x04
