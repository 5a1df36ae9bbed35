"""One reader of the terminal, and one question on it at a time.

``errand serve`` asks the owner to confirm pairings and ``errand run`` asks for approvals and
answers, sometimes several at once. Each question used to start its own reading thread, so
typed lines went to whichever thread asked first: an answer meant for the question on screen
could land on an older one (a waiting pairing confirmation), and a question that was cut
short kept its thread, which swallowed the next line. Here a single daemon thread reads
standard input for the whole process and hands each line to the question that is on screen
when the line arrives; lines typed while no question is shown are dropped, never kept for a
later one; questions wait their turn.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import TextIO

_MAX_UNREAD_LINES = 16


class Terminal:
    """Asks questions on standard input, one at a time. One per process (see :func:`terminal`)."""

    def __init__(
        self, write: Callable[[str], None] | None = None, stream: TextIO | None = None
    ) -> None:
        self._write = write or _write_stdout
        self._stream = stream
        self._turn = asyncio.Lock()
        self._lines: asyncio.Queue[str | None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None

    async def ask(self, prompt: str, *, withdrawn: str | None = None) -> str:
        """Show ``prompt`` once the questions before it are done and return the next line typed
        (without its newline); "" at end of input.

        Cancelling it withdraws the question; if it was on screen, ``withdrawn`` is written
        on a line of its own so that nobody answers a question that is gone.
        """
        async with self._turn:
            lines = self._start()
            while not lines.empty():  # typed before this question was shown: not its answer
                lines.get_nowait()
            self._write(prompt)
            try:
                line = await lines.get()
            except asyncio.CancelledError:
                if withdrawn:
                    self._write(f"\n{withdrawn}\n")
                raise
            return "" if line is None else line

    def _start(self) -> asyncio.Queue[str | None]:
        loop = asyncio.get_running_loop()
        if self._lines is None or self._loop is not loop:
            self._lines = asyncio.Queue(_MAX_UNREAD_LINES)
            self._loop = loop
        if self._reader is None or not self._reader.is_alive():
            self._reader = threading.Thread(target=self._read, name="errand-terminal", daemon=True)
            self._reader.start()
        return self._lines

    def _read(self) -> None:
        while True:
            line = (self._stream or sys.stdin).readline()
            loop, lines = self._loop, self._lines
            if loop is None or lines is None or loop.is_closed():
                return
            value = line.rstrip("\r\n") if line else None
            try:
                loop.call_soon_threadsafe(_offer, lines, value)
            except RuntimeError:  # the loop closed meanwhile
                return
            if not line:
                return


def _offer(lines: asyncio.Queue[str | None], value: str | None) -> None:
    if lines.full():  # nobody is reading: keep the newest lines only
        lines.get_nowait()
    lines.put_nowait(value)


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


_TERMINAL: Terminal | None = None


def terminal() -> Terminal:
    """The process's terminal."""
    global _TERMINAL
    if _TERMINAL is None:
        _TERMINAL = Terminal()
    return _TERMINAL
