"""The MCP stdio transport over a process's pipes, for the SDK's ``ClientSession``.

The SDK's own stdio client starts the server itself, with the host's environment and no
sandbox; Errand's servers are started by the sandbox (:meth:`errand.sandbox.Sandbox.spawn`),
so this adapter only frames messages: one JSON-RPC message per line each way. A line is
bounded (:data:`MAX_LINE_BYTES`): a server that sends an endless line is cut off, not
allowed to fill the host's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest message a server may send (a tool listing or a result with images)."""
STDERR_TAIL_BYTES = 4096

ReadStream = MemoryObjectReceiveStream[SessionMessage | Exception]
WriteStream = MemoryObjectSendStream[SessionMessage]


class LineTooLong(Exception):
    """The server sent a message longer than :data:`MAX_LINE_BYTES`."""


@contextlib.asynccontextmanager
async def pipe_streams(
    stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader
) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    """Streams for ``ClientSession(read, write)`` over a server's stdin and stdout.

    The read stream ends when the server closes its stdout (it exited); a malformed line is
    delivered as an exception value (the session reports it and goes on). Leaving the block
    closes the server's stdin.
    """
    to_session, from_server = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    to_server, from_session = anyio.create_memory_object_stream[SessionMessage](16)

    async def read() -> None:
        async with to_session:
            buffer = bytearray()
            while True:
                chunk = await stdout.read(65536)
                if not chunk:
                    return
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if line.strip():
                        await to_session.send(_parse(line))
                if len(buffer) > MAX_LINE_BYTES:
                    await to_session.send(
                        LineTooLong(f"the server sent a message over {MAX_LINE_BYTES} bytes")
                    )
                    return

    async def write() -> None:
        async with from_session:
            async for message in from_session:
                text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    stdin.write(text.encode() + b"\n")
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        group.start_soon(write)
        try:
            yield from_server, to_server
        finally:
            to_server.close()
            from_server.close()
            with contextlib.suppress(Exception):
                stdin.close()
            group.cancel_scope.cancel()


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return exc


class StderrTail:
    """Drains a server's stderr (so it never blocks on a full pipe), keeping the last bytes
    for error reports."""

    def __init__(self, limit: int = STDERR_TAIL_BYTES) -> None:
        self._limit = limit
        self._data = bytearray()

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._data += chunk
            if len(self._data) > self._limit:
                del self._data[: len(self._data) - self._limit]

    def text(self) -> str:
        """The tail as text, whitespace-trimmed, lines joined with `` / ``."""
        lines = self._data.decode(errors="replace").strip().splitlines()
        return " / ".join(line.strip() for line in lines[-8:] if line.strip())
