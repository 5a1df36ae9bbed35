"""The store: Errand's single source of truth for tasks and everything that happens in them.

``open_store`` connects, brings the schema up to date and returns a ``Store``. Every write
method is one transaction; what it returns has been committed, and only then are in-process
readers woken (``wait_for_events``). State changes that clients follow live (a task's
creation and status changes, approvals asked and decided, questions asked and answered,
token usage) are written to the task's event log in the same transaction as the row they
change, so the log and the tables never disagree. ``append_event`` refuses those event
types (``events.STORE_WRITTEN_TYPES``); everything else (model output, tool calls, network
decisions ...) callers append with ``append_event``.

Event payloads written by the store:
    task.created        {"title", "prompt", "model", "source"}
    task.status         {"status", "previous", "error"?, "exit_code"?, "reason"?}
    approval.requested  {"approval_id", "tool_call_id", "action", "digest", "expires_at"}
    approval.decided    {"approval_id", "status", "decided_by", "reason"?}
    question.asked      {"question_id", "text"}
    question.answered   {"question_id", "answer", "answered_by"}
    usage               {"model", "input_tokens", "output_tokens"}
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.events import (
    ApprovalDecided,
    ApprovalRequested,
    QuestionAnswered,
    QuestionAsked,
    TaskCreated,
    TaskStatusChanged,
    UsageRecorded,
)
from errand.pause_points import pause_at
from errand.priority import yield_to_requests
from errand.store import (
    approvals,
    attention,
    automation,
    events,
    follow_ups,
    prune,
    questions,
    summaries,
    tasks,
    transcript,
    usage,
)
from errand.store import events as _events
from errand.store import usage as _usage
from errand.store import workers as _workers
from errand.store.database import Database, connect, resolve_url, store_failure
from errand.store.errors import (
    ApprovalExpired,
    DigestMismatch,
    InvalidPayload,
    StoreClosed,
    StoreConfigError,
)
from errand.store.ids import new_id
from errand.store.migrate import MigrationFailed, upgrade_to_head
from errand.store.notify import EventNotifier, PgEventListener, SqliteWakeups
from errand.store.prune import PruneResult
from errand.store.records import (
    ApprovalRecord,
    ApprovalStatus,
    EventRecord,
    FollowUpDelivery,
    JsonInputObject,
    JsonObject,
    Lease,
    QuestionRecord,
    QuestionStatus,
    TaskRecord,
    TaskStatus,
    TaskSummary,
    UsageRecord,
    UsageTotals,
)
from errand.store.schema import (
    decode_object,
    digest_of,
    encode_json,
    require_count,
    require_object,
    utc_now,
)
from errand.store.workers import WorkerRecord
from errand.tasks import TaskSpec

log = logging.getLogger(__name__)

MAX_PAGE = 1000
"""The most rows one listing call returns."""
MAX_EVENTS_PAGE = 10_000
TITLE_LENGTH = 80
DEFAULT_POLL_INTERVAL_S = 1.0
LISTENING_POLL_INTERVAL_S = 10.0
"""How often waits re-read anyway while PostgreSQL notifications arrive (a safety net only)."""
LEASE_LOST_REASON = "The worker running this task stopped answering; it can be resumed"
ANSWERED_BY_MESSAGE = "message"
"""``answered_by`` of a question answered by a message the user sent to the task."""


_R = TypeVar("_R")
_P = ParamSpec("_P")


def _finish_writes(
    method: Callable[Concatenate[Store, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[Store, _P], Coroutine[Any, Any, _R]]:
    """Let a write that has started finish even if its caller is cancelled.

    A task cancelled mid-transaction (Ctrl-C, a cancelled errand, shutdown) must not leave the
    single writer connection half-way through a transaction; the caller still sees the
    cancellation, once the write is done. A write the database itself refuses (a full disk, a
    damaged or read-only file) raises the store's typed error for it (``StoreFull`` ...).

    Background work (a task the gateway's runner runs) first lets the requests being
    answered go (``errand.priority``), before it takes the writer.
    """

    async def write(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        except DBAPIError as exc:
            failure = store_failure(exc, self._db.url)
            if failure is None:
                raise
            raise failure from exc

    async def shielded(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        await yield_to_requests()  # cancelled here, nothing was written
        work = asyncio.ensure_future(write(self, *args, **kwargs))
        self._writes.add(work)
        work.add_done_callback(self._writes.discard)
        return await asyncio.shield(work)

    functools.update_wrapper(shielded, method)
    return shielded


class Store:
    """Typed access to the database. Create with ``open_store``; close with ``aclose``."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._notifier = EventNotifier()
        self._listener: PgEventListener | None = None
        self._wakeups: SqliteWakeups | None = None
        self._closed = False
        self._writes: set[asyncio.Task[Any]] = set()
        self._reads = 0
        self._no_reads = asyncio.Event()
        self._no_reads.set()

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, which serves the processes of one computer only."""
        return self._db.is_sqlite

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._db.url.render_as_string(hide_password=True)

    async def aclose(self) -> None:
        """Wake all waiters and close every connection. Safe to call twice."""
        if self._closed:
            return
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=10)
        self._closed = True
        self._notifier.close()
        # A read still running holds a connection the engine's dispose would not close.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_reads.wait(), timeout=10)
        if self._listener is not None:
            await self._listener.aclose()
        if self._wakeups is not None:
            self._wakeups.close()
        await self._db.dispose()

    async def _listen_for_notifications(self) -> None:
        """Wake this process's waiters on changes other processes commit: PostgreSQL's
        notifications, or on SQLite the wake-ups of the processes using the same file."""
        if self._db.is_sqlite:
            assert self._db.url.database is not None
            wakeups = SqliteWakeups(Path(self._db.url.database), self._notifier)
            try:
                wakeups.start()
            except OSError as exc:
                log.warning("other processes' changes are seen by re-reading only: %s", exc)
                return
            self._wakeups = wakeups
            return
        listener = PgEventListener(self._db.url, self._notifier)
        await listener.start()
        self._listener = listener

    @property
    def notified_across_processes(self) -> bool:
        """True while other processes' events wake waiters at once (PostgreSQL, listening)."""
        return self._listener is not None and self._listener.listening

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- tasks -----------------------------------------------------------------------------

    @_finish_writes
    async def create_task(
        self,
        prompt: str,
        *,
        spec: TaskSpec,
        title: str | None = None,
        opening: Sequence[JsonInputObject] = (),
        lease: Lease | None = None,
    ) -> TaskRecord:
        """Store a new ``queued`` task; its log starts with ``task.created`` (seq 1).

        With ``lease`` the task is claimed by that runner in the same commit (``running``,
        as ``claim_task`` would), so no other runner can take it first.

        ``spec`` is the typed task (``errand.intake`` builds it); ``title`` defaults to the
        prompt's first line, shortened. ``opening`` (the canonical request and attachments)
        starts the transcript in the same commit, so a follow-up sent while the task is still
        queued comes after the request instead of replacing it.

        Raises:
            InvalidPayload: empty prompt or an over-long title.
        """
        if not prompt.strip():
            raise InvalidPayload("the task needs a request: prompt is empty")
        if title is not None and not 0 < len(title) <= 200:
            raise InvalidPayload("title must be 1 to 200 characters")
        title = title or _title_from(prompt)
        opening_json = [require_object(m, what="message") for m in opening]
        task_id, now = new_id(), utc_now()
        created = encode_json(
            TaskCreated(
                title=title, prompt=prompt, model=spec.model, source=spec.source.kind.value
            ).payload(),
            what="task",
        )
        async with self._write() as conn:
            await tasks.insert(
                conn, task_id=task_id, title=title, prompt=prompt, spec=spec, now=now
            )
            await events.append(conn, task_id, "task.created", created, now)
            if opening_json:
                await transcript.append(conn, task_id, opening_json, now)
            record = await tasks.get(conn, task_id)
            if lease is not None:
                claimed = await self._claim(conn, lease, now, task_id=task_id)
                assert claimed is not None  # queued a moment ago, in this transaction
                record = claimed
        self._notifier.publish(task_id, task_list=True)
        return record

    async def get_task(self, task_id: str) -> TaskRecord:
        """Raises ``TaskNotFound``."""
        async with self._read() as conn:
            return await tasks.get(conn, task_id, now=utc_now())

    @_finish_writes
    async def prune_tasks(self, *, ended_before: datetime) -> PruneResult:
        """Delete tasks that ended (completed, failed, cancelled) before ``ended_before``,
        with their events, transcript, approvals, questions and usage, then compact the
        database. Tasks that have not ended are never deleted; ``kept_unfinished`` counts
        those created before the cutoff."""
        async with self._write() as conn:
            result = await prune.delete_finished_before(conn, ended_before)
        if result.deleted:
            await prune.compact(self._db.writer)
        return result

    async def task_ids_with_prefix(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Up to ``limit`` task ids starting with ``prefix`` (for short ids typed by people)."""
        async with self._read() as conn:
            return await tasks.ids_with_prefix(conn, prefix, _page(limit))

    async def list_tasks(
        self,
        *,
        status: TaskStatus | Iterable[TaskStatus] | None = None,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
    ) -> list[TaskRecord]:
        """Tasks newest first, optionally only those in ``status`` (one or several).

        Page backwards with ``before=<last id of the previous page>``; fetch what is newer
        than the newest id seen with ``after=<that id>``.
        """
        read = functools.partial(
            tasks.page,
            statuses=_statuses(status, TaskStatus),
            limit=_page(limit),
            before=before,
            after=after,
            now=utc_now(),
        )
        return await self._read_sync(read)

    async def list_tasks_summarized(
        self,
        *,
        status: TaskStatus | Iterable[TaskStatus] | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[tuple[TaskRecord, TaskSummary]]:
        """:meth:`list_tasks`, each task with its :meth:`task_summaries` entry, in one read."""
        read = functools.partial(
            summaries.page,
            statuses=_statuses(status, TaskStatus),
            limit=_page(limit),
            before=before,
            now=utc_now(),
        )
        return await self._read_sync(read)

    @_finish_writes
    async def set_task_status(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> TaskRecord:
        """Move the task to ``status`` and log ``task.status``, atomically.

        Entering ``running`` sets ``started_at`` (once); a final status sets ``finished_at``,
        expires its pending approvals and cancels its pending questions.

        Raises:
            TaskNotFound: no such task.
            InvalidTransition: ``records.ALLOWED_TRANSITIONS`` forbids the move.
        """
        status = TaskStatus(status)
        now = utc_now()
        async with self._write() as conn:
            record = await self._transition(
                conn, task_id, status, error=error, exit_code=exit_code, reason=None, now=now
            )
        self._notifier.publish(task_id, task_list=True)
        return record

    # -- workers: leases, and requests for the worker holding a task ------------------------

    @_finish_writes
    async def claim_next_task(
        self, owner: str, *, lease_seconds: float, workers: Collection[str] = ()
    ) -> TaskRecord | None:
        """Take the oldest queued task for worker ``owner``: it becomes ``running`` under a
        lease that lasts ``lease_seconds`` unless renewed (``renew_leases``). None when no
        task is queued that this runner may run: a task with folders is taken only by a
        runner serving their worker (``workers``, see ``errand.tasks.workers``), one with
        none by any. Racing workers never get the same task (``FOR UPDATE SKIP LOCKED`` on
        PostgreSQL). Logs ``task.status`` with the ``worker``.
        """
        lease = Lease(owner, lease_seconds)
        async with self._write() as conn:
            record = await self._claim(conn, lease, utc_now(), workers=workers)
        if record is not None:
            self._notifier.publish(record.id, task_list=True)
        return record

    @_finish_writes
    async def claim_task(
        self, task_id: str, owner: str, *, lease_seconds: float
    ) -> TaskRecord | None:
        """Like ``claim_next_task`` for one task: None unless it is queued."""
        async with self._write() as conn:
            record = await self._claim(conn, Lease(owner, lease_seconds), utc_now(), task_id)
        if record is not None:
            self._notifier.publish(record.id, task_list=True)
        return record

    async def _claim(
        self,
        conn: AsyncConnection,
        lease: Lease,
        now: datetime,
        task_id: str | None = None,
        *,
        workers: Collection[str] = (),
    ) -> TaskRecord | None:
        record = await tasks.claim_next(
            conn,
            owner=lease.owner,
            expires_at=now + timedelta(seconds=lease.seconds),
            now=now,
            workers=workers,
            task_id=task_id,
        )
        if record is None:
            return None
        payload = {"status": "running", "previous": "queued", "worker": lease.owner}
        await events.insert_at(
            conn,
            record.id,
            record.last_seq,
            "task.status",
            encode_json(payload, what="status"),
            now,
        )
        return record

    @_finish_writes
    async def renew_leases(self, owner: str, *, lease_seconds: float) -> set[str]:
        """Extend the leases of every task ``owner`` holds (its heartbeat); returns their ids.

        A task missing from the answer is no longer the worker's (its lease ran out and it
        was marked interrupted, or it ended): the worker must stop running it.
        """
        now = utc_now()
        expires = now + timedelta(seconds=lease_seconds)
        async with self._write() as conn:
            return await tasks.renew_leases(conn, owner=owner, expires_at=expires, now=now)

    @_finish_writes
    async def renew_worker(
        self,
        worker_id: str,
        *,
        name: str,
        labels: Collection[str],
        concurrency: int,
        alive_seconds: float,
    ) -> None:
        """Record runner ``worker_id`` (of this host and process) alive for ``alive_seconds``
        more: its heartbeat, busy or idle. The first call lists it (``list_workers``)."""
        now = utc_now()
        async with self._write() as conn:
            await _workers.renew(
                conn,
                worker_id=worker_id,
                name=name,
                labels=frozenset(labels),
                host=socket.gethostname(),
                pid=os.getpid(),
                concurrency=concurrency,
                now=now,
                alive_until=now + timedelta(seconds=alive_seconds),
            )

    @_finish_writes
    async def remove_worker(self, worker_id: str) -> None:
        """Unlist a runner that is stopping (one that dies is shown stopped instead)."""
        async with self._write() as conn:
            await _workers.remove(conn, worker_id)

    async def list_workers(self) -> list[WorkerRecord]:
        """Every runner listed: the live ones, and those that died within a day."""
        async with self._read() as conn:
            return await _workers.listing(conn, now=utc_now())

    async def live_worker_labels(self) -> frozenset[str]:
        """The worker labels some live runner serves (empty: no runner is alive)."""
        alive = [worker for worker in await self.list_workers() if worker.alive]
        return frozenset(label for worker in alive for label in worker.labels)

    @_finish_writes
    async def interrupt_expired_leases(self, *, unleased: bool = False) -> list[str]:
        """Mark running or waiting tasks whose lease ran out ``interrupted``; returns their ids.

        Any process may call this at any time (the first to notice wins): a live runner's
        tasks are never touched, since its heartbeat keeps their leases in the future.
        Readers see such a task interrupted already (``get_task``); this records it. With
        ``unleased``, tasks running without a lease are taken for orphans too: every runner
        holds leases, so only a process that ran ``run_task`` on its own (or an older Errand
        that crashed) leaves them.
        """
        now = utc_now()
        async with self._write() as conn:
            expired = await self._interrupt_lapsed(conn, now, unleased=unleased)
        for task_id in expired:
            self._notifier.publish(task_id, task_list=True)
        return list(expired)

    async def _interrupt_lapsed(
        self,
        conn: AsyncConnection,
        now: datetime,
        *,
        unleased: bool = False,
        task_id: str | None = None,
    ) -> Sequence[str]:
        expired = await tasks.expired_lease_ids(conn, now=now, unleased=unleased, task_id=task_id)
        for lapsed in expired:
            await self._transition(
                conn,
                lapsed,
                TaskStatus.INTERRUPTED,
                error=tasks.LEASE_LOST,
                exit_code=None,
                reason=LEASE_LOST_REASON,
                now=now,
            )
        return expired

    @_finish_writes
    async def request_cancel(self, task_id: str, *, requested_by: str | None = None) -> bool:
        """Stop a task wherever it runs. A queued or interrupted task is cancelled here and
        now; a running or waiting one gets ``task.cancel_requested`` in its log, which the
        worker holding it acts on (the worker records the cancellation). False when the
        task had already ended.

        Raises:
            TaskNotFound: no such task.
        """
        now = utc_now()
        async with self._write() as conn:
            await self._interrupt_lapsed(conn, now, task_id=task_id)
            status = await tasks.status_for_update(conn, task_id)
            if status.is_terminal:
                return False
            if status in tasks.UNFINISHED:
                requested = encode_json({"requested_by": requested_by}, what="cancel")
                await events.append(conn, task_id, "task.cancel_requested", requested, now)
            else:
                await self._transition(
                    conn,
                    task_id,
                    TaskStatus.CANCELLED,
                    error="cancelled",
                    exit_code=130,
                    reason=None,
                    now=now,
                )
        self._notifier.publish(task_id, task_list=True)
        return True

    @_finish_writes
    async def request_follow_up(
        self, task_id: str, text: str, *, message: JsonInputObject, sent_by: str | None = None
    ) -> FollowUpDelivery:
        """Give a task another message from the user, wherever it runs; stored (and shown,
        as ``message.user`` {"text"}) before this returns.

        A task waiting for the answer to its question takes the message as that answer
        (``question.answered`` by ``"message"``; ANSWERED). Otherwise ``message`` (the
        canonical user message) waits in the store until the task's loop takes it into the
        transcript before its next model call (``take_follow_ups``), in the order of the log:
        at once for a running task (PENDING); any other task is queued to run again
        (QUEUED; one whose runner died, its lease run out, is recorded interrupted first).

        Raises:
            TaskNotFound: no such task.
            InvalidPayload: empty text or a malformed message.
        """
        if not text.strip():
            raise InvalidPayload("the follow-up message is empty")
        message_json = require_object(message, what="message")
        shown = encode_json({"text": text}, what="text")
        now = utc_now()
        async with self._write() as conn:
            await self._interrupt_lapsed(conn, now, task_id=task_id)
            status = await tasks.status_for_update(conn, task_id)
            asked = await questions.listing(
                conn, task_id=task_id, statuses=[QuestionStatus.PENDING], limit=1
            )
            logged = await events.append(conn, task_id, "message.user", shown, now)
            if status in tasks.UNFINISHED and asked:
                answered = await questions.answer(
                    conn, asked[0].id, text, answered_by=ANSWERED_BY_MESSAGE, now=now
                )
                payload = QuestionAnswered(
                    question_id=answered.id, answer=text, answered_by=ANSWERED_BY_MESSAGE
                ).payload()
                await events.append(
                    conn, task_id, "question.answered", encode_json(payload, what="answer"), now
                )
                delivery = FollowUpDelivery.ANSWERED
            else:
                await follow_ups.insert(conn, task_id, logged.seq, message_json, now)
                delivery = FollowUpDelivery.PENDING
                if status not in tasks.UNFINISHED:
                    delivery = FollowUpDelivery.QUEUED
                    if status is not TaskStatus.QUEUED:
                        await self._transition(
                            conn,
                            task_id,
                            TaskStatus.QUEUED,
                            error=None,
                            exit_code=None,
                            reason=None,
                            now=now,
                        )
        self._notifier.publish(task_id, task_list=True)
        return delivery

    @_finish_writes
    async def take_follow_ups(self, task_id: str) -> list[JsonObject]:
        """The task's messages from the user not yet in its transcript, in log order; they
        are appended to the transcript and marked taken in one commit (the loop calls this
        before each model call).

        Raises:
            TaskNotFound: no such task.
        """
        # Most steps have none: a read says so without queueing for the single writer.
        async with self._read() as conn:
            if not await follow_ups.pending(conn, task_id):
                return []
        now = utc_now()
        async with self._write() as conn:
            waiting = await follow_ups.pending(conn, task_id)
            if not waiting:
                return []
            encoded = [message for _, message in waiting]
            await transcript.append(conn, task_id, encoded, now)
            await follow_ups.mark_taken(conn, task_id, [seq for seq, _ in waiting], now)
        return [decode_object(message) for message in encoded]

    async def _transition(
        self,
        conn: AsyncConnection,
        task_id: str,
        status: TaskStatus,
        *,
        error: str | None,
        exit_code: int | None,
        reason: str | None,
        now: datetime,
    ) -> TaskRecord:
        record, previous = await tasks.transition(
            conn, task_id, status, error=error, exit_code=exit_code, now=now
        )
        payload = TaskStatusChanged(
            status=status.value,
            previous=previous.value,
            error=error,
            exit_code=exit_code,
            reason=reason,
        ).payload()
        await events.insert_at(
            conn, task_id, record.last_seq, "task.status", encode_json(payload, what="status"), now
        )
        if status.is_settled:
            # Nobody works on the task now: what it asked can no longer be acted on. Its
            # approvals say so, and do not count as gone unanswered.
            await approvals.expire(
                conn,
                now=now,
                task_id=task_id,
                only_overdue=False,
                decided_by=attention.VOIDED_BY,
            )
            await questions.cancel_pending(conn, task_id, now=now)
        record = replace(record, attention=await attention.refresh(conn, task_id))
        # Extension point: what a status change causes elsewhere (webhook deliveries in the
        # outbox, a schedule run's outcome) commits with the change itself, or not at all.
        await automation.on_task_status(conn, record, now)
        if status is TaskStatus.COMPLETED and await follow_ups.pending(conn, task_id):
            # A message sent while the task finished its last step: it runs again for it.
            return await self._transition(
                conn, task_id, TaskStatus.QUEUED, error=None, exit_code=None, reason=None, now=now
            )
        return record

    # -- events ----------------------------------------------------------------------------

    @_finish_writes
    async def append_event(
        self, task_id: str, type: str, payload: JsonInputObject | None = None
    ) -> EventRecord:
        """Append one event to the task's log; returns it once committed.

        One transaction of two statements (allocate ``seq``, insert). Readers blocked in
        ``wait_for_events`` wake after the commit.

        Raises:
            TaskNotFound: no such task (nothing is written).
            InvalidPayload: ``type`` is not dotted lowercase words or is one the store writes
                itself (``task.status`` ...), or ``payload`` is not a JSON object.
        """
        events.check_type(type)
        payload_json = require_object(payload if payload is not None else {}, what="payload")
        async with self._write() as conn:
            record = await events.append(conn, task_id, type, payload_json, utc_now())
            if _is_trouble(type, payload_json):
                await attention.refresh(conn, task_id)
        self._notifier.publish(task_id)
        return record

    async def events(
        self, task_id: str, *, after_seq: int = 0, limit: int = MAX_EVENTS_PAGE
    ) -> list[EventRecord]:
        """The task's events with ``seq > after_seq``, in order, at most ``limit``.

        Raises:
            TaskNotFound: no such task.
        """
        limit = max(1, min(limit, MAX_EVENTS_PAGE))
        async with self._read() as conn:
            found = await events.after(conn, task_id, after_seq, limit)
            if not found and not await tasks.exists(conn, task_id):
                await tasks.get(conn, task_id)  # raises TaskNotFound
            return found

    async def wait_for_events(
        self,
        task_id: str,
        after_seq: int,
        *,
        timeout: float,
        limit: int = MAX_EVENTS_PAGE,
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
    ) -> list[EventRecord]:
        """Return events after ``after_seq`` as soon as there are any, or ``[]`` on timeout.

        Appends made through this store wake the wait at once, and so, on PostgreSQL,
        do appends committed by any other process (LISTEN/NOTIFY). Otherwise (SQLite, or
        while PostgreSQL's notifications are interrupted) other processes' appends are seen
        within ``poll_interval``. Closing the store ends every wait with ``[]``.

        Raises:
            TaskNotFound: no such task.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            with self._notifier.listen(task_id) as signal:
                found = await self.events(task_id, after_seq=after_seq, limit=limit)
                remaining = deadline - loop.time()
                if found or remaining <= 0 or self._notifier.closed:
                    return found
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, self._poll_interval(poll_interval))):
                        await signal.wait()
            if self._closed:
                return []

    async def wait_for_task_list_change(
        self, *, timeout: float, poll_interval: float = DEFAULT_POLL_INTERVAL_S
    ) -> bool:
        """Wait until a task is created or changes status (True), or ``timeout`` passes.

        Like ``wait_for_events``, this hears every process on PostgreSQL and only this one
        on SQLite (there it returns False after ``min(timeout, poll_interval)`` so the caller
        re-reads). Callers re-read the tasks afterwards: the wake-up carries no data.
        """
        if self._closed:
            return False
        with self._notifier.listen_task_list() as signal:
            wait = min(max(timeout, 0.0), self._poll_interval(poll_interval))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await signal.wait()
                    return not self._notifier.closed
        return False

    def _poll_interval(self, requested: float) -> float:
        if self.notified_across_processes:
            return max(requested, LISTENING_POLL_INTERVAL_S)
        return max(requested, 0.01)

    # -- transcript ------------------------------------------------------------------------

    @_finish_writes
    async def append_messages(self, task_id: str, messages: Sequence[JsonInputObject]) -> int:
        """Append canonical messages to the task's transcript; returns its new length.

        Raises:
            TaskNotFound: no such task.
            InvalidPayload: a message is not a JSON object.
        """
        encoded = [require_object(message, what="message") for message in messages]
        if not encoded:
            async with self._read() as conn:
                await tasks.get(conn, task_id)
                return len(await transcript.read(conn, task_id))
        async with self._write() as conn:
            return await transcript.append(conn, task_id, encoded, utc_now())

    async def transcript(self, task_id: str) -> list[JsonObject]:
        """The task's messages in order (to resume it after an interruption).

        Raises:
            TaskNotFound: no such task.
        """
        async with self._read() as conn:
            await tasks.get(conn, task_id)
            return await transcript.read(conn, task_id)

    # -- approvals -------------------------------------------------------------------------

    @_finish_writes
    async def create_approval(
        self,
        task_id: str,
        *,
        tool_call_id: str,
        action: JsonInputObject,
        expires_at: datetime | None = None,
    ) -> ApprovalRecord:
        """Ask the user to approve ``action`` (what will run, as JSON); logs ``approval.requested``.

        Raises:
            TaskNotFound: no such task.
            InvalidPayload: ``action`` is not a JSON object or ``tool_call_id`` is empty.
        """
        if not tool_call_id or len(tool_call_id) > 200:
            raise InvalidPayload("tool_call_id must be 1 to 200 characters")
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidPayload("expires_at must be timezone-aware")
        action_json = require_object(action, what="action")
        digest = digest_of(action)
        approval_id, now = new_id(), utc_now()
        requested = ApprovalRequested(
            approval_id=approval_id,
            tool_call_id=tool_call_id,
            action=json.loads(action_json),
            digest=digest,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
        requested_json = encode_json(requested.payload(), what="action")
        async with self._write() as conn:
            await events.append(conn, task_id, "approval.requested", requested_json, now)
            record = await approvals.insert(
                conn,
                approval_id=approval_id,
                task_id=task_id,
                tool_call_id=tool_call_id,
                action_json=action_json,
                digest=digest,
                now=now,
                expires_at=expires_at,
            )
        self._notifier.publish(task_id)
        return record

    @_finish_writes
    async def decide_approval(
        self,
        approval_id: str,
        *,
        approve: bool,
        decided_by: str,
        digest: str | None = None,
        reason: str | None = None,
    ) -> ApprovalRecord:
        """Approve or deny; the first decision wins. Logs ``approval.decided``.

        Pass the ``digest`` the decider was shown to make sure the decision applies to that
        exact action. ``reason`` (a denial's, in the user's words) is kept and told to the
        model.

        Raises:
            ApprovalNotFound: no such approval.
            AlreadyDecided: it was decided before (``ApprovalExpired`` if time ran out; the
                expiry is then recorded and logged).
            DigestMismatch: ``digest`` is not the stored action's digest.
        """
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
        now = utc_now()
        try:
            async with self._write() as conn:
                if digest is not None:
                    stored = await approvals.get(conn, approval_id)
                    if not hmac.compare_digest(stored.digest.encode(), digest.encode()):
                        raise DigestMismatch(approval_id)
                record = await approvals.decide(
                    conn, approval_id, status, decided_by=decided_by, now=now, reason=reason
                )
                await self._log_decision(conn, record, now)
                if not approve:
                    await attention.refresh(conn, record.task_id)
        except ApprovalExpired:
            await self.expire_approvals(approval_id=approval_id)
            raise
        self._notifier.publish(record.task_id)
        return record

    @_finish_writes
    async def expire_approvals(self, *, approval_id: str | None = None) -> list[ApprovalRecord]:
        """Mark pending approvals whose deadline passed ``expired`` and log each; returns them."""
        now = utc_now()
        async with self._write() as conn:
            expired = await approvals.expire(conn, now=now, approval_id=approval_id)
            for record in expired:
                await self._log_decision(conn, record, now)
            for task_id in sorted({record.task_id for record in expired}):
                await attention.refresh(conn, task_id)
        for record in expired:
            self._notifier.publish(record.task_id)
        return expired

    async def _log_decision(
        self, conn: AsyncConnection, record: ApprovalRecord, now: datetime
    ) -> None:
        decided = ApprovalDecided(
            approval_id=record.id,
            status=record.status.value,
            decided_by=record.decided_by,
            reason=record.reason,
        ).payload()
        await events.append(
            conn, record.task_id, "approval.decided", encode_json(decided, what="decision"), now
        )

    async def get_approval(self, approval_id: str) -> ApprovalRecord:
        """Raises ``ApprovalNotFound``."""
        async with self._read() as conn:
            return await approvals.get(conn, approval_id)

    async def list_approvals(
        self,
        *,
        task_id: str | None = None,
        status: ApprovalStatus | Iterable[ApprovalStatus] | None = None,
        limit: int = 100,
    ) -> list[ApprovalRecord]:
        """Approvals oldest first, optionally of one task and in the given status(es)."""
        statuses = _statuses(status, ApprovalStatus)
        async with self._read() as conn:
            return await approvals.listing(
                conn, task_id=task_id, statuses=statuses, limit=_page(limit)
            )

    # -- questions -------------------------------------------------------------------------

    @_finish_writes
    async def create_question(self, task_id: str, text: str) -> QuestionRecord:
        """Record a question for the user; logs ``question.asked``.

        Raises:
            TaskNotFound: no such task.
            InvalidPayload: empty question.
        """
        if not text.strip():
            raise InvalidPayload("the question is empty")
        question_id, now = new_id(), utc_now()
        asked = encode_json(
            QuestionAsked(question_id=question_id, text=text).payload(), what="question"
        )
        async with self._write() as conn:
            await events.append(conn, task_id, "question.asked", asked, now)
            record = await questions.insert(
                conn, question_id=question_id, task_id=task_id, text=text, now=now
            )
        self._notifier.publish(task_id)
        return record

    @_finish_writes
    async def answer_question(
        self, question_id: str, answer: str, *, answered_by: str | None = None
    ) -> QuestionRecord:
        """Record the answer (the first one wins); logs ``question.answered``.

        Raises:
            QuestionNotFound: no such question.
            AlreadyAnswered: it was answered or cancelled before.
        """
        now = utc_now()
        async with self._write() as conn:
            record = await questions.answer(
                conn, question_id, answer, answered_by=answered_by, now=now
            )
            answered = QuestionAnswered(
                question_id=record.id, answer=answer, answered_by=answered_by
            ).payload()
            await events.append(
                conn, record.task_id, "question.answered", encode_json(answered, what="answer"), now
            )
        self._notifier.publish(record.task_id)
        return record

    async def get_question(self, question_id: str) -> QuestionRecord:
        """Raises ``QuestionNotFound``."""
        async with self._read() as conn:
            return await questions.get(conn, question_id)

    async def list_questions(
        self,
        *,
        task_id: str | None = None,
        status: QuestionStatus | Iterable[QuestionStatus] | None = None,
        limit: int = 100,
    ) -> list[QuestionRecord]:
        """Questions oldest first, optionally of one task and in the given status(es)."""
        statuses = _statuses(status, QuestionStatus)
        async with self._read() as conn:
            return await questions.listing(
                conn, task_id=task_id, statuses=statuses, limit=_page(limit)
            )

    # -- a whole agent step ----------------------------------------------------------------

    @_finish_writes
    async def record_step(
        self,
        task_id: str,
        *,
        events: Sequence[tuple[str, JsonInputObject]] = (),
        messages: Sequence[JsonInputObject] = (),
        usage: UsageRecord | None = None,
    ) -> list[EventRecord]:
        """Append events, transcript messages and a model call's usage in one transaction.

        The agent loop records each step's results together: one commit instead of several
        keeps its own overhead per step low. All or nothing. A failed step's result updates
        the task's ``attention`` in the same commit.

        Raises:
            TaskNotFound: no such task.
            InvalidPayload: a type, payload, message or count is malformed.
        """
        step = _Step.encode(events, messages, usage)
        async with self._write() as conn:
            records = await step.write(conn, task_id, utc_now())
        self._notifier.publish(task_id)
        return records

    @_finish_writes
    async def complete_task(
        self,
        task_id: str,
        *,
        events: Sequence[tuple[str, JsonInputObject]] = (),
        messages: Sequence[JsonInputObject] = (),
        usage: UsageRecord | None = None,
    ) -> TaskRecord:
        """Record the task's last step (its final answer) and end it ``completed``, as one
        commit: a crash leaves either both or neither, never an answer on a task that then
        looks interrupted and would be asked again.

        Logs the step's events, then ``task.status`` (exit code 0, no error); the task's
        ``attention`` is recounted in the same commit.

        Raises:
            TaskNotFound: no such task.
            InvalidTransition: the task is not running (cancelled meanwhile ...); nothing is
                written.
            InvalidPayload: a type, payload, message or count is malformed.
        """
        step = _Step.encode(events, messages, usage)
        now = utc_now()
        async with self._write() as conn:
            await step.write(conn, task_id, now)
            pause_at("complete-task")
            record = await self._transition(
                conn,
                task_id,
                TaskStatus.COMPLETED,
                error=None,
                exit_code=0,
                reason=None,
                now=now,
            )
        self._notifier.publish(task_id, task_list=True)
        return record

    # -- usage -----------------------------------------------------------------------------

    async def usage_totals(self, task_id: str) -> UsageTotals:
        """Tokens summed over the task's model calls.

        Raises:
            TaskNotFound: no such task.
        """
        async with self._read() as conn:
            await tasks.get(conn, task_id)
            return await usage.totals(conn, task_id)

    async def task_summaries(self, task_ids: Iterable[str]) -> dict[str, TaskSummary]:
        """Each task's usage totals and pending approvals and questions, read together.

        For a page of a task list (at most a few hundred ids); an id without a task gets
        zeros.
        """
        ids = list(dict.fromkeys(task_ids))
        return await self._read_sync(functools.partial(summaries.of_tasks, task_ids=ids))

    # -- connections -----------------------------------------------------------------------

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        if self._closed:
            raise StoreClosed("the store is closed")
        return self._db.writer.begin()

    async def _read_sync(self, read: Callable[[Connection], _R]) -> _R:
        """``read`` run in one read transaction, on a synchronous connection.

        For the reads every request makes (see ``errand.store.database``): on SQLite it runs
        on the loop's thread at once, which nothing can interleave with; elsewhere through
        ``AsyncConnection.run_sync``.
        """
        if self._closed:
            raise StoreClosed("the store is closed")
        if self._db.sync_reader is None:
            async with self._read() as conn:
                return await conn.run_sync(read)
        with self._db.sync_reader.begin() as sync_conn:
            return read(sync_conn)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        if self._closed:
            raise StoreClosed("the store is closed")
        self._reads += 1
        self._no_reads.clear()
        try:
            async with self._db.reader.begin() as conn:
                yield conn
        finally:
            self._reads -= 1
            if not self._reads:
                self._no_reads.set()


async def open_store(url: str | None = None) -> Store:
    """Connect to the database, apply pending migrations, and return the store.

    ``url`` defaults to ``$ERRAND_DATABASE_URL``, else ``errand.db`` in the data directory
    (``$ERRAND_HOME`` or the platform's). A new SQLite file is created owner-only.

    Raises:
        StoreConfigError: unusable URL, missing driver, or a database whose schema is newer
            than this Errand knows.
        DatabaseDamaged: the file is not a readable database (left exactly as it was).
        StoreUnavailable: the database or its folder cannot be opened or written.
        StoreFull: the disk is full.
    """
    resolved = resolve_url(url)
    try:
        database = connect(resolved)
    except OSError as exc:
        failure = store_failure(exc, resolved)
        assert failure is not None  # every OSError has a sentence
        raise failure from exc
    try:
        await upgrade_to_head(database.writer)
    except (OSError, OperationalError, InterfaceError) as exc:
        await database.dispose()
        failure = store_failure(exc, resolved)  # a full disk, an unwritable SQLite file
        if failure is not None and database.is_sqlite:
            raise failure from exc
        raise StoreConfigError(
            f"cannot reach the database at {database.url.render_as_string(hide_password=True)}"
            f": {exc}"
        ) from exc
    except MigrationFailed as exc:
        await database.dispose()
        raise StoreConfigError(
            f"cannot bring the database at {database.url.render_as_string(hide_password=True)} "
            f"up to date ({exc}); was it written by a newer Errand?"
        ) from exc
    except BaseException as exc:
        await database.dispose()
        failure = store_failure(exc, resolved)
        if failure is not None:
            raise failure from exc
        raise
    store = Store(database)
    try:
        await store._listen_for_notifications()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        await store.aclose()
        raise StoreConfigError(
            f"cannot listen for notifications from the database at {store.url}: {exc}"
        ) from exc
    except BaseException:
        await store.aclose()
        raise
    return store


def _title_from(prompt: str) -> str:
    first_line = next((line for line in prompt.splitlines() if line.strip()), prompt)
    words = " ".join(first_line.split())
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"


def _page(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


_Status = TypeVar("_Status", TaskStatus, ApprovalStatus, QuestionStatus)


def _statuses(value: _Status | Iterable[_Status] | None, kind: type[_Status]) -> list[_Status]:
    if value is None:
        return []
    if isinstance(value, str):
        return [kind(value)]
    return [kind(item) for item in value]


def _is_trouble(event_type: str, payload_json: str) -> bool:
    """Whether an event changes the task's attention (a step whose result is an error)."""
    return event_type == "tool.result" and '"is_error":true' in payload_json


@dataclass(frozen=True)
class _Step:
    """A step's events, transcript messages and usage, checked and encoded before any write."""

    events: list[tuple[str, str]]
    messages: list[str]
    usage: UsageRecord | None

    @classmethod
    def encode(
        cls,
        events: Sequence[tuple[str, JsonInputObject]],
        messages: Sequence[JsonInputObject],
        usage: UsageRecord | None,
    ) -> _Step:
        """Raises ``InvalidPayload`` for a malformed type, payload, message or count."""
        encoded: list[tuple[str, str]] = []
        for event_type, payload in events:
            _events.check_type(event_type)
            encoded.append((event_type, require_object(payload, what="payload")))
        if usage is not None:
            require_count(usage.input_tokens, what="input_tokens")
            require_count(usage.output_tokens, what="output_tokens")
            logged = UsageRecorded(
                model=usage.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            )
            encoded.append((logged.type, encode_json(logged.payload(), what="usage")))
        return cls(encoded, [require_object(m, what="message") for m in messages], usage)

    async def write(self, conn: AsyncConnection, task_id: str, now: datetime) -> list[EventRecord]:
        """Write the step in the caller's transaction; returns its events."""
        # Events first: allocating their numbers raises TaskNotFound for a missing task.
        records = await _events.append_many(conn, task_id, self.events, now) if self.events else []
        if self.messages:
            await transcript.append(conn, task_id, self.messages, now)
        if self.usage is not None:
            await _usage.insert(conn, self.usage)
        if any(_is_trouble(event_type, payload) for event_type, payload in self.events):
            await attention.refresh(conn, task_id)
        return records
