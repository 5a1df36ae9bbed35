"""Where a task runs: on the worker that has its folders.

Folders are the worker's own. ``errand folders add`` on a worker host labels the folder with
that worker's name, and a task naming it runs only there: the store's claim skips it for
every other runner (in SQL, see ``errand.store``). A folder without a label is on the
gateway's computer, run by ``errand serve``'s own runner, which claims as
:data:`GATEWAY_WORKER`. A task with no folders runs on any runner. A task never names
folders of two workers (``errand.intake`` refuses it), so each task has one place at most.
"""

from __future__ import annotations

import re
from collections.abc import Collection

GATEWAY_WORKER = "serve"
"""The worker name of ``errand serve``'s own runner: it runs tasks whose folders carry no
worker label (folders added on the gateway's computer)."""

_WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def check_worker_name(name: str) -> str:
    """``name`` if it can name a worker (letters, digits, '.', '_', '-', at most 64).

    Raises:
        ValueError: it cannot, in one sentence.
    """
    if name == GATEWAY_WORKER:
        raise ValueError(
            f"{name!r} names the gateway's own runner (errand serve); pick another worker name"
        )
    if not _WORKER_NAME.match(name):
        raise ValueError(
            f"{name!r} cannot name a worker: use letters, digits, '.', '_' or '-' "
            "(a letter or digit first), at most 64 characters"
        )
    return name


def place_of(label: str | None) -> str:
    """The worker that runs tasks using a folder labelled ``label`` (None: the gateway's)."""
    return label if label is not None else GATEWAY_WORKER


def waiting_for(place: str | None, live: Collection[str]) -> str | None:
    """Why a queued task that must run on ``place`` (None: on any runner) has not started,
    in one sentence, given the worker labels that live runners serve (``live``); None when
    a live runner can take it and it is simply queued."""
    if place is None:
        if live:
            return None
        return (
            "Waits for a worker: none is running. Start `errand worker` on a computer that "
            "reaches the database."
        )
    if place == GATEWAY_WORKER:
        if place in live:
            return "Runs on the gateway's own runner once it has room: its folders are there."
        return (
            "Waits for the gateway's own runner: its folders are on the gateway's computer, "
            "and `errand serve --no-runner` runs no tasks."
        )
    if place in live:
        return f"Runs on the worker {place!r} once it has room: its folders are there."
    return (
        f"Waits for the worker {place!r}, which is not running: start `errand worker --name "
        f"{place}` on the computer that has its folders."
    )
