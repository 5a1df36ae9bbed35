"""Fixtures for the automation tests: a SQLite store in the test's directory, an intake on it
and a clock the test moves by hand (nothing here waits for wall time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from automation.clock import FakeClock
from errand.intake import Intake, IntakeSettings
from errand.store import Store, open_store
from sqlite_db import migrated_sqlite

MODEL = "anthropic:test-model"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path / "data" / "errand.db")


@pytest.fixture
async def store(home: Path, db_url: str) -> AsyncIterator[Store]:
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def clock() -> FakeClock:
    """07:00 UTC tomorrow: always after what the store stamps with the real time (a task's
    completion, a delivery's first due time), as the automation's own clock would be.
    A fixed date stopped being in the future on the day it named."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return FakeClock(datetime.combine(tomorrow, time(7, 0), tzinfo=UTC))


@pytest.fixture
def intake(store: Store) -> Intake:
    return Intake(store, config=IntakeSettings(default_model=MODEL))
