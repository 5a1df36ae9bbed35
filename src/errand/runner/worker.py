"""Workers: the runner core's remote flavour, for a store several hosts share.

``errand worker`` runs a :class:`Worker`: it claims the oldest queued task under a lease,
runs it here and renews its leases with a heartbeat (see :mod:`errand.runner.core`, which it
shares with ``errand serve``'s runner). :class:`StoreRunner` is the gateway's runner when
only workers run tasks (``errand serve --no-runner``): it only talks to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from errand.agent import message_to_json
from errand.models import resolve_model, user_text
from errand.runner.core import (
    LeaseSettings,
    ModelFactory,
    OptionsFactory,
    ResponderFactory,
    Runner,
    resume,
)
from errand.store import Store

log = logging.getLogger(__name__)

__all__ = ["OptionsFactory", "StoreRunner", "Worker"]


class Worker(Runner):
    """Claims and runs queued tasks of a shared store here, ``concurrency`` at a time.

    ``name`` (default: the host's name) names it in the tasks' logs and is its worker label:
    it runs the tasks whose folders carry that label (added on this host) and tasks with no
    folders, never tasks whose folders are on another worker or the gateway's computer.
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str | None = None,
        concurrency: int = 2,
        leases: LeaseSettings | None = None,
        model_factory: ModelFactory = resolve_model,
        options_factory: OptionsFactory | None = None,
        responder_factory: ResponderFactory | None = None,
    ) -> None:
        label = name or socket.gethostname()
        super().__init__(
            store,
            name=label,
            folder_workers=(label,),
            concurrency=concurrency,
            leases=leases,
            model_factory=model_factory,
            options_factory=options_factory,
            responder_factory=responder_factory,
        )


class StoreRunner:
    """The gateway's runner when tasks run on workers elsewhere (``errand serve
    --no-runner``): it only talks to the store, where workers pick everything up, and marks
    tasks of dead workers interrupted as soon as it notices."""

    folder_workers: frozenset[str] = frozenset()
    """It runs no task, so it has no folders."""

    def __init__(self, store: Store, *, leases: LeaseSettings | None = None) -> None:
        self.store = store
        self.leases = leases or LeaseSettings.from_env()
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.interrupt_expired_leases()
        self._reaper = asyncio.ensure_future(self._reap())

    async def submit(self, task_id: str) -> None:
        """Nothing to do: the task is queued in the store, which wakes the workers."""

    async def cancel(self, task_id: str) -> bool:
        return await self.store.request_cancel(task_id)

    async def follow_up(self, task_id: str, text: str) -> None:
        await self.store.request_follow_up(task_id, text, message=message_to_json(user_text(text)))

    async def resume(self, task_id: str) -> None:
        await resume(self.store, task_id)

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(self.leases.check_seconds)
            try:
                await self.store.interrupt_expired_leases()
            except Exception:
                log.exception("checking for stopped workers failed; retrying")
