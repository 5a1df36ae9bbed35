"""PostgreSQL: the offline migration SQL and the hot statements render for it."""

from __future__ import annotations

import io

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url
from sqlalchemy.schema import CreateTable

from errand.store.migrate import MIGRATIONS_DIR
from errand.store.tables import metadata, tasks

POSTGRESQL = make_url("postgresql+asyncpg://errand@db.invalid/errand").get_dialect()()


def test_the_migrations_render_as_postgresql_sql() -> None:
    output = io.StringIO()
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", "postgresql+asyncpg://errand@db.invalid/errand")
    command.upgrade(config, "head", sql=True)
    sql = output.getvalue()
    for table in ("tasks", "events", "messages", "approvals", "questions", "usage"):
        assert f"CREATE TABLE {table} (" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "PRAGMA" not in sql and "AUTOINCREMENT" not in sql


def test_every_table_renders_for_postgresql() -> None:
    for table in metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=POSTGRESQL))


def test_sequence_allocation_is_one_locking_update_with_returning() -> None:
    statement = (
        tasks.tasks.update()
        .where(tasks.tasks.c.id == "t")
        .values(last_seq=tasks.tasks.c.last_seq + 1)
        .returning(tasks.tasks.c.last_seq)
    )
    sql = str(statement.compile(dialect=POSTGRESQL))
    assert sql.startswith("UPDATE tasks SET last_seq=(tasks.last_seq +")
    assert sql.endswith("RETURNING tasks.last_seq")
