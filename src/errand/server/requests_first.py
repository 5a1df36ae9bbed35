"""The middleware that tells the runner's tasks which requests are being answered.

Each HTTP request counts in the gateway's :class:`~errand.priority.Foreground` from when it
reaches the app until its answer starts (or it fails): a stream counts only until its
headers are sent, so an open event stream never holds tasks back. See
:mod:`errand.priority` for what the tasks do with it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errand.priority import Foreground


class RequestsFirst:
    """Plain ASGI: counts each HTTP request in ``foreground`` until its answer starts."""

    def __init__(self, app: ASGIApp, *, foreground: Foreground) -> None:
        self.app = app
        self.foreground = foreground

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        foreground = self.foreground
        ticket = foreground.begin()

        async def answering(message: Message) -> None:
            if message["type"] == "http.response.start":
                foreground.end(ticket)
            await send(message)

        try:
            await self.app(scope, receive, answering)
        finally:
            foreground.end(ticket)
