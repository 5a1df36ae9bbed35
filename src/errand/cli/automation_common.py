"""What the ``schedules``, ``hooks`` and ``webhooks`` commands share: opening the store
for one operation and turning a refusal into one sentence and exit status 2."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from errand.store import Store

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

_T = TypeVar("_T")


def with_store(work: Callable[[Store], Awaitable[_T]]) -> _T:
    """Open the store, run ``work`` on it, close it; an ``AutomationError`` or a
    ``ValueError`` from parsing options exits 2 with its message."""
    from errand.automation import AutomationError
    from errand.store import StoreError, open_store

    async def run() -> _T:
        async with await open_store() as store:
            return await work(store)

    try:
        return asyncio.run(run())
    except AutomationError as exc:
        errors.print(f"errand: {exc.message}", markup=False)
        raise typer.Exit(2) from exc
    except StoreError as exc:
        errors.print(f"errand: {exc}", markup=False)
        raise typer.Exit(1) from exc


def local_time(when: datetime | None, empty: str = "-") -> str:
    """``when`` in the computer's timezone, to the minute."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M") if when is not None else empty
