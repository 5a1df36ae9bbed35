"""Fixtures for the store tests: a fresh SQLite store in the test's own directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.store import Store, open_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``ERRAND_HOME`` pointed at the test's directory, with no database URL override."""
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'errand.db'}"


@pytest.fixture
async def store(home: Path, db_url: str) -> AsyncIterator[Store]:
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.aclose()
