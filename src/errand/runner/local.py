"""The in-process runner of ``errand serve``: the runner core's local flavour.

It takes every queued task from the store (whichever client queued it) and runs it here,
``concurrency`` at a time, under a lease like any runner (see :mod:`errand.runner.core`), so
an ``errand run`` or another ``errand serve`` sharing the store sees its tasks alive and
notices at once when it dies. At start it also takes tasks left running without any lease
(by an older Errand that crashed) for interrupted.

Its folders are the gateway computer's: it runs tasks whose folders carry no worker label
(``GATEWAY_WORKER``), those labelled ``worker_name`` (this host's ``[worker] name``, when
set) and tasks with no folders. Its tasks' writes let the gateway's requests go first
(``foreground``, see :mod:`errand.priority`).
"""

from __future__ import annotations

from errand.models import resolve_model
from errand.priority import Foreground
from errand.runner.core import (
    LeaseSettings,
    ModelFactory,
    OptionsFactory,
    ResponderFactory,
    Runner,
)
from errand.store import Store
from errand.tasks import GATEWAY_WORKER


class LocalRunner(Runner):
    """Runs the store's queued tasks in this process, ``concurrency`` at a time."""

    def __init__(
        self,
        store: Store,
        *,
        concurrency: int = 2,
        leases: LeaseSettings | None = None,
        model_factory: ModelFactory = resolve_model,
        options_factory: OptionsFactory | None = None,
        responder_factory: ResponderFactory | None = None,
        worker_name: str | None = None,
        foreground: Foreground | None = None,
    ) -> None:
        super().__init__(
            store,
            name=GATEWAY_WORKER,
            folder_workers={GATEWAY_WORKER, *([worker_name] if worker_name else [])},
            concurrency=concurrency,
            leases=leases,
            model_factory=model_factory,
            options_factory=options_factory,
            responder_factory=responder_factory,
            reap_unleased=True,
            foreground=foreground,
        )
