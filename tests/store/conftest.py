"""Fixtures for the store tests: every test runs on SQLite and on a real PostgreSQL server.

``db_url`` is parametrised: ``[sqlite]`` is a file in the test's directory,
``[postgresql]`` a database on the session's throwaway server (``tests/pg.py``), both at the
newest schema with no rows. Tests about SQLite itself ask for ``sqlite_url``: a path where no
database exists yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.store import Store, open_store
from pg import database_url, empty_database_url, postgres_server  # noqa: F401 - fixtures
from sqlite_db import migrated_sqlite


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``ERRAND_HOME`` pointed at the test's directory, with no database URL override."""
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'errand.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "data" / "errand.db")
    url: str = request.getfixturevalue("database_url")
    return url


@pytest.fixture
async def store(home: Path, db_url: str) -> AsyncIterator[Store]:
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.aclose()
