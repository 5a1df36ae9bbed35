"""One live connection to an MCP server: start it, shake hands, list its tools, call them.

A stdio server is a process whose pipes carry the messages (:mod:`errand.mcp.pipes`); a
remote one is reached with the SDK's streamable HTTP client over a :class:`RemoteLink`
(:mod:`errand.mcp.remote`), whose requests all go through an egress proxy.

The connection is owned by one background asyncio task, which enters every context (the
process, the pipes, the SDK's ``ClientSession``) and leaves them in order when it is told to
stop: the SDK's task groups must be left by the task that entered them, and a tool call
may come from any task. Every way a start can fail becomes a :class:`ServerFailed` whose
message is one sentence saying exactly what went wrong (command not found, a crash with the
end of its stderr, a handshake that timed out).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from errand.mcp.config import ServerConfig
from errand.mcp.pipes import StderrTail, pipe_streams

MAX_PAGES = 20
"""Pages of ``tools/list`` read from one server; a server that pages forever is cut off."""
MAX_LISTED_TOOLS = 256
"""Tools read from one server before Errand stops asking for more."""
_STOP_GRACE = 2.0
_EXIT_NOTICE = 1.0
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126

ERRAND_CLIENT = types.Implementation(name="errand", version="0.1.0")


class ServerProcess(Protocol):
    """A started server process (a :class:`errand.sandbox.SandboxProcess`, or a plain one
    for measurements)."""

    stdin: asyncio.StreamWriter
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RemoteLink:
    """The way to a remote server: its URL and an HTTP client whose every request goes
    through an egress proxy; ``problems`` says what went wrong with requests, newest last,
    each the end of a sentence that starts with the server's name and URL."""

    url: str
    client: httpx2.AsyncClient
    problems: list[str]


Launcher = Callable[[], AbstractAsyncContextManager[ServerProcess | RemoteLink]]
"""Starts the server's process, or opens the way to a remote server, for the duration of
the block (raises :class:`ServerFailed` when it cannot)."""


class ServerFailed(Exception):
    """The server could not be started or stopped working; the message is one sentence."""


class ToolCallFailed(Exception):
    """One call failed at the protocol level (the server lives on); one sentence."""


