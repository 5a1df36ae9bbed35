"""Migrations: applied on open, idempotent, matching the tables, shipped inside the package."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import errand.store
from errand.store import StoreConfigError, open_store, resolve_url
from errand.store.database import connect
from errand.store.migrate import MIGRATIONS_DIR, current_revision, head_revision
from errand.store.tables import metadata
from errand.tasks import TaskSpec


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A database with no tables yet: migrations start from nothing here."""
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("empty_database_url")
    return url


TABLES = {
    "tasks",
    "events",
    "messages",
    "approvals",
    "questions",
    "follow_ups",
    "usage",
    "alembic_version",
    "devices",
    "api_tokens",
    "pairing_codes",
    "allowed_folders",
    "idempotency_keys",
    "schedules",
    "schedule_runs",
    "hooks",
    "hook_receipts",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "notifications",
    "push_subscriptions",
    "notification_deliveries",
    "workers",
}


async def test_a_fresh_database_is_migrated_to_head_on_open(db_url: str) -> None:
    store = await open_store(db_url)
    await store.aclose()
    database = connect(resolve_url(db_url))
    try:
        assert await current_revision(database.reader) == head_revision()
        async with database.reader.connect() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert names == TABLES
    finally:
        await database.dispose()


async def test_reopening_keeps_data_and_migrates_nothing_again(db_url: str) -> None:
    store = await open_store(db_url)
    task = await store.create_task("survive reopening", spec=TaskSpec(model="script:x.json"))
    await store.aclose()
    for _ in range(2):
        store = await open_store(db_url)
        assert (await store.get_task(task.id)).prompt == "survive reopening"
        await store.aclose()
    database = connect(resolve_url(db_url))
    try:
        async with database.reader.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [row[0] for row in versions] == [head_revision()]
    finally:
        await database.dispose()


async def test_the_migrations_create_exactly_the_declared_tables(db_url: str) -> None:
    store = await open_store(db_url)
    await store.aclose()
    database = connect(resolve_url(db_url))

    def differences(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with database.reader.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await database.dispose()


def test_migration_scripts_live_inside_the_package() -> None:
    package_dir = Path(errand.store.__file__).resolve().parent
    assert package_dir / "migrations" == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("*.py"))


async def test_a_database_from_a_newer_errand_is_refused_untouched(db_url: str) -> None:
    store = await open_store(db_url)
    await store.aclose()
    database = connect(resolve_url(db_url))
    try:
        async with database.writer.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await database.dispose()
    with pytest.raises(StoreConfigError, match="newer Errand"):
        await open_store(db_url)
    database = connect(resolve_url(db_url))
    try:
        assert await current_revision(database.reader) == "9999"
    finally:
        await database.dispose()


async def test_two_stores_opening_a_fresh_file_at_once_both_succeed(db_url: str) -> None:
    first, second = await asyncio.gather(open_store(db_url), open_store(db_url))
    try:
        task = await first.create_task("seen by both", spec=TaskSpec(model="script:x.json"))
        assert (await second.get_task(task.id)).title == "seen by both"
    finally:
        await first.aclose()
        await second.aclose()


async def test_old_tasks_get_typed_specs_from_their_policies(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    from errand.store.migrate import alembic_config
    from errand.tasks import GrantOrigin, SourceKind

    database = connect(resolve_url(db_url))
    try:
        async with database.writer.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0005"))
            grant = {"path": str(tmp_path), "mode": "rw", "name": "docs"}
            network = {"allow_domains": ["example.org"], "deny_domains": [], "allow_cidrs": []}
            policy = json.dumps({"sandbox": {"folders": [grant], "network": network}})
            for task_id, source in (("t1", "cli"), ("t2", "phone"), ("t3", "webhook")):
                await conn.execute(
                    text(
                        "INSERT INTO tasks (id, title, prompt, status, model, policy, source,"
                        " max_steps, created_at, last_seq, message_count) VALUES (:id, 't', 'p',"
                        " 'completed', 'anthropic:m', :policy, :source, 9,"
                        " '2025-01-01 00:00:00', 0, 0)"
                    ),
                    {"id": task_id, "policy": policy, "source": source},
                )
            no_folders = json.dumps({"sandbox": {"folders": [], "network": network}})
            await conn.execute(
                text(
                    "INSERT INTO tasks (id, title, prompt, status, model, policy, source,"
                    " max_steps, created_at, last_seq, message_count) VALUES ('t4', 't', 'p',"
                    " 'queued', 'anthropic:m', :policy, 'api', 9, '2025-01-01 00:00:00', 0, 0)"
                ),
                {"policy": no_folders},
            )
    finally:
        await database.dispose()
    store = await open_store(db_url)
    try:
        cli, phone, hook = [await store.get_task(t) for t in ("t1", "t2", "t3")]
        # Tasks that used folders used the gateway's: its own runner runs them (0014).
        assert [(await store.get_task(t)).spec.runs_on for t in ("t1", "t2", "t4")] == [
            "serve",
            "serve",
            None,
        ]
        assert await store.claim_next_task("w/1", lease_seconds=30, workers={"nas"}) is not None
        database = connect(resolve_url(db_url))
        async with database.reader.connect() as conn:
            placed = await conn.execute(text("SELECT id, worker FROM tasks ORDER BY id"))
            assert placed.all() == [("t1", "serve"), ("t2", "serve"), ("t3", "serve"), ("t4", None)]
        await database.dispose()
    finally:
        await store.aclose()
    assert cli.spec.model == "anthropic:m" and cli.spec.max_steps == 9
    assert cli.spec.network.allow_domains == ("example.org",)
    (docs,) = cli.spec.folders
    assert (docs.name, docs.path, docs.origin) == ("docs", str(tmp_path), GrantOrigin.HOST)
    assert phone.spec.folders[0].origin is GrantOrigin.ALLOWED
    assert phone.source.kind is SourceKind.PHONE and hook.source.kind is SourceKind.HOOK


def test_each_script_is_numbered_by_its_revision_and_the_highest_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from errand.store.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    for script in scripts.walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
    assert scripts.get_heads() == [head_revision()]


def test_opening_a_current_database_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'errand.db'}"
    program = (
        "import asyncio, sys\n"
        "from errand.store import open_store\n"
        "async def main():\n"
        "    store = await open_store(sys.argv[1])\n"
        "    await store.aclose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    first = subprocess.run(
        [sys.executable, "-c", program, url], capture_output=True, text=True, check=True
    )
    assert first.stdout.strip() == "True"  # a new database is built by Alembic
    again = subprocess.run(
        [sys.executable, "-c", program, url], capture_output=True, text=True, check=True
    )
    assert again.stdout.strip() == "False"
