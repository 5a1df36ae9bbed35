"""SQLite databases at Errand's newest schema, for tests that need a store but do not test
creating one: each is a copy of one database migrated once per test run. Migrating a new file
costs a few hundred milliseconds, a copy about one; across the suite's stores that is minutes.

Tests about creating, migrating or damaging a database use a plain new file instead.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from sqlalchemy import create_engine

_template: Path | None = None
_lock = threading.Lock()


def migrated_sqlite(path: Path) -> str:
    """Place a database at the newest schema, with no rows, at ``path`` (its folder made
    owner-only, as Errand makes its data folder) and return its URL."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(_migrated_once(), path)
    return f"sqlite+aiosqlite:///{path}"


def _migrated_once() -> Path:
    global _template
    with _lock:
        if _template is None:
            from alembic import command

            from errand.store.migrate import alembic_config

            folder = Path(tempfile.mkdtemp(prefix="errand-schema-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            database = folder / "errand.db"
            engine = create_engine(f"sqlite:///{database}")
            try:
                with engine.begin() as connection:
                    command.upgrade(alembic_config(connection), "head")
            finally:
                engine.dispose()
            database.chmod(0o600)  # as Errand creates it
            _template = database
        return _template
