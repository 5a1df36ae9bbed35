"""Connecting to the database: which URL, which engines, which connection settings.

SQLite (the default) gets two asynchronous engines on the same file (and a synchronous
reader, below). The writer has one connection and starts every transaction with
``BEGIN IMMEDIATE``: in-process writers queue on the pool
(bounded by ``pool_timeout``) rather than on SQLite's lock, and another process's writer
waits on ``busy_timeout`` instead of failing halfway through a transaction. The reader has a
small pool of connections whose transactions are ordinary snapshots; WAL lets them read
while a write is in progress. PostgreSQL needs none of this: one engine serves both roles
and row locks serialise what must be serialised.

All SQLite calls run on the event loop's own thread, not on aiosqlite's: a
statement takes microseconds and a commit one fsync of the log (about 0.5 ms), while each
hop to a thread and back (six or more per transaction) waits for the interpreter lock,
which a busy gateway holds for up to 5 ms at a time; that wait, not SQLite, was most of an
API request's time. Nothing on the loop may wait for a lock, so the writer's busy timeout
is zero: its ``BEGIN IMMEDIATE`` is retried with an asynchronous back-off while another
process writes (a WAL read never waits), up to ``BUSY_TIMEOUT_MS``. ``VACUUM``, which can
take seconds, runs on a thread of its own (``prune.compact``).

The hottest reads (a request's credential, a page of the task list and its summaries) are
plain functions of a synchronous connection (``Store._read_sync``). On SQLite they run on a
third, synchronous engine: the same file and settings, without the asynchronous bridge,
which cost two thirds of such a read's time (0.43 ms against 0.15 ms for a credential). On
PostgreSQL the same function runs through ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiosqlite
from sqlalchemy import URL, create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from errand import config
from errand.store.errors import (
    DatabaseDamaged,
    StoreConfigError,
    StoreError,
    StoreFull,
    StoreUnavailable,
)

DATABASE_URL_ENV = "ERRAND_DATABASE_URL"
DATABASE_FILE = "errand.db"
BUSY_TIMEOUT_MS = 10_000
POOL_TIMEOUT_S = 30.0
READER_POOL_SIZE = 4
# FULL: a committed event survives power loss, not only a crash of Errand. In WAL mode this
# costs one fsync of the log per commit (measured: appends stay near 1 ms).
SQLITE_SYNCHRONOUS = "FULL"

T = TypeVar("T")

_ASYNC_DRIVERS = {
    "sqlite": ("aiosqlite",),
    "postgresql": ("asyncpg", "psycopg"),
}


@dataclass(frozen=True, slots=True)
class Database:
    """The engines a ``Store`` uses; ``writer is reader`` except on SQLite, which also has a
    synchronous reader (``sync_reader``) for the reads made on every request."""

    url: URL
    writer: AsyncEngine
    reader: AsyncEngine
    sync_reader: Engine | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self.sync_reader is not None:
            self.sync_reader.dispose()


def resolve_url(url: str | None = None) -> URL:
    """The database URL: ``url``, else ``$ERRAND_DATABASE_URL``, else ``errand.db`` in the data dir.

    Plain ``sqlite://`` and ``postgresql://`` (or ``postgres://``) URLs get their async
    driver (aiosqlite, asyncpg) filled in.

    Raises:
        StoreConfigError: the URL is malformed, names another database, or is in-memory.
    """
    text = url or os.environ.get(DATABASE_URL_ENV) or ""
    if not text:
        path = config.data_dir() / DATABASE_FILE
        return URL.create("sqlite+aiosqlite", database=str(path))
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise StoreConfigError(f"database URL {_redacted(text)!r} is not a URL: {exc}") from exc
    backend = parsed.get_backend_name()
    driver = parsed.drivername.partition("+")[2]
    drivers = _ASYNC_DRIVERS.get(backend)
    if drivers is None:
        raise StoreConfigError(
            f"the store runs on SQLite or PostgreSQL, not {backend!r}; "
            "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://HOST/DB"
        )
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+{drivers[0]}")
    elif driver not in drivers:
        raise StoreConfigError(
            f"{backend} driver {driver!r} is not async; use {backend}+{drivers[0]}"
        )
    if backend == "sqlite" and (not parsed.database or parsed.database == ":memory:"):
        raise StoreConfigError(
            "the store needs a database file; use sqlite+aiosqlite:///PATH/errand.db"
        )
    return parsed


def connect(url: URL) -> Database:
    """Create the engines for ``url`` (from ``resolve_url``); nothing is opened yet.

    Raises:
        StoreConfigError: the driver is not installed.
    """
    try:
        if url.get_backend_name() != "sqlite":
            engine = create_async_engine(url, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT_S)
            return Database(url=url, writer=engine, reader=engine)
        _prepare_sqlite_file(Path(str(url.database)))
        path = str(url.database)
        writer = _sqlite_engine(url, path, pool_size=1)
        reader = _sqlite_engine(url, path, pool_size=READER_POOL_SIZE)
    except ModuleNotFoundError as exc:
        raise StoreConfigError(
            f"the database driver for {url.drivername} is not installed ({exc.name}); "
            f"install it with: pip install {exc.name}"
        ) from exc
    sync_reader = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        pool_size=READER_POOL_SIZE,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        creator=lambda: sqlite3.connect(path, check_same_thread=False),
    )
    _configure_sqlite(writer.sync_engine, writes=True)
    _configure_sqlite(reader.sync_engine, writes=False)
    _configure_sqlite(sync_reader, writes=False)
    return Database(url=url, writer=writer, reader=reader, sync_reader=sync_reader)


def _sqlite_engine(url: URL, path: str, *, pool_size: int) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        async_creator=lambda: _OnLoopConnection.open(path),
    )


class _OnLoopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose SQLite calls run on the calling (event loop) thread.

    aiosqlite's API, which SQLAlchemy's dialect speaks, without its thread (see the
    module's docstring).
    """

    @classmethod
    async def open(cls, path: str) -> _OnLoopConnection:
        connection = cls(lambda: sqlite3.connect(path, check_same_thread=False), 64)
        # Calls that bypass _execute (closing; the dialect's isolation level setter) put
        # work on the thread's queue: this queue does it at once.
        connection._tx = _DoAtOnce()  # type: ignore[assignment]
        connection._connection = connection._connector()
        return connection

    async def _execute(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def try_begin_immediate(self) -> bool:
        """Take the write lock now, or return False if another process holds it."""
        assert self._connection is not None
        try:
            self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return False
        return True


class _DoAtOnce:
    """Stands in for the queue to aiosqlite's thread: runs each call as it is put."""

    def put_nowait(self, item: tuple[asyncio.Future[object] | None, Callable[[], object]]) -> None:
        future, call = item
        try:
            result = call()
        except BaseException as exc:
            if future is None:
                raise
            future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file owner-only (0600) in an owner-only (0700) directory.

    Existing directories are left as they are (they may be shared, like /tmp); an existing
    database file readable by others is tightened, since it holds every task and answer.
    SQLite gives its -wal and -shm files the database file's mode.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & 0o700)
    finally:
        os.close(fd)


def _configure_sqlite(engine: Engine, *, writes: bool) -> None:
    def on_connect(dbapi_connection: object, _record: ConnectionPoolEntry) -> None:
        # Stop the driver from issuing its own BEGIN so ours (below) decides the lock mode.
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        try:
            # Turning a new file to WAL takes a lock once: that one wait may use SQLite's.
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            if writes:
                cursor.execute("PRAGMA busy_timeout=0")
        finally:
            cursor.close()

    def on_begin(connection: Connection) -> None:
        if not writes:
            connection.exec_driver_sql("BEGIN")
            return
        driver = connection.connection.driver_connection
        assert isinstance(driver, _OnLoopConnection)
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.001
        while not driver.try_begin_immediate():
            if time.monotonic() >= deadline:
                # SQLite's own "database is locked", raised the way every statement's is.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            await_only(asyncio.sleep(pause))
            pause = min(pause * 2, 0.05)

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


_DAMAGED = ("file is not a database", "disk image is malformed", "database corrupt")
_FULL = ("database or disk is full", "no space left on device", "disk full")
_UNWRITABLE = ("readonly database", "unable to open database file", "read-only file system")


def store_failure(exc: BaseException, url: URL | None = None) -> StoreError | None:
    """The store's sentence for a failure of the database itself, or None for anything else.

    A damaged file, a full disk and an unwritable or unopenable database each become one
    typed error naming the database (``url``, by default the configured one) and saying what
    to do; the caller raises it ``from exc``.
    """
    if not isinstance(exc, OSError | DBAPIError):
        return None
    if url is None:
        try:
            url = resolve_url()
        except Exception:
            return None
    where = _where(url)
    if isinstance(exc, OSError) and not isinstance(exc, DBAPIError):
        if exc.errno == errno.ENOSPC:
            return StoreFull(f"the disk holding {where} is full; free some space and retry")
        return StoreUnavailable(
            f"cannot open {where} ({exc.strerror}); Errand must be able to write there "
            f"(check the folder's permissions, or set ERRAND_HOME to a writable folder)"
        )
    text = str(exc.orig).lower()
    if any(part in text for part in _DAMAGED):
        return DatabaseDamaged(
            f"the database {where} is damaged ({exc.orig}); restore it from a backup, "
            f"or move it aside (for example to {where}.damaged) and Errand starts a new, "
            "empty one; Errand has not changed it"
        )
    if "database is locked" in text:
        return StoreUnavailable(
            f"another process has been writing to {where} for over "
            f"{BUSY_TIMEOUT_MS // 1000} s, so this change was not made; retry once it is done"
        )
    if any(part in text for part in _FULL):
        return StoreFull(f"the disk holding {where} is full; free some space and retry")
    if any(part in text for part in _UNWRITABLE):
        return StoreUnavailable(
            f"cannot write to {where} ({exc.orig}); make it and its folder writable, "
            "or set ERRAND_HOME to a writable folder"
        )
    return None


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _redacted(text: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = text.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at:
        return text
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
