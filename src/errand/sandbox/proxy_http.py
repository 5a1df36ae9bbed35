"""The egress proxy's HTTP front end: ``CONNECT`` tunnels and absolute-URI requests.

The client must present its per-call credential as Basic ``Proxy-Authorization``; the target
and its ``Host`` header must agree. What may be reached is the :class:`EgressGate`'s decision;
this module only parses, answers and relays. An absolute-URI request is sent to the origin in
origin form without proxy or hop-by-hop headers, its body copied with exactly the framing that
was checked, and the connection closes after one response.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from errand.sandbox.audit import Verdict
from errand.sandbox.hostnames import Authority, HostnameError, parse_authority
from errand.sandbox.proxy_gate import EgressGate, Refused, refuse
from errand.sandbox.proxy_http_head import (
    MAX_HEADERS,
    BadRequest,
    RequestHead,
    basic_proxy_credentials,
    body_framing,
    closing_headers,
    origin_request,
    parse_request_head,
    parse_target,
    reply,
)
from errand.sandbox.proxy_relay import (
    CHUNK,
    STREAM_ERRORS,
    Activity,
    pipe,
    read_line,
    read_some,
    relay,
)


async def serve_http(
    gate: EgressGate, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one HTTP connection whose first byte was ``first``; it then closes.

    A ``CONNECT`` becomes a tunnel; an absolute ``http://`` request is forwarded with
    ``Connection: close``. Every failure is answered with a status and a reason the client can
    show (``X-Errand-Reason``), and recorded.
    """
    try:
        async with asyncio.timeout(gate.limits.head_timeout):
            raw = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        gate.record("", "", 0, Verdict.DENY, "the request head is too large")
        await reply(writer, 431, "the request head is larger than the proxy accepts")
        return
    except asyncio.IncompleteReadError:
        gate.record("", "", 0, Verdict.DENY, "malformed request: the request head is incomplete")
        await reply(writer, 400, "malformed request: the request head is incomplete")
        return
    try:
        head = parse_request_head(raw)
    except BadRequest as exc:
        gate.record("", "", 0, Verdict.DENY, f"malformed request: {exc}")
        await reply(writer, 400, f"malformed request: {exc}")
        return
    try:
        await _handle_request(gate, head, reader, writer)
    except Refused as refusal:
        extra: tuple[tuple[str, str], ...] = ()
        if refusal.http_status == 407:
            extra = (("Proxy-Authenticate", 'Basic realm="errand"'),)
        await reply(writer, refusal.http_status, refusal.reason, extra)


