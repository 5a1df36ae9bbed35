"""``errand schedules``, ``errand hooks`` and ``errand webhooks`` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def errand(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


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
