"""Draining a model stream in tests, checking the one-`Completed`-at-the-end contract."""

from __future__ import annotations

from contextlib import aclosing

from errand.models import Completed, ModelAdapter, ModelRequest, StreamEvent, TextDelta


async def collect(
    adapter: ModelAdapter, request: ModelRequest
) -> tuple[list[StreamEvent], Completed]:
    """Every event of one call, and its final `Completed` (asserted to come once, last)."""
    async with aclosing(adapter.stream(request)) as stream:
        events = [event async for event in stream]
    completions = [e for e in events if isinstance(e, Completed)]
    assert len(completions) == 1, f"expected exactly one Completed, got {len(completions)}"
    assert events[-1] is completions[0], "Completed must be the last event"
    return events, completions[0]


def streamed_text(events: list[StreamEvent]) -> str:
    """The concatenated text of the `TextDelta` events."""
    return "".join(e.text for e in events if isinstance(e, TextDelta))
