"""The in-process runner: takes queued tasks from the store and runs them here.

The store is the queue: every client creates its task there as ``queued`` and calls
:meth:`LocalRunner.submit`, which only wakes the dispatcher. The dispatcher starts the oldest
queued tasks while fewer than ``concurrency`` run. Nothing lives only in memory except the
hand-over of a running task's follow-ups to its loop: each is stored as ``task.follow_up``
before it is acknowledged, and in the transcript the moment the loop reads it (or when the
task ends, which reopens it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from errand.agent import Responder, TaskOptions, message_to_json, run_task
from errand.models import ModelAdapter, resolve_model, user_text
from errand.runner.claims import TaskClaims, interrupt_orphans
from errand.store import InvalidTransition, Store, StoreFull, TaskRecord, TaskStatus

log = logging.getLogger(__name__)

FULL_DISK_RETRY_S = 1.0
FULL_DISK_RETRY_MAX_S = 30.0

_IDLE_POLL_SECONDS = 2.0
_SHUTDOWN_SECONDS = 10.0

ModelFactory = Callable[[str], ModelAdapter]
OptionsFactory = Callable[[TaskRecord], TaskOptions]
ResponderFactory = Callable[[TaskRecord], Responder | None]


class LocalRunner:
    """Runs the store's queued tasks in this process, ``concurrency`` at a time."""

    def __init__(
        self,
        store: Store,
        *,
        concurrency: int = 2,
        model_factory: ModelFactory = resolve_model,
        options_factory: OptionsFactory | None = None,
        responder_factory: ResponderFactory | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.concurrency = concurrency
        self._model_factory = model_factory
        self._options_factory = options_factory or (lambda task: TaskOptions())
        self._responder_factory = responder_factory or (lambda task: None)
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._inboxes: dict[str, list[str]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._closing = False
        self._claims = TaskClaims()

    @property
    def running(self) -> frozenset[str]:
        """Ids of the tasks running now."""
        return frozenset(self._running)

    async def start(self) -> None:
        interrupted = await interrupt_orphans(self.store, self._claims)
        if interrupted:
            log.info("marked %d tasks interrupted by the last shutdown", len(interrupted))
        self._dispatcher = asyncio.ensure_future(self._dispatch())

    async def submit(self, task_id: str) -> None:
        self._wake.set()

    async def cancel(self, task_id: str) -> bool:
        worker = self._running.get(task_id)
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(worker), _SHUTDOWN_SECONDS)
            return True
        task = await self.store.get_task(task_id)
        if task.status in (TaskStatus.QUEUED, TaskStatus.INTERRUPTED):
            with contextlib.suppress(InvalidTransition):
                await self.store.set_task_status(
                    task_id, TaskStatus.CANCELLED, error="cancelled", exit_code=130
                )
                return True
        return False

    async def follow_up(self, task_id: str, text: str) -> None:
        if task_id in self._running:
            # Stored (``task.follow_up``) before it is acknowledged; the loop records it in the
            # transcript when it reads it. A task that ended meanwhile was reopened with it.
            message = message_to_json(user_text(text))
            if not await self.store.request_follow_up(task_id, text, message=message):
                self._wake.set()
            elif task_id in self._running:
                self._inboxes.setdefault(task_id, []).append(text)
            else:
                await self._reopen(task_id, [text])
            return
        await self._reopen(task_id, [text])

    async def resume(self, task_id: str) -> None:
        await self.store.set_task_status(task_id, TaskStatus.QUEUED)
        self._wake.set()

    async def aclose(self) -> None:
        self._closing = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        workers = list(self._running.values())
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.wait(workers, timeout=_SHUTDOWN_SECONDS)

    async def _fail_when_space_returns(self, task_id: str) -> None:
        await _fail_when_space_returns_impl(self.store, task_id, lambda: self._closing)

    async def _reopen(self, task_id: str, texts: list[str]) -> None:
        """Give a task that is not running the user's messages and queue it again."""
        task = await self.store.get_task(task_id)
        messages = [message_to_json(user_text(text)) for text in texts]
        await self.store.record_step(
            task_id, events=[("message.user", {"text": t}) for t in texts], messages=messages
        )
        if task.status is not TaskStatus.QUEUED:
            await self.store.set_task_status(task_id, TaskStatus.QUEUED)
        self._wake.set()

    async def _dispatch(self) -> None:
        while not self._closing:
            self._wake.clear()
            await self._start_queued()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _IDLE_POLL_SECONDS)

    async def _start_queued(self) -> None:
        room = self.concurrency - len(self._running)
        if room <= 0:
            return
        queued = await self.store.list_tasks(status=TaskStatus.QUEUED, limit=100)
        for task in reversed(queued):  # oldest first
            if room <= 0:
                break
            if task.id in self._running:
                continue
            try:
                await self.store.set_task_status(task.id, TaskStatus.RUNNING)
            except InvalidTransition:
                continue  # taken or cancelled meanwhile
            self._claims.claim(task.id)
            self._running[task.id] = asyncio.ensure_future(self._work(task))
            room -= 1

    async def _work(self, task: TaskRecord) -> None:
        try:
            inbox = self._inboxes.setdefault(task.id, [])
            options = self._options_factory(task)
            options = _with_hooks(options, inbox, lambda: self._closing)
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
            pass
        except StoreFull:
            log.error("task %s stopped: the disk is full", task.id)
            await self._fail_when_space_returns(task.id)
        except Exception:
            log.exception("task %s failed unexpectedly", task.id)
            with contextlib.suppress(Exception):
                await self.store.set_task_status(
                    task.id,
                    TaskStatus.FAILED,
                    error="Errand failed unexpectedly; see its log",
                    exit_code=1,
                )
        finally:
            self._claims.release(task.id)
            self._running.pop(task.id, None)
            left = self._inboxes.pop(task.id, [])
            if left and not self._closing:
                with contextlib.suppress(Exception):
                    await self._reopen(task.id, left)
            self._wake.set()


async def _fail_when_space_returns_impl(
    store: Store, task_id: str, closing: Callable[[], bool]
) -> None:
    """Record the task failed as soon as the store can write again. If Errand stops first the
    task stays ``running`` with no worker, and is marked interrupted (resumable) like any
    task whose runner went away."""
    delay = FULL_DISK_RETRY_S
    while not closing():
        try:
            await store.set_task_status(
                task_id,
                TaskStatus.FAILED,
                error="The disk was full, so Errand could not record the task's progress; "
                "free some space and start it again",
                exit_code=1,
            )
            return
        except StoreFull:
            await asyncio.sleep(delay)
            delay = min(delay * 2, FULL_DISK_RETRY_MAX_S)
        except Exception:  # already final (cancelled meanwhile), or the store is closing
            return


def _with_hooks(options: TaskOptions, inbox: list[str], closing: Callable[[], bool]) -> TaskOptions:
    def drain() -> list[str]:
        taken = list(inbox)
        inbox.clear()
        return taken

    return replace(options, inbox=drain, shutting_down=closing)
