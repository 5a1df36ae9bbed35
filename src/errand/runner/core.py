"""The runner core: claims queued tasks under leases and runs them in this process.

Every runner holds a lease on each task it runs (``Store.claim_next_task``, ``claim_task``,
or ``create_task(lease=...)`` for ``errand run``) and renews the leases of everything it holds
with a heartbeat every ``lease_seconds / 3``. A task whose lease ran out reads as
``interrupted`` to every reader at once (``Store.get_task``), and whoever notices first (any
runner's heartbeat, or the gateway's :class:`~errand.runner.worker.StoreRunner`) records it:
a process killed -9 loses its tasks within ``lease_seconds``, never those of a live runner,
whose heartbeat keeps its leases ahead. No pid files: it works the same for processes on one
computer and for workers on other hosts.

Everything that must reach a running task goes through the store, so it reaches it from any
process: a cancel is a ``task.cancel_requested`` event in the task's log, which the runner
holding the task watches (woken at once in-process and by PostgreSQL's notifications,
within a second otherwise); follow-ups wait in the store until the task's loop takes them in
before its next model call; approvals and answers are decided in the store, where the task
waits for them. The flavours differ only in what they claim: :class:`Runner` takes every
queued task (``errand serve``'s :class:`~errand.runner.local.LocalRunner`, ``errand worker``'s
:class:`~errand.runner.worker.Worker`), :func:`run_one` only the task ``errand run`` created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

from errand.agent import Responder, TaskOptions, TaskOutcome, message_to_json, run_task
from errand.models import ModelAdapter, resolve_model, user_text
from errand.priority import Foreground, in_background
from errand.store import (
    FollowUpDelivery,
    InvalidTransition,
    Lease,
    Store,
    StoreFull,
    TaskNotFound,
    TaskRecord,
    TaskStatus,
)
from errand.tasks import ExitCode

log = logging.getLogger(__name__)

ModelFactory = Callable[[str], ModelAdapter]
OptionsFactory = Callable[[TaskRecord], TaskOptions]
ResponderFactory = Callable[[TaskRecord], Responder | None]

LEASE_ENV = "ERRAND_LEASE_SECONDS"
FULL_DISK_RETRY_S = 1.0
FULL_DISK_RETRY_MAX_S = 30.0
_SHUTDOWN_SECONDS = 10.0
ENDED_BY_ITS_RUN = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED})
"""Statuses a task's own run ends it in; its job may still be closing its sandbox."""


@dataclass(frozen=True)
class LeaseSettings:
    """How long a claim lasts without a heartbeat, and how often the store is checked.

    A dead runner's tasks read as interrupted at most ``lease_seconds`` after its last
    heartbeat (15 s by default) and are recorded so within one more ``check_seconds``.
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
        and deployments that want dead runners noticed sooner."""
        text = os.environ.get(LEASE_ENV, "")
        try:
            lease = float(text) if text else cls.lease_seconds
        except ValueError:
            lease = cls.lease_seconds
        lease = min(max(lease, 1.0), 300.0)
        return cls(lease_seconds=lease, check_seconds=lease / 3, idle_poll_seconds=5.0)


def runner_id(name: str | None = None) -> str:
    """A name for this runner, unique even when several share a ``name``."""
    base = name or f"{socket.gethostname()}-{os.getpid()}"
    return f"{base}/{uuid.uuid4().hex[:8]}"


