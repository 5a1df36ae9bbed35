"""HTTP/1.x request heads as the egress proxy reads them, and the heads it writes back.

Pure functions over bytes, except :func:`reply`, which writes an error response. Parsing is
strict on purpose: anything a proxy and an origin could read differently (bare CR or LF, folded
headers, ambiguous body framing) is a :class:`BadRequest` rather than a guess.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass

from errand.sandbox.hostnames import Authority, parse_authority

MAX_HEADERS = 100
"""The most header (or trailer) lines one request may have."""

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_METHOD = re.compile(r"[A-Z]{1,20}")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)
_REASON_HEADER = "X-Errand-Reason"


class BadRequest(Exception):
    """Bytes that are not a request the proxy accepts (a 400, recorded by the caller)."""


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A parsed request line and its headers, in the order and spelling they arrived."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        """Every value of the header ``name`` (given in lower case)."""
        return [value for key, value in self.headers if key.lower() == name]


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a request head ending in CRLFCRLF, strictly.

    Raises:
        BadRequest: bare CR or LF, folded or malformed header lines, control characters, an
            unknown HTTP version, or too many headers.
    """
    text = raw[:-4].decode("latin-1")
    lines = text.split("\r\n")
    if any("\r" in line or "\n" in line for line in lines):
        raise BadRequest("bare CR or LF in the request head")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadRequest("the request line is not 'METHOD TARGET HTTP/1.x'")
    method, target, version = parts
    if not _METHOD.fullmatch(method) or version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest("the request line is not 'METHOD TARGET HTTP/1.x'")
    if not target or not target.isascii() or _has_control(target):
        raise BadRequest("the request target has control or non-ASCII characters")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest("too many header lines")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest("a header line is malformed (or folded)")
        value = value.strip(" \t")
        if _has_control(value.replace("\t", " ")):
            raise BadRequest(f"header {name} has control characters")
        headers.append((name, value))
    return RequestHead(method, target, version, tuple(headers))


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def parse_target(head: RequestHead) -> tuple[Authority, str]:
    """The target authority and, for absolute-URI requests, the origin-form path.

    Raises:
        BadRequest: a target form the proxy does not serve.
        HostnameError: an authority that does not parse cleanly.
    """
    if head.method == "CONNECT":
        return parse_authority(head.target), ""
    lowered = head.target.lower()
    if lowered.startswith("https://"):
        raise BadRequest("https URLs go through CONNECT, not as a plain proxy request")
    if not lowered.startswith("http://"):
        raise BadRequest("the proxy serves absolute http:// URLs and CONNECT only")
    if "#" in head.target:
        raise BadRequest("a request target has no fragment")
    rest = head.target[len("http://") :]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    if path.startswith("?") or not path:
        path = "/" + path
    return parse_authority(authority, default_port=80), path


def basic_proxy_credentials(head: RequestHead) -> tuple[bytes, bytes] | None:
    """The ``(username, password)`` of a single Basic ``Proxy-Authorization``, else None."""
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
    return (username, password) if sep else None


def body_framing(head: RequestHead) -> int | None:
    """The request body length, or None when it is chunked.

    Raises:
        BadRequest: framing that proxies and servers could read differently (smuggling).
    """
    encodings = head.values("transfer-encoding")
    lengths = head.values("content-length")
    if encodings:
        if lengths or len(encodings) != 1 or encodings[0].lower() != "chunked":
            raise BadRequest("ambiguous request body framing")
        if head.version != "HTTP/1.1":
            raise BadRequest("chunked bodies need HTTP/1.1")
        return None
    if not lengths:
        return 0
    if len(set(lengths)) != 1 or not re.fullmatch(r"[0-9]{1,18}", lengths[0]):
        raise BadRequest("bad Content-Length")
    return int(lengths[0])


def origin_request(head: RequestHead, path: str) -> bytes:
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


def closing_headers(rest: bytes) -> bytes:
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


async def reply(
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
