"""Where the database lives, how it is protected, and which URLs are accepted."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from errand.store import StoreConfigError, StoreUnavailable, open_store, resolve_url
from errand.store import database as database_module
from errand.store.database import connect
from errand.tasks import TaskSpec


def test_default_url_is_errand_db_in_the_data_dir(home: Path) -> None:
    url = resolve_url()
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str(home / "errand.db")


def test_environment_url_wins_over_the_default(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRAND_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    url = resolve_url()
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == f"{tmp_path}/other.db"


def test_argument_wins_over_the_environment(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRAND_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    assert resolve_url(f"sqlite+aiosqlite:///{tmp_path}/arg.db").database == f"{tmp_path}/arg.db"


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@db.example/errand", "postgresql+asyncpg"),
        ("postgres://u:p@db.example/errand", "postgresql+asyncpg"),
        ("postgresql+psycopg://u@db.example/errand", "postgresql+psycopg"),
    ],
)
def test_postgresql_urls_get_an_async_driver(given: str, driver: str) -> None:
    assert resolve_url(given).drivername == driver


@pytest.mark.parametrize(
    "bad",
    [
        "mysql://u@h/db",
        "sqlite+pysqlite:///x.db",
        "postgresql+psycopg2://u@h/db",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url",
    ],
)
def test_unusable_urls_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(StoreConfigError):
        resolve_url(bad)


def test_a_password_never_appears_in_the_error() -> None:
    with pytest.raises(StoreConfigError) as caught:
        resolve_url("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(caught.value)


async def test_new_database_file_is_owner_only_in_an_owner_only_dir(home: Path) -> None:
    store = await open_store()
    try:
        await store.create_task("check permissions", spec=TaskSpec(model="script:x.json"))
    finally:
        await store.aclose()
    assert _mode(home / "errand.db") == 0o600
    assert _mode(home) == 0o700


async def test_a_custom_location_gets_an_owner_only_parent(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "errand.db"
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    await store.aclose()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


async def test_an_existing_world_readable_file_is_tightened(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "loose.db"
    _make_loose_file(path)
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    await store.aclose()
    assert _mode(path) == 0o600


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    database = connect(resolve_url(sqlite_url))
    try:
        for engine in (database.writer, database.reader):
            async with engine.connect() as conn:
                mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
            assert (mode, keys) == ("wal", 1)
        assert database.sync_reader is not None
        with database.sync_reader.connect() as sync_conn:
            mode = sync_conn.execute(text("PRAGMA journal_mode")).scalar_one()
            keys = sync_conn.execute(text("PRAGMA foreign_keys")).scalar_one()
            synchronous = sync_conn.execute(text("PRAGMA synchronous")).scalar_one()
        assert (mode, keys, synchronous) == ("wal", 1, 2)  # 2: FULL
    finally:
        await database.dispose()


async def test_the_synchronous_readers_snapshot_sees_every_commit_before_it(
    sqlite_url: str,
) -> None:
    # A request's credential and task page are read on the synchronous engine, a task
    # created a moment earlier was written by the asynchronous writer: the page shows it.
    store = await open_store(sqlite_url)
    try:
        for n in range(20):
            task = await store.create_task(f"task {n}", spec=TaskSpec(model="script:none"))
            assert [t.id for t in await store.list_tasks(limit=1)] == [task.id]
            summary = (await store.task_summaries([task.id]))[task.id]
            assert summary.pending_approvals == 0
    finally:
        await store.aclose()


async def test_sqlite_statements_run_on_the_loops_own_thread(sqlite_url: str) -> None:
    # A statement takes microseconds; a hop to aiosqlite's thread and back waits for the
    # interpreter lock, which a busy gateway holds for milliseconds.
    database = connect(resolve_url(sqlite_url))
    loop_thread = threading.get_ident()
    try:
        for engine in (database.reader, database.writer):
            async with engine.begin() as conn:
                raw = await conn.get_raw_connection()
                sqlite = raw.driver_connection._conn  # type: ignore[union-attr]
                seen: list[int] = []
                sqlite.create_function("thread", 0, functools.partial(_note_thread, seen))
                await conn.execute(text("SELECT thread()"))
            assert seen == [loop_thread], engine
    finally:
        await database.dispose()


async def test_a_write_waits_for_another_processs_lock_without_blocking_the_loop(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = await open_store(sqlite_url)
    other = sqlite3.connect(str(resolve_url(sqlite_url).database), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(
            store.create_task("waits its turn", spec=TaskSpec(model="script:none"))
        )
        # The loop keeps running other work while the write waits for the lock.
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert not write.done()
        other.execute("COMMIT")
        task = await asyncio.wait_for(write, timeout=10)
        assert (await store.get_task(task.id)).prompt == "waits its turn"
    finally:
        other.close()
        await store.aclose()


async def test_a_lock_held_past_the_busy_timeout_is_a_clear_error(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 200)
    store = await open_store(sqlite_url)
    other = sqlite3.connect(str(resolve_url(sqlite_url).database), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="another process has been writing to"):
            await store.create_task("refused", spec=TaskSpec(model="script:none"))
        other.execute("COMMIT")
        # The writer is whole afterwards: the next write goes through.
        await store.create_task("accepted", spec=TaskSpec(model="script:none"))
        assert [t.prompt for t in await store.list_tasks()] == ["accepted"]
    finally:
        other.close()
        await store.aclose()


def _note_thread(seen: list[int]) -> None:
    seen.append(threading.get_ident())


async def test_an_unreachable_postgresql_server_is_a_config_error() -> None:
    with pytest.raises(StoreConfigError, match="cannot reach") as caught:
        await open_store("postgresql://errand:hunter2@127.0.0.1:1/errand")
    assert "hunter2" not in str(caught.value)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _make_loose_file(path: Path) -> None:
    path.touch()
    path.chmod(0o644)
