"""Moving bytes between a sandboxed client and an origin, bounded by an idle timeout.

Both directions of one relayed connection share an :class:`Activity`: the connection counts as
idle only when neither direction has moved data for ``idle_timeout`` seconds, so a long download
after a short request is not cut off for want of client traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

CHUNK = 64 * 1024
"""The most bytes read in one go."""

STREAM_ERRORS = (OSError, EOFError, asyncio.LimitOverrunError)
"""What a stream that failed or was cut off raises."""

_LINGER = 2.0


class Activity:
    """When either direction of a relayed connection last moved data, and how long it may idle."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.last = time.monotonic()


async def read_some(source: asyncio.StreamReader, size: int, activity: Activity) -> bytes:
    """Read up to ``size`` bytes, waiting while either direction has been active recently.

    Raises:
        TimeoutError: neither direction moved data for ``activity.idle_timeout`` seconds.
    """
    while True:  # each turn waits until the shared idle deadline, which only moves forward
        remaining = activity.last + activity.idle_timeout - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the connection was idle for too long")
        try:
            async with asyncio.timeout(remaining):
                data = await source.read(size)
        except TimeoutError:
            continue
        activity.last = time.monotonic()
        return data


async def read_line(reader: asyncio.StreamReader, activity: Activity) -> bytes:
    """Read one CRLF-terminated line within ``activity.idle_timeout`` seconds.

    Raises:
        TimeoutError: the line did not arrive in time.
        asyncio.LimitOverrunError, asyncio.IncompleteReadError: no such line.
    """
    async with asyncio.timeout(activity.idle_timeout):
        line = await reader.readuntil(b"\r\n")
    activity.last = time.monotonic()
    return line


async def pipe(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, activity: Activity
) -> None:
    """Copy ``source`` to ``sink`` until EOF, then half-close ``sink`` where it can be."""
    while True:  # ends at EOF; read_some raises once the pair has been idle too long
        data = await read_some(source, CHUNK, activity)
        if not data:
            break
        sink.write(data)
        await sink.drain()
    if sink.can_write_eof() and not sink.is_closing():
        sink.write_eof()


async def relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
    idle_timeout: float,
) -> None:
    """Copy both directions until both have ended or the pair has been idle too long."""
    activity = Activity(idle_timeout)
    outbound = asyncio.create_task(pipe(reader, upstream_writer, activity), name="proxy-outbound")
    try:
        await pipe(upstream_reader, writer, activity)
        # The origin is done; a client that keeps its side open gets a short grace only.
        await asyncio.wait([outbound], timeout=_LINGER)
    finally:
        outbound.cancel()
        with contextlib.suppress(asyncio.CancelledError, *STREAM_ERRORS):
            await outbound
