"""Wake-ups for readers waiting on a task's event log or on the task list.

The store publishes a task's id after the event's transaction has committed, so a woken
reader always finds the event in the database. Waking is a hint, not a delivery: readers
re-read the log, which is also why a wake-up can never be "missed" in a way that loses an
event. On PostgreSQL, ``PgEventListener`` turns every committed event, whichever process
wrote it, into the same wake-up (LISTEN/NOTIFY). On SQLite, ``SqliteWakeups`` passes each
process's wake-ups to the other processes using the same database file (an ``errand run``
beside ``errand serve``) as datagrams on Unix sockets in a directory beside the file; a
datagram that cannot be delivered is dropped, and readers still re-read at their poll
interval, so SQLite's polling stays as it was and the datagrams only make it faster.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import URL

log = logging.getLogger(__name__)

CHANNEL = "errand_events"
"""The NOTIFY channel the ``events`` trigger (migration 0004) sends ``'<task id> <type>'`` on."""

TASK_LIST_TYPES = frozenset({"task.created", "task.status"})
"""Event types that change the task list (new tasks, status changes)."""

_TASK_LIST = "*"  # task ids never contain "*"
_RECONNECT_MIN_S = 0.2
_RECONNECT_MAX_S = 5.0


class EventNotifier:
    """Tracks who waits on which task (or on the task list) and wakes them."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._closed = False
        self.forward: Callable[[str, bool], None] | None = None
        """Also called by ``publish``: passes this process's wake-ups to other processes."""

    @contextmanager
    def listen(self, task_id: str) -> Iterator[asyncio.Event]:
        """Register interest in ``task_id`` for the duration of the ``with`` block.

        Register before reading the log: an append that commits between the read and the
        wait then still sets the returned event.
        """
        with self._registered(task_id) as signal:
            yield signal

    @contextmanager
    def listen_task_list(self) -> Iterator[asyncio.Event]:
        """Register interest in any task being created or changing status."""
        with self._registered(_TASK_LIST) as signal:
            yield signal

    def publish(self, task_id: str, *, task_list: bool = False) -> None:
        """Wake everyone waiting on ``task_id`` (call only after the commit); ``task_list``
        also wakes those waiting on the task list."""
        self.wake(task_id, task_list=task_list)
        if self.forward is not None:
            self.forward(task_id, task_list)

    def wake(self, task_id: str, *, task_list: bool = False) -> None:
        """``publish`` in this process only (for wake-ups that came from another one)."""
        for signal in self._waiters.get(task_id, ()):
            signal.set()
        if task_list:
            for signal in self._waiters.get(_TASK_LIST, ()):
                signal.set()

    def publish_all(self) -> None:
        """Wake every waiter once (wake-ups may have been lost: everyone re-reads)."""
        for waiters in self._waiters.values():
            for signal in waiters:
                signal.set()

    def close(self) -> None:
        """Wake every waiter for good: the store is closing."""
        self._closed = True
        self.publish_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def _registered(self, key: str) -> Iterator[asyncio.Event]:
        signal = asyncio.Event()
        if self._closed:
            signal.set()
        waiters = self._waiters.setdefault(key, set())
        waiters.add(signal)
        try:
            yield signal
        finally:
            waiters.discard(signal)
            if not waiters and self._waiters.get(key) is waiters:
                del self._waiters[key]


class PgEventListener:
    """A dedicated connection that LISTENs on ``CHANNEL`` and wakes this process's waiters.

    It reconnects on its own when the connection drops; while it is down ``listening`` is
    False (waiters fall back to re-reading at their poll interval), and on reconnecting it
    wakes every waiter once, since notifications sent meanwhile are lost.
    """

    def __init__(self, url: URL, notifier: EventNotifier) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._notifier = notifier
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Connect and LISTEN (raises what connecting raises), then keep listening."""
        await self._connect()
        self._runner = asyncio.ensure_future(self._keep_listening())

    async def aclose(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), timeout=5)
            self._conn = None

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            self._lost.clear()
            conn.add_termination_listener(self._on_terminated)
            await conn.add_listener(CHANNEL, self._on_notify)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def _keep_listening(self) -> None:
        delay = _RECONNECT_MIN_S
        while True:
            await self._lost.wait()
            self._conn = None
            self._notifier.publish_all()
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("lost the database's notifications (%s); retrying", exc)
                self._lost.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)
                continue
            delay = _RECONNECT_MIN_S
            self._notifier.publish_all()

    def _on_terminated(self, _conn: object) -> None:
        self._lost.set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        task_id, _, event_type = str(payload).partition(" ")
        self._notifier.publish(task_id, task_list=event_type in TASK_LIST_TYPES)


WAKEUPS_SUFFIX = "-wake"
"""The directory of wake-up sockets is the database file's path with this appended."""
_DATAGRAM = 256  # task ids are short; anything longer is not a wake-up


class SqliteWakeups:
    """Wake-ups between the processes that use one SQLite file, over Unix datagram sockets.

    Each open store binds a socket named after its pid (and a random part) in
    ``<database>-wake/`` (mode 0700: only the file's owner can send) and, after each commit,
    sends the woken task's id to every other socket there. A socket whose process died
    refuses the datagram and is removed; a peer whose queue is full misses the wake-up and
    finds the change at its next re-read.
    Sockets are addressed through ``/proc/self/fd/<directory>``, so the database's path may
    be longer than a socket address allows.
    """

    def __init__(self, database: Path, notifier: EventNotifier) -> None:
        self._directory = Path(f"{database}{WAKEUPS_SUFFIX}")
        self._notifier = notifier
        self._name = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._dir_fd = -1
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Bind this process's socket and start receiving (raises ``OSError``)."""
        self._directory.mkdir(mode=0o700, exist_ok=True)
        self._dir_fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(self._address(self._name))
        except BaseException:
            sock.close()
            self._close_directory()
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._receive)
        self._notifier.forward = self.send

    def close(self) -> None:
        self._notifier.forward = None
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):
                os.unlink(self._name, dir_fd=self._dir_fd)
        self._close_directory()

    def send(self, task_id: str, task_list: bool) -> None:
        """Wake the other processes' waiters on ``task_id`` (and on the task list)."""
        if self._sock is None:
            return
        message = f"{'L' if task_list else 'T'}{task_id}".encode()
        try:
            peers = os.listdir(self._dir_fd)
        except OSError:
            return
        for peer in peers:
            if peer == self._name:
                continue
            try:
                self._sock.sendto(message, self._address(peer))
            except (ConnectionRefusedError, FileNotFoundError):
                # Its process has died (or closed a moment ago): nothing listens there.
                with contextlib.suppress(OSError):
                    os.unlink(peer, dir_fd=self._dir_fd)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                    log.debug("no wake-up for %s: %s", peer, exc)

    def _receive(self) -> None:
        assert self._sock is not None
        while True:
            try:
                message = self._sock.recv(_DATAGRAM)
            except OSError:  # drained (BlockingIOError), or the socket is gone
                return
            kind, task_id = message[:1], message[1:].decode(errors="replace")
            if kind in (b"L", b"T") and task_id:
                self._notifier.wake(task_id, task_list=kind == b"L")

    def _address(self, name: str) -> str:
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    def _close_directory(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1
