"""Alembic environment for Errand's store.

At runtime ``errand.store.migrate`` hands over an open connection (already in a transaction)
through ``config.attributes["connection"]``. Run from the alembic command line (developers
writing a migration: ``alembic -c src/errand/store/alembic.ini revision --autogenerate -m ...``)
there is none, so one is opened from ``ERRAND_DATABASE_URL`` or the default data directory.
``alembic upgrade head --sql`` prints the SQL for the URL in ``sqlalchemy.url`` (or the same
default) without connecting.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from errand.store.database import connect, resolve_url
from errand.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters tables by copying them; batch mode lets later migrations do that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    database = connect(resolve_url())
    try:
        async with database.writer.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await database.dispose()


def _run_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``), for DBAs."""
    url = context.config.get_main_option("sqlalchemy.url") or None
    context.configure(
        url=resolve_url(url),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif isinstance(_connection := context.config.attributes.get("connection"), Connection):
    _run(_connection)
else:
    asyncio.run(_run_standalone())