class Runner:
    """Claims and runs the store's queued tasks here, ``concurrency`` at a time.

    A task waiting for its user (an approval, a question) does not count: it holds no model
    call or command, and two unanswered questions must not keep every other task queued. A
    task answered while the runner is full goes on at once, so for a while more than
    ``concurrency`` may be at work; no new task is claimed until they are fewer.

    ``reap_unleased`` (``errand serve``): at start, tasks shown running without any lease are
    taken for orphans of a crash too (only an older Errand, or ``run_task`` called on its
    own, leaves them).

    ``folder_workers`` are the worker labels whose folders are on this host: the runner
    takes tasks with no folders and tasks whose folders carry one of these labels, never
    tasks whose folders are on another worker (see ``errand.tasks.workers``).

    ``foreground`` (``errand serve``): the gateway's requests, which its tasks' writes let go
    first (``errand.priority``).
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
        reap_unleased: bool = False,
        runner_id_: str | None = None,
        folder_workers: Collection[str] = (),
        foreground: Foreground | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.id = runner_id_ or runner_id(name)
        self.name = name or self.id.partition("/")[0]
        self.concurrency = concurrency
        self.folder_workers = frozenset(folder_workers)
        self.leases = leases or LeaseSettings.from_env()
        self._model_factory = model_factory
        self._options_factory = options_factory or (lambda task: TaskOptions())
        self._responder_factory = responder_factory or (lambda task: None)
        self._reap_unleased = reap_unleased
        self._foreground = foreground
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._waiting_for_user: set[str] = set()
        self._lost: set[str] = set()
        self._background: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._listed = False
        """Whether it is in the store's list of runners: once started (not ``run_one``)."""

    @property
    def running(self) -> frozenset[str]:
        """Ids of the tasks running here now."""
        return frozenset(self._running)

    async def start(self) -> None:
        """Record tasks whose runner died as interrupted, then claim, heartbeat and watch."""
        found = await self.store.interrupt_expired_leases(unleased=self._reap_unleased)
        if found:
            log.info("marked %d tasks of stopped runners interrupted", len(found))
        self._listed = True
        await self._renew_listing()
        self._background = [
            asyncio.ensure_future(self._claim_loop()),
            asyncio.ensure_future(self._heartbeat_loop()),
            asyncio.ensure_future(self._notice_task_list()),
        ]

    # -- the TaskRunner contract -----------------------------------------------------------

    async def submit(self, task_id: str) -> None:
        self._wake.set()

    async def cancel(self, task_id: str) -> bool:
        """Cancel through the store (wherever the task runs); a task running here is waited
        for, so it is recorded cancelled when this returns."""
        done = await self.store.request_cancel(task_id)
        job = self._running.get(task_id)
        if job is not None:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(job), _SHUTDOWN_SECONDS)
            # A job cancelled before its first step never reached run_task to record it.
            if (await self.store.get_task(task_id)).status.is_active:
                with contextlib.suppress(InvalidTransition):
                    await self.store.set_task_status(
                        task_id,
                        TaskStatus.CANCELLED,
                        error="cancelled",
                        exit_code=ExitCode.CANCELLED,
                    )
        return done

    async def follow_up(self, task_id: str, text: str) -> None:
        delivery = await self.store.request_follow_up(
            task_id, text, message=message_to_json(user_text(text))
        )
        if delivery is FollowUpDelivery.QUEUED:
            self._wake.set()

    async def resume(self, task_id: str) -> None:
        await resume(self.store, task_id)
        self._wake.set()

    async def aclose(self) -> None:
        """Stop claiming; running tasks are stopped and recorded interrupted (resumable)."""
        self._closing = True
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        jobs = list(self._running.values())
        for job in jobs:
            job.cancel()
        if jobs:
            await asyncio.wait(jobs, timeout=_SHUTDOWN_SECONDS)
        if self._listed:
            try:
                await self.store.remove_worker(self.id)
            except Exception:
                log.warning("could not unlist this runner; it shows as stopped instead")

    # -- background loops ------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        # The claims, and the tasks started from here, are background work.
        in_background(self._foreground)
        while not self._closing:
            self._wake.clear()
            try:
                await self._claim_while_room()
            except Exception:
                log.exception("claiming tasks failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.leases.idle_poll_seconds)

    async def _claim_while_room(self) -> None:
        while not self._closing and self._at_work() < self.concurrency:
            task = await self.store.claim_next_task(
                self.id, lease_seconds=self.leases.lease_seconds, workers=self.folder_workers
            )
            if task is None:
                return
            self._hold(task.id, asyncio.ensure_future(self._work(task)))

    def _at_work(self) -> int:
        return len(self._running.keys() - self._waiting_for_user)

    def _note_waiting(self, task_id: str, waiting: bool) -> None:
        if waiting:
            self._waiting_for_user.add(task_id)
            self._wake.set()
        else:
            self._waiting_for_user.discard(task_id)

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
        next_check = loop.time() + self.leases.check_seconds
        while not self._closing:
            await asyncio.sleep(self.leases.heartbeat_seconds)
            if self._listed:
                try:
                    await self._renew_listing()
                except Exception:  # the leases below matter more than the listing
                    log.exception("could not renew this runner's listing; retrying")
            try:
                # Only tasks claimed before the renewal can be judged by its answer.
                claimed = list(self._running.items())
                held = await self.store.renew_leases(
                    self.id, lease_seconds=self.leases.lease_seconds
                )
                await self._stop_lost(claimed, held)
                if loop.time() >= next_check:
                    next_check = loop.time() + self.leases.check_seconds
                    lost = await self.store.interrupt_expired_leases()
                    if lost:
                        log.info("marked %d tasks of stopped runners interrupted", len(lost))
                        self._wake.set()
            except Exception:
                log.exception("the heartbeat failed; retrying")

    async def _renew_listing(self) -> None:
        """Show this runner alive (``errand workers``) until its lease would run out."""
        await self.store.renew_worker(
            self.id,
            name=self.name,
            labels=self.folder_workers,
            concurrency=self.concurrency,
            alive_seconds=self.leases.lease_seconds,
        )

    async def _stop_lost(
        self, claimed: list[tuple[str, asyncio.Task[Any]]], held: set[str]
    ) -> None:
        """Stop the jobs of the ``claimed`` tasks whose lease the renewal did not find.

        A task missing from ``held`` either ended or was taken from this runner (its lease
        ran out and it was interrupted, perhaps resumed elsewhere). One that ended by its
        own run in the meantime (its final commit came between the snapshot and the
        renewal) is left to finish its clean-up.
        """
        for task_id, job in claimed:
            if task_id in held or job.done():
                continue
            with contextlib.suppress(TaskNotFound):
                if (await self.store.get_task(task_id)).status in ENDED_BY_ITS_RUN:
                    continue
            if job.done():
                continue
            log.warning("task %s is no longer ours; stopping it", task_id)
            self._lost.add(task_id)
            job.cancel()

    # -- one task --------------------------------------------------------------------------

    def _hold(self, task_id: str, job: asyncio.Task[Any]) -> None:
        """Count ``job`` as running ``task_id`` until it is done, however it ends (a job
        cancelled before its first step runs none of its own code)."""
        self._running[task_id] = job

        def forget(_job: asyncio.Task[Any]) -> None:
            if self._running.get(task_id) is job:
                del self._running[task_id]
                self._waiting_for_user.discard(task_id)
            self._wake.set()

        job.add_done_callback(forget)

    async def _work(self, task: TaskRecord) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            # run_task recorded it: cancelled, or interrupted (shutdown, lease lost)
            await self.execute(task)

    async def execute(self, task: TaskRecord) -> TaskOutcome:
        """Run a task this runner claimed to its end; how it ended.

        Raises:
            asyncio.CancelledError: the task was cancelled (by its caller, a cancel request
                in the store, shutdown, or a lost lease); run_task recorded how.
        """
        me = asyncio.current_task()
        assert me is not None
        watcher = asyncio.ensure_future(self._watch_cancel(task, me))
        try:
            options = replace(
                self._options_factory(task),
                shutting_down=lambda: self._closing or task.id in self._lost,
                waiting_for_user=lambda waiting: self._note_waiting(task.id, waiting),
            )
            try:
                model = self._model_factory(task.model)
            except ValueError as exc:
                return await _fail(self.store, task.id, str(exc), ExitCode.USAGE)
            return await run_task(
                self.store, task.id, model, options=options, responder=self._responder_factory(task)
            )
        except StoreFull:
            log.error("task %s stopped: the disk is full", task.id)
            await _fail_when_space_returns(self.store, task.id, lambda: self._closing)
            return TaskOutcome(TaskStatus.FAILED, ExitCode.FAILED, "the disk is full")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s failed unexpectedly", task.id)
            with contextlib.suppress(Exception):
                return await _fail(
                    self.store, task.id, "Errand failed unexpectedly; see its log", ExitCode.FAILED
                )
            return TaskOutcome(TaskStatus.FAILED, ExitCode.FAILED, "Errand failed unexpectedly")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._lost.discard(task.id)

    async def _watch_cancel(self, task: TaskRecord, job: asyncio.Task[Any]) -> None:
        """Follow the task's log for a cancel request addressed to it, and act on it."""
        seen = task.last_seq
        while True:
            events = await self.store.wait_for_events(task.id, seen, timeout=60, poll_interval=1.0)
            for event in events:
                seen = event.seq
                if event.type == "task.cancel_requested":
                    job.cancel()
                    return


async def run_one(
    store: Store,
    task: TaskRecord,
    *,
    lease: Lease,
    options: TaskOptions,
    responder: Responder | None,
    model_factory: ModelFactory = resolve_model,
) -> TaskOutcome:
    """Run the one task this process claimed under ``lease`` (``errand run``) to its end,
    renewing the lease meanwhile and recording other runners' dead tasks as any runner does.

    A message that reopens the task as it completes is run here too. A cancel requested
    through the store (the API, a phone) stops it as Ctrl-C does; a lost lease leaves it
    interrupted.

    Raises:
        asyncio.CancelledError: the caller was cancelled (Ctrl-C); the task is recorded
            cancelled first.
    """
    runner = Runner(
        store,
        concurrency=1,
        leases=LeaseSettings(lease.seconds, check_seconds=lease.seconds / 3),
        model_factory=model_factory,
        options_factory=lambda _task: options,
        responder_factory=lambda _task: responder,
        runner_id_=lease.owner,
    )
    heartbeat = asyncio.ensure_future(runner._heartbeat_loop())
    me = asyncio.current_task()
    assert me is not None
    try:
        while True:
            job = asyncio.ensure_future(runner.execute(task))
            runner._hold(task.id, job)
            try:
                outcome = await job
            except asyncio.CancelledError:
                if me.cancelling():
                    raise
                ended = await store.get_task(task.id)
                code = (
                    ExitCode.CANCELLED if ended.status is TaskStatus.CANCELLED else ExitCode.FAILED
                )
                return TaskOutcome(ended.status, code, ended.error)
            again = await store.claim_task(task.id, lease.owner, lease_seconds=lease.seconds)
            if again is None:
                return outcome
            task = again
    finally:
        runner._closing = True
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def resume(store: Store, task_id: str) -> None:
    """Queue an interrupted task again (one whose runner died is recorded so first)."""
    await store.interrupt_expired_leases()
    await store.set_task_status(task_id, TaskStatus.QUEUED)


async def _fail(store: Store, task_id: str, error: str, code: ExitCode) -> TaskOutcome:
    await store.set_task_status(task_id, TaskStatus.FAILED, error=error, exit_code=code)
    return TaskOutcome(TaskStatus.FAILED, code, error)


async def _fail_when_space_returns(store: Store, task_id: str, closing: Callable[[], bool]) -> None:
    """Record the task failed as soon as the store can write again. If Errand stops first
    the task's lease runs out and it reads as interrupted (resumable), like any task whose
    runner went away."""
    delay = FULL_DISK_RETRY_S
    while not closing():
        try:
            await store.set_task_status(
                task_id,
                TaskStatus.FAILED,
                error="The disk was full, so Errand could not record the task's progress; "
                "free some space and start it again",
                exit_code=ExitCode.FAILED,
            )
            return
        except StoreFull:
            await asyncio.sleep(delay)
            delay = min(delay * 2, FULL_DISK_RETRY_MAX_S)
        except InvalidTransition:
            return  # already final (cancelled meanwhile)
        except Exception:  # the store is closing
            return