async def _handle_request(
    gate: EgressGate, head: RequestHead, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    target: Authority | None = None
    path = ""
    target_error = ""
    try:
        target, path = parse_target(head)
    except (HostnameError, BadRequest) as exc:
        target_error = str(exc)
    host, port = (target.host, target.port) if target is not None else ("", 0)
    call_id = _http_credential(gate, head)
    if call_id is None:
        raise refuse(
            gate, "", host, port, "the request carried no valid proxy credential", http_status=407
        )
    if target is None:
        raise refuse(gate, call_id, "", 0, f"bad request target: {target_error}", http_status=400)
    _check_host_header(gate, head, target, call_id)
    framing: int | None = 0
    if head.method != "CONNECT":
        try:
            framing = body_framing(head)
        except BadRequest as exc:
            raise refuse(gate, call_id, host, port, str(exc), http_status=400) from None
    addresses = await gate.decide(call_id, target.host, target.port)
    try:
        upstream_reader, upstream_writer = await gate.connect(addresses, target.port)
    except OSError as exc:
        await reply(writer, 502, f"could not connect to {target}: {_describe(exc)}")
        return
    try:
        if head.method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await relay(reader, writer, upstream_reader, upstream_writer, gate.limits.idle_timeout)
        else:
            await _forward(
                gate, head, path, framing, reader, writer, upstream_reader, upstream_writer
            )
    finally:
        gate.release(upstream_writer)


def _http_credential(gate: EgressGate, head: RequestHead) -> str | None:
    credentials = basic_proxy_credentials(head)
    return gate.authenticate(*credentials) if credentials is not None else None


def _check_host_header(
    gate: EgressGate, head: RequestHead, target: Authority, call_id: str
) -> None:
    hosts = head.values("host")
    if not hosts and head.method == "CONNECT":
        return
    if len(hosts) != 1:
        raise refuse(
            gate,
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
        raise refuse(
            gate, call_id, target.host, target.port, f"bad Host header: {exc}", http_status=400
        ) from None
    if stated != target:
        raise refuse(
            gate,
            call_id,
            target.host,
            target.port,
            f"the Host header names {stated}, not the request target {target}",
            http_status=400,
        )


async def _forward(
    gate: EgressGate,
    head: RequestHead,
    path: str,
    framing: int | None,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Send one request to the origin and relay its response; the connection then closes."""
    upstream_writer.write(origin_request(head, path))
    activity = Activity(gate.limits.idle_timeout)
    body = asyncio.create_task(
        _send_body(framing, reader, upstream_writer, activity), name="proxy-body"
    )

    def abandon_on_failure(task: asyncio.Task[None]) -> None:
        # A broken request body must not leave the origin waiting for the rest of it.
        if not task.cancelled() and task.exception() is not None:
            upstream_writer.close()

    body.add_done_callback(abandon_on_failure)
    try:
        await _relay_response(upstream_reader, writer, activity)
    finally:
        body.cancel()
        with contextlib.suppress(asyncio.CancelledError, *STREAM_ERRORS):
            await body


async def _send_body(
    framing: int | None,
    reader: asyncio.StreamReader,
    upstream: asyncio.StreamWriter,
    activity: Activity,
) -> None:
    """Copy exactly the request body (``framing`` bytes, or chunked when None)."""
    if framing is None:
        await _copy_chunked(reader, upstream, activity)
    else:
        remaining = framing
        while remaining > 0:
            data = await read_some(reader, min(remaining, CHUNK), activity)
            if not data:
                raise EOFError("the request body ended early")
            upstream.write(data)
            await upstream.drain()
            remaining -= len(data)
    await upstream.drain()


async def _copy_chunked(
    reader: asyncio.StreamReader, upstream: asyncio.StreamWriter, activity: Activity
) -> None:
    while True:  # one chunk per turn; each read is bounded by the idle timeout
        line = await read_line(reader, activity)
        size_text = line.split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
            raise EOFError("bad chunk size in the request body")
        upstream.write(line)
        size = int(size_text, 16)
        if size == 0:
            for _ in range(MAX_HEADERS):
                trailer = await read_line(reader, activity)
                upstream.write(trailer)
                if trailer == b"\r\n":
                    return
            raise EOFError("too many trailer lines in the request body")
        remaining = size + 2
        while remaining > 0:
            data = await read_some(reader, min(remaining, CHUNK), activity)
            if not data:
                raise EOFError("the request body ended early")
            upstream.write(data)
            remaining -= len(data)
        await upstream.drain()


async def _relay_response(
    upstream: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    activity: Activity,
) -> None:
    for _ in range(10):  # interim 1xx responses precede the final one
        try:
            async with asyncio.timeout(activity.idle_timeout):
                raw = await upstream.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            await reply(writer, 502, "the origin sent no readable response")
            return
        status_line, _, rest = raw.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            await reply(writer, 502, "the origin sent no readable response")
            return
        if parts[1].startswith(b"1") and parts[1] != b"101":
            writer.write(raw)
            await writer.drain()
            continue
        writer.write(status_line + b"\r\n" + closing_headers(rest))
        await writer.drain()
        await pipe(upstream, writer, activity)
        return
    await reply(writer, 502, "the origin sent too many interim responses")


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or type(exc).__name__
