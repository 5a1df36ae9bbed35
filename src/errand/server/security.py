"""Checks every request passes before a route sees it, and headers every response carries.

:class:`SecurityMiddleware` is plain ASGI (so it also guards streams and static files):

* ``Host`` must be one of the names the gateway was configured with (127.0.0.1 and
  localhost at its port, the LAN address, the public or Tailscale name): a page on another
  site that rebinds its DNS name to this computer is refused with 421.
* A request carrying an ``Origin`` must come from the app's own origin when it changes
  state or reads the API (streams included); else 403. Clients that are not browsers send
  no ``Origin`` and authenticate with a token like everyone else.
* Bodies larger than ``max_body_bytes`` (``max_upload_bytes`` for a file sent to a folder,
  ``UPLOAD_PATH``) get 413, judged by ``Content-Length`` when given, else while the body
  streams in; the body is never read whole first.
* Responses get ``nosniff``, ``no-referrer``, ``DENY`` framing and a Content-Security-Policy:
  the strict app policy for the web app, ``default-src 'none'`` for everything else.

Nothing here trusts the peer address or ``X-Forwarded-For``: authentication is the routes'
job and applies to every request, wherever it comes from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errand.access import MAX_UPLOAD_BYTES, too_large_sentence

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
UPLOAD_PATH = re.compile(r"^/api/v1/folders/[^/]+/files$")
"""Where a phone sends a file (a photo is larger than any other body): its own limit."""

APP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "frame-src blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The web app's policy: its own scripts and styles only, no inline script, HTML artifacts
only in ``blob:`` frames (which the app sandboxes)."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
"""For API answers and downloads: nothing in them may run if a browser renders one."""

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SecuritySettings:
    """What the middleware enforces.

    ``allowed_hosts`` are ``host:port`` values as sent in ``Host`` (lowercase; a default
    port may be given without it, as browsers do). ``app_origins`` are full origins such as
    ``http://127.0.0.1:8765``.
    """

    allowed_hosts: frozenset[str]
    app_origins: frozenset[str]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    """The limit for a file sent to ``UPLOAD_PATH`` instead of ``max_body_bytes``."""


class _BodyTooLarge(Exception):
    pass


class SecurityMiddleware:
    """The ASGI middleware described in this module's docstring."""

    def __init__(self, app: ASGIApp, settings: SecuritySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        path: str = scope["path"]
        is_api = path.startswith("/api/") or path == "/openapi.json"
        host = headers.get("host", "").lower()
        if host not in self.settings.allowed_hosts:
            await _refuse(
                send, 421, "misdirected_request", "This server does not answer for that name."
            )
            return
        origin = headers.get("origin")
        method: str = scope["method"]
        if (
            origin is not None
            and (method not in _SAFE_METHODS or is_api)
            and origin.lower() not in self.settings.app_origins
        ):
            await _refuse(send, 403, "origin_refused", "Requests from other sites are refused.")
            return
        limit = self.settings.max_body_bytes
        too_large = f"Request bodies are limited to {limit} bytes."
        if method == "POST" and UPLOAD_PATH.match(path):
            limit = self.settings.max_upload_bytes
            too_large = too_large_sentence(limit)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413, "body_too_large", too_large)
            return

        started = False
        cut_off = False
        received = 0
        csp = API_CSP if is_api or path.startswith("/api") else APP_CSP

        async def counting_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut_off = True
                    raise _BodyTooLarge
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if cut_off:
                # Whatever the app made of the cut-off body (FastAPI answers 400 to a body
                # it could not read), the client is told the real reason once.
                if not started:
                    started = True
                    await _refuse(send, 413, "body_too_large", too_large)
                return
            if message["type"] == "http.response.start":
                started = True
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                for name, value in _security_headers(csp, is_api):
                    if name not in present:
                        raw.append((name, value))
                message = {**message, "headers": raw}
            await send(message)

        try:
            await self.app(scope, counting_receive, secured_send)
        except _BodyTooLarge:
            if not started:
                await _refuse(send, 413, "body_too_large", too_large)


def _security_headers(csp: str, is_api: bool) -> Iterable[tuple[bytes, bytes]]:
    yield b"x-content-type-options", b"nosniff"
    yield b"referrer-policy", b"no-referrer"
    yield b"x-frame-options", b"DENY"
    yield b"content-security-policy", csp.encode()
    yield b"cross-origin-opener-policy", b"same-origin"
    if is_api:
        yield b"cache-control", b"no-store"


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key not in found:  # the first of repeated headers wins, as routing sees it
            found[key] = value.decode("latin-1")
    return found


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *_security_headers(API_CSP, True),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def host_names(host: str, port: int) -> set[str]:
    """The ``Host`` values a client may send for ``host`` at ``port`` (with the port, and
    without it when it is the scheme's default)."""
    name = host.lower().strip("[]")
    shown = f"[{name}]" if ":" in name else name
    names = {f"{shown}:{port}"}
    if port in (80, 443):
        names.add(shown)
    return names
