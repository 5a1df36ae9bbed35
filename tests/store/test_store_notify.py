"""Wake-ups across processes: a wait hears another process's commit at once, on PostgreSQL
through the server's notifications, on SQLite through the datagrams of the processes that
share the file.

The waits below poll only every 60 s, so returning within the test's timeout proves the
wake-up came from the other process, not from re-reading.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from errand.store import Store, TaskStatus, open_store
from errand.store.notify import WAKEUPS_SUFFIX
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

MODEL = "script:turns.json"
NO_POLLING = 60.0

# Runs in a second process: waits for a line on stdin, then writes through its own store.
WRITER = """
import asyncio, sys
from errand.store import open_store, TaskStatus

async def main(url, task_id):
    store = await open_store(url)
    try:
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "event":
                await store.append_event(task_id, "message.delta", {"text": "from afar"})
            elif line.strip() == "run":
                await store.set_task_status(task_id, TaskStatus.RUNNING)
            print("done", flush=True)
    finally:
        await store.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class Writer:
    """A second process writing to the same database on command."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, task_id: str) -> Writer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            url,
            task_id,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        writer = cls(process)
        assert await writer._line() == "ready"
        return writer

    async def do(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        assert await self._line() == "done"

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert await asyncio.wait_for(self.process.wait(), timeout=30) == 0

    async def _line(self) -> str:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), timeout=30)).decode().strip()


@pytest.fixture
async def pg_store(database_url: str) -> AsyncIterator[Store]:
    store = await open_store(database_url)
    try:
        assert store.notified_across_processes
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def shared(db_url: str) -> AsyncIterator[tuple[Store, str]]:
    """A store, on each backend, and the URL another process opens the same database by."""
    store = await open_store(db_url)
    try:
        yield store, db_url
    finally:
        await store.aclose()


async def test_a_wait_wakes_at_once_on_an_event_another_process_commits(
    shared: tuple[Store, str],
) -> None:
    store, url = shared
    task = await store.create_task("across", spec=TaskSpec(model=MODEL))
    writer = await Writer.start(url, task.id)
    try:
        waiting = asyncio.ensure_future(
            store.wait_for_events(task.id, 1, timeout=30, poll_interval=NO_POLLING)
        )
        await asyncio.sleep(0)  # the wait has registered and read an empty log
        started = time.monotonic()
        await writer.do("event")
        found = await waiting
        assert [e.payload for e in found] == [{"text": "from afar"}]
        assert time.monotonic() - started < 10
    finally:
        await writer.close()


async def test_the_task_list_wait_hears_another_process_change_a_status(
    shared: tuple[Store, str],
) -> None:
    store, url = shared
    task = await store.create_task("across", spec=TaskSpec(model=MODEL))
    writer = await Writer.start(url, task.id)
    try:
        changed = asyncio.ensure_future(
            store.wait_for_task_list_change(timeout=30, poll_interval=NO_POLLING)
        )
        await asyncio.sleep(0)
        await writer.do("event")  # an ordinary event does not change the list
        assert not changed.done()
        await writer.do("run")
        assert await asyncio.wait_for(changed, timeout=30) is True
        assert (await store.get_task(task.id)).status is TaskStatus.RUNNING
    finally:
        await writer.close()


async def test_notifications_resume_after_the_connection_is_cut(
    pg_store: Store, database_url: str
) -> None:
    task = await pg_store.create_task("cut", spec=TaskSpec(model=MODEL))
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        # Cut every other connection to this database, the store's listener among them.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    writer = await Writer.start(database_url, task.id)
    try:
        # The first event's notification may be lost with the connection; reconnecting
        # wakes every waiter to re-read, so it is still seen. The second proves the
        # notifications themselves are back.
        for seq in (2, 3):
            waiting = asyncio.ensure_future(
                pg_store.wait_for_events(task.id, seq - 1, timeout=30, poll_interval=NO_POLLING)
            )
            await asyncio.sleep(0)
            await writer.do("event")
            assert [e.seq for e in await waiting] == [seq]
        assert pg_store.notified_across_processes
    finally:
        await writer.close()


async def test_sqlite_waits_see_other_processes_within_the_poll_interval(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        assert not store.notified_across_processes
        task = await store.create_task("polled", spec=TaskSpec(model=MODEL))
        writer = await Writer.start(sqlite_url, task.id)
        try:
            waiting = asyncio.ensure_future(
                store.wait_for_events(task.id, 1, timeout=30, poll_interval=0.05)
            )
            await writer.do("event")
            assert [e.payload for e in await waiting] == [{"text": "from afar"}]
        finally:
            await writer.close()
    finally:
        await store.aclose()


def _sockets(url: str) -> set[str]:
    return set(os.listdir(url.removeprefix("sqlite+aiosqlite:///") + WAKEUPS_SUFFIX))


async def test_sqlite_wakeups_reach_only_the_owner_and_a_dead_process_is_forgotten(
    tmp_path: Path,
) -> None:
    url = migrated_sqlite(tmp_path / "data" / "errand.db")
    store = await open_store(url)
    try:
        directory = url.removeprefix("sqlite+aiosqlite:///") + WAKEUPS_SUFFIX
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        task = await store.create_task("across", spec=TaskSpec(model=MODEL))
        mine = _sockets(url)
        assert len(mine) == 1
        dead = await Writer.start(url, task.id)
        dead_socket = _sockets(url) - mine
        assert len(dead_socket) == 1
        dead.process.send_signal(signal.SIGKILL)
        await dead.process.wait()
        # Killed, it left its socket behind; the next wake-up sent finds nobody there and
        # removes it, and still reaches the processes that are alive.
        assert _sockets(url) == mine | dead_socket
        alive = await Writer.start(url, task.id)
        try:
            waiting = asyncio.ensure_future(
                store.wait_for_events(task.id, 1, timeout=30, poll_interval=NO_POLLING)
            )
            await asyncio.sleep(0)
            await alive.do("event")
            assert [e.payload for e in await waiting] == [{"text": "from afar"}]
            assert not dead_socket & _sockets(url)
        finally:
            await alive.close()
        # A process that closes its store takes its socket away.
        assert _sockets(url) == mine
    finally:
        await store.aclose()
    assert _sockets(url) == set()