class ServerConnection:
    """A started MCP server. ``start()`` returns its tools; ``call()`` runs one; ``aclose()``
    stops it (idempotent)."""

    def __init__(self, config: ServerConfig, launcher: Launcher) -> None:
        self.config = config
        self._launcher = launcher
        self._session: ClientSession | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure: str | None = None
        self._process: ServerProcess | None = None
        self._link: RemoteLink | None = None
        self._stderr = StderrTail()
        self.server_info: types.Implementation | None = None

    async def start(self) -> list[types.Tool]:
        """Start the server and list its tools (at most :data:`MAX_LISTED_TOOLS`).

        Raises:
            ServerFailed: it did not start, or did not answer the handshake in time.
        """
        ready: asyncio.Future[list[types.Tool]] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.create_task(self._own(ready), name=f"mcp:{self.config.name}")
        try:
            return await ready
        except BaseException:
            await self.aclose()
            raise

    @property
    def failure(self) -> str | None:
        """Why the server stopped working, once it has."""
        return self._failure

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call the server's tool ``name``.

        Raises:
            ServerFailed: the server is gone (the message says why).
            ToolCallFailed: the server answered with a protocol error, or too late.
        """
        session = self._session
        if session is None or self._failure is not None:
            raise ServerFailed(self._failure or f"MCP server {self.config.name} is not running")
        link = self._link
        problems = len(link.problems) if link is not None else 0
        try:
            result = await session.call_tool(
                name, arguments, read_timeout_seconds=self.config.call_timeout
            )
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                raise ServerFailed(await self._gone()) from exc
            if link is not None and len(link.problems) > problems:
                raise ToolCallFailed(self._unreachable(link, exc)) from exc
            if "timed out" in exc.error.message.lower():
                raise ToolCallFailed(
                    f"MCP server {self.config.name} did not answer within "
                    f"{self.config.call_timeout:g} s"
                ) from exc
            raise ToolCallFailed(_sentence(exc.error.message)) from exc
        except (RuntimeError, ValueError) as exc:
            raise ToolCallFailed(_sentence(str(exc))) from exc
        if not isinstance(result, types.CallToolResult):
            raise ToolCallFailed("the server's answer was not a tool result")
        return result

    async def aclose(self) -> None:
        """Stop the server (its whole sandbox) and wait until it is gone."""
        self._stop.set()
        owner, self._owner = self._owner, None
        if owner is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(owner), _STOP_GRACE * 3)
        except (TimeoutError, asyncio.CancelledError):
            owner.cancel()
            with contextlib.suppress(BaseException):
                await owner

    async def _own(self, ready: asyncio.Future[list[types.Tool]]) -> None:
        drain: asyncio.Task[None] | None = None
        try:
            async with self._launcher() as reached:
                if isinstance(reached, RemoteLink):
                    self._link = reached
                    streams = streamable_http_client(reached.url, http_client=reached.client)
                else:
                    self._process = reached
                    drain = asyncio.create_task(self._stderr.drain(reached.stderr))
                    streams = pipe_streams(reached.stdin, reached.stdout)
                async with (
                    streams as (read, write),
                    ClientSession(read, write, client_info=ERRAND_CLIENT) as session,
                ):
                    tools = await self._handshake(session)
                    self._session = session
                    ready.set_result(tools)
                    await self._watch(self._process)
        except Exception as group:
            exc = _first_leaf(group)
            if isinstance(exc, ServerFailed):
                self._fail(ready, str(exc))
            else:
                self._fail(ready, await self._gone(exc))
        except BaseException:
            self._fail(ready, f"MCP server {self.config.name} was stopped")
            raise
        finally:
            self._session = None
            if drain is not None:
                drain.cancel()
            self._stopped.set()

    def _fail(self, ready: asyncio.Future[list[types.Tool]], reason: str) -> None:
        self._failure = self._failure or reason
        if not ready.done():
            ready.set_exception(ServerFailed(self._failure))

    async def _handshake(self, session: ClientSession) -> list[types.Tool]:
        timeout = self.config.start_timeout
        try:
            with anyio.fail_after(timeout):
                init = await session.initialize()
                self.server_info = init.server_info
                return await _list_tools(session)
        except TimeoutError as exc:
            if self._process is not None and self._process.returncode is not None:
                raise ServerFailed(await self._gone()) from exc
            raise ServerFailed(
                f"MCP server {self.config.name} did not complete the MCP handshake within "
                f"{timeout:g} s{self._stderr_note()}"
            ) from exc
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED or (self._link and self._link.problems):
                raise ServerFailed(await self._gone(exc)) from exc
            raise ServerFailed(
                f"MCP server {self.config.name} refused the handshake: "
                f"{_sentence(exc.error.message)}"
            ) from exc

    async def _watch(self, process: ServerProcess | None) -> None:
        """Wait for the order to stop, or for the server's process (if any) to die."""
        stop = asyncio.ensure_future(self._stop.wait())
        died = asyncio.ensure_future(process.wait() if process else asyncio.Event().wait())
        try:
            await asyncio.wait({stop, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            died.cancel()
        if not self._stop.is_set():
            self._failure = await self._gone()

    async def _gone(self, exc: BaseException | None = None) -> str:
        """Why the server is not answering, from its exit status and its stderr."""
        name = self.config.name
        if self._link is not None:
            return self._unreachable(self._link, exc)
        process = self._process
        code: int | None = None
        if process is not None:
            with contextlib.suppress(TimeoutError):
                code = await asyncio.wait_for(asyncio.shield(process.wait()), _EXIT_NOTICE)
        await asyncio.sleep(0)
        if code == EXIT_NOT_FOUND:
            return (
                f"MCP server {name}: command not found inside the sandbox: {self.config.command[0]}"
            )
        if code == EXIT_NOT_EXECUTABLE:
            return f"MCP server {name}: {self.config.command[0]} cannot be executed in the sandbox"
        if code is not None:
            return f"MCP server {name} exited with status {code}{self._stderr_note()}"
        detail = f": {_sentence(str(exc))}" if exc is not None and str(exc) else ""
        return f"MCP server {name} stopped answering{detail}{self._stderr_note()}"

    def _unreachable(self, link: RemoteLink, exc: BaseException | None) -> str:
        where = f"MCP server {self.config.name} at {_shown(link.url)}"
        if link.problems:
            return f"{where} {link.problems[-1]}"
        detail = f": {_sentence(str(exc))}" if exc is not None and str(exc) else ""
        return f"{where} could not be reached{detail}"

    def _stderr_note(self) -> str:
        tail = self._stderr.text()
        return f"; its stderr ends: {tail[-600:]}" if tail else ""


async def _list_tools(session: ClientSession) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor or len(tools) >= MAX_LISTED_TOOLS:
            break
    return tools[:MAX_LISTED_TOOLS]


def _first_leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _shown(url: str) -> str:
    """A URL without its query or fragment (which may hold a token)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _sentence(text: str) -> str:
    line = " ".join(text.split())
    return line[:500]


@contextlib.asynccontextmanager
async def unsandboxed(argv: list[str], env: dict[str, str]) -> AsyncIterator[ServerProcess]:
    """Run a server as a plain host process: only for measuring the sandbox's overhead
    (``benchmarks/mcp.py``), never for tasks."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    process = _PlainProcess(proc)
    try:
        yield process
    finally:
        await process.aclose()


class _PlainProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin and proc.stdout and proc.stderr
        self._proc = proc
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    async def aclose(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        await self._proc.wait()
