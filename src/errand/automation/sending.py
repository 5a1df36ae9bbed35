"""Where the deliverer's HTTP work runs: a thread of its own, with its own event loop.

Resolving, encoding, signing, connecting and reading answers is CPU work. On the gateway's
event loop, a burst of deliveries to a receiver that answers at once kept that loop so busy
that every running task's events reached the phone late: each step of a task's commit and
of its SSE stream waited behind the deliveries' callbacks (measured by
``benchmarks/automation.py``: the loop's lag and a task's commit-to-SSE latency). On a
thread of their own, deliveries compete only for the interpreter lock, which Python hands
to a waiting thread within milliseconds, instead of queueing ahead of the tasks' work.

The store is not touched here: the deliverer reads and records on the gateway's loop and
hands only the sending to this one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

_T = TypeVar("_T")

Sending = Callable[[httpx.AsyncClient], Awaitable[_T]]
"""Work to run on the sending loop, given the HTTP client that lives there."""


class SendingLoop:
    """A thread running an event loop and one HTTP client, started on first use.

    ``run`` awaits work there from any other loop; cancelling the caller cancels the work.
    ``aclose`` closes the client and ends the thread (a later ``run`` starts a new one).
    """

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None

    async def run(self, work: Sending[_T]) -> _T:
        """The result of ``work(client)``, run on the sending loop."""
        loop = self._started()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._with(work), loop))

    async def aclose(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._close_client(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="errand-webhook-sending", daemon=True
            )
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    async def _with(self, work: Sending[_T]) -> _T:
        if self._client is None:
            # Created on this loop: the client's connection pool belongs to the loop it runs on.
            self._client = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=False, trust_env=False, http2=False
            )
        return await work(self._client)

    async def _close_client(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
