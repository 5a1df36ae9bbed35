"""The terminal asks one question at a time, and a line answers only the question on screen."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

from errand.cli.terminal import Terminal


class _Screen:
    def __init__(self) -> None:
        self.text = ""
        self.changed = asyncio.Event()

    def write(self, text: str) -> None:
        self.text += text
        self.changed.set()

    async def wait_for(self, fragment: str) -> None:
        async with asyncio.timeout(10):
            while fragment not in self.text:
                self.changed.clear()
                await self.changed.wait()


@contextlib.contextmanager
def _terminal(screen: _Screen) -> Iterator[tuple[Terminal, int]]:
    """A terminal reading a pipe; yields it and the pipe's keyboard end (closed after)."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "r", encoding="utf-8") as stream:
        terminal = Terminal(write=screen.write, stream=stream)
        try:
            yield terminal, write_end
        finally:
            with contextlib.suppress(OSError):
                os.close(write_end)
            if terminal._reader is not None:
                terminal._reader.join(10)


def _type(fd: int, line: str) -> None:
    os.write(fd, f"{line}\n".encode())


async def test_questions_wait_their_turn_and_each_line_answers_the_one_on_screen() -> None:
    screen = _Screen()
    with _terminal(screen) as (terminal, keys):
        first = asyncio.ensure_future(terminal.ask("first? "))
        second = asyncio.ensure_future(terminal.ask("second? "))
        await screen.wait_for("first? ")
        assert "second? " not in screen.text
        _type(keys, "one")
        assert await first == "one"
        await screen.wait_for("second? ")
        _type(keys, "two")
        assert await second == "two"


async def test_a_withdrawn_question_says_so_and_does_not_swallow_the_next_line() -> None:
    screen = _Screen()
    with _terminal(screen) as (terminal, keys):
        stale = asyncio.ensure_future(terminal.ask("stale? ", withdrawn="(withdrawn)"))
        await screen.wait_for("stale? ")
        stale.cancel()
        await asyncio.gather(stale, return_exceptions=True)
        assert "(withdrawn)" in screen.text
        fresh = asyncio.ensure_future(terminal.ask("fresh? "))
        await screen.wait_for("fresh? ")
        _type(keys, "y")
        assert await fresh == "y"


async def test_lines_typed_while_nothing_is_asked_answer_nothing_later() -> None:
    screen = _Screen()
    with _terminal(screen) as (terminal, keys):
        first = asyncio.ensure_future(terminal.ask("first? "))
        await screen.wait_for("first? ")
        _type(keys, "answer")
        _type(keys, "typed ahead")  # arrives while no question is shown
        assert await first == "answer"
        # Let the reader deliver the stray line before the next question appears.
        async with asyncio.timeout(10):
            while terminal._lines is not None and terminal._lines.empty():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        later = asyncio.ensure_future(terminal.ask("later? "))
        await screen.wait_for("later? ")
        assert not later.done()
        _type(keys, "meant for later")
        assert await later == "meant for later"


async def test_end_of_input_answers_empty() -> None:
    screen = _Screen()
    with _terminal(screen) as (terminal, keys):
        os.close(keys)
        assert await terminal.ask("anyone? ") == ""
