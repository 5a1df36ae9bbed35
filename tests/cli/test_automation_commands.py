"""``errand schedules``, ``errand hooks`` and ``errand webhooks`` as a user runs them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from errand_cli import Ran, errand_here


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def errand(home: Path, *args: str) -> Ran:
    return errand_here(home, *args)


def test_schedules_are_added_listed_shown_paused_and_removed(home: Path) -> None:
    added = errand(
        home, "schedules", "add", "news", "--prompt", "Summarise the news",
        "--cron", "0 8 * * 1-5", "--tz", "Europe/Berlin", "--token-budget", "5000",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Added schedule news: cron 0 8 * * 1-5 (Europe/Berlin)" in added.stdout
    listed = errand(home, "schedules", "list")
    assert "news" in listed.stdout and "never" in listed.stdout
    assert errand(home, "schedules", "pause", "news").returncode == 0
    assert "paused" in errand(home, "schedules", "list").stdout
    assert errand(home, "schedules", "run", "news").returncode == 0
    shown = errand(home, "schedules", "show", "news")
    assert "token budget per run: 5000" in shown.stdout and "manual" in shown.stdout
    assert errand(home, "schedules", "remove", "news").returncode == 0
    missing = errand(home, "schedules", "show", "news")
    assert missing.returncode == 2 and "no schedule is named 'news'" in missing.stderr


def test_schedules_show_records_occurrences_missed_while_off_and_the_policy(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = errand(
        home, "schedules", "add", "backup", "--prompt", "Check the backup",
        "--every", "1h", "--missed", "skip",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # Errand was off for five hours and some minutes: the scheduler's first tick on waking.
    monkeypatch.setenv("ERRAND_HOME", str(home))
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
    asyncio.run(_tick_at(datetime.now(UTC) + timedelta(hours=5, minutes=10)))
    shown = errand(home, "schedules", "show", "backup")
    assert shown.returncode == 0, shown.stderr
    assert "missed runs: skip" in shown.stdout
    assert "missed (5)" in shown.stdout and "skipped" in shown.stdout
    assert "skipped as the schedule asks" in shown.stdout


async def _tick_at(now: datetime) -> None:
    from errand.automation import Scheduler
    from errand.intake import Intake, IntakeSettings
    from errand.store import open_store

    store = await open_store()
    try:
        intake = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"))
        report = await Scheduler(store, intake, clock=lambda: now).tick()
        assert report.advanced == 1 and report.started == 0
    finally:
        await store.aclose()


def test_bad_timings_are_one_sentence_and_exit_2(home: Path) -> None:
    for args in (
        ["--cron", "99 * * * *"],
        ["--every", "10s"],
        ["--every", "2h", "--cron", "0 8 * * *"],
        ["--cron", "0 8 * * *", "--tz", "Mars/Olympus"],
    ):
        answer = errand(home, "schedules", "add", "x", "--prompt", "p", *args)
        assert answer.returncode == 2, args
        assert answer.stderr.startswith("errand: ") and "Traceback" not in answer.stderr


def test_a_hook_secret_is_printed_once(home: Path) -> None:
    added = errand(home, "hooks", "add", "deploy", "--prompt-template", "Check the report")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("whsec_")
    assert secret not in errand(home, "hooks", "list").stdout
    assert secret not in errand(home, "hooks", "show", "deploy").stdout
    rotated = errand(home, "hooks", "rotate-secret", "deploy").stdout.strip()
    assert rotated.startswith("whsec_") and rotated != secret


def test_webhooks_on_loopback_need_allow_private(home: Path) -> None:
    refused = errand(home, "webhooks", "add", "http://127.0.0.1:9/x", "--events", "task.failed")
    assert refused.returncode == 2 and "--allow-private" in refused.stderr
    added = errand(
        home, "webhooks", "add", "http://127.0.0.1:9/x", "--events", "task.failed",
        "--allow-private",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().startswith("whsec_")
    listed = errand(home, "webhooks", "list")
    assert "http://127.0.0.1:9/x" in listed.stdout and "active" in listed.stdout
    endpoint_id = listed.stdout.split("\n")[1].split()[0]
    assert errand(home, "webhooks", "test", endpoint_id).returncode == 0
    deliveries = errand(home, "webhooks", "deliveries", endpoint_id)
    assert "webhook.test" in deliveries.stdout and "pending" in deliveries.stdout
