"""The gateway counts a request as being answered until its answer starts
(errand.server.requests_first), so that the runner's tasks let it go first."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from errand.priority import Foreground
from errand.server.requests_first import RequestsFirst


class Route:
    """An ASGI app answering when told to: headers first, then the body when told again."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.finish = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.answer.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await self.finish.wait()
        await send({"type": "http.response.body", "body": b"done", "more_body": False})


async def call(app: RequestsFirst, kind: str = "http") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": kind, "path": "/"}, receive, send)
    return sent


async def test_a_request_counts_until_its_answer_starts_not_while_its_body_streams() -> None:
    foreground, route = Foreground(), Route()
    request = asyncio.ensure_future(call(RequestsFirst(route, foreground=foreground)))
    for _ in range(20):
        await asyncio.sleep(0)
    answering = foreground.busy
    route.answer.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not request.done()
    # Counted while being answered; an event stream stays open without holding tasks back.
    assert (answering, foreground.busy) == (True, False)
    route.finish.set()
    sent = await asyncio.wait_for(request, 10)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_a_request_that_fails_stops_counting() -> None:
    foreground = Foreground()

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        assert foreground.busy
        raise RuntimeError("the route failed")

    with pytest.raises(RuntimeError):
        await call(RequestsFirst(broken, foreground=foreground))
    assert not foreground.busy


async def test_other_connections_do_not_count() -> None:
    foreground = Foreground()
    seen: list[bool] = []

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(foreground.busy)

    await call(RequestsFirst(lifespan, foreground=foreground), kind="lifespan")
    assert seen == [False]
