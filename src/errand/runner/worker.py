"""Workers: run queued tasks from a store that several processes (and hosts) share.

A :class:`Worker` claims the oldest queued task under a lease (``Store.claim_next_task``),
runs it here, and renews the leases of everything it holds with a heartbeat every
``lease_seconds / 3``. Whoever notices first (any worker, or the gateway's
:class:`StoreRunner`) marks a task whose lease ran out ``interrupted``: a worker that died
or lost the database loses its tasks within ``lease_seconds`` plus one check, never those of
a live worker, whose heartbeat keeps its leases ahead.

Everything that must reach a running task goes through the store, so it reaches it on any
host: a cancel is a ``task.cancel_requested`` event and a follow-up a ``task.follow_up`` event
in the task's log, which the worker holding the task watches (woken at once by PostgreSQL's
notifications); approvals and answers are decided in the store, where the task waits for
them. A worker wakes for new tasks on the store's task-list notifications, and re-checks
every ``idle_poll_seconds`` in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from errand.agent import Responder, TaskOptions, message_to_json, run_task
from errand.models import ModelAdapter, resolve_model, user_text
from errand.store import Store, TaskRecord, TaskStatus

log = logging.getLogger(__name__)

ModelFactory = Callable[[str], ModelAdapter]
OptionsFactory = Callable[[TaskRecord], TaskOptions]
ResponderFactory = Callable[[TaskRecord], Responder | None]

_SHUTDOWN_SECONDS = 10.0
LEASE_ENV = "ERRAND_LEASE_SECONDS"


@dataclass(frozen=True)
class LeaseSettings:
    """How long a claim lasts without a heartbeat, and how often the store is checked.

    A dead worker's tasks are marked interrupted at most ``lease_seconds`` after its last
    heartbeat plus one ``check_seconds``: 15 + 5 = 20 s by default (the promise is 30 s).
    """

    lease_seconds: float = 15.0
    check_seconds: float = 5.0
    idle_poll_seconds: float = 5.0

    @property
    def heartbeat_seconds(self) -> float:
        return self.lease_seconds / 3

    @classmethod
    def from_env(cls) -> LeaseSettings:
        """The defaults, or ``$ERRAND_LEASE_SECONDS`` (checks every third of it) for tests
        and deployments that want dead workers noticed sooner."""
        text = os.environ.get(LEASE_ENV, "")
        try:
            lease = float(text) if text else cls.lease_seconds
        except ValueError:
            lease = cls.lease_seconds
        lease = min(max(lease, 1.0), 300.0)
        return cls(lease_seconds=lease, check_seconds=lease / 3, idle_poll_seconds=5.0)


def worker_id(name: str | None = None) -> str:
    """A name for this worker process, unique even when several share a ``--name``."""
    base = name or f"{socket.gethostname()}-{os.getpid()}"
    return f"{base}/{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims and runs the store's queued tasks here, ``concurrency`` at a time."""

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
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.id = worker_id(name)
        self.concurrency = concurrency
        self.leases = leases or LeaseSettings.from_env()
        self._model_factory = model_factory
        self._options_factory = options_factory or (lambda task: TaskOptions())
        self._responder_factory = responder_factory or (lambda task: None)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._inboxes: dict[str, list[str]] = {}
        self._cursors: dict[str, int] = {}
        self._lost: set[str] = set()
        self._background: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._closing = False

    @property
    def running(self) -> frozenset[str]:
        """Ids of the tasks running here now."""
        return frozenset(self._running)

    async def start(self) -> None:
        """Interrupt tasks whose worker died, then claim, heartbeat and watch in the background."""
        await self.store.interrupt_expired_leases()
        self._background = [
            asyncio.ensure_future(self._claim_loop()),
            asyncio.ensure_future(self._heartbeat_loop()),
            asyncio.ensure_future(self._notice_task_list()),
        ]

    # The TaskRunner contract, for a gateway running in the same process as a worker.

    async def submit(self, task_id: str) -> None:
        self._wake.set()

    async def cancel(self, task_id: str) -> bool:
        return await self.store.request_cancel(task_id)

    async def follow_up(self, task_id: str, text: str) -> None:
        await self.store.request_follow_up(task_id, text, message=message_to_json(user_text(text)))
        self._wake.set()

    async def resume(self, task_id: str) -> None:
        await self.store.set_task_status(task_id, TaskStatus.QUEUED)
        self._wake.set()

    async def aclose(self) -> None:
        """Stop claiming; running tasks are stopped and recorded interrupted (resumable)."""
        self._closing = True
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        workers = list(self._running.values())
        for job in workers:
            job.cancel()
        if workers:
            await asyncio.wait(workers, timeout=_SHUTDOWN_SECONDS)

    # -- background loops ------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                await self._claim_while_room()
            except Exception:
                log.exception("claiming tasks failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.leases.idle_poll_seconds)

    async def _notice_task_list(self) -> None:
        """Wake the claim loop when any process queues a task (the store's notifications)."""
        while not self._closing:
            try:
                changed = await self.store.wait_for_task_list_change(
                    timeout=self.leases.idle_poll_seconds,
                    poll_interval=self.leases.idle_poll_seconds,
                )
            except Exception:
                log.exception("waiting for new tasks failed; retrying")
                changed = False
                await asyncio.sleep(self.leases.idle_poll_seconds)
            if changed:
                self._wake.set()

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        while not self._closing:
            await asyncio.sleep(self.leases.heartbeat_seconds)
            try:
                # Only tasks claimed before the renewal can be judged by its answer.
                claimed = list(self._running.items())
                held = await self.store.renew_leases(
                    self.id, lease_seconds=self.leases.lease_seconds
                )
                for task_id, job in claimed:
                    if task_id not in held and not job.done():
                        log.warning("task %s is no longer ours; stopping it", task_id)
                        self._lost.add(task_id)
                        job.cancel()
                if loop.time() >= next_check:
                    next_check = loop.time() + self.leases.check_seconds
                    lost = await self.store.interrupt_expired_leases()
                    if lost:
                        log.info("marked %d tasks of stopped workers interrupted", len(lost))
                        self._wake.set()
            except Exception:
                log.exception("the heartbeat failed; retrying")

    async def _claim_while_room(self) -> None:
        while not self._closing and len(self._running) < self.concurrency:
            task = await self.store.claim_next_task(
                self.id, lease_seconds=self.leases.lease_seconds
            )
            if task is None:
                return
            self._running[task.id] = asyncio.ensure_future(self._work(task))

    # -- one task --------------------------------------------------------------------------

    async def _work(self, task: TaskRecord) -> None:
        inbox = self._inboxes.setdefault(task.id, [])
        me = asyncio.current_task()
        assert me is not None
        watcher = asyncio.ensure_future(self._watch_requests(task, me))
        try:
            options = _with_hooks(
                self._options_factory(task),
                inbox,
                lambda: self._closing or task.id in self._lost,
            )
            try:
                model = self._model_factory(task.model)
            except ValueError as exc:
                await self.store.set_task_status(
                    task.id, TaskStatus.FAILED, error=str(exc), exit_code=2
                )
                return
            await run_task(
                self.store, task.id, model, options=options, responder=self._responder_factory(task)
            )
        except asyncio.CancelledError:
            pass  # run_task recorded it: cancelled, or interrupted (shutdown, lease lost)
        except Exception:
            log.exception("task %s failed unexpectedly", task.id)
            with contextlib.suppress(Exception):
                await self.store.set_task_status(
                    task.id,
                    TaskStatus.FAILED,
                    error="Errand failed unexpectedly; see the worker's log",
                    exit_code=1,
                )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._running.pop(task.id, None)
            await self._deliver_leftovers(task.id, watcher_seq=self._cursors.pop(task.id, 0))
            self._inboxes.pop(task.id, None)
            self._lost.discard(task.id)
            self._wake.set()

    async def _watch_requests(self, task: TaskRecord, job: asyncio.Task[None]) -> None:
        """Follow the task's log for cancel requests and follow-ups addressed to it."""
        self._cursors[task.id] = task.last_seq
        while True:
            events = await self.store.wait_for_events(
                task.id, self._cursors[task.id], timeout=60, poll_interval=1.0
            )
            for event in events:
                self._cursors[task.id] = event.seq
                if event.type == "task.cancel_requested":
                    job.cancel()
                    return
                if event.type == "task.follow_up":
                    text = event.payload.get("text")
                    if isinstance(text, str):
                        self._inboxes.setdefault(task.id, []).append(text)

    async def _deliver_leftovers(self, task_id: str, *, watcher_seq: int) -> None:
        """Follow-ups the task did not read before it ended reopen it (nothing is lost)."""
        texts = list(self._inboxes.get(task_id, []))
        with contextlib.suppress(Exception):
            for event in await self.store.events(task_id, after_seq=watcher_seq):
                text = event.payload.get("text")
                if event.type == "task.follow_up" and isinstance(text, str):
                    texts.append(text)
        if self._closing:
            return
        for text in texts:
            with contextlib.suppress(Exception):
                await self.store.request_follow_up(
                    task_id, text, message=message_to_json(user_text(text))
                )


class StoreRunner:
    """The gateway's runner when tasks run on workers elsewhere (``errand serve
    --no-runner``): it only talks to the store, where workers pick everything up, and marks
    tasks of dead workers interrupted as soon as it notices."""

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
        await self.store.set_task_status(task_id, TaskStatus.QUEUED)

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


def _with_hooks(options: TaskOptions, inbox: list[str], closing: Callable[[], bool]) -> TaskOptions:
    def drain() -> list[str]:
        taken = list(inbox)
        inbox.clear()
        return taken

    return replace(options, inbox=drain, shutting_down=closing)
