"""Bringing a database's schema up to date with Alembic, programmatically.

``open_store`` calls ``upgrade_to_head`` every time. A database already at the newest
revision is recognised by one query of ``alembic_version``, without loading Alembic (which
with its templates is about a tenth of a command's start-up); otherwise Alembic creates the
tables or applies what is missing. The migration scripts ship inside the package
(``errand/store/migrations``), so an installed Errand needs no alembic.ini. Concurrent
upgraders are serialised: SQLite by the writer's ``BEGIN IMMEDIATE``, PostgreSQL by a
transaction-scoped advisory lock.

Each script's revision is the four digits its file name starts with, and each names the one
before it, so the newest revision is the highest number among the files
(``tests/store/test_store_migrate.py`` holds the scripts to that).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number; it names Errand's migration lock among the server's advisory locks.
_PG_MIGRATION_LOCK = 0x657272616E64
_SCRIPT_NAME = re.compile(r"^(\d{4})_\w+\.py$")


class MigrationFailed(Exception):
    """Alembic could not bring the schema to the newest revision (e.g. the database was
    written by a newer Errand, at a revision these scripts do not know)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (and at ``connection``, if given)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision the packaged scripts define (the highest file number)."""
    numbers = [
        found.group(1)
        for path in (MIGRATIONS_DIR / "versions").iterdir()
        if (found := _SCRIPT_NAME.match(path.name))
    ]
    if not numbers:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return max(numbers)


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Apply every migration the database lacks, in one transaction.

    Raises:
        MigrationFailed: Alembic refused (a revision it does not know).
    """
    if await current_revision(engine) == head_revision():
        return
    from alembic.util import CommandError

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        try:
            await conn.run_sync(_upgrade)
        except CommandError as exc:
            raise MigrationFailed(str(exc)) from exc


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    async with engine.connect() as conn:
        try:
            found = await conn.execute(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:
            return None  # no table yet: a new database
        revisions = [row[0] for row in found]
    return revisions[0] if len(revisions) == 1 else None
